"""Shared fixtures: every test logs offline into its own directory and reads the archive back."""

from __future__ import annotations

import os

# Before comet_ml is imported anywhere: no crash reports to a third party, no summary noise,
# and no API key from the developer's environment turning a test online.
os.environ["COMET_ERROR_TRACKING_ENABLE"] = "false"
os.environ["COMET_DISPLAY_SUMMARY_LEVEL"] = "0"
os.environ.pop("COMET_API_KEY", None)
os.environ.pop("COMET_START_ONLINE", None)
# comet_ml's system-metrics threads take ~1.3 s to stop at every experiment end; the tests
# do not read those metrics (and the host details would try a DNS look-up).
for _setting in ("CPU", "GPU", "NETWORK", "DISK", "HOST"):
    os.environ[f"COMET_AUTO_LOG_ENV_{_setting}"] = "false"

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive
from tests import network_guard
from tests.browser import browser, open_report  # noqa: F401  (fixtures)
from tests.openai_server import OpenAIServer

network_guard.install()
GUARD_SITE = Path(__file__).parent / "guard_site"


@pytest.fixture(autouse=True)
def _stays_on_this_machine() -> Iterator[None]:
    """Fail any test during which something tried to reach beyond 127.0.0.1."""
    before = len(network_guard.ATTEMPTS)
    yield
    assert network_guard.ATTEMPTS[before:] == []


@pytest.fixture
def guarded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a subprocess: this session's settings plus the network guard."""
    log = tmp_path / "network-attempts.log"
    env = dict(os.environ, PYTHONPATH=str(GUARD_SITE), NETWORK_GUARD_LOG=str(log))
    yield env
    assert not log.exists(), log.read_text()


@pytest.fixture
def run_python(guarded_env: dict[str, str]) -> Callable[[str], subprocess.CompletedProcess[str]]:
    """Run a Python snippet in a fresh interpreter with this session's guarded environment."""

    def run(script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script],
            env=guarded_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def offline_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "comet"
    directory.mkdir()
    return directory


@pytest.fixture
def make_handler(offline_dir: Path) -> Callable[..., CometCallbackHandler]:
    """A handler writing offline into the test's directory, re-raising its own failures."""

    def make(*args: Any, **kwargs: Any) -> CometCallbackHandler:
        kwargs.setdefault("offline_directory", str(offline_dir))
        kwargs.setdefault("online", False)
        kwargs.setdefault("raise_error", True)
        return CometCallbackHandler(*args, **kwargs)

    return make


@pytest.fixture
def handler(make_handler: Callable[..., CometCallbackHandler]) -> CometCallbackHandler:
    return make_handler()


@pytest.fixture
def finish(offline_dir: Path) -> Callable[..., Archive]:
    """End the handler's experiment and read the archive comet_ml wrote."""

    def done(handler: CometCallbackHandler, **kwargs: Any) -> Archive:
        experiment_id = handler.experiment.id
        handler.flush_tracker(finish=True, **kwargs)
        return Archive(offline_dir / f"{experiment_id}.zip")

    return done


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo application's archive, written once per test session."""
    from langchain_comet import demo

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMET_DISPLAY_SUMMARY_LEVEL", "0")
        return demo.run_demo(offline_directory=str(tmp_path_factory.mktemp("demo-archive")))


@pytest.fixture(scope="session")
def community_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive written by langchain_community's CometCallbackHandler (no run tree).

    That handler only creates online experiments; its factory is pointed at an
    OfflineExperiment, as the benchmark does. Its chain callbacks fail under LCEL, so it is
    driven the way it still works: plain LLM calls.
    """
    import comet_ml
    from langchain_community.callbacks import CometCallbackHandler as CommunityHandler
    from langchain_community.callbacks import comet_ml_callback
    from langchain_core.language_models import FakeListLLM

    directory = tmp_path_factory.mktemp("community-archive")

    def offline_experiment(workspace: str | None = None, project_name: str | None = None) -> Any:
        return comet_ml.OfflineExperiment(
            project_name=project_name, offline_directory=str(directory)
        )

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(comet_ml_callback, "_get_experiment", offline_experiment)
        handler = CommunityHandler(project_name="community-project", tags=["legacy"])
        llm = FakeListLLM(responses=["Paris is the capital.", "Four."])
        for question in ("Capital of France?", "Two plus two?", "Capital again?"):
            llm.invoke(question, config={"callbacks": [handler]})
        handler.flush_tracker(llm, finish=True)
    (path,) = directory.glob("*.zip")
    return path
