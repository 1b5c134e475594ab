"""``langchain-comet show`` output, from a process of its own.

Not captured in the test's process: a comet_ml experiment that ends there (a handler of an
earlier test closed by its worker once garbage-collected, at any moment) puts back the
``sys.stdout`` it found when it started, which ends a ``redirect_stdout`` or capsys capture
midway.
"""

from __future__ import annotations

import subprocess
import sys

SHOW_TIMEOUT_S = 120


def show(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "langchain_comet.cli", "show", *args],
        capture_output=True,
        text=True,
        timeout=SHOW_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
