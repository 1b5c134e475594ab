"""The only module that logs to comet_ml: what is logged, when the experiment ends, and
the records kept on disk meanwhile. (``experiment.py`` creates the experiments.)

Every record also goes to the session folder in the offline directory (``store.py``):
the run tree, session rows and action records are spooled there until a flush logs
them, everything else is journaled there as it is logged, so a hard kill leaves what
``langchain-comet recover`` needs. All methods here run on the background worker, one
at a time.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

# Imported with the package, not at the first flush: ~0.3 s that the application would
# otherwise wait for inside its first flush_tracker().
import pandas as pd

from langchain_comet.budget import MAX_GROUPED_TEXTS, AggregatedPoints, GroupedTexts, TokenBucket
from langchain_comet.experiment import (
    ExperimentHandle,
    ExperimentSettings,
    _NoExperiment,
    archive_path,
    default_offline_directory,
)
from langchain_comet.failures import Failures
from langchain_comet.kept_calls import KeptCalls
from langchain_comet.media import Payload
from langchain_comet.serialize import JSON, dumps
from langchain_comet.store import Manifest, SessionStore, Spool, new_manifest, sessions_root

logger = logging.getLogger("langchain_comet")

SESSION_TABLE = "langchain-llm-session.csv"
ACTION_RECORDS = "langchain-action_records.json"
RUN_TREE = "langchain-runs.jsonl"
FEEDBACK = "langchain-feedback.jsonl"
GRAPH_JSON = "langchain-graph.json"
GRAPH_MERMAID = "langchain-graph.mmd"
MODEL_FILE = "model.json"
DEFAULT_MODEL_NAME = "langchain-model"


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


# Journal record kinds (``journal.jsonl``): everything the sink is given that is not spooled.
TEXT, METRICS, SUMMARY, VISUALIZATION, MEDIA, MODEL, GRAPH, FLUSH, END = (
    "text",
    "metrics",
    "summary",
    "visualization",
    "media",
    "model",
    "graph",
    "flush",
    "end",
)
# Spool names inside a session folder (the run tree and action records keep their asset names).
ROWS_SPOOL = "rows.jsonl"
# Over-budget texts and metric points are written to comet_ml together this often.
GROUP_INTERVAL = 1.0


def open_store(
    experiment: ExperimentHandle | Any, settings: ExperimentSettings, failures: Failures
) -> SessionStore:
    """The session folder for an experiment: in its archive's directory (offline), else in
    the offline directory (online, or still being created), so ``recover`` can make an
    archive of what a hard kill cut.

    A directory that cannot hold it gets a temporary folder instead, with one WARNING:
    records still wait on disk, but would not survive a hard kill.
    """
    if isinstance(experiment, ExperimentHandle):
        experiment = experiment.experiment  # None while an online one is being created
    nowhere = isinstance(experiment, _NoExperiment)
    manifest = new_manifest(
        experiment_id=None,
        online=True,
        archive_directory=default_offline_directory(settings),
        project_name=settings.project_name,
        workspace=settings.workspace,
        tags=list(settings.tags) if settings.tags else None,
        name=settings.name,
        others={"Created from": "langchain", **settings.others},
        comet_tmpdir=None,
    )
    if settings.task_type:
        manifest.others["task_type"] = settings.task_type
    if experiment is not None:
        _describe_experiment(manifest, experiment)
    if nowhere:  # nothing can be logged: the records only wait for nothing, briefly
        return SessionStore.temporary(manifest, journaled=False)
    directory = Path(manifest.archive_directory)
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


def _describe_experiment(manifest: Manifest, experiment: Any) -> None:
    """What the manifest says of the experiment once it exists: its id, where its archive
    goes, and comet_ml's temporary directory (which ``recover`` tidies up)."""
    archive = archive_path(experiment)
    manifest.experiment_id = _text_or_none(getattr(experiment, "id", None))
    manifest.online = archive is None and not isinstance(experiment, _NoExperiment)
    if archive is not None:
        manifest.archive_directory = str(archive.parent)
        manifest.comet_tmpdir = _text_or_none(getattr(experiment, "tmpdir", None))


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
        experiment: ExperimentHandle | Any,
        failures: Failures,
        store: SessionStore,
        budget: TokenBucket | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.handle = (
            experiment
            if isinstance(experiment, ExperimentHandle)
            else ExperimentHandle.of(experiment)
        )
        self._failures = failures
        self.store = store
        store.report = functools.partial(failures.report, background=True)
        # Until the worker has taken up the experiment (an online one may still be being
        # created), comet_ml calls are kept here in order (a file is only made if needed);
        # it then makes the handle's setup calls and replays these, in order.
        self._experiment: Any = None
        self._environment_logged = False
        self._kept: KeptCalls | None = KeptCalls(store.path, self._kept_on_disk_failed)
        self.runs = store.spool(RUN_TREE)
        self.rows = store.spool(ROWS_SPOOL)
        self.actions = store.spool(ACTION_RECORDS, array=True)
        self.feedbacks = store.spool(FEEDBACK)
        # The budget's time: the wall's, or a replayed session's as its journal recorded it.
        self._clock = clock
        self._budget = budget if budget is not None else TokenBucket(clock=clock)
        self._grouped = GroupedTexts()
        self._aggregated = AggregatedPoints()
        self._next_group = clock() + GROUP_INTERVAL
        # Spooled files whose log_asset failed: (path, asset name, metadata), retried.
        self._unsent: list[tuple[Path, str, dict[str, JSON] | None]] = []
        self.archive_complete: bool | None = None  # once ended: was the archive written whole

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
        if self.store.manifest.experiment_id is None:  # now it exists: say which it is
            _describe_experiment(self.store.manifest, experiment)
            self._disk(self.store.update_manifest)
        try:
            for method, args, kwargs in kept.drain():
                call_comet(self._failures, experiment, method, *args, **kwargs)
        except Exception as exc:  # the file of kept calls could not be read back
            self._failures.report(
                "replaying the comet_ml calls made while connecting", exc, background=True
            )
        finally:
            kept.close()

    def _log_environment(self) -> None:
        """The handle's setup calls (an offline experiment's pip and OS package lists), once,
        at the first flush or the end: the pip list takes the worker 0.3-0.7 s, during which
        nothing it recorded would reach the disk if it were made at the first record."""
        if self._environment_logged:
            return
        self._environment_logged = True
        for method in self.handle.setup:
            self._comet(method)

    def _kept_on_disk_failed(self, exc: OSError) -> None:
        self._failures.report(
            f"keeping comet_ml calls on disk in {self.store.path} while connecting "
            "(kept in memory)",
            exc,
            background=True,
        )

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
        if self._grouped.overflows(text, metadata, step):  # one sample stays within its bound
            self._log_grouped_texts()
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

    def media(self, payload: Payload) -> None:
        """One image, audio clip or file from a chat message, logged once per experiment
        (the run tree keeps which): images with ``log_image`` (Comet's Images tab), audio
        with ``log_audio`` (which takes only a file path; an asset if the disk refused
        the file), anything else as an asset.
        The bytes are kept in the session folder too, for ``recover``."""
        metadata = {**payload.metadata, "bytes": len(payload.data)}
        path = self._disk(self.store.file, payload.name, payload.data)
        self._journal(
            {
                "kind": MEDIA,
                "media": payload.kind,
                "name": payload.name,
                "mime_type": payload.mime_type,
                "sha256": payload.sha256,
                "metadata": payload.metadata,
                "path": None if path is None else self.store.relative(path),
            }
        )
        if payload.kind == "image":
            self._comet("log_image", io.BytesIO(payload.data), name=payload.name, metadata=metadata)
        elif payload.kind == "audio" and path is not None:  # log_audio takes only a path
            self._comet("log_audio", str(path), file_name=payload.name, metadata=metadata)
        else:  # a file, or audio the disk refused to keep: an asset from memory
            self._comet(
                "log_asset", io.BytesIO(payload.data), file_name=payload.name, metadata=metadata
            )

    def run(self, record: dict[str, JSON]) -> None:
        self.store.ended(record.get("run_id"))
        self._disk(self.runs.append, record)

    def started(self, run_id: JSON, record: Callable[[], dict[str, JSON]]) -> None:
        """A run that started: what ``recover`` writes as ``incomplete`` if it never ends
        (made and on disk at the next sync if it is still open then)."""
        self.store.started(run_id, record)

    def row(self, row: dict[str, JSON]) -> None:
        self._disk(self.rows.append, row)

    def action(self, record: dict[str, JSON]) -> None:
        self._disk(self.actions.append, record)

    def tick(self) -> None:
        """Every worker tick: what waited over budget goes to comet_ml once a second (one
        grouped text sample, one point per metric), and what waits in memory to disk
        (and, once the experiment exists, what was kept while it was being created)."""
        if self._kept is not None:
            self._replayed_if_ready()
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

    def feedback(self, record: dict[str, JSON]) -> None:
        self._disk(self.feedbacks.append, record)

    # -- flush --------------------------------------------------------------------------

    def write_session(self, langchain_version: str) -> None:
        """Log everything spooled since the last flush, then start the spools afresh.

        Each part is tried even if another fails; what could not be logged is kept and
        tried again at the next flush, so a passing fault loses nothing.
        """
        self._settle()
        self._log_environment()
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
            (self.feedbacks, FEEDBACK, None),
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
        for name in (ACTION_RECORDS, RUN_TREE, FEEDBACK):
            path = assets.get(name)
            if path is not None:
                metadata = versions if name == ACTION_RECORDS else None
                self._comet("log_asset", str(path), file_name=name, metadata=metadata)

    def log_asset_file(self, path: Path, name: str) -> None:
        """An existing file as an asset (``recover``)."""
        self._comet("log_asset", str(path), file_name=name)

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

    def log_graph(self, structure: JSON, mermaid: str) -> None:
        """A LangGraph graph's nodes and edges (JSON) and its Mermaid text, as assets."""
        files: dict[str, JSON] = {}
        for name, text in ((GRAPH_JSON, dumps(structure, None)), (GRAPH_MERMAID, mermaid)):
            path = self._disk(self.store.file, name, text.encode("utf-8"))
            if path is not None:
                files[name] = self.store.relative(path)
                self._comet("log_asset", str(path), file_name=name)
        self._journal({"kind": GRAPH, "files": files})

    # -- lifecycle ----------------------------------------------------------------------

    def end(self) -> None:
        """End the experiment (offline: write the archive) and check what was written.

        Only a whole archive lets the session folder go: if comet_ml could not write it
        (a full disk leaves a truncated file that is not a zip), the folder stays for
        ``langchain-comet recover`` and one WARNING says where it is.
        """
        self._journal({"kind": END})
        self._disk(self.store.sync, force=True)
        self._settle()
        self._log_environment()
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
        if self._kept is not None:
            self._kept.close()
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
