"""Running one measurement in a fresh interpreter, so contenders cannot pollute each other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

MARKER = "BENCH-RESULT "
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def emit(result: dict[str, Any]) -> None:
    """Print the child's result where the parent looks for it, and leave at once.

    ``os._exit`` skips the exit hooks: they would flush and end the experiments, which
    is exactly the deferred work a no-flush measurement must not wait for.
    """
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


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
