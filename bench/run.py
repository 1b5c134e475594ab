"""``python -m bench.run``: our handler vs the one it replaces and its peers, in one run.

Sections: latency (A, interleaved rounds, one interpreter per contender), memory (B),
flush (C, D) and saturation (E), each measurement in fresh interpreters. The peers' local
server (``bench/sink.py``) runs in this process. Progress goes to stderr, the report to
stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import machine
from bench.contenders import all_contenders, textstat_unavailable
from bench.env import COMET_NOISE, quiet_logging
from bench.flush import run_flush
from bench.latency import run_latency
from bench.memory import run_memory
from bench.peers import SINK_ENV, is_installed
from bench.report import all_verdicts, markdown_report, text_report
from bench.saturation import run_saturation
from bench.sink import running_sink
from bench.workloads import WORKLOADS

SECTIONS = ("latency", "memory", "flush", "saturation")
SEED = 20240601


@dataclass(frozen=True)
class Plan:
    """How much work each section does: the full run, or a smoke run with ``--quick``."""

    mode: str
    rounds: int
    scale: float
    memory_calls: int
    memory_checkpoints: tuple[int, ...]
    traced_calls: int
    memory_budgets: tuple[float, float]
    flush_sizes: tuple[int, ...]
    flush_timeout: float
    saturation_threads: int
    saturation_seconds: float
    saturation_rounds: int


FULL = Plan(
    mode="full",
    rounds=5,
    scale=1.0,
    memory_calls=50_000,
    memory_checkpoints=(1_000, 5_000, 10_000, 50_000),
    # tracemalloc makes every call ~3-4x slower: 50k traced calls would take ~10 min for ours.
    traced_calls=5_000,
    memory_budgets=(360.0, 150.0),
    flush_sizes=(1_000, 5_000, 20_000),
    flush_timeout=900.0,
    saturation_threads=8,
    saturation_seconds=30.0,
    saturation_rounds=2,
)
QUICK = Plan(
    mode="quick",
    rounds=2,
    scale=0.2,
    memory_calls=5_000,
    memory_checkpoints=(500, 1_000, 5_000),
    traced_calls=1_000,
    memory_budgets=(60.0, 30.0),
    flush_sizes=(500, 2_000),
    flush_timeout=300.0,
    saturation_threads=8,
    saturation_seconds=6.0,
    saturation_rounds=1,
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 1-2 minute smoke run")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, metavar="SECTION",
        help=f"run only this section ({', '.join(SECTIONS)}); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--contender", action="append", metavar="NAME",
        help="latency: only these contenders (and noop); repeatable",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="PATH", help="also dump raw results")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the results table")
    return parser.parse_args(argv)


def unavailable_contenders() -> dict[str, str]:
    """Contenders that cannot run here, with the reason: a peer's SDK is not installed,
    textstat cannot score offline."""
    reasons: dict[str, str] = {}
    probes: dict[str, str | None] = {}
    for contender in all_contenders():
        if contender.peer and (missing := is_installed(contender.peer)):
            reasons[contender.name] = missing
        if contender.needs_textstat:
            which = contender.needs_textstat
            if which not in probes:
                probes[which] = textstat_unavailable(which)
            if probes[which]:
                reasons[contender.name] = str(probes[which])
    return reasons


def latency_section(
    plan: Plan, unavailable: dict[str, str], only: list[str] | None
) -> dict[str, Any]:
    contenders = [c for c in all_contenders() if not only or c.name in only or c.name == "noop"]
    series = run_latency(WORKLOADS, contenders, unavailable, plan.rounds, plan.scale, SEED, log)
    out: dict[str, Any] = {}
    for workload in WORKLOADS:
        out[workload.name] = {
            "description": workload.description,
            "calls_per_block": max(1, round(workload.calls * plan.scale)),
            "rounds": plan.rounds,
            "contenders": {
                name: {
                    "unavailable": entry.unavailable,
                    "summary": entry.summary(),
                    "blocks": [dataclasses.asdict(block) for block in entry.blocks],
                }
                for name, entry in series[workload.name].items()
            },
        }
    return out


def run_sections(
    plan: Plan, sections: list[str], results: dict[str, Any], only: list[str] | None = None
) -> None:
    """Each section isolated: one that crashes is reported n/a and the others still run."""
    for section in sections:
        started = time.perf_counter()
        log(f"section {section} ...")
        try:
            if section == "latency":
                results["latency"] = latency_section(plan, results["unavailable"], only)
            elif section == "saturation":
                results["saturation"] = run_saturation(
                    plan.saturation_threads,
                    plan.saturation_seconds,
                    plan.saturation_rounds,
                    results["unavailable"],
                    SEED,
                    log,
                )
            elif section == "memory":
                results["memory"] = run_memory(
                    plan.memory_calls,
                    plan.memory_checkpoints,
                    plan.traced_calls,
                    plan.memory_budgets,
                    results["unavailable"],
                    log,
                )
            else:
                results["flush"] = run_flush(plan.flush_sizes, plan.flush_timeout, log)
        except Exception as exc:
            results["section_errors"][section] = f"{type(exc).__name__}: {exc}"
            log(f"section {section} failed: {exc!r}")
        log(f"section {section} done in {time.perf_counter() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    quiet_logging()
    results: dict[str, Any] = {
        "mode": plan.mode,
        "sections": sections,
        "plan": dataclasses.asdict(plan),
        "machine": machine.describe(),
        "unavailable": unavailable_contenders(),
        "section_errors": {},
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    tempfile.tempdir = str(scratch)  # spools and archives of this process land here
    try:
        with running_sink() as sink:
            os.environ[SINK_ENV] = sink.url  # every child's peers send here
            run_sections(plan, sections, results, args.contender)
    finally:
        tempfile.tempdir = None
        shutil.rmtree(scratch, ignore_errors=True)
    results["comet_notices_suppressed"] = COMET_NOISE.count
    results["source_digest_at_end"] = machine.source_digest()
    results["verdicts"] = [dataclasses.asdict(v) for v in all_verdicts(results)]
    results["wall_s"] = time.perf_counter() - started
    write_outputs(results, args)
    return 0


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    from bench.report import Verdict

    verdicts = [Verdict(**v) for v in results["verdicts"]]
    rendered = {**results, "verdicts": verdicts}
    sys.stdout.write(text_report(rendered))
    if args.markdown:
        args.markdown.write_text(markdown_report(rendered), encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
