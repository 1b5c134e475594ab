"""The recorder process (``LANGCHAIN_COMET_RECORDER=process``): the same archive as the
worker thread, LangGraph resumes across it, and nothing lost when the application or the
process is killed with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_comet import CometCallbackHandler, trace_attributes
from langchain_comet.archive import Archive
from langchain_comet.recorder import ENV, RecorderSession
from langchain_comet.sink import is_whole_archive
from tests.integration import test_agents
from tests.integration.test_fork import traces_by_archive

pytestmark = pytest.mark.integration

# Fields that differ between any two runs of the same calls.
VARYING = {"run_id", "parent_run_id", "trace_id", "start_time", "end_time", "latency_ms"}
DEADLINE_S = 60.0


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "process")


@pytest.fixture
def recorded(
    recorder: None, make_handler: Callable[..., CometCallbackHandler]
) -> CometCallbackHandler:
    handler = make_handler(raise_error=False)
    assert isinstance(handler._session, RecorderSession)
    return handler


class Ticket:
    """A class the recorder process cannot import (it is local to this module's test)."""

    def __init__(self, number: int) -> None:
        self.number = number


def _calls(handler: CometCallbackHandler) -> None:
    chain = (
        PromptTemplate.from_template("ticket {i}")
        | FakeListLLM(responses=["ok"])
        | (StrOutputParser())
    )

    def refuse(inputs: dict[str, Any]) -> str:
        raise ValueError(f"refused ticket {inputs['i']}")

    for i in range(5):
        with trace_attributes(user_id=f"user-{i}", metadata={"plan": "pro"}):
            chain.invoke({"i": i, "ticket": Ticket(i)}, {"callbacks": [handler]})
    with pytest.raises(ValueError):
        RunnableLambda(refuse).invoke({"i": 9}, {"callbacks": [handler]})


def _comparable(runs: list[dict[str, Any]]) -> list[str]:
    texts = (
        json.dumps({k: v for k, v in run.items() if k not in VARYING}, sort_keys=True)
        for run in runs
    )
    return sorted(re.sub(r" at 0x[0-9a-f]+", "", text) for text in texts)


def test_the_process_writes_the_runs_the_worker_thread_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archives = {}
    for mode in ("thread", "process"):
        if mode == "process":
            monkeypatch.setenv(ENV, "process")
        directory = tmp_path / mode
        handler = CometCallbackHandler(offline_directory=str(directory), online=False)
        assert isinstance(handler._session, RecorderSession) == (mode == "process")
        _calls(handler)
        experiment_id = handler.experiment.id
        handler.flush_tracker(finish=True)
        archives[mode] = Archive(directory / f"{experiment_id}.zip")

    thread, process = archives["thread"].runs(), archives["process"].runs()
    assert len(process) == 5 * 4 + 1
    assert _comparable(process) == _comparable(thread)
    # The application's own class went as the JSON it makes; the error with its traceback.
    root = next(r for r in process if r["name"] == "RunnableSequence" and r["inputs"]["i"] == 3)
    assert root["inputs"]["ticket"]["type"].endswith("Ticket")
    assert root["user_id"] == "user-3" and root["metadata"]["plan"] == "pro"
    failed = next(r for r in process if r["status"] == "error")
    assert failed["error"]["type"] == "ValueError"
    assert failed["error"]["message"] == "refused ticket 9"
    assert "in refuse" in failed["error"]["traceback"]
    assert len(archives["process"].action_records()) == len(archives["thread"].action_records())
    assert archives["process"].session_table().shape == archives["thread"].session_table().shape


def test_calls_on_handler_experiment_reach_the_processs_experiment(
    recorder: None,
    make_handler: Callable[..., CometCallbackHandler],
    finish: Callable[..., Archive],
) -> None:
    recorded = make_handler(raise_error=False, project_name="support-bot")
    assert isinstance(recorded._session, RecorderSession)
    experiment = recorded.experiment
    experiment.log_parameter("release", "2026.12")
    experiment.set_name("nightly")
    # Getters and attributes are answered by the experiment, after the calls before them.
    assert experiment.get_parameter("release") == "2026.12"
    assert experiment.get_name() == "nightly"
    assert experiment.project_name == "support-bot"
    assert experiment.alive is True
    assert experiment.get_callback("no-such-framework") is None  # comet_ml's own answer
    archive = finish(recorded)
    assert archive.parameters()["release"] == "2026.12"
    assert recorded.experiment.id == archive.experiment_id
    assert experiment.alive is False  # ended by flush_tracker(finish=True)


def test_after_finish_the_next_event_opens_a_new_experiment(
    recorded: CometCallbackHandler, offline_dir: Path
) -> None:
    chain = PromptTemplate.from_template("{i}") | FakeListLLM(responses=["ok"])
    chain.invoke({"i": 1}, {"callbacks": [recorded]})
    first = recorded.experiment.id
    recorded.flush_tracker(finish=True)
    assert recorded.experiment.id == first  # nothing recorded since
    chain.invoke({"i": 2}, {"callbacks": [recorded]})
    second = recorded.experiment.id
    assert second is not None and second != first
    recorded.flush_tracker(finish=True)
    for experiment_id, i in ((first, 1), (second, 2)):
        runs = Archive(offline_dir / f"{experiment_id}.zip").runs()
        assert [r["inputs"]["i"] for r in runs if r["parent_run_id"] is None] == [i]


def test_interrupts_and_resumes_across_the_process(
    recorded: CometCallbackHandler, finish: Callable[..., Archive]
) -> None:
    test_agents.test_interrupts_are_not_errors_and_resumes_continue_the_trace(recorded, finish)


def test_settings_it_cannot_carry_keep_recording_in_the_application(
    recorder: None,
    make_handler: Callable[..., CometCallbackHandler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="langchain_comet"):
        handler = make_handler(raise_error=False, redact=lambda text: text.replace("pin", "***"))
    assert not isinstance(handler._session, RecorderSession)
    assert "redact and custom_metrics run the application's own code" in caplog.text


def test_when_the_process_is_killed_recording_goes_on_in_the_application(
    recorder: None,
    make_handler: Callable[..., CometCallbackHandler],
    offline_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = PromptTemplate.from_template("{i}") | FakeListLLM(responses=["ok"])
    # A handler made earlier, done but not closed, shares the process: its failover,
    # first in line, must not leave this one's calls with nowhere to go meanwhile.
    earlier = CometCallbackHandler(offline_directory=str(tmp_path / "earlier"), online=False)
    chain.invoke({"i": -1}, {"callbacks": [earlier]})
    earlier.flush_tracker(finish=True)
    recorded = make_handler(raise_error=False)
    stand_in = recorded.experiment
    session = recorded._session
    assert isinstance(session, RecorderSession)
    for i in range(3):
        chain.invoke({"i": i}, {"callbacks": [recorded]})
    recorded.flush_tracker()
    process = session._link._process
    assert process is not None
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        os.kill(process.pid, signal.SIGKILL)
        process.wait(DEADLINE_S)
        for i in range(3, 6):
            chain.invoke({"i": i}, {"callbacks": [recorded]})
        # The stand-in taken before the kill asks the experiment in this process now.
        assert stand_in.alive is True and stand_in.get_key() == recorded.experiment.get_key()
        recorded.flush_tracker(finish=True)
        assert stand_in.alive is False and recorded.experiment is not stand_in
    assert "the recorder process ended (exit code -9)" in caplog.text
    assert "recording goes on in this process" in caplog.text
    # The calls after the kill are in the application's own experiment's archive; what
    # the process had is in its session folder, for recover (its archive, begun by
    # comet_ml when its experiment started, is empty).
    whole = [path for path in offline_dir.glob("*.zip") if is_whole_archive(path)]
    assert len(whole) == 1
    roots = [r for r in Archive(whole[0]).runs() if r["parent_run_id"] is None]
    assert sorted(r["inputs"]["i"] for r in roots) == [3, 4, 5]
    done = subprocess.run(
        [sys.executable, "-m", "langchain_comet.cli", "recover", str(offline_dir)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = traces_by_archive(offline_dir)
    assert sorted(i for traces in found.values() for i in traces) == [str(i) for i in range(6)]
    # A handler made later starts a new recorder process.
    later = CometCallbackHandler(offline_directory=str(offline_dir / "later"), online=False)
    assert isinstance(later._session, RecorderSession)
    assert later.experiment.id is not None and later._session.fallback is None
    assert later._session._link._process is not None
    assert later._session._link._process.pid != process.pid
    later.flush_tracker(finish=True)
    # The earlier handler was done: the failover made it no new experiment.
    earlier._session.close(DEADLINE_S)
    assert len([p for p in (tmp_path / "earlier").glob("*.zip") if is_whole_archive(p)]) == 1
    assert len(list((tmp_path / "earlier").glob("*.zip"))) == 1


KILLED_APP = textwrap.dedent(
    """
    import os, sys, time
    os.environ["LANGCHAIN_COMET_RECORDER"] = "process"
    from langchain_core.language_models import FakeListLLM
    from langchain_core.prompts import PromptTemplate
    from langchain_comet import CometCallbackHandler, trace_attributes

    handler = CometCallbackHandler(offline_directory=sys.argv[1], online=False)
    chain = PromptTemplate.from_template("{i}") | FakeListLLM(responses=["ok"])
    for i in range(40):
        chain.invoke({"i": i}, {"callbacks": [handler]})
    handler.flush_tracker()  # everything so far is in the process
    for i in range(40, 60):
        chain.invoke({"i": i}, {"callbacks": [handler]})
    time.sleep(1.0)  # sent: the sender batches within milliseconds
    print(handler._session._link._process.pid, flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def stopped_at_end() -> Iterator[list[int]]:
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_kill_9_of_the_application_still_leaves_a_whole_archive(
    tmp_path: Path, guarded_env: dict[str, str], stopped_at_end: list[int]
) -> None:
    directory = tmp_path / "comet"
    app = subprocess.Popen(
        [sys.executable, "-c", KILLED_APP, str(directory)],
        env={**guarded_env, "PYTHONPATH": os.pathsep.join([guarded_env["PYTHONPATH"], *sys.path])},
        stdout=subprocess.PIPE,
        text=True,
    )
    stopped_at_end.append(app.pid)
    assert app.stdout is not None
    recorder_pid = int(app.stdout.readline())
    stopped_at_end.append(recorder_pid)
    os.kill(app.pid, signal.SIGKILL)
    app.wait(DEADLINE_S)
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and _alive(recorder_pid):
        time.sleep(0.1)
    assert not _alive(recorder_pid), "the recorder process did not end after the application"
    found = traces_by_archive(directory)
    assert len(found) == 1
    assert sorted(int(i) for i in next(iter(found.values()))) == list(range(60))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of the killed application is reparented; a zombie has ended.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


FORKED = textwrap.dedent(
    """
    import os, sys
    os.environ["LANGCHAIN_COMET_RECORDER"] = "process"
    from langchain_core.language_models import FakeListLLM
    from langchain_core.prompts import PromptTemplate
    from langchain_comet import CometCallbackHandler, trace_attributes

    handler = CometCallbackHandler(offline_directory=sys.argv[1], online=False)
    chain = PromptTemplate.from_template("{i}") | FakeListLLM(responses=["ok"])
    for i in range(5):
        chain.invoke({"i": i}, {"callbacks": [handler]})
    pid = os.fork()
    if pid == 0:  # a pre-fork server's worker
        for i in range(100, 105):
            chain.invoke({"i": i}, {"callbacks": [handler]})
        handler.flush_tracker(finish=True)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    for i in range(5, 10):
        chain.invoke({"i": i}, {"callbacks": [handler]})
    handler.flush_tracker(finish=True)
    print(status)
    """
)


def test_a_forked_child_records_through_a_process_of_its_own(
    tmp_path: Path, run_python: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    directory = tmp_path / "comet"
    script = f"import sys; sys.argv[1:] = [{str(directory)!r}]\n" + FORKED
    done = run_python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]
    found = traces_by_archive(directory)
    assert sorted(sorted(int(i) for i in traces) for traces in found.values()) == [
        list(range(10)),
        list(range(100, 105)),
    ]


def test_handlers_made_one_after_another_share_one_process(
    recorder: None, make_handler: Callable[..., CometCallbackHandler], offline_dir: Path
) -> None:
    chain = PromptTemplate.from_template("{i}") | FakeListLLM(responses=["ok"])
    pids = set()
    for request in range(3):  # a handler per request
        handler = make_handler(raise_error=False, name=f"request {request}")
        session = handler._session
        assert isinstance(session, RecorderSession)
        chain.invoke({"i": request}, {"callbacks": [handler]})
        handler.flush_tracker(finish=True)
        assert session._link._process is not None
        pids.add(session._link._process.pid)
    assert len(pids) == 1
    found = traces_by_archive(offline_dir)
    assert sorted(found.values()) == [["0"], ["1"], ["2"]]


def test_a_reset_makes_handler_experiment_the_new_one(
    recorded: CometCallbackHandler, offline_dir: Path
) -> None:
    chain = PromptTemplate.from_template("{i}") | FakeListLLM(responses=["ok"])
    chain.invoke({"i": 1}, {"callbacks": [recorded]})
    first = recorded.experiment.id
    assert recorded.experiment.offline_directory == str(offline_dir)
    recorded.flush_tracker(reset=True)
    second = recorded.experiment.id
    chain.invoke({"i": 2}, {"callbacks": [recorded]})
    recorded.flush_tracker(finish=True)
    assert first != second
    found = traces_by_archive(offline_dir)
    assert found == {offline_dir / f"{first}.zip": ["1"], offline_dir / f"{second}.zip": ["2"]}


def test_a_sigterm_to_every_process_of_the_service_still_writes_everything(
    tmp_path: Path, guarded_env: dict[str, str], stopped_at_end: list[int]
) -> None:
    directory = tmp_path / "comet"
    app = subprocess.Popen(
        [sys.executable, "-c", KILLED_APP, str(directory)],
        env={**guarded_env, "PYTHONPATH": os.pathsep.join([guarded_env["PYTHONPATH"], *sys.path])},
        stdout=subprocess.PIPE,
        text=True,
    )
    stopped_at_end.append(app.pid)
    assert app.stdout is not None
    recorder_pid = int(app.stdout.readline())
    stopped_at_end.append(recorder_pid)
    for pid in (recorder_pid, app.pid):  # as systemd stops a service: all of its processes
        os.kill(pid, signal.SIGTERM)
    assert app.wait(DEADLINE_S) == -signal.SIGTERM  # the application's own end, as without us
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and _alive(recorder_pid):
        time.sleep(0.1)
    assert not _alive(recorder_pid)
    # One archive: the process finished what the application asked of it, and was not cut
    # short (which would have sent the application to its own experiment).
    found = traces_by_archive(directory)
    assert len(found) == 1
    assert sorted(int(i) for i in next(iter(found.values()))) == list(range(60))
