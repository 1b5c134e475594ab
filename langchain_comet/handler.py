"""``CometCallbackHandler``: LangChain events in, nothing else.

Each callback bumps the seed's counters, captures its arguments with two clock readings
and hands them to the session's background worker. Serialization, metrics and every
comet_ml call happen there, so the application pays for an enqueue, not for logging.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, ParamSpec, TypeVar, cast
from uuid import UUID

from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, GenerationChunk, LLMResult

from langchain_comet import assets, attributes, control_flow, feedback, graph, lifecycle, recorder
from langchain_comet.attributes import TraceStart
from langchain_comet.experiment import ExperimentHandle, ExperimentSettings
from langchain_comet.failures import Failures
from langchain_comet.metrics import CustomMetrics
from langchain_comet.pricing import Pricer
from langchain_comet.recorder import RecorderSession
from langchain_comet.redact import cover_own_words
from langchain_comet.runs import COUNTERS, Event, TreeSettings
from langchain_comet.sampling import TraceSampler
from langchain_comet.serialize import DEFAULT_MAX_ITEMS, DEFAULT_MAX_TEXT_CHARS, JSON, head
from langchain_comet.session import DEFAULT_EXIT_TIMEOUT, Session, new_sink, warn_of_orphans
from langchain_comet.sink import DEFAULT_MODEL_NAME
from langchain_comet.visualize import STYLES as VISUALIZATION_STYLES
from langchain_comet.visualize import Visualizer, resolve_pipeline

logger = logging.getLogger("langchain_comet")

# flush_tracker's seed defaults; on reset they mean "not given", so earlier settings stay.
_FLUSH_DEFAULT_TASK_TYPE = "inference"
_FLUSH_DEFAULT_PROJECT = "comet-langchain-demo"

P = ParamSpec("P")
R = TypeVar("R")

_I = {name: i for i, name in enumerate(COUNTERS)}


def _bumps(*names: str) -> tuple[int, ...]:
    return tuple(_I[name] for name in ("step", *names))


# Which counters each callback moves, as the seed handler moved them.
_LLM_START = _bumps("llm_starts", "starts")
_LLM_TOKEN = _bumps("llm_streams")
_LLM_END = _bumps("llm_ends", "ends")
_CHAIN_START = _bumps("chain_starts", "starts")
_CHAIN_END = _bumps("chain_ends", "ends")
_TOOL_START = _bumps("tool_starts", "starts")
_TOOL_END = _bumps("tool_ends", "ends")
_START = _bumps("starts")
_END = _bumps("ends")
_ERROR = _bumps("errors")
# LangGraph control flow (interrupt(), handoffs) ends a run without failing it: not an error.
_CONTROL_FLOW = _bumps("ends")
_TEXT = _bumps("text_ctr")
_AGENT_END = _bumps("agent_ends", "ends")
_STEP = _bumps()


def _guarded(method: Callable[P, R]) -> Callable[P, R | None]:
    """Never let a failure inside the handler reach the application (SPEC §5)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            handler = cast(CometCallbackHandler, args[0])
            if handler.raise_error:
                raise
            handler._failures.report(method.__name__, exc)
            return None

    return wrapper


