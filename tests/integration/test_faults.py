"""Faults (issue #6, part 2): comet_ml failing, no experiment, no server, no disk.

In every case the application sees no error, exactly one WARNING on the
``langchain_comet`` logger names the cause, what can still be kept is kept, and with
``raise_error=True`` the failure propagates instead.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import pathlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comet_ml
import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from langchain_comet import CometCallbackHandler, store
from langchain_comet.archive import Archive
from langchain_comet.failures import HandlerError

pytestmark = pytest.mark.integration


def chain(n: int = 3) -> Any:
    return (
        PromptTemplate.from_template("question {i}")
        | FakeListLLM(responses=[f"answer {i}" for i in range(n)])
        | StrOutputParser()
    )


def ask(handler: CometCallbackHandler, n: int = 3, start: int = 0) -> None:
    """The application: its answers must be exactly what it gets without the handler."""
    app = chain(n)
    answers = [app.invoke({"i": start + i}, config={"callbacks": [handler]}) for i in range(n)]
    assert answers == [f"answer {i}" for i in range(n)]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "langchain_comet" and r.levelno >= logging.WARNING
    ]


class Broken(RuntimeError):
    """What comet_ml raises in these tests."""


def broken(*args: Any, **kwargs: Any) -> None:
    raise Broken("comet_ml is broken")


# -- every comet_ml call the handler makes ------------------------------------------------

# method -> (what makes the handler call it, constructor options, whether runs still arrive)
CALLS: dict[str, tuple[Callable[[CometCallbackHandler], None], dict[str, Any], bool]] = {
    "log_text": (ask, {}, True),
    "log_metrics": (ask, {}, True),
    "log_table": (ask, {}, True),
    "log_asset": (ask, {}, False),
    "log_asset_data": (ask, {"visualizations": ["ent"]}, True),
    "log_other": (ask, {}, True),
    "add_tags": (ask, {"tags": ["t"]}, True),
    "set_name": (ask, {"name": "n"}, True),
    "set_pip_packages": (ask, {}, True),
    "set_os_packages": (ask, {}, True),
    "log_parameters": (
        lambda h: h.flush_tracker(FakeListLLM(responses=["x"]), project_name=None),
        {},
        True,
    ),
    "log_model": (
        lambda h: h.flush_tracker(FakeListLLM(responses=["x"]), project_name=None),
        {},
        True,
    ),
    "end": (ask, {}, False),
}


@pytest.fixture(params=sorted(CALLS))
def failing_call(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    method: str = request.param
    monkeypatch.setattr(comet_ml.OfflineExperiment, method, broken)
    return method


def end_for_good(handler: CometCallbackHandler, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the test: comet_ml works again; an experiment whose end failed is ended."""
    monkeypatch.undo()
    handler.raise_error = False
    handler.flush_tracker(finish=True)
    if handler.experiment.alive:
        handler.experiment.end()


def test_a_failing_comet_ml_call_warns_once_and_loses_only_its_own_data(
    failing_call, make_handler, offline_dir, caplog, monkeypatch
):
    workload, options, runs_arrive = CALLS[failing_call]
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = make_handler(raise_error=False, **options)
        workload(handler)
        ask(handler)  # the handler keeps working after the failure
        experiment_id = handler.experiment.id
        handler.flush_tracker(finish=True)
    end_for_good(handler, monkeypatch)

    (warning,) = warnings_of(caplog)
    assert f"comet_ml Experiment.{failing_call} failed" in warning
    assert "Broken: comet_ml is broken" in warning
    if runs_arrive:
        runs = Archive(offline_dir / f"{experiment_id}.zip").runs()
        assert len([r for r in runs if r["parent_run_id"] is None]) >= 3


def test_with_raise_error_a_failing_comet_ml_call_propagates(
    failing_call, make_handler, monkeypatch
):
    workload, options, _ = CALLS[failing_call]
    handler = make_handler(raise_error=True, **options)
    try:
        with pytest.raises(HandlerError, match="comet_ml is broken"):
            workload(handler)
            handler.flush_tracker(finish=True)
    finally:
        end_for_good(handler, monkeypatch)


# -- no experiment ------------------------------------------------------------------------


def test_when_comet_ml_cannot_create_any_experiment_the_app_still_runs(monkeypatch, caplog):
    monkeypatch.setattr(comet_ml, "OfflineExperiment", broken)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(online=False)
        ask(handler)
        handler.flush_tracker(FakeListLLM(responses=["x"]), finish=True)
    (warning,) = warnings_of(caplog)
    assert "could not create the Comet experiment" in warning
    assert "Broken: comet_ml is broken" in warning
    assert "nothing will be logged" in warning

    with pytest.raises(Broken):
        CometCallbackHandler(online=False, raise_error=True)


