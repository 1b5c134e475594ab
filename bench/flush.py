"""Sections C and D: what the deferred work costs once an application has made N calls.

One fresh interpreter per contender and N: make N chain calls, then time the flush and
the experiment's end separately. Time per call at growing N shows superlinear growth.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.child import emit, run_child

CONTENDERS = ("ours", "community")
WARMUP_CALLS = 20


def _run_calls(handler: Any, calls: int) -> float:
    from bench.workloads import call_chain, config_for

    config = config_for(handler)
    started = time.perf_counter()
    for i in range(calls):
        call_chain(i, config)
    return time.perf_counter() - started


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(name: str, calls: int) -> dict[str, Any]:
    """Warm up on a throwaway handler (first-use imports), then measure a fresh one."""
    from bench.contenders import by_name, handler_failures
    from bench.env import CALLBACK_ERRORS, quiet_logging

    quiet_logging()
    contender = by_name(name)
    root = Path(tempfile.mkdtemp(prefix="bench-flush-"))
    warm = contender.make(root / "warmup")
    _run_calls(warm, WARMUP_CALLS)
    contender.flush(warm)
    contender.finish(warm)
    del warm
    CALLBACK_ERRORS.take()
    handler = contender.make(root / "measured")
    hot_s = _run_calls(handler, calls)
    flush_s = _timed(lambda: contender.flush(handler))
    end_s = _timed(lambda: contender.finish(handler))
    archives = sorted((root / "measured").glob("*.zip"))
    result = {
        "contender": name,
        "calls": calls,
        "hot_s": hot_s,
        "flush_s": flush_s,
        "end_s": end_s,
        "archive_mb": archives[-1].stat().st_size / 2**20 if archives else None,
        "callback_errors": CALLBACK_ERRORS.take(),
        "failures": handler_failures(handler),
    }
    shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", choices=CONTENDERS, required=True)
    parser.add_argument("--calls", type=int, required=True)
    args = parser.parse_args()
    emit(measure(args.contender, args.calls))


def run_flush(
    sizes: tuple[int, ...], timeout: float, log: Callable[[str], None]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every contender at every N, each in a fresh interpreter."""
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in CONTENDERS}
    for calls in sizes:
        for name in CONTENDERS:
            started = time.perf_counter()
            result = run_child("bench.flush", ["--contender", name, "--calls", str(calls)], timeout)
            results[name][str(calls)] = result
            log(f"flush {name} N={calls}: {time.perf_counter() - started:.0f} s {_brief(result)}")
    return results


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"n/a ({result['error']})"
    return (
        f"calls {result['hot_s']:.1f} s, flush {result['flush_s']:.2f} s, "
        f"end {result['end_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
