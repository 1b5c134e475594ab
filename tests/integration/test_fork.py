"""Fork-safe: pre-fork servers and process pools.

A child forked from a process holding a handler never ends, rewrites or deletes anything
of its parent's; a child that logs gets an experiment of its own holding all of its
traces. Shown with a real gunicorn ``--preload`` server, ``multiprocessing`` pools with
the ``fork`` start method, and children forked while the parent's worker is busy.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from langchain_comet.archive import Archive
from langchain_comet.store import SESSIONS_DIR
from tests.comet_upload import comet_upload_accepts

pytestmark = pytest.mark.integration

CHAIN = """
from langchain_core.language_models import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

chain = (
    PromptTemplate.from_template("request {i}")
    | FakeListLLM(responses=["served"])
    | StrOutputParser()
)
"""


def run_app(
    args: list[str], env: dict[str, str], timeout: float = 240.0
) -> subprocess.CompletedProcess[str]:
    """Run an application in a process group of its own; should it hang (a deadlock, a
    pool that never ends), the whole group is killed, its forked children with it."""
    app = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = app.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(app.pid, signal.SIGKILL)
        out, err = app.communicate()
        pytest.fail(f"the application did not end in {timeout:.0f} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(args, app.returncode, out, err)


def traces_by_archive(directory: Path) -> dict[Path, list[str]]:
    """Each archive in ``directory`` (all must be whole) and the ``i`` of its traces."""
    found = {}
    for path in sorted(directory.glob("*.zip")):
        archive = Archive(path)
        comet_upload_accepts(path)
        found[path] = [
            str(r["inputs"]["i"])
            for r in archive.runs()
            if r["parent_run_id"] is None and isinstance(r.get("inputs"), dict)
        ]
    return found


def assert_each_once(found: dict[Path, list[str]], expected: set[str]) -> None:
    counts = collections.Counter(i for traces in found.values() for i in traces)
    assert set(counts) == expected
    assert [i for i, n in counts.items() if n > 1] == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- gunicorn --preload ------------------------------------------------------------------

WSGI_APP = CHAIN + textwrap.dedent(
    """
    import os, urllib.parse
    from langchain_comet import CometCallbackHandler

    # Created in the master, before the workers are forked (--preload).
    handler = CometCallbackHandler(offline_directory=os.environ["APP_ARCHIVES"], name="web")

    def application(environ, start_response):
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        answer = chain.invoke({"i": query["i"][0]}, config={"callbacks": [handler]})
        body = f"{answer} by {os.getpid()}".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    """
)


def test_gunicorn_preload_workers_each_write_their_own_archive_and_lose_nothing(
    tmp_path, guarded_env
):
    directory = tmp_path / "comet"
    directory.mkdir()
    (tmp_path / "webapp.py").write_text(WSGI_APP)
    port = free_port()
    env = dict(guarded_env, APP_ARCHIVES=str(directory))
    master = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "--workers",
            "3",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(tmp_path),
            "--graceful-timeout",
            "60",
            "webapp:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    requests = 90
    try:
        workers = set()
        deadline = time.monotonic() + 60
        for i in range(requests):
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/?i=req-{i}", timeout=30
                    ) as response:
                        workers.add(response.read().decode().rsplit(" ", 1)[-1])
                    break
                except OSError:
                    assert master.poll() is None, "gunicorn died"
                    assert time.monotonic() < deadline, "gunicorn never answered"
                    time.sleep(0.2)
        master.send_signal(signal.SIGTERM)
        _, stderr = master.communicate(timeout=120)
        assert master.returncode == 0, stderr
    finally:
        if master.poll() is None:
            master.kill()
            master.wait(timeout=30)

    assert len(workers) >= 2  # the requests were spread over several forked workers
    found = traces_by_archive(directory)
    assert_each_once(found, {f"req-{i}" for i in range(requests)})
    names = {Archive(path).name for path in found}
    # The master's archive is whole (it logged nothing), and each worker that served
    # requests has its own, named after the service and its process.
    assert "web" in names
    assert {f"web (pid {pid})" for pid in workers} <= names
    for path in found:
        others = Archive(path).others()
        if Archive(path).name != "web":
            assert others["langchain_comet_parent_pid"] == str(master.pid)
    assert list((directory / SESSIONS_DIR).iterdir()) == []


# -- multiprocessing ---------------------------------------------------------------------

POOL_APP = CHAIN + textwrap.dedent(
    """
    import multiprocessing, os, sys
    from langchain_comet import CometCallbackHandler

    handler = CometCallbackHandler(offline_directory=sys.argv[1], name="pool")
    for i in range(5):
        chain.invoke({"i": f"parent-{i}"}, config={"callbacks": [handler]})

    def work(i):
        chain.invoke({"i": f"child-{i}"}, config={"callbacks": [handler]})
        return os.getpid()

    if __name__ == "__main__":
        context = multiprocessing.get_context("fork")
        if sys.argv[2] == "terminate":  # the with-statement terminates the workers
            with context.Pool(3) as pool:
                pids = set(pool.map(work, range(200), chunksize=5))
        else:
            pool = context.Pool(3)
            pids = set(pool.map(work, range(200), chunksize=5))
            pool.close()
            pool.join()
        print(len(pids))
    """
)


@pytest.mark.parametrize("ending", ["close-join", "terminate"])
def test_a_fork_pool_keeps_every_childs_traces_in_the_childs_own_archive(
    ending, tmp_path, guarded_env
):
    directory = tmp_path / "comet"
    directory.mkdir()
    script = tmp_path / "pool_app.py"
    script.write_text(POOL_APP)
    done = run_app([sys.executable, str(script), str(directory), ending], guarded_env)
    assert done.returncode == 0, done.stderr
    assert "FileExistsError" not in done.stderr and "langchain-comet:" not in done.stderr
    found = traces_by_archive(directory)
    expected = {f"parent-{i}" for i in range(5)} | {f"child-{i}" for i in range(200)}
    assert_each_once(found, expected)
    by_name = {Archive(path).name: traces for path, traces in found.items()}
    assert sorted(by_name.pop("pool")) == sorted(f"parent-{i}" for i in range(5))
    assert len(by_name) == int(done.stdout.strip())  # one archive per worker
    assert all(name.startswith("pool (pid ") for name in by_name)
    assert list((directory / SESSIONS_DIR).iterdir()) == []


# -- os.fork while the worker is busy ----------------------------------------------------

BUSY_APP = CHAIN + textwrap.dedent(
    """
    import os, sys, threading, time
    from langchain_comet import CometCallbackHandler

    def slow_metrics(generation, prompt_idx, gen_idx):
        time.sleep(0.003)  # keeps the worker busy while the parent forks
        return {"length": float(len(generation.text))}

    handler = CometCallbackHandler(
        offline_directory=sys.argv[1], name="busy", custom_metrics=slow_metrics
    )
    stop = threading.Event()

    def produce():
        n = 0
        while not stop.is_set():
            chain.invoke({"i": f"parent-{n}"}, config={"callbacks": [handler]})
            n += 1
        print(n, flush=True)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.5)
    children = []
    for c in range(4):
        time.sleep(0.2)
        pid = os.fork()
        if pid == 0:  # the child: log its own traces, then leave as a process does
            for i in range(25):
                chain.invoke({"i": f"child{c}-{i}"}, config={"callbacks": [handler]})
            sys.exit(0)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
    stop.set()
    producer.join()
    """
)


def test_children_forked_while_the_worker_is_busy_neither_deadlock_nor_touch_the_parent(
    tmp_path, guarded_env
):
    directory = tmp_path / "comet"
    directory.mkdir()
    script = tmp_path / "busy_app.py"
    script.write_text(BUSY_APP)
    done = run_app([sys.executable, str(script), str(directory)], guarded_env)
    assert done.returncode == 0, done.stderr
    produced = int(done.stdout.split()[-1])
    found = traces_by_archive(directory)
    expected = {f"parent-{n}" for n in range(produced)} | {
        f"child{c}-{i}" for c in range(4) for i in range(25)
    }
    assert_each_once(found, expected)
    assert len(found) == 5
    (parent,) = [path for path in found if Archive(path).name == "busy"]
    assert all(i.startswith("parent-") for i in found[parent])
    assert list((directory / SESSIONS_DIR).iterdir()) == []


def test_a_child_that_never_logs_leaves_its_parents_archive_alone(tmp_path, run_python):
    directory = tmp_path / "comet"
    directory.mkdir()
    script = CHAIN + textwrap.dedent(
        f"""
        import os
        from langchain_comet import CometCallbackHandler

        handler = CometCallbackHandler(offline_directory={str(directory)!r}, name="parent")
        for i in range(20):
            chain.invoke({{"i": i}}, config={{"callbacks": [handler]}})
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                raise SystemExit(0)  # a child that exits normally, logging nothing
            os.waitpid(pid, 0)
        """
    )
    done = run_python(script)
    assert done.returncode == 0, done.stderr
    found = traces_by_archive(directory)
    assert [Archive(p).name for p in found] == ["parent"]
    assert sorted(next(iter(found.values()))) == sorted(str(i) for i in range(20))
    assert os.listdir(directory / SESSIONS_DIR) == []
