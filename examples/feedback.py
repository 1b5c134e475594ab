"""Users, sessions and feedback: ``trace_attributes`` names who asked, ``log_feedback``
records what they thought of the answer.

Run it with ``python examples/feedback.py [DIRECTORY]``: no API key, no network (the model
is LangChain's scripted fake; pass any chat model instead). Every trace started inside
``trace_attributes(...)`` carries its ``user_id`` and ``session_id``; each answer's trace id
is known before the call (``config={"run_id": ...}``), so feedback given later, from
another thread, after a flush, lands on the right trace: one line of
``langchain-feedback.jsonl``, one point of ``feedback_<name>``, and
``session_feedback_<name>_mean``/``_count`` at each flush. The archive goes to DIRECTORY,
else ``COMET_OFFLINE_DIRECTORY``, else ``.cometml-runs``.
"""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_comet import CometCallbackHandler, trace_attributes

QUESTIONS = [
    ("ann", "chat-1", "How do I write the archive?"),
    ("ann", "chat-1", "And upload it?"),
    ("bob", "chat-2", "Does it work offline?"),
]
ANSWERS = [
    "Call flush_tracker(finish=True).",
    "Run comet upload with the archive's path.",
    "Yes: without an API key it writes a local archive.",
]


def main(directory: str | None) -> Path:
    handler = CometCallbackHandler(
        project_name="langchain-comet-examples",
        name="feedback",
        tags=["example"],
        online=False,  # always a local archive, even with a Comet API key configured
        offline_directory=directory,
    )
    chain = (
        ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("user", "{question}")])
        | FakeListChatModel(responses=ANSWERS)
        | StrOutputParser()
    )
    asked: list[tuple[str, str]] = []
    for user, session, question in QUESTIONS:
        trace_id = uuid.uuid4()  # the trace id, known before the call
        with trace_attributes(user_id=user, session_id=session):
            answer = chain.invoke(
                {"question": question}, config={"callbacks": [handler], "run_id": trace_id}
            )
        print(f"{user}: {question} -> {answer}")
        asked.append((str(trace_id), user))
    handler.flush_tracker()

    def users_rate_answers() -> None:  # e.g. a web request handler, later
        for trace_id, user in asked:
            handler.log_feedback(trace_id, "thumbs_up", user == "ann")
            handler.log_feedback(trace_id, "score", 0.9 if user == "ann" else 0.4)
        handler.log_feedback(asked[2][0], "score", 0.2, comment="too short")

    rater = threading.Thread(target=users_rate_answers)
    rater.start()
    rater.join()
    handler.flush_tracker(finish=True)
    return Path(handler.experiment.offline_directory, f"{handler.experiment.id}.zip")


if __name__ == "__main__":
    print(f"archive: {main(sys.argv[1] if len(sys.argv) > 1 else None)}")
