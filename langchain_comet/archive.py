"""Reading the offline archives that comet_ml writes (``<experiment id>.zip``).

An archive holds ``experiment.json`` (project, tags, times), ``messages.json`` (one JSON
message per line: metrics, parameters, others, and one ``file_upload`` per asset, text
sample or table) and the uploaded files themselves. This is what the CLI shows and what
the tests assert on: the real thing comet_ml wrote, not what we meant to write.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_comet.sink import (
    ACTION_RECORDS,
    FEEDBACK,
    GRAPH_JSON,
    GRAPH_MERMAID,
    RUN_TREE,
    SESSION_TABLE,
)


class ArchiveError(Exception):
    """The path is not a readable comet_ml offline archive; the message says why."""


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: an asset, a text sample, a table or a model file."""

    name: str
    upload_type: str
    metadata: dict[str, Any]
    step: int | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    step: int | None


def newest_archive(directory: Path) -> Path:
    """The most recently written complete archive in ``directory``.

    A process that is logging (or was killed) has an empty zip there under its experiment's
    name until its end, which is newer than every complete one: it is passed over.
    """
    archives = sorted(directory.glob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not archives:
        raise ArchiveError(f"{directory}: no Comet offline archive (*.zip) in this directory")
    for path in archives:
        if _is_complete(path):
            return path
    raise ArchiveError(
        f"{directory}: no complete Comet offline archive: {len(archives)} .zip file(s) without "
        "messages.json, still being written by a live process (or left by one that was "
        f"killed: langchain-comet recover {directory})"
    )


def _is_complete(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "messages.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


class Archive:
    """A parsed offline archive, read whole into memory at open."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir():
            path = newest_archive(path)
        if not path.exists():
            raise ArchiveError(f"{path}: no such file")
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                self._files = {name: archive.read(name) for name in archive.namelist()}
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveError(f"{path}: not a readable zip archive ({exc})") from exc
        if "messages.json" not in self._files:
            raise ArchiveError(f"{path}: not a Comet offline archive (no messages.json)")
        try:
            self.experiment: dict[str, Any] = json.loads(self._files.get("experiment.json", b"{}"))
            self.messages: list[dict[str, Any]] = [
                json.loads(line)
                for line in self._files["messages.json"].decode("utf-8").split("\n")
                if line.strip()
            ]
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"{path}: corrupt Comet offline archive ({exc})") from exc
        if not isinstance(self.experiment, dict) or not all(
            isinstance(message, dict) for message in self.messages
        ):
            raise ArchiveError(f"{path}: corrupt Comet offline archive (unexpected JSON shapes)")

    # -- experiment-level ---------------------------------------------------------------

    @property
    def experiment_id(self) -> str:
        return str(self.experiment.get("offline_id") or self.path.stem)

    @property
    def project_name(self) -> str | None:
        return self.experiment.get("project_name")

    @property
    def tags(self) -> list[str]:
        return list(self.experiment.get("tags") or [])

    @property
    def name(self) -> str | None:
        value = self.others().get("Name")
        return str(value) if value is not None else None

    def _payloads(self, kind: str) -> Iterator[dict[str, Any]]:
        for message in self.messages:
            payload = message.get("payload")
            if message.get("type") == kind and isinstance(payload, dict):
                yield payload

    def others(self) -> dict[str, Any]:
        return {p["key"]: p.get("value") for p in self._payloads("log_other") if "key" in p}

    def parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for payload in self._payloads("parameter_msg"):
            param = payload.get("param") or payload.get("params") or {}
            if param.get("source") != "auto-logged" and "paramName" in param:
                params[str(param["paramName"])] = param.get("paramValue")
        return params

    def metrics(self, name: str | None = None) -> list[Metric]:
        found = []
        for payload in self._payloads("metric_msg"):
            metric = payload.get("metric") or {}
            if name is None or metric.get("metricName") == name:
                found.append(
                    Metric(metric["metricName"], metric["metricValue"], metric.get("step"))
                )
        return found

    # -- uploads ------------------------------------------------------------------------

    def uploads(self, upload_type: str | None = None) -> list[Upload]:
        found = []
        for payload in self._payloads("file_upload"):
            kind = payload.get("upload_type", "")
            if upload_type is not None and kind != upload_type:
                continue
            params = payload.get("additional_params") or {}
            data = self._files.get(payload.get("file_path", ""))
            if data is None:
                raise ArchiveError(f"{self.path}: file {payload.get('file_path')} is missing")
            found.append(
                Upload(
                    # comet_ml names an image (log_image) by figName, any other upload by fileName.
                    name=params.get("fileName") or params.get("figName") or "",
                    upload_type=kind,
                    metadata=payload.get("metadata") or {},
                    step=params.get("step"),
                    data=data,
                )
            )
        return found

    def assets(self, name: str) -> list[Upload]:
        """Every upload named ``name``, in the order logged (one per flush)."""
        return [u for u in self.uploads() if u.name == name]

    def texts(self) -> list[Upload]:
        return self.uploads("text-sample")

    def runs(self) -> list[dict[str, Any]]:
        """The run tree: every record of every ``langchain-runs.jsonl`` flushed.

        Lines end at "\\n" only: ``str.splitlines`` would also split at a U+2028 or
        U+0085, which JSON keeps unescaped inside strings.
        """
        return [
            json.loads(line)
            for upload in self.assets(RUN_TREE)
            for line in upload.text.split("\n")
            if line.strip()
        ]

    def feedback(self) -> list[dict[str, Any]]:
        """Every ``log_feedback`` line of every ``langchain-feedback.jsonl`` flushed."""
        return [
            json.loads(line)
            for upload in self.assets(FEEDBACK)
            for line in upload.text.split("\n")
            if line.strip()
        ]

    def graph(self) -> tuple[dict[str, Any], str] | None:
        """The last LangGraph graph logged with ``flush_tracker``: its nodes and edges, and
        its Mermaid text; None if none was."""
        structures = self.assets(GRAPH_JSON)
        if not structures:
            return None
        mermaid = self.assets(GRAPH_MERMAID)
        return json.loads(structures[-1].data), mermaid[-1].text if mermaid else ""

    def action_records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for upload in self.assets(ACTION_RECORDS):
            records.extend(json.loads(upload.data))
        return records

    def session_table(self) -> Any:
        """Every session table flushed, concatenated, as a pandas DataFrame."""
        import pandas as pd

        frames = [pd.read_csv(io.BytesIO(u.data)) for u in self.assets(SESSION_TABLE)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
