"""Cost in ``show`` and the report: a priced, a user-priced and an unknown model (#8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from langchain_comet import cli
from langchain_comet.archive import Archive
from tests.openai_server import OpenAIServer, ScriptedReply

pytestmark = pytest.mark.integration

USER_PRICES = {"house-model": {"input": 2.0, "output": 8.0}}
MODELS = ("gpt-4o-mini", "house-model", "mystery-model")


@pytest.fixture
def priced_archive(make_handler, finish) -> Archive:
    handler = make_handler(prices=USER_PRICES, name="three models")
    replies = [ScriptedReply("ok", prompt_tokens=1000, completion_tokens=200) for _ in MODELS]
    with OpenAIServer(replies) as server:
        for model in MODELS:
            llm = ChatOpenAI(base_url=server.base_url, api_key="test", model=model, max_retries=0)
            chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | llm | StrOutputParser()
            chain.invoke({"q": "hi"}, config={"callbacks": [handler], "run_name": model})
    return finish(handler)


def costs(archive: Archive) -> dict[str, float | None]:
    return {run["model_name"]: run["cost_usd"] for run in archive.runs() if "cost_usd" in run}


def test_show_prints_cost_per_run_trace_and_model(
    priced_archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    by_model = costs(priced_archive)
    assert by_model["house-model"] == pytest.approx((1000 * 2.0 + 200 * 8.0) / 1e6)
    assert by_model["gpt-4o-mini"] > 0
    assert by_model["mystery-model"] is None

    assert cli.main(["show", str(priced_archive.path)]) == 0
    out = capsys.readouterr().out
    total = by_model["gpt-4o-mini"] + by_model["house-model"]
    assert re.search(rf"cost\s+\${total:.6f}".rstrip("0"), out)
    assert re.search(r"priced calls\s+2 of 3", out)
    assert re.search(r"price unknown\s+1 call\b", out)
    assert re.search(r"house-model\s+openai\s+1\s+1,000\s+200\s+\$0\.0036\b", out)
    assert re.search(r"mystery-model\s+openai\s+1\s+1,000\s+200\s+price unknown", out)
    # In the run tree: each chat model's cost, and each trace's.
    assert re.search(r"ChatOpenAI chat_model .* house-model\s+1200 tokens\s+\$0\.0036", out)
    assert re.search(r"ChatOpenAI chat_model .* mystery-model\s+1200 tokens\s+price unknown", out)
    assert re.search(r"house-model chain .* trace \$0\.0036", out)


def test_report_shows_cost_and_cost_by_model(
    priced_archive: Archive, tmp_path: Path, open_report
) -> None:
    output = tmp_path / "cost.html"
    assert cli.main(["report", str(priced_archive.path), "-o", str(output)]) == 0
    report = open_report(output)
    page = report.page
    total = sum(cost for cost in costs(priced_archive).values() if cost)
    cost_card = page.locator(".kpi:has(.label:text('Cost'))")
    assert f"${total:.6f}".rstrip("0") in cost_card.inner_text()
    assert "1 of 3 calls: price unknown" in cost_card.inner_text()
    assert "$0.0036" in page.inner_text(".trace-item:has-text('house-model')")

    page.click(".trace-item:has-text('mystery-model')")
    mystery = next(r for r in priced_archive.runs() if r["model_name"] == "mystery-model")
    page.click(f".wf-row[data-run-id='{mystery['run_id']}']")
    assert re.search(r"cost\s+price unknown", page.inner_text("#run-details"))

    page.click("#tab-button-models")
    rows = page.locator("#tab-models tbody tr")
    assert rows.count() == 3
    assert "price unknown" in page.inner_text("#tab-models tr:has-text('mystery-model')")
    report.screenshot("report-cost-by-model")
    assert report.errors == [] and report.outside_requests() == []


def test_a_call_without_token_usage_says_so_instead_of_price_unknown(
    make_handler, finish, tmp_path: Path, open_report, capsys: pytest.CaptureFixture[str]
) -> None:
    from langchain_core.language_models import FakeListLLM  # reports no token usage

    handler = make_handler()
    FakeListLLM(responses=["ok"]).invoke("hi", config={"callbacks": [handler]})
    archive = finish(handler)
    (run,) = archive.runs()
    assert run["cost_usd"] is None and run["token_usage"] is None

    assert cli.main(["show", str(archive.path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"no token usage\s+1 call\b", out)
    assert re.search(r"FakeListLLM llm .*no token usage", out)
    assert "price unknown" not in out

    output = tmp_path / "usage.html"
    assert cli.main(["report", str(archive.path), "-o", str(output)]) == 0
    report = open_report(output)
    cost_card = report.page.locator(".kpi:has(.label:text('Cost'))")
    assert "1 of 1 calls: no token usage" in cost_card.inner_text()
    assert re.search(r"cost\s+no token usage", report.page.inner_text("#run-details"))
    report.page.click("#tab-button-models")
    columns = report.page.locator("#tab-models th").all_inner_texts()
    cells = report.page.locator("#tab-models tbody tr").first.locator("td").all_inner_texts()
    assert dict(zip(columns, cells, strict=True))["calls without token usage"] == "1"
    assert report.errors == [] and report.outside_requests() == []
