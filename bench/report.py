"""Turns raw results into the plain-text report, the Markdown table and the target verdicts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import ratio

BASELINE = "noop"
# Issue #16: hot path <= 1.2x; total incl. flush <= 1.5x with defaults, <= 1.7x with
# complexity_metrics (on chain, chat-stream and batch8).
HOT_TARGET = 1.2
TOTAL_TARGETS = {
    "ours": 1.5,
    "ours+complexity": 1.7,
    "ours+recorder": 1.5,
    "ours+complexity+recorder": 1.7,
}
MEMORY_TARGET_MB = 20.0
FLUSH_TARGET = 10.0
SECTION_NAMES = ("latency", "memory", "flush", "saturation")
RATIO_KEYS = ("hot_mean_us", "hot_p50_us", "hot_p99_us", "total_per_call_us")


@dataclass(frozen=True)
class Verdict:
    target: str
    status: str  # PASS, FAIL or n/a
    detail: str


# -- formatting ---------------------------------------------------------------------------


def fx(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x"


def fnum(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def kcalls(calls: int) -> str:
    return f"{calls // 1000}k" if calls >= 1000 and calls % 1000 == 0 else str(calls)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers, widths from the content."""
    rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def machine_line(machine: dict[str, str]) -> str:
    return (
        f"{machine['cpu']} ({machine['cpu_count']} logical CPUs), {machine['platform']}, "
        f"Python {machine['python']}, langchain-core {machine['langchain-core']}, "
        f"langchain-community {machine['langchain-community']}, comet_ml {machine['comet_ml']}"
    )


# -- derived figures ----------------------------------------------------------------------


