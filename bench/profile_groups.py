"""Where a thread's profiled time goes, grouped by our module.

A module's time is its own functions' time plus the third-party code (comet_ml, textstat,
spaCy, json, ...) those functions call directly, taken from cProfile's per-caller figures;
so "runs.py 0.9 ms/call, of which textstat 0.6" reads as: runs.py's work, textstat
included, costs 0.9 ms per application call. Nothing is counted twice: a third-party
function's time is split among its callers, and only our callers take it.
"""

from __future__ import annotations

import pstats
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

OURS = "langchain_comet/"
_SITE = re.compile(r"(?:site|dist)-packages/([^/]+)")
_STDLIB = re.compile(r"/lib/python3\.\d+/([^/]+)")


def owner(filename: str) -> str:
    """``runs.py`` for our files; the package or stdlib module for the others."""
    if OURS in filename:
        return filename.split(OURS, 1)[1]
    if site := _SITE.search(filename):
        return site.group(1).removesuffix(".py")
    if filename.startswith("~") or filename == "<built-in>":
        return "builtins"
    if stdlib := _STDLIB.search(filename):
        return f"stdlib {stdlib.group(1).removesuffix('.py')}"
    return filename.rsplit("/", 1)[-1]


@dataclass
class Group:
    """One of our modules: its own time and the third-party time it calls, in seconds."""

    own: float = 0.0
    callees: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def total(self) -> float:
        return self.own + sum(self.callees.values())


def group_by_module(stats: pstats.Stats) -> tuple[dict[str, Group], float]:
    """Our modules' groups, and the profile's total time (its basis for shares)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, Group] = defaultdict(Group)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, callers) in raw.items():
        mine = OURS in filename
        if mine:
            groups[owner(filename)].own += tottime
            continue
        for (caller_file, _l, _n), caller_stats in callers.items():
            if OURS in caller_file:
                groups[owner(caller_file)].callees[owner(filename)] += caller_stats[3]
    return dict(groups), float(stats.total_tt)  # type: ignore[attr-defined]


def grouped_text(stats: pstats.Stats, calls: int, top_callees: int = 3) -> str:
    """A table: our module, ms per application call, share, and its biggest callees."""
    groups, total = group_by_module(stats)
    lines = [f"  {'module':<22} {'ms/call':>8} {'share':>6}  biggest third-party callees"]
    for module, group in sorted(groups.items(), key=lambda item: -item[1].total):
        if group.total * 1e3 / calls < 0.001:
            continue
        biggest = sorted(group.callees.items(), key=lambda item: -item[1])[:top_callees]
        callees = ", ".join(f"{name} {seconds * 1e3 / calls:.3f}" for name, seconds in biggest)
        share = group.total / total if total else 0.0
        lines.append(f"  {module:<22} {group.total * 1e3 / calls:8.3f} {share:6.0%}  {callees}")
    rest = total - sum(group.total for group in groups.values())
    lines.append(f"  {'(not under our code)':<22} {rest * 1e3 / calls:8.3f} "
                 f"{rest / total if total else 0:6.0%}")  # fmt: skip
    lines.append(f"  {'total':<22} {total * 1e3 / calls:8.3f}")
    return "\n".join(lines)


def top_cumulative(stats: pstats.Stats, calls: int, top: int) -> str:
    """The ``top`` functions by cumulative time, in ms per application call."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda item: -item[1][3])[:top]
    lines = [f"  {'cum ms/call':>11} {'own ms/call':>11} {'ncalls':>8}  function"]
    for (filename, line, name), (_cc, nc, tottime, cumtime, _callers) in rows:
        where = f"{owner(filename)}:{line}({name})"
        lines.append(
            f"  {cumtime * 1e3 / calls:11.3f} {tottime * 1e3 / calls:11.3f} {nc:8d}  {where}"
        )
    return "\n".join(lines)
