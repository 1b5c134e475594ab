"""What an LLM call cost in USD: the user's ``prices`` first, else genai-prices' data.

Only the price data bundled with genai-prices is read. Its ``UpdatePrices``, which
downloads newer data, is never started, and a snapshot set by anyone else in the
process is ignored, so costs never depend on the network or on when they were computed.

A model's price is resolved once per (provider, model names) and cached; costing a call
then runs genai-prices' own arithmetic (tiers, date-bound prices) for the run's start
time. All of it runs on the background worker, never on the application's thread.

Token semantics: our ``prompt_tokens`` is LangChain's ``input_tokens``, every input token
with cache reads and writes included (``usage.py`` normalises providers whose raw counts
leave them out). genai-prices' ``input_tokens`` means the same, and ``cache_read`` and
``cache_creation`` are parts of it billed at their own rates; ``reasoning`` is likewise a
part of ``completion_tokens``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from genai_prices import Usage
from genai_prices.data import providers as BUNDLED_PROVIDERS
from genai_prices.data_snapshot import DataSnapshot, find_provider_by_id
from genai_prices.types import ModelInfo, Provider

from langchain_comet.usage import TokenUsage

# The keys of one entry of the ``prices`` option, in USD per million tokens.
PRICE_KEYS = ("input", "output", "cache_read", "cache_creation")
REQUIRED_PRICE_KEYS = ("input", "output")
TOKENS_PER_PRICE = 1_000_000
# LangChain ``ls_provider`` ids that genai-prices names differently.
PROVIDER_IDS = {
    "google_genai": "google",
    "google_vertexai": "google",
    "amazon_bedrock": "aws",
    "bedrock": "aws",
    "mistralai": "mistral",
    "xai": "x-ai",
}
# Providers whose models run on the user's own machine: a library price for a model of
# the same name (``deepseek-r1`` on Ollama is not DeepSeek's API) would be made up.
LOCAL_PROVIDERS = frozenset({"ollama"})
# Distinct (provider, model names) resolutions kept; an application that invents model
# names without end starts the cache afresh instead of growing it.
MAX_CACHED_PRICES = 1024


class Price(Protocol):
    def cost(self, tokens: TokenUsage, when: datetime) -> float: ...


@dataclass(frozen=True, slots=True)
class UserPrice:
    """One entry of the ``prices`` option, USD per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    cache_creation: float | None = None

    def cost(self, tokens: TokenUsage, when: datetime) -> float:
        """Cache reads and writes at their own rate when given, else at the input rate."""
        uncached = tokens["prompt_tokens"]
        usd = tokens["completion_tokens"] * self.output
        for rate, key in ((self.cache_read, "cache_read"), (self.cache_creation, "cache_creation")):
            if rate is not None:
                count = tokens.get(key, 0)
                uncached -= count
                usd += count * rate
        return (usd + uncached * self.input) / TOKENS_PER_PRICE


@dataclass(frozen=True, slots=True)
class LibraryPrice:
    """A model genai-prices knows, at the provider it was found for."""

    provider: Provider
    model: ModelInfo

    def cost(self, tokens: TokenUsage, when: datetime) -> float:
        usage = Usage(
            input_tokens=tokens["prompt_tokens"],
            output_tokens=tokens["completion_tokens"],
            cache_read_tokens=tokens.get("cache_read"),
            cache_write_tokens=tokens.get("cache_creation"),
            output_reasoning_tokens=tokens.get("reasoning"),
        )
        calculation = self.model.calc_price(usage, self.provider, genai_request_timestamp=when)
        return float(calculation.total_price)


