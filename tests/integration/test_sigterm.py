"""SIGTERM (issue #6, part 2): a process told to stop still writes its archive.

A container or service manager stops a process with SIGTERM, whose default action ends
it on the spot: no exit hook, no archive. The handler writes every session first, then
lets the signal end the process as it would have.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from langchain_comet.archive import Archive, ArchiveError
from langchain_comet.cli import main
from tests.integration.test_fork import run_app

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

APP = """
import signal, sys, time
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_comet import CometCallbackHandler

{before}
handler = CometCallbackHandler(online=False, offline_directory={directory!r})
{after}
chain = PromptTemplate.from_template("q {{i}}") | FakeListLLM(responses=["a"]) | StrOutputParser()
i = 0
while True:  # a service at work when it is told to stop
    chain.invoke({{"i": i}}, config={{"callbacks": [handler]}})
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def run_until_sigterm(
    directory: Path, env: dict[str, str], before: str = "", after: str = "", wait: float = 0.0
) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(APP).format(directory=str(directory), before=before, after=after)
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as app:
        assert app.stdout is not None
        assert app.stdout.readline() == "ready\n", app.stderr.read() if app.stderr else ""
        time.sleep(wait)
        app.send_signal(signal.SIGTERM)
        out, err = app.communicate(timeout=120)
    return subprocess.CompletedProcess(app.args, app.returncode, out, err)


def traces(directory: Path) -> list[dict]:
    runs = Archive(directory).runs()
    return [run for run in runs if run["parent_run_id"] is None]


def test_sigterm_writes_the_archive_then_ends_the_process_as_sigterm_does(tmp_path, guarded_env):
    result = run_until_sigterm(tmp_path, guarded_env)
    assert result.returncode == -signal.SIGTERM, result.stderr
    roots = traces(tmp_path)
    assert len(roots) >= 20  # every call made before the signal
    # The call the signal interrupted, if any, is written as incomplete.
    assert {run["status"] for run in roots} <= {"success", "incomplete"}


def test_the_applications_own_sigterm_handler_is_left_alone_and_exit_still_writes(
    tmp_path, guarded_env
):
    own = "signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(3))"
    result = run_until_sigterm(tmp_path, guarded_env, before=own)
    assert result.returncode == 3, result.stderr  # the application's handler decided
    assert len(traces(tmp_path)) >= 20  # written by the exit hook


def test_a_handler_the_application_sets_later_wins(tmp_path, guarded_env):
    own = "signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(4))"
    result = run_until_sigterm(tmp_path, guarded_env, after=own)
    assert result.returncode == 4, result.stderr
    assert len(traces(tmp_path)) >= 20


def test_an_application_that_wants_no_handler_restores_the_default(tmp_path, guarded_env):
    result = run_until_sigterm(
        tmp_path, guarded_env, after="signal.signal(signal.SIGTERM, signal.SIG_DFL)", wait=2.0
    )
    assert result.returncode == -signal.SIGTERM
    with pytest.raises(ArchiveError):  # its choice: comet_ml's empty placeholder zip only
        Archive(tmp_path)
    # ...and what the handler recorded up to a second before is on disk for recover.
    assert main(["recover", str(tmp_path)]) == 0
    assert len(traces(tmp_path)) >= 20


BLOCKED_APP = """
import multiprocessing, signal, sys, threading
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.prompts import PromptTemplate
from langchain_comet import CometCallbackHandler

handler = CometCallbackHandler(online=False, offline_directory=sys.argv[1])
chain = PromptTemplate.from_template("q {i}") | FakeListLLM(responses=["a"])

def signalled_here():
    # A process's signal goes to whichever of its threads the kernel picks: this one,
    # while the main thread sleeps in C, where Python cannot run its handler.
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

def pool_worker():
    for i in range(20):
        chain.invoke({"i": i}, config={"callbacks": [handler]})
    held = threading.Lock()
    held.acquire()
    threading.Timer(0.5, signalled_here).start()
    held.acquire()  # forever: as a pool worker waits for the lock Pool.terminate() keeps

if __name__ == "__main__":
    worker = multiprocessing.get_context("fork").Process(target=pool_worker)
    worker.start()
    worker.join(90)
    print(worker.exitcode, flush=True)
    if worker.exitcode is None:
        worker.kill()
"""


def test_sigterm_reaches_a_pool_worker_blocked_in_c(tmp_path, guarded_env):
    """A signal handled in C on another thread never wakes the main thread: without the
    wakeup watch (wakeup.py) this worker would wait forever, where without a handler it
    would have died (it hung ``Pool.terminate()`` about once in sixty runs)."""
    script = tmp_path / "app.py"
    script.write_text(BLOCKED_APP)
    directory = tmp_path / "comet"
    done = run_app([sys.executable, str(script), str(directory)], guarded_env, timeout=150)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(-signal.SIGTERM)], done.stderr  # died of the signal
    roots = [run for path in directory.glob("*.zip") for run in traces(path)]
    assert sorted(run["inputs"]["i"] for run in roots) == list(range(20))


WAITING_APP = """
import os, signal, sys, threading, time
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.prompts import PromptTemplate
from langchain_comet import CometCallbackHandler

def slow_metric(generation, prompt_idx, gen_idx):
    time.sleep(1.5)  # the worker is busy: flush_tracker() waits for it
    return {"slow": 1.0}

handler = CometCallbackHandler(
    online=False, offline_directory=sys.argv[1], custom_metrics=slow_metric
)
chain = PromptTemplate.from_template("q {i}") | FakeListLLM(responses=["a"])
for i in range(3):
    chain.invoke({"i": i}, config={"callbacks": [handler]})
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
handler.flush_tracker()  # the signal lands while this waits for the worker
print("flushed", flush=True)
"""


def test_sigterm_during_a_flush_lets_it_finish_then_ends_the_process(tmp_path, guarded_env):
    """Interrupted while it waits for the worker, the main thread may hold what the final
    flush needs: it goes on; the application ending first must neither exit 0 nor cut
    the final flush short."""
    script = tmp_path / "app.py"
    script.write_text(WAITING_APP)
    directory = tmp_path / "comet"
    done = run_app([sys.executable, str(script), str(directory)], guarded_env, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout.split() == ["flushed"]  # the flush went on after the signal
    roots = traces(directory)
    assert sorted(run["inputs"]["i"] for run in roots) == [0, 1, 2]
    assert all(run["status"] == "success" for run in roots)
