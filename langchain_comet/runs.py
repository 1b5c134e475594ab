"""The run tree: LangChain events in, one record per run out.

Every event carries LangChain's ``run_id`` and ``parent_run_id``; records are joined by
those ids, never by arrival order, so threads, ``batch`` and asyncio interleave freely.
Only runs still open are held in memory: a finished run is handed to the writer at once
and a trace's state is released when its root ends.

This module runs on the background worker only; the handler never calls it directly.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, Generation, LLMResult

from langchain_comet import control_flow, cost_source, invocation, metrics, prompts, usage
from langchain_comet.attributes import SESSION_KEYS as SESSION_KEYS
from langchain_comet.attributes import TraceStart, TraceState, run_fields
from langchain_comet.failures import Failures
from langchain_comet.feedback import Feedback
from langchain_comet.media import MediaLog, Payload, RunMedia
from langchain_comet.pricing import Pricer
from langchain_comet.records import RecordWriter
from langchain_comet.redact import Redact, RedactingWriter, Redactor
from langchain_comet.serialize import (
    DEFAULT_MAX_ITEMS,
    EVENT_TEXTS,
    JSON,
    head,
    message_text,
    message_to_dict,
    render_messages,
    str_of,
    string_limit,
    text_of,
    to_json,
    truncate,
)
from langchain_comet.session_summary import SessionSummary
from langchain_comet.visualize import PageBatches, Visualizer

# The seed's counters, in the order ``get_custom_callback_meta`` returns them.
COUNTERS = (
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
)
# Retries, custom events and texts attached to one run; past this they are only counted.
MAX_EVENTS_PER_RUN = 100
LLM_RUN_TYPES = frozenset({"llm", "chat_model"})
# Generations visualized together (spaCy's nlp.pipe), at most this many at once; fewer
# once the first has waited VIZ_WAIT seconds, and all of them at a flush.
VIZ_BATCH = 32
VIZ_WAIT = 1.0


class Event(dict[str, Any]):
    """One callback, captured on the application's thread with the counters at that moment:
    the callback's arguments are its items, who and when its attributes.

    One object, not an object and a dict: events wait for the worker in the
    application's busy moments, so they outlive its young garbage collections, and every
    object that does adds to the collector's full passes over the whole heap, which run
    on the application's thread (events with a dict of their own were 16 of the 34
    objects a 3-step chain call held; ``python -m bench.gc_cost``).
    """

    __slots__ = ("action", "counters", "parent_run_id", "perf", "run_id", "wall")

    def __init__(
        self,
        action: str,
        run_id: UUID | None,
        parent_run_id: UUID | None,
        counters: tuple[int, ...],
        wall: float,
        perf: float,
        data: dict[str, Any],
    ) -> None:
        super().__init__(data)
        self.action = action
        self.run_id = run_id
        self.parent_run_id = parent_run_id
        self.counters = counters
        self.wall = wall
        self.perf = perf

    @property
    def data(self) -> dict[str, Any]:
        return self

    @property
    def step(self) -> int:
        return self.counters[0]

    def __repr__(self) -> str:
        return f"Event({self.action!r}, run_id={self.run_id}, data={dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # To the recorder process (recorder.py): its own arguments, not a dict's state.
        fields = (self.action, self.run_id, self.parent_run_id, self.counters, self.wall)
        return (Event, (*fields, self.perf, dict(self)))

    __eq__ = object.__eq__  # an event is itself, not its arguments
    __ne__ = object.__ne__
    __hash__ = object.__hash__  # type: ignore[assignment]


@dataclass(slots=True)
class _Run:
    run_id: UUID
    parent_run_id: UUID | None
    trace_id: UUID
    run_type: str
    name: str
    start_wall: float | None
    start_perf: float | None
    inputs: JSON
    tags: JSON
    metadata: Mapping[str, Any]
    invocation_params: Mapping[str, Any]
    # Shared by every run of the trace: its root, attributes, what it resumed.
    trace: TraceState
    # One prompt text per batch index, for the session table.
    prompts: list[str] = field(default_factory=list)
    first_token_perf: float | None = None
    tokens_streamed: int = 0
    # Streamed tokens become one action record when the run ends, not one per token.
    tokens: list[JSON] = field(default_factory=list)
    last_token: Event | None = None
    events: list[JSON] = field(default_factory=list)
    dropped_events: int = 0
    # On a root run: the cost of its trace's priced LLM runs so far, None while none is.
    trace_cost_usd: float | None = None
    # What paused a descendant (LangGraph's interrupt()): this run ends interrupted too.
    interrupts: list[dict[str, JSON]] | None = None
    # The ids as strings, made once: every record and text of the run carries them.
    ids: dict[str, JSON] = field(init=False)
    # LLM runs: what the model saw (invocation_params, tools, prompt_template, ...).
    model_inputs: dict[str, JSON] = field(default_factory=dict)
    media: RunMedia = field(default_factory=RunMedia)
    # Prompt runs: their template, matched to the LLM run they feed when they end.
    prompt_template: dict[str, JSON] | None = None
    # Made once (RunTree._settle): its metadata as JSON, and user_id, session_id and the
    # LangGraph fields, which its started record and its run record share.
    metadata_json: JSON = None
    fields: dict[str, JSON] = field(default_factory=dict)
    # The open parent run, if any: its id strings are this run's parent and trace ids
    # (``str(UUID)`` is Python code, and a chain call makes a dozen).
    parent: InitVar[_Run | None] = None

    def __post_init__(self, parent: _Run | None) -> None:
        if parent is not None:
            self.ids = {
                "run_id": str(self.run_id),
                "parent_run_id": parent.ids["run_id"],
                "trace_id": parent.ids["trace_id"],
            }
        else:
            self.ids = {
                "run_id": str(self.run_id),
                "parent_run_id": str(self.parent_run_id) if self.parent_run_id else None,
                "trace_id": str(self.trace_id),
            }


@dataclass(slots=True)
class TreeSettings:
    stream_logs: bool = True
    complexity_metrics: bool = False
    custom_metrics: metrics.CustomMetrics | None = None
    max_chars: int | None = None
    max_items: int | None = DEFAULT_MAX_ITEMS
    visualizer: Visualizer | None = None
    pricer: Pricer = field(default_factory=Pricer)
    redact: Redact | None = None
    log_media: bool = True
    # The handler's LangGraph threads waiting for a resume (control_flow.py).
    resumes: control_flow.ResumeStore | None = None


# The last whole second iso() formatted, and its text up to the seconds.
_iso_second: tuple[float, str] = (-1.0, "")


def iso(wall: float | None) -> str | None:
    """``datetime.fromtimestamp(wall, UTC).isoformat()``, the same text at a third of its
    cost (every run record has two): the date and time of a second are made once, and
    the microseconds rounded exactly as ``fromtimestamp`` rounds them (half to even)."""
    global _iso_second
    if wall is None:
        return None
    fraction, whole = math.modf(wall)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro -= 1_000_000
        whole += 1.0
    elif micro < 0:  # before 1970
        micro += 1_000_000
        whole -= 1.0
    second, head = _iso_second
    if second != whole:
        head = datetime.fromtimestamp(whole, UTC).isoformat()[:19]
        _iso_second = (whole, head)
    return f"{head}.{micro:06d}+00:00" if micro else f"{head}+00:00"


def error_info(error: BaseException, max_chars: int | None) -> dict[str, JSON]:
    """``type, message, traceback`` of an exception, as the run record stores it.

    The message is the one the traceback was formatted with: ``str(error)`` is computed
    once, not once for each.
    """
    cls = type(error)
    name = truncate(
        cls.__qualname__
        if cls.__module__ == "builtins"
        else f"{cls.__module__}.{cls.__qualname__}",
        _MAX_TYPE_CHARS,
    )
    message: str | None = None
    try:
        formatted = traceback.TracebackException.from_exception(error, compact=True)
        trace = truncate("".join(formatted.format()), max_chars)
        said = getattr(formatted, "_str", None)  # what it got from str(error)
        if isinstance(said, str) and said != _STR_FAILED:
            message = truncate(said, max_chars)
    except Exception as exc:
        trace = f"<no traceback: {type(exc).__name__}>"
    if message is None:
        try:
            message = truncate(str_of(error), max_chars)
        except Exception as exc:  # a hostile __str__ must not cost the record
            short = truncate(cls.__qualname__, _MAX_TYPE_CHARS)
            message = f"<unprintable {short}: {type(exc).__name__}>"
    return {"type": name, "message": message, "traceback": trace}


class DescribedError(Exception):
    """An exception as :func:`error_info` described it in the application's process: what
    crosses to the recorder process (recorder.py) instead of the exception, whose
    traceback does not pickle and whose class may not import there."""

    def __init__(self, info: dict[str, JSON]) -> None:
        super().__init__(info)
        self.info = info

    def described(self, max_chars: int | None) -> dict[str, JSON]:
        return {
            key: truncate(value, _MAX_TYPE_CHARS if key == "type" else max_chars)
            if isinstance(value, str)
            else value
            for key, value in self.info.items()
        }


def described(error: BaseException, max_chars: int | None) -> dict[str, JSON]:
    """:func:`error_info` of ``error``, or what it said in the application's process."""
    if isinstance(error, DescribedError):
        return error.described(max_chars)
    return error_info(error, max_chars)


