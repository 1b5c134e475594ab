"""``langchain-comet demo`` end to end: asserts on the real archive comet_ml wrote.

The demo runs once per module (it takes a few seconds) with the network refused beyond
127.0.0.1; each test then checks one promise against the archive read back with
``Archive``. The console script is exercised separately, as a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from langchain_comet import cli, demo
from langchain_comet.archive import Archive
from tests import network_guard

pytestmark = pytest.mark.integration

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# Variables run_demo sets with os.environ.setdefault; restored after each test.
DEMO_ENV = ("COMET_DISPLAY_SUMMARY_LEVEL",)


@dataclass
class DemoRun:
    exit_code: int
    stdout: str
    stderr: str
    directory: Path
    archive: Archive
    network_attempts: list[str]

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.archive.runs()

    def of_type(self, run_type: str) -> list[dict[str, Any]]:
        return [run for run in self.runs if run["run_type"] == run_type]

    def named(self, name: str) -> dict[str, Any]:
        (run,) = [run for run in self.runs if run["name"] == name]
        return run


def _restore_demo_env(mp: pytest.MonkeyPatch) -> None:
    """Undo run_demo's setdefaults when ``mp`` is undone, so no other test sees them."""
    for key in DEMO_ENV:
        if key in os.environ:
            mp.setenv(key, os.environ[key])
        else:
            mp.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    _restore_demo_env(monkeypatch)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    directory = tmp_path_factory.mktemp("demo")
    before = len(network_guard.ATTEMPTS)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        _restore_demo_env(mp)
        mp.chdir(directory)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(["demo", "--offline-directory", str(directory)])
    attempts = network_guard.ATTEMPTS[before:]
    yield DemoRun(
        code, stdout.getvalue(), stderr.getvalue(), directory, Archive(directory), attempts
    )


def test_demo_exits_zero_and_says_where_the_archive_is(demo_run: DemoRun) -> None:
    assert demo_run.exit_code == 0, demo_run.stderr
    assert demo_run.archive.path.parent == demo_run.directory
    assert list(demo_run.directory.glob("*.zip")) == [demo_run.archive.path]
    assert str(demo_run.archive.path) in demo_run.stdout
    assert f"comet upload {demo_run.archive.path}" in demo_run.stdout
    # langchain_comet's own INFO line is shown; nothing failed inside the handler.
    assert "logging offline (online=False was passed) to" in demo_run.stderr
    assert "Traceback" not in demo_run.stderr
    assert "failed:" not in demo_run.stderr


def test_demo_stays_on_this_machine(demo_run: DemoRun) -> None:
    assert demo_run.network_attempts == []


def test_experiment_is_named_tagged_and_in_the_project(demo_run: DemoRun) -> None:
    assert demo_run.archive.name == "langchain-comet demo"
    assert "demo" in demo_run.archive.tags
    assert demo_run.archive.project_name == "langchain-comet-demo"


def test_archive_holds_several_traces_of_every_kind(demo_run: DemoRun) -> None:
    roots = [run for run in demo_run.runs if run["parent_run_id"] is None]
    assert len(roots) >= 5
    assert {run["run_type"] for run in demo_run.runs} >= {
        "chain",
        "llm",
        "chat_model",
        "tool",
        "retriever",
    }
    assert all(run["trace_id"] == run["run_id"] for run in roots)
    assert all(run["status"] != "incomplete" for run in demo_run.runs)
    assert re.search(rf"\btraces\s+{len(roots)}\b", demo_run.stdout)
    assert f"Run tree: {len(roots)} traces" in demo_run.stdout


def test_batch_gives_one_trace_per_question(demo_run: DemoRun) -> None:
    qa = [run for run in demo_run.runs if run["name"] == "qa"]
    assert len(qa) == 3
    assert all(run["parent_run_id"] is None for run in qa)
    assert len(demo_run.of_type("llm")) == 3


def test_only_the_failing_tool_is_an_error(demo_run: DemoRun) -> None:
    errors = [run for run in demo_run.runs if run["status"] == "error"]
    assert len(errors) == 1
    (failed,) = errors
    assert (failed["run_type"], failed["name"]) == ("tool", "divide")
    assert failed["error"]["type"] == "ZeroDivisionError"
    assert failed["error"]["message"] == "float division by zero"
    assert "ZeroDivisionError" in failed["error"]["traceback"]
    assert re.search(r"divide\s+tool\s+ZeroDivisionError: float division by zero", demo_run.stdout)


def test_agent_is_one_trace_of_model_tool_model(demo_run: DemoRun) -> None:
    agent = demo_run.named("weather_agent")
    children = sorted(
        (run for run in demo_run.runs if run["parent_run_id"] == agent["run_id"]),
        key=lambda run: run["start_time"],
    )
    assert [run["run_type"] for run in children] == ["chat_model", "tool", "chat_model"]
    assert children[1]["name"] == "get_weather"
    assert children[1]["outputs"]["output"]["content"].startswith("It is 21 degrees")
    assert {run["trace_id"] for run in children} == {agent["run_id"]}
    assert agent["session_id"] == "demo-session"


