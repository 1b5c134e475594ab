"""``python -m bench.probe ours|community``: can this handler's textstat scoring run here?"""

from __future__ import annotations

import sys

SAMPLE = "Otters hold hands while sleeping. The current does not carry them apart at night."


def _no_downloads() -> None:
    """Offline is the point: make NLTK's downloader fail at once instead of trying the net."""
    try:
        import nltk
    except ImportError:
        return

    def refuse(*args: object, **kwargs: object) -> bool:
        return False

    nltk.download = refuse


def main(which: str) -> int:
    _no_downloads()
    try:
        if which == "ours":
            from langchain_comet.metrics import complexity_metrics

            complexity_metrics(SAMPLE)
        else:
            from langchain_community.callbacks.comet_ml_callback import (
                _fetch_text_complexity_metrics,
            )

            _fetch_text_complexity_metrics(SAMPLE)
    except Exception as exc:
        first = str(exc).strip().splitlines()
        resource = next((line.strip() for line in first if "Resource" in line), "")
        print(f"PROBE-FAIL {type(exc).__name__} {resource or (first[0] if first else '')}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
