"""ExperimentHandle: resolved exactly once, waited for with a bound, safe across threads."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from langchain_comet import experiment as experiment_module
from langchain_comet.experiment import RESOLVE_GRACE, ExperimentHandle


def test_a_handle_on_an_existing_experiment_is_done() -> None:
    thing = object()
    handle = ExperimentHandle.of(thing)
    assert handle.done()
    assert handle.get() is thing and handle.get(0) is thing
    assert handle.experiment is thing


def test_an_unresolved_handle_times_out_and_says_so() -> None:
    handle = ExperimentHandle(deadline=time.monotonic() + 60)
    assert not handle.done()
    assert handle.experiment is None
    with pytest.raises(TimeoutError, match=r"not ready within 0\.05 s"):
        handle.get(0.05)


def test_a_waiting_get_returns_as_soon_as_another_thread_resolves() -> None:
    handle = ExperimentHandle(deadline=time.monotonic() + 60)
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(handle.get(30)))
    waiter.start()
    thing = object()
    assert handle.resolve(thing)
    waiter.join(30)
    assert got == [thing]


def test_only_the_first_resolve_counts() -> None:
    handle = ExperimentHandle(deadline=time.monotonic() + 60)
    things = [object() for _ in range(16)]
    wins: list[tuple[bool, object]] = []
    barrier = threading.Barrier(len(things))

    def resolve(thing: object) -> None:
        barrier.wait()
        wins.append((handle.resolve(thing), thing))

    threads = [threading.Thread(target=resolve, args=(t,)) for t in things]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (winner,) = [thing for won, thing in wins if won]
    assert len(wins) == len(things)
    assert handle.get(0) is winner
    assert not handle.resolve(object()) and handle.get(0) is winner


def test_the_wait_bound_is_the_time_to_the_deadline_plus_the_local_fallback() -> None:
    assert ExperimentHandle.of(object()).wait_bound() == RESOLVE_GRACE
    assert ExperimentHandle(deadline=time.monotonic() - 5).wait_bound() == RESOLVE_GRACE
    bound = ExperimentHandle(deadline=time.monotonic() + 7).wait_bound()
    assert 6 < bound - RESOLVE_GRACE <= 7


def test_the_deadline_is_a_documented_module_constant() -> None:
    assert experiment_module.CONNECT_DEADLINE == 10.0
    assert experiment_module.CONNECT_THREAD == "langchain-comet-connect"


def test_a_child_forked_while_a_connect_thread_holds_the_lock_can_take_it() -> None:
    held, release = threading.Event(), threading.Event()

    def connect_thread() -> None:
        with experiment_module._GLOBAL_EXPERIMENT_LOCK:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=connect_thread)
    thread.start()
    try:
        assert held.wait(30)
        pid = os.fork()
        if pid == 0:  # the child: that thread is gone, its lock must not be
            took = experiment_module._GLOBAL_EXPERIMENT_LOCK.acquire(timeout=5)
            os._exit(0 if took else 1)
        assert exit_code(pid, within=60) == 0
    finally:
        release.set()
        thread.join(30)


def exit_code(pid: int, within: float) -> int:
    """The exit code of child ``pid``, killed if it has not ended ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not end within {within} s")
