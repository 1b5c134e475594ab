"""The only module that talks to comet_ml: which experiment, what is logged, when it ends.

Records that are only needed at flush time (runs, session rows, action records) are
spooled to files on disk, so a service that never flushes stays flat in memory.
All methods here run on the background worker, one at a time.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from typing import Any

# Imported with the package, not at the first flush: ~0.3 s that the application would
# otherwise wait for inside its first flush_tracker().
import pandas as pd

from langchain_comet.budget import MAX_GROUPED_TEXTS, AggregatedPoints, GroupedTexts, TokenBucket
from langchain_comet.failures import Failures, describe
from langchain_comet.serialize import JSON, dumps

logger = logging.getLogger("langchain_comet")

SESSION_TABLE = "langchain-llm-session.csv"
ACTION_RECORDS = "langchain-action_records.json"
RUN_TREE = "langchain-runs.jsonl"
FEEDBACK = "langchain-feedback.jsonl"
GRAPH_JSON = "langchain-graph.json"
GRAPH_MERMAID = "langchain-graph.mmd"
MODEL_FILE = "model.json"
DEFAULT_MODEL_NAME = "langchain-model"
SPOOL_BUFFER = 1 << 20
# Handlers may be created on several threads; comet_ml's global slot is one variable.
_GLOBAL_EXPERIMENT_LOCK = threading.Lock()


@dataclass(slots=True)
class ExperimentSettings:
    """Where and how the experiment is created; kept so ``reset`` can make the next one."""

    task_type: str | None = "inference"
    workspace: str | None = None
    project_name: str | None = None
    tags: Sequence[str] | None = None
    name: str | None = None
    online: bool | None = None
    offline_directory: str | None = None


def import_comet_ml() -> Any:
    """comet_ml, imported on first use with its crash reporting off unless configured.

    comet_ml decides at import time whether to send its own errors to a third-party
    tracker; a tracer inside someone else's service should not, and offline it would only
    retry against a closed network. An explicit ``COMET_ERROR_TRACKING_ENABLE`` wins.
    """
    if "comet_ml" not in sys.modules:
        os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    import comet_ml

    return comet_ml


def choose_online(online: bool | None) -> tuple[bool, str]:
    """SPEC §4: ``online=``, then ``COMET_START_ONLINE``, then a configured API key.

    Returns the choice and the reason, which the INFO line states.
    """
    if online is not None:
        return online, f"online={online} was passed"
    config = import_comet_ml().config
    cfg = config.get_config()
    start_online = cfg.get_bool(None, "comet.start.online")
    if start_online is not None:
        return bool(start_online), "COMET_START_ONLINE is set"
    if config.get_api_key(None, cfg):
        return True, "a Comet API key is configured"
    return False, "no Comet API key is configured"


def create_experiment(settings: ExperimentSettings, failures: Failures) -> Any:
    """A new comet_ml experiment, online or offline as configured; never asks for a key.

    Never fails either (SPEC §5), unless ``raise_error``: a server that cannot be reached,
    an offline directory that cannot be written or comet_ml itself failing falls back to
    an offline archive (in the offline directory, else a temporary one) that keeps every
    record for ``comet upload``, with one WARNING that names the cause and the archive.
    """
    comet_ml = import_comet_ml()
    kwargs: dict[str, Any] = {
        "workspace": settings.workspace,
        "project_name": settings.project_name,
    }
    causes: list[str] = []
    try:
        online, reason = choose_online(settings.online)
    except Exception as exc:
        if failures.raise_error:
            raise
        causes.append(f"reading Comet's configuration: {describe(exc)}")
        online, reason = False, "Comet's configuration could not be read"
    attempts: list[tuple[str, Callable[[], Any]]] = [
        ("offline", lambda: _offline_experiment(comet_ml, kwargs, settings.offline_directory)),
        ("offline in a temporary directory", lambda: _temporary_experiment(comet_ml, kwargs)),
    ]
    if online:
        attempts.insert(0, ("online", lambda: _online_experiment(comet_ml, kwargs)))
    experiment: Any = _NoExperiment()
    with _beside_other_experiments(comet_ml):
        for what, make in attempts:
            try:
                experiment = make()
                break
            except Exception as exc:
                if failures.raise_error:
                    raise
                causes.append(f"{what}: {describe(exc)}")
    archive = archive_path(experiment)
    if causes:
        outcome = (
            f"logging offline to {archive} instead; upload it later with: comet upload {archive}"
            if archive is not None
            else "nothing will be logged"
        )
        logger.warning(
            "langchain-comet: could not create the Comet experiment as configured (%s); %s. "
            "The application is not affected.",
            "; ".join(causes),
            outcome,
        )
    elif archive is not None:
        logger.info(
            "langchain-comet: logging offline (%s) to %s, written when the experiment ends; "
            "upload it later with: comet upload %s",
            reason,
            archive,
            archive,
        )
    comet = functools.partial(call_comet, failures, experiment)
    if kwargs.get("log_env_details") is False:  # the local parts of the details, offline
        comet("set_pip_packages")
        comet("set_os_packages")
    comet("log_other", "Created from", "langchain")
    if settings.task_type:
        comet("log_other", "task_type", settings.task_type)
    if settings.tags:
        comet("add_tags", list(settings.tags))
    if settings.name:
        comet("set_name", settings.name)
    return experiment


def call_comet(failures: Failures, experiment: Any, method: str, *args: Any, **kwargs: Any) -> bool:
    """``experiment.<method>(...)``; whether it worked. A failure is reported once per
    method and exception type, and costs only what that call would have logged."""
    try:
        getattr(experiment, method)(*args, **kwargs)
    except Exception as exc:
        failures.report(f"comet_ml Experiment.{method}", exc, background=True)
        return False
    return True


# Seconds a Comet server has to accept the connection, and then to answer, before the
# handler logs offline instead (its version endpoint answers in well under a second).
SERVER_PROBE_TIMEOUT = 3.05


def _online_experiment(comet_ml: Any, kwargs: dict[str, Any]) -> Any:
    """An online Experiment, once the Comet server has answered.

    Asked to go online with the server unreachable, comet_ml retries for ~30 s inside the
    constructor and then returns an experiment that records nothing. A probe of the
    server, with comet_ml's own HTTP session (proxies, certificates) but no retries,
    finds out in a moment; an experiment comet_ml could not start counts as unreachable.
    """
    _probe_server(comet_ml)
    experiment = comet_ml.Experiment(**kwargs)
    if not getattr(experiment, "alive", True):
        raise ConnectionError("comet_ml could not start the experiment online (see its log)")
    return experiment


def _probe_server(comet_ml: Any) -> None:
    """Raise ``ConnectionError`` if the Comet server does not answer (any HTTP status does)."""
    import requests

    config = comet_ml.config
    cfg = config.get_config()
    config.get_api_key(None, cfg)  # an API key may name its own server
    url = config.get_backend_address(cfg) + "isAlive/ver"
    try:
        from comet_ml.connection.http_session import get_http_session

        session = get_http_session(
            cfg, verify_tls=cfg.get_bool(None, "comet.internal.check_tls_certificate")
        )
    except (ImportError, AttributeError, TypeError):  # another comet_ml: plain requests
        session = requests.Session()
    with session:
        try:
            session.get(url, timeout=SERVER_PROBE_TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ConnectionError(f"the Comet server at {url} cannot be reached: {exc}") from exc


class CometMLError(RuntimeError):
    """A failure comet_ml reported on its experiment instead of raising it."""


class _NoExperiment:
    """Stands in when comet_ml could create no experiment at all (the warning said so):
    every call does nothing, so the handler and the application carry on."""

    id = None
    offline_directory = None
    alive = False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return _ignore


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


@contextlib.contextmanager
def _beside_other_experiments(comet_ml: Any) -> Iterator[None]:
    """Create an experiment without ending the one already running in this process.

    comet_ml keeps one "global" experiment and ends it when a new one is created, and
    whatever is logged to it afterwards is lost: a second handler, a ``reset``, or the
    application's own experiment would silently end another's. Ours are created outside
    that slot, which is left as it was, so every experiment lives until its owner ends it.
    """
    with _GLOBAL_EXPERIMENT_LOCK:
        previous = comet_ml.config.get_global_experiment()
        comet_ml.config.set_global_experiment(None)
        try:
            yield
        finally:
            comet_ml.config.set_global_experiment(previous)


def _offline_experiment(comet_ml: Any, kwargs: dict[str, Any], directory: str | None) -> Any:
    """An OfflineExperiment that keeps off the network.

    comet_ml's environment details probe cloud metadata addresses and resolve a host
    name to learn the machine's IP; offline that is at best a delay and at worst traffic
    the user did not expect. Unless ``COMET_AUTO_LOG_ENV_DETAILS`` / ``_ENV_HOST`` say
    otherwise, those are off (``create_experiment`` logs the purely local parts).
    """
    cfg = comet_ml.config.get_config()
    if directory is not None:
        kwargs["offline_directory"] = directory
    if cfg["comet.auto_log.env_details"] is None:
        kwargs["log_env_details"] = False
    if cfg["comet.auto_log.env_host"] is None:
        kwargs["log_env_host"] = False
    return comet_ml.OfflineExperiment(**kwargs)


def _temporary_experiment(comet_ml: Any, kwargs: dict[str, Any]) -> Any:
    """An OfflineExperiment in a new temporary directory, removed again if that fails too."""
    directory = tempfile.mkdtemp(prefix="langchain-comet-archive-")
    try:
        return _offline_experiment(comet_ml, kwargs, directory)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def archive_path(experiment: Any) -> Path | None:
    """Where an offline experiment's archive is (or will be) written; ``None`` online."""
    directory = getattr(experiment, "offline_directory", None)
    if directory is None:
        return None
    return Path(directory, f"{experiment.id}.zip")


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
        self, experiment: Any, failures: Failures, budget: TokenBucket | None = None
    ) -> None:
        self.experiment = experiment
        self._failures = failures
        self._dir = Path(tempfile.mkdtemp(prefix="langchain-comet-"))
        self.runs = Spool(self._dir, RUN_TREE)
        self.rows = Spool(self._dir, "rows.jsonl")
        self.actions = Spool(self._dir, ACTION_RECORDS, array=True)
        self.feedbacks = Spool(self._dir, FEEDBACK)
        self._asset_seq = 0
        self._budget = budget if budget is not None else TokenBucket()
        self._grouped = GroupedTexts()
        self._aggregated = AggregatedPoints()
        # Spooled files whose log_asset failed: (path, asset name, metadata), retried.
        self._unsent: list[tuple[Path, str, dict[str, JSON] | None]] = []

    def _comet(self, method: str, *args: Any, **kwargs: Any) -> bool:
        return call_comet(self._failures, self.experiment, method, *args, **kwargs)

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
        """Write what waited over budget: one grouped text sample, one point per metric."""
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

    def feedback(self, record: dict[str, JSON]) -> None:
        self._disk(self.feedbacks.append, record)

    # -- flush --------------------------------------------------------------------------

    def write_session(self, langchain_version: str) -> None:
        """Log everything spooled since the last flush, then start the spools afresh.

        Each part is tried even if another fails; what could not be logged is kept and
        tried again at the next flush, so a passing fault loses nothing.
        """
        self.tick()
        self._report_comet_errors()
        if self.rows.count and self._log_table():
            self.rows.drop()
        versions: dict[str, JSON] = {"langchain_version": langchain_version}
        spools: tuple[tuple[Spool, str, dict[str, JSON] | None], ...] = (
            (self.actions, ACTION_RECORDS, versions),
            (self.runs, RUN_TREE, None),
            (self.feedbacks, FEEDBACK, None),
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

    def log_graph(self, structure: JSON, mermaid: str) -> None:
        """A LangGraph graph's nodes and edges (JSON) and its Mermaid text, as assets."""
        for name, text in ((GRAPH_JSON, dumps(structure, None)), (GRAPH_MERMAID, mermaid)):
            path = self._disk(self._asset_file, name, text)
            if path is not None:
                self._comet("log_asset", str(path), file_name=name)

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
        for spool in (self.rows, self.actions, self.runs, self.feedbacks):
            spool.drop()
        shutil.rmtree(self._dir, ignore_errors=True)
