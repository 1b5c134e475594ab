"""A full disk never loses silently: when the archive cannot be written whole, the session
stays on disk for ``langchain-comet recover``, and one WARNING says where it is.

Shown on a real full filesystem (a small tmpfs, mounted by the test where it runs as
root) and, everywhere, with the same failure injected into comet_ml's archive writer.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from comet_ml import offline
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive
from langchain_comet.cli import main
from langchain_comet.sink import is_whole_archive
from langchain_comet.store import SESSIONS_DIR
from tests.comet_upload import comet_upload_accepts

pytestmark = pytest.mark.integration

TRACES = 2_000


def log_traces(handler: CometCallbackHandler, n: int = TRACES) -> None:
    chain = (
        PromptTemplate.from_template("question {i}: " + "context " * 10)
        | FakeListLLM(responses=["an answer " * 10])
        | StrOutputParser()
    )
    chain.batch([{"i": i} for i in range(n)], config={"callbacks": [handler]})


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("langchain_comet")
    ]


def assert_recovered_whole(directory: Path, experiment_id: str) -> None:
    """``recover`` writes the archive the full disk refused, with every trace."""
    assert main(["recover", str(directory)]) == 0
    path = directory / f"{experiment_id}.zip"
    assert is_whole_archive(path)
    comet_upload_accepts(path)
    roots = [r for r in Archive(path).runs() if r["parent_run_id"] is None]
    assert sorted(r["inputs"]["i"] for r in roots) == list(range(TRACES))
    assert list((directory / SESSIONS_DIR).iterdir()) == []


# -- a real full filesystem --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB tmpfs; skipped (with the reason) where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root (CI runs as root)")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], timeout=30, check=False)


def fill(directory: Path) -> None:
    with (directory / "filler").open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 16))
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_an_archive_that_does_not_fit_on_a_full_disk_is_kept_for_recover(small_disk, caplog):
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(offline_directory=str(small_disk), online=False)
        experiment_id = handler.experiment.id
        log_traces(handler)
        handler.flush_tracker()  # every record is on disk now
        fill(small_disk)
        handler.flush_tracker(finish=True)

    (archive_warning,) = [w for w in warnings_of(caplog) if "is not a whole archive" in w]
    (folder,) = (small_disk / SESSIONS_DIR).iterdir()
    assert str(folder) in archive_warning
    assert f"langchain-comet recover {small_disk}" in archive_warning
    assert not is_whole_archive(small_disk / f"{experiment_id}.zip")

    (small_disk / "filler").unlink()  # room again
    assert_recovered_whole(small_disk, experiment_id)


# -- the same failure, injected ----------------------------------------------------------


@pytest.fixture
def archive_writer_fails(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """comet_ml's archive writer meets a full disk: it leaves a truncated file."""

    def truncated(offline_directory: str, offline_archive_file_name: str, **_: Any) -> Any:
        Path(offline_directory, offline_archive_file_name).write_bytes(b"PK\x03\x04 cut")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(offline, "create_experiment_archive", truncated)
    yield
    monkeypatch.undo()


def test_an_archive_comet_ml_could_not_write_whole_is_kept_for_recover(
    offline_dir, archive_writer_fails, caplog, monkeypatch
):
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(offline_directory=str(offline_dir), online=False)
        experiment_id = handler.experiment.id
        log_traces(handler)
        handler.flush_tracker(finish=True)

    (warning,) = warnings_of(caplog)
    (folder,) = (offline_dir / SESSIONS_DIR).iterdir()
    assert f"{offline_dir / experiment_id}.zip is not a whole archive" in warning
    assert str(folder) in warning and f"langchain-comet recover {offline_dir}" in warning

    monkeypatch.undo()  # the disk has room again
    assert_recovered_whole(offline_dir, experiment_id)