def check_prices(prices: object) -> dict[str, UserPrice]:
    """The ``prices`` option, checked at construction: a typo there must not become a
    wrong cost in every run record later."""
    if prices is None:
        return {}
    if not isinstance(prices, Mapping):
        raise TypeError(
            "prices must be a mapping of model name to USD per million tokens, like "
            f"{{'my-model': {{'input': 1.0, 'output': 2.0}}}}, got {type(prices).__name__}"
        )
    table: dict[str, UserPrice] = {}
    for model, entry in prices.items():
        if not isinstance(model, str) or not model:
            raise TypeError(f"prices: model names must be non-empty strings, got {model!r}")
        if not isinstance(entry, Mapping):
            raise TypeError(
                f"prices[{model!r}] must be a mapping like {{'input': 1.0, 'output': 2.0}}, "
                f"got {type(entry).__name__}"
            )
        unknown = [key for key in entry if key not in PRICE_KEYS]
        if unknown:
            raise ValueError(
                f"prices[{model!r}] has unknown key(s) {unknown!r}; the keys are {PRICE_KEYS}"
            )
        for key in REQUIRED_PRICE_KEYS:
            if key not in entry:
                raise ValueError(f"prices[{model!r}] is missing {key!r} (USD per million tokens)")
        table[model] = UserPrice(**{key: _rate(model, key, value) for key, value in entry.items()})
    return table


def _rate(model: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise TypeError(
            f"prices[{model!r}][{key!r}] must be a number (USD per million tokens), got {value!r}"
        )
    rate = float(value)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(
            f"prices[{model!r}][{key!r}] must be a finite number >= 0 (USD per million "
            f"tokens), got {value!r}"
        )
    return rate


class Pricer:
    """Prices LLM runs; one per handler, used on its worker only."""

    def __init__(self, prices: object = None) -> None:
        self.user_prices = check_prices(prices)
        self._given = prices
        self._snapshot = _bundled_snapshot()
        self._cache: dict[tuple[str | None, tuple[str, ...]], Price | None] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # To the recorder process: the user's prices, not the bundled snapshot (~700 KB).
        return (Pricer, (self._given,))

    def cost(
        self,
        tokens: TokenUsage | None,
        provider: str | None,
        models: Sequence[str],
        when: float,
    ) -> float | None:
        """USD for one call, ``None`` when it cannot be known: no usage reported, no price
        for any of the model's names, or usage that contradicts itself."""
        if not tokens or not _consistent(tokens):
            return None
        price = self.price(provider, models)
        if price is None:
            return None
        return price.cost(tokens, datetime.fromtimestamp(when, UTC))

    def price(self, provider: str | None, models: Sequence[str]) -> Price | None:
        """The price of a run's model, resolved once per (provider, model names)."""
        key = (provider, tuple(models))
        if key in self._cache:
            return self._cache[key]
        if len(self._cache) >= MAX_CACHED_PRICES:
            self._cache.clear()
            self._snapshot = _bundled_snapshot()  # genai-prices' own look-up caches too
        price = self._cache[key] = self._resolve(provider, models)
        return price

    def _resolve(self, provider: str | None, models: Sequence[str]) -> Price | None:
        """The user's price for any of the names first, then the library's.

        With a provider genai-prices knows, only its models (and those it resells) match;
        with none, or one it does not know, the model name alone picks the provider.
        """
        for name in models:
            if name in self.user_prices:
                return self.user_prices[name]
        if provider in LOCAL_PROVIDERS:
            return None
        known = (
            find_provider_by_id(self._snapshot.providers, PROVIDER_IDS.get(provider, provider))
            if provider
            else None
        )
        for name in models:
            try:
                found, model = self._snapshot.find_provider_model(name, known, None, None)
            except LookupError:
                continue
            return LibraryPrice(found, model)
        return None


def _consistent(tokens: TokenUsage) -> bool:
    """Whether the parts fit in their wholes; a provider that reports otherwise gets no
    cost rather than a negative share or an error from genai-prices."""
    return (
        min(tokens.values()) >= 0
        and tokens.get("cache_read", 0) + tokens.get("cache_creation", 0) <= tokens["prompt_tokens"]
        and tokens.get("reasoning", 0) <= tokens["completion_tokens"]
    )


def _bundled_snapshot() -> DataSnapshot:
    """genai-prices' bundled data with look-up caches of our own."""
    return DataSnapshot(providers=BUNDLED_PROVIDERS, from_auto_update=False)
