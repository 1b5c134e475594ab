"""An LCEL chain (prompt, model, parser) logged to Comet, invoked once and in a batch.

Run it with ``python examples/lcel_chain.py [DIRECTORY]``: it needs no API key and no
network (the model is LangChain's ``FakeListLLM``; swap in any LLM or chat model). The
archive goes to DIRECTORY, else ``COMET_OFFLINE_DIRECTORY``, else ``.cometml-runs``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from langchain_core.language_models import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableConfig

from langchain_comet import CometCallbackHandler

QUESTIONS = ["What is LCEL?", "What is a run tree?", "What does Comet store?"]
ANSWERS = [
    "LCEL composes runnables with the | operator.",
    "Every chain, model and tool call, nested under the call that made it.",
    "Prompts, answers, tokens, latency and errors of every run.",
]


def main(directory: str | None) -> Path:
    handler = CometCallbackHandler(
        project_name="langchain-comet-examples",
        name="lcel chain",
        tags=["example"],
        complexity_metrics=True,  # readability scores of every answer
        # The example always writes a local archive; without online=False, a configured
        # Comet API key would send the experiment to Comet instead.
        online=False,
        offline_directory=directory,
    )
    prompt = PromptTemplate.from_template("Answer in one sentence.\nQuestion: {question}\nAnswer:")
    chain = prompt | FakeListLLM(responses=ANSWERS) | StrOutputParser()
    config: RunnableConfig = {"callbacks": [handler], "run_name": "qa"}

    print(chain.invoke({"question": "What is LangChain?"}, config=config))
    for answer in chain.batch([{"question": q} for q in QUESTIONS], config=config):
        print(answer)

    # Logs the session table, the run tree and the chain itself, and writes the archive.
    handler.flush_tracker(langchain_asset=chain, finish=True)
    return Path(handler.experiment.offline_directory, f"{handler.experiment.id}.zip")


if __name__ == "__main__":
    print(f"archive: {main(sys.argv[1] if len(sys.argv) > 1 else None)}")
