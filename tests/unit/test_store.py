"""Session folders: locked while their process lives, found by ``recover`` once it is gone."""

from __future__ import annotations

import json
import subprocess
import sys

from langchain_comet.store import (
    MANIFEST,
    SESSIONS_DIR,
    SessionStore,
    claim,
    new_manifest,
    orphaned_sessions,
    session_folders,
)


def manifest(directory):
    return new_manifest(
        experiment_id="abc",
        online=False,
        archive_directory=directory,
        project_name="p",
        workspace=None,
        tags=["t"],
        name="n",
        others={"Created from": "langchain"},
        comet_tmpdir=None,
    )


def test_a_live_session_is_never_taken_for_a_dead_one(tmp_path):
    store = SessionStore.create(manifest(tmp_path))
    assert session_folders(tmp_path) == [store.path]
    assert orphaned_sessions(tmp_path) == []
    with claim(store.path) as dead:
        assert not dead
    store.close(remove=False)  # the lock goes, as it does when the process dies
    assert orphaned_sessions(tmp_path) == [store.path]
    with claim(store.path) as dead:
        assert dead
        with claim(store.path) as again:  # while recovering, it is taken
            assert not again


def test_the_lock_of_a_process_that_was_killed_is_free(tmp_path):
    script = (
        "import sys, os, signal\n"
        "from pathlib import Path\n"
        "from tests.unit.test_store import manifest\n"
        "from langchain_comet.store import SessionStore\n"
        "store = SessionStore.create(manifest(Path(sys.argv[1])))\n"
        "print(store.path, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    folder = tmp_path / SESSIONS_DIR / done.stdout.strip().rsplit("/", 1)[-1]
    assert folder.is_dir()
    assert orphaned_sessions(tmp_path) == [folder]
    assert json.loads((folder / MANIFEST).read_text())["experiment_id"] == "abc"


def test_a_folder_being_made_is_not_a_session(tmp_path):
    (tmp_path / SESSIONS_DIR / ".new-0123").mkdir(parents=True)
    assert session_folders(tmp_path) == []
    assert orphaned_sessions(tmp_path) == []


def test_the_journal_reaches_the_disk_at_sync_and_a_spool_keeps_whole_records(tmp_path):
    store = SessionStore.create(manifest(tmp_path))
    spool = store.spool("runs.jsonl")
    store.journal({"kind": "text", "text": "hello"})
    spool.append({"run_id": "1"})
    assert not (store.path / "journal.jsonl").exists()
    store.sync(force=True)
    assert (store.path / "journal.jsonl").read_text() == '{"kind":"text","text":"hello"}\n'
    assert spool.path is not None and spool.path.read_text() == '{"run_id":"1"}\n'
    store.close(remove=True)
    assert not store.path.exists()