def test_an_offline_directory_that_cannot_be_written_falls_back_to_a_temporary_one(
    tmp_path, caplog
):
    # Root ignores permissions, so make the path impossible instead: a file is in the way.
    (tmp_path / "a-file").write_text("not a directory")
    unwritable = tmp_path / "a-file" / "archives"
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(online=False, offline_directory=str(unwritable))
        ask(handler)
        archive_dir = Path(handler.experiment.offline_directory)
        experiment_id = handler.experiment.id
        handler.flush_tracker(finish=True)
    try:
        (warning,) = warnings_of(caplog)
        assert str(unwritable) in warning and "Not a directory" in warning
        assert f"comet upload {archive_dir / experiment_id}.zip" in warning
        runs = Archive(archive_dir / f"{experiment_id}.zip").runs()
        assert len([r for r in runs if r["parent_run_id"] is None]) == 3
    finally:
        shutil.rmtree(archive_dir, ignore_errors=True)

    with pytest.raises(comet_ml.exceptions.InvalidOfflineDirectory):
        CometCallbackHandler(online=False, offline_directory=str(unwritable), raise_error=True)


def test_an_offline_directory_gone_by_the_end_is_reported_with_where_the_archive_went(
    tmp_path, caplog
):
    directory = tmp_path / "archives"
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(online=False, offline_directory=str(directory))
        ask(handler)
        experiment_id = handler.experiment.id
        # Removed while the worker is between two events (as a fork does, lifecycle.py):
        # removing a folder that a process is writing in is a race rmtree can lose.
        worker = handler._session.worker
        assert worker.pause(30.0)
        try:
            shutil.rmtree(directory)
            directory.write_text("a file where the directory was")
        finally:
            worker.resume()
        handler.flush_tracker(finish=True)  # comet_ml falls back to a temporary directory
    moved, warning = warnings_of(caplog)  # our session folder was in it too
    assert "the session folder" in moved and "was removed" in moved
    archive_file = Path(handler.experiment.offline_directory, f"{experiment_id}.zip")
    try:
        assert f"{directory / experiment_id}.zip could not be written" in warning
        assert f"comet upload {archive_file}" in warning
        assert len([r for r in Archive(archive_file).runs() if r["parent_run_id"] is None]) == 3
    finally:
        shutil.rmtree(archive_file.parent, ignore_errors=True)


# -- no server ----------------------------------------------------------------------------


