"""Token usage and model identity, read from whatever a provider reports.

Chat models in LangChain 1.x report usage on ``AIMessage.usage_metadata``; older LLM
integrations put it in ``LLMResult.llm_output`` under provider-specific keys. Both are
normalised here to one shape so the run tree, the metrics and the price look-up agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from langchain_core.outputs import ChatGeneration, LLMResult

TokenUsage = dict[str, int]

# Keys providers use in ``llm_output`` for the same three numbers.
_PROMPT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count")
_COMPLETION_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count")
_TOTAL_KEYS = ("total_tokens", "total_token_count")


def token_usage(response: LLMResult) -> TokenUsage | None:
    """Usage of one LLM run: ``prompt_tokens, completion_tokens, total_tokens`` and details.

    ``usage_metadata`` on the generated messages wins, because ``llm_output`` is often
    absent when streaming; ``None`` when the provider reported nothing.
    """
    usage = _from_messages(response)
    if usage is None:
        usage = _from_llm_output(response.llm_output)
    return usage


def _from_messages(response: LLMResult) -> TokenUsage | None:
    total: TokenUsage = {}
    for generations in response.generations:
        for generation in generations:
            if not isinstance(generation, ChatGeneration):
                continue
            metadata = getattr(generation.message, "usage_metadata", None)
            if not metadata:
                continue
            _add(total, "prompt_tokens", metadata.get("input_tokens"))
            _add(total, "completion_tokens", metadata.get("output_tokens"))
            _add(total, "total_tokens", metadata.get("total_tokens"))
            input_details = metadata.get("input_token_details") or {}
            output_details = metadata.get("output_token_details") or {}
            _add(total, "cache_read", input_details.get("cache_read"))
            _add(total, "cache_creation", input_details.get("cache_creation"))
            _add(total, "reasoning", output_details.get("reasoning"))
    return _complete(total)


def _from_llm_output(llm_output: Mapping[str, Any] | None) -> TokenUsage | None:
    if not llm_output:
        return None
    raw = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(raw, Mapping):
        return None
    total: TokenUsage = {}
    _add(total, "prompt_tokens", _first(raw, _PROMPT_KEYS))
    _add(total, "completion_tokens", _first(raw, _COMPLETION_KEYS))
    _add(total, "total_tokens", _first(raw, _TOTAL_KEYS))
    prompt_details = raw.get("prompt_tokens_details")
    if isinstance(prompt_details, Mapping):
        _add(total, "cache_read", prompt_details.get("cached_tokens"))
    completion_details = raw.get("completion_tokens_details")
    if isinstance(completion_details, Mapping):
        _add(total, "reasoning", completion_details.get("reasoning_tokens"))
    _add(total, "cache_read", raw.get("cache_read_input_tokens"))
    _add(total, "cache_creation", raw.get("cache_creation_input_tokens"))
    return _complete(total)


def _first(raw: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in raw:
            return raw[key]
    return None


def _add(total: TokenUsage, key: str, value: Any) -> None:
    """Add a reported count; what is not a finite number (a NaN from a provider) is no count."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        return
    total[key] = total.get(key, 0) + int(value)


def _complete(total: TokenUsage) -> TokenUsage | None:
    if not total:
        return None
    total.setdefault("prompt_tokens", 0)
    total.setdefault("completion_tokens", 0)
    total.setdefault("total_tokens", total["prompt_tokens"] + total["completion_tokens"])
    return total


def model_name(
    metadata: Mapping[str, Any] | None,
    invocation_params: Mapping[str, Any] | None,
    response: LLMResult | None = None,
) -> str | None:
    """The model a run called, as LangSmith and peers resolve it.

    LangChain's ``ls_model_name`` metadata first, then the invocation parameters, then
    the name the provider answered with (which may be a dated snapshot).
    """
    for source, keys in (
        (metadata, ("ls_model_name",)),
        (invocation_params, ("model", "model_name", "model_id", "deployment_name")),
    ):
        if source:
            for key in keys:
                value = source.get(key)
                if isinstance(value, str) and value:
                    return value
    if response is not None:
        return response_model_name(response)
    return None


def response_model_name(response: LLMResult) -> str | None:
    """The model name the provider reported in its answer, if any."""
    for key in ("model_name", "model"):
        value = (response.llm_output or {}).get(key)
        if isinstance(value, str) and value:
            return value
    for generations in response.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                meta = generation.message.response_metadata or {}
                value = meta.get("model_name") or meta.get("model")
                if isinstance(value, str) and value:
                    return value
    return None


def provider(metadata: Mapping[str, Any] | None) -> str | None:
    """LangChain's ``ls_provider`` for a run (``openai``, ``anthropic``, ...)."""
    value = (metadata or {}).get("ls_provider")
    return value if isinstance(value, str) and value else None
