"""How sessions meet the process around them: exit, SIGTERM and fork.

- **Exit**: a normal exit writes every live session's data and ends its experiment,
  before comet_ml ends its own experiments, within a bounded time (``exit_timeout``).
- **SIGTERM** (a container or service stopping) kills a process on the spot by default,
  with no exit hook: the first session created on the main thread installs a handler
  that writes every session, then ends the process by the same signal.
- **Fork** (gunicorn ``--preload``, celery prefork, ``multiprocessing`` with ``fork``):
  the child inherits copies of the parent's sessions, whose files and experiments are the
  parent's. A child never ends, rewrites or deletes any of them; if it logs, it gets an
  experiment and session folder of its own. ``multiprocessing`` children end with
  ``os._exit``, which skips exit hooks, so they are closed by multiprocessing's own
  finalizers instead.

Sessions are held weakly: a session the application dropped costs nothing here.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import os
import signal
import sys
import threading
import time
import weakref
from types import FrameType
from typing import Any, Protocol

from langchain_comet import wakeup


class Closable(Protocol):
    """What a session offers this module."""

    pid: int
    closed: bool

    def close(self, timeout: float | None = None) -> None: ...

    def after_fork_in_child(self) -> None: ...


class Pausable(Protocol):
    def pause(self, timeout: float) -> bool: ...

    def resume(self) -> None: ...


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None: ...


# At exit, how long the final flush waits for the application's other non-daemon threads.
EXIT_JOIN_TIMEOUT = 60.0
# On SIGTERM, how long writing every session may hold up the process's end at most.
SIGTERM_CLOSE_TIMEOUT = 20.0

_SESSIONS: weakref.WeakSet[Closable] = weakref.WeakSet()
_FORK_AWARE: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_LOCK = threading.Lock()
_sigterm_installed = False
_fork_hooks_installed = False


def register(session: Closable, exit_timeout: float | None) -> None:
    """Close ``session`` at exit and on SIGTERM, and look after it across forks."""
    _install_fork_hooks()
    _SESSIONS.add(session)
    register_exit_hook(session, exit_timeout)
    _install_sigterm_handler()


def register_fork_aware(obj: ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in every forked child (held weakly)."""
    _install_fork_hooks()
    _FORK_AWARE.add(obj)


# -- exit ---------------------------------------------------------------------------------


def register_exit_hook(session: Closable, exit_timeout: float | None) -> None:
    """Close ``session`` at interpreter exit, before comet_ml ends its experiment.

    comet_ml ends experiments from ``threading._register_atexit``, which runs before
    ``atexit`` and in reverse order of registration; registering the same way after the
    experiment exists puts our final flush first. Only a weak reference is held.
    """
    hook = functools.partial(_close_at_exit, weakref.ref(session), exit_timeout)
    register_hook = getattr(threading, "_register_atexit", None)
    try:
        if register_hook is None:
            raise RuntimeError("threading._register_atexit is not available")
        register_hook(hook)
    except RuntimeError:  # missing, or the interpreter is already shutting down
        atexit.register(hook)


def _close_at_exit(session: weakref.ref[Closable], exit_timeout: float | None) -> None:
    if _ending:  # a SIGTERM's helper is writing every session: it ends the process
        _wait_for_the_ender()
        return
    alive = session()
    if alive is None or alive.closed or alive.pid != os.getpid():
        return
    # This hook runs before the interpreter joins the application's other non-daemon
    # threads; let them finish (bounded) so their last runs are in the archive.
    deadline = time.monotonic() + EXIT_JOIN_TIMEOUT
    for thread in threading.enumerate():
        if (
            thread is threading.current_thread()
            or thread.daemon
            or thread is threading.main_thread()
        ):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    alive.close(exit_timeout)


def close_all(timeout: float | None = None) -> None:
    """Write and end every live session of this process (within ``timeout`` each); one
    that is closing already (a SIGTERM during the exit hook) is waited for."""
    pid = os.getpid()
    for session in list(_SESSIONS):
        if session.pid == pid:
            session.close(timeout)


