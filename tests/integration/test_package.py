"""The release artifacts as a user gets them: built, checked, installed fresh, and run.

The source tree is copied to a temporary directory and built there with ``python -m build``
(the sdist, then the wheel from the sdist, in build's isolated environment), so nothing is
written into the repository. ``twine check --strict`` validates both. The wheel, with the
``viz`` extra, is installed into a fresh virtual environment (dependencies come from PyPI
through pip), where ``langchain-comet demo`` runs and ``mypy --strict`` type-checks a small
program against the installed package, proving ``py.typed`` ships. The demo and the type
check run under the network guard, loaded without putting the repository on ``sys.path``
(so the installed package, not the source tree, is what gets imported).

This test reaches PyPI (pip, build's isolated environment) and takes minutes on a cold
cache; every subprocess is bounded in time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from langchain_comet.archive import Archive

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.2.0"
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".cometml-runs",
    "node_modules",
)
REPORT_ASSETS = ("template.html", "style.css", "app.js")
GUARD_SITE = """\
import importlib.util, os
spec = importlib.util.spec_from_file_location("network_guard", {path!r})
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)
guard.install(os.environ.get("NETWORK_GUARD_LOG"))
"""
TYPED_OK = """\
from langchain_comet import CometCallbackHandler


def counters(handler: CometCallbackHandler) -> dict[str, int]:
    meta = handler.get_custom_callback_meta()
    return {key: int(value) for key, value in meta.items()}


handler = CometCallbackHandler(project_name="typed", tags=["a"], online=False)
handler.flush_tracker(finish=True)
print(sorted(counters(handler)))
"""
TYPED_BAD = """\
from langchain_comet import CometCallbackHandler

CometCallbackHandler(online=False).flush_tracker(finish="yes")
"""


def _run(
    command: list[str], *, timeout: float, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{result.args} exited {result.returncode}\n{output}"
    return result.stdout


def _clean_env() -> dict[str, str]:
    """This session's environment without anything pointing Python at the source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if ".venv" not in part
    )
    return env


