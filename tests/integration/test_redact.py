"""``redact``: a secret planted in every kind of text never reaches the archive (#6).

The whole archive is searched, every file in the zip, and so are the handler's spool files
on disk before the flush: "before it leaves the process".
"""

from __future__ import annotations

import gc
import logging
import re
import uuid
import zipfile
from pathlib import Path

import pytest
from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.documents import Document
from langchain_core.language_models import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from langchain_comet import CometCallbackHandler
from langchain_comet.redact import REDACTION_FAILED

pytestmark = pytest.mark.integration

SECRET = f"sk-{uuid.uuid4().hex}"
# Also no recognisable piece of it: not its random part, not a third of it.
FRAGMENTS = (SECRET, SECRET[3:], SECRET[3:14], SECRET[-11:])
MARK = "[REDACTED]"


def redact(text: str) -> str:
    return re.sub(r"sk-[0-9a-f]{32}", MARK, text)


class Retriever(BaseRetriever):
    def _get_relevant_documents(self, query, *, run_manager):
        return [Document(page_content=f"the key is {SECRET}", metadata={"source": SECRET})]


@tool
def leaky(text: str) -> str:
    """Fails with the secret in its message."""
    raise ValueError(f"bad credentials {SECRET}")


def run_everything(handler: CometCallbackHandler) -> FakeListLLM:
    config = {
        "callbacks": [handler],
        "tags": [f"tag {SECRET}"],
        "metadata": {"user_key": SECRET, SECRET: "as a key"},
    }
    llm = FakeListLLM(responses=[f"Your key {SECRET} is safe with me."])
    chain = PromptTemplate.from_template("Question: {q}") | llm
    chain.invoke(
        {"q": f"what is {SECRET}?", "nested": {"deep": [SECRET], SECRET: 1}},
        config={**config, "run_name": f"chain {SECRET}"},
    )
    chat = GenericFakeChatModel(messages=iter([AIMessage(content=f"streamed {SECRET} here")]))
    list(chat.stream(f"tell me {SECRET}", config=config))
    Retriever().invoke(f"find {SECRET}", config=config)
    with pytest.raises(ValueError):
        leaky.invoke({"text": SECRET}, config=config)

    def emit(text: str) -> str:
        dispatch_custom_event("secret_event", {"payload": SECRET})
        return text

    RunnableLambda(emit).invoke(SECRET, config=config)

    # A stream whose tokens split the secret, and the agent and text callbacks.
    run_id = uuid.uuid4()
    handler.on_chat_model_start({"name": "chat"}, [[]], run_id=run_id)
    for piece in (SECRET[:7], SECRET[7:20], SECRET[20:]):
        handler.on_llm_new_token(piece, run_id=run_id, chunk=None)
    message = AIMessageChunk(content=SECRET)
    handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=run_id)
    agent = uuid.uuid4()
    handler.on_chain_start({"name": "agent"}, {"input": "go"}, run_id=agent)
    handler.on_agent_action(AgentAction("leaky", SECRET, f"log {SECRET}"), run_id=agent)
    handler.on_text(f"thinking about {SECRET}", run_id=agent)
    handler.on_agent_finish(AgentFinish({"output": SECRET}, f"done {SECRET}"), run_id=agent)
    handler.on_chain_end({"output": SECRET}, run_id=agent)
    return llm


def leaks(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    return [fragment for fragment in FRAGMENTS if fragment in text]


def spooled_files(handler: CometCallbackHandler) -> list[Path]:
    handler._session.worker.call(lambda: None)  # every event recorded
    return [p for p in handler._session.sink.store.path.rglob("*") if p.is_file()]


def test_a_secret_planted_everywhere_never_leaves_the_process(make_handler, finish):
    handler = make_handler(redact=redact, visualizations=["ent"], complexity_metrics=True)
    llm = run_everything(handler)
    spools = spooled_files(handler)
    assert spools, "records are spooled before the flush"
    for path in spools:
        assert leaks(path.read_bytes()) == [], path

    handler.flush_tracker(langchain_asset=llm)
    archive = finish(handler)
    with zipfile.ZipFile(archive.path) as zipped:
        names = zipped.namelist()
        for name in names:
            assert leaks(zipped.read(name)) == [], name

    # Redacted, not dropped: the marker stands where the secret was, in every artifact.
    runs = archive.runs()
    assert len(runs) == 9
    chain = next(run for run in runs if run["name"] == f"chain {MARK}")
    assert chain["inputs"]["nested"] == {"deep": [MARK], MARK: 1}
    assert chain["metadata"]["user_key"] == MARK and chain["tags"] == [f"tag {MARK}"]
    tool_run = next(run for run in runs if run["name"] == "leaky")
    assert tool_run["error"]["message"] == f"bad credentials {MARK}"
    assert MARK in tool_run["error"]["traceback"]
    table = archive.session_table()
    assert any(MARK in text for text in table["text"])
    assert any(MARK in prompt for prompt in table["prompts"])
    texts = [upload.text for upload in archive.texts()]
    assert any(MARK in text for text in texts)
    # The stream whose tokens split the secret: the joined, redacted text stands for them.
    streams = [r["tokens"] for r in archive.action_records() if r["action"] == "on_llm_new_token"]
    assert [MARK] in streams
    (page,) = [u for u in archive.uploads() if u.name == "langchain-viz-ent-0.html"]
    assert page.metadata == {"prompt": f"Question: what is {MARK}?"}
    assert any(MARK in str(value) for value in archive.parameters().values())


def test_a_failing_redactor_lets_nothing_through(make_handler, finish, caplog):
    def broken(text: str) -> str:
        raise RuntimeError("redactor down")

    handler = make_handler(redact=broken, raise_error=False)
    llm = FakeListLLM(responses=[f"key {SECRET}"])
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        assert llm.invoke(f"use {SECRET}", config={"callbacks": [handler]}) == f"key {SECRET}"
        archive = finish(handler)
    with zipfile.ZipFile(archive.path) as zipped:
        for name in zipped.namelist():
            assert leaks(zipped.read(name)) == [], name
    (run,) = archive.runs()
    assert run["inputs"] == {"prompts": [REDACTION_FAILED]}
    # The warning that redact failed passes through redact too (it could quote the text),
    # so it is withheld: it says only which exception the redactor raised.
    warnings = [r.getMessage() for r in caplog.records if r.name == "langchain_comet"]
    assert warnings == [
        f"{REDACTION_FAILED} langchain-comet: a message (WARNING) was withheld "
        "(redact raised RuntimeError)"
    ]
    # Its redactor applies to every handler's words while its session lives: end it.
    handler._session.close()
    del handler
    gc.collect()


def test_redact_must_be_callable(tmp_path: Path):
    with pytest.raises(TypeError, match="redact must be a function"):
        CometCallbackHandler(online=False, offline_directory=str(tmp_path), redact="sk-.*")


def test_without_redact_the_text_is_kept(make_handler, finish):
    handler = make_handler()
    FakeListLLM(responses=["fine"]).invoke(f"use {SECRET}", config={"callbacks": [handler]})
    (run,) = finish(handler).runs()
    assert run["inputs"] == {"prompts": [f"use {SECRET}"]}
