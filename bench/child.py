"""Running measurements in fresh interpreters, so contenders cannot pollute each other.

Two shapes: ``run_child`` runs ``python -m module args`` once and reads its one result;
``Child`` keeps an interpreter alive and asks it one JSON request per line, so the
latency section can interleave contenders' blocks while each contender keeps a process
of its own (its SDK's globals, threads and patches never touch another contender).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

MARKER = "BENCH-RESULT "
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 60


def _with_network(result: dict[str, Any]) -> dict[str, Any]:
    from bench import guard

    tried = guard.attempts()
    return {**result, "network": tried} if tried else result


def emit(result: dict[str, Any]) -> None:
    """Print the child's result where the parent looks for it, and leave at once.

    ``os._exit`` skips the exit hooks: they would flush and end the experiments, which
    is exactly the deferred work a no-flush measurement must not wait for.
    """
    sys.stdout.write(MARKER + json.dumps(_with_network(result)) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The child's side of ``Child``: answer each request line on stdin, then leave."""
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except Exception as exc:
            answer = {"error": describe(exc)}
        sys.stdout.write(MARKER + json.dumps(_with_network(answer)) + "\n")
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def network_error(result: dict[str, Any]) -> str | None:
    """Why a result cannot count: the child tried to reach beyond 127.0.0.1."""
    tried = result.get("network")
    return f"tried to reach beyond 127.0.0.1 (refused): {', '.join(tried)}" if tried else None


def _last_line(stream: IO[str]) -> str:
    stream.flush()
    stream.seek(0)
    lines = [line.strip() for line in stream.read().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def run_child(module: str, args: list[str], timeout: float) -> dict[str, Any]:
    """``python -m module args`` in its own TMPDIR; its result, or ``{"error": reason}``."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        env = dict(os.environ, TMPDIR=tmp)
        command = [sys.executable, "-m", module, *args]
        try:
            done = subprocess.run(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line.removeprefix(MARKER))
            return result
    tail = [line for line in done.stderr.splitlines() if line.strip()][-1:]
    return {"error": f"exit code {done.returncode}: {tail[0] if tail else 'no output'}"}


class Child:
    """A long-lived ``python -m module args`` in its own TMPDIR, asked one request at a time.

    Its stderr goes to a file (a full pipe would block it); a request that is not
    answered in time kills it by PID and answers ``{"error": ...}``.
    """

    def __init__(self, module: str, args: list[str], label: str) -> None:
        self._tmp = tempfile.mkdtemp(prefix=f"bench-{label}-")
        self._stderr = open(Path(self._tmp) / "stderr.log", "w+", encoding="utf-8")  # noqa: SIM115
        self._process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=PROJECT_ROOT,
            env=dict(os.environ, TMPDIR=self._tmp),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"bench-{label}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith(MARKER):
                self._answers.put(json.loads(line.removeprefix(MARKER)))
        self._answers.put(None)

    def _gone(self) -> dict[str, Any]:
        code = self._process.wait(timeout=STOP_TIMEOUT_S)
        return {"error": f"exit code {code}: {_last_line(self._stderr)}"}

    def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._process.poll() is not None:
            return self._gone()
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except OSError:
            return self._gone()
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            return {"error": f"timed out after {timeout:.0f} s"}
        return answer if answer is not None else self._gone()

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._process.pid, 9)
        self._process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Close its stdin (it leaves), kill it if it lingers, remove its TMPDIR."""
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._kill()
        self._reader.join(timeout=STOP_TIMEOUT_S)
        self._stderr.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
