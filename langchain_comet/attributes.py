"""``trace_attributes``: a user, a session, tags and metadata for every trace started inside.

The attributes live in a context variable, so they follow the code that set them: LangChain
copies the context into the threads of its executor (``batch``, parallel branches) and
into asyncio tasks, and each request of a server, each thread, each task sees its own.
The handler reads the variable once per trace, when a root run starts; every run of the
trace then carries them (the worker copies them down the tree).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from langchain_comet.serialize import JSON, text_of

__all__ = [
    "TraceAttributes",
    "TraceStart",
    "TraceState",
    "current",
    "run_fields",
    "trace_attributes",
]

# Metadata keys LangGraph and peers use to name a conversation, first match wins.
SESSION_KEYS = ("session_id", "thread_id", "conversation_id")
USER_KEY = "user_id"


@dataclass(frozen=True, slots=True)
class TraceAttributes:
    """What ``trace_attributes`` gives every trace started inside it."""

    user_id: str | None = None
    session_id: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def inside(self, outer: TraceAttributes | None) -> TraceAttributes:
        """These attributes nested in ``outer``: inner values win, tags and metadata add up."""
        if outer is None:
            return self
        return TraceAttributes(
            user_id=self.user_id if self.user_id is not None else outer.user_id,
            session_id=self.session_id if self.session_id is not None else outer.session_id,
            tags=outer.tags + tuple(tag for tag in self.tags if tag not in outer.tags),
            metadata=MappingProxyType({**outer.metadata, **self.metadata}),
        )


class TraceStart(NamedTuple):
    """What the handler learns on the application's thread when a root run starts: the
    trace it belongs to (a resume's is the interrupted trace's), and the attributes in
    effect there. Carried to the worker in the start event (a tuple: made at every root
    start, so as cheap as can be)."""

    trace_id: UUID
    resumed_from: UUID | None = None
    attributes: TraceAttributes | None = None
    thread: str | None = None


@dataclass(slots=True)
class TraceState:
    """What every run of one trace shares on the worker."""

    root_run_id: UUID
    attributes: TraceAttributes | None = None
    resumed_from: UUID | None = None
    thread: str | None = None


_CURRENT: ContextVar[TraceAttributes | None] = ContextVar(
    "langchain_comet_trace_attributes", default=None
)


def current() -> TraceAttributes | None:
    """The attributes in effect here, or None: read by the handler at each root start."""
    return _CURRENT.get()


@contextlib.contextmanager
def trace_attributes(
    user_id: str | None = None,
    session_id: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[TraceAttributes]:
    """Give every trace that starts inside this block a user, a session, tags and metadata.

    Applies to every ``CometCallbackHandler`` and to the runs LangChain executes on its
    thread pool and in asyncio tasks. Nested blocks add up (the inner user or session
    wins). A run's own metadata (``user_id``, ``session_id``) wins over the block's::

        with trace_attributes(user_id="u-42", session_id="chat-7", tags=["beta"]):
            chain.invoke(question, config={"callbacks": [handler]})
    """
    attributes = _validated(user_id, session_id, tags, metadata)
    token = _CURRENT.set(attributes.inside(_CURRENT.get()))
    try:
        yield _CURRENT.get() or attributes
    finally:
        try:
            _CURRENT.reset(token)
        except ValueError:  # left in another context than entered (a generator moved)
            _CURRENT.set(None)


def _validated(user_id: Any, session_id: Any, tags: Any, metadata: Any) -> TraceAttributes:
    """Fail at the ``with`` line, with what is expected, not later on the worker."""
    for name, value in (("user_id", user_id), ("session_id", session_id)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"trace_attributes: {name} must be a str or None, got {value!r}")
    if tags is not None and (
        isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags)
    ):
        raise TypeError(f"trace_attributes: tags must be a list of strings, got {tags!r}")
    if metadata is not None and not (
        isinstance(metadata, Mapping) and all(isinstance(key, str) for key in metadata)
    ):
        raise TypeError(
            f"trace_attributes: metadata must be a dict with str keys, got {metadata!r}"
        )
    return TraceAttributes(
        user_id=user_id,
        session_id=session_id,
        tags=tuple(dict.fromkeys(tags or ())),
        metadata=MappingProxyType(dict(metadata or {})),
    )


def run_fields(metadata: Mapping[str, Any], attributes: TraceAttributes | None) -> dict[str, JSON]:
    """A run record's ``user_id``, ``session_id``, ``langgraph_node`` and ``langgraph_step``.

    The run's metadata (LangChain passes a call's ``metadata`` down to every run below it,
    LangGraph adds ``thread_id`` and the node's) wins over ``trace_attributes``.
    """
    attrs = attributes or _NONE
    fields: dict[str, JSON] = {
        "user_id": _text(metadata.get(USER_KEY)) or attrs.user_id,
        "session_id": _session_id(metadata) or attrs.session_id,
    }
    node = metadata.get("langgraph_node")
    if node is not None:
        fields["langgraph_node"] = _text(node)
        step = metadata.get("langgraph_step")
        fields["langgraph_step"] = step if type(step) is int else _text(step)
    return fields


_NONE = TraceAttributes()


def _session_id(metadata: Mapping[str, Any]) -> str | None:
    for key in SESSION_KEYS:
        value = _text(metadata.get(key))
        if value:
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else text_of(value, None)
