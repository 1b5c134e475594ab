"""kill -9 loses (almost) nothing: ``langchain-comet recover`` writes the archive a killed
process could not, from what the handler kept on disk in the offline directory."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive
from langchain_comet.cli import main
from langchain_comet.store import SESSIONS_DIR
from tests.cli_output import run_cli
from tests.comet_upload import comet_upload_accepts

pytestmark = pytest.mark.integration

# A service that never flushes: a chain per "request", readability metrics on, and one
# run that never ends. It writes "<i> <time the trace ended>" after each trace.
APP = textwrap.dedent(
    """
    import sys, threading, time
    from langchain_core.language_models import FakeListLLM
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnableLambda
    from langchain_comet import CometCallbackHandler

    directory, progress = sys.argv[1], sys.argv[2]
    handler = CometCallbackHandler(
        offline_directory=directory, complexity_metrics=True, name="killed", tags=["k9"]
    )
    chain = (
        PromptTemplate.from_template("Question {i}: what is new?")
        | FakeListLLM(responses=["Nothing much is new today, thanks for asking."])
        | StrOutputParser()
    )
    never = threading.Event()
    hang = RunnableLambda(lambda x: never.wait()).with_config(run_name="hanging")
    threading.Thread(
        target=hang.invoke, args=({"x": 1},),
        kwargs={"config": {"callbacks": [handler], "metadata": {"user_id": "u-9"}}},
        daemon=True,
    ).start()
    with open(progress, "w") as log:
        i = 0
        while True:
            chain.invoke({"i": i}, config={"callbacks": [handler]})
            log.write(f"{i} {time.time()}\\n")
            log.flush()
            i += 1
            time.sleep(0.002)
    """
)

# A live process holding a handler in the same directory, until its stdin closes.
LIVE = textwrap.dedent(
    """
    import sys
    from langchain_core.language_models import FakeListLLM
    from langchain_comet import CometCallbackHandler

    handler = CometCallbackHandler(offline_directory=sys.argv[1], name="alive")
    FakeListLLM(responses=["still here"]).invoke("hi", config={"callbacks": [handler]})
    print("ready", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def killed(tmp_path: Path, guarded_env: dict[str, str]) -> Iterator[tuple[Path, float, Path]]:
    """A service SIGKILLed after a few seconds of work: its directory, the kill time and its
    progress log. Its TMPDIR is the test's, to see what comet_ml leaves there."""
    directory, temp = tmp_path / "comet", tmp_path / "tmp"
    directory.mkdir()
    temp.mkdir()
    script, progress = tmp_path / "app.py", tmp_path / "progress.log"
    script.write_text(APP)
    env = dict(guarded_env, TMPDIR=str(temp))
    process = subprocess.Popen(
        [sys.executable, str(script), str(directory), str(progress)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while _traces_done(progress) < 400 and time.monotonic() < deadline:
            assert process.poll() is None, "the service died on its own"
            time.sleep(0.2)
        time.sleep(3)  # more traces, some of them ending within the last 2 s
        os.kill(process.pid, signal.SIGKILL)
        killed_at = time.time()
        assert process.wait(timeout=30) == -signal.SIGKILL
        yield directory, killed_at, progress
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _traces_done(progress: Path) -> int:
    try:
        return progress.read_text().count("\n")
    except FileNotFoundError:
        return 0


def _ended(progress: Path) -> dict[int, float]:
    ended = {}
    for line in progress.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            ended[int(parts[0])] = float(parts[1])
    return ended


def _recover(directory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli("recover", str(directory), env=env, timeout=300)


def test_recover_writes_every_trace_that_ended_2_s_before_a_kill_9(
    killed, guarded_env, tmp_path, caplog, capsys
):
    directory, killed_at, progress = killed
    temp = tmp_path / "tmp"
    (session,) = (directory / SESSIONS_DIR).iterdir()
    assert list(temp.iterdir()), "comet_ml's temporary directory of the killed process"
    assert not list(directory.glob("*.zip")) or not all(
        _whole(p) for p in directory.glob("*.zip")
    ), "killed: no whole archive was written"

    # A handler started in that directory says there is something to recover.
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        newcomer = CometCallbackHandler(offline_directory=str(directory), online=False)
    (warning,) = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name == "langchain_comet"
    ]
    assert "1 session(s) of processes that ended without writing their archive" in warning
    assert f"langchain-comet recover {directory}" in warning

    # A live process's session in the same directory is never touched.
    live = subprocess.Popen(
        [sys.executable, "-c", LIVE, str(directory)],
        env=guarded_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "ready"
        folders_before = set((directory / SESSIONS_DIR).iterdir())
        assert len(folders_before) == 3  # the killed one, the newcomer's, the live one

        done = _recover(directory, dict(guarded_env, TMPDIR=str(temp)))
        assert done.returncode == 0, done.stderr
        assert f"recovered {session.name}" in done.stdout
        assert done.stdout.count("its process is still running") == 2
        assert set((directory / SESSIONS_DIR).iterdir()) == folders_before - {session}
    finally:
        assert live.stdin is not None
        live.stdin.close()
        assert live.wait(timeout=120) == 0
    newcomer.flush_tracker(finish=True)

    # The leftovers are gone: the session folder and comet_ml's temporary directory.
    assert not session.exists()
    assert list(temp.iterdir()) == []
    assert list((directory / SESSIONS_DIR).iterdir()) == []

    archives = {Archive(p).name: p for p in directory.glob("*.zip")}
    assert set(archives) == {"killed", "alive", None}
    path = archives["killed"]
    kinds = comet_upload_accepts(path)
    assert kinds["file_upload"] and kinds["metric_msg"]
    archive = Archive(path)
    assert archive.tags == ["k9"]
    assert archive.others()["langchain_comet_recovered"]

    runs = archive.runs()
    roots = {
        r["inputs"]["i"]: r
        for r in runs
        if r["name"] == "RunnableSequence" and r["status"] == "success"
    }
    ended = _ended(progress)
    due = [i for i, at in ended.items() if at <= killed_at - 2.0]
    assert len(due) > 400
    missing = [i for i in due if i not in roots]
    assert missing == [], f"{len(missing)} traces that ended 2 s before the kill are missing"
    # Nothing appears twice, and each recovered trace is whole, with its metrics.
    assert len({r["run_id"] for r in runs}) == len(runs)
    by_trace: dict[str, list[dict]] = {}
    for record in runs:
        by_trace.setdefault(record["trace_id"], []).append(record)
    for i in due:
        trace = by_trace[roots[i]["run_id"]]
        assert sorted(r["run_type"] for r in trace) == ["chain", "llm", "parser", "prompt"]
        (llm,) = [r for r in trace if r["run_type"] == "llm"]
        assert llm["inputs"]["prompts"] == [f"Question {i}: what is new?"]
        assert llm["generation_metrics"][0]["complexity"]["flesch_reading_ease"] > 0
    # ...and its texts: each due trace's prompt is in a text sample (alone or grouped).
    texts = "\n".join(upload.text for upload in archive.texts())
    assert all(f"Question {i}: what is new?" in texts for i in due)
    assert {m.name for m in archive.metrics()} >= {
        "llm_latency_ms",
        "trace_latency_ms",
        "flesch_reading_ease_mean",
        "session_traces",
    }
    (sessions_traces,) = [m.value for m in archive.metrics("session_traces")]
    assert sessions_traces == len({r["trace_id"] for r in runs})

    # Runs still open at the kill are there, marked incomplete.
    hanging = [r for r in runs if r["name"] == "hanging"]
    assert [r["status"] for r in hanging] == ["incomplete"]
    assert hanging[0]["end_time"] is None
    # With what its start told: inputs, metadata, user; and every field a run always has.
    assert hanging[0]["inputs"] == {"x": 1} and hanging[0]["user_id"] == "u-9"
    assert hanging[0]["metadata"]["user_id"] == "u-9"
    assert list(hanging[0]) == list(roots[due[0]])  # both roots: the same fields, in order

    # show and report read it.
    capsys.readouterr()
    assert main(["show", str(path)]) == 0
    assert "hanging" in capsys.readouterr().out
    report = tmp_path / "report.html"
    assert main(["report", str(path), "-o", str(report)]) == 0
    assert report.stat().st_size > 0


def test_recover_with_nothing_to_do_says_so(tmp_path, capsys):
    assert main(["recover", str(tmp_path)]) == 0
    assert "nothing to recover" in capsys.readouterr().out
    assert main(["recover", str(tmp_path / "missing")]) == 2


def test_a_session_folder_whose_manifest_is_unreadable_is_reported_and_kept(tmp_path, capsys):
    folder = tmp_path / SESSIONS_DIR / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "lock").write_text("")
    (folder / "session.json").write_text("{not json")
    assert main(["recover", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "could not recover" in out and "session.json" in out
    assert folder.exists()


def _whole(path: Path) -> bool:
    from langchain_comet.sink import is_whole_archive

    return is_whole_archive(path)


def test_journal_lines_are_strict_json(tmp_path, make_handler):
    """What is on disk for recover is strict JSON, like the archive (hostile values too)."""
    handler = make_handler(offline_directory=str(tmp_path), complexity_metrics=True)
    from langchain_core.language_models import FakeListLLM

    FakeListLLM(responses=["x\ud800y"]).invoke("NaN? \u2028", config={"callbacks": [handler]})
    handler._session.worker.call(lambda: handler._session.sink.store.sync(force=True))
    (folder,) = (tmp_path / SESSIONS_DIR).iterdir()

    def reject(constant: str) -> None:
        raise AssertionError(constant)

    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json"):
            text = path.read_bytes().decode("utf-8")
            for line in text.split("\n"):
                line = line.strip().rstrip(",")
                if line and line not in "[]":
                    json.loads(line, parse_constant=reject)
    handler.flush_tracker(finish=True)
    assert not folder.exists()
