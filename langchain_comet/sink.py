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
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

# Imported with the package, not at the first flush: ~0.3 s that the application would
# otherwise wait for inside its first flush_tracker().
import pandas as pd

from langchain_comet.budget import MAX_GROUPED_TEXTS, AggregatedPoints, GroupedTexts, TokenBucket
from langchain_comet.failures import Failures, describe
from langchain_comet.serialize import JSON, dumps
from langchain_comet.store import SessionStore, Spool, new_manifest, sessions_root

logger = logging.getLogger("langchain_comet")

SESSION_TABLE = "langchain-llm-session.csv"
ACTION_RECORDS = "langchain-action_records.json"
RUN_TREE = "langchain-runs.jsonl"
MODEL_FILE = "model.json"
DEFAULT_MODEL_NAME = "langchain-model"
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
    # More ``log_other`` values: which service and process the experiment belongs to.
    others: dict[str, str] = field(default_factory=dict)


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
    for key, value in settings.others.items():
        comet("log_other", key, value)
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


def recovery_experiment(
    directory: Path,
    *,
    experiment_key: str | None,
    project_name: str | None,
    workspace: str | None,
) -> Any:
    """The ``OfflineExperiment`` a dead session is replayed into (``recover``): in its
    archive directory, under its own experiment id when it was offline (so the archive is
    the one its INFO line announced), recording nothing of the recovering process itself."""
    comet_ml = import_comet_ml()
    kwargs: dict[str, Any] = {
        "project_name": project_name,
        "workspace": workspace,
        "experiment_key": experiment_key,
        "log_code": False,
        "log_graph": False,
        "auto_param_logging": False,
        "auto_metric_logging": False,
        "parse_args": False,
        "auto_output_logging": None,
        "log_env_details": False,
        "log_env_gpu": False,
        "log_env_cpu": False,
        "log_env_network": False,
        "log_env_disk": False,
        "log_env_host": False,
        "log_git_metadata": False,
        "log_git_patch": False,
        "display_summary_level": 0,
    }
    with _beside_other_experiments(comet_ml):
        return comet_ml.OfflineExperiment(offline_directory=str(directory), **kwargs)


def archive_path(experiment: Any) -> Path | None:
    """Where an offline experiment's archive is (or will be) written; ``None`` online."""
    directory = getattr(experiment, "offline_directory", None)
    if directory is None:
        return None
    return Path(directory, f"{experiment.id}.zip")


# Journal record kinds (``journal.jsonl``): everything the sink is given that is not spooled.
TEXT, METRICS, SUMMARY, VISUALIZATION, MODEL, FLUSH, END = (
    "text",
    "metrics",
    "summary",
    "visualization",
    "model",
    "flush",
    "end",
)
# Spool names inside a session folder (the run tree and action records keep their asset names).
ROWS_SPOOL = "rows.jsonl"
OPEN_RUNS_SPOOL = "open-runs.jsonl"
# Over-budget texts and metric points are written to comet_ml together this often.
GROUP_INTERVAL = 1.0


def default_offline_directory(settings: ExperimentSettings) -> Path:
    """Where offline archives go when nothing else says: ``offline_directory``, then
    ``COMET_OFFLINE_DIRECTORY``, then comet_ml's default ``.cometml-runs``."""
    if settings.offline_directory is not None:
        return Path(settings.offline_directory)
    try:
        configured = import_comet_ml().config.get_config().get_comet_offline_directory()
    except Exception:  # another comet_ml, or a broken configuration: its default
        configured = None
    return Path(configured or ".cometml-runs").absolute()


