"""``langchain-comet recover``: archives from the session folders of dead processes.

A process killed with SIGKILL (or by the OOM killer, or whose archive did not fit on the
disk) leaves its session folder in the offline directory (``store.py``): the journal of
everything it logged and the spools of its run tree, session rows and action records.
Recovering one replays it, in order, into a new comet_ml ``OfflineExperiment`` through
the same sink a live handler uses, so the archive is written by comet_ml itself and is
what ``comet upload``, ``show`` and ``report`` read. Runs that were still open are
written with ``status: "incomplete"``. Then the folder, and what comet_ml left in its
temporary directory, are removed.

A live process's folder is never touched: it holds the folder's lock, and the lock is
the test (it is released by the kernel however the process died).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_comet.experiment import archive_path, recovery_experiment
from langchain_comet.failures import Failures
from langchain_comet.media import Payload
from langchain_comet.runs import LLM_RUN_TYPES
from langchain_comet.session_summary import SessionSummary
from langchain_comet.sink import (
    ACTION_RECORDS,
    END,
    FEEDBACK,
    FLUSH,
    GRAPH,
    MEDIA,
    METRICS,
    MODEL,
    ROWS_SPOOL,
    RUN_TREE,
    SUMMARY,
    TEXT,
    VISUALIZATION,
    CometSink,
    is_whole_archive,
)
from langchain_comet.store import (
    JOURNAL,
    MANIFEST,
    OPEN_RUNS_SPOOL,
    Manifest,
    SessionStore,
    claim,
    json_line,
    sessions_root,
)


class RecoverError(Exception):
    """A session folder that cannot be turned into an archive; the message says why."""


@dataclass(slots=True)
class Recovered:
    """What became of one session folder."""

    folder: Path
    archive: Path | None = None
    runs: int = 0
    traces: int = 0
    incomplete: int = 0
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)


def recover(directory: Path) -> list[Recovered]:
    """Turn every dead session folder under ``directory`` into an archive there."""
    root = sessions_root(directory)
    results: list[Recovered] = []
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return results
    for folder in folders:
        with claim(folder) as dead:
            if not dead:
                if not folder.name.startswith("."):
                    results.append(Recovered(folder, skipped="its process is still running"))
                continue
            if folder.name.startswith("."):  # a folder whose creation was cut: holds nothing
                shutil.rmtree(folder, ignore_errors=True)
                continue
            try:
                results.append(recover_session(folder))
            except RecoverError as exc:
                results.append(Recovered(folder, skipped=str(exc)))
    return results


def recover_session(folder: Path) -> Recovered:
    """Replay one dead session's folder into an archive; the caller holds its lock."""
    manifest = _read_manifest(folder)
    entries = list(_journal(folder / JOURNAL))
    directory = Path(manifest.archive_directory)
    planned = directory / f"{manifest.experiment_id}.zip" if manifest.experiment_id else None
    if any(e.get("kind") == END for e in entries) and planned and is_whole_archive(planned):
        # The process died after its archive was written, before tidying up.
        _remove_leftovers(folder, manifest)
        return Recovered(folder, archive=planned, skipped="its archive was already written")
    failures = Failures()
    experiment = recovery_experiment(
        directory,
        experiment_key=None if manifest.online else manifest.experiment_id,
        project_name=manifest.project_name,
        workspace=manifest.workspace,
    )
    replay = _Replay(folder, manifest, experiment, failures, entries)
    result = replay.run(entries)
    if result.archive is not None and is_whole_archive(result.archive):
        _remove_leftovers(folder, manifest)
    else:
        raise RecoverError(
            f"comet_ml could not write a whole archive for {folder} (is the disk full?); "
            "the folder is kept"
        )
    return result


