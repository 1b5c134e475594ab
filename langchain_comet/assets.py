"""What ``flush_tracker(langchain_asset=...)`` logs about a LangChain 1.x object.

The seed reached for ``asset.llm.dict()`` and ``asset.save()``, which LCEL runnables and
modern chat models no longer have. Here the model is found inside any runnable graph and
the asset is described with LangChain's own serialization where it supports it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.load import dumpd
from langchain_core.runnables import Runnable

from langchain_comet.invocation import scrub
from langchain_comet.serialize import JSON, to_json


def find_model(asset: Any) -> BaseLanguageModel[Any] | None:
    """The first language model in ``asset``: itself, a bound or wrapped one, or a graph node."""
    for candidate in _walk(asset, depth=0, seen=set()):
        if isinstance(candidate, BaseLanguageModel):
            return candidate
    return None


def _walk(obj: Any, depth: int, seen: set[int]) -> Iterator[Any]:
    if obj is None or depth > 20 or id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    # RunnableBinding(.bound), RunnableSequence(.steps), legacy chains (.llm, .llm_chain, .agent)
    for attr in ("bound", "llm", "llm_chain", "agent", "runnable", "default"):
        child = getattr(obj, attr, None)
        if child is not None:
            yield from _walk(child, depth + 1, seen)
    for attr in ("steps", "first", "middle", "last"):
        child = getattr(obj, attr, None)
        if isinstance(child, list | tuple):
            for item in child:
                yield from _walk(item, depth + 1, seen)
        elif isinstance(child, Runnable):
            yield from _walk(child, depth + 1, seen)
    steps = getattr(obj, "steps__", None)  # RunnableParallel
    if isinstance(steps, Mapping):
        for item in steps.values():
            yield from _walk(item, depth + 1, seen)


def model_parameters(asset: Any, max_chars: int | None = None) -> dict[str, JSON]:
    """Flat ``name -> value`` parameters of the model inside ``asset`` (empty if none)."""
    model = find_model(asset)
    if model is None:
        return {}
    params: dict[str, Any] = {}
    # A model whose parameters cannot be read still gets its type logged.
    with contextlib.suppress(Exception):
        params.update(model._identifying_params)
    llm_type = getattr(model, "_llm_type", None)
    params.setdefault("_type", llm_type if isinstance(llm_type, str) else type(model).__name__)
    params.setdefault("class", f"{type(model).__module__}.{type(model).__qualname__}")
    return _flatten(scrub(to_json(params, max_chars)))


def _flatten(value: JSON, prefix: str = "") -> dict[str, JSON]:
    if isinstance(value, dict):
        flat: dict[str, JSON] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}{key}_" if prefix or key else key))
        return flat
    return {prefix.rstrip("_"): value}


def describe(asset: Any, max_chars: int | None = None) -> JSON:
    """``model.json``: LangChain's serialization, else the runnable graph, else a repr."""
    description: dict[str, JSON] = {
        "class": f"{type(asset).__module__}.{type(asset).__qualname__}",
    }
    try:
        if getattr(asset, "is_lc_serializable", lambda: False)():
            # default_headers and the like can hold credentials: never logged.
            description["langchain"] = scrub(to_json(dumpd(asset), max_chars))
    except Exception as exc:
        description["langchain_error"] = f"{type(exc).__name__}: {exc}"
    if isinstance(asset, Runnable):
        try:
            description["graph"] = to_json(asset.get_graph().to_json(), max_chars)
        except Exception as exc:
            description["graph_error"] = f"{type(exc).__name__}: {exc}"
    if "langchain" not in description and "graph" not in description:
        description["repr"] = to_json(asset, max_chars)
    return description