def open_store(experiment: Any, settings: ExperimentSettings, failures: Failures) -> SessionStore:
    """The session folder for ``experiment``: in its archive's directory (offline), else
    in the offline directory, so ``recover`` can make an archive of what a hard kill cut.

    A directory that cannot hold it gets a temporary folder instead, with one WARNING:
    records still wait on disk, but would not survive a hard kill.
    """
    archive = archive_path(experiment)
    nowhere = isinstance(experiment, _NoExperiment)
    online = archive is None and not nowhere
    directory = archive.parent if archive is not None else default_offline_directory(settings)
    tmpdir = getattr(experiment, "tmpdir", None) if archive is not None else None
    manifest = new_manifest(
        experiment_id=_text_or_none(getattr(experiment, "id", None)),
        online=online,
        archive_directory=directory,
        project_name=settings.project_name,
        workspace=settings.workspace,
        tags=list(settings.tags) if settings.tags else None,
        name=settings.name,
        others={"Created from": "langchain", **settings.others},
        comet_tmpdir=_text_or_none(tmpdir),
    )
    if settings.task_type:
        manifest.others["task_type"] = settings.task_type
    if nowhere:  # nothing can be logged: the records only wait for nothing, briefly
        return SessionStore.temporary(manifest, journaled=False)
    try:
        return SessionStore.create(manifest)
    except OSError as exc:
        if failures.raise_error:
            raise
        failures.report(
            f"keeping the records in {sessions_root(directory)} (they are kept in a temporary "
            "directory instead, which a hard kill would lose)",
            exc,
        )
        return SessionStore.temporary(manifest)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class CometSink:
    """Writes records to one comet_ml experiment and keeps them on disk until it ends.

    Every record goes to the session folder (``store.py``) as well as towards comet_ml:
    the run tree, session rows and action records are spooled there until a flush logs
    them; texts, metrics, visualizations and the model are journaled there as they are
    logged. So what comet_ml holds only in memory or a temporary directory until its
    experiment ends is also on disk in the offline directory, for ``recover``.

    Nothing here raises for a fault outside the handler: a comet_ml call that fails, or a
    disk that refuses the spool, is reported once per kind through ``failures`` and costs
    only what that call or write carried; files comet_ml did not take are tried again.
    """

    def __init__(
        self,
        experiment: Any,
        failures: Failures,
        store: SessionStore,
        budget: TokenBucket | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.experiment = experiment
        self._failures = failures
        self.store = store
        store.report = functools.partial(failures.report, background=True)
        self.runs = store.spool(RUN_TREE)
        self.rows = store.spool(ROWS_SPOOL)
        self.actions = store.spool(ACTION_RECORDS, array=True)
        self.open_runs = store.spool(OPEN_RUNS_SPOOL)
        # The budget's time: the wall's, or a replayed session's as its journal recorded it.
        self._clock = clock
        self._budget = budget if budget is not None else TokenBucket(clock=clock)
        self._grouped = GroupedTexts()
        self._aggregated = AggregatedPoints()
        self._next_group = clock() + GROUP_INTERVAL
        # Spooled files whose log_asset failed: (path, asset name, metadata), retried.
        self._unsent: list[tuple[Path, str, dict[str, JSON] | None]] = []
        self.archive_complete: bool | None = None  # once ended: was the archive written whole

    def _comet(self, method: str, *args: Any, **kwargs: Any) -> bool:
        return call_comet(self._failures, self.experiment, method, *args, **kwargs)

    def _disk(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args)``, a write to the session folder; a failure (a full disk) is reported
        once, whichever spool or file it hit, and gives ``None``."""
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            self._failures.report(
                f"writing records to disk in {self.store.path}", exc, background=True
            )
            return None

    def _journal(self, record: dict[str, JSON]) -> None:
        self._disk(self.store.journal, record)

    # -- RecordWriter: called for every record ------------------------------------------

    def text(self, text: str, metadata: dict[str, JSON], step: int) -> None:
        self._journal(
            {"kind": TEXT, "time": self._clock(), "text": text, "metadata": metadata, "step": step}
        )
        # Once texts are being grouped, later ones join the group so order is kept.
        if not self._grouped and self._budget.take():
            self._comet("log_text", text, metadata=metadata, step=step)
            return
        self._grouped.add(text, metadata, step)
        if len(self._grouped) >= MAX_GROUPED_TEXTS:
            self._log_grouped_texts()

    def metrics(self, values: Mapping[str, float], step: int, prefix: str | None = None) -> None:
        values = dict(values)
        self._journal(
            {
                "kind": METRICS,
                "time": self._clock(),
                "values": cast(JSON, values),
                "step": step,
                "prefix": prefix,
            }
        )
        # One token per call: a call is one batch of points at one step for comet_ml.
        if not self._aggregated and self._budget.take():
            self._comet("log_metrics", values, prefix=prefix, step=step)
            return
        self._aggregated.add(values, step, prefix)

    def summary(self, values: Mapping[str, float], step: int) -> None:
        """Session summaries, exactly as given: a dozen points once per flush need no
        budget, and averaging them like per-run points would make them wrong."""
        values = dict(values)
        self._journal({"kind": SUMMARY, "values": cast(JSON, values), "step": step})
        self._comet("log_metrics", values, step=step)

    def visualization(self, style: str, idx: int, html: str, prompt: str | None) -> None:
        self._journal(
            {"kind": VISUALIZATION, "style": style, "idx": idx, "html": html, "prompt": prompt}
        )
        self._comet(
            "log_asset_data",
            html,
            name=f"langchain-viz-{style}-{idx}.html",
            metadata={"prompt": prompt},
            step=idx,
        )

    def run(self, record: dict[str, JSON]) -> None:
        self._disk(self.runs.append, record)

    def started(self, record: dict[str, JSON]) -> None:
        """A run that started: what ``recover`` writes as ``incomplete`` if it never ends."""
        self._disk(self.open_runs.append, record)

    def row(self, row: dict[str, JSON]) -> None:
        self._disk(self.rows.append, row)

    def action(self, record: dict[str, JSON]) -> None:
        self._disk(self.actions.append, record)

    def tick(self) -> None:
        """Every worker tick: what waited over budget goes to comet_ml once a second (one
        grouped text sample, one point per metric), and what waits in memory to disk."""
        self.group_if_due()
        self._disk(self.store.sync)

    def sync_now(self) -> None:
        """What waits in memory to disk now."""
        self._disk(self.store.sync, force=True)

    def group_if_due(self) -> None:
        now = self._clock()
        if now >= self._next_group:
            self._next_group = now + GROUP_INTERVAL
            self._log_over_budget()

    def _log_over_budget(self) -> None:
        if self._grouped:
            self._log_grouped_texts()
        for prefix, name, mean, step in self._aggregated.drain():
            self._comet("log_metrics", {name: mean}, prefix=prefix, step=step)

    def _log_grouped_texts(self) -> None:
        text, metadata, step = self._grouped.render()
        self._comet("log_text", text, metadata=metadata, step=step)

    # -- flush --------------------------------------------------------------------------

    def write_session(self, langchain_version: str) -> None:
        """Log everything spooled since the last flush, then start the spools afresh.

        Each part is tried even if another fails; what could not be logged is kept and
        tried again at the next flush, so a passing fault loses nothing.
        """
        self._log_over_budget()
        self._report_comet_errors()
        rows_path = self.rows.path if self.rows.count else None
        if rows_path is not None:
            self._disk(self.rows.sync)
            if self._log_table():
                self.rows.drop()
        versions: dict[str, JSON] = {"langchain_version": langchain_version}
        spools: tuple[tuple[Spool, str, dict[str, JSON] | None], ...] = (
            (self.actions, ACTION_RECORDS, versions),
            (self.runs, RUN_TREE, None),
        )
        taken: dict[str, JSON] = {}
        for spool, name, metadata in spools:
            path = self._disk(spool.take)
            if path is not None:
                self._unsent.append((path, name, metadata))
                taken[name] = self.store.relative(path)
        self._journal(
            {
                "kind": FLUSH,
                "table": None if rows_path is None else self.store.relative(rows_path),
                "assets": taken,
                "langchain_version": langchain_version,
            }
        )
        self._disk(self.store.sync, force=True)
        unsent, self._unsent = self._unsent, []
        for path, name, metadata in unsent:
            if not self._comet("log_asset", str(path), file_name=name, metadata=metadata):
                self._unsent.append((path, name, metadata))

    def log_files(
        self, rows: list[Any], assets: Mapping[str, Path], langchain_version: str
    ) -> None:
        """Log a flush's files as they are (``recover``): the table, then each asset."""
        if rows:
            log_session_table(self._failures, self.experiment, rows)
        versions: dict[str, JSON] = {"langchain_version": langchain_version}
        for name in (ACTION_RECORDS, RUN_TREE):
            path = assets.get(name)
            if path is not None:
                metadata = versions if name == ACTION_RECORDS else None
                self._comet("log_asset", str(path), file_name=name, metadata=metadata)

    def log_model_file(self, parameters: Mapping[str, Any], path: Path | None, name: str) -> None:
        """The asset's parameters and an existing ``model.json`` (``recover``)."""
        if parameters:
            self._comet("log_parameters", dict(parameters), prefix="model")
        if path is not None:
            self._comet("log_model", name, str(path), file_name=MODEL_FILE)

    def describe(self, others: Mapping[str, str], tags: Sequence[str], name: str | None) -> None:
        """What a live experiment was given at its creation (``recover``)."""
        for key, value in others.items():
            self._comet("log_other", key, value)
        if tags:
            self._comet("add_tags", list(tags))
        if name:
            self._comet("set_name", name)

    def _log_table(self) -> bool:
        """The session table, from the spooled rows; whether comet_ml took it."""
        rows = self._disk(lambda: [json.loads(line) for line in self.rows.lines()])
        if rows is None:
            return False
        return log_session_table(self._failures, self.experiment, rows)

    def log_model(self, parameters: Mapping[str, Any], description: JSON, name: str) -> None:
        """The asset's parameters under the ``model`` prefix and its JSON as ``model.json``."""
        if parameters:
            self._comet("log_parameters", dict(parameters), prefix="model")
        path = self._disk(self.store.file, MODEL_FILE, dumps(description, None).encode("utf-8"))
        self._journal(
            {
                "kind": MODEL,
                "parameters": dict(parameters),
                "path": None if path is None else self.store.relative(path),
                "name": name,
            }
        )
        if path is not None:
            self._comet("log_model", name, str(path), file_name=MODEL_FILE)

    # -- lifecycle ----------------------------------------------------------------------

    def end(self) -> None:
        """End the experiment (offline: write the archive) and check what was written.

        Only a whole archive lets the session folder go: if comet_ml could not write it
        (a full disk leaves a truncated file that is not a zip), the folder stays for
        ``langchain-comet recover`` and one WARNING says where it is.
        """
        self._journal({"kind": END})
        self._disk(self.store.sync, force=True)
        planned = archive_path(self.experiment)
        ended = self._comet("end")
        self._report_comet_errors()
        written = archive_path(self.experiment)
        if written != planned:  # comet_ml could not write the offline directory by now
            moved = CometMLError(
                f"{planned} could not be written; comet_ml wrote the archive to {written} "
                f"instead: upload it with: comet upload {written}"
            )
            self._failures.report("writing the offline archive", moved, background=True)
        self.archive_complete = ended and (written is None or is_whole_archive(written))
        if ended and not self.archive_complete:
            kept = (
                f"every record is kept in {self.store.path}: once there is space, write the "
                f"archive with: langchain-comet recover {self.store.manifest.archive_directory}"
                if self.store.durable
                else f"the records waiting in {self.store.path} are kept there"
            )
            self._failures.report(
                "writing the offline archive",
                CometMLError(f"{written} is not a whole archive (a full disk?); {kept}"),
                background=True,
            )
        self.store.close(remove=self.archive_complete)

    def _report_comet_errors(self) -> None:
        """What comet_ml's own writer failed at (a full disk under its temporary files):
        it catches such errors on its thread and only logs them; reported here once."""
        message = getattr(self.experiment, "customer_error_message", None)
        if isinstance(message, str) and message:
            self._failures.report("comet_ml's writer", CometMLError(message), background=True)

    def discard(self) -> None:
        """Forget this sink's files without an archive (the experiment is not ours to end)."""
        self.store.close(remove=True)


def log_session_table(failures: Failures, experiment: Any, rows: list[Any]) -> bool:
    """The session table from its rows; whether comet_ml took it."""
    return call_comet(
        failures,
        experiment,
        "log_table",
        SESSION_TABLE,
        pd.DataFrame.from_records(rows),
        index=False,
    )


def is_whole_archive(path: Path) -> bool:
    """Whether ``path`` is a readable zip holding comet_ml's ``messages.json`` and
    ``experiment.json`` with every member's checksum right."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            return {"messages.json", "experiment.json"} <= names and archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False
