"""What crosses between the application and its recorder process: frames, and events
pickled so that the process never needs the application's own code.

Frames are a length and a payload (spacy_pages.py's). To the process: ``I`` (a session opens: its
id and :class:`SessionConfig`), ``E`` (a session's events, pickled), ``J`` (a session's
job: a flush, its end, a call on its experiment). Back: pickled tuples (``ready``,
``done``, ``log``, ``settle``).
"""

from __future__ import annotations

import io
import pickle
import struct
import types
from dataclasses import dataclass
from typing import Any

from langchain_comet.experiment import ExperimentSettings
from langchain_comet.runs import DescribedError, Event, TreeSettings, error_info
from langchain_comet.serialize import EVENT_TEXTS, Converted
from langchain_comet.spacy_pages import read_bytes, write_bytes

OPEN, EVENTS, JOB = b"I", b"E", b"J"
_SESSION = struct.Struct(">I")

# Top-level packages whose classes the process imports as the application does; a value
# of any other class is made JSON before it is sent.
_IMPORTABLE = frozenset(
    {
        "builtins",
        "collections",
        "copyreg",
        "datetime",
        "decimal",
        "enum",
        "fractions",
        "langchain_comet",
        "langsmith",
        "pathlib",
        "pydantic",
        "pydantic_core",
        "typing",
        "uuid",
    }
)


@dataclass(slots=True)
class SessionConfig:
    """What the process needs to make one handler's session."""

    experiment: ExperimentSettings
    tree: TreeSettings
    exit_timeout: float | None


@dataclass(slots=True)
class ProcessConfig:
    """The process's first frame: where the application finds its modules, and the
    level its ``langchain_comet`` logger logs at."""

    sys_path: list[str]
    log_level: int


# -- frames: the renderer's (spacy_pages.py, which imports nothing of the package) ---------

write_frame = write_bytes
read_frame = read_bytes


def tagged(tag: bytes, session: int, payload: bytes) -> bytes:
    """A frame's payload: its kind, the session it is for, and what it carries."""
    return tag + _SESSION.pack(session) + payload


def untagged(frame: bytes) -> tuple[bytes, int, bytes]:
    (session,) = _SESSION.unpack_from(frame, 1)
    return frame[:1], session, frame[1 + _SESSION.size :]


# -- pickling events ---------------------------------------------------------------------


def _importable(module: object) -> bool:
    if not isinstance(module, str):
        return False
    top = module.partition(".")[0]
    return top in _IMPORTABLE or top.startswith(("langchain", "langgraph"))


class _EventPickler(pickle.Pickler):
    """Pickles events; a value whose class the process might not import is sent as the
    JSON it makes (``serialize.Converted``), with the handler's limits."""

    def __init__(self, out: io.BytesIO, max_chars: int | None, max_items: int | None) -> None:
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self.max_chars = max_chars
        self.max_items = max_items

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is Event:  # one str() and repr() per object per event, as on the worker
            EVENT_TEXTS.set({})
            return NotImplemented
        if type(obj) is types.MappingProxyType:  # trace_attributes' read-only metadata
            return (read_only, (dict(obj),))
        if isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType):
            module = getattr(obj, "__module__", None)
            if _importable(module) and "<" not in getattr(obj, "__qualname__", "<"):
                return NotImplemented  # by reference: the process imports it
        elif _importable(type(obj).__module__):
            return NotImplemented
        converted = Converted.of(obj, self.max_chars, self.max_items)
        return (Converted, (converted.value, converted.text))


def read_only(mapping: dict[str, Any]) -> types.MappingProxyType[str, Any]:
    return types.MappingProxyType(mapping)


def pickle_events(events: list[Event], max_chars: int | None, max_items: int | None) -> bytes:
    """``events`` for the process; an event that still does not pickle has its arguments
    made JSON (none is left out)."""
    try:
        return _dumps(events, max_chars, max_items)
    except Exception:
        return _dumps([_pickled_or_converted(e, max_chars, max_items) for e in events], None, None)


def _dumps(value: Any, max_chars: int | None, max_items: int | None) -> bytes:
    out = io.BytesIO()
    token = EVENT_TEXTS.set({})
    try:
        _EventPickler(out, max_chars, max_items).dump(value)
    finally:
        EVENT_TEXTS.reset(token)
    return out.getvalue()


def _pickled_or_converted(event: Event, max_chars: int | None, max_items: int | None) -> Any:
    """``event`` if it pickles, else with each argument that does not made JSON."""
    try:
        _dumps(event, max_chars, max_items)
        return event
    except Exception:
        data = {k: _value(v, max_chars, max_items) for k, v in event.items()}
        return Event(
            event.action,
            event.run_id,
            event.parent_run_id,
            event.counters,
            event.wall,
            event.perf,
            data,
        )


def _value(value: Any, max_chars: int | None, max_items: int | None) -> Any:
    try:
        _dumps(value, max_chars, max_items)
        return value
    except Exception:  # a generator, a lock, an object whose state refuses pickling
        return Converted.of(value, max_chars, max_items)


def prepare(event: Event) -> Event:
    """What must be made here before an event leaves: an error's traceback (it does not
    pickle) as ``error_info`` describes it."""
    error = event.get("error")
    if isinstance(error, BaseException) and not event.get("control_flow"):
        event["error"] = DescribedError(error_info(error, None))
    return event


# -- handler.experiment's questions --------------------------------------------------------


def asked(experiment: Any, name: str, call: tuple[tuple[Any, ...], dict[str, Any]] | None) -> Any:
    """What ``handler.experiment`` asked of the experiment: an attribute's value, or a
    getter's result (``call`` is its arguments)."""
    value = getattr(experiment, name)
    if call is not None:
        args, kwargs = call
        value = value(*args, **kwargs)
    return value
