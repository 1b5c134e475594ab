"""The sink while its experiment is being created: calls kept in order, replayed on it.

The handle is resolved by hand here, to a real offline experiment, standing in for the
connect thread (``test_sick_server`` drives the real one against local servers).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import comet_ml
import pytest

from langchain_comet import experiment as experiment_module
from langchain_comet.archive import Archive
from langchain_comet.experiment import ExperimentHandle, ExperimentSettings
from langchain_comet.failures import Failures
from langchain_comet.sink import RUN_TREE, CometSink, open_store

pytestmark = pytest.mark.integration


def offline_experiment(directory: Path) -> Any:
    return comet_ml.OfflineExperiment(
        offline_directory=str(directory), log_env_details=False, log_env_host=False
    )


def connecting() -> ExperimentHandle:
    return ExperimentHandle(deadline=time.monotonic() + 60)


def sink_for(handle: ExperimentHandle, failures: Failures, directory: Path) -> CometSink:
    settings = ExperimentSettings(offline_directory=str(directory))
    return CometSink(handle, failures, open_store(handle, settings, failures))


def log_some(sink: CometSink) -> None:
    for i in range(5):
        sink.text(f"text {i}", {"action": "on_text", "i": i}, step=i)
    sink.metrics({"latency": 1.5}, step=3)
    sink.visualization("ent", 1, "<html>a page</html>", "a prompt")
    sink.run({"run_id": "r1", "parent_run_id": None, "trace_id": "r1", "run_type": "chain"})


def read(sink: CometSink, experiment: Any, offline_dir: Path) -> Archive:
    sink.write_session("1.0")
    sink.end()
    return Archive(offline_dir / f"{experiment.id}.zip")


def test_calls_made_while_connecting_are_replayed_in_order_once_it_is_ready(offline_dir):
    handle = connecting()
    sink = sink_for(handle, Failures(raise_error=True), offline_dir)
    log_some(sink)
    experiment = offline_experiment(offline_dir)
    handle.resolve(experiment)
    sink.tick()  # the worker notices at its next tick (or call), then replays
    assert sink.experiment is experiment
    sink.text("after", {"action": "on_text"}, step=9)

    archive = read(sink, experiment, offline_dir)
    assert [t.text for t in archive.texts()] == [*(f"text {i}" for i in range(5)), "after"]
    assert [m.value for m in archive.metrics("latency")] == [1.5]
    (page,) = archive.assets("langchain-viz-ent-1.html")
    assert page.text == "<html>a page</html>" and page.metadata == {"prompt": "a prompt"}
    assert [r["run_id"] for r in archive.runs()] == ["r1"]


def test_a_flush_waits_for_the_experiment_being_created(offline_dir):
    handle = connecting()
    sink = sink_for(handle, Failures(raise_error=True), offline_dir)
    log_some(sink)
    experiment = offline_experiment(offline_dir)
    resolver = threading.Timer(0.2, handle.resolve, args=(experiment,))
    resolver.start()
    try:
        archive = read(sink, experiment, offline_dir)  # write_session settles first
    finally:
        resolver.cancel()
    assert [t.text for t in archive.texts()] == [f"text {i}" for i in range(5)]
    assert len(archive.assets(RUN_TREE)) == 1


def test_an_experiment_that_never_comes_is_given_up_with_one_warning(
    offline_dir, monkeypatch, caplog
):
    monkeypatch.setattr(experiment_module, "RESOLVE_GRACE", 0.1)
    handle = ExperimentHandle(deadline=time.monotonic() - 1)  # past its deadline already
    sink = sink_for(handle, Failures(raise_error=False), offline_dir)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        log_some(sink)
        sink.write_session("1.0")
        sink.end()
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    assert "waiting for the Comet experiment (7 comet_ml calls kept for it, and all" in warning
    assert "TimeoutError" in warning
    assert sink.experiment.id is None  # the stand-in that logs nothing
