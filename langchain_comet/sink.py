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
from pathlib import Path
from typing import IO, Any

# Imported with the package, not at the first flush: ~0.3 s that the application would
# otherwise wait for inside its first flush_tracker().
import pandas as pd

from langchain_comet.budget import MAX_GROUPED_TEXTS, AggregatedPoints, GroupedTexts, TokenBucket
from langchain_comet.serialize import JSON, dumps

logger = logging.getLogger("langchain_comet")

SESSION_TABLE = "langchain-llm-session.csv"
ACTION_RECORDS = "langchain-action_records.json"
RUN_TREE = "langchain-runs.jsonl"
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


def create_experiment(settings: ExperimentSettings) -> Any:
    """A new comet_ml experiment, online or offline as configured; never asks for a key."""
    comet_ml = import_comet_ml()
    kwargs: dict[str, Any] = {
        "workspace": settings.workspace,
        "project_name": settings.project_name,
    }
    online, reason = choose_online(settings.online)
    with _beside_other_experiments(comet_ml):
        if online:
            experiment = comet_ml.Experiment(**kwargs)
        else:
            experiment = _offline_experiment(comet_ml, kwargs, settings.offline_directory)
    if not online:
        archive = archive_path(experiment)
        logger.info(
            "langchain-comet: logging offline (%s) to %s, written when the experiment ends; "
            "upload it later with: comet upload %s",
            reason,
            archive,
            archive,
        )
    experiment.log_other("Created from", "langchain")
    if settings.task_type:
        experiment.log_other("task_type", settings.task_type)
    if settings.tags:
        experiment.add_tags(list(settings.tags))
    if settings.name:
        experiment.set_name(settings.name)
    return experiment


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
    otherwise, those are off and the purely local parts (installed packages) are logged.
    """
    cfg = comet_ml.config.get_config()
    if directory is not None:
        kwargs["offline_directory"] = directory
    quiet_details = cfg["comet.auto_log.env_details"] is None
    if quiet_details:
        kwargs["log_env_details"] = False
    if cfg["comet.auto_log.env_host"] is None:
        kwargs["log_env_host"] = False
    experiment = comet_ml.OfflineExperiment(**kwargs)
    if quiet_details:
        experiment.set_pip_packages()
        experiment.set_os_packages()
    return experiment


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


def _json_line(record: dict[str, JSON]) -> str:
    """One strict JSON line. Records are built from ``to_json`` output, so the C encoder
    nearly always suffices; anything it rejects (a stray NaN, a lone surrogate in a name)
    goes through the full converter instead of being lost."""
    try:
        line = _encode_record(record)
        line.encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        line = dumps(record, None)
    return line + "\n"


class Spool:
    """Records waiting on disk, not in RAM, already in the form of the asset they become.

    ``take`` hands over the finished file (to be logged as is, no copy) and the next
    record starts a new one: a JSON-lines file, or with ``array`` a JSON array.
    """

    def __init__(self, directory: Path, name: str, *, array: bool = False) -> None:
        self._directory = directory
        self._name = name
        self._array = array
        self._files = 0
        self.count = 0
        self.path: Path | None = None
        self._file: IO[str] | None = None

    def append(self, record: dict[str, JSON]) -> None:
        if self._file is None:
            self._files += 1
            folder = self._directory / f"{self._name}-{self._files}"
            folder.mkdir()
            self.path = folder / self._name
            # A large buffer: each write to this disk costs a system call worth ~50 records.
            self._file = self.path.open("w", encoding="utf-8", buffering=SPOOL_BUFFER)
            if self._array:
                self._file.write("[\n")
        elif self._array:
            self._file.write(",\n")
        self._file.write(_json_line(record))
        self.count += 1

    def take(self) -> Path | None:
        """Complete the current file and return it; later records go to a new one."""
        if self._file is None:
            return None
        file, path = self._file, self.path
        # Whatever happens to this file, the next record starts a fresh one.
        self.path, self._file, self.count = None, None, 0
        try:
            if self._array:
                file.write("]\n")
        finally:
            file.close()
        return path

    def lines(self) -> Iterator[str]:
        """The records of the current file (JSON lines only), for building a table."""
        if self._file is None or self.path is None:
            return
        self._file.flush()
        with self.path.open(encoding="utf-8") as file:
            for line in file:
                if line.strip():
                    yield line.rstrip("\n")


class CometSink:
    """Writes records to one comet_ml experiment; spools what waits for a flush."""

    def __init__(self, experiment: Any, budget: TokenBucket | None = None) -> None:
        self.experiment = experiment
        self._dir = Path(tempfile.mkdtemp(prefix="langchain-comet-"))
        self.runs = Spool(self._dir, RUN_TREE)
        self.rows = Spool(self._dir, "rows.jsonl")
        self.actions = Spool(self._dir, ACTION_RECORDS, array=True)
        self._asset_seq = 0
        self._budget = budget if budget is not None else TokenBucket()
        self._grouped = GroupedTexts()
        self._aggregated = AggregatedPoints()
        # Spooled files whose log_asset failed: (path, asset name, metadata), retried.
        self._unsent: list[tuple[Path, str, dict[str, JSON] | None]] = []

    # -- RecordWriter: called for every record ------------------------------------------

    def text(self, text: str, metadata: dict[str, JSON], step: int) -> None:
        # Once texts are being grouped, later ones join the group so order is kept.
        if not self._grouped and self._budget.take():
            self.experiment.log_text(text, metadata=metadata, step=step)
            return
        self._grouped.add(text, metadata, step)
        if len(self._grouped) >= MAX_GROUPED_TEXTS:
            self._log_grouped_texts()

    def metrics(self, values: Mapping[str, float], step: int, prefix: str | None = None) -> None:
        # One token per call: a call is one batch of points at one step for comet_ml.
        if not self._aggregated and self._budget.take():
            self.experiment.log_metrics(dict(values), prefix=prefix, step=step)
            return
        self._aggregated.add(dict(values), step, prefix)

    def summary(self, values: Mapping[str, float], step: int) -> None:
        """Session summaries, exactly as given: a dozen points once per flush need no
        budget, and averaging them like per-run points would make them wrong."""
        self.experiment.log_metrics(dict(values), step=step)

    def visualization(self, style: str, idx: int, html: str, prompt: str | None) -> None:
        self.experiment.log_asset_data(
            html, name=f"langchain-viz-{style}-{idx}.html", metadata={"prompt": prompt}, step=idx
        )

    def tick(self) -> None:
        """Write what waited over budget: one grouped text sample, one point per metric."""
        if self._grouped:
            self._log_grouped_texts()
        for prefix, name, mean, step in self._aggregated.drain():
            self.experiment.log_metrics({name: mean}, prefix=prefix, step=step)

    def _log_grouped_texts(self) -> None:
        text, metadata, step = self._grouped.render()
        self.experiment.log_text(text, metadata=metadata, step=step)

    def run(self, record: dict[str, JSON]) -> None:
        self.runs.append(record)

    def row(self, row: dict[str, JSON]) -> None:
        self.rows.append(row)

    def action(self, record: dict[str, JSON]) -> None:
        self.actions.append(record)

    # -- flush --------------------------------------------------------------------------

    def write_session(self, langchain_version: str) -> None:
        """Log everything spooled since the last flush, then start the spools afresh.

        Each part is tried even if another fails; a file that could not be logged is kept
        and tried again at the next flush, so a passing fault loses nothing. Raises the
        failures together once every part was tried.
        """
        errors: list[Exception] = []
        self._attempt(errors, self.tick)
        if not self.rows.count or self._attempt(errors, self._log_table):
            self.rows.take()
        versions: dict[str, JSON] = {"langchain_version": langchain_version}
        spools: tuple[tuple[Spool, str, dict[str, JSON] | None], ...] = (
            (self.actions, ACTION_RECORDS, versions),
            (self.runs, RUN_TREE, None),
        )
        for spool, name, metadata in spools:
            path = spool.take()
            if path is not None:
                self._unsent.append((path, name, metadata))
        unsent, self._unsent = self._unsent, []
        for path, name, metadata in unsent:
            upload = functools.partial(
                self.experiment.log_asset, str(path), file_name=name, metadata=metadata
            )
            if not self._attempt(errors, upload):
                self._unsent.append((path, name, metadata))
        if errors:
            raise ExceptionGroup("writing the session", errors)

    @staticmethod
    def _attempt(errors: list[Exception], fn: Callable[[], Any]) -> bool:
        try:
            fn()
        except Exception as exc:
            errors.append(exc)
            return False
        return True

    def _log_table(self) -> None:
        frame = pd.DataFrame.from_records([json.loads(line) for line in self.rows.lines()])
        self.experiment.log_table(SESSION_TABLE, frame, index=False)

    def log_model(self, parameters: Mapping[str, Any], description: JSON, name: str) -> None:
        """The asset's parameters under the ``model`` prefix and its JSON as ``model.json``."""
        if parameters:
            self.experiment.log_parameters(dict(parameters), prefix="model")
        path = self._asset_file(MODEL_FILE)
        path.write_text(dumps(description, None), encoding="utf-8")
        self.experiment.log_model(name, str(path), file_name=MODEL_FILE)

    def _asset_file(self, name: str) -> Path:
        """A fresh file per logged asset: comet_ml may read it after the call returns."""
        self._asset_seq += 1
        folder = self._dir / f"asset-{self._asset_seq}"
        folder.mkdir()
        return folder / name

    # -- lifecycle ----------------------------------------------------------------------

    def end(self) -> None:
        """End the experiment (offline: write the archive) and remove the spool files."""
        try:
            self.experiment.end()
        finally:
            self.discard()

    def discard(self) -> None:
        for spool in (self.rows, self.actions, self.runs):
            spool.take()
        shutil.rmtree(self._dir, ignore_errors=True)
