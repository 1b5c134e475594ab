"""Several handlers, and the application's own comet_ml experiment, in one process.

comet_ml ends its "global" experiment whenever a new one is created, and what is logged to
the ended one is lost. Each handler's data must survive the others (SPEC §5).
"""

from __future__ import annotations

import threading
from pathlib import Path

import comet_ml
import pytest
from langchain_core.language_models import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from langchain_comet import CometCallbackHandler
from langchain_comet.archive import Archive

pytestmark = pytest.mark.integration


def chain(answer: str):
    return PromptTemplate.from_template("{q}") | FakeListLLM(responses=[answer]) | StrOutputParser()


def archive_of(handler: CometCallbackHandler, directory: Path) -> Archive:
    experiment_id = handler.experiment.id
    handler.flush_tracker(finish=True)
    return Archive(directory / f"{experiment_id}.zip")


def test_interleaved_handlers_each_keep_their_own_runs(offline_dir: Path) -> None:
    first = CometCallbackHandler(offline_directory=str(offline_dir), online=False, name="first")
    second = CometCallbackHandler(offline_directory=str(offline_dir), online=False, name="second")
    for i in range(5):  # the first handler logs after the second one's experiment exists
        chain("one").invoke({"q": f"first {i}"}, config={"callbacks": [first]})
        chain("two").invoke({"q": f"second {i}"}, config={"callbacks": [second]})
    first.flush_tracker()  # a flush of the first mid-way, then more work for both
    chain("one").invoke({"q": "first 5"}, config={"callbacks": [first]})
    chain("two").invoke({"q": "second 5"}, config={"callbacks": [second]})

    for handler, name, answer in ((second, "second", "two"), (first, "first", "one")):
        archive = archive_of(handler, offline_dir)
        assert archive.name == name
        roots = [run for run in archive.runs() if run["parent_run_id"] is None]
        assert sorted(run["inputs"]["q"] for run in roots) == [f"{name} {i}" for i in range(6)]
        assert set(archive.session_table()["text"]) == {answer}
        assert len(archive.metrics("llm_latency_ms")) >= 1


def test_the_applications_own_experiment_is_not_ended(offline_dir: Path) -> None:
    own = comet_ml.OfflineExperiment(
        offline_directory=str(offline_dir), project_name="app", log_env_details=False
    )
    handler = CometCallbackHandler(offline_directory=str(offline_dir), online=False)
    chain("ok").invoke({"q": "hi"}, config={"callbacks": [handler]})
    own.log_metric("accuracy", 0.9)  # after the handler's experiment was created
    own.end()  # by its owner, who waits for it (comet_ml's implicit end of it would not)
    assert [m.value for m in Archive(offline_dir / f"{own.id}.zip").metrics("accuracy")] == [0.9]
    later = comet_ml.OfflineExperiment(  # a new global experiment: the handler's goes on
        offline_directory=str(offline_dir), project_name="app", log_env_details=False
    )
    later.end()
    chain("ok").invoke({"q": "again"}, config={"callbacks": [handler]})
    archive = archive_of(handler, offline_dir)
    assert sorted(run["inputs"]["q"] for run in archive.runs() if not run["parent_run_id"]) == [
        "again",
        "hi",
    ]


def test_handlers_created_on_many_threads_all_keep_their_data(offline_dir: Path) -> None:
    handlers: list[CometCallbackHandler] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        handler = CometCallbackHandler(
            offline_directory=str(offline_dir), online=False, name=f"h{i}"
        )
        with lock:
            handlers.append(handler)
        for j in range(3):
            chain(f"a{i}").invoke({"q": f"{i}-{j}"}, config={"callbacks": [handler]})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for handler in handlers:
        archive = archive_of(handler, offline_dir)
        i = int(str(archive.name)[1:])
        roots = [run for run in archive.runs() if run["parent_run_id"] is None]
        assert sorted(run["inputs"]["q"] for run in roots) == [f"{i}-{j}" for j in range(3)]
