"""``python -m bench.sampled``: where the deferred work goes, sampled, in every thread.

``bench.profile`` (cProfile) hooks one thread and charges its own cost to every Python
call, so code that makes few calls into C (json's encoder, ``datetime``) looks cheaper
than it is, and comet_ml's own threads are not seen at all. This samples instead: a child
process makes ``--calls`` application calls with ours' worker held, then releases it and
flushes, while ``py-spy`` (the ``bench`` extra) records which Python function of which
thread holds the interpreter lock, ``--rate`` times a second. Only the catching-up is
recorded (the calls before it, and the interpreter's teardown after it, are not). The
report gives each thread's share and, for the worker, the time by our module (a
third-party function counted in the module of ours that called it) and the functions
with the most samples of their own.

py-spy reads the child's memory (ptrace): as root, or with ``kernel.yama.ptrace_scope``
at 0.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.workloads import WORKLOADS

OURS = "langchain_comet/"
_FILE = re.compile(r"\(([^)]*?):\d+\)$")
_SITE = re.compile(r"(?:site|dist)-packages/([^/]+)")
SPY_TIMEOUT_S = 300


def _child(contender: str, workload_name: str, calls: int) -> None:
    """Warm up, hold the worker, make the calls; on "go", catch up and flush; on "exit", end."""
    from bench.contenders import by_name, warmed_up
    from bench.env import quiet_logging
    from bench.profile import _hold, _worker
    from bench.workloads import config_for, workload_named

    quiet_logging()
    spec = by_name(contender)
    workload = workload_named(workload_name)
    handler = warmed_up(spec, workload, 100, "bench-sampled-")
    handler.flush_tracker()  # the experiment's first flush (environment, table) is behind us
    config = config_for(handler)
    gate = _hold(_worker(handler))
    for i in range(calls):
        workload.call(100 + i, config)
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.process_time()
    gate.set()
    spec.flush(handler)
    print(f"done {(time.process_time() - began) / calls * 1e6:.0f}", flush=True)
    sys.stdin.readline()
    os._exit(0)  # no teardown: nothing after the flush is of interest


def _module(frame: str) -> str:
    """``runs.py`` for our files, else the package or stdlib module: py-spy names a file
    by its path under the entry of ``sys.path`` it was imported from."""
    found = _FILE.search(frame)
    path = found.group(1) if found else frame
    if OURS in path:
        return path.split(OURS, 1)[1]
    if site := _SITE.search(path):
        return site.group(1).removesuffix(".py")
    return path.lstrip("<").split("/", 1)[0].removesuffix(".py").rstrip(">")


def _function(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def summarize(raw: str, top: int) -> str:
    """The report from py-spy's raw output (one ``thread;frame;...;frame count`` a line)."""
    threads: Counter[str] = Counter()
    modules: dict[str, Counter[str]] = defaultdict(Counter)
    own: Counter[str] = Counter()
    worker_total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        thread, *frames = stack.split(";")
        name = thread.split(": ", 1)[-1] if ": " in thread else thread
        name = re.sub(r"\(.*\)$", "", name).strip() or thread
        threads[name] += n
        if not name.startswith("langchain-comet") or not frames:
            continue
        worker_total += n
        ours = next((f for f in reversed(frames) if OURS in f), None)
        mine = _module(ours) if ours is not None else "(not under our code)"
        leaf = _module(frames[-1])
        modules[mine][leaf if leaf != mine else "own"] += n
        own[_function(frames[-1])] += n
    total = sum(threads.values()) or 1
    out = ["samples holding the interpreter lock, by thread:"]
    out += [f"  {n:6d} {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common()]
    if worker_total:
        out.append("the worker, by our module (and what it calls):")
        ranked = sorted(modules.items(), key=lambda item: -sum(item[1].values()))
        for module, parts in ranked:
            n = sum(parts.values())
            callees = ", ".join(
                f"{k} {100 * v / worker_total:.1f}%" for k, v in parts.most_common(4) if k != "own"
            )
            out.append(f"  {100 * n / worker_total:5.1f}%  {module:24s} {callees}")
        out.append(f"the worker's top {top} functions by samples of their own:")
        out += [f"  {100 * n / worker_total:5.1f}%  {fn}" for fn, n in own.most_common(top)]
    return "\n".join(out)


def sample(contender: str, workload: str, calls: int, rate: int, top: int) -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    module = [sys.executable, "-m", "bench.sampled", "--child"]
    args = ["--contender", contender, "--workload", workload, "--calls", str(calls)]
    child = subprocess.Popen(
        [*module, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    out = Path(tempfile.mkdtemp(prefix="bench-sampled-")) / "raw.txt"
    recorder: subprocess.Popen[bytes] | None = None
    try:
        if child.stdout.readline().strip() != "ready":
            raise SystemExit(f"the child ended before its calls were made ({child.wait()})")
        spy_args = ["record", "-p", str(child.pid), "-r", str(rate), "-f", "raw"]
        spy_args += ["-o", str(out), "--threads", "--gil"]
        recorder = subprocess.Popen(
            [spy, *spy_args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(1.0)  # py-spy attaches
        child.stdin.write("go\n")
        child.stdin.flush()
        done = child.stdout.readline().split()
        recorder.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        recorder.wait(timeout=SPY_TIMEOUT_S)
        child.stdin.write("exit\n")
        child.stdin.flush()
        child.wait(timeout=SPY_TIMEOUT_S)
        if not out.exists():
            error = recorder.stderr.read().decode() if recorder.stderr else ""
            raise SystemExit(f"py-spy recorded nothing: {error.strip()}")
        head = f"##### {contender} / {workload}: {calls} calls, catching up took "
        head += f"{done[1] if len(done) > 1 else '?'} µs of process CPU per call\n"
        return head + summarize(out.read_text(), top)
    finally:
        for process in (recorder, child):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(out.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sampled", description=__doc__)
    parser.add_argument("--contender", default="ours")
    parser.add_argument("--workload", default="chain", choices=[w.name for w in WORKLOADS])
    # The worker is held: calls x events per call must stay below its max_pending (20,000).
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=1000, help="samples a second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.contender, args.workload, args.calls)
        return
    print(sample(args.contender, args.workload, args.calls, args.rate, args.top))


if __name__ == "__main__":
    main()
