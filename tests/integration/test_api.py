"""The seed's public API, kept: constructor, callbacks, flush_tracker, counters, flags."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from langchain_comet import CometCallbackHandler

SEED_PARAMETERS = [
    ("task_type", "inference"),
    ("workspace", None),
    ("project_name", None),
    ("tags", None),
    ("name", None),
    ("visualizations", None),
    ("complexity_metrics", False),
    ("custom_metrics", None),
    ("stream_logs", True),
]
SEED_CALLBACKS = [
    "on_agent_action",
    "on_agent_finish",
    "on_chain_end",
    "on_chain_error",
    "on_chain_start",
    "on_chat_model_start",
    "on_custom_event",
    "on_llm_end",
    "on_llm_error",
    "on_llm_new_token",
    "on_llm_start",
    "on_retriever_end",
    "on_retriever_error",
    "on_retriever_start",
    "on_retry",
    "on_text",
    "on_tool_end",
    "on_tool_error",
    "on_tool_start",
]
SEED_COUNTERS = [
    "step",
    "starts",
    "ends",
    "errors",
    "text_ctr",
    "chain_starts",
    "chain_ends",
    "llm_starts",
    "llm_ends",
    "llm_streams",
    "tool_starts",
    "tool_ends",
    "agent_ends",
]


def test_constructor_keeps_the_seed_order_and_defaults_and_adds_only_keyword_options():
    params = list(inspect.signature(CometCallbackHandler.__init__).parameters.values())[1:]
    positional = [(p.name, p.default) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == SEED_PARAMETERS
    new = [p for p in params if p.kind is not p.POSITIONAL_OR_KEYWORD]
    assert new and all(p.kind is p.KEYWORD_ONLY for p in new)
    assert all(p.default is not p.empty for p in new)
    assert {"experiment", "online", "offline_directory", "max_text_chars"} <= {p.name for p in new}


def test_flush_tracker_has_the_seed_signature_and_a_keyword_only_timeout():
    params = inspect.signature(CometCallbackHandler.flush_tracker).parameters
    timeout = params["timeout"]
    assert timeout.kind is inspect.Parameter.KEYWORD_ONLY and timeout.default is None
    seed = {n: p for n, p in params.items() if n != "timeout"}
    assert [(n, p.default) for n, p in seed.items()][1:] == [
        ("langchain_asset", None),
        ("task_type", "inference"),
        ("workspace", None),
        ("project_name", "comet-langchain-demo"),
        ("tags", None),
        ("name", None),
        ("visualizations", None),
        ("complexity_metrics", False),
        ("custom_metrics", None),
        ("finish", False),
        ("reset", False),
    ]


@pytest.mark.parametrize("method", SEED_CALLBACKS)
def test_every_seed_callback_has_langchains_current_signature(method):
    ours = inspect.signature(getattr(CometCallbackHandler, method)).parameters
    base = inspect.signature(getattr(BaseCallbackHandler, method)).parameters
    assert list(ours) == list(base)
    for name in ("run_id", "parent_run_id"):
        if name in base:
            assert ours[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_it_is_a_langchain_callback_handler_with_its_flags(handler):
    assert isinstance(handler, BaseCallbackHandler)
    for flag in (
        "ignore_llm",
        "ignore_chat_model",
        "ignore_chain",
        "ignore_agent",
        "ignore_retriever",
        "ignore_retry",
        "ignore_custom_event",
        "always_verbose",
    ):
        assert getattr(handler, flag) is False
    assert handler.raise_error is True  # the test fixture's choice
    handler.raise_error = False
    assert handler.raise_error is False
    # Callbacks only enqueue, so LangChain may call them on the event loop directly.
    assert handler.run_inline is True


def test_counters_are_the_seeds_and_reset_to_zero(handler):
    meta = handler.get_custom_callback_meta()
    assert list(meta) == SEED_COUNTERS
    assert set(meta.values()) == {0}
    handler.on_text("hello", run_id=None)
    assert handler.get_custom_callback_meta()["step"] == 1
    assert handler.get_custom_callback_meta()["text_ctr"] == 1
    handler.reset_callback_meta()
    assert set(handler.get_custom_callback_meta().values()) == {0}


def test_experiment_is_the_comet_experiment_in_use(handler, offline_dir: Path):
    import comet_ml

    assert isinstance(handler.experiment, comet_ml.OfflineExperiment)
    assert Path(handler.experiment.offline_directory) == offline_dir


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"visualizations": ["dep", "sparkles"]}, ValueError, "sparkles"),
        ({"visualizations": "dep"}, ValueError, r"a list of styles, e.g. \['dep'\]"),
        ({"offline_directory": 123}, TypeError, "offline_directory must be a path"),
        ({"experiment": "abc"}, TypeError, "experiment must be a comet_ml experiment"),
        ({"custom_metrics": "not a function"}, TypeError, "callable"),
        ({"tags": ["ok", 3]}, TypeError, "strings"),
        ({"tags": "one-tag"}, TypeError, "strings"),
        ({"max_text_chars": 0}, ValueError, "max_text_chars"),
    ],
)
def test_bad_configuration_fails_at_construction_saying_how_to_fix_it(
    make_handler, kwargs, error, says
):
    with pytest.raises(error, match=says):
        make_handler(**kwargs)
