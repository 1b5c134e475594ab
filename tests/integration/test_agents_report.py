"""The HTML report of an agents' archive, in headless Chromium: one trace across interrupt →
wait → resume, graph nodes, the graph drawn, hidden runs folded, users, sessions, feedback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.types import Command

from langchain_comet import CometCallbackHandler, cli, trace_attributes
from langchain_comet.archive import Archive
from tests.agents import failing_graph, refund_agent, review_graph
from tests.browser import OpenedReport

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agents_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("agents")
    handler = CometCallbackHandler(
        online=False, offline_directory=str(directory), name="agents", raise_error=True
    )
    review = review_graph()
    with trace_attributes(user_id="ann"):
        config = {"configurable": {"thread_id": "post-1"}, "callbacks": [handler]}
        review.invoke({"topic": "tracing"}, config)
        review.invoke(Command(resume="yes"), config)
        review.invoke(Command(resume="ship it"), config)
        handler.log_feedback(handler.last_trace_id or "", "helpful", True, comment="fast review")
    with trace_attributes(user_id="bob"):
        config = {"configurable": {"thread_id": "ticket-9"}, "callbacks": [handler]}
        refund_agent().invoke({"messages": [("user", "Refund A-7")]}, config)  # still waiting
        handler.log_feedback(handler.last_trace_id or "", "score", 0.5)
        with pytest.raises(ValueError):
            failing_graph().invoke({"topic": "x"}, {**config, "configurable": {"thread_id": "f"}})
    hidden = RunnableLambda(lambda x: x, name="internal-step").with_config(
        tags=["langsmith:hidden"]
    )
    (RunnableLambda(lambda x: x, name="visible-step") | hidden).invoke(1, {"callbacks": [handler]})
    handler.flush_tracker(langchain_asset=review, finish=True)
    (path,) = directory.glob("*.zip")
    return path


@pytest.fixture(scope="module")
def agents_report(agents_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("agents-report") / "report.html"
    assert cli.main(["report", str(agents_archive), "-o", str(output)]) == 0
    return output


def embedded(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert match
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_the_report_data_stitches_segments_and_carries_the_new_fields(
    agents_report: Path, agents_archive: Path
) -> None:
    data = embedded(agents_report.read_text())
    runs = Archive(agents_archive).runs()
    assert len(data["runs"]) == len(runs)
    # Four traces: the review (three segments), the paused refund, the failure, the chain.
    assert len(data["traces"]) == 4
    review = next(t for t in data["traces"] if len(t["segments"]) == 3)
    roots = [data["runs"][i] for i in review["segments"]]
    assert [root["status"] for root in roots] == ["interrupted", "interrupted", "success"]
    assert roots[1]["resumed_from"] == roots[2]["resumed_from"] == roots[0]["id"]
    assert review["users"] == ["ann"] and review["sessions"] == ["post-1"]
    assert [f["name"] for f in review["feedback"]] == ["helpful"]
    assert {run["node"] for run in data["runs"] if run["is_node"]} >= {"write", "approve"}
    assert data["overview"]["errors"] == 2 and data["overview"]["interrupted"] >= 6
    assert data["filters"] == {"users": ["ann", "bob"], "sessions": ["f", "post-1", "ticket-9"]}
    assert data["graph"]["structure"]["name"] == "review"


def test_an_interrupted_and_resumed_trace_in_chromium(
    agents_report: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    report = open_report(agents_report)
    page = report.page
    assert page.inner_text("#trace-count") == "4 traces"
    # Filter by user and session.
    page.select_option("#trace-user", "ann")
    assert page.inner_text("#trace-count") == "1 of 4 traces"
    page.select_option("#trace-user", index=0)  # all users
    page.select_option("#trace-session", "ticket-9")
    assert page.inner_text("#trace-count") == "1 of 4 traces"
    assert "waiting" in page.inner_text(".trace-item")  # the refund still waits for a human
    page.select_option("#trace-session", index=0)

    page.click(".trace-item:has-text('resumed 2\u00d7')")
    head = page.inner_text("#waterfall-head")
    assert "in 3 segments (interrupted, resumed)" in head
    assert "user ann" in head and "session post-1" in head
    assert "★ helpful=true “fast review”" in head
    waits = page.locator("#waterfall .wf-wait")
    assert waits.count() == 2
    assert "Publish this draft?" in waits.nth(0).inner_text()
    assert 'resumed with "yes"' in waits.nth(0).inner_text()
    assert "Any note for the editor?" in waits.nth(1).inner_text()
    assert page.locator("#waterfall .badge.t-node").count() >= 5
    assert page.locator("#waterfall .wf-row.interrupted").count() == 4  # 2 roots, 2 nodes
    report.screenshot("report-interrupted-trace")

    page.click("#waterfall .wf-row.interrupted .label:text-is('approve')")
    assert "Publish this draft?" in page.inner_text("#run-interrupt")
    details = page.inner_text("#run-details")
    assert re.search(r"graph node\s+approve", details) and re.search(r"graph step\s+2", details)

    # Errors: the failing node and its graph, never an interrupt.
    page.click("#tab-button-errors")
    errors = page.inner_text("#tab-errors")
    assert page.locator("#tab-errors tbody tr").count() == 2
    assert "ValueError" in errors and "Interrupt" not in errors
    assert page.inner_text("#tab-button-errors .count") == "2"
    assert report.errors == [] and report.outside_requests() == []


def test_hidden_runs_are_folded_until_asked_for(
    agents_report: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    report = open_report(agents_report)
    page = report.page
    page.click(".trace-item:has-text('RunnableSequence')")
    assert page.locator("#waterfall .wf-row .label:text-is('visible-step')").count() == 1
    assert page.locator("#waterfall .wf-row .label:text-is('internal-step')").count() == 0
    page.check("#show-hidden")
    assert page.locator("#waterfall .wf-row .label:text-is('internal-step')").count() == 1
    assert report.errors == [] and report.outside_requests() == []


def test_the_graph_is_drawn_and_feedback_listed(
    agents_report: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    report = open_report(agents_report)
    page = report.page
    page.click("#tab-button-graph")
    assert page.locator("#graph-svg g.g-node").count() == 5  # start, 3 nodes, end
    assert page.locator("#graph-svg path.g-edge").count() == 4
    approve = page.locator("#graph-svg g.g-node[data-node='approve']")
    assert "has-interrupts" in (approve.get_attribute("class") or "")
    assert "\u00d72 · 1 paused" in (approve.text_content() or "")  # run twice, paused once
    report.screenshot("report-graph")
    page.click("#tab-graph summary:text('Mermaid')")
    assert "graph TD" in page.inner_text("#graph-mermaid")

    page.click("#tab-button-feedback")
    assert page.locator("#tab-feedback tbody tr").count() == 2
    assert "helpful" in page.inner_text("#tab-feedback .feedback-kpis").lower()
    page.locator("#tab-feedback tbody tr:has-text('helpful')").click()
    assert page.locator("#tab-traces").is_visible()
    assert "fast review" in page.inner_text("#run-feedback")
    assert report.errors == [] and report.outside_requests() == []
