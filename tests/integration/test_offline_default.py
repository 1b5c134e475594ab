"""SPEC §4: with no Comet account, an offline archive; Comet's own settings decide."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from langchain_core.language_models.fake import FakeListLLM

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive
from langchain_comet.experiment import choose_online


def test_no_api_key_means_an_offline_archive_in_comet_offline_directory(
    tmp_path: Path, monkeypatch, caplog
):
    monkeypatch.setenv("COMET_OFFLINE_DIRECTORY", str(tmp_path))
    with caplog.at_level(logging.INFO, logger="langchain_comet"):
        handler = CometCallbackHandler()  # nothing configured at all
    FakeListLLM(responses=["ok"]).invoke("hi", config={"callbacks": [handler]})
    handler.flush_tracker(finish=True)

    (line,) = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    archive_file = tmp_path / f"{handler.experiment.id}.zip"
    assert "no Comet API key is configured" in line
    assert f"comet upload {archive_file}" in line
    assert len(Archive(archive_file).runs()) == 1


def test_comet_start_online_false_wins_over_an_api_key(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("COMET_API_KEY", "not-a-real-key")
    monkeypatch.setenv("COMET_START_ONLINE", "false")
    monkeypatch.setenv("COMET_OFFLINE_DIRECTORY", str(tmp_path))
    handler = CometCallbackHandler(raise_error=True)
    handler.flush_tracker(finish=True)
    assert (tmp_path / f"{handler.experiment.id}.zip").exists()


@pytest.mark.parametrize(
    ("env", "online", "expected"),
    [
        ({}, None, False),
        ({"COMET_API_KEY": "abc"}, None, True),
        ({"COMET_API_KEY": "abc", "COMET_START_ONLINE": "0"}, None, False),
        ({"COMET_START_ONLINE": "true"}, None, True),
        ({"COMET_API_KEY": "abc"}, False, False),
        ({}, True, True),
    ],
)
def test_where_data_goes_first_match_wins(monkeypatch, env, online, expected):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    chosen, reason = choose_online(online)
    assert chosen is expected
    assert reason


def test_an_existing_experiment_is_used_as_is(offline_dir: Path, finish):
    import comet_ml

    experiment = comet_ml.OfflineExperiment(
        offline_directory=str(offline_dir), log_env_details=False, log_env_host=False
    )
    experiment.log_parameter("user_param", 7)
    handler = CometCallbackHandler(experiment=experiment, raise_error=True)
    assert handler.experiment is experiment
    FakeListLLM(responses=["ok"]).invoke("hi", config={"callbacks": [handler]})
    archive = finish(handler)
    assert archive.parameters()["user_param"] == 7
    assert len(archive.runs()) == 1


def test_online_without_an_api_key_logs_offline_and_never_touches_the_network(
    offline_dir: Path, caplog
):
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        handler = CometCallbackHandler(online=True, offline_directory=str(offline_dir))
        FakeListLLM(responses=["ok"]).invoke("hi", config={"callbacks": [handler]})
        experiment_id = handler.experiment.id
        handler.flush_tracker(finish=True)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    assert "online: ValueError: no Comet API key is configured" in warning
    assert len(Archive(offline_dir / f"{experiment_id}.zip").runs()) == 1


def test_the_local_environment_details_are_in_the_archive(make_handler, finish):
    # Logged by the worker as the sink's first calls (the pip list costs 0.3-0.7 s the
    # first time in a process), not during construction on the application's thread.
    archive = finish(make_handler())
    kinds = {message.get("type") for message in archive.messages}
    assert {"installed_packages", "os_packages"} <= kinds


@pytest.mark.parametrize("given", ["argument", "environment"])
def test_an_offline_directory_that_does_not_exist_yet_is_made_with_its_parents(
    given: str, tmp_path: Path, monkeypatch, caplog
):
    caplog.set_level(logging.WARNING, logger="langchain_comet")
    directory = tmp_path / "volume" / "comet" / "app"  # none of these exists yet
    if given == "environment":
        monkeypatch.setenv("COMET_OFFLINE_DIRECTORY", str(directory))
        handler = CometCallbackHandler(online=False)
    else:
        handler = CometCallbackHandler(offline_directory=str(directory), online=False)
    FakeListLLM(responses=["ok"]).invoke("hi", config={"callbacks": [handler]})
    handler.flush_tracker(finish=True)
    assert Path(handler.experiment.offline_directory) == directory
    assert len(Archive(directory / f"{handler.experiment.id}.zip").runs()) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "langchain_comet"] == []
