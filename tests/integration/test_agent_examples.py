"""``examples/human_in_the_loop.py`` and ``examples/feedback.py``, run as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from langchain_comet.archive import Archive

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, guarded_env: dict[str, str], directory: Path) -> Archive:
    """Run one example in a fresh interpreter; its last line names the archive it wrote."""
    env = dict(guarded_env, COMET_OFFLINE_DIRECTORY=str(directory))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("archive: "), done.stdout
    path = Path(last.removeprefix("archive: "))
    assert path.parent == directory and path.exists()
    return Archive(path)


def test_human_in_the_loop_example(guarded_env: dict[str, str], tmp_path: Path) -> None:
    archive = run_example("human_in_the_loop.py", guarded_env, tmp_path)
    runs = archive.runs()
    assert len({run["trace_id"] for run in runs}) == 1
    roots = sorted((r for r in runs if r["parent_run_id"] is None), key=lambda r: r["start_time"])
    assert [root["status"] for root in roots] == ["interrupted", "success"]
    assert roots[1]["resumed_from"] == roots[0]["trace_id"]
    assert roots[0]["interrupt"]["values"] == [{"question": "Refund 12.5 on order A-7?"}]
    assert {run["user_id"] for run in runs} == {"customer-7"}
    assert not [run for run in runs if run["status"] == "error"]
    assert archive.graph() is not None


def test_feedback_example(guarded_env: dict[str, str], tmp_path: Path) -> None:
    archive = run_example("feedback.py", guarded_env, tmp_path)
    roots = [run for run in archive.runs() if run["parent_run_id"] is None]
    feedback = archive.feedback()
    assert {f["trace_id"] for f in feedback} == {root["trace_id"] for root in roots}
    assert len(feedback) == 7
    by_name = {m.name: m.value for m in archive.metrics() if m.name.startswith("session_")}
    assert by_name["session_users"] == 2 and by_name["session_sessions"] == 2
    assert by_name["session_feedback_thumbs_up_count"] == 3
    assert by_name["session_feedback_thumbs_up_mean"] == pytest.approx(2 / 3)
    assert by_name["session_feedback_score_mean"] == pytest.approx((0.9 + 0.9 + 0.4 + 0.2) / 4)
