"""pricing.py: the user's prices, genai-prices' bundled data, cache tokens, and no network."""

from __future__ import annotations

import math
import textwrap
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from langchain_comet.pricing import LibraryPrice, Pricer, UserPrice, check_prices

NOW = time.time()


def tokens(prompt, completion, **details):
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        **details,
    }


def library(usage: Usage, model: str, provider: str | None = None) -> float:
    return float(calc_price(usage, model, provider_id=provider).total_price)


# -- the user's prices ------------------------------------------------------------------


def test_user_prices_charge_cache_reads_and_writes_at_their_own_rates():
    table = {"m": {"input": 2, "output": 8, "cache_read": 0.5, "cache_creation": 2.5}}
    assert check_prices(table) == {"m": UserPrice(2.0, 8.0, 0.5, 2.5)}
    used = tokens(1000, 100, cache_read=600, cache_creation=100, reasoning=40)
    # Cache reads and writes are parts of the prompt, reasoning a part of the output.
    expected = (300 * 2 + 600 * 0.5 + 100 * 2.5 + 100 * 8) / 1e6
    assert Pricer(table).cost(used, None, ["m"], NOW) == pytest.approx(expected)


def test_user_prices_without_a_cache_rate_charge_cached_tokens_as_input():
    pricer = Pricer({"m": {"input": 2, "output": 8}})
    assert pricer.cost(tokens(1000, 100, cache_read=600), None, ["m"], NOW) == pytest.approx(
        (1000 * 2 + 100 * 8) / 1e6
    )


def test_a_free_model_costs_zero_not_unknown():
    assert (
        Pricer({"local": {"input": 0, "output": 0}}).cost(tokens(10, 10), "ollama", ["local"], NOW)
        == 0.0
    )


@pytest.mark.parametrize(
    ("prices", "error", "names"),
    [
        ({"m": {"input": -1, "output": 1}}, ValueError, ["'m'", "'input'"]),
        ({"m": {"input": 1, "output": True}}, TypeError, ["'m'", "'output'"]),
        ({"m": {"input": "1.0", "output": 1}}, TypeError, ["'m'", "'input'"]),
        ({"m": {"input": math.nan, "output": 1}}, ValueError, ["'m'", "'input'"]),
        ({"m": {"input": 1, "output": math.inf}}, ValueError, ["'m'", "'output'"]),
        ({"m": {"input": 1, "output": 1, "cache_read": -0.1}}, ValueError, ["'cache_read'"]),
        ({"m": {"output": 1}}, ValueError, ["'m'", "'input'"]),
        ({"m": {"input": 1}}, ValueError, ["'m'", "'output'"]),
        ({"m": {"input": 1, "output": 1, "cached": 1}}, ValueError, ["'m'", "'cached'"]),
        ({"m": [1, 2]}, TypeError, ["'m'"]),
        ({"": {"input": 1, "output": 1}}, TypeError, ["model names"]),
        ([("m", {"input": 1, "output": 1})], TypeError, ["prices must be a mapping", "list"]),
        ("m", TypeError, ["prices must be a mapping", "str"]),
    ],
)
def test_bad_prices_fail_with_a_message_naming_model_and_key(prices, error, names):
    with pytest.raises(error) as failure:
        check_prices(prices)
    for name in names:
        assert name in str(failure.value)


def test_prices_accept_any_real_number_and_are_copied():
    prices = {"m": {"input": Decimal("0.25"), "output": 3}}
    table = check_prices(prices)
    prices["m"]["input"] = 100
    assert table["m"] == UserPrice(0.25, 3.0)
    assert check_prices(None) == {}


# -- genai-prices -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "names", "model", "genai_provider"),
    [
        ("openai", ["gpt-4o-mini"], "gpt-4o-mini", "openai"),
        ("openai", ["gpt-4o-mini-2024-07-18"], "gpt-4o-mini", "openai"),
        # An alias the data lacks: the dated snapshot the provider answered with prices it.
        ("openai", ["my-alias", "gpt-4o-mini-2024-07-18"], "gpt-4o-mini", "openai"),
        ("google_genai", ["gemini-2.0-flash"], "gemini-2.0-flash", "google"),
        ("google_vertexai", ["gemini-2.0-flash"], "gemini-2.0-flash", "google"),
        ("mistralai", ["mistral-large-latest"], "mistral-large-latest", "mistral"),
        ("xai", ["grok-3"], "grok-3", "x-ai"),
        # A provider genai-prices does not know: the model name alone picks it.
        ("genericfakechatmodel", ["claude-3-5-haiku-latest"], "claude-3-5-haiku-latest", None),
        (None, ["gpt-4o"], "gpt-4o", None),
    ],
)
def test_library_prices_match_calc_price(provider, names, model, genai_provider):
    used = tokens(12_000, 800, cache_read=4_000)
    usage = Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=4_000)
    cost = Pricer().cost(used, provider, names, NOW)
    assert cost is not None
    assert cost == pytest.approx(library(usage, model, genai_provider))


