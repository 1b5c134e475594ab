"""``langchain-comet report``: one self-contained HTML file, checked in headless Chromium
(see ``tests/browser.py``: every request but the report file's own fails the test)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_comet import CometCallbackHandler, cli
from langchain_comet.archive import Archive
from tests.browser import OpenedReport

pytestmark = pytest.mark.integration


def write_report(archive: Path, output: Path) -> Path:
    assert cli.main(["report", str(archive), "-o", str(output)]) == 0
    return output


def embedded_data(html: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S
    )
    assert match, "the report embeds its data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


# -- without a browser --------------------------------------------------------------------


def test_report_is_one_file_that_fetches_nothing(demo_archive: Path, tmp_path: Path) -> None:
    html = write_report(demo_archive, tmp_path / "report.html").read_text()
    # The policy forbids every fetch; the page only has inline style and script.
    assert "default-src 'none'" in html
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    data = embedded_data(html)
    runs = Archive(demo_archive).runs()
    assert len(data["runs"]) == len(runs)
    assert {run["id"] for run in data["runs"]} == {run["run_id"] for run in runs}
    # Depth first, trace after trace: each trace is its slice of the runs.
    assert sum(trace["count"] for trace in data["traces"]) == len(runs)
    for trace in data["traces"]:
        root, *rest = data["runs"][trace["start"] : trace["start"] + trace["count"]]
        assert root["parent"] is None and root["depth"] == 0
        assert all(run["trace"] == root["id"] for run in rest)


# -- in Chromium --------------------------------------------------------------------------


def test_archive_text_cannot_break_out_of_the_page(
    make_handler: Callable[..., CometCallbackHandler],
    finish: Callable[..., Archive],
    tmp_path: Path,
    open_report: Callable[[Path], OpenedReport],
) -> None:
    hostile = "</script><script>window.pwned = 1</script> <!-- {{script}} {{data}} &amp; <b>x</b>"
    handler = make_handler()
    RunnableLambda(lambda text: text.upper(), name=hostile).invoke(
        hostile, config={"callbacks": [handler]}
    )
    archive = finish(handler)
    path = write_report(archive.path, tmp_path / "report.html")
    html = path.read_text()
    assert html.count("</script>") == 2  # the data element's and the script's own
    (run,) = embedded_data(html)["runs"]
    assert run["name"] == hostile
    assert run["inputs"] == hostile

    report = open_report(path)
    assert report.page.evaluate("window.pwned") is None
    assert report.page.locator(".trace-item .name").inner_text() == hostile
    assert hostile in report.page.inner_text("#run-details")
    assert report.errors == [] and report.outside_requests() == []


def test_a_trace_still_open_at_the_end_has_no_duration(
    make_handler: Callable[..., CometCallbackHandler],
    finish: Callable[..., Archive],
    tmp_path: Path,
    open_report: Callable[[Path], OpenedReport],
) -> None:
    handler = make_handler()
    release, entered = threading.Event(), threading.Event()

    def wait(x: str) -> str:
        entered.set()
        release.wait(30)
        return x

    worker = threading.Thread(
        target=RunnableLambda(wait, name="open").invoke, args=("x", {"callbacks": [handler]})
    )
    worker.start()
    try:
        assert entered.wait(30)
        archive = finish(handler)  # the run is still open: written as incomplete
    finally:
        release.set()
        worker.join(30)
    (run,) = archive.runs()
    assert run["status"] == "incomplete" and run["latency_ms"] is None
    report = open_report(write_report(archive.path, tmp_path / "report.html"))
    assert report.page.locator(".trace-item .dur").inner_text() == "\u2013"  # a dash, not "0.00 ms"
    assert report.errors == [] and report.outside_requests() == []


@pytest.fixture(scope="module")
def demo_report(demo_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(demo_archive, tmp_path_factory.mktemp("report") / "report.html")


def test_clicking_a_run_shows_its_details(
    demo_report: Path, demo_archive: Path, open_report: Callable[..., OpenedReport]
) -> None:
    report = open_report(demo_report)
    page = report.page
    runs = {run["name"]: run for run in Archive(demo_archive).runs()}

    # The failing tool: its trace, then its run, with the error and the inputs it got.
    page.click(".trace-item:has-text('divide')")
    page.click(f".wf-row[data-run-id='{runs['divide']['run_id']}']")
    details = page.locator("#run-details")
    assert "ZeroDivisionError: float division by zero" in details.inner_text()
    assert '"b": 0' in details.locator("pre.json").first.inner_text()
    report.screenshot("report-error-run")

    # A chat model inside the RAG trace: its messages with roles, its tokens.
    chat = next(
        run
        for run in Archive(demo_archive).runs()
        if run["run_type"] == "chat_model" and run["token_usage"]["total_tokens"] == 90
        if run["token_usage"]
    )
    page.click(".trace-item:has-text('rag')")
    page.click(f".wf-row[data-run-id='{chat['run_id']}']")
    assert page.locator(".wf-row.selected").get_attribute("data-run-id") == chat["run_id"]
    text = details.inner_text()
    assert "SYSTEM" in text.upper() and "Answer from the context only." in text
    assert re.search(r"total tokens\s+90", text)
    assert chat["run_id"] in text
    assert page.evaluate("location.hash") == f"#run={chat['run_id']}"
    report.screenshot("report-traces")

    # That address, opened anew, opens that run (not the first trace's root).
    linked = open_report(demo_report, f"#run={chat['run_id']}")
    assert linked.page.locator(".wf-row.selected").get_attribute("data-run-id") == chat["run_id"]
    assert chat["run_id"] in linked.page.locator("#run-details").inner_text()
    assert linked.page.evaluate("location.hash") == f"#run={chat['run_id']}"

    # Collapsing a run hides its subtree in the waterfall.
    rag = runs["rag"]
    rows_before = page.locator("#waterfall .wf-row").count()
    page.click(f".wf-row[data-run-id='{rag['run_id']}'] .caret")
    assert page.locator("#waterfall .wf-row").count() == 1 < rows_before

    assert report.errors == []
    assert report.outside_requests() == []


def test_session_table_sorts_filters_and_links_to_runs(
    demo_report: Path, demo_archive: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    report = open_report(demo_report)
    page = report.page
    table = Archive(demo_archive).session_table()
    page.click("#tab-button-table")
    assert page.locator("#tab-table tbody tr").count() == len(table)

    page.fill("#tab-table input[type=search]", "haiku")
    assert page.locator("#tab-table tbody tr").count() == 1
    assert f"1 of {len(table)} rows" in page.inner_text("#tab-table")
    page.fill("#tab-table input[type=search]", "")

    page.click("#tab-table th[data-column='step']")  # ascending
    page.click("#tab-table th[data-column='step']")  # descending
    first_step = page.locator("#tab-table tbody tr").first.locator("td").first.inner_text()
    assert int(first_step) == table["step"].max()
    report.screenshot("report-session-table")

    newest = table.loc[table["step"].idxmax()]
    # Ids show their distinct end (uuid7 ids of one minute share their first digits); the
    # cell's title holds the whole id, and the filter finds a row by it.
    run_id_cell = (
        page.locator("#tab-table tbody tr")
        .first.locator("td")
        .nth(list(table.columns).index("run_id"))
    )
    assert run_id_cell.inner_text() == "…" + newest["run_id"][-8:]
    assert run_id_cell.get_attribute("title") == newest["run_id"]
    page.fill("#tab-table input[type=search]", newest["run_id"])
    assert page.locator("#tab-table tbody tr").count() == 1
    page.fill("#tab-table input[type=search]", "")
    page.click("#tab-table th[data-column='step']")  # ascending
    page.click("#tab-table th[data-column='step']")  # descending
    page.locator("#tab-table tbody tr").first.click()
    assert page.locator("#tab-traces").is_visible()
    assert page.locator(".wf-row.selected").get_attribute("data-run-id") == newest["run_id"]
    assert report.errors == [] and report.outside_requests() == []


def test_metrics_visualizations_and_errors(
    demo_report: Path, demo_archive: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    report = open_report(demo_report)
    page = report.page
    archive = Archive(demo_archive)

    page.click("#tab-button-metrics")
    chart = page.locator(".chart[data-metric='llm_latency_ms']")
    assert chart.locator("svg path.line").count() == 1
    points = len(archive.metrics("llm_latency_ms"))
    assert f"{points} points" in chart.inner_text()
    # Readability statistics share one chart per score, with a statistic picker.
    page.select_option(".chart:has(h3:text('flesch_reading_ease_mean')) select", "max")
    assert page.locator(".chart[data-metric='flesch_reading_ease_max']").count() == 1
    report.screenshot("report-metrics")

    page.click("#tab-button-visualizations")
    frame = page.frame_locator(".viz-list details[open] iframe").first
    assert frame.locator("svg").count() >= 1  # displaCy's rendering, sandboxed
    report.screenshot("report-visualizations")

    page.click("#tab-button-errors")
    (failed,) = [run for run in archive.runs() if run["error"]]
    row = page.locator("#tab-errors tr:has-text('ZeroDivisionError')")
    assert row.inner_text().endswith(f"divide · …{failed['trace_id'][-8:]}")  # its trace
    row.click()
    assert "float division by zero" in page.inner_text("#run-error")
    assert report.errors == [] and report.outside_requests() == []


def test_community_archive_says_it_has_no_run_tree(
    community_archive: Path, tmp_path: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    report = open_report(write_report(community_archive, tmp_path / "community.html"))
    page = report.page
    assert "No run tree in this archive" in page.inner_text("#tab-traces")
    page.click("#tab-button-table")
    assert page.locator("#tab-table tbody tr").count() == 3
    page.click("#tab-button-actions")
    assert "on_llm_start" in page.inner_text("#tab-actions")
    report.screenshot("report-community")
    assert report.errors == [] and report.outside_requests() == []


TRACES_10K = 2_500  # prompt | llm | parser under a chain: four runs a trace


@pytest.fixture(scope="module")
def large_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("large")
    handler = CometCallbackHandler(online=False, offline_directory=str(directory), name="10k")
    chain = (
        PromptTemplate.from_template("Question {i}: why?")
        | FakeListLLM(responses=["Because."])
        | StrOutputParser()
    )
    chain.batch(
        [{"i": i} for i in range(TRACES_10K)],
        config={"callbacks": [handler], "max_concurrency": 4},
    )
    handler.flush_tracker(finish=True)
    (path,) = directory.glob("*.zip")
    return path


def test_ten_thousand_runs_stay_usable(
    large_archive: Path,
    tmp_path: Path,
    open_report: Callable[[Path], OpenedReport],
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = Archive(large_archive).runs()
    assert len(runs) == 4 * TRACES_10K
    path = write_report(large_archive, tmp_path / "large.html")
    report = open_report(path)
    page = report.page
    ready_ms = page.evaluate("window.reportReadyMs")
    with capsys.disabled():
        print(
            f"\n10,000-run report: {path.stat().st_size / 1e6:.1f} MB, "
            f"ready {ready_ms:.0f} ms after navigation"
        )
    # Only the rows in view are in the page, however long the lists are.
    assert page.locator(".trace-item").count() < 60
    assert f"{TRACES_10K:,} traces" in page.inner_text("#trace-count")

    # Find one late trace by its run id, and open its model run.
    last_llm = max((run for run in runs if run["run_type"] == "llm"), key=lambda r: r["step"])
    page.fill("#trace-filter", last_llm["run_id"])
    assert page.inner_text("#trace-count") == f"1 of {TRACES_10K:,} traces"
    page.click(".trace-item")
    page.click(f".wf-row[data-run-id='{last_llm['run_id']}']")
    assert "Because." in page.inner_text("#run-details")

    page.fill("#trace-filter", "")
    page.locator("#trace-list").evaluate("list => list.scrollTop = list.scrollHeight")
    page.wait_for_timeout(100)
    assert page.locator(".trace-item").count() < 60
    page.click("#tab-button-table")
    assert f"{TRACES_10K:,} rows" in page.inner_text("#tab-table")
    assert page.locator("#tab-table tbody tr").count() == 100  # one page
    report.screenshot("report-10k-runs")
    assert report.errors == [] and report.outside_requests() == []
