"""``langchain-comet show``: the terminal summary of real archives, and bad input."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from langchain_comet import CometCallbackHandler, cli
from langchain_comet.archive import Archive

pytestmark = pytest.mark.integration


def show(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["show", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_show_summarises_the_demo(demo_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = Archive(demo_archive)
    runs = archive.runs()
    code, out, err = show(capsys, str(demo_archive.parent))  # a directory: its newest archive
    assert code == 0, err
    assert "langchain-comet demo" in out
    assert "langchain-comet-demo" in out  # the project
    assert str(demo_archive) in out
    roots = [run for run in runs if run["parent_run_id"] is None]
    assert f"Run tree: {len(roots)} traces" in out
    # Counts by event type come from the action records.
    starts = sum(1 for r in archive.action_records() if r["action"] == "on_chain_start")
    assert re.search(rf"on_chain_start\s+{starts}\b", out)
    # Token totals and the failing tool, highlighted with its error.
    total = sum(run["token_usage"]["total_tokens"] for run in runs if run["token_usage"])
    assert re.search(rf"total tokens\s+{total}\b", out)
    assert re.search(r"LLM latency p95\s+[\d.]+ (ms|s)", out)
    assert "✗ divide tool" in out
    assert "ZeroDivisionError: float division by zero" in out
    (failed,) = [run for run in runs if run["error"]]
    assert re.search(rf"divide\s+tool\s+ZeroDivisionError.*…{failed['trace_id'][-8:]}", out)
    # Every run of the tree is listed, with its timing.
    for run in runs:
        assert run["name"] in out
    assert re.search(r"✓ qa chain\s+[\d.]+ ms", out)


def test_show_bounds_the_run_tree(demo_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    roots = [run for run in Archive(demo_archive).runs() if run["parent_run_id"] is None]
    code, out, _ = show(capsys, str(demo_archive), "--traces", "2")
    assert code == 0
    assert f"… {len(roots) - 2} more traces" in out
    assert "✗ divide tool" not in out  # the last trace is not shown
    code, out, _ = show(capsys, str(demo_archive), "--traces", "2", "--all")
    assert "✗ divide tool" in out


def test_show_on_a_community_archive_says_there_is_no_run_tree(
    community_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = show(capsys, str(community_archive))
    assert code == 0, err
    assert "no run tree" in out
    assert "langchain_community" in out
    assert "community-project" in out and "legacy" in out
    assert re.search(r"on_llm_start\s+3\b", out)
    assert re.search(r"generations\s+3\b", out)


def _archive_without_messages(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("experiment.json", "{}")
    return path


def _truncated(source: Path, path: Path) -> Path:
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    return path


def _with_member(source: Path, path: Path, member: str, data: bytes) -> Path:
    """A copy of ``source`` whose ``member`` (a file inside the zip) holds ``data``."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for name in original.namelist():
            copy.writestr(name, data if name == member else original.read(name))
    return path


def _runs_member(source: Path) -> str:
    upload = next(u for u in Archive(source).uploads() if u.name == "langchain-runs.jsonl")
    with zipfile.ZipFile(source) as archive:
        for name in archive.namelist():
            if archive.read(name) == upload.data:
                return name
    raise AssertionError("no run tree file in the demo archive")


BAD_INPUTS = {
    "missing file": (lambda tmp, demo: tmp / "nope.zip", "no such file"),
    "empty directory": (lambda tmp, demo: tmp, "no Comet offline archive"),
    "not a zip": (
        lambda tmp, demo: (tmp / "a.zip").write_text("hello") and tmp / "a.zip",
        "not a readable zip",
    ),
    # Half a zip: its end record is gone (or an inner file's is found instead).
    "truncated": (
        lambda tmp, demo: _truncated(demo, tmp / "t.zip"),
        ("not a readable zip", "not a Comet offline archive"),
    ),
    "not comet": (
        lambda tmp, demo: _archive_without_messages(tmp / "x.zip"),
        "not a Comet offline archive",
    ),
    "corrupt messages": (
        lambda tmp, demo: _with_member(demo, tmp / "m.zip", "messages.json", b"{oops\n"),
        "corrupt Comet offline archive",
    ),
    "messages of the wrong shape": (
        lambda tmp, demo: _with_member(demo, tmp / "s.zip", "messages.json", b"[1, 2]\n"),
        "corrupt Comet offline archive",
    ),
    "corrupt run tree": (
        lambda tmp, demo: _with_member(demo, tmp / "r.zip", _runs_member(demo), b'{"run_id": '),
        "corrupt records in the archive",
    ),
}


@pytest.mark.parametrize("command", ["show", "report"])
def test_a_directory_a_process_is_logging_into_shows_its_newest_complete_archive(
    command: str, tmp_path: Path, demo_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "comet"
    directory.mkdir()
    shutil.copy(demo_archive, directory / demo_archive.name)
    os.utime(directory / demo_archive.name, (1e9, 1e9))  # older than the live one's
    # A live handler: comet_ml has put an empty zip there under its experiment's name.
    live = CometCallbackHandler(offline_directory=str(directory), online=False)
    try:
        (placeholder,) = [p for p in directory.glob("*.zip") if p.name != demo_archive.name]
        assert placeholder.stat().st_mtime > (directory / demo_archive.name).stat().st_mtime
        output = tmp_path / "report.html"
        extra = ["-o", str(output)] if command == "report" else []
        assert cli.main([command, str(directory), *extra]) == 0, capsys.readouterr().err
        if command == "show":
            assert "langchain-comet demo" in capsys.readouterr().out  # the demo's experiment
        else:
            assert demo_archive.stem in output.read_text()
        # With only the live one there, the message says what it is.
        (directory / demo_archive.name).unlink()
        assert cli.main([command, str(directory), *extra]) == 2
        err = capsys.readouterr().err
        assert "still being written by a live process" in err
        assert f"langchain-comet recover {directory}" in err
    finally:
        live.flush_tracker(finish=True)


@pytest.mark.parametrize("command", ["show", "report"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(
    command: str,
    case: str,
    tmp_path: Path,
    demo_archive: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path, demo_archive)
    output = tmp_path / "out" / "report.html"
    code = cli.main([command, str(path), *(["-o", str(output)] if command == "report" else [])])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"langchain-comet {command}: ")
    alternatives = expected if isinstance(expected, tuple) else (expected,)
    assert any(text in captured.err for text in alternatives)
    assert not output.exists()


def test_console_script_bad_input_has_no_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "langchain-comet"
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"PK\x03\x04 truncated")
    result = subprocess.run(
        [str(script), "show", str(bogus)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"langchain-comet show: {bogus}: not a readable zip archive (File is not a zip file)"
    ]


def test_the_cli_says_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"langchain-comet {version('langchain-comet')}"


def test_report_writes_into_a_directory_it_makes(
    tmp_path: Path, demo_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "reports" / "today" / "report.html"  # neither folder exists yet
    assert cli.main(["report", str(demo_archive), "-o", str(output)]) == 0, capsys.readouterr()
    assert output.stat().st_size > 0


def test_recover_given_a_file_says_it_takes_a_directory(
    demo_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["recover", str(demo_archive)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"langchain-comet recover: {demo_archive}: not a directory;")
    assert err.count("\n") == 1