def test_azure_resells_openai_models():
    price = Pricer().price("azure", ["gpt-4o"])
    assert isinstance(price, LibraryPrice)
    assert price.provider.id == "azure"
    assert price.model.id == "gpt-4o"


def test_bedrock_model_ids_price_at_aws():
    price = Pricer().price("amazon_bedrock", ["anthropic.claude-3-haiku-20240307-v1:0"])
    assert isinstance(price, LibraryPrice)
    assert price.provider.id == "aws"


def test_cache_reads_are_cheaper_and_cache_writes_dearer_for_anthropic():
    pricer = Pricer()
    model = ["claude-3-5-sonnet-latest"]
    plain = pricer.cost(tokens(10_000, 100), "anthropic", model, NOW)
    read = pricer.cost(tokens(10_000, 100, cache_read=8_000), "anthropic", model, NOW)
    written = pricer.cost(tokens(10_000, 100, cache_creation=8_000), "anthropic", model, NOW)
    assert read < plain < written
    expected = Usage(input_tokens=10_000, output_tokens=100, cache_write_tokens=8_000)
    assert written == pytest.approx(library(expected, model[0], "anthropic"))


def test_a_provider_genai_prices_knows_only_prices_its_own_models():
    # Anthropic does not sell gpt-4o; the model name must not be priced at OpenAI's rate.
    assert Pricer().cost(tokens(100, 10), "anthropic", ["gpt-4o"], NOW) is None


def test_local_models_are_not_priced_like_a_hosted_model_of_the_same_name():
    assert Pricer().cost(tokens(100, 10), "ollama", ["deepseek-r1:7b"], NOW) is None
    assert Pricer().cost(tokens(100, 10), None, ["deepseek-r1:7b"], NOW) is not None


def test_user_prices_win_over_the_library_for_any_of_the_names():
    pricer = Pricer({"gpt-4o-mini-2024-07-18": {"input": 1, "output": 1}})
    cost = pricer.cost(tokens(1000, 1000), "openai", ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"], NOW)
    assert cost == pytest.approx(2000 / 1e6)


@pytest.mark.parametrize(
    "used",
    [
        None,
        {},
        tokens(100, 10, cache_read=80, cache_creation=30),  # more cached than sent
        tokens(100, 10, reasoning=11),  # more reasoning than output
        tokens(100, -1),
    ],
)
def test_unknowable_costs_are_none(used):
    assert Pricer().cost(used, "openai", ["gpt-4o-mini"], NOW) is None


def test_unknown_models_and_no_names_are_none():
    assert Pricer().cost(tokens(100, 10), "openai", ["parrot-7b"], NOW) is None
    assert Pricer().cost(tokens(100, 10), None, [], NOW) is None


def test_a_resolved_price_is_cached_per_provider_and_names(monkeypatch):
    pricer = Pricer()
    first = pricer.price("openai", ["gpt-4o-mini"])
    assert pricer.price("openai", ["parrot"]) is None

    def fail(*args):
        raise AssertionError("resolved again")

    monkeypatch.setattr(pricer, "_resolve", fail)
    assert pricer.price("openai", ["gpt-4o-mini"]) is first
    assert pricer.price("openai", ["parrot"]) is None


def test_the_price_in_force_when_the_call_started_applies():
    # genai-prices' prices are date-bound: o3's fell on 2025-06-10.
    pricer = Pricer()
    usage = Usage(input_tokens=1000, output_tokens=100)
    costs = []
    for day in (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)):
        cost = pricer.cost(tokens(1000, 100), "openai", ["o3"], day.timestamp())
        expected = calc_price(usage, "o3", provider_id="openai", genai_request_timestamp=day)
        assert cost == pytest.approx(float(expected.total_price))
        costs.append(cost)
    assert costs[0] > costs[1]


# -- offline ----------------------------------------------------------------------------


def test_pricing_never_touches_the_network(run_python):
    """In a fresh interpreter where every socket, name look-up and httpx request raises,
    importing the package and pricing still work, and genai-prices' updater never starts."""
    script = textwrap.dedent(
        """
        import socket, threading

        def refuse(*args, **kwargs):
            raise AssertionError("network touched")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse
        socket.create_connection = refuse
        import httpx2
        httpx2.Client.send = refuse
        httpx2.AsyncClient.send = refuse

        import time
        from genai_prices import data_snapshot, update_prices
        from langchain_comet import CometCallbackHandler  # the whole package imports
        from langchain_comet.pricing import Pricer

        pricer = Pricer()
        used = {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010}
        for provider, model in [("openai", "gpt-4o-mini"), (None, "claude-3-5-haiku-latest")]:
            assert pricer.cost(used, provider, [model], time.time()) > 0, model
        assert pricer.cost(used, "openai", ["parrot"], time.time()) is None
        assert update_prices._shared_updater.thread is None
        assert data_snapshot._custom_snapshot is None
        assert not [t for t in threading.enumerate() if t.name.startswith("genai_prices")]
        print("priced offline")
        """
    )
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "priced offline"