class CometCallbackHandler(BaseCallbackHandler):
    """Logs everything a LangChain application does to a Comet experiment.

    A drop-in successor of ``langchain_community.callbacks.CometCallbackHandler``: the
    same nine parameters in the same order, the same methods and Comet artifacts, plus a
    run tree, chat messages, tokens, latency and errors. Without a Comet API key it
    writes an offline archive that ``comet upload`` can send later.
    """

    # We only enqueue, so LangChain can call us on the event loop instead of hopping to a
    # thread pool for every event of an async run.
    run_inline = True
    # The seed's flag; LangChain 1.x no longer reads it, kept so existing code that does works.
    always_verbose = False

    def __init__(
        self,
        task_type: str | None = "inference",
        workspace: str | None = None,
        project_name: str | None = None,
        tags: Sequence[str] | None = None,
        name: str | None = None,
        visualizations: list[str] | None = None,
        complexity_metrics: bool = False,
        custom_metrics: CustomMetrics | None = None,
        stream_logs: bool = True,
        *,
        experiment: Any = None,
        online: bool | None = None,
        offline_directory: str | None = None,
        spacy_model: Any = None,
        max_text_chars: int | None = DEFAULT_MAX_TEXT_CHARS,
        max_items: int | None = DEFAULT_MAX_ITEMS,
        prices: Mapping[str, Mapping[str, float]] | None = None,
        redact: Callable[[str], str] | None = None,
        sample_rate: float = 1.0,
        exit_timeout: float | None = DEFAULT_EXIT_TIMEOUT,
        log_media: bool = True,
        raise_error: bool = False,
    ) -> None:
        super().__init__()
        _check_config(
            tags,
            visualizations,
            custom_metrics,
            max_text_chars,
            redact=redact,
            sample_rate=sample_rate,
            exit_timeout=exit_timeout,
            max_items=max_items,
            offline_directory=offline_directory,
            experiment=experiment,
        )
        self.redact = redact
        self.sample_rate = float(sample_rate)
        # Images, audio and files in chat messages: logged to Comet, or only referenced.
        self.log_media = bool(log_media)
        self._sampler = TraceSampler(self.sample_rate) if self.sample_rate < 1.0 else None
        self._pricer = Pricer(prices)
        self.task_type = task_type
        self.workspace = workspace
        self.project_name = project_name
        self.tags = list(tags) if tags else None
        self.name = name
        self.visualizations = list(visualizations) if visualizations else None
        self.complexity_metrics = complexity_metrics
        self.custom_metrics = custom_metrics
        self.stream_logs = stream_logs
        self.spacy_model = spacy_model
        self.max_text_chars = max_text_chars
        self.max_items = max_items
        self._pipeline = resolve_pipeline(spacy_model) if self.visualizations else None
        self._failures = Failures(raise_error)
        cover_own_words(self._failures, redact)  # before anything is logged
        self.exit_timeout = exit_timeout
        settings = ExperimentSettings(
            task_type=task_type,
            workspace=workspace,
            project_name=project_name,
            tags=self.tags,
            name=name,
            online=online,
            offline_directory=offline_directory,
        )
        self._lock = threading.Lock()
        self._counters = [0] * len(COUNTERS)
        self._resumes = control_flow.ResumeStore()
        self._last_trace_id: UUID | None = None
        failures = self._failures
        tree = self._tree_settings()
        self._session: Session | RecorderSession
        why_not = (
            recorder.unavailable(
                tree, experiment=experiment, raise_error=raise_error, custom_metrics=custom_metrics
            )
            if recorder.requested()
            else None
        )
        if recorder.requested() and why_not is None:
            self._session = RecorderSession(
                tree,
                failures,
                experiment_settings=settings,
                exit_timeout=exit_timeout,
                resumes=self._resumes,
                in_process=functools.partial(_in_process_session, failures, exit_timeout),
            )
        else:
            if why_not is not None:
                logger.info("langchain-comet: recording in this process: %s", why_not)
            # Online, the experiment is created on the connect thread: never waited for here.
            handle = None if experiment is None else ExperimentHandle.of(experiment)
            self._session = _in_process_session(failures, exit_timeout, settings, tree, handle)
        weakref.finalize(self, self._session.close_soon).atexit = False
        lifecycle.register_fork_aware(self)

    def after_fork_in_child(self) -> None:
        """A forked child starts with a lock of its own (the parent's may be held)."""
        self._lock = threading.Lock()

    @property
    def _settings(self) -> ExperimentSettings:
        return self._session.settings

    @property
    def experiment(self) -> Any:
        """The comet_ml experiment records go to now (a new one after ``reset``).

        While an online experiment is still being created this waits for it: until the
        connect deadline at most (``langchain_comet.experiment.CONNECT_DEADLINE``), after
        which it is the offline fallback. Callbacks never wait for it.
        """
        return self._session.experiment

    # -- configuration ------------------------------------------------------------------

    @property
    def raise_error(self) -> bool:
        """LangChain's flag: propagate the handler's own failures instead of logging them."""
        return self._failures.raise_error

    @raise_error.setter
    def raise_error(self, value: bool) -> None:
        self._failures.raise_error = value

    def _tree_settings(self) -> TreeSettings:
        return TreeSettings(
            stream_logs=self.stream_logs,
            complexity_metrics=self.complexity_metrics,
            custom_metrics=self.custom_metrics,
            max_chars=self.max_text_chars,
            max_items=self.max_items,
            redact=self.redact,
            visualizer=(
                Visualizer(self._pipeline, self.visualizations)
                if self.visualizations and self._pipeline is not None
                else None
            ),
            pricer=self._pricer,
            log_media=self.log_media,
            resumes=self._resumes,
        )

    # -- counters -----------------------------------------------------------------------

    def get_custom_callback_meta(self) -> dict[str, Any]:
        """The seed's counters: step, starts, ends, errors, text_ctr and per-kind counts."""
        with self._lock:
            return dict(zip(COUNTERS, self._counters, strict=True))

    def reset_callback_meta(self) -> None:
        """Zero the counters."""
        with self._lock:
            self._counters = [0] * len(COUNTERS)

    # -- the hot path -------------------------------------------------------------------

    def _emit(
        self,
        action: str,
        bumps: tuple[int, ...],
        run_id: UUID | None,
        parent_run_id: UUID | None,
        data: dict[str, Any],
    ) -> None:
        if self._failures.raise_error:
            self._failures.raise_pending()
        with self._lock:
            counters = self._counters
            for index in bumps:
                counters[index] += 1
            snapshot = tuple(counters)
            sampler = self._sampler
            if sampler is not None and not sampler.keep(
                action, run_id, parent_run_id, data.get("trace")
            ):
                return
        self._session.submit(
            Event(action, run_id, parent_run_id, snapshot, time.time(), time.perf_counter(), data)
        )

    def _start(
        self,
        action: str,
        bumps: tuple[int, ...],
        run_id: UUID,
        parent_run_id: UUID | None,
        data: dict[str, Any],
    ) -> None:
        """A run starts; a root run also starts its trace (``_begin_trace``)."""
        if parent_run_id is None:
            data["trace"] = self._begin_trace(run_id, data)
        self._emit(action, bumps, run_id, parent_run_id, data)

    def _begin_trace(self, run_id: UUID, data: dict[str, Any]) -> TraceStart:
        """At a root start only: the ``trace_attributes`` in effect here, and the trace id,
        which for LangGraph's ``Command(resume=...)`` is the interrupted trace's."""
        metadata = data["metadata"]
        thread = control_flow.thread_key(metadata) if metadata else None
        trace_id, resumed_from = run_id, None
        if thread is not None:
            resume = control_flow.is_resume(data.get("inputs"))
            trace_id, resumed_from = self._resumes.begin(thread, run_id, resume)
        self._last_trace_id = trace_id
        return TraceStart(trace_id, resumed_from, attributes.current(), thread)

    def _error(
        self,
        action: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        data: dict[str, Any],
    ) -> None:
        """A run failed, or LangGraph's control flow (an interrupt, a handoff) ended it."""
        if control_flow.is_control_flow(data["error"]):
            data["control_flow"] = True
            self._emit(action, _CONTROL_FLOW, run_id, parent_run_id, data)
        else:
            self._emit(action, _ERROR, run_id, parent_run_id, data)

    # -- traces and feedback ------------------------------------------------------------

    @property
    def last_trace_id(self) -> str | None:
        """The ``trace_id`` of the last root run this handler saw start, or None.

        Under concurrency "last" is whichever thread got there first: pass
        ``config={"run_id": uuid}`` and use ``str(uuid)`` as the trace id instead. A
        LangGraph resume's trace id is the interrupted trace's.
        """
        last = self._last_trace_id
        return None if last is None else str(last)

    def log_feedback(
        self,
        trace_id: str | UUID,
        name: str,
        value: float | bool,
        *,
        comment: str | None = None,
    ) -> None:
        """Attach feedback (a score, a thumbs up) to a trace, from any thread, at any time.

        ``value`` is a number or a bool; ``name`` becomes the metric ``feedback_<name>``.
        Raises ``TypeError``/``ValueError`` at once for a bad argument; anything that
        fails later is reported like every other failure inside the handler.
        """
        given = feedback.validate(trace_id, name, value, comment, time.time())
        self._submit_feedback(given)

    @_guarded
    def _submit_feedback(self, given: feedback.Feedback) -> None:
        with self._lock:
            snapshot = tuple(self._counters)
        self._session.submit(
            Event(
                "log_feedback",
                None,
                None,
                snapshot,
                given.wall,
                time.perf_counter(),
                {"feedback": given},
            )
        )

    @_guarded
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when LLM starts."""
        self._start(
            "on_llm_start",
            _LLM_START,
            run_id,
            parent_run_id,
            _start_data(serialized, tags, metadata, kwargs, prompts=tuple(prompts)),
        )

    @_guarded
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when a chat model starts; messages keep their roles."""
        self._start(
            "on_chat_model_start",
            _LLM_START,
            run_id,
            parent_run_id,
            _start_data(serialized, tags, metadata, kwargs, messages=[list(m) for m in messages]),
        )

    @_guarded
    def on_llm_new_token(
        self,
        token: str | list[str | dict[str, Any]],
        *,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when LLM generates a new token."""
        self._emit("on_llm_new_token", _LLM_TOKEN, run_id, parent_run_id, {"token": token})

    @_guarded
    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when LLM ends running."""
        self._emit("on_llm_end", _LLM_END, run_id, parent_run_id, {"response": response})

    @_guarded
    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when LLM errors."""
        self._error("on_llm_error", run_id, parent_run_id, {"error": error})

    @_guarded
    def on_chain_start(
        self,
        serialized: dict[str, Any],
        inputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when chain starts running."""
        self._start(
            "on_chain_start",
            _CHAIN_START,
            run_id,
            parent_run_id,
            _start_data(serialized, tags, metadata, kwargs, inputs=head(inputs, self.max_items)),
        )

    @_guarded
    def on_chain_end(
        self,
        outputs: dict[str, Any],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when chain ends running."""
        data = {"outputs": head(outputs, self.max_items)}
        if "inputs" in kwargs:
            data["inputs"] = head(kwargs["inputs"], self.max_items)
        self._emit("on_chain_end", _CHAIN_END, run_id, parent_run_id, data)

    @_guarded
    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when chain errors."""
        data: dict[str, Any] = {"error": error}
        if "inputs" in kwargs:
            data["inputs"] = head(kwargs["inputs"], self.max_items)
        self._error("on_chain_error", run_id, parent_run_id, data)

    @_guarded
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when tool starts running."""
        self._start(
            "on_tool_start",
            _TOOL_START,
            run_id,
            parent_run_id,
            _start_data(
                serialized,
                tags,
                metadata,
                kwargs,
                input_str=input_str,
                inputs=head(inputs, self.max_items),
            ),
        )

    @_guarded
    def on_tool_end(
        self,
        output: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when tool ends running."""
        self._emit("on_tool_end", _TOOL_END, run_id, parent_run_id, {"output": output})

    @_guarded
    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when tool errors."""
        self._error("on_tool_error", run_id, parent_run_id, {"error": error})

    @_guarded
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when the Retriever starts running."""
        self._start(
            "on_retriever_start",
            _START,
            run_id,
            parent_run_id,
            _start_data(serialized, tags, metadata, kwargs, query=query),
        )

    @_guarded
    def on_retriever_end(
        self,
        documents: Sequence[Document],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when Retriever ends running."""
        found = documents if isinstance(documents, list) else list(documents)
        self._emit(
            "on_retriever_end",
            _END,
            run_id,
            parent_run_id,
            {"documents": head(found, self.max_items)},
        )

    @_guarded
    def on_retriever_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when Retriever errors."""
        self._error("on_retriever_error", run_id, parent_run_id, {"error": error})

    @_guarded
    def on_text(
        self,
        text: str,
        *,
        run_id: UUID | None = None,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run on arbitrary text (a chain's verbose output)."""
        self._emit("on_text", _TEXT, run_id, parent_run_id, {"text": text})

    @_guarded
    def on_agent_action(
        self,
        action: AgentAction,
        *,
        run_id: UUID | None = None,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run on agent action."""
        self._emit("on_agent_action", _TOOL_START, run_id, parent_run_id, {"action": action})

    @_guarded
    def on_agent_finish(
        self,
        finish: AgentFinish,
        *,
        run_id: UUID | None = None,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run when agent ends running."""
        self._emit("on_agent_finish", _AGENT_END, run_id, parent_run_id, {"finish": finish})

    @_guarded
    def on_retry(
        self,
        retry_state: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Run on a retry event."""
        # tenacity reuses the state object for the next attempt, so read it now.
        outcome = getattr(retry_state, "outcome", None)
        error = outcome.exception() if isinstance(outcome, Future) and outcome.done() else None
        data = {"attempt": getattr(retry_state, "attempt_number", None), "error": error}
        self._emit("on_retry", _STEP, run_id, parent_run_id, data)

    @_guarded
    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record a custom event on the run that dispatched it."""
        data = head(data, self.max_items)
        self._emit("on_custom_event", _STEP, run_id, None, {"name": name, "data": data})

    # -- flushing -----------------------------------------------------------------------

    def flush_tracker(
        self,
        langchain_asset: Any = None,
        task_type: str | None = "inference",
        workspace: str | None = None,
        project_name: str | None = "comet-langchain-demo",
        tags: Sequence[str] | None = None,
        name: str | None = None,
        visualizations: list[str] | None = None,
        complexity_metrics: bool = False,
        custom_metrics: CustomMetrics | None = None,
        finish: bool = False,
        reset: bool = False,
        *,
        timeout: float | None = None,
    ) -> None:
        """Log the session so far, end the experiment if ``finish``, start anew if ``reset``.

        Waits until all deferred work is done, or ``timeout`` seconds at most: then one
        WARNING says what is still pending, and it carries on in the background (on disk
        meanwhile, for ``langchain-comet recover`` if the process ends first). Everything
        recorded after a flush goes into the next session table. ``reset`` keeps every
        earlier setting not given anew.
        """
        _check_timeout("timeout", timeout)
        if reset:
            _check_config(tags, visualizations, custom_metrics, self.max_text_chars)
            if visualizations and self._pipeline is None:  # before any setting changes
                self._pipeline = resolve_pipeline(self.spacy_model)
        try:
            model = self._describe_asset(langchain_asset) if langchain_asset is not None else None
            structure = self._graph_structure(langchain_asset)
            if reset:
                self._apply_reset(
                    task_type,
                    workspace,
                    project_name,
                    tags,
                    name,
                    visualizations,
                    complexity_metrics,
                    custom_metrics,
                )
            self._session.flush(
                model=model,
                graph=structure,
                finish=finish,
                reset=reset,
                tree_settings=self._tree_settings() if reset else None,
                timeout=timeout,
            )
            if reset:
                self.reset_callback_meta()
            self._failures.raise_pending()
        except Exception as exc:
            if self.raise_error:
                raise
            self._failures.report("flush_tracker", exc)

    def _describe_asset(self, asset: Any) -> tuple[dict[str, Any], Any, str]:
        # With redact, texts are cut after redaction, on the worker (redact.py).
        limit = None if self.redact is not None else self.max_text_chars
        return (
            assets.model_parameters(asset, limit),
            assets.describe(asset, limit),
            self.name or DEFAULT_MODEL_NAME,
        )

    def _graph_structure(self, asset: Any) -> tuple[JSON, str] | None:
        """A LangGraph asset's nodes, edges and Mermaid text (graph.py), else None."""
        if not graph.is_graph(asset):
            return None
        limit = None if self.redact is not None else self.max_text_chars
        described: tuple[JSON, str] | None = self._failures.attempt(
            "describing the LangGraph graph", graph.structure, asset, limit
        )
        return described

    def _apply_reset(
        self,
        task_type: str | None,
        workspace: str | None,
        project_name: str | None,
        tags: Sequence[str] | None,
        name: str | None,
        visualizations: list[str] | None,
        complexity_metrics: bool,
        custom_metrics: CustomMetrics | None,
    ) -> None:
        if task_type and task_type != _FLUSH_DEFAULT_TASK_TYPE:
            self.task_type = task_type
        if project_name and (project_name != _FLUSH_DEFAULT_PROJECT or not self.project_name):
            self.project_name = project_name
        self.workspace = workspace or self.workspace
        self.tags = list(tags) if tags else self.tags
        self.name = name or self.name
        if visualizations:  # the pipeline was resolved before the flush began
            self.visualizations = list(visualizations)
        self.complexity_metrics = complexity_metrics or self.complexity_metrics
        self.custom_metrics = custom_metrics or self.custom_metrics
        self._settings.task_type = self.task_type
        self._settings.workspace = self.workspace
        self._settings.project_name = self.project_name
        self._settings.tags = self.tags
        self._settings.name = self.name


def _check_config(
    tags: Sequence[str] | None,
    visualizations: Sequence[str] | None,
    custom_metrics: Any,
    max_text_chars: int | None,
    *,
    redact: Any = None,
    sample_rate: Any = 1.0,
    exit_timeout: Any = None,
    max_items: Any = None,
    offline_directory: Any = None,
    experiment: Any = None,
) -> None:
    """Fail fast, at construction, on settings that could only fail later (SPEC §5)."""
    _check_timeout("exit_timeout", exit_timeout)
    if offline_directory is not None and not isinstance(offline_directory, str | os.PathLike):
        raise TypeError(
            "offline_directory must be a path (str or os.PathLike) or None, "
            f"got {offline_directory!r}"
        )
    if experiment is not None and not all(
        callable(getattr(experiment, method, None)) for method in ("log_text", "log_metrics")
    ):
        raise TypeError(
            "experiment must be a comet_ml experiment (Experiment, OfflineExperiment, ...) or "
            f"None, got {type(experiment).__name__}"
        )
    if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
        raise TypeError(f"tags must be a list of strings, got {tags!r}")
    if isinstance(visualizations, str):
        raise ValueError(
            f"visualizations must be a list of styles, e.g. [{visualizations!r}], not the "
            f"string {visualizations!r}; choose from {list(VISUALIZATION_STYLES)}"
        )
    if visualizations is not None:
        unknown = [v for v in visualizations if v not in VISUALIZATION_STYLES]
        if unknown:
            raise ValueError(
                f"unknown visualization style(s) {unknown!r}; "
                f"choose from {list(VISUALIZATION_STYLES)}"
            )
    if custom_metrics is not None and not callable(custom_metrics):
        raise TypeError(
            "custom_metrics must be a callable (generation, prompt_idx, gen_idx) -> dict, "
            f"got {type(custom_metrics).__name__}"
        )
    if max_text_chars is not None and (
        isinstance(max_text_chars, bool)
        or not isinstance(max_text_chars, int)
        or max_text_chars < 1
    ):
        raise ValueError(f"max_text_chars must be a positive int or None, got {max_text_chars!r}")
    if max_items is not None and (
        isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1
    ):
        raise ValueError(
            "max_items must be a positive int (the most items a list, tuple, set, dict or "
            f"array keeps in a record) or None (keep every item), got {max_items!r}"
        )
    if redact is not None and not callable(redact):
        raise TypeError(
            f"redact must be a function taking a str and returning it redacted, got {redact!r}"
        )
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, int | float)
        or not 0.0 <= sample_rate <= 1.0
    ):
        raise ValueError(
            f"sample_rate must be a number from 0 to 1 (the share of traces recorded), "
            f"got {sample_rate!r}"
        )


def _check_timeout(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(
            f"{name} must be a number of seconds >= 0, or None (no limit), got {value!r}"
        )


def _in_process_session(
    failures: Failures,
    exit_timeout: float | None,
    settings: ExperimentSettings,
    tree: TreeSettings,
    handle: ExperimentHandle | None = None,
) -> Session:
    """A session in this process (by default, or when the recorder process failed)."""
    sink = new_sink(failures, settings, handle)
    warn_of_orphans(sink)
    return Session(
        sink,
        tree,
        failures,
        experiment_settings=settings,
        make_sink=functools.partial(new_sink, failures),
        exit_timeout=exit_timeout,
    )


def _start_data(
    serialized: Any,
    tags: list[str] | None,
    metadata: Mapping[str, Any] | None,
    kwargs: Mapping[str, Any],
    **data: Any,
) -> dict[str, Any]:
    data["serialized"] = serialized
    # Tuples of strings: the collector stops tracking them at its first pass, so waiting for
    # the worker they never reach its old generation (a list would; see runs.Event).
    data["tags"] = tuple(tags) if tags else None
    data["metadata"] = dict(metadata) if metadata else None
    data["name"] = kwargs.get("name")
    data["run_type"] = kwargs.get("run_type")
    data["invocation_params"] = kwargs.get("invocation_params")
    return data