def _read_manifest(folder: Path) -> Manifest:
    try:
        return Manifest.from_json(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecoverError(f"{folder} has no readable {MANIFEST}: {exc}") from exc


def _journal(path: Path) -> Iterator[dict[str, Any]]:
    """The journal's records; a line cut by the kill (the last one) is skipped."""
    for record in _json_lines(path):
        if isinstance(record, dict):
            yield record


def _json_lines(path: Path) -> Iterator[Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for line in data.split(b"\n"):
        line = line.strip().rstrip(b",")
        if not line or line in (b"[", b"]"):
            continue
        try:
            yield json.loads(line)
        except ValueError:
            continue


class _Replay:
    """Feeds one session folder's records to a sink over a fresh offline experiment."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        experiment: Any,
        failures: Failures,
        entries: list[dict[str, Any]],
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.failures = failures
        self.scratch = SessionStore.temporary(manifest, journaled=False)
        # The budget runs on the session's own clock, as its journal recorded it, so texts
        # and metrics are grouped as they were live, not all at once.
        self.now = _first_time(entries)
        self.sink = CometSink(experiment, failures, self.scratch, clock=lambda: self.now)
        self.flushed: set[Path] = set()
        self.langchain_version = "unknown"

    def run(self, entries: list[dict[str, Any]]) -> Recovered:
        self._describe()
        for entry in entries:
            moment = entry.get("time")
            if isinstance(moment, int | float) and moment > self.now:
                self.now = float(moment)
                self.sink.group_if_due()
            self._apply(entry)
        runs, incomplete = self._final_flush()
        archive = archive_path(self.sink.experiment)
        try:
            self.sink.end()
        finally:
            shutil.rmtree(self.scratch.path, ignore_errors=True)
        traces = len({r.get("trace_id") for r in runs})
        return Recovered(
            self.folder, archive=archive, runs=len(runs), traces=traces, incomplete=incomplete
        )

    def _describe(self) -> None:
        """What the live experiment was given at its creation."""
        manifest = self.manifest
        others = dict(manifest.others)
        others["langchain_comet_recovered"] = datetime.now(UTC).isoformat(timespec="seconds")
        if manifest.online and manifest.experiment_id:
            others["langchain_comet_online_experiment"] = manifest.experiment_id
        self.sink.describe(others, manifest.tags, manifest.name)

    def _apply(self, entry: dict[str, Any]) -> None:
        kind = entry.get("kind")
        sink = self.sink
        if kind == TEXT:
            sink.text(entry["text"], entry.get("metadata") or {}, int(entry.get("step") or 0))
        elif kind == METRICS:
            sink.metrics(entry["values"], int(entry.get("step") or 0), entry.get("prefix"))
        elif kind == SUMMARY:
            sink.summary(entry["values"], int(entry.get("step") or 0))
        elif kind == VISUALIZATION:
            sink.visualization(entry["style"], entry["idx"], entry["html"], entry.get("prompt"))
        elif kind == MEDIA:
            path = self._path(entry.get("path"))
            if path is not None:
                sink.media(
                    Payload(
                        kind=str(entry.get("media")),
                        name=str(entry.get("name")),
                        mime_type=str(entry.get("mime_type")),
                        data=path.read_bytes(),
                        sha256=str(entry.get("sha256")),
                        metadata=dict(entry.get("metadata") or {}),
                    )
                )
        elif kind == GRAPH:
            for name, relative in (entry.get("files") or {}).items():
                path = self._path(relative)
                if path is not None:
                    sink.log_asset_file(path, str(name))
        elif kind == MODEL:
            path = self._path(entry.get("path"))
            sink.log_model_file(entry.get("parameters") or {}, path, str(entry.get("name")))
        elif kind == FLUSH:
            table = self._path(entry.get("table"))
            assets = {name: self._path(rel) for name, rel in (entry.get("assets") or {}).items()}
            self.langchain_version = str(entry.get("langchain_version") or "unknown")
            files = [p for p in (table, *assets.values()) if p is not None]
            self.flushed.update(files)
            rows = list(_json_lines(table)) if table is not None else []
            sink.log_files(
                rows, {k: v for k, v in assets.items() if v is not None}, self.langchain_version
            )

    def _path(self, relative: Any) -> Path | None:
        if not isinstance(relative, str):
            return None
        path = self.folder / relative
        return path if path.is_file() else None

    def _spooled(self, name: str) -> list[Path]:
        """The files of one spool, oldest first."""

        def number(path: Path) -> int:
            suffix = path.parent.name.rsplit("-", 1)[-1]
            return int(suffix) if suffix.isdigit() else 0

        return sorted(self.folder.glob(f"{name}-*/{name}"), key=number)

    def _final_flush(self) -> tuple[list[dict[str, Any]], int]:
        """What no flush logged: the spools' last files, plus the runs still open."""
        finished: list[dict[str, Any]] = []
        unflushed: list[dict[str, Any]] = []
        for path in self._spooled(RUN_TREE):
            records = [r for r in _json_lines(path) if isinstance(r, dict)]
            finished.extend(records)
            if path not in self.flushed:
                unflushed.extend(records)
        ended = {r.get("run_id") for r in finished}
        incomplete: dict[Any, dict[str, Any]] = {}
        for path in self._spooled(OPEN_RUNS_SPOOL):
            for started in _json_lines(path):
                if isinstance(started, dict) and started.get("run_id") not in ended:
                    incomplete[started.get("run_id")] = _incomplete(started)
        unflushed.extend(incomplete.values())
        actions = [
            a
            for path in self._spooled(ACTION_RECORDS)
            if path not in self.flushed
            for a in _json_lines(path)
            if isinstance(a, dict)
        ]
        rows = [
            r
            for path in self._spooled(ROWS_SPOOL)
            if path not in self.flushed
            for r in _json_lines(path)
            if isinstance(r, dict)
        ]
        feedback = [
            f
            for path in self._spooled(FEEDBACK)
            if path not in self.flushed
            for f in _json_lines(path)
            if isinstance(f, dict)
        ]
        summary = SessionSummary()
        for record in [*finished, *incomplete.values()]:
            summary.add(record, llm=record.get("run_type") in LLM_RUN_TYPES)
        for path in self._spooled(FEEDBACK):
            for given in _json_lines(path):
                if isinstance(given, dict) and isinstance(given.get("value"), int | float):
                    summary.add_feedback(str(given.get("name")), float(given["value"]))
        self.sink.summary(summary.metrics(), summary.step)
        assets: dict[str, Path] = {}
        if unflushed:
            assets[RUN_TREE] = self._scratch_file(RUN_TREE, unflushed, array=False)
        if actions:
            assets[ACTION_RECORDS] = self._scratch_file(ACTION_RECORDS, actions, array=True)
        if feedback:
            assets[FEEDBACK] = self._scratch_file(FEEDBACK, feedback, array=False)
        self.sink.log_files(rows, assets, self.langchain_version)
        return [*finished, *incomplete.values()], len(incomplete)

    def _scratch_file(self, name: str, records: list[dict[str, Any]], *, array: bool) -> Path:
        if array:
            data = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"
            return self.scratch.file(name, data.encode("utf-8"))
        return self.scratch.file(name, b"".join(json_line(r) for r in records))


def _first_time(entries: list[dict[str, Any]]) -> float:
    for entry in entries:
        moment = entry.get("time")
        if isinstance(moment, int | float):
            return float(moment)
    return 0.0


def _incomplete(started: dict[str, Any]) -> dict[str, Any]:
    """The record of a run that was still open when its process died: every field a run
    record always has (null where only its end would have told), in the usual order."""
    run_type = started.get("run_type")
    record: dict[str, Any] = {
        "run_id": started.get("run_id"),
        "parent_run_id": started.get("parent_run_id"),
        "trace_id": started.get("trace_id"),
        "run_type": run_type,
        "name": started.get("name"),
        "status": "incomplete",
        "start_time": started.get("start_time"),
        "end_time": None,
        "latency_ms": None,
        "inputs": started.get("inputs"),
        "outputs": None,
        "error": None,
        "tags": started.get("tags") or [],
        "metadata": started.get("metadata") or {},
        "model_name": None,
        "provider": None,
        "token_usage": None,
        "time_to_first_token_ms": None,
        "tokens_streamed": None,
        "user_id": started.get("user_id"),
        "session_id": started.get("session_id"),
    }
    for key in ("langgraph_node", "langgraph_step"):
        if key in started:
            record[key] = started[key]
    record["step"] = None
    record["events"] = []
    if run_type in LLM_RUN_TYPES:
        record["cost_usd"] = None
    if started.get("parent_run_id") is None:
        record["trace_cost_usd"] = None
    return record


def _remove_leftovers(folder: Path, manifest: Manifest) -> None:
    """The session folder, and the temporary directory comet_ml kept the live experiment in
    (only if it is one: a directory in the system's temporary directory)."""
    shutil.rmtree(folder, ignore_errors=True)
    tmpdir = manifest.comet_tmpdir
    if tmpdir:
        path = Path(tmpdir)
        temp_root = Path(tempfile.gettempdir()).resolve()
        try:
            inside = path.resolve().parent == temp_root
        except OSError:
            inside = False
        comets = path.name.startswith("tmp") and (path / "messages.json").is_file()
        if (inside or comets) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