def summaries(workload: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    return {name: entry["summary"] for name, entry in workload["contenders"].items()}


def ratios(workload: dict[str, Any], name: str) -> dict[str, float | None]:
    stats = summaries(workload)
    own, base = stats.get(name), stats.get(BASELINE)
    if own is None or base is None:
        return dict.fromkeys(RATIO_KEYS)
    return {key: ratio(own[key], base[key]) for key in RATIO_KEYS}


def round_spread(workload: dict[str, Any], name: str) -> str:
    """Min-max over rounds of the hot-mean ratio: how much to trust the pooled ratio."""
    stats = summaries(workload)
    own, base = stats.get(name), stats.get(BASELINE)
    if own is None or base is None:
        return "n/a"
    pairs = zip(own["round_hot_means_us"], base["round_hot_means_us"], strict=False)
    values = [r for a, b in pairs if (r := ratio(a, b)) is not None]
    return f"{min(values):.2f}-{max(values):.2f}" if values else "n/a"


def memory_growth(result: dict[str, Any]) -> tuple[float | None, str]:
    """MB between the last two checkpoints (10k and 50k calls in the full run)."""
    if "error" in result:
        return None, result["error"]
    points = [s for s in result["samples"] if s["calls"] > 0]
    if len(points) < 2:
        return None, result.get("stopped") or "too few samples"
    key = "traced_mb" if result["traced"] else "rss_mb"
    low, high = points[-2], points[-1]
    return high[key] - low[key], f"{kcalls(low['calls'])}->{kcalls(high['calls'])}"


def flush_end(result: dict[str, Any] | None) -> float | None:
    if not result or "error" in result:
        return None
    return float(result["flush_s"] + result["end_s"])


def total(result: dict[str, Any] | None) -> float | None:
    """Calls + flush + end: the whole cost, wherever back-pressure moved it."""
    spent = flush_end(result)
    return None if spent is None or result is None else spent + float(result["hot_s"])


# -- targets ------------------------------------------------------------------------------


def verdict(target: str, value: float | None, ok: bool, detail: str, why: str = "") -> Verdict:
    if value is None:
        return Verdict(target, "n/a", why or "not measured")
    return Verdict(target, "PASS" if ok else "FAIL", detail)


def latency_verdicts(latency: dict[str, Any]) -> list[Verdict]:
    verdicts = []
    for contender in (
        "ours",
        "ours+complexity",
        "ours+analysis",
        "ours+recorder",
        "ours+complexity+recorder",
    ):
        for name, workload in latency.items():
            value = ratios(workload, contender)["hot_mean_us"]
            reason = workload["contenders"].get(contender, {}).get("unavailable") or ""
            verdicts.append(
                verdict(
                    f"hot path mean <= {HOT_TARGET}x noop: {contender} / {name}",
                    value,
                    value is not None and value <= HOT_TARGET,
                    fx(value),
                    reason,
                )
            )
    for contender, target in TOTAL_TARGETS.items():
        for name, workload in latency.items():
            value = ratios(workload, contender)["total_per_call_us"]
            verdicts.append(
                verdict(
                    f"total incl. flush <= {target}x noop: {contender} / {name}",
                    value,
                    value is not None and value <= target,
                    fx(value),
                )
            )
    return verdicts


def memory_verdict(memory: dict[str, Any]) -> Verdict:
    result = memory.get("ours", {}).get("rss", {"error": "not run"})
    growth, span = memory_growth(result)
    label = f"{span} calls" if growth is not None else "10k->50k calls"
    return verdict(
        f"RSS growth {label} <= {MEMORY_TARGET_MB:.0f} MB: ours",
        growth,
        growth is not None and growth <= MEMORY_TARGET_MB,
        f"{growth:+.1f} MB" if growth is not None else "",
        span,
    )


def flush_verdict(flush: dict[str, Any]) -> Verdict:
    sizes = sorted({int(n) for runs in flush.values() for n in runs})
    if not sizes:
        return Verdict(f"flush+end >= {FLUSH_TARGET:.0f}x faster than community", "n/a", "not run")
    n = str(sizes[-1])
    ours, theirs = flush_end(flush["ours"].get(n)), flush_end(flush["community"].get(n))
    speedup = ratio(theirs, ours)
    return verdict(
        f"flush+end after {kcalls(int(n))} calls >= {FLUSH_TARGET:.0f}x faster: ours vs community",
        speedup,
        speedup is not None and speedup >= FLUSH_TARGET,
        f"community {fnum(theirs, 2)} s / ours {fnum(ours, 2)} s = {fx(speedup)}",
    )


def saturation_verdicts(saturation: dict[str, Any]) -> list[Verdict]:
    """Nothing dropped: every call of the saturated window is a trace where it landed."""
    verdicts = []
    for name in ("ours", "ours+complexity", "ours+recorder", "ours+complexity+recorder"):
        stats = saturation["contenders"].get(name, {})
        traces = stats.get("traces")
        calls = stats.get("traced_calls")
        verdicts.append(
            verdict(
                f"saturation, nothing dropped: {name}",
                None if traces is None else float(traces),
                traces is not None and traces == calls,
                f"{traces}/{calls} traces in the archive",
                stats.get("unavailable") or "",
            )
        )
    return verdicts


def all_verdicts(results: dict[str, Any]) -> list[Verdict]:
    verdicts = []
    if "latency" in results:
        verdicts += latency_verdicts(results["latency"])
    if "saturation" in results:
        verdicts += saturation_verdicts(results["saturation"])
    if "memory" in results:
        verdicts.append(memory_verdict(results["memory"]))
    if "flush" in results:
        verdicts.append(flush_verdict(results["flush"]))
    return verdicts


# -- plain text ---------------------------------------------------------------------------


def latency_text(latency: dict[str, Any], known_na: Sequence[str] = ()) -> list[str]:
    lines = ["A. LATENCY per call: ratios to noop (headline), then absolute microseconds", ""]
    for name, workload in latency.items():
        lines.append(
            f"{name}: {workload['description']}; {workload['calls_per_block']} calls/block x "
            f"{workload['rounds']} rounds"
        )
        header = (
            "contender", "hot mean", "p50", "p99", "total", "rounds",
            "mean us", "p50 us", "p99 us", "flush us", "total us", "cb err/call",
        )  # fmt: skip
        rows, notes = [], []
        for contender, entry in workload["contenders"].items():
            stats = entry["summary"]
            if stats is None:
                rows.append([contender, "n/a", *[""] * (len(header) - 2)])
                if contender not in known_na:
                    notes.append(f"  {contender}: n/a ({entry['unavailable']})")
                continue
            r = ratios(workload, contender)
            rows.append(
                [contender, *(fx(r[k]) for k in RATIO_KEYS), round_spread(workload, contender)]
                + [fnum(stats[k]) for k in (*RATIO_KEYS[:3], "flush_per_call_us")]
                + [fnum(stats["total_per_call_us"]), fnum(stats["callback_errors_per_call"], 1)]
            )
            if stats["failures"]:
                notes.append(f"  {contender}: handler reported failures: {stats['failures']}")
        lines += ["  " + line for line in table(header, rows)] + notes + [""]
    lines += [
        "  hot = caller's wall time per call; total = (calls + flush_tracker()) / calls;",
        "  rounds = min-max of the per-round hot-mean ratio; cb err/call = exceptions the",
        "  handler raised into LangChain per call (LangChain logs and swallows them; the",
        "  benchmark drops those log records, so their printing cost is not included).",
        "",
    ]
    return lines


def memory_text(memory: dict[str, Any]) -> list[str]:
    lines = [
        "B. MEMORY: chain workload, one handler, never flushed; fresh interpreter per pass",
        "",
    ]
    header = ["contender", "pass", "calls", "MB before", "MB at checkpoints", "growth MB",
              "over", "held", "seconds"]  # fmt: skip
    rows = []
    for name, passes in memory.items():
        for kind, result in passes.items():
            if "error" in result:
                rows.append([name, kind, "n/a", "", result["error"], "", "", "", ""])
                continue
            key = "traced_mb" if result["traced"] else "rss_mb"
            points = result["samples"]
            marks = " / ".join(f"{kcalls(p['calls'])}: {p[key]:.1f}" for p in points[1:])
            growth, span = memory_growth(result)
            last = points[-1]
            rows.append(
                [name, kind, kcalls(last["calls"]), f"{points[0][key]:.1f}", marks,
                 f"{growth:+.1f}" if growth is not None else "n/a", span,
                 str(last["held"]) if last["held"] is not None else "-",
                 f"{last['elapsed_s']:.0f}"]
            )  # fmt: skip
            if result.get("stopped"):
                rows[-1][0] += " *"
    lines += ["  " + line for line in table(header, rows)]
    lines += [
        "",
        "  held = events queued for ours' worker / action records kept by the community",
        "  handler at the last checkpoint. traced = tracemalloc's current heap (Python",
        "  allocations only), run as a separate pass because tracing slows every call.",
        "  * = stopped early at its time budget.",
        "",
    ]
    return lines


def flush_text(flush: dict[str, Any]) -> list[str]:
    lines = ["C. FLUSH AND END after N chain calls; fresh interpreter per contender and N", ""]
    sizes = sorted({int(n) for runs in flush.values() for n in runs})
    header = ["N", "contender", "calls s", "flush s", "end s", "flush+end s", "total s",
              "archive MB", "cb errors", "community/ours f+e", "total"]  # fmt: skip
    rows = []
    for n in sizes:
        ours = flush["ours"].get(str(n))
        for name in ("ours", "community"):
            result = flush[name].get(str(n)) or {"error": "not run"}
            if "error" in result:
                rows.append([str(n), name, "n/a", *[""] * 7, result["error"]])
                continue
            mine = name == "community"
            rows.append(
                [str(n), name, f"{result['hot_s']:.2f}", f"{result['flush_s']:.2f}",
                 f"{result['end_s']:.2f}", f"{flush_end(result):.2f}", f"{total(result):.2f}",
                 fnum(result["archive_mb"], 1), str(result["callback_errors"]),
                 fx(ratio(flush_end(result), flush_end(ours))) if mine else "",
                 fx(ratio(total(result), total(ours))) if mine else ""]
            )  # fmt: skip
    lines += ["  " + line for line in table(header, rows)]
    lines += [
        "",
        "  total = calls + flush + end. Ours throttles the caller once its queue is full",
        '  (back-pressure), so at large N part of its deferred work shows up in "calls s".',
        "",
        "D. LINEARITY: ms per call at each N; flat = linear, rising = superlinear",
        "",
    ]
    rows = []
    for name in ("ours", "community"):
        for label, measure in (("flush+end", flush_end), ("total", total)):
            cells = []
            for n in sizes:
                value = measure(flush[name].get(str(n)))
                cells.append(fnum(value * 1e3 / n, 3) if value is not None else "n/a")
            rows.append([f"{name} {label}", *cells])
    lines += ["  " + line for line in table(["per call", *(f"N={n}" for n in sizes)], rows)]
    return [*lines, ""]


def saturation_shares(saturation: dict[str, Any], name: str) -> tuple[float | None, ...]:
    """Throughput as a share of the noop's: in the window, and including the final flush."""
    stats = saturation["contenders"]
    own, base = stats.get(name, {}), stats.get(BASELINE, {})
    if own.get("unavailable") or base.get("unavailable"):
        return None, None
    return (
        ratio(own.get("calls_per_s"), base.get("calls_per_s")),
        ratio(own.get("calls_per_s_incl_flush"), base.get("calls_per_s")),
    )


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _kept(stats: dict[str, Any]) -> str:
    traces = stats.get("traces")
    return "-" if traces is None else f"{traces:,}/{stats['traced_calls']:,}"


def saturation_rows(saturation: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    rows, notes = [], []
    for name, stats in saturation["contenders"].items():
        if stats.get("unavailable"):
            rows.append([name, "n/a", "", "", "", "", ""])
            notes.append(f"  {name}: n/a ({stats['unavailable']})")
            continue
        window, total = saturation_shares(saturation, name)
        rows.append(
            [name, fnum(stats["calls_per_s"], 1), _share(window),
             fnum(stats["calls_per_s_incl_flush"], 1), _share(total),
             f"{stats['flush_s']:.2f}", _kept(stats)]
        )  # fmt: skip
        if stats["failures"]:
            notes.append(f"  {name}: handler reported failures: {stats['failures']}")
    return rows, notes


SATURATION_HEADER = ("contender", "calls/s", "share", "calls/s incl. flush", "share incl. flush",
                     "final flush s", "traces/calls")  # fmt: skip


def saturation_text(saturation: dict[str, Any]) -> list[str]:
    lines = [
        f"E. SATURATION: {saturation['threads']} threads invoking the chain back to back for "
        f"{saturation['seconds']:.0f} s, {saturation['rounds']} round(s); fresh interpreter each",
        "",
    ]
    rows, notes = saturation_rows(saturation)
    lines += ["  " + line for line in table(SATURATION_HEADER, rows)] + notes
    lines += [
        "",
        "  share = throughput as a share of the noop handler's. incl. flush = calls / (window",
        "  + the final flush): what a service sustains once the backlog is paid. traces/calls",
        "  = traces found where the contender writes (our archive's root runs, what the local",
        "  sink received, MLflow's store) after flush, against the calls made: < = dropped.",
        "",
    ]
    return lines


def saturation_markdown(saturation: dict[str, Any]) -> list[str]:
    header = ["Handler", "Throughput (share of no-op)", "Incl. final flush", "Final flush",
              "Traces kept / calls"]  # fmt: skip
    rows = []
    for name, stats in saturation["contenders"].items():
        if stats.get("unavailable"):
            rows.append([f"`{name}`", f"n/a ({stats['unavailable']})", "", "", ""])
            continue
        window, total = saturation_shares(saturation, name)
        rows.append(
            [f"`{name}`", f"{fnum(stats['calls_per_s'])}/s ({_share(window)})",
             f"{fnum(stats['calls_per_s_incl_flush'])}/s ({_share(total)})",
             f"{stats['flush_s']:.2f} s", _kept(stats)]
        )  # fmt: skip
    return md_table(header, rows)


def verdict_text(verdicts: Sequence[Verdict]) -> list[str]:
    lines = ["TARGETS", ""]
    lines += [f"  {v.status:<4}  {v.target}: {v.detail}" for v in verdicts]
    return [*lines, ""]


def text_report(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "langchain-comet benchmark: ours vs langchain-community's CometCallbackHandler, "
        "Opik, Langfuse and MLflow",
        "",
        f"machine:  {machine['platform']}",
        f"cpu:      {machine['cpu']} x {machine['cpu_count']}",
        f"python:   {machine['python']}",
        f"versions: langchain-core {machine['langchain-core']}, langchain-community "
        f"{machine['langchain-community']}, comet_ml {machine['comet_ml']}, textstat "
        f"{machine['textstat']}, langchain-comet {machine['langchain-comet']} "
        f"({machine['source']})",
        f"mode:     {results['mode']}, sections {', '.join(results['sections'])}",
        "",
    ]
    if results["unavailable"]:
        lines += ["n/a contenders:"]
        lines += [f"  {name}: {reason}" for name, reason in results["unavailable"].items()]
        lines.append("")
    if "latency" in results:
        lines += latency_text(results["latency"], list(results["unavailable"]))
    renderers = (("memory", memory_text), ("flush", flush_text), ("saturation", saturation_text))
    for section, render in renderers:
        if section in results:
            lines += render(results[section])
    for section in SECTION_NAMES:
        if section in results["section_errors"]:
            lines += [f"{section}: n/a ({results['section_errors'][section]})", ""]
    lines += verdict_text(results["verdicts"])
    end_digest = results.get("source_digest_at_end")
    if end_digest and end_digest not in machine["source"]:
        lines.append(
            f"WARNING: langchain_comet/ changed during the run (sha256 now {end_digest}); "
            "sections run in fresh interpreters may have measured newer code."
        )
    notices = results.get("comet_notices_suppressed", 0)
    lines.append(f"comet_ml notices suppressed (per-experiment boilerplate): {notices}")
    lines.append(f"wall time: {results['wall_s']:.0f} s")
    return "\n".join(lines) + "\n"


# -- markdown -----------------------------------------------------------------------------


def _rss_over_noop(memory: dict[str, Any], name: str) -> str:
    """RSS at the last checkpoint minus the noop handler's there: what the handler holds."""
    own, base = memory.get(name, {}).get("rss", {}), memory.get(BASELINE, {}).get("rss", {})
    if "samples" not in own or "samples" not in base:
        return "n/a"
    mine, theirs = own["samples"][-1], base["samples"][-1]
    if mine["calls"] != theirs["calls"]:
        return f"n/a (stopped at {kcalls(mine['calls'])} calls)"
    return f"{mine['rss_mb'] - theirs['rss_mb']:+.0f} MB"


def summary_markdown(results: dict[str, Any]) -> list[str]:
    """One row per handler: hot path and total per workload as ratios, and memory."""
    latency, memory = results.get("latency", {}), results.get("memory", {})
    names = list(next(iter(latency.values()))["contenders"]) if latency else list(memory)
    header = ["Handler"]
    for workload in latency:
        header += [f"`{workload}` hot path", f"`{workload}` total"]
    header += ["RSS over no-op (memory)"] if memory else []
    rows = []
    for name in names:
        if name in ("none", BASELINE):
            continue
        row = [f"`{name}`"]
        for workload in latency.values():
            entry = workload["contenders"].get(name, {})
            r = ratios(workload, name)
            if entry.get("summary") is None:
                said = any(cell.startswith("n/a (") for cell in row)
                reason = "" if said else f" ({entry.get('unavailable') or 'not run'})"
                row += [f"n/a{reason}", ""]
            else:
                row += [fx(r["hot_mean_us"]), fx(r["total_per_call_us"])]
        if memory:
            row.append(_rss_over_noop(memory, name) if name in memory else "not measured")
        rows.append(row)
    return md_table(header, rows)


def latency_markdown(latency: dict[str, Any]) -> list[str]:
    header = ["Workload", "Handler", "Hot path mean", "Hot path p50", "Hot path p99",
              "Total incl. flush", "Hot path mean (µs)"]  # fmt: skip
    rows = []
    for name, workload in latency.items():
        for contender, entry in workload["contenders"].items():
            if contender == "none":
                continue
            stats = entry["summary"]
            if stats is None:
                reason = entry["unavailable"] or "n/a"
                rows.append([f"`{name}`", f"`{contender}`", f"n/a ({reason})", "", "", "", ""])
                continue
            r = ratios(workload, contender)
            rows.append(
                [f"`{name}`", f"`{contender}`", *(fx(r[k]) for k in RATIO_KEYS),
                 fnum(stats["hot_mean_us"])]
            )  # fmt: skip
    return md_table(header, rows)


def memory_markdown(memory: dict[str, Any]) -> list[str]:
    header = ["Handler", "RSS growth", "Traced heap growth", "Held at end"]
    rows = []
    for name, passes in memory.items():
        cells = [f"`{name}`"]
        for kind in ("rss", "traced"):
            growth, span = memory_growth(passes.get(kind, {"error": "not run"}))
            cells.append(f"{growth:+.1f} MB ({span} calls)" if growth is not None else "n/a")
        last = passes.get("rss", {}).get("samples", [{}])[-1]
        cells.append(f"{last['held']:,}" if last.get("held") is not None else "-")
        rows.append(cells)
    return md_table(header, rows)


def flush_markdown(flush: dict[str, Any]) -> list[str]:
    sizes = sorted({int(n) for runs in flush.values() for n in runs})
    header = ["Calls before flush", "`ours` flush + end", "`community` flush + end",
              "community / ours", "`ours` calls + flush + end",
              "`community` calls + flush + end"]  # fmt: skip
    rows = []
    for n in sizes:
        ours, theirs = flush["ours"].get(str(n)), flush["community"].get(str(n))
        rows.append([f"{n:,}", f"{fnum(flush_end(ours), 2)} s", f"{fnum(flush_end(theirs), 2)} s",
                     fx(ratio(flush_end(theirs), flush_end(ours))),
                     f"{fnum(total(ours), 2)} s", f"{fnum(total(theirs), 2)} s"])  # fmt: skip
    return md_table(header, rows)


def markdown_report(results: dict[str, Any]) -> str:
    lines = [
        "### Overhead benchmark",
        "",
        f"`python -m bench.run` ({results['mode']}) on {machine_line(results['machine'])}. "
        "Ratios are to a no-op `BaseCallbackHandler`, i.e. to what LangChain's callback "
        "dispatch costs anyway; *hot path* is the application's own wall time per call, "
        "*total* adds the handler's deferred work (`flush_tracker()`), spread over the calls.",
        "",
    ]
    if "latency" in results or "memory" in results:
        lines += ["Every handler, ratios to the no-op handler (total includes each SDK's own "
                  "flush):", ""]  # fmt: skip
        lines += [*summary_markdown(results), ""]
    if "latency" in results:
        lines += ["In detail:", "", *latency_markdown(results["latency"]), ""]
    if "memory" in results:
        lines += ["Memory while logging without flushing (chain workload):", ""]
        lines += [*memory_markdown(results["memory"]), ""]
    if "flush" in results:
        lines += ["Flush and end of the experiment (offline archive) after N chain calls:", ""]
        lines += [*flush_markdown(results["flush"]), ""]
    if "saturation" in results:
        saturation = results["saturation"]
        lines += [
            f"A service busy all the time ({saturation['threads']} threads invoking the chain "
            f"for {saturation['seconds']:.0f} s): throughput as a share of the no-op handler's, "
            "then the final flush and the traces found against the calls made:",
            "",
        ]
        lines += [*saturation_markdown(saturation), ""]
    if results["verdicts"]:
        lines += ["Targets:", ""]
        lines += [f"- **{v.status}** {v.target}: {v.detail}" for v in results["verdicts"]]
    return "\n".join(lines) + "\n"