@dataclass
class Built:
    wheel: Path
    sdist: Path
    venv: Path
    work: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def guarded_env(self) -> dict[str, str]:
        env = _clean_env()
        env.update(
            PYTHONPATH=str(self.work / "guard"), NETWORK_GUARD_LOG=str(self.work / "net.log")
        )
        return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Build from a copy of the tree, check, and install the wheel into a fresh venv."""
    work = tmp_path_factory.mktemp("package")
    source, dist, venv = work / "src", work / "dist", work / "venv"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    _ok(
        _run(
            [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
            timeout=600,
            cwd=work,
            env=_clean_env(),
        )
    )
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    _ok(_run([sys.executable, "-m", "venv", str(venv)], timeout=120, cwd=work))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _ok(_run([*pip, f"{wheel}[viz]", "mypy>=2.0,<3"], timeout=1200, cwd=work, env=_clean_env()))
    guard = work / "guard"
    guard.mkdir()
    guard_path = str(ROOT / "tests" / "network_guard.py")
    (guard / "sitecustomize.py").write_text(GUARD_SITE.format(path=guard_path))
    yield Built(wheel, sdist, venv, work)
    shutil.rmtree(venv, ignore_errors=True)  # ~1 GB; pytest keeps its last temp dirs
    log = work / "net.log"
    assert not log.exists(), log.read_text()


def test_twine_accepts_the_wheel_and_the_sdist(built: Built) -> None:
    out = _ok(
        _run(
            [
                sys.executable,
                "-m",
                "twine",
                "check",
                "--strict",
                str(built.wheel),
                str(built.sdist),
            ],
            timeout=120,
            cwd=built.work,
        )
    )
    assert out.count("PASSED") == 2, out


def test_the_wheel_holds_the_package_its_data_and_its_metadata(built: Built) -> None:
    assert built.wheel.name == f"langchain_comet-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"langchain_comet-{VERSION}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "langchain_comet/py.typed" in names
    assert {f"langchain_comet/report/{asset}" for asset in REPORT_ASSETS} <= names
    assert f"{info}/licenses/LICENSE" in names
    assert not [name for name in names if name.startswith(("tests/", "bench/", "examples/"))]
    assert metadata["Name"] == "langchain-comet" and metadata["Version"] == VERSION
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.11"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Changelog", "Issues"}
    assert all(url.startswith("https://github.com/langchain-comet/") for url in urls.values())
    assert "# langchain-comet" in metadata.get_payload()  # the README is the long description
    assert re.search(r"^langchain-comet = langchain_comet\.cli:main$", entry_points, re.M)


def test_the_sdist_holds_the_sources_docs_and_examples(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    expected = {
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "langchain_comet/py.typed",
        "docs/index.md",
        "docs/report-traces.png",
        "examples/README.md",
        "examples/lcel_chain.py",
        *(f"langchain_comet/report/{asset}" for asset in REPORT_ASSETS),
    }
    assert expected <= names


def test_the_installed_package_is_the_wheel(built: Built) -> None:
    script = "import langchain_comet, importlib.metadata as m; "
    script += "print(langchain_comet.__file__); print(m.version('langchain-comet'))"
    out = _ok(
        _run(
            [str(built.bin / "python"), "-c", script],
            timeout=120,
            cwd=built.work,
            env=built.guarded_env(),
        )
    )
    location, version = out.split()
    assert Path(location).is_relative_to(built.venv / "lib")
    assert version == VERSION


def test_the_demo_runs_from_the_installed_wheel(built: Built) -> None:
    offline = built.work / "demo-archives"
    result = _run(
        [str(built.bin / "langchain-comet"), "demo", "--offline-directory", str(offline)],
        timeout=600,
        cwd=built.work,
        env=built.guarded_env(),
    )
    out = _ok(result)
    (path,) = offline.glob("*.zip")
    assert f"comet upload {path}" in out
    assert "demo prices" in out
    archive = Archive(path)
    runs = archive.runs()
    assert len([run for run in runs if run["parent_run_id"] is None]) == 7
    assert all(run["cost_usd"] for run in runs if run["run_type"] in ("llm", "chat_model"))
    # The viz extra installed a real spaCy pipeline: the report assets and visualizations work.
    visualizations = [u for u in archive.uploads() if u.name.startswith("langchain-viz-")]
    styles = {upload.name.split("-")[2] for upload in visualizations}
    assert styles == {"dep", "ent"}
    assert any("<svg" in u.text for u in visualizations if u.name.startswith("langchain-viz-dep"))
    report = built.work / "report.html"
    _ok(
        _run(
            [str(built.bin / "langchain-comet"), "report", str(path), "-o", str(report)],
            timeout=300,
            cwd=built.work,
            env=built.guarded_env(),
        )
    )
    html = report.read_text(encoding="utf-8")
    assert "default-src 'none'" in html and "</script>" in html and "<style>" in html


def test_users_type_checkers_see_the_types(built: Built) -> None:
    """``mypy --strict`` in the fresh environment: clean on good use, an error on bad use."""
    (built.work / "typed_ok.py").write_text(TYPED_OK)
    (built.work / "typed_bad.py").write_text(TYPED_BAD)
    mypy = [str(built.bin / "python"), "-m", "mypy", "--strict", "--no-incremental"]
    env = built.guarded_env()
    ok = _run([*mypy, "typed_ok.py"], timeout=600, cwd=built.work, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Success: no issues found in 1 source file" in ok.stdout
    bad = _run([*mypy, "typed_bad.py"], timeout=600, cwd=built.work, env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(
        r'"finish" to "flush_tracker" of "CometCallbackHandler" has incompatible '
        r'type "str"; expected "bool"',
        bad.stdout,
    ), bad.stdout
    run = _run([str(built.bin / "python"), "typed_ok.py"], timeout=300, cwd=built.work, env=env)
    assert "'llm_starts'" in _ok(run)
