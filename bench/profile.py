"""``python -m bench.profile``: where a handler's time goes, per thread, when a target is missed.

By default it profiles ``ours``, ``ours+complexity`` and ``ours+analysis`` one after the
other and prints, for each thread, the time per application call grouped by our module
(with the third-party code each module calls: comet_ml, textstat, spaCy, ...), then the
top functions by cumulative time; ``--raw`` adds pstats' own listings.

The caller thread is profiled around the calls; ours' background worker is profiled by
enabling cProfile from a job running on that thread (cProfile hooks one thread only).
The experiment's end is profiled apart. ``--clock cpu`` (default) counts each thread's
own CPU time, so time spent waiting for the GIL is not charged to whatever waited;
``--gate`` holds the worker until the calls are done, separating the two threads' costs
completely (keep calls x events per call below the worker's max_pending, or it deadlocks).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.contenders import by_name
from bench.env import quiet_logging
from bench.profile_groups import grouped_text, top_cumulative
from bench.workloads import WORKLOADS, config_for, workload_named

DEFAULT_CONTENDERS = ("ours", "ours+complexity", "ours+analysis")

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.thread_time, "wall": time.perf_counter}


def _worker(handler: Any) -> Any:
    """Ours' background worker, or None for handlers that do everything inline."""
    return getattr(getattr(handler, "_session", None), "worker", None)


def _on(worker: Any, fn: Callable[[], Any]) -> None:
    """Run ``fn`` on the worker thread if there is one, else here."""
    if worker is not None:
        worker.call(fn)
    else:
        fn()


def _hold(worker: Any) -> threading.Event:
    """Queue a job that blocks the worker until the returned event is set (private API)."""
    from langchain_comet.worker import _Job

    gate = threading.Event()
    worker._queue.put(_Job(gate.wait))
    return gate


def _stats(profile: cProfile.Profile, title: str, sort: str, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    body = out.getvalue()
    start = body.find("   ncalls")
    head = body[: body.find("\n", body.find("function calls"))].strip()
    return f"== {title}, by {sort}: {head}\n{body[start:].rstrip()}\n"


def _warm_up(contender: str, workload: Any, directory: Path) -> None:
    spec = by_name(contender)
    warm = spec.make(directory)
    for i in range(20):
        workload.call(i, config_for(warm))
    spec.flush(warm)
    spec.finish(warm)


def _section(title: str, prof: cProfile.Profile, calls: int, top: int, raw: bool) -> list[str]:
    stats = pstats.Stats(prof)
    out = [
        f"== {title}: per application call, grouped by our module",
        grouped_text(stats, calls),
        f"-- top {top} functions by cumulative time",
        top_cumulative(stats, calls, top),
        "",
    ]
    if raw:
        out += [_stats(prof, title, sort, top) for sort in ("tottime", "cumulative")]
    return out


def profile(
    contender: str,
    workload: str,
    calls: int,
    top: int,
    clock: str,
    gate: bool,
    raw: bool = False,
) -> str:
    """Profile ``calls`` calls, the flush and the end of one fresh handler."""
    quiet_logging()
    spec = by_name(contender)
    work = workload_named(workload)
    root = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    _warm_up(contender, work, root / "warm")
    handler = spec.make(root / "measured")
    worker = _worker(handler)
    timer = CLOCKS[clock]
    caller, background, ending = (cProfile.Profile(timer) for _ in range(3))
    config = config_for(handler)
    if worker is not None:
        worker.call(background.enable)
    held = _hold(worker) if gate and worker is not None else None
    started = time.perf_counter()
    caller.enable()
    for i in range(calls):
        work.call(i, config)
    caller.disable()
    hot_s = time.perf_counter() - started
    if held is not None:
        held.set()
    if worker is None:
        background.enable()
    spec.flush(handler)
    flush_s = time.perf_counter() - started - hot_s
    _on(worker, background.disable)
    _on(worker, ending.enable)
    spec.finish(handler)
    _on(worker, ending.disable)
    end_s = time.perf_counter() - started - hot_s - flush_s
    shutil.rmtree(root, ignore_errors=True)
    report = [
        f"##### {contender} / {workload}: {calls} calls {hot_s:.2f} s, flush {flush_s:.2f} s, "
        f"end {end_s:.2f} s (wall, while profiled; clock={clock}, gate={gate})\n",
    ]
    thread = "worker thread" if worker is not None else "caller thread, in flush_tracker()"
    for title, prof in (
        ("CALLER thread during the calls", caller),
        (f"DEFERRED work ({thread}) during calls + flush", background),
        ("experiment END", ending),
    ):
        report += _section(title, prof, calls, top, raw)
    return "\n".join(report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--contender", action="append", help=f"repeatable; default {', '.join(DEFAULT_CONTENDERS)}"
    )
    parser.add_argument("--workload", default="chain", choices=[w.name for w in WORKLOADS])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--gate", action="store_true", help="hold the worker during the calls")
    parser.add_argument("--raw", action="store_true", help="also print pstats' own listings")
    args = parser.parse_args()
    for contender in args.contender or DEFAULT_CONTENDERS:
        report = profile(
            contender, args.workload, args.calls, args.top, args.clock, args.gate, args.raw
        )
        print(report, flush=True)


if __name__ == "__main__":
    main()
