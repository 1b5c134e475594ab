"""``python -m bench.serialize_micro``: what ``to_json`` costs on the payloads apps send.

The worker converts every callback's payload, so the common case (small dicts of short
strings, a message list, an LLM result) must stay cheap whatever bounds are added for
the hostile ones. ``--against FILE`` times another copy of ``serialize.py`` (e.g. the
one on ``main``) interleaved with this one, round by round, so both see the same load.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, LLMResult


def payloads() -> dict[str, Any]:
    """Typical callback payloads, from a chain input to a chat model's result."""
    question = "What is the capital of France, and why did it become the capital?"
    return {
        "chain inputs (2 short str)": {"question": question, "context": "Paris " * 20},
        "tags (3 str)": ["prod", "rag", "v2"],
        "metadata (LangChain's keys)": {
            "ls_provider": "openai",
            "ls_model_name": "gpt-4o-mini",
            "ls_model_type": "chat",
            "ls_temperature": 0.2,
            "thread_id": "t-123",
            "langgraph_step": 3,
            "langgraph_node": "agent",
            "langgraph_triggers": ["branch:to:agent"],
        },
        "non-ASCII dict": {"question": "Où est la tour Eiffel ?", "lang": "fr"},
        "4 chat messages": [
            SystemMessage("You are terse."),
            HumanMessage(question),
            AIMessage("Paris.", usage_metadata=_usage()),
            HumanMessage("Why?"),
        ],
        "LLMResult (1 chat generation)": LLMResult(
            generations=[
                [
                    ChatGeneration(
                        message=AIMessage("Paris, since 987.", usage_metadata=_usage()),
                        generation_info={"finish_reason": "stop"},
                    )
                ]
            ],
            llm_output={"model_name": "gpt-4o-mini", "token_usage": {"total_tokens": 30}},
        ),
        "5 Documents": [
            Document(page_content="Paris is the capital. " * 10, metadata={"source": f"d{i}"})
            for i in range(5)
        ],
        "list of 200 floats": [i / 7 for i in range(200)],
    }


def _usage() -> Any:
    return {"input_tokens": 20, "output_tokens": 10, "total_tokens": 30}


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_serialize_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def per_call_us(fn: Callable[[Any], Any], value: Any, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(value)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", type=Path, help="another serialize.py to compare with")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    from langchain_comet import serialize

    contenders = {"this": serialize.to_json}
    if args.against is not None:
        contenders["against"] = load(args.against).to_json
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, value in payloads().items():
            for who, fn in contenders.items():
                results.setdefault((name, who), []).append(per_call_us(fn, value, args.calls))
    print(f"{'payload':32} " + " ".join(f"{who + ' µs':>14}" for who in contenders))
    for name in payloads():
        cells = []
        for who in contenders:
            runs = results[(name, who)]
            cells.append(f"{min(runs):7.2f} ({statistics.median(runs):5.2f})")
        print(f"{name:32} " + " ".join(f"{cell:>14}" for cell in cells))
    print("min over rounds (median in brackets)")


if __name__ == "__main__":
    main()
