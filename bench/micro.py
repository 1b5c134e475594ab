"""``python -m bench.micro``: what visualizations and readability cost per generation.

CPU time of this thread per generation (``time.thread_time``, so other tenants of the
machine count less), on the workloads' own replies, each one different:

- visualizations: the unoptimised path (the full pipeline on one text, then
  ``displacy.render``: what ``Visualizer.render`` did before issue #16), then
  ``Visualizer.render`` (one text, only the components the styles read) and
  ``Visualizer.render_many`` in batches; per style set;
- readability: ``complexity_metrics`` (16 textstat scores).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from bench.workloads import CHAT_REPLY, RESPONSES

STYLE_SETS = (("dep", "ent"), ("dep",), ("ent",))
BATCHES = (8, 32)


def corpus(n: int) -> list[str]:
    """``n`` different replies, as the workloads make them."""
    replies = (*RESPONSES, CHAT_REPLY)
    return [f"{replies[i % len(replies)]} Note {i}." for i in range(n)]


def per_text_ms(fn: Callable[[list[str]], Any], texts: list[str], chunk: int) -> float:
    """CPU ms per text when ``fn`` is given ``chunk`` texts at a time."""
    fn(texts[:chunk])  # warm up (first-use allocations)
    started = time.thread_time()
    for i in range(0, len(texts), chunk):
        fn(texts[i : i + chunk])
    return (time.thread_time() - started) * 1e3 / len(texts)


def unoptimised(nlp: Any, styles: Sequence[str]) -> Callable[[list[str]], Any]:
    from spacy import displacy

    def render(texts: list[str]) -> None:
        for text in texts:
            doc = nlp(text)
            for style in styles:
                source = list(doc.sents) if style == "dep" else doc
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    displacy.render(
                        source, style=style, page=True, jupyter=False, options={"compact": True}
                    )

    return render


def visualizations(n: int) -> list[str]:
    from langchain_comet.visualize import Visualizer, load_pipeline, resolve_pipeline

    nlp = load_pipeline(resolve_pipeline(None))
    texts = corpus(n)
    lines = ["visualizations, CPU ms per generation:"]
    for styles in STYLE_SETS:
        visualizer = Visualizer(nlp, list(styles))
        one_by_one = visualizer.render_many  # given one text at a time: render()'s path
        cells = [
            f"unoptimised {per_text_ms(unoptimised(nlp, styles), texts, 1):6.2f}",
            f"render {per_text_ms(one_by_one, texts, 1):6.2f}",
        ]
        cells += [
            f"render_many({b}) {per_text_ms(visualizer.render_many, texts, b):6.2f}"
            for b in BATCHES
        ]
        lines.append(f"  {'+'.join(styles):<8} " + "  ".join(cells))
    only_parse = per_text_ms(lambda t: list(nlp.pipe(t, batch_size=64)), texts, 32)
    lines.append(f"  (the full pipeline alone, nlp.pipe batches of 32: {only_parse:.2f})")
    return lines


def readability(n: int) -> list[str]:
    from langchain_comet.metrics import complexity_metrics

    texts = corpus(n)
    cost = per_text_ms(lambda t: complexity_metrics(t[0]), texts, 1)
    return [f"readability (16 textstat scores), CPU ms per generation: {cost:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--only", choices=("visualizations", "readability"))
    args = parser.parse_args()
    if args.only != "readability":
        print("\n".join(visualizations(args.texts)), flush=True)
    if args.only != "visualizations":
        print("\n".join(readability(args.texts * 4)), flush=True)


if __name__ == "__main__":
    main()
