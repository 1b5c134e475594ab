"""The only module that logs to comet_ml: what is logged, and when the experiment ends.

(``experiment.py`` creates the experiments.)

Records that are only needed at flush time (runs, session rows, action records) are
spooled to files on disk, so a service that never flushes stays flat in memory.
All methods here run on the background worker, one at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from io import FileIO
from pathlib import Path
from typing import Any

# Imported with the package, not at the first flush: ~0.3 s that the application would
# otherwise wait for inside its first flush_tracker().
import pandas as pd

from langchain_comet.budget import MAX_GROUPED_TEXTS, AggregatedPoints, GroupedTexts, TokenBucket
from langchain_comet.experiment import ExperimentHandle, _NoExperiment, archive_path
from langchain_comet.failures import Failures
from langchain_comet.kept_calls import KeptCalls
from langchain_comet.serialize import JSON, dumps

logger = logging.getLogger("langchain_comet")

SESSION_TABLE = "langchain-llm-session.csv"
ACTION_RECORDS = "langchain-action_records.json"
RUN_TREE = "langchain-runs.jsonl"
MODEL_FILE = "model.json"
DEFAULT_MODEL_NAME = "langchain-model"
SPOOL_BUFFER = 1 << 20


def call_comet(failures: Failures, experiment: Any, method: str, *args: Any, **kwargs: Any) -> bool:
    """``experiment.<method>(...)``; whether it worked. A failure is reported once per
    method and exception type, and costs only what that call would have logged."""
    try:
        getattr(experiment, method)(*args, **kwargs)
    except Exception as exc:
        failures.report(f"comet_ml Experiment.{method}", exc, background=True)
        return False
    return True


class CometMLError(RuntimeError):
    """A failure comet_ml reported on its experiment instead of raising it."""


def _not_json(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


# json's C encoder, built once: JSONEncoder.encode builds it anew on every call, which
# costs more than encoding a record. Compact, UTF-8 text, NaN refused; no cycle check,
# which records made of to_json output never need (a cycle still fails, and is caught).
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_PY_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_not_json
)
_encode = (
    None
    if _C_ENCODER is None  # an interpreter without json's C accelerator
    else _C_ENCODER(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
)


def _encode_record(record: dict[str, JSON]) -> str:
    if _encode is None:
        return _PY_ENCODER.encode(record)
    return "".join(_encode(record, 0))


def _json_line(record: dict[str, JSON]) -> bytes:
    """One strict JSON line, UTF-8. Records are built from ``to_json`` output, so the C
    encoder nearly always suffices; anything it rejects (a stray NaN, a lone surrogate in
    a name) goes through the full converter instead of being lost."""
    try:
        return (_encode_record(record) + "\n").encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return (dumps(record, None) + "\n").encode("utf-8")


class Spool:
    """Records waiting on disk, not in RAM, already in the form of the asset they become.

    ``take`` hands over the finished file (to be logged as is, no copy) and the next
    record starts a new one: a JSON-lines file, or with ``array`` a JSON array.

    Records are written in chunks of about ``SPOOL_BUFFER`` bytes, one system call each
    (a call costs as much as encoding ~50 records). A chunk the disk refuses (full) is cut
    off again, so the file always ends with a whole record and parses; the records it
    carried are lost and the ``OSError`` is raised for the caller to report. A ``take``
    that fails keeps the file, to be completed and handed over by the next one.
    """

    def __init__(self, directory: Path, name: str, *, array: bool = False) -> None:
        self._directory = directory
        self._name = name
        self._array = array
        self._files = 0
        self.count = 0  # records in the current file, written or pending
        self.path: Path | None = None
        self._file: FileIO | None = None
        self._size = 0  # bytes on disk, all of them whole records
        self._pending: list[bytes] = []
        self._pending_size = 0

    def append(self, record: dict[str, JSON]) -> None:
        line = _json_line(record)
        if self._file is None:
            self._open()
        self._pending.append(line)
        self._pending_size += len(line)
        self.count += 1
        if self._pending_size >= SPOOL_BUFFER:
            self._write()

    def _open(self) -> None:
        self._files += 1
        # Recreated if a temp-file cleaner removed it; private: records hold prompts.
        self._directory.mkdir(mode=0o700, exist_ok=True)
        folder = self._directory / f"{self._name}-{self._files}"
        folder.mkdir()
        path = folder / self._name
        self._file = path.open("wb", buffering=0)
        self.path, self._size = path, 0

    def _write(self, *, closing: bool = False) -> None:
        """Write the pending records (and, ``closing``, an array's end) at the end of the file."""
        assert self._file is not None
        records = self._pending
        if self._array:
            data = b",\n".join(records)
            if records:
                data = (b"[\n" if self._size == 0 else b",\n") + data
            if closing:
                data += b"]\n"
        else:
            data = b"".join(records)
        self._pending, self._pending_size = [], 0
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view) :]
        except OSError:
            self.count -= len(records)
            with contextlib.suppress(OSError):  # back to the last whole record
                self._file.truncate(self._size)
                self._file.seek(self._size)
            raise
        self._size += len(data)

    def take(self) -> Path | None:
        """Complete the current file and return it; later records go to a new one."""
        if self._file is None:
            return None
        if self.count:
            self._write(closing=True)
            path = self.path
        else:  # every record it had was lost to the disk: nothing to hand over
            path = None
        self.drop()
        return path

    def drop(self) -> None:
        """Forget the current file and its pending records; later records go to a new one."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        self.path, self._file, self.count, self._size = None, None, 0, 0
        self._pending, self._pending_size = [], 0

    def lines(self) -> Iterator[str]:
        """The records of the current file (JSON lines only), for building a table."""
        if self.path is None:
            return
        with self.path.open("rb") as file:
            written = file.read(self._size).split(b"\n")
        for line in (*written, *self._pending):
            if line.strip():
                yield line.decode("utf-8").rstrip("\n")


class CometSink:
    """Writes records to one comet_ml experiment; spools what waits for a flush.

    Nothing here raises for a fault outside the handler: a comet_ml call that fails, or a
    disk that refuses the spool, is reported once per kind through ``failures`` and costs
    only what that call or write carried; files comet_ml did not take are tried again.
    """

    def __init__(
        self,
        experiment: ExperimentHandle | Any,
        failures: Failures,
        budget: TokenBucket | None = None,
    ) -> None:
        self.handle = (
            experiment
            if isinstance(experiment, ExperimentHandle)
            else ExperimentHandle.of(experiment)
        )
        self._failures = failures
        self._dir = Path(tempfile.mkdtemp(prefix="langchain-comet-"))
        # Until the worker has taken up the experiment (an online one may still be being
        # created), comet_ml calls are kept here in order (a file is only made if needed);
        # it then makes the handle's setup calls and replays these, in order.
        self._experiment: Any = None
        self._kept: KeptCalls | None = KeptCalls(self._dir, self._kept_on_disk_failed)
        self.runs = Spool(self._dir, RUN_TREE)
        self.rows = Spool(self._dir, "rows.jsonl")
        self.actions = Spool(self._dir, ACTION_RECORDS, array=True)
        self._asset_seq = 0
        self._budget = budget if budget is not None else TokenBucket()
        self._grouped = GroupedTexts()
        self._aggregated = AggregatedPoints()
        # Spooled files whose log_asset failed: (path, asset name, metadata), retried.
        self._unsent: list[tuple[Path, str, dict[str, JSON] | None]] = []

    @property
    def experiment(self) -> Any:
        """The comet_ml experiment. While it is being created online this waits for it:
        until the connect deadline at most, and the local offline fallback after it."""
        experiment = self._experiment
        if experiment is not None:
            return experiment
        try:
            return self.handle.get(self.handle.wait_bound())
        except TimeoutError:
            return _NoExperiment()

    def _comet(self, method: str, *args: Any, **kwargs: Any) -> bool:
        """``experiment.<method>(...)`` now, or kept in order while the experiment is
        being created (then it counts as done: the call is replayed when it exists)."""
        kept = self._kept
        if kept is not None and not self._replayed_if_ready():
            kept.add(method, args, kwargs)
            return True
        return call_comet(self._failures, self._experiment, method, *args, **kwargs)

    def _replayed_if_ready(self) -> bool:
        """Whether the experiment exists; if it just came, the kept calls are replayed."""
        if not self.handle.done():
            return False
        self._replay(self.handle.get())
        return True

    def _settle(self) -> None:
        """Before a flush or the end: wait for the experiment (bounded by the connect
        deadline and the local fallback) and replay what was kept for it."""
        if self._kept is None:
            return
        try:
            experiment = self.handle.get(self.handle.wait_bound())
        except TimeoutError as exc:
            kept = len(self._kept)
            self._failures.report(
                f"waiting for the Comet experiment ({kept} comet_ml calls kept for it, "
                "and all later records, are lost)",
                exc,
                background=True,
            )
            experiment = _NoExperiment()
        self._replay(experiment)

    def _replay(self, experiment: Any) -> None:
        """Use ``experiment`` from now on, after the calls kept for it, in their order."""
        kept, self._kept = self._kept, None
        self._experiment = experiment
        if kept is None:
            return
        for method in self.handle.setup:
            call_comet(self._failures, experiment, method)
        try:
            for method, args, kwargs in kept.drain():
                call_comet(self._failures, experiment, method, *args, **kwargs)
        except Exception as exc:  # the file of kept calls could not be read back
            self._failures.report(
                "replaying the comet_ml calls made while connecting", exc, background=True
            )
        finally:
            kept.close()

    def _kept_on_disk_failed(self, exc: OSError) -> None:
        self._failures.report(
            f"keeping comet_ml calls on disk in {self._dir} while connecting (kept in memory)",
            exc,
            background=True,
        )

    def _disk(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, a write to the spool directory; a failure (a full disk) is reported
        once, whichever spool or file it hit, and gives ``None``."""
        try:
            return fn(*args)
        except OSError as exc:
            self._failures.report(f"writing records to disk in {self._dir}", exc, background=True)
            return None

    # -- RecordWriter: called for every record ------------------------------------------

    def text(self, text: str, metadata: dict[str, JSON], step: int) -> None:
        # Once texts are being grouped, later ones join the group so order is kept.
        if not self._grouped and self._budget.take():
            self._comet("log_text", text, metadata=metadata, step=step)
            return
        self._grouped.add(text, metadata, step)
        if len(self._grouped) >= MAX_GROUPED_TEXTS:
            self._log_grouped_texts()

    def metrics(self, values: Mapping[str, float], step: int, prefix: str | None = None) -> None:
        # One token per call: a call is one batch of points at one step for comet_ml.
        if not self._aggregated and self._budget.take():
            self._comet("log_metrics", dict(values), prefix=prefix, step=step)
            return
        self._aggregated.add(dict(values), step, prefix)

    def summary(self, values: Mapping[str, float], step: int) -> None:
        """Session summaries, exactly as given: a dozen points once per flush need no
        budget, and averaging them like per-run points would make them wrong."""
        self._comet("log_metrics", dict(values), step=step)

    def visualization(self, style: str, idx: int, html: str, prompt: str | None) -> None:
        self._comet(
            "log_asset_data",
            html,
            name=f"langchain-viz-{style}-{idx}.html",
            metadata={"prompt": prompt},
            step=idx,
        )

    def tick(self) -> None:
        """Write what waited over budget: one grouped text sample, one point per metric
        (and, once the experiment exists, what was kept while it was being created)."""
        if self._kept is not None:
            self._replayed_if_ready()
        if self._grouped:
            self._log_grouped_texts()
        for prefix, name, mean, step in self._aggregated.drain():
            self._comet("log_metrics", {name: mean}, prefix=prefix, step=step)

    def _log_grouped_texts(self) -> None:
        text, metadata, step = self._grouped.render()
        self._comet("log_text", text, metadata=metadata, step=step)

    def run(self, record: dict[str, JSON]) -> None:
        self._disk(self.runs.append, record)

    def row(self, row: dict[str, JSON]) -> None:
        self._disk(self.rows.append, row)

    def action(self, record: dict[str, JSON]) -> None:
        self._disk(self.actions.append, record)

    # -- flush --------------------------------------------------------------------------

    def write_session(self, langchain_version: str) -> None:
        """Log everything spooled since the last flush, then start the spools afresh.

        Each part is tried even if another fails; what could not be logged is kept and
        tried again at the next flush, so a passing fault loses nothing.
        """
        self._settle()
        self.tick()
        self._report_comet_errors()
        if self.rows.count and self._log_table():
            self.rows.drop()
        versions: dict[str, JSON] = {"langchain_version": langchain_version}
        spools: tuple[tuple[Spool, str, dict[str, JSON] | None], ...] = (
            (self.actions, ACTION_RECORDS, versions),
            (self.runs, RUN_TREE, None),
        )
        for spool, name, metadata in spools:
            path = self._disk(spool.take)
            if path is not None:
                self._unsent.append((path, name, metadata))
        unsent, self._unsent = self._unsent, []
        for path, name, metadata in unsent:
            if not self._comet("log_asset", str(path), file_name=name, metadata=metadata):
                self._unsent.append((path, name, metadata))

    def _log_table(self) -> bool:
        """The session table, from the spooled rows; whether comet_ml took it."""
        rows = self._disk(lambda: [json.loads(line) for line in self.rows.lines()])
        if rows is None:
            return False
        return self._comet("log_table", SESSION_TABLE, pd.DataFrame.from_records(rows), index=False)

    def log_model(self, parameters: Mapping[str, Any], description: JSON, name: str) -> None:
        """The asset's parameters under the ``model`` prefix and its JSON as ``model.json``."""
        if parameters:
            self._comet("log_parameters", dict(parameters), prefix="model")
        path = self._disk(self._asset_file, MODEL_FILE, dumps(description, None))
        if path is not None:
            self._comet("log_model", name, str(path), file_name=MODEL_FILE)

    def _asset_file(self, name: str, text: str) -> Path:
        """A fresh file per logged asset: comet_ml may read it after the call returns."""
        self._asset_seq += 1
        self._dir.mkdir(mode=0o700, exist_ok=True)  # as the spools do
        folder = self._dir / f"asset-{self._asset_seq}"
        folder.mkdir()
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    # -- lifecycle ----------------------------------------------------------------------

    def end(self) -> None:
        """End the experiment (offline: write the archive) and remove the spool files."""
        self._settle()
        planned = archive_path(self.experiment)
        self._comet("end")
        self._report_comet_errors()
        written = archive_path(self.experiment)
        if written != planned:  # comet_ml could not write the offline directory by now
            moved = CometMLError(
                f"{planned} could not be written; comet_ml wrote the archive to {written} "
                f"instead: upload it with: comet upload {written}"
            )
            self._failures.report("writing the offline archive", moved, background=True)
        self.discard()

    def _report_comet_errors(self) -> None:
        """What comet_ml's own writer failed at (a full disk under its temporary files):
        it catches such errors on its thread and only logs them; reported here once."""
        message = getattr(self.experiment, "customer_error_message", None)
        if isinstance(message, str) and message:
            self._failures.report("comet_ml's writer", CometMLError(message), background=True)

    def discard(self) -> None:
        if self._kept is not None:
            self._kept.close()
        for spool in (self.rows, self.actions, self.runs):
            spool.drop()
        shutil.rmtree(self._dir, ignore_errors=True)
