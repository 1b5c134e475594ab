"""``langchain-comet`` commands, each in a process of its own.

Not captured in the test's process: a comet_ml experiment that ends there (a handler of an
earlier test closed by its worker once garbage-collected, at any moment) puts back the
``sys.stdout`` it found when it started, which ends a ``redirect_stdout`` or capsys capture
midway.
"""

from __future__ import annotations

import subprocess
import sys

CLI_TIMEOUT_S = 120


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """``langchain-comet ARGS`` in a process of its own, its time bounded."""
    return subprocess.run(
        [sys.executable, "-m", "langchain_comet.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def show(*args: str) -> str:
    done = run_cli("show", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout
