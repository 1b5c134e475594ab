"""A thread that sees a signal arrive even when the main thread cannot run Python.

CPython runs a Python signal handler only on the main thread, between bytecodes. A main
thread that enters a blocking C call right after a signal arrived (a process-pool worker
taking its queue's lock, which ``Pool.terminate()`` never releases) never runs it: the
signal is spent, and the process waits forever where, without a handler, it would have
died. The interpreter also writes each signal's number to its *wakeup fd* at once, from
C, whatever its threads are doing: a thread of ours reads it there and calls back.

The wakeup fd is one per process. It is taken only while nobody else holds it (an
asyncio loop with signal handlers does): theirs stays, and a loop that sets one later
takes it over; the Python handler then works as before, without this thread. Only
process-pool children take it (``lifecycle.py``): there the hang was seen, and an
application's own event loop (Trio warns of a wakeup fd it did not set) is not there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable

# The pipe of this process's watch (read end, write end), or None.
_pipe: tuple[int, int] | None = None


def watch(on_signal: Callable[[int], None]) -> bool:
    """From the main thread: call ``on_signal(signum)`` on a thread of ours for every
    signal that has a Python handler; whether the watch runs."""
    global _pipe
    if _pipe is not None:
        return True
    read, write = os.pipe()
    os.set_blocking(write, False)  # the interpreter's C handler must never block
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except (ValueError, OSError):  # not the main thread
        _close(read, write)
        return False
    if previous != -1:  # somebody else's: theirs stays
        signal.set_wakeup_fd(previous)
        _close(read, write)
        return False
    _pipe = (read, write)
    thread = threading.Thread(
        target=_read, args=(read, on_signal), name="langchain-comet-signals", daemon=True
    )
    thread.start()
    return True


def after_fork_in_child() -> None:
    """In a forked child (its only thread is its main thread): the parent's pipe is the
    parent's, and its reader did not come along; a signal of the child's must never be
    read by the parent. The child watches again with :func:`watch`."""
    global _pipe
    if _pipe is None:
        return
    (read, write), _pipe = _pipe, None
    # Whatever happens next, the child's signals go nowhere near the parent's pipe.
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, write)
        os.close(null)
    with contextlib.suppress(ValueError, OSError):
        current = signal.set_wakeup_fd(-1)
        if current not in (-1, write):  # somebody else's since: theirs stays
            signal.set_wakeup_fd(current)
        else:
            _close(write)
    _close(read)


def _read(read: int, on_signal: Callable[[int], None]) -> None:
    while True:
        try:
            data = os.read(read, 512)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        for signum in set(data):
            with contextlib.suppress(Exception):  # never let the watch die
                on_signal(signum)


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
