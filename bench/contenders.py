"""The handlers compared, each behind the same make / flush / finish interface."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from bench import peers
from bench.workloads import Workload, config_for

PROBE_TIMEOUT_S = 90


class NoopHandler(BaseCallbackHandler):
    """Overrides nothing: LangChain still builds run managers and dispatches every event."""


@dataclass(frozen=True)
class Contender:
    """How to build a fresh handler in a directory, wait for its deferred work, and end it."""

    name: str
    make: Callable[[Path], Any]
    flush: Callable[[Any], None] = field(default=lambda handler: None)
    finish: Callable[[Any], None] = field(default=lambda handler: None)
    needs_textstat: str | None = None  # "ours" or "community": probe textstat first
    # Traces recorded so far (after finish): the archive's root runs, what the sink or
    # the local store received; None where the contender keeps nothing to count.
    traces: Callable[[Any, Path], int | None] = field(default=lambda handler, directory: None)
    peer: str | None = None  # "opik", "langfuse", "mlflow": needs its SDK (bench extra)


class OfflineRedirect:
    """Stands in for langchain-community's ``_get_experiment``: an OfflineExperiment instead.

    The community handler only knows online experiments; the directory is switched per block.
    """

    def __init__(self) -> None:
        self.directory: Path | None = None

    def __call__(self, workspace: str | None = None, project_name: str | None = None) -> Any:
        import comet_ml

        return comet_ml.OfflineExperiment(
            workspace=workspace,
            project_name=project_name,
            offline_directory=str(self.directory) if self.directory else None,
        )


REDIRECT = OfflineRedirect()


def install_community_redirect() -> None:
    """Patch the community module's experiment factory for the rest of this process."""
    from langchain_community.callbacks import comet_ml_callback

    comet_ml_callback._get_experiment = REDIRECT  # type: ignore[assignment]


def _make_ours(options: dict[str, Any], recorder: str | None = None) -> Callable[[Path], Any]:
    def make(directory: Path) -> Any:
        from langchain_comet import CometCallbackHandler
        from langchain_comet.recorder import ENV

        if recorder is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = recorder
        try:
            handler = CometCallbackHandler(
                online=False, offline_directory=str(directory), **options
            )
        finally:
            os.environ.pop(ENV, None)
        if recorder is not None:
            # Its start (a new interpreter's imports, the experiment's creation) is
            # construction, untimed for every contender: wait for it here.
            handler.experiment.id  # noqa: B018
        return handler

    return make


def _make_community(options: dict[str, Any]) -> Callable[[Path], Any]:
    def make(directory: Path) -> Any:
        from langchain_community.callbacks import CometCallbackHandler

        install_community_redirect()
        REDIRECT.directory = directory
        return CometCallbackHandler(**options)

    return make


def _flush_tracker(handler: Any) -> None:
    handler.flush_tracker()


def _finish_ours(handler: Any) -> None:
    handler.flush_tracker(finish=True)


def _finish_community(handler: Any) -> None:
    handler.experiment.end()


def _archive_traces(handler: Any, directory: Path) -> int:
    """Root runs in the offline archive the handler's experiment wrote when it ended."""
    from langchain_comet.archive import Archive

    archive = Archive(directory / f"{handler.experiment.id}.zip")
    return sum(1 for run in archive.runs() if run.get("parent_run_id") is None)


def ours(name: str = "ours", recorder: str | None = None, **options: Any) -> Contender:
    """Our handler with ``options``; ``recorder="process"``: its work in the recorder
    process (``LANGCHAIN_COMET_RECORDER``)."""
    textstat = "ours" if options.get("complexity_metrics") else None
    return Contender(
        name,
        _make_ours(options, recorder),
        _flush_tracker,
        _finish_ours,
        textstat,
        _archive_traces,
    )


def _sink_traces(key: str) -> Callable[[Any, Path], int]:
    def count(handler: Any, directory: Path) -> int:
        return int(peers.sink_counts()[key])

    return count


def peer_contenders() -> list[Contender]:
    """Opik, Langfuse and MLflow as ``bench/peers.py`` configures them."""
    return [
        Contender(
            "opik", peers.make_opik, peers.flush_opik,
            traces=_sink_traces("opik_traces"), peer="opik",
        ),
        Contender(
            "langfuse", peers.make_langfuse, peers.flush_langfuse,
            traces=_sink_traces("langfuse_traces"), peer="langfuse",
        ),
        Contender(
            "mlflow", peers.make_mlflow, peers.flush_mlflow,
            traces=lambda handler, directory: peers.mlflow_traces(handler), peer="mlflow",
        ),
    ]  # fmt: skip


def community(name: str = "community", **options: Any) -> Contender:
    textstat = "community" if options.get("complexity_metrics") else None
    return Contender(name, _make_community(options), _flush_tracker, _finish_community, textstat)


def all_contenders() -> list[Contender]:
    return [
        Contender("none", lambda directory: None),
        Contender("noop", lambda directory: NoopHandler()),
        ours(),
        ours("ours+complexity", complexity_metrics=True),
        # Issue #4: readability scores and spaCy visualizations on, still off the hot path.
        ours("ours+analysis", complexity_metrics=True, visualizations=["dep", "ent"]),
        ours("ours-nostream", stream_logs=False),
        # Issue #16: the deferred work in the recorder process, on the other core.
        ours("ours+recorder", recorder="process"),
        ours("ours+complexity+recorder", recorder="process", complexity_metrics=True),
        community(),
        community("community+complexity", complexity_metrics=True),
        *peer_contenders(),
    ]


def by_name(name: str) -> Contender:
    for contender in all_contenders():
        if contender.name == name:
            return contender
    raise KeyError(name)


def handler_failures(handler: Any) -> list[str]:
    """What our handler reported as its own failures (it never raises into the app)."""
    failures = getattr(handler, "_failures", None)
    kinds = getattr(failures, "kinds", None)
    return sorted(f"{where}: {kind}" for where, kind in kinds) if kinds else []


def textstat_unavailable(which: str) -> str | None:
    """Why textstat cannot score text offline for ``which`` handler, or None if it can.

    Run in a subprocess with a timeout: textstat may try to download NLTK data and hang.
    """
    command = [sys.executable, "-m", "bench.probe", which]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return f"textstat hung for more than {PROBE_TIMEOUT_S} s (offline NLTK data download?)"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    reason = next((line for line in reversed(lines) if line.startswith("PROBE-FAIL")), None)
    detail = reason.removeprefix("PROBE-FAIL ") if reason else (lines[-1] if lines else "?")
    return f"textstat fails offline: {detail}"


def warmed_up(contender: Contender, workload: Workload, calls: int, prefix: str) -> Any:
    """A fresh handler of ``contender`` in a new temporary directory, after ``calls`` calls
    of ``workload`` and a flush (imports, caches and the first experiment are behind it)."""
    handler = contender.make(Path(tempfile.mkdtemp(prefix=prefix)))
    config = config_for(handler)
    for i in range(calls):
        workload.call(i, config)
    contender.flush(handler)
    return handler