# What traceback writes for an exception whose __str__ raised.
_STR_FAILED = "<exception str() failed>"
_MAX_TYPE_CHARS = 1_000


class RunTree:
    """Turns events into run records, session rows, text samples, metrics and actions."""

    def __init__(self, writer: RecordWriter, settings: TreeSettings, failures: Failures) -> None:
        self.failures = failures
        self.configure(writer, settings)
        # The experiment's session_* metrics; the session starts a new one with each experiment.
        self.summary = SessionSummary()
        # Called before the user's own code (custom_metrics), which may take any time: what
        # waits in memory goes to disk first (store.py's bound must not hang on it).
        self.before_user_code: Callable[[], None] | None = None
        self._open: dict[UUID, _Run] = {}
        self.prompts = prompts.PromptTemplates()
        self._visualized = 0  # the seed's per-session index of visualized generations
        self._pages = PageBatches(failures, self._write_page, batch=VIZ_BATCH, wait=VIZ_WAIT)
        self._handlers: dict[str, Callable[[Event], None]] = {
            "on_llm_start": self._llm_start,
            "on_chat_model_start": self._chat_model_start,
            "on_chain_start": self._chain_start,
            "on_tool_start": self._tool_start,
            "on_retriever_start": self._retriever_start,
            "on_llm_new_token": self._new_token,
            "on_llm_end": self._llm_end,
            "on_chain_end": self._chain_end,
            "on_tool_end": self._tool_end,
            "on_retriever_end": self._retriever_end,
            "on_llm_error": self._error,
            "on_chain_error": self._error,
            "on_tool_error": self._error,
            "on_retriever_error": self._error,
            "on_text": self._text,
            "on_agent_action": self._agent_action,
            "on_agent_finish": self._agent_finish,
            "on_retry": self._retry,
            "on_custom_event": self._custom_event,
            "log_feedback": self._feedback,
        }

    def configure(self, writer: RecordWriter, settings: TreeSettings) -> None:
        """Where records go and how they are made: at the start, and for each experiment."""
        self.redactor = None
        # No string is longer than MAX_STRING_CHARS, whatever max_text_chars says.
        settings = dataclasses.replace(settings, max_chars=string_limit(settings.max_chars))
        if writer is not getattr(self, "_media_writer", None):  # a new experiment
            self._media_writer = writer
            self.media_log = MediaLog(settings.log_media)
        self.media_log.enabled = settings.log_media
        if settings.redact is not None:
            self.redactor = Redactor(settings.redact, self.failures, settings.max_chars)
            # Texts are redacted whole, then cut, on their way out (redact.py).
            settings = dataclasses.replace(settings, max_chars=None)
            writer = RedactingWriter(writer, self.redactor)
        self.writer = writer
        self.settings = settings

    def apply(self, event: Event) -> None:
        # Everything made of this event shares one str()/repr() per object (serialize.py).
        token = EVENT_TEXTS.set({})
        try:
            self._handlers[event.action](event)
        finally:
            EVENT_TEXTS.reset(token)

    def close(self, wall: float, perf: float) -> None:
        """Write the runs still open (the process is ending) as incomplete."""
        self.drain_visualizations()
        for run in list(self._open.values()):
            self._finish(run, wall, perf, status="incomplete", outputs=None, error=None)

    # -- helpers -----------------------------------------------------------------------

    def _json(self, value: Any) -> JSON:
        return to_json(value, self.settings.max_chars, self.settings.max_items)

    def _text_of(self, value: str) -> str:
        return truncate(value, self.settings.max_chars)

    def _name(self, value: str | None) -> str | None:
        """A name read from the app's metadata or response (a model, a session), cut."""
        return None if value is None else truncate(value, self.settings.max_chars)

    def _names(self, fields: dict[str, JSON]) -> dict[str, JSON]:
        """Fields read from the app's metadata (user, session, graph node), cut."""
        return {k: self._name(v) if isinstance(v, str) else v for k, v in fields.items()}

    def _ids(self, event: Event, run: _Run | None = None) -> dict[str, JSON]:
        if run is not None and run.run_id == event.run_id:
            return run.ids
        ids: dict[str, JSON] = {
            "run_id": str(event.run_id) if event.run_id else None,
            "parent_run_id": str(event.parent_run_id) if event.parent_run_id else None,
        }
        if run is not None:
            ids["trace_id"] = str(run.trace_id)
        return ids

    def _stream(self, text: Any, event: Event, run: _Run | None, **extra: JSON) -> None:
        if not self.settings.stream_logs or not isinstance(text, str):
            return
        metadata: dict[str, JSON] = {"action": event.action, **self._ids(event, run), **extra}
        self.writer.text(self._text_of(text), metadata, event.step)

    def _string_items(self, values: Any) -> list[tuple[str | None, str]]:
        """The string values of a chain's inputs or outputs, as the seed streamed them."""
        if isinstance(values, str):
            return [(None, values)]
        if isinstance(values, Mapping):
            return [
                (self._text_of(text_of(k, None)), v)
                for k, v in values.items()
                if isinstance(v, str)
            ]
        if isinstance(values, BaseMessage):
            return [(None, _content_text(values, self.settings.max_items))]
        return []

    def _string_fields(
        self, items: list[tuple[str | None, str]], default_key: str
    ) -> dict[str, JSON]:
        """A chain's string inputs or outputs, keyed as the seed's action records had them.

        The full values are in the run record; action records stay a compact log.
        """
        return {key or default_key: self._text_of(value) for key, value in items}

    def _record_action(self, event: Event, run: _Run | None, **content: JSON) -> None:
        record: dict[str, JSON] = {"action": event.action, **self._ids(event, run)}
        if run is not None:
            record["name"] = run.name
        record.update(zip(COUNTERS, event.counters, strict=True))
        record.update(content)
        self.writer.action(record)

    def _open_run(
        self, event: Event, run_type: str, inputs: JSON, *, announce: bool = True
    ) -> _Run:
        """Open a run; ``announce`` it now, or later once its inputs are made (chat runs)."""
        data = event.data
        run_id = event.run_id
        assert run_id is not None  # every start callback carries one
        parent = self._open.get(event.parent_run_id) if event.parent_run_id else None
        if parent is not None:
            trace_id, trace = parent.trace_id, parent.trace
        else:
            # A parent this handler never saw (ignored, or another handler's) roots the trace;
            # a resumed LangGraph root continues the trace it resumes.
            start: TraceStart | None = data.get("trace")
            trace_id = start.trace_id if start else event.parent_run_id or run_id
            trace = TraceState(run_id)
            if start is not None:
                trace = TraceState(run_id, start.attributes, start.resumed_from, start.thread)
        metadata = data.get("metadata") or {}
        tags = data.get("tags") or []
        if trace.attributes is not None:  # trace_attributes(...): the run's own values win
            metadata = {**trace.attributes.metadata, **metadata}
            tags = [*tags, *(tag for tag in trace.attributes.tags if tag not in tags)]
        run = _Run(
            run_id=run_id,
            parent_run_id=event.parent_run_id,
            trace_id=trace_id,
            parent=parent,
            run_type=run_type,
            name=self._text_of(_run_name(data.get("name"), data.get("serialized"), run_type)),
            start_wall=event.wall,
            start_perf=event.perf,
            inputs=inputs,
            tags=self._json(tags),
            metadata=metadata,
            invocation_params=data.get("invocation_params") or {},
            trace=trace,
        )
        self._settle(run)
        self._open[run_id] = run
        if announce:
            self._announce(run)
        return run

    def _announce(self, run: _Run) -> None:
        # Made and on disk at the next sync if it is still open then: a run still open
        # when the process is killed is recovered as incomplete (store.py, recover.py).
        self.writer.started(run.ids["run_id"], lambda: self._started_record(run))

    @staticmethod
    def _started_record(run: _Run) -> dict[str, JSON]:
        return {
            **run.ids,
            "run_type": run.run_type,
            "name": run.name,
            "start_time": iso(run.start_wall),
            "inputs": run.inputs,
            "tags": run.tags,
            "metadata": run.metadata_json,
            **run.fields,
        }

    def _settle(self, run: _Run) -> _Run:
        """Make what the run's records share, once: its metadata as JSON, its fields."""
        run.metadata_json = self._json(run.metadata)
        run.fields = self._names(run_fields(run.metadata, run.trace.attributes))
        return run

    def _take(self, event: Event, run_type: str) -> _Run:
        """The open run an end or error event closes; a stand-in if its start was never seen."""
        run = self._open.get(event.run_id) if event.run_id else None
        if run is not None:
            return run
        stand_in = _Run(
            run_id=event.run_id or UUID(int=0),
            parent_run_id=event.parent_run_id,
            trace_id=event.parent_run_id or event.run_id or UUID(int=0),
            run_type=run_type,
            name=run_type,
            start_wall=None,
            start_perf=None,
            inputs=None,
            tags=[],
            metadata={},
            invocation_params={},
            trace=TraceState(event.run_id or UUID(int=0)),
        )
        return self._settle(stand_in)

    def _finish(
        self,
        run: _Run,
        wall: float,
        perf: float,
        *,
        status: str,
        outputs: JSON,
        error: dict[str, JSON] | None,
        token_usage: usage.TokenUsage | None = None,
        model_name: str | None = None,
        cost_usd: float | None = None,
        step: int | None = None,
        generation_metrics: list[dict[str, Any]] | None = None,
        interrupt: dict[str, JSON] | None = None,
    ) -> dict[str, JSON]:
        self._open.pop(run.run_id, None)
        self.prompts.forget(run.run_id)
        if status == "success" and run.interrupts:  # a descendant paused the graph
            status, interrupt = "interrupted", control_flow.merge(run.interrupts)
        if run.last_token is not None:
            # The seed logged one action per token; one per run with every token in order
            # keeps the content at a fraction of the records (a stream is hundreds).
            self._record_action(run.last_token, run, tokens=run.tokens)
        latency_ms = None if run.start_perf is None else (perf - run.start_perf) * 1000.0
        ttft_ms = (
            None
            if run.first_token_perf is None or run.start_perf is None
            else (run.first_token_perf - run.start_perf) * 1000.0
        )
        record: dict[str, JSON] = {
            **run.ids,
            "run_type": run.run_type,
            "name": run.name,
            "status": status,
            "start_time": iso(run.start_wall),
            "end_time": iso(wall) if status != "incomplete" else None,
            "latency_ms": latency_ms if status != "incomplete" else None,
            "inputs": run.inputs,
            "outputs": outputs,
            "error": error,
            "tags": run.tags,
            "metadata": run.metadata_json,
            "model_name": self._name(model_name),
            "provider": self._name(usage.provider(run.metadata)),
            "token_usage": dict(token_usage) if token_usage else None,
            "time_to_first_token_ms": ttft_ms,
            "tokens_streamed": run.tokens_streamed if run.run_type in LLM_RUN_TYPES else None,
            **run.fields,
            "step": step,
            "events": run.events,
        }
        if interrupt is not None:
            record["interrupt"] = interrupt
        if run.dropped_events:
            record["events_dropped"] = run.dropped_events
        if generation_metrics:
            record["generation_metrics"] = self._json(generation_metrics)
        llm = run.run_type in LLM_RUN_TYPES
        if llm:
            record["cost_usd"] = cost_usd
            if cost_usd is not None:
                self._add_trace_cost(run, cost_usd)
            record.update(run.model_inputs)
        root = run.parent_run_id is None
        if root:
            record["trace_cost_usd"] = run.trace_cost_usd
            self._end_trace(run, record, status)
        self.writer.run(record)
        self.summary.add(record, llm=llm)
        if root and latency_ms is not None and status != "incomplete":
            trace_metrics = {"trace_latency_ms": latency_ms}
            if run.trace_cost_usd is not None:
                trace_metrics["trace_cost_usd"] = run.trace_cost_usd
            self.writer.metrics(trace_metrics, step or 0)
        return record

    def _end_trace(self, root: _Run, record: dict[str, JSON], status: str) -> None:
        """A root ended: say what it resumed, and keep its LangGraph thread for a resume
        only if it was interrupted (control_flow.ResumeStore)."""
        trace = root.trace
        if trace.resumed_from is not None:
            record["resumed_from"] = str(trace.resumed_from)
        resumes = self.settings.resumes
        if trace.thread is not None and resumes is not None:
            resumes.settle(trace.thread, root.trace_id, status == "interrupted")

    def _add_trace_cost(self, run: _Run, cost_usd: float) -> None:
        """Add an LLM run's cost to its trace's root: the run itself when it is the root,
        else the root while it is open (a root never seen, or already ended, gets none)."""
        root = run if run.parent_run_id is None else self._open.get(run.trace.root_run_id)
        if root is not None:
            root.trace_cost_usd = (root.trace_cost_usd or 0.0) + cost_usd

    def _attach(self, event: Event, kind: str, payload: dict[str, JSON]) -> _Run | None:
        run = self._open.get(event.run_id) if event.run_id else None
        if run is None:
            return None
        if len(run.events) < MAX_EVENTS_PER_RUN:
            run.events.append({"event": kind, "time": iso(event.wall), **payload})
        else:
            run.dropped_events += 1
        return run

    # -- starts ------------------------------------------------------------------------

    def _llm_start(self, event: Event) -> None:
        prompts = [
            p if type(p) is str else text_of(p, None, self.settings.max_items)
            for p in event.data["prompts"]
        ]
        run = self._open_run(event, "llm", {"prompts": self._json(prompts)})
        run.prompts = [self._text_of(p) for p in prompts]
        self._model_inputs(event, run, text=prompts)
        for idx, prompt in enumerate(prompts):
            self._stream(prompt, event, run, prompt_idx=idx)
        self._record_action(event, run, prompts=list(run.prompts))

    def _chat_model_start(self, event: Event) -> None:
        batches: Sequence[Sequence[BaseMessage]] = event.data["messages"]
        run = self._open_run(event, "chat_model", None, announce=False)
        messages: list[JSON] = [self._messages(batch, run) for batch in batches]
        run.inputs = {"messages": messages}
        self._announce(run)
        run.prompts = [self._text_of(render_messages(batch)) for batch in batches]
        self._model_inputs(event, run, messages=batches)
        for idx, prompt in enumerate(run.prompts):
            self._stream(prompt, event, run, prompt_idx=idx)
        self._record_action(event, run, messages=messages)

    def _chain_start(self, event: Event) -> None:
        inputs = event.data["inputs"]
        run_type = event.data.get("run_type")
        run_type = self._text_of(run_type) if isinstance(run_type, str) and run_type else "chain"
        run = self._open_run(event, run_type, self._json(inputs))
        strings = self._string_items(inputs)
        if run_type == prompts.PROMPT_RUN_TYPE:
            run.prompt_template = self.failures.attempt(
                "prompt templates",
                prompts.describe,
                run.name,
                event.data.get("serialized"),
                inputs,
                run.metadata,
                self.media_log,
                self.settings.max_chars,
            )
        if run_type not in _ECHO_RUN_TYPES:
            for key, value in strings:
                self._stream(value, event, run, key=key)
        self._record_action(event, run, **self._string_fields(strings, "input"))

    def _tool_start(self, event: Event) -> None:
        structured = event.data.get("inputs")
        input_str = event.data["input_str"]
        inputs = (
            self._json(structured) if structured is not None else {"input": self._json(input_str)}
        )
        run = self._open_run(event, "tool", inputs)
        self._stream(input_str, event, run)
        self._record_action(
            event,
            run,
            input_str=text_of(input_str, self.settings.max_chars, self.settings.max_items),
        )

    def _retriever_start(self, event: Event) -> None:
        query = self._json(event.data["query"])
        run = self._open_run(event, "retriever", {"query": query})
        self._record_action(event, run, query=query)

    # -- during ------------------------------------------------------------------------

    def _new_token(self, event: Event) -> None:
        run = self._open.get(event.run_id) if event.run_id else None
        token = event.data["token"]
        token_json = token if type(token) is str else self._json(token)
        if run is None:
            self._record_action(event, run, token=token_json)
            return
        if run.first_token_perf is None:
            run.first_token_perf = event.perf
        run.tokens_streamed += 1
        run.tokens.append(token_json)
        run.last_token = event

    def _text(self, event: Event) -> None:
        text = event.data["text"]
        converted = self._json(text)
        run = self._attach(event, "text", {"text": converted})
        self._stream(text, event, run)
        self._record_action(event, run, text=converted)

    def _agent_action(self, event: Event) -> None:
        action = event.data["action"]
        payload: dict[str, JSON] = {
            "tool": self._json(action.tool),
            "tool_input": self._json(action.tool_input),
            "log": self._json(action.log),
        }
        run = self._attach(event, "agent_action", payload)
        if run is not None:
            run.run_type = "agent"
        self._stream(text_of(action.tool_input, None, self.settings.max_items), event, run)
        self._record_action(event, run, **payload)

    def _agent_finish(self, event: Event) -> None:
        finish = event.data["finish"]
        payload: dict[str, JSON] = {
            "output": self._json(finish.return_values),
            "log": self._json(finish.log),
        }
        run = self._attach(event, "agent_finish", payload)
        if run is not None:
            run.run_type = "agent"
        output = (
            finish.return_values.get("output") if isinstance(finish.return_values, dict) else None
        )
        self._stream(
            output
            if isinstance(output, str)
            else text_of(finish.return_values, None, self.settings.max_items),
            event,
            run,
        )
        self._record_action(event, run, **payload)

    def _retry(self, event: Event) -> None:
        error = event.data["error"]
        payload: dict[str, JSON] = {
            "attempt": self._json(event.data["attempt"]),
            "error": (
                described(error, self.settings.max_chars)
                if isinstance(error, BaseException)
                else None
            ),
        }
        run = self._attach(event, "retry", payload)
        self._record_action(event, run, **payload)

    def _custom_event(self, event: Event) -> None:
        payload: dict[str, JSON] = {
            "name": self._json(event.data["name"]),
            "data": self._json(event.data["data"]),
        }
        run = self._attach(event, "custom_event", payload)
        self._record_action(event, run, **payload)

    # -- ends --------------------------------------------------------------------------

    def _llm_end(self, event: Event) -> None:
        response: LLMResult = event.data["response"]
        run = self._take(event, "llm")
        tokens = usage.token_usage(response)
        models = usage.model_names(run.metadata, run.invocation_params, response)
        cost, source = self.failures.attempt(
            "pricing",
            cost_source.choose,
            self.settings.pricer,
            response,
            tokens,
            usage.provider(run.metadata),
            models,
            event.wall if run.start_wall is None else run.start_wall,
        ) or (None, None)
        if source is not None:
            run.model_inputs["cost_source"] = source
        outputs: JSON = {
            "generations": [
                [self._generation(g, run) for g in gens] for gens in response.generations
            ],
            "llm_output": self._json(response.llm_output),
        }
        analyses = self._analyse(response)
        record = self._finish(
            run,
            event.wall,
            event.perf,
            status="success",
            outputs=outputs,
            error=None,
            token_usage=tokens,
            model_name=models[0] if models else None,
            cost_usd=cost,
            step=event.step,
            generation_metrics=[a for a in analyses if len(a) > 2] or None,
        )
        self._session_rows(event, run, response, record, analyses)
        per_run = {
            "llm_latency_ms": record["latency_ms"],
            "time_to_first_token_ms": record["time_to_first_token_ms"],
            "cost_usd": cost,
            **(tokens or {}),
        }
        values = {
            name: float(value)
            for name, value in per_run.items()
            if name in _PER_RUN_METRICS and isinstance(value, int | float)
        }
        if values:
            self.writer.metrics(values, event.step)
        texts: list[JSON] = [self._text_of(g.text) for gens in response.generations for g in gens]
        self._record_action(event, run, text=texts, token_usage=record["token_usage"])

    def _generation(self, generation: Generation, run: _Run) -> JSON:
        out: dict[str, JSON] = {"text": self._text_of(generation.text)}
        if generation.generation_info:
            out["generation_info"] = self._json(generation.generation_info)
        if isinstance(generation, ChatGeneration):
            out["message"] = self._message(generation.message, run)
        return out

    # -- what the model saw (issue #15) --------------------------------------------------

    def _messages(self, batch: Sequence[BaseMessage], run: _Run) -> list[JSON]:
        kept = head(batch, self.settings.max_items)
        return [self._message(message, run) for message in kept]

    def _message(self, message: BaseMessage, run: _Run) -> JSON:
        """A message for the record, its images, audio and files replaced by references
        (their payloads logged once per experiment: media.py)."""
        if not isinstance(message, BaseMessage):
            return self._json(message)
        replaced = self.failures.attempt(
            "images, audio and files", self.media_log.message, message, run.media, self._emit
        )
        return message_to_dict(
            replaced or message, self.settings.max_chars, self.settings.max_items
        )

    def _emit(self, payload: Payload) -> None:
        self.writer.media(payload)

    def _model_inputs(
        self,
        event: Event,
        run: _Run,
        *,
        messages: Sequence[Sequence[BaseMessage]] | None = None,
        text: Sequence[str] | None = None,
    ) -> None:
        """``invocation_params``, ``tools``, ``tool_choice`` and ``prompt_template``."""
        called = self.failures.attempt(
            "invocation parameters",
            invocation.describe,
            event.data.get("invocation_params"),
            event.data.get("serialized"),
            self.settings.max_chars,
        )
        fields = run.model_inputs
        if called is not None:
            fields["invocation_params"] = called.params
            if called.tools is not None:
                fields["tools"] = called.tools
            if called.tool_choice is not None:
                fields["tool_choice"] = called.tool_choice
        template = self.failures.attempt(
            "prompt templates", self._match_template, run, messages, text
        )
        if template is not None:
            fields["prompt_template"] = template

    def _match_template(
        self,
        run: _Run,
        messages: Sequence[Sequence[BaseMessage]] | None,
        text: Sequence[str] | None,
    ) -> dict[str, JSON] | None:
        """The template of the prompt run whose output this run was called with."""
        if run.parent_run_id is None:
            return None
        if messages is not None and len(messages) == 1:
            batch = messages[0]
            template = self.prompts.match(
                self._ancestors(run), lambda: prompts.messages_digest(batch), chat=True
            )
        elif text is not None and len(text) == 1:
            prompt = text[0]
            template = self.prompts.match(
                self._ancestors(run), lambda: prompts.text_digest(prompt), chat=False
            )
        else:  # one run for several prompts (generate): which template fed which is unknown
            return None
        return None if template is None else prompts.with_version(template, run.metadata)

    def _ancestors(self, run: _Run) -> Iterator[UUID]:
        parent_id = run.parent_run_id
        for _ in range(prompts.MAX_ANCESTORS):
            if parent_id is None:
                return
            yield parent_id
            parent = self._open.get(parent_id)
            parent_id = parent.parent_run_id if parent is not None else None

    def _analyse(self, response: LLMResult) -> list[dict[str, Any]]:
        """Readability and custom metrics of each generation, computed once for the run
        record, the session table and the metric summaries."""
        analyses: list[dict[str, Any]] = []
        for prompt_idx, generations in enumerate(response.generations):
            for gen_idx, generation in enumerate(generations):
                analysis: dict[str, Any] = {"prompt_idx": prompt_idx, "gen_idx": gen_idx}
                if self.settings.complexity_metrics:
                    scores = self.failures.attempt(
                        "complexity_metrics", metrics.complexity_metrics, generation.text
                    )
                    analysis["complexity"] = scores or {}
                if self.settings.custom_metrics is not None:
                    if self.before_user_code is not None:
                        self.before_user_code()
                    custom = self.failures.attempt(
                        "custom_metrics",
                        metrics.custom_metrics,
                        self.settings.custom_metrics,
                        generation,
                        prompt_idx,
                        gen_idx,
                    )
                    analysis["custom"] = custom or {}
                analyses.append(analysis)
        return analyses

    def _session_rows(
        self,
        event: Event,
        run: _Run,
        response: LLMResult,
        record: Mapping[str, JSON],
        analyses: list[dict[str, Any]],
    ) -> None:
        token_usage = record["token_usage"] if isinstance(record["token_usage"], dict) else {}
        for analysis in analyses:
            prompt_idx, gen_idx = analysis["prompt_idx"], analysis["gen_idx"]
            generation = response.generations[prompt_idx][gen_idx]
            prompt = run.prompts[prompt_idx] if prompt_idx < len(run.prompts) else None
            row: dict[str, JSON] = {
                "step": event.step,
                "run_id": record["run_id"],
                "parent_run_id": record["parent_run_id"],
                "trace_id": record["trace_id"],
                "prompt_idx": prompt_idx,
                "gen_idx": gen_idx,
                "prompts": prompt,
                "text": self._text_of(generation.text),
                "model_name": record["model_name"],
                "finish_reason": self._json(
                    (generation.generation_info or {}).get("finish_reason")
                ),
                "latency_ms": record["latency_ms"],
                "time_to_first_token_ms": record["time_to_first_token_ms"],
                "prompt_tokens": token_usage.get("prompt_tokens"),
                "completion_tokens": token_usage.get("completion_tokens"),
                "total_tokens": token_usage.get("total_tokens"),
                **analysis.get("complexity", {}),
                **analysis.get("custom", {}),
            }
            self.writer.row(row)
            self._stream(generation.text, event, run, prompt_idx=prompt_idx, gen_idx=gen_idx)
            if self.settings.visualizer is not None:
                self._visualize(generation.text, prompt)
        # Every score's statistics in one call (``<metric>_<stat>``, the names comet_ml
        # makes of a prefix): one message and one budget token instead of one per score.
        summaries: dict[str, float] = {}
        for kind in ("complexity", "custom"):
            rows = [a[kind] for a in analyses if a.get(kind)]
            for name, stats in metrics.summarize(rows).items():
                summaries.update({f"{name}_{stat}": value for stat, value in stats.items()})
        if summaries:
            self.writer.metrics(summaries, event.step)

    def _visualize(self, text: str, prompt: str | None) -> None:
        visualizer = self.settings.visualizer
        assert visualizer is not None
        idx = self._visualized
        self._visualized += 1
        if self.redactor is not None:
            text = self.redactor.text(text)
        self._pages.add(visualizer, idx, text, prompt, self.before_user_code)

    def drain_visualizations(self, *, due_only: bool = False) -> None:
        """Send the generations waiting for their pages to be rendered, in one spaCy batch
        (``due_only``: once the first has waited ``VIZ_WAIT``), and write the pages made
        by now; unless ``due_only``, wait for every batch sent (a flush, the end)."""
        self._pages.drain(self.before_user_code, waiting=not due_only)

    def _write_page(self, style: str, idx: int, html: str, prompt: str | None) -> None:
        self.writer.visualization(style, idx, html, prompt)

    def _chain_end(self, event: Event) -> None:
        run = self._take(event, "chain")
        late_inputs = event.data.get("inputs")
        if late_inputs is not None:  # streamed runs only know their inputs at the end
            run.inputs = self._json(late_inputs)
        outputs = event.data["outputs"]
        strings = self._string_items(outputs)
        if run.prompt_template is not None and run.parent_run_id is not None:
            self.failures.attempt(
                "prompt templates",
                self.prompts.ended,
                run.parent_run_id,
                outputs,
                run.prompt_template,
            )
        if run.run_type not in _ECHO_RUN_TYPES:
            for key, value in strings:
                self._stream(value, event, run, key=key)
        self._finish(
            run,
            event.wall,
            event.perf,
            status="success",
            outputs=self._json(outputs),
            error=None,
            step=event.step,
        )
        self._record_action(event, run, **self._string_fields(strings, "output"))

    def _tool_end(self, event: Event) -> None:
        run = self._take(event, "tool")
        output = event.data["output"]
        text = output if isinstance(output, str) else _content_text(output, self.settings.max_items)
        self._stream(text, event, run)
        self._finish(
            run,
            event.wall,
            event.perf,
            status="success",
            outputs={"output": self._json(output)},
            error=None,
            step=event.step,
        )
        self._record_action(event, run, output=self._text_of(text))

    def _retriever_end(self, event: Event) -> None:
        run = self._take(event, "retriever")
        found = event.data["documents"]
        documents = self._json(found)
        self._finish(
            run,
            event.wall,
            event.perf,
            status="success",
            outputs={"documents": documents},
            error=None,
            step=event.step,
        )
        self._record_action(event, run, documents=getattr(found, "total", len(found)))

    def _error(self, event: Event) -> None:
        run_type = event.action.removeprefix("on_").removesuffix("_error")
        run = self._take(event, run_type)
        late_inputs = event.data.get("inputs")
        if late_inputs is not None:
            run.inputs = self._json(late_inputs)
        if event.data.get("control_flow"):
            self._interrupted(event, run)
            return
        info = described(event.data["error"], self.settings.max_chars)
        model = (
            usage.model_name(run.metadata, run.invocation_params)
            if run.run_type in LLM_RUN_TYPES
            else None
        )
        self._finish(
            run,
            event.wall,
            event.perf,
            status="error",
            outputs=None,
            error=info,
            model_name=model,
            step=event.step,
        )
        self._record_action(event, run, error={"type": info["type"], "message": info["message"]})

    def _interrupted(self, event: Event, run: _Run) -> None:
        """LangGraph control flow ended the run: ``interrupted``, never an error. An
        ``interrupt()`` pauses the whole graph, so every run still open above it ends
        interrupted too (the graph itself returns normally, with ``__interrupt__``)."""
        info = control_flow.describe(event.data["error"], self.settings.max_chars)
        if info["kind"] == "interrupt":
            parent = self._open.get(run.parent_run_id) if run.parent_run_id else None
            while parent is not None:
                parent.interrupts = [*(parent.interrupts or ()), info]
                parent = self._open.get(parent.parent_run_id) if parent.parent_run_id else None
        self._finish(
            run,
            event.wall,
            event.perf,
            status="interrupted",
            outputs=None,
            error=None,
            step=event.step,
            interrupt=info,
        )
        self._record_action(event, run, interrupt=info)

    # -- feedback ----------------------------------------------------------------------

    def _feedback(self, event: Event) -> None:
        given: Feedback = event.data["feedback"]
        self.writer.feedback(given.record(self.settings.max_chars))
        self.writer.metrics({given.metric: float(given.value)}, event.step)
        self.summary.add_feedback(given.name, float(given.value))


# Prompt templates and output parsers only echo text that is already streamed: the
# chain's input, the LLM's prompt and its generation. Their records keep it all.
_ECHO_RUN_TYPES = frozenset({"prompt", "parser"})
_PER_RUN_METRICS = frozenset(
    {
        "llm_latency_ms",
        "time_to_first_token_ms",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost_usd",
    }
)


def _run_name(name: Any, serialized: Any, run_type: str) -> str:
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, Mapping):
        if isinstance(serialized.get("name"), str):
            return str(serialized["name"])
        ident = serialized.get("id")
        if isinstance(ident, list) and ident:
            return text_of(ident[-1], None)
    return run_type


def _content_text(value: Any, max_items: int | None) -> str:
    """Readable text of a tool's or chain's output (a message's text, else ``str``)."""
    if isinstance(value, BaseMessage):
        return message_text(value)
    try:
        content = getattr(value, "content", None)
    except Exception:  # a hostile __getattr__
        content = None
    return content if isinstance(content, str) else text_of(value, None, max_items)
