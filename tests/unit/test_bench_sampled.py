"""``bench.sampled`` reads py-spy's raw samples: each thread's share, and the worker's time
by our module with the third-party code each module calls.

Run in a child interpreter: importing ``bench`` configures the process for benchmarking
(comet_ml's settings, the network guard), which must not leak into the other tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RAW = "\n".join(
    [
        "thread (0x1): langchain-comet;Worker._run (langchain_comet/worker.py:197);"
        "RunTree.apply (langchain_comet/runs.py:284);iso (langchain_comet/runs.py:186) 6",
        "thread (0x1): langchain-comet;Worker._run (langchain_comet/worker.py:197);"
        "Spool.append (langchain_comet/store.py:130);UUID.__str__ (uuid.py:281) 3",
        "thread (0x1): langchain-comet;Thread.run (threading.py:982) 1",
        "thread (0x2): OfflineStreamer(experiment='abc');dump (json/__init__.py:180) 10",
    ]
)


def summarize(raw: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bench.sampled import summarize; "
            "print(summarize(sys.stdin.read(), top=3))",
        ],
        input=raw,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_threads_share_the_samples_and_the_worker_is_split_by_our_module():
    report = summarize(RAW)
    lines = [line.split() for line in report.splitlines()]
    assert ["10", "50.0%", "langchain-comet"] in lines
    assert ["10", "50.0%", "OfflineStreamer"] in lines
    assert ["60.0%", "runs.py"] in lines  # iso is runs.py's own time
    assert ["30.0%", "store.py", "uuid", "30.0%"] in lines
    assert "(not under our code)" in report  # the worker's own loop, outside our modules
    assert "60.0%  iso (langchain_comet/runs.py)" in report
