"""Which cost an LLM run records, and where it came from (``cost_source``).

A gateway that bills the call knows its price better than any table: OpenRouter and
LiteLLM route one model name to many upstreams and discounts. So a cost the response
reports wins (``provider``); otherwise the user's ``prices`` (``prices``), then
genai-prices' bundled data (``genai-prices``), as :mod:`langchain_comet.pricing` does.

Where a reported cost surfaces through LangChain (``ChatOpenAI`` keeps the response's
whole ``usage`` object as ``llm_output["token_usage"]`` and in each message's
``response_metadata["token_usage"]``):

- ``usage.cost``: OpenRouter (always, in USD), LiteLLM's proxy (with
  ``include_cost_in_streaming_usage``), and gateways that copy them;
- ``usage.cost_in_usd_ticks``: xAI, in units of 1e-10 USD;
- the ``x-litellm-response-cost`` header of LiteLLM's proxy, which ``ChatOpenAI`` keeps
  in ``response_metadata["headers"]`` when built with ``include_response_headers=True``.

``ChatOpenAI`` drops ``usage.cost`` when it streams (it keeps only the token counts), so
streamed calls through it are priced from the tables unless the header is kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from langchain_core.outputs import ChatGeneration, LLMResult

from langchain_comet.pricing import LibraryPrice, Pricer, UserPrice
from langchain_comet.usage import TokenUsage

__all__ = ["GENAI_PRICES", "PRICES", "PROVIDER", "choose", "provider_cost"]

PROVIDER = "provider"
PRICES = "prices"
GENAI_PRICES = "genai-prices"
USD_PER_TICK = 1e-10
COST_HEADER = "x-litellm-response-cost"
_USAGE_KEYS = ("token_usage", "usage")


def choose(
    pricer: Pricer,
    response: LLMResult,
    tokens: TokenUsage | None,
    provider: str | None,
    models: Sequence[str],
    when: float,
) -> tuple[float | None, str | None]:
    """``(cost_usd, cost_source)`` of one finished call; ``(None, None)`` when unknown."""
    reported = provider_cost(response)
    if reported is not None:
        return reported, PROVIDER
    cost = pricer.cost(tokens, provider, models, when)
    if cost is None:
        return None, None
    price = pricer.price(provider, models)
    if isinstance(price, UserPrice):
        return cost, PRICES
    if isinstance(price, LibraryPrice):
        return cost, GENAI_PRICES
    return cost, None


def provider_cost(response: LLMResult) -> float | None:
    """The USD cost the response itself reports, None when it reports none."""
    llm_output = response.llm_output if isinstance(response.llm_output, Mapping) else {}
    cost = _usage_cost(llm_output)
    if cost is not None:
        return cost
    # No combined output (streaming): each prompt's first generation carries its call's.
    total: float | None = None
    for generations in response.generations:
        for metadata in _metadata_of(generations[:1]):
            cost = _usage_cost(metadata)
            if cost is None:
                cost = _header_cost(metadata.get("headers"))
            if cost is not None:
                total = (total or 0.0) + cost
                break
    return total


def _metadata_of(generations: Sequence[Any]) -> Iterator[Mapping[str, Any]]:
    for generation in generations:
        if isinstance(generation, ChatGeneration):
            metadata = getattr(generation.message, "response_metadata", None)
            if isinstance(metadata, Mapping):
                yield metadata
        info = getattr(generation, "generation_info", None)
        if isinstance(info, Mapping):
            yield info


def _usage_cost(container: Mapping[str, Any]) -> float | None:
    for key in _USAGE_KEYS:
        usage = container.get(key)
        if not isinstance(usage, Mapping):
            continue
        cost = _number(usage.get("cost"))
        if cost is not None:
            return cost
        ticks = _number(usage.get("cost_in_usd_ticks"))
        if ticks is not None:
            return ticks * USD_PER_TICK
    return None


def _header_cost(headers: Any) -> float | None:
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == COST_HEADER:
            return _number(value)
    return None


def _number(value: Any) -> float | None:
    """A reported cost: a finite number >= 0, possibly sent as text."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except Exception:  # whatever a provider (or a hostile object) sends is no cost
        return None
    return number if math.isfinite(number) and number >= 0 else None