# -- SIGTERM ------------------------------------------------------------------------------


def _install_sigterm_handler() -> None:
    """Install our SIGTERM handler once per process, from the main thread (the only one
    Python lets set signal handlers), and only while SIGTERM has its default action: a
    handler the application or its server already set decides when the process ends, and
    a normal exit writes everything through the exit hook. An application that installs
    its own later replaces ours; one that wants none can restore ``signal.SIG_DFL``.
    Forked children inherit it, and close their own sessions with it.
    """
    global _sigterm_installed
    if threading.current_thread() is not threading.main_thread():
        return
    with _LOCK:
        if _sigterm_installed or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
        _sigterm_installed = True


# Once this process is ending by SIGTERM: a plain flag, checked and set in one step under
# a reentrant lock (a nudge of the wakeup watch may interrupt the handler waiting for it;
# an Event's own lock would not be reentrant), and the thread that ends the process.
_ending = False
_END_LOCK = threading.RLock()
_ender: threading.Thread | None = None
# The wakeup watch nudges the main thread this often, this many times, before it writes
# the sessions itself (a container's grace period is often 30 s: the close must fit).
NUDGE_EVERY = 0.5
NUDGES = 4


def _begin_ending() -> bool:
    """Whether this call is the first to end the process (the others return at once)."""
    global _ending
    with _END_LOCK:
        first, _ending = not _ending, True
        return first


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Write and end this process's sessions, then die of the signal, as without us.

    A helper thread closes the sessions and then ends the process by the signal
    (``SIGTERM_CLOSE_TIMEOUT`` at most). The main thread waits for it, unless the signal
    interrupted it where it waits for the worker or the recorder process: there it may
    hold what the close needs (the lock of the future it waits for, the worker's state
    lock), so it goes on, and the helper ends the process all the same; the exit hook
    waits for the helper if the application ends first. From here on, a second SIGTERM
    ends the process at once.
    """
    global _ender
    if not _begin_ending():
        return  # a nudge of the wakeup watch that arrived late, or a second run
    signal.signal(signum, signal.SIG_DFL)
    ender = threading.Thread(
        target=_close_then_die, args=(signum,), name="langchain-comet-sigterm", daemon=True
    )
    _ender = ender
    ender.start()
    if not _waiting_for_us(frame):
        ender.join(SIGTERM_CLOSE_TIMEOUT + 5.0)
        os.kill(os.getpid(), signum)


def _close_then_die(signum: int) -> None:
    _close_within(SIGTERM_CLOSE_TIMEOUT)
    os.kill(os.getpid(), signum)


def _close_within(timeout: float) -> None:
    closer = threading.Thread(
        target=close_all, args=(timeout,), name="langchain-comet-close", daemon=True
    )
    closer.start()
    closer.join(timeout)


def _wait_for_the_ender() -> None:
    """At exit while the process ends by SIGTERM: the helper writes the sessions, then
    ends the process by the signal."""
    ender = _ender
    if ender is not None and ender is not threading.current_thread():
        ender.join(SIGTERM_CLOSE_TIMEOUT + 5.0)


def _on_wakeup(signum: int) -> None:
    """On the wakeup watch's thread, for each signal the interpreter saw (``wakeup.py``):
    if our SIGTERM handler has not run soon after a SIGTERM, the main thread is blocked
    in C and missed it; a SIGTERM sent to that thread alone interrupts the call, and the
    handler runs. Should it still not run, the sessions are written here and the process
    ends (``os._exit``: only the main thread may restore SIGTERM's default action).
    """
    if signum != signal.SIGTERM:
        return
    for _ in range(NUDGES):
        time.sleep(NUDGE_EVERY)
        with _END_LOCK:
            if _ending or signal.getsignal(signal.SIGTERM) is not _on_sigterm:
                return  # handled, or no longer ours to handle
            main = threading.main_thread().ident
            if main is None:
                return
            signal.pthread_kill(main, signal.SIGTERM)
    time.sleep(NUDGE_EVERY)
    if signal.getsignal(signal.SIGTERM) is not _on_sigterm or not _begin_ending():
        return
    _close_within(SIGTERM_CLOSE_TIMEOUT)
    os._exit(128 + signum)  # the shell's code for "ended by this signal"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The functions of ours in which the main thread waits for the worker or the recorder
# process, holding (or about to take) what their threads need to finish the final flush.
_WAITS = frozenset(
    {
        "call",
        "_enqueue",
        "_wait_below",
        "stop",
        "join",
        "flush",
        "close",
        "close_all",
        "_close_at_exit",
        "experiment_info",
        "ask_experiment",
    }
)


def _waiting_for_us(frame: FrameType | None) -> bool:
    """Whether the interrupted thread was waiting for the worker or the recorder process
    (the handler's own frames, when a nudge interrupted it, do not count)."""
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_PACKAGE_DIR) and code.co_name in _WAITS:
            return True
        frame = frame.f_back
    return False


# -- fork ---------------------------------------------------------------------------------


class _Anchor:
    """A weakly referenceable object that lives as long as this module, for
    ``multiprocessing.util.register_after_fork``."""


_ANCHOR = _Anchor()


def _install_fork_hooks() -> None:
    global _fork_hooks_installed
    with _LOCK:
        if _fork_hooks_installed:
            return
        _fork_hooks_installed = True
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
    _watch_process_pools()


# How long a fork waits for a worker to finish the item in hand (a spaCy batch, an
# experiment's end may take a second or two); past it the fork goes ahead.
FORK_PAUSE_TIMEOUT = 2.0
_paused: list[Pausable] = []


def _before_fork() -> None:
    """Let every worker of this process finish the item in hand, and hold it there."""
    pid = os.getpid()
    for session in list(_SESSIONS):
        worker = getattr(session, "worker", None)
        if session.pid == pid and worker is not None and worker.pause(FORK_PAUSE_TIMEOUT):
            _paused.append(worker)


def _after_fork_in_parent() -> None:
    while _paused:
        _paused.pop().resume()


def _after_fork_in_child() -> None:
    """In a forked child: every session lets go of its parent's files and experiment.

    Runs inside ``os.fork`` in the child, where only the forking thread exists: no lock
    the parent's threads held may be waited on, so everything here starts afresh.
    """
    global _LOCK, _sigterm_installed, _ending, _END_LOCK, _ender
    wakeup.after_fork_in_child()
    _LOCK = threading.Lock()
    _ending, _END_LOCK, _ender = False, threading.RLock(), None
    _paused.clear()  # the child's workers are new; the parent's copies stay paused
    for obj in list(_FORK_AWARE):
        # Never fail a fork; at worst the session records nothing in the child.
        with contextlib.suppress(Exception):
            obj.after_fork_in_child()
    for session in list(_SESSIONS):
        with contextlib.suppress(Exception):
            session.after_fork_in_child()
    _watch_process_pools()


# Process-pool packages whose children leave with ``os._exit`` after their own finalizers:
# the standard library's, and billiard (celery's prefork pool), which has the same API.
_POOL_PACKAGES = ("multiprocessing", "billiard")


def _watch_process_pools() -> None:
    """Close a pool child's sessions when it ends: it leaves with ``os._exit`` after
    running its package's finalizers, never the exit hooks.

    ``Process._bootstrap`` clears the finalizers a fork copied, then runs the functions
    registered with ``register_after_fork``: ours registers the finalizer there.
    """
    for package in _POOL_PACKAGES:
        if package in sys.modules:
            with contextlib.suppress(ImportError, AttributeError):
                util = importlib.import_module(f"{package}.util")
                util.register_after_fork(_ANCHOR, functools.partial(_in_pool_child, util))


def _in_pool_child(util: Any, anchor: _Anchor) -> None:
    util.Finalize(None, close_all, exitpriority=10)
    # Pool.terminate() SIGTERMs its workers while they wait for a lock it holds forever:
    # one that misses the signal (it arrived just before the worker blocked) would hang.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        wakeup.watch(_on_wakeup)