def test_chat_models_report_tokens_and_model(demo_run: DemoRun) -> None:
    chat_runs = demo_run.of_type("chat_model")
    streamed = [run for run in chat_runs if run["tokens_streamed"]]
    assert len(chat_runs) == 4
    # The streamed run too: its usage arrives in the last chunk, as providers send it.
    assert len(streamed) == 1
    assert streamed[0]["token_usage"]["total_tokens"] == 14 + 17
    for run in chat_runs:
        assert run["model_name"] == "demo-chat"
        assert run["provider"] == "demo"
    total = sum(run["token_usage"]["total_tokens"] for run in chat_runs)
    assert total == 36 + 63 + 90 + 31
    completions = demo_run.of_type("llm")
    assert all(run["model_name"] == "demo-completion" for run in completions)
    total += sum(run["token_usage"]["total_tokens"] for run in completions)
    assert re.search(rf"total tokens\s+{total}\b", demo_run.stdout)
    assert re.search(r"calls reporting usage\s+7 of 7", demo_run.stdout)


def _demo_price(run: dict[str, Any]) -> float:
    """What a run costs at the demo's prices, computed here from its tokens."""
    price = demo.DEMO_PRICES[run["model_name"]]
    usage = run["token_usage"]
    return (
        usage["prompt_tokens"] * price["input"] + usage["completion_tokens"] * price["output"]
    ) / 1e6


def test_every_call_is_priced_at_the_demo_prices(demo_run: DemoRun) -> None:
    calls = demo_run.of_type("llm") + demo_run.of_type("chat_model")
    assert len(calls) == 7
    for run in calls:
        assert run["cost_usd"] == pytest.approx(_demo_price(run), rel=1e-9)
        assert run["cost_usd"] > 0
    # Each trace's cost is the sum of its calls'; the failing tool's trace has no call.
    for root in (run for run in demo_run.runs if run["parent_run_id"] is None):
        inside = [run for run in calls if run["trace_id"] == root["run_id"]]
        if inside:
            expected = sum(run["cost_usd"] for run in inside)
            assert root["trace_cost_usd"] == pytest.approx(expected, rel=1e-9)
        else:
            assert root["trace_cost_usd"] is None
    total = sum(run["cost_usd"] for run in calls)
    (session_cost,) = demo_run.archive.metrics("session_cost_usd")
    assert session_cost.value == pytest.approx(total, rel=1e-6)
    (unpriced,) = demo_run.archive.metrics("session_unpriced_llm_calls")
    assert unpriced.value == 0


def test_output_says_the_prices_are_demo_prices_and_shows_cost(demo_run: DemoRun) -> None:
    out = demo_run.stdout
    (note,) = [line for line in out.splitlines() if "demo prices" in line]
    assert "prices=" in note
    for model, price in demo.DEMO_PRICES.items():
        assert f"{model} ${price['input']:.2f} in / ${price['output']:.2f} out" in note
    calls = demo_run.of_type("llm") + demo_run.of_type("chat_model")
    shown = f"${sum(run['cost_usd'] for run in calls):.6f}".rstrip("0")  # as show prints it
    assert re.search(rf"\bcost\s+{re.escape(shown)}", out)
    assert re.search(r"priced calls\s+7 of 7", out)
    assert "price unknown" not in out
    # Per trace in the run tree: the agent's trace with its two calls' sum.
    agent = demo_run.named("weather_agent")
    trace_cost = f"${agent['trace_cost_usd']:.6f}".rstrip("0")
    assert re.search(rf"weather_agent chain\s+[\d.]+ ms\s+trace {re.escape(trace_cost)}", out)
    assert "Cost by model" in out


def test_retrieval_and_custom_event(demo_run: DemoRun) -> None:
    (retriever,) = demo_run.of_type("retriever")
    documents = retriever["outputs"]["documents"]
    assert 1 <= len(documents) <= 2
    events = [event for run in demo_run.runs for event in run["events"]]
    assert [event["name"] for event in events] == ["docs_retrieved"]
    (holder,) = [run for run in demo_run.runs if run["events"]]
    assert holder["name"] == "format_docs"
    assert holder["events"][0]["event"] == "custom_event"
    assert holder["events"][0]["data"]["count"] == len(documents)
    assert holder["trace_id"] == demo_run.named("rag")["run_id"]


def test_session_table_has_one_row_per_generation(demo_run: DemoRun) -> None:
    llm_runs = [run for run in demo_run.runs if run["run_type"] in ("llm", "chat_model")]
    generations = sum(len(batch) for run in llm_runs for batch in run["outputs"]["generations"])
    table = demo_run.archive.session_table()
    assert generations == 7
    assert len(table) == generations
    assert set(table["run_id"]) == {run["run_id"] for run in llm_runs}


def test_bad_offline_directory_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    code = cli.main(["demo", "--offline-directory", str(not_a_directory / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("langchain-comet demo:")]
    assert "Invalid offline directory" in line


def test_corrupt_archive_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "0123.zip"
    corrupt.write_bytes(b"not a zip")
    monkeypatch.setattr(demo, "run_demo", lambda **_: corrupt)
    assert cli.main(["demo", "--offline-directory", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"langchain-comet demo: {corrupt}: not a readable zip")


def test_console_script_writes_to_comet_offline_directory(
    tmp_path: Path, guarded_env: dict[str, str]
) -> None:
    """``langchain-comet demo`` without --offline-directory honours COMET_OFFLINE_DIRECTORY."""
    script = Path(sys.executable).parent / "langchain-comet"
    offline = tmp_path / "offline"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = dict(guarded_env, COMET_OFFLINE_DIRECTORY=str(offline))
    result = subprocess.run(
        [str(script), "demo"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (zip_path,) = offline.glob("*.zip")
    assert str(zip_path) in result.stdout
    assert f"comet upload {zip_path}" in result.stdout
    assert not (workdir / ".cometml-runs").exists()
    archive = Archive(zip_path)
    assert len([run for run in archive.runs() if run["status"] == "error"]) == 1
