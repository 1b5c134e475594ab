"""The session's files under the offline directory: what a hard kill leaves for ``recover``.

comet_ml writes an offline archive only when its experiment ends, and keeps what it was
given until then in a temporary directory (gone with a container) or in memory (online).
A process killed with SIGKILL, or by the OOM killer, would lose everything. So every
record the handler makes is also written here, in the offline directory, within about a
second (:data:`SYNC_INTERVAL` plus the worker's :data:`~langchain_comet.worker.MAX_DELAY`):
the run tree, session rows and action records as the spools that become their assets, and
every other record (texts, metrics, visualizations, the model, each flush) as one line of
``journal.jsonl``. ``langchain-comet recover`` replays a dead session's folder into a
valid archive (``recover.py``); a session that ends normally removes its folder.

A live session holds an exclusive ``flock`` on its ``lock`` file for its whole life: the
kernel releases it when the process dies however it dies, so "is anyone alive here" is
one non-blocking lock attempt, right across processes, PID namespaces and containers
sharing a volume. A folder is only ever created whole and locked (made under a temporary
name, then renamed), so ``recover`` never sees a half-made live session as dead.

Everything here runs on the worker thread, except :func:`orphaned_sessions` (at
construction) and the fork hook.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from typing import Any

from langchain_comet.bounds import bounded_line
from langchain_comet.serialize import JSON, dumps

# The folder, inside the offline directory, that holds one folder per live or dead session.
SESSIONS_DIR = ".langchain-comet"
MANIFEST = "session.json"
LOCK = "lock"
JOURNAL = "journal.jsonl"
FILES = "files"
# Every run that started and had not ended by a sync: ``recover`` writes those that never
# end as incomplete.
OPEN_RUNS_SPOOL = "open-runs.jsonl"
FORMAT = 1
# Records waiting in memory are written at least this often (and when a chunk fills).
SYNC_INTERVAL = 0.25
SPOOL_BUFFER = 1 << 20


def _not_json(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


# json's C encoder, built once: JSONEncoder.encode builds it anew on every call, which
# costs more than encoding a record. Compact, UTF-8 text, NaN refused; no cycle check,
# which records made of to_json output never need (a cycle still fails, and is caught).
# Used where orjson is not installed (it is wherever LangChain's langsmith is, on CPython).
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


def _json_line_stdlib(record: dict[str, JSON]) -> bytes:
    text = _PY_ENCODER.encode(record) if _encode is None else "".join(_encode(record, 0))
    return (text + "\n").encode("utf-8")


def _orjson_line(record: dict[str, JSON]) -> bytes:
    return _orjson.dumps(record, option=_orjson.OPT_APPEND_NEWLINE)


try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - CPython wheels exist for every supported version
    _fast_line = _json_line_stdlib
else:
    # The same compact, UTF-8 line as json's C encoder, about 8 times faster: records are
    # the bulk of the worker's encoding (~9 KB a 3-step chain call). It writes a
    # non-finite float as null where json refuses it; records carry none (every value
    # from the application goes through to_json, which spells them "NaN"/"Infinity",
    # and metrics drop them), and it refuses what json refuses otherwise.
    _fast_line = _orjson_line


def json_line(record: dict[str, JSON]) -> bytes:
    """One strict JSON line, UTF-8. Records are built from ``to_json`` output, so the fast
    encoder nearly always suffices; anything it rejects (a lone surrogate in a name, an
    integer past 64 bits, a key that is not a string) goes through the full converter
    instead of being lost."""
    try:
        return _fast_line(record)
    except (TypeError, ValueError, RecursionError):
        return (dumps(record, None, None) + "\n").encode("utf-8")


class Spool:
    """Records waiting on disk, not in RAM, already in the form of the asset they become.

    ``take`` hands over the finished file (to be logged as is, no copy) and the next
    record starts a new one: a JSON-lines file, or with ``array`` a JSON array.

    Records are written in chunks of about ``SPOOL_BUFFER`` bytes, one system call each
    (a call costs as much as encoding ~50 records), and whenever :meth:`sync` is called
    (the store does, every :data:`SYNC_INTERVAL`). A chunk the disk refuses (full) is cut
    off again, so the file always ends with a whole record and parses; the records it
    carried are lost and the ``OSError`` is raised for the caller to report. A ``take``
    that fails keeps the file, to be completed and handed over by the next one.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        array: bool = False,
        fallback: Callable[[], Path] | None = None,
    ) -> None:
        self._directory = directory
        # Where to go if ``directory`` disappears (someone removed the offline directory).
        self._fallback = fallback
        self._name = name
        self._array = array
        self._files = 0
        self.count = 0  # records in the current file, written or pending
        self.path: Path | None = None
        self._file: FileIO | None = None
        self._size = 0  # bytes on disk, all of them whole records
        # The records waiting, as the bytes they become (an array's separators included):
        # one buffer, not a list of lines, so each line's own allocation is freed at once
        # (orjson's lines, kept by the thousand, left the heap ~40 MB larger).
        self._pending = bytearray()
        self._pending_count = 0

    def append(self, record: dict[str, JSON]) -> None:
        line = bounded_line(record, json_line)
        if self._file is None:
            self._open()
        if self._array and self._pending_count:
            self._pending += b",\n"
        self._pending += line
        self._pending_count += 1
        self.count += 1
        if len(self._pending) >= SPOOL_BUFFER:
            self._write()

    def sync(self) -> None:
        """Write what waits in memory (the array stays open)."""
        if self._pending:
            self._write()

    def _open(self) -> None:
        try:
            self._file, path = self._create()
        except (FileNotFoundError, NotADirectoryError, FileExistsError):
            # The directory was removed or replaced by a file (mkdir's FileExistsError),
            # even between the spool's folder and its file.
            if self._fallback is None:
                raise
            self._directory = self._fallback()
            self._file, path = self._create()
        self.path, self._size = path, 0

    def _create(self) -> tuple[FileIO, Path]:
        path = self._new_folder() / self._name
        # Readable too: if the folder is removed under it, take() rescues what it holds.
        return path.open("w+b", buffering=0), path

    def _new_folder(self) -> Path:
        self._files += 1
        # Recreated if a cleaner removed it; private: records hold prompts.
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = self._directory / f"{self._name}-{self._files}"
        while folder.exists():  # a folder left by an earlier spool of the same name
            self._files += 1
            folder = self._directory / f"{self._name}-{self._files}"
        folder.mkdir()
        return folder

    def _write(self, *, closing: bool = False) -> None:
        """Write the pending records (and, ``closing``, an array's end) at the end of the file."""
        assert self._file is not None
        data, records = self._pending, self._pending_count
        if self._array:
            if records:
                data[:0] = b"[\n" if self._size == 0 else b",\n"
            if closing:
                data += b"]\n" if self._size or records else b"[]\n"
        self._pending, self._pending_count = bytearray(), 0
        try:
            view = memoryview(data)
            while view:
                view = view[self._file.write(view) :]
        except OSError:
            self.count -= records
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
            if path is not None and not path.exists() and self._fallback is not None:
                path = self._rescue()
        else:  # every record it had was lost to the disk: nothing to hand over
            path = None
        self.drop()
        return path

    def _rescue(self) -> Path:
        """The file, copied from the open handle into the fallback directory: its folder
        was removed while it was being written."""
        assert self._file is not None and self._fallback is not None
        self._directory = self._fallback()
        target = self._new_folder() / self._name
        with target.open("wb") as copy:
            offset = 0
            while offset < self._size:
                chunk = os.pread(
                    self._file.fileno(), min(SPOOL_BUFFER, self._size - offset), offset
                )
                if not chunk:
                    break
                copy.write(chunk)
                offset += len(chunk)
        return target

    def drop(self) -> None:
        """Forget the current file and its pending records; later records go to a new one."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        self.path, self._file, self.count, self._size = None, None, 0, 0
        self._pending, self._pending_count = bytearray(), 0

    def lines(self) -> Iterator[str]:
        """The records of the current file (JSON lines only), for building a table."""
        if self.path is None:
            return
        with self.path.open("rb") as file:
            written = file.read(self._size).split(b"\n")
        for line in (*written, *bytes(self._pending).split(b"\n")):
            if line.strip():
                yield line.decode("utf-8").rstrip("\n")


@dataclass(slots=True)
class Manifest:
    """Who a session folder belongs to and what its archive is to be (``session.json``)."""

    experiment_id: str | None
    online: bool
    archive_directory: str
    project_name: str | None
    workspace: str | None
    tags: list[str]
    name: str | None
    others: dict[str, str]
    pid: int
    host: str
    created: float
    comet_tmpdir: str | None = None
    format: int = FORMAT

    def to_json(self) -> dict[str, JSON]:
        return {
            "format": self.format,
            "experiment_id": self.experiment_id,
            "online": self.online,
            "archive_directory": self.archive_directory,
            "project_name": self.project_name,
            "workspace": self.workspace,
            "tags": list(self.tags),
            "name": self.name,
            "others": dict(self.others),
            "pid": self.pid,
            "host": self.host,
            "created": self.created,
            "comet_tmpdir": self.comet_tmpdir,
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a langchain-comet session manifest of a known format")
        return cls(
            experiment_id=_optional_str(data.get("experiment_id")),
            online=bool(data.get("online")),
            archive_directory=str(data["archive_directory"]),
            project_name=_optional_str(data.get("project_name")),
            workspace=_optional_str(data.get("workspace")),
            tags=[str(tag) for tag in data.get("tags") or []],
            name=_optional_str(data.get("name")),
            others={str(k): str(v) for k, v in (data.get("others") or {}).items()},
            pid=int(data.get("pid") or 0),
            host=str(data.get("host") or ""),
            created=float(data.get("created") or 0.0),
            comet_tmpdir=_optional_str(data.get("comet_tmpdir")),
        )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def sessions_root(archive_directory: Path) -> Path:
    return archive_directory / SESSIONS_DIR


def new_manifest(
    *,
    experiment_id: str | None,
    online: bool,
    archive_directory: Path,
    project_name: str | None,
    workspace: str | None,
    tags: list[str] | None,
    name: str | None,
    others: dict[str, str],
    comet_tmpdir: str | None,
) -> Manifest:
    return Manifest(
        experiment_id=experiment_id,
        online=online,
        archive_directory=str(archive_directory),
        project_name=project_name,
        workspace=workspace,
        tags=list(tags or []),
        name=name,
        others=dict(others),
        pid=os.getpid(),
        host=socket.gethostname(),
        created=time.time(),
        comet_tmpdir=comet_tmpdir,
    )


class SessionStore:
    """One session's folder: the manifest, the lock, the journal and the spools' files."""

    def __init__(
        self, path: Path, lock_fd: int | None, manifest: Manifest, *, journaled: bool = True
    ) -> None:
        self.path = path
        self._journaled = journaled
        # Told once if the folder disappears and records move to a temporary one.
        self.report: Callable[[str, BaseException], None] | None = None
        self._moved_to: Path | None = None
        self._lock_fd = lock_fd
        self.manifest = manifest
        self._journal: FileIO | None = None
        self._pending = bytearray()  # journal lines waiting (one buffer: see Spool)
        self._size = 0
        self._spools: list[Spool] = []
        # Runs started since the last sync, by run id, each with what makes its record:
        # made and written at the sync only if still open (most runs end within
        # milliseconds, and never cost a record or a line).
        self._starting: dict[JSON, Callable[[], dict[str, JSON]]] = {}
        self._open_runs: Spool | None = None
        self._files = 0
        self._last_sync = time.monotonic()
        self.closed = False

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def create(cls, manifest: Manifest) -> SessionStore:
        """A new, locked session folder under the manifest's archive directory.

        Made under a temporary name and renamed once locked and described, so a
        concurrent ``recover`` never takes a session that is being born for a dead one.
        """
        root = sessions_root(Path(manifest.archive_directory))
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = uuid.uuid4().hex
        building = root / f".new-{key}"
        building.mkdir(mode=0o700)
        fd: int | None = None
        try:
            fd = os.open(building / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_json(building / MANIFEST, manifest.to_json())
            path = root / key
            building.rename(path)
        except BaseException:
            if fd is not None:
                os.close(fd)
            shutil.rmtree(building, ignore_errors=True)
            raise
        return cls(path, fd, manifest)

    @classmethod
    def temporary(cls, manifest: Manifest, *, journaled: bool = True) -> SessionStore:
        """A store in a new temporary directory, when the offline directory cannot hold one:
        records still wait on disk, but a hard kill loses them (the caller warns). Without
        ``journaled`` (replaying a dead session), only its spools and files are kept."""
        path = Path(tempfile.mkdtemp(prefix="langchain-comet-"))
        return cls(path, None, manifest, journaled=journaled)

    @property
    def durable(self) -> bool:
        return self._lock_fd is not None

    # -- writing -----------------------------------------------------------------------

    def spool(self, name: str, *, array: bool = False) -> Spool:
        spool = Spool(self.path, name, array=array, fallback=self._fallback)
        self._spools.append(spool)
        return spool

    def _fallback(self) -> Path:
        """A temporary folder for records whose session folder was removed under them."""
        if self._moved_to is None:
            self._moved_to = Path(tempfile.mkdtemp(prefix="langchain-comet-"))
            if self.report is not None:
                self.report(
                    "keeping the records on disk",
                    FileNotFoundError(
                        f"the session folder {self.path} was removed; records are kept in "
                        f"{self._moved_to} instead until the experiment ends (a hard kill "
                        "would lose them)"
                    ),
                )
        return self._moved_to

    def started(self, run_id: JSON, record: Callable[[], dict[str, JSON]]) -> None:
        """A run that started; ``record()`` makes its ids, type, name, start time."""
        self._starting[run_id] = record

    def ended(self, run_id: JSON) -> None:
        """A run that ended: unless a sync already wrote its start, it never will."""
        self._starting.pop(run_id, None)

    def _write_starting(self) -> None:
        starting, self._starting = self._starting, {}
        if not starting:
            return
        if self._open_runs is None:
            self._open_runs = self.spool(OPEN_RUNS_SPOOL)
        for record in starting.values():
            self._open_runs.append(record())

    def journal(self, record: dict[str, JSON]) -> None:
        """Append one record to ``journal.jsonl`` (written by the next :meth:`sync`)."""
        if not self._journaled:
            return
        self._pending += json_line(record)
        if len(self._pending) >= SPOOL_BUFFER:
            self._write_journal()

    def file(self, name: str, data: bytes) -> Path:
        """A new file under ``files/`` holding ``data`` (an asset comet_ml reads later)."""
        self._files += 1
        folder = self.path / FILES / str(self._files)
        folder.mkdir(mode=0o700, parents=True)
        target = folder / name
        target.write_bytes(data)
        return target

    def relative(self, path: Path) -> str:
        """``path`` as the journal names it: relative to the session folder when inside it."""
        try:
            return str(path.relative_to(self.path))
        except ValueError:
            return str(path)

    def sync(self, *, force: bool = False) -> None:
        """Write everything waiting in memory, at most every :data:`SYNC_INTERVAL`.

        Raises the ``OSError`` of a disk that refuses it, after trying every file.
        """
        now = time.monotonic()
        if not force and now - self._last_sync < SYNC_INTERVAL:
            return
        self._last_sync = now
        errors: list[OSError] = []
        try:
            self._write_starting()
        except OSError as exc:
            errors.append(exc)
        for spool in self._spools:
            try:
                spool.sync()
            except OSError as exc:
                errors.append(exc)
        try:
            self._write_journal()
        except OSError as exc:
            errors.append(exc)
        if errors:
            raise errors[0]

    def _write_journal(self) -> None:
        if not self._pending:
            return
        data, self._pending = self._pending, bytearray()
        if self._journal is None:
            try:
                self._journal = (self.path / JOURNAL).open("ab", buffering=0)
            except (FileNotFoundError, NotADirectoryError):  # the folder was removed
                self._journal = (self._fallback() / JOURNAL).open("ab", buffering=0)
            self._size = self._journal.seek(0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[self._journal.write(view) :]
        except OSError:
            with contextlib.suppress(OSError):  # back to the last whole line
                self._journal.truncate(self._size)
                self._journal.seek(self._size)
            raise
        self._size += len(data)

    def update_manifest(self, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self.manifest, key, value)
        _write_json(self.path / MANIFEST, self.manifest.to_json())

    # -- the end -----------------------------------------------------------------------

    def close(self, *, remove: bool) -> None:
        """Release the lock; with ``remove``, delete the folder (the archive is whole)."""
        if self.closed:
            return
        self.closed = True
        for spool in self._spools:
            spool.drop()
        if self._journal is not None:
            with contextlib.suppress(OSError):
                self._journal.close()
        if remove:
            shutil.rmtree(self.path, ignore_errors=True)
            if self._moved_to is not None:
                shutil.rmtree(self._moved_to, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def forget_after_fork(self) -> None:
        """In a forked child: this folder is the parent's. Close the child's copy of the
        lock (the parent's copy keeps it held) and never write or delete anything here."""
        self.closed = True
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
        self._pending = bytearray()
        self._starting = {}
        for spool in self._spools:
            spool.drop()  # closes only the child's copies of the files


def _write_json(path: Path, data: dict[str, JSON]) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)


# -- finding sessions -------------------------------------------------------------------


@contextlib.contextmanager
def claim(path: Path) -> Iterator[bool]:
    """Whether the session at ``path`` is dead; while the block runs, it is ours.

    The lock attempt is the liveness check: a live session holds the lock.
    """
    try:
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def session_folders(archive_directory: Path) -> list[Path]:
    """Every complete session folder (live or dead) under an archive directory."""
    root = sessions_root(archive_directory)
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.is_dir() and not p.name.startswith(".")]


def orphaned_sessions(archive_directory: Path) -> list[Path]:
    """The session folders whose process is gone (their lock is free)."""
    orphans = []
    for folder in session_folders(archive_directory):
        with claim(folder) as dead:
            if dead:
                orphans.append(folder)
    return orphans
