"""``show`` and the report's run view say what an LLM call saw (issue #15): parameters,
tools offered, prompt template, images and audio, and where its cost came from."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from langchain_comet import CometCallbackHandler, cli
from langchain_comet.archive import Archive
from tests.browser import OpenedReport
from tests.media_files import b64, data_url, png, wav
from tests.openai_server import OpenAIServer, ScriptedReply

pytestmark = pytest.mark.integration

IMAGE = png(96, 64)
AUDIO = wav(0.5)


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its id."""
    return "shipped"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    directory = tmp_path_factory.mktemp("model-inputs")
    handler = CometCallbackHandler(
        project_name="model-inputs", offline_directory=str(directory), online=False
    )
    config: Any = {"callbacks": [handler], "metadata": {"prompt_version": "v2"}}
    replies = [
        ScriptedReply("Paris is lovely.", cost=0.00125),
        ScriptedReply(tool_calls=[{"name": "lookup_order", "arguments": {"order_id": "A-1"}}]),
        ScriptedReply("A gradient and a beep."),
    ]
    with OpenAIServer(replies) as server:
        llm = ChatOpenAI(
            base_url=server.base_url,
            api_key="test",
            model="gpt-4o-mini",
            temperature=0.3,
            max_tokens=80,
            max_retries=0,
        )
        prompt = ChatPromptTemplate.from_messages(
            [("system", "You are a {role}."), ("human", "Tell me about {city}.")]
        )
        (prompt | llm).invoke({"role": "travel guide", "city": "Paris"}, config=config)
        llm.bind_tools([lookup_order], tool_choice="auto").invoke("Where is A-1?", config=config)
        message = HumanMessage(
            content=[
                {"type": "text", "text": "What do you see and hear?"},
                {"type": "image_url", "image_url": {"url": data_url("image/png", IMAGE)}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {"type": "input_audio", "input_audio": {"data": b64(AUDIO), "format": "wav"}},
            ]
        )
        llm.invoke([message], config=config)
    experiment_id = handler.experiment.id
    handler.flush_tracker(finish=True)
    return Archive(directory / f"{experiment_id}.zip")


def run_named(archive: Archive, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    (run,) = [run for run in archive.runs() if run["run_type"] == "chat_model" and predicate(run)]
    return run


def image_run(archive: Archive) -> dict[str, Any]:
    return run_named(
        archive, lambda run: isinstance(run["inputs"]["messages"][0][0]["content"], list)
    )


def open_run(report: OpenedReport, run_id: str) -> Any:
    """Select a run in the Traces tab, as a click on it (or a #run= link) does."""
    assert report.page.evaluate("id => openRun(id)", run_id) is True
    assert report.page.locator(".wf-row.selected").get_attribute("data-run-id") == run_id
    return report.page.locator("#run-details")


def test_show_names_what_each_call_saw(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["show", str(archive.path)]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines at 120 columns
    assert re.search(r"params: .*temperature=0\.3 · max_completion_tokens=80", out)
    assert "prompt: ChatPromptTemplate version v2 · variables: role, city" in out
    assert "cost reported by the provider" in out
    assert "tools: lookup_order · tool_choice: auto" in out
    assert "cost from genai-prices" in out
    references = image_run(archive)["inputs"]["messages"][0][0]["content"]
    image, remote, audio = references[1:]
    assert f"image {image['name']} (image/png, {len(IMAGE) / 1024:.1f} kB)" in out
    assert f"image {remote['url']} (image/jpeg)" in out
    assert f"audio {audio['name']} (audio/wav, {len(AUDIO) / 1024:.1f} kB)" in out


def test_the_report_shows_an_image_message(
    archive: Archive, tmp_path: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    output = tmp_path / "report.html"
    assert cli.main(["report", str(archive.path), "-o", str(output)]) == 0
    html = output.read_text()
    assert "img-src data:; media-src data:;" in html  # the policy allows inlined media only
    run = image_run(archive)
    report = open_report(output)
    details = open_run(report, run["run_id"])

    # The PNG from the archive, inlined, decoded by the browser at its real size.
    reference = run["inputs"]["messages"][0][0]["content"][1]
    thumbnail = details.locator(f"figure.media.image[data-media='{reference['name']}'] img")
    thumbnail.wait_for()
    src = thumbnail.get_attribute("src") or ""
    assert base64.b64decode(src.removeprefix("data:image/png;base64,")) == IMAGE
    size = thumbnail.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
    assert size == [True, 96, 64]
    # The remote image is named, never fetched; the audio plays from the archive's bytes.
    assert "remote image, not fetched: https://example.com/cat.jpg" in details.inner_text()
    player = details.locator("figure.media.audio audio")
    duration = player.evaluate(
        """audio => new Promise((done) => {
            if (audio.readyState >= 1) done(audio.duration);
            audio.addEventListener("loadedmetadata", () => done(audio.duration));
            audio.addEventListener("error", () => done(-1));
        })"""
    )
    assert duration == pytest.approx(0.5, abs=0.01)
    assert "What do you see and hear?" in details.inner_text()
    assert re.search(r"cost source\s+genai-prices", details.inner_text())
    details.locator("figure.media.image").first.scroll_into_view_if_needed()
    report.screenshot("report-image-message")
    assert report.errors == [] and report.outside_requests() == []


def test_the_report_shows_parameters_tools_and_template(
    archive: Archive, tmp_path: Path, open_report: Callable[[Path], OpenedReport]
) -> None:
    output = tmp_path / "report.html"
    assert cli.main(["report", str(archive.path), "-o", str(output)]) == 0
    report = open_report(output)
    templated = run_named(archive, lambda run: "prompt_template" in run)
    details = open_run(report, templated["run_id"])
    text = details.inner_text()
    assert re.search(r"temperature\s+0\.3", text)
    assert re.search(r"max_completion_tokens\s+80", text)
    assert "ChatPromptTemplate · version v2" in text
    assert "You are a {role}." in text and "Tell me about {city}." in text
    assert re.search(r"role\s+travel guide", text) and re.search(r"city\s+Paris", text)
    assert re.search(r"cost source\s+reported by the provider", text)
    details.locator(".template").scroll_into_view_if_needed()
    report.screenshot("report-prompt-template")

    tooled = run_named(archive, lambda run: "tools" in run)
    details = open_run(report, tooled["run_id"])
    assert "tools offered (1)" in details.inner_text().lower()  # h3s are upper-cased
    assert "tool_choice: auto" in details.inner_text()
    details.locator("details.tool summary").click()
    assert '"order_id"' in details.locator("details.tool pre.json").inner_text()
    assert report.errors == [] and report.outside_requests() == []
