"""Bounded waits: ``flush_tracker(timeout=...)`` and the final flush at exit return in time,
say what is still pending, and lose nothing that was on disk (SPEC §5, issue #13)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time

import pytest
from langchain_core.language_models.fake import FakeListLLM

from langchain_comet.archive import Archive
from langchain_comet.store import SESSIONS_DIR
from tests.cli_output import run_cli

pytestmark = pytest.mark.integration


def slow_metrics(seconds: float):
    def metrics(generation, prompt_idx, gen_idx):
        time.sleep(seconds)
        return {"length": float(len(generation.text))}

    return metrics


def test_a_flush_with_a_timeout_returns_in_time_and_the_work_carries_on(
    make_handler, finish, caplog
):
    handler = make_handler(custom_metrics=slow_metrics(1.0))
    llm = FakeListLLM(responses=["slow to measure"])
    for i in range(8):
        llm.invoke(f"question {i}", config={"callbacks": [handler]})
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        started = time.monotonic()
        handler.flush_tracker(timeout=0.5)
        waited = time.monotonic() - started
    assert waited < 5.0  # the work takes 8 s; a flush without the bound would wait for it
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    assert "flush_tracker returned after 0.5s before the flush was done" in warning
    assert "still being written in the background" in warning
    assert "langchain-comet recover" in warning

    archive = finish(handler)  # no bound: waits for the rest
    llm_runs = [r for r in archive.runs() if r["run_type"] == "llm"]
    assert len(llm_runs) == 8
    assert all(r["generation_metrics"][0]["custom"]["length"] == 15.0 for r in llm_runs)


def test_flush_tracker_refuses_a_timeout_that_is_not_a_number_of_seconds(handler):
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        handler.flush_tracker(timeout=-1)
    with pytest.raises(ValueError, match="exit_timeout must be a number of seconds"):
        type(handler)(exit_timeout="soon")


STUCK_AT_EXIT = textwrap.dedent(
    """
    import sys, time
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_comet import CometCallbackHandler

    def stuck(generation, prompt_idx, gen_idx):
        time.sleep(0.5 if generation.text == "quick" else 60)
        return {}

    handler = CometCallbackHandler(
        offline_directory=sys.argv[1], name="stuck", custom_metrics=stuck, exit_timeout=2
    )
    FakeListLLM(responses=["quick"]).invoke("first", config={"callbacks": [handler]})
    handler.flush_tracker()
    FakeListLLM(responses=["slow"]).invoke("second", config={"callbacks": [handler]})
    """
)


def test_the_final_flush_at_exit_is_bounded_and_what_was_on_disk_is_recoverable(
    tmp_path, guarded_env
):
    directory = tmp_path / "comet"
    directory.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", STUCK_AT_EXIT, str(directory)],
        env=guarded_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < 50  # the stuck metric would hold the exit for 60 s
    assert "the final flush at exit returned after 2s before the flush was done" in done.stderr
    assert f"langchain-comet recover {directory}" in done.stderr
    assert len(list((directory / SESSIONS_DIR).iterdir())) == 1

    recovered = run_cli("recover", str(directory), env=guarded_env, timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    (path,) = directory.glob("*.zip")
    runs = Archive(path).runs()
    # The first call was flushed; the second was still being measured at the exit: its
    # start is on disk, so it is there, incomplete, with its prompt, rather than lost.
    by_prompt = {r["inputs"]["prompts"][0]: r for r in runs}
    assert len(by_prompt) == len(runs) == 2
    assert by_prompt["first"]["status"] == "success"
    assert by_prompt["second"]["status"] == "incomplete"