@pytest.fixture
def unreachable_server(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Comet API key and server URL, with nothing listening at that address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/clientlib/"
    monkeypatch.setenv("COMET_API_KEY", "k" * 25)
    monkeypatch.setenv("COMET_URL_OVERRIDE", url)
    return url


@pytest.mark.parametrize("online", [True, None], ids=["online=True", "api-key"])
def test_an_unreachable_server_falls_back_to_an_offline_archive_that_keeps_everything(
    online, unreachable_server, offline_dir, caplog
):
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(online=online, offline_directory=str(offline_dir))
        ask(handler)
        experiment_id = handler.experiment.id
        handler.flush_tracker(finish=True)

    (warning,) = warnings_of(caplog)
    assert f"the Comet server at {unreachable_server}isAlive/ver cannot be reached" in warning
    archive_file = offline_dir / f"{experiment_id}.zip"
    assert f"comet upload {archive_file}" in warning
    archive = Archive(archive_file)
    assert len([r for r in archive.runs() if r["parent_run_id"] is None]) == 3
    assert sorted(archive.session_table()["text"]) == ["answer 0", "answer 1", "answer 2"]


def test_with_raise_error_an_unreachable_server_propagates_at_the_next_callback(
    unreachable_server, offline_dir
):
    # Construction never waits for the server: the failure comes with the next callback.
    handler = CometCallbackHandler(
        online=True, offline_directory=str(offline_dir), raise_error=True
    )
    experiment_id = handler.experiment.id  # waits for the outcome: the offline fallback
    with pytest.raises(HandlerError, match="cannot be reached") as raised:
        ask(handler, 1)
    assert isinstance(raised.value.__cause__, ConnectionError)
    handler.flush_tracker(finish=True)
    assert (offline_dir / f"{experiment_id}.zip").exists()


# -- no disk ------------------------------------------------------------------------------


class Disk:
    """The disk under the handler's spool directory: ``free`` bytes left, then ENOSPC.

    Injected where the spool opens its files; like a real disk that fills up, a write
    first comes back short, then fails.
    """

    def __init__(self) -> None:
        self.free: int | None = None  # None: plenty of room

    def fill(self, handler: CometCallbackHandler, free: int | None) -> None:
        """From now on, ``free`` bytes left: once the handler wrote what came before."""
        handler._session.worker.call(lambda: None)  # it records in the background
        self.free = free

    def file(self, path: pathlib.Path, mode: str) -> io.FileIO:
        disk = self

        class File(io.FileIO):
            def write(self, data: Any) -> int:
                if disk.free is None:
                    return super().write(data)
                if disk.free == 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                written = super().write(memoryview(data)[: disk.free])
                disk.free -= written
                return written

        return File(path, mode.replace("b", ""))


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    disk = Disk()
    real_open = pathlib.Path.open

    def open_(self: pathlib.Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode in ("wb", "w+b") and "/.langchain-comet/" in str(self):
            return disk.file(self, mode)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", open_)
    monkeypatch.setattr(store, "SPOOL_BUFFER", 1)  # every record its own write
    yield disk


def _reject(constant: str) -> Any:
    raise AssertionError(constant)


def test_a_full_disk_loses_what_it_refused_and_nothing_else(make_handler, finish, disk, caplog):
    handler = make_handler(raise_error=False)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        ask(handler)  # room on disk
        disk.fill(handler, free=700)  # a record or two, then full
        ask(handler, start=3)
        disk.fill(handler, free=None)  # room again
        ask(handler, start=6)
        archive = finish(handler)

    (warning,) = warnings_of(caplog)
    assert "writing records to disk" in warning and "No space left on device" in warning
    (runs,) = archive.assets("langchain-runs.jsonl")
    (actions,) = archive.assets("langchain-action_records.json")
    records = [json.loads(line, parse_constant=_reject) for line in runs.text.split("\n") if line]
    json.loads(actions.data, parse_constant=_reject)  # whole records only: still one array
    asked = {r["inputs"]["i"] for r in records if r["parent_run_id"] is None}
    assert {0, 1, 2, 6, 7, 8} <= asked < set(range(9))  # all but what the full disk refused


def test_a_flush_while_the_disk_is_full_keeps_the_records_for_the_next_one(
    make_handler, finish, disk, monkeypatch, caplog
):
    monkeypatch.setattr(store, "SPOOL_BUFFER", 1 << 20)  # written at the flush only
    handler = make_handler(raise_error=False)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        ask(handler)
        disk.fill(handler, free=0)
        handler.flush_tracker()  # nothing can be written
        disk.fill(handler, free=None)
        ask(handler, start=3)
        archive = finish(handler)
    (warning,) = warnings_of(caplog)
    assert "No space left on device" in warning
    asked = sorted(r["inputs"]["i"] for r in archive.runs() if r["parent_run_id"] is None)
    assert asked == [3, 4, 5]  # the first three were in the refused chunk


def test_with_raise_error_a_full_disk_propagates(make_handler, disk):
    handler = make_handler(raise_error=True)
    disk.fill(handler, free=0)
    ask(handler, 1)
    with pytest.raises(HandlerError, match="No space left on device"):
        handler.flush_tracker()
    disk.free = None
    handler.flush_tracker(finish=True)


def test_a_full_disk_under_comet_mls_own_files_is_reported_once(
    make_handler, finish, monkeypatch, caplog
):
    """comet_ml writes its messages on its own thread and only logs what fails there."""
    from comet_ml.streamer.handlers.offline_handler import OfflineMessageHandler

    real_write = OfflineMessageHandler._write
    full = threading.Event()
    refused = threading.Event()

    def write(self: Any, message: Any, context: Any) -> None:
        if full.is_set():
            refused.set()
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, message, context)

    monkeypatch.setattr(OfflineMessageHandler, "_write", write)
    handler = make_handler(raise_error=False)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        full.set()
        ask(handler)
        handler.flush_tracker()
        assert refused.wait(60)  # comet_ml writes on its own thread, when it gets to it
        full.clear()
        ask(handler, start=3)
        archive = finish(handler)
    (warning,) = warnings_of(caplog)
    assert "comet_ml's writer failed" in warning and "No space left on device" in warning
    asked = {r["inputs"]["i"] for r in archive.runs() if r["parent_run_id"] is None}
    assert {3, 4, 5} <= asked  # once there was room again


# -- the user's own code ------------------------------------------------------------------


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message")


def test_a_custom_metric_raising_an_unprintable_error_is_still_reported(
    make_handler, finish, caplog
):
    def metric(generation: Any, prompt_idx: int, gen_idx: int) -> dict[str, float]:
        raise UnprintableError

    handler = make_handler(raise_error=False, custom_metrics=metric)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        ask(handler)
        archive = finish(handler)
    (warning,) = warnings_of(caplog)
    assert "custom_metrics failed: UnprintableError" in warning
    assert len(archive.session_table()) == 3


def test_with_raise_error_a_raising_custom_metric_propagates(make_handler):
    def metric(generation: Any, prompt_idx: int, gen_idx: int) -> dict[str, float]:
        raise ZeroDivisionError("metric bug")

    handler = make_handler(raise_error=True, custom_metrics=metric)
    with pytest.raises(HandlerError, match="metric bug"):
        ask(handler, 1)
        handler.flush_tracker()
    handler.flush_tracker(finish=True)
