"""Every ``examples/*.py`` runs as a user would run it, and writes the archive it promises.

Examples are found by glob, so a new one is tested without touching this file: each runs
in a fresh interpreter with the network guard and a temporary ``COMET_OFFLINE_DIRECTORY``,
must print ``archive: <path>`` last, and its archive is read back. ``EXPECTED`` holds what
an example proves beyond the default (at least one trace, a well-formed tree, no error).
The README's quickstart is run the same way.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from langchain_comet.archive import Archive

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT_S = 180

Runs = list[dict[str, Any]]


@dataclass(frozen=True)
class Expect:
    """What an example's archive must hold."""

    traces: int | None = None  # exact number of traces; None: at least one
    run_types: frozenset[str] = frozenset()  # each must occur
    names: frozenset[str] = frozenset()  # runs with these names must occur
    check: Callable[[Runs], None] | None = field(default=None, compare=False)


def _roots(runs: Runs) -> Runs:
    return [run for run in runs if run["parent_run_id"] is None]


def _priced_chat_calls(runs: Runs) -> None:
    chats = [run for run in runs if run["run_type"] == "chat_model"]
    assert len(chats) == 3  # two tool-calling turns, then the answer
    assert all(isinstance(run["cost_usd"], float) and run["cost_usd"] > 0 for run in chats)
    (root,) = _roots(runs)
    assert root["trace_cost_usd"] == pytest.approx(sum(run["cost_usd"] for run in chats))
    assert all(run["metadata"]["user_id"] == "user-42" for run in runs)


def _one_conversation(runs: Runs) -> None:
    assert {run["session_id"] for run in runs} == {"conversation-1"}
    nodes = [run["name"] for run in runs if run["run_type"] == "chain" and run["parent_run_id"]]
    assert sorted(nodes) == ["model", "model", "tools"]


def _one_trace_per_request(runs: Runs) -> None:
    roots = _roots(runs)
    assert sorted(root["metadata"]["request_id"] for root in roots) == [
        "req-ada",
        "req-bob",
        "req-cy",
    ]
    for root in roots:  # every run of a request's trace carries that request's id
        trace = [run for run in runs if run["trace_id"] == root["run_id"]]
        assert {run["metadata"]["request_id"] for run in trace} == {root["metadata"]["request_id"]}


EXPECTED: dict[str, Expect] = {
    "lcel_chain.py": Expect(
        traces=4,  # one invoke, a batch of three
        run_types=frozenset({"chain", "prompt", "llm", "parser"}),
        names=frozenset({"qa", "FakeListLLM"}),
    ),
    "chat_tools.py": Expect(
        traces=1,
        run_types=frozenset({"chain", "chat_model", "tool"}),
        names=frozenset({"assistant", "get_weather", "convert_celsius"}),
        check=_priced_chat_calls,
    ),
    "langgraph_agent.py": Expect(
        traces=1,
        run_types=frozenset({"chain", "chat_model", "tool"}),
        names=frozenset({"LangGraph", "search_docs"}),
        check=_one_conversation,
    ),
    "wsgi_service.py": Expect(
        traces=3,
        run_types=frozenset({"chain", "prompt", "chat_model", "parser"}),
        names=frozenset({"ask"}),
        check=_one_trace_per_request,
    ),
}


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def _archive_printed(result: subprocess.CompletedProcess[str], offline: Path) -> Archive:
    """The archive named on the last line, which must be the only one in ``offline``."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stdout.rstrip("\n").splitlines()[-1]
    match = re.fullmatch(r"archive: (.+)", last)
    assert match, f"the last line is not 'archive: <path>': {last!r}"
    path = Path(match.group(1))
    assert list(offline.glob("*.zip")) == [path]
    return Archive(path)


def _assert_well_formed(runs: Runs) -> None:
    """One tree per trace: every parent recorded, every run in its root's trace."""
    ids = {run["run_id"] for run in runs}
    roots = {run["run_id"] for run in _roots(runs)}
    for run in runs:
        assert run["parent_run_id"] is None or run["parent_run_id"] in ids, run
        assert run["trace_id"] in roots, run
        # A paused agent (LangGraph interrupt) is control flow, never a failure.
        assert run["status"] in ("success", "interrupted"), run


def test_every_example_is_expected_or_covered_by_the_default() -> None:
    assert len(EXAMPLES) >= 4
    assert set(EXPECTED) <= {path.name for path in EXAMPLES}, "EXPECTED names a missing example"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_writes_its_archive(
    example: Path, tmp_path: Path, guarded_env: dict[str, str]
) -> None:
    offline = tmp_path / "offline"
    env = dict(guarded_env, COMET_OFFLINE_DIRECTORY=str(offline))
    result = _run([sys.executable, str(example)], cwd=tmp_path, env=env)
    runs = _archive_printed(result, offline).runs()

    expect = EXPECTED.get(example.name, Expect())
    roots = _roots(runs)
    if expect.traces is None:
        assert roots
    else:
        assert len(roots) == expect.traces
    _assert_well_formed(runs)
    assert expect.run_types <= {run["run_type"] for run in runs}
    assert expect.names <= {run["name"] for run in runs}
    if expect.check:
        expect.check(runs)


def test_an_example_writes_into_the_directory_it_is_given(
    tmp_path: Path, guarded_env: dict[str, str]
) -> None:
    given = tmp_path / "given"
    env = dict(guarded_env, COMET_OFFLINE_DIRECTORY=str(tmp_path / "unused"))
    result = _run(
        [sys.executable, str(ROOT / "examples" / "lcel_chain.py"), str(given)], tmp_path, env
    )
    assert len(_archive_printed(result, given).runs()) == 16
    assert not (tmp_path / "unused").exists()


def test_the_readme_quickstart_runs(tmp_path: Path, guarded_env: dict[str, str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)[0]
    assert "CometCallbackHandler" in quickstart
    offline = tmp_path / "offline"
    env = dict(guarded_env, COMET_OFFLINE_DIRECTORY=str(offline))
    result = _run([sys.executable, "-c", quickstart], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    (path,) = offline.glob("*.zip")
    runs = Archive(path).runs()
    assert {run["run_type"] for run in runs} == {"chain", "prompt", "chat_model"}
    (chat,) = [run for run in runs if run["run_type"] == "chat_model"]
    assert chat["outputs"]["generations"][0][0]["text"] == "Paris."
