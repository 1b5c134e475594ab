"""Turn anything a LangChain callback receives into strict JSON data.

Callbacks run on a background thread and see arbitrary user objects, so this module never
raises and never silently drops data: whatever cannot be represented natively becomes a
tagged string or a ``{"type", "repr"}`` record instead of an exception in the logger.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import enum
import itertools
import json
import math
import pathlib
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, TypeAlias

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult, LLMResult
from langchain_core.prompt_values import ChatPromptValue
from pydantic import BaseModel

__all__ = [
    "CUT_KEY",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_TEXT_CHARS",
    "EVENT_TEXTS",
    "JSON",
    "MAX_CONVERTED_CHARS",
    "MAX_RECORD_BYTES",
    "MAX_STRING_CHARS",
    "CutDict",
    "CutList",
    "dumps",
    "head",
    "items_marker",
    "message_text",
    "message_to_dict",
    "render_messages",
    "str_of",
    "string_limit",
    "text_of",
    "to_json",
    "truncate",
]

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

DEFAULT_MAX_TEXT_CHARS: int = 100_000
# Lists, tuples, sets, dicts and arrays keep this many items by default (``max_items``).
DEFAULT_MAX_ITEMS: int = 1_000
# No record (run record, session row, action record) and no text sample is larger than
# this, in bytes of UTF-8 JSON; bounds.py cuts a record that would be.
MAX_RECORD_BYTES: int = 4 * 1024 * 1024
# No string is kept longer than this, whatever ``max_text_chars`` says: at most 4 bytes a
# character, a string and its marker fit in one record.
MAX_STRING_CHARS: int = 1_000_000
# What one conversion may produce, in characters (each item counts ``_ITEM_COST`` more):
# past it, the rest of every collection is cut. It bounds the time and memory a single
# value can cost, however it nests or shares its parts.
MAX_CONVERTED_CHARS: int = MAX_RECORD_BYTES // 4
_ITEM_COST = 8
# The key under which an object says how much of it was left out.
CUT_KEY = "…[truncated]"
# Type names are code, not data, but a class can be given any name.
_MAX_NAME_CHARS = 1_000

_MAX_DEPTH = 50
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_CYCLE = "<cycle>"
_MAX_DEPTH_MARKER = "<max depth>"

# LangChain's ``message.type`` -> the role name used by chat APIs and humans.
_ROLE_BY_TYPE: dict[str, str] = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "function",
}
_CHAT_TYPES = frozenset({"chat", "ChatMessageChunk"})

# Message fields emitted in this order when present; other non-empty fields follow them.
_MESSAGE_FIELDS = (
    "name",
    "id",
    "tool_calls",
    "tool_call_id",
    "invalid_tool_calls",
    "usage_metadata",
    "response_metadata",
    "additional_kwargs",
    "status",
)
# Never copied as extras: content/role are emitted first, type is folded into role, and
# tool_call_chunks are already parsed by LangChain into tool_calls / invalid_tool_calls.
_MESSAGE_SKIP = frozenset({"content", "type", "role", "tool_call_chunks", *_MESSAGE_FIELDS})

# LangChain models with a field holding messages (directly or nested), which their own
# model_dump would flatten to the BaseMessage base class.
_MESSAGE_HOLDERS: tuple[tuple[type[BaseModel], str], ...] = (
    (LLMResult, "generations"),
    (ChatResult, "generations"),
    (ChatGeneration, "message"),
    (ChatPromptValue, "messages"),
)

# Finite sequences (and their subclasses) converted to a JSON array in iteration order.
_SEQUENCE_TYPES: tuple[type[Any], ...] = (
    list,
    tuple,
    deque,
    type({}.keys()),
    type({}.values()),
    type({}.items()),
)


def _valid_utf8(text: str) -> str:
    """Replace lone surrogates so the result always encodes as UTF-8 (json output is bytes)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip re-joins well-formed surrogate pairs and turns each lone one
        # into U+FFFD, unlike a plain UTF-8 "replace" which would emit "?".
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def truncate(text: str, max_chars: int | None) -> str:
    """Bound a string's size for logging while saying how much was cut, and make it UTF-8 safe."""
    if type(text) is not str:
        text = str.__str__(text)  # drop str subclasses (StrEnum, TextAccessor, ...)
    if max_chars is not None and len(text) > max_chars:
        text = text[: max(max_chars, 0)] + f"…[truncated, {len(text)} chars]"
    return _valid_utf8(text)


def string_limit(max_chars: int | None) -> int:
    """The cut a string gets: ``max_text_chars``, never more than ``MAX_STRING_CHARS``."""
    return MAX_STRING_CHARS if max_chars is None else min(max_chars, MAX_STRING_CHARS)


def items_marker(total: int) -> str:
    """What stands for the items left out of a collection of ``total`` items."""
    return f"…[truncated, {total} items]"


class Converted:
    """A value made JSON in the application's process before it crossed to the recorder
    process (recorder.py), because its class might not import there: it converts to the
    JSON it was made, and reads as the text ``str`` made of it there."""

    __slots__ = ("text", "value")

    def __init__(self, value: JSON, text: str) -> None:
        self.value = value
        self.text = text

    @classmethod
    def of(cls, obj: Any, max_chars: int | None, max_items: int | None) -> Converted:
        """``obj`` as its JSON and its text, each made once (one ``str`` per event)."""
        return cls(to_json(obj, max_chars, max_items), text_of(obj, max_chars, max_items))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Converted, (self.value, self.text))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return dumps(self.value, None)


class CutList(list[Any]):
    """The first items of a longer sequence, copied on the application's thread."""

    __slots__ = ("total",)

    def __init__(self, items: Iterable[Any], total: int) -> None:
        super().__init__(items)
        self.total = total


class CutDict(dict[Any, Any]):
    """The first items of a larger mapping, copied on the application's thread."""

    __slots__ = ("total",)

    def __init__(self, items: Iterable[tuple[Any, Any]], total: int) -> None:
        super().__init__(items)
        self.total = total


def head(value: Any, max_items: int | None) -> Any:
    """A shallow copy of a dict or list that the application can no longer change, of
    its first ``max_items`` items only: the hot path pays for what is kept, not for a
    million items the record would leave out. Other values are returned as they are."""
    if isinstance(value, dict):
        if max_items is None or len(value) <= max_items:
            return dict(value)
        return CutDict(itertools.islice(value.items(), max_items), len(value))
    if isinstance(value, list):
        if max_items is None or len(value) <= max_items:
            return list(value)
        return CutList(value[:max_items], len(value))
    return value


# -- str() and repr() of foreign objects, once per event -------------------------------

# (id, is repr) -> (the object, kept alive so its id is not reused; its text or failure)
TextCache = dict[tuple[int, bool], tuple[Any, "str | Exception"]]
# While set to a dict (``token = EVENT_TEXTS.set({})`` ... ``EVENT_TEXTS.reset(token)``,
# around one event), each object's str() and repr() is computed once, however many parts
# of the event's records show it. Unset, every conversion computes its own.
EVENT_TEXTS: ContextVar[TextCache | None] = ContextVar("langchain_comet_texts", default=None)
_OBJECT_STR: Any = object.__str__


def _text(func: Callable[[Any], object], obj: Any) -> str:
    """``str(obj)`` or ``repr(obj)``, computed once per event; raises what they raise."""
    cache = EVENT_TEXTS.get()
    if cache is None:
        return _checked(func(obj))
    if func is str and type(obj).__str__ is _OBJECT_STR:
        func = repr  # str() would call __repr__: the same text
    key = (id(obj), func is repr)
    hit = cache.get(key)
    if hit is not None:
        text = hit[1]
        if isinstance(text, Exception):
            raise text
        return text
    try:
        text = _checked(func(obj))
    except Exception as exc:
        cache[key] = (obj, exc)
        raise
    cache[key] = (obj, text)
    return text


def str_of(obj: Any) -> str:
    """``str(obj)``, computed once per event (``EVENT_TEXTS``); raises what it raises."""
    return _text(str, obj)


def _checked(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError("did not return str")
    return text


def _type_name(obj: Any) -> str:
    """Name a type the way a reader would look it up; builtins stay short."""
    try:
        cls = type(obj)
        module = getattr(cls, "__module__", None)
        qualname = getattr(cls, "__qualname__", None) or cls.__name__
        if not isinstance(module, str) or module == "builtins":
            return truncate(str(qualname), _MAX_NAME_CHARS)
        return truncate(f"{module}.{qualname}", _MAX_NAME_CHARS)
    except Exception:
        return "<unknown type>"


def _safe_text(func: Callable[[Any], object], obj: Any, max_chars: int | None) -> str:
    """Call str()/repr() on foreign objects (once per event) without letting their bugs
    escape."""
    try:
        return truncate(_text(func, obj), max_chars)
    except Exception as exc:
        return f"<unrepresentable: {_type_name(exc)}>"


def _opaque(obj: Any, max_chars: int | None) -> dict[str, JSON]:
    """Last resort: keep the type and a repr so nothing is silently dropped."""
    return {"type": _type_name(obj), "repr": _safe_text(repr, obj, max_chars)}


def _int_to_json(value: int, max_chars: int | None = None) -> JSON:
    """Keep ints exact: out-of-int64 values become strings so no JSON reader rounds them.

    An int too long for its text (``sys.get_int_max_str_digits()``) is spelt in hex, and
    past ``max_chars`` digits only its leading ones are, never the whole of it.
    """
    value = int.__index__(value)  # drop int subclasses
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    try:
        return truncate(str(value), max_chars)
    except ValueError:  # beyond sys.get_int_max_str_digits(); hex has no such limit
        pass
    digits = (value.bit_length() + 3) // 4
    limit = string_limit(max_chars)
    if digits <= limit:
        return hex(value)
    leading = abs(value) >> (4 * (digits - limit))  # the first ``limit`` hex digits
    sign = "-" if value < 0 else ""
    return f"{sign}{leading:#x}…[truncated, {digits + 2 + len(sign)} chars]"


def _float_to_json(value: float) -> JSON:
    """Strict JSON has no NaN/Infinity, so spell them as strings instead of losing them."""
    value = float.__float__(value)  # drop float subclasses
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _role(message: BaseMessage, max_chars: int | None) -> str:
    """Map LangChain's message type to the chat-API role people expect to read."""
    try:
        mtype = message.type
        if mtype in _CHAT_TYPES:
            role = getattr(message, "role", None)
            if isinstance(role, str):
                return truncate(role, max_chars)
        if isinstance(mtype, str):
            return _ROLE_BY_TYPE.get(mtype) or truncate(mtype, max_chars)
    except Exception:
        pass
    return _type_name(message)


def _present(value: Any) -> bool:
    """Whether a message field carries information worth emitting."""
    if value is None:
        return False
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


class _Converter:
    """One conversion's settings, the containers on the current path, and what is left
    of its size budget (``MAX_CONVERTED_CHARS``): once spent, every collection still to
    come keeps no items, only its marker, so no value can cost more than the budget."""

    __slots__ = ("active", "budget", "max_chars", "max_items")

    def __init__(
        self,
        max_chars: int | None,
        max_items: int | None = DEFAULT_MAX_ITEMS,
        budget: int = MAX_CONVERTED_CHARS,
    ) -> None:
        self.max_chars = max_chars
        self.max_items = max_items
        self.budget = budget
        self.active: set[int] = set()

    def convert(self, obj: Any, depth: int = 0) -> JSON:
        """Convert one value; any failure degrades to an opaque record for that value only."""
        try:
            return self._convert(obj, depth)
        except Exception:
            return self._opaque(obj)

    def _str(self, text: str) -> str:
        """``text`` cut to ``max_chars`` and to what is left of the budget."""
        limit, budget = self.max_chars, self.budget
        if limit is None or budget < limit:
            limit = budget if budget > 0 else 0
        out = truncate(text, limit)
        self.budget = budget - len(out)
        return out

    def _opaque(self, obj: Any) -> dict[str, JSON]:
        out = _opaque(obj, self.max_chars)
        self.budget -= len(str(out["repr"]))
        return out

    def _kept(self, total: int) -> int:
        """How many of a collection's ``total`` items to convert: ``max_items`` at most,
        none once the budget is spent. Each kept item is charged to the budget."""
        if self.budget <= 0:
            return 0
        kept = total if self.max_items is None or total <= self.max_items else self.max_items
        self.budget -= _ITEM_COST * (kept + 1)
        return kept

    def _convert(self, obj: Any, depth: int) -> JSON:
        cls = type(obj)
        # Fast paths for the overwhelmingly common exact types.
        if obj is None:
            return None
        if cls is bool:
            return bool(obj)
        if cls is str:
            if len(obj) < self.budget:  # the budget lasts: only max_chars can cut it
                out = truncate(obj, self.max_chars)
                self.budget -= len(out)
                return out
            return self._str(obj)
        if cls is int:
            return _int_to_json(obj, self.max_chars)
        if cls is float:
            return _float_to_json(obj)

        # Leaf values: they never recurse, so depth and cycles do not matter.
        if isinstance(obj, bool):
            return bool(obj)
        if isinstance(obj, str):
            return self._str(obj)
        if isinstance(obj, int):
            return _int_to_json(obj, self.max_chars)
        if isinstance(obj, float):
            return _float_to_json(obj)
        if isinstance(obj, bytes | bytearray | memoryview):
            return self._bytes(obj)
        if isinstance(obj, uuid.UUID):
            return str(obj)
        if isinstance(obj, _dt.datetime | _dt.date | _dt.time):
            return truncate(obj.isoformat(), None)
        if isinstance(obj, Decimal):
            return self._decimal(obj)
        if isinstance(obj, pathlib.PurePath):
            return self._str(str(obj))
        if isinstance(obj, BaseException):
            return {
                "type": _type_name(obj),
                "message": self._str(_safe_text(str, obj, None)),
            }

        # Containers and objects with parts: guard depth and cycles on the current path.
        if depth > _MAX_DEPTH:
            return _MAX_DEPTH_MARKER
        key = id(obj)
        if key in self.active:
            return _CYCLE
        self.active.add(key)
        try:
            return self._convert_container(obj, depth + 1)
        finally:
            self.active.discard(key)

    def _convert_container(self, obj: Any, depth: int) -> JSON:
        if type(obj) is Converted:
            return obj.value
        if isinstance(obj, Mapping):
            return self._mapping(obj, depth)
        if isinstance(obj, _SEQUENCE_TYPES):
            return self._sequence(obj, depth, self.convert)
        if isinstance(obj, set | frozenset):
            return self._set(obj, depth)
        if isinstance(obj, BaseMessage):
            return self.message(obj, depth)
        if isinstance(obj, Document):
            return self._document(obj, depth)
        if isinstance(obj, BaseModel):
            for cls, nested in _MESSAGE_HOLDERS:
                if isinstance(obj, cls):
                    return self._langchain_model(obj, nested, depth)
            return self._model(obj, depth)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return self._dataclass(obj, depth)
        if isinstance(obj, enum.Enum):
            return self.convert(obj.value, depth)
        if str(getattr(type(obj), "__module__", "")).startswith("numpy") and hasattr(obj, "tolist"):
            return self._array(obj, depth)
        # Generators, iterators and unknown objects are described, never iterated.
        return self._opaque(obj)

    def _sequence(self, obj: Any, depth: int, convert: Callable[[Any, int], JSON]) -> list[JSON]:
        """The first items of a sequence; the ones left out are neither read nor converted."""
        size = len(obj)
        max_items = self.max_items
        if (
            (max_items is None or size <= max_items)
            and self.budget > 0
            and type(obj) is not CutList
        ):
            self.budget -= _ITEM_COST * (size + 1)  # all of it is kept: _kept's common case
            return [convert(item, depth) for item in obj]
        total = obj.total if type(obj) is CutList else size
        kept = min(self._kept(total), size)
        if kept == size:
            items: Iterable[Any] = obj
        elif isinstance(obj, list | tuple):
            items = obj[:kept]
        else:
            items = itertools.islice(obj, kept)
        out = [convert(item, depth) for item in items]
        if len(out) < total:
            out.append(self._marker(total))
        return out

    def _set(self, obj: set[Any] | frozenset[Any], depth: int) -> list[JSON]:
        """A set's items in the order of their repr (computed once per event); a set too
        large is cut in iteration order first, so the left-out items cost nothing."""
        total = len(obj)
        kept = self._kept(total)
        items = list(obj) if kept == total else list(itertools.islice(obj, kept))
        # If an element's repr is broken, iteration order is the best we have.
        with contextlib.suppress(Exception):
            items.sort(key=_repr)
        out = [self.convert(item, depth) for item in items]
        if kept < total:
            out.append(self._marker(total))
        return out

    def _array(self, obj: Any, depth: int) -> JSON:
        """A numpy array or scalar: numpy is never imported here, ``.tolist()`` yields
        plain Python values. Only the rows kept are read."""
        shape = getattr(obj, "shape", None)
        if not isinstance(shape, tuple) or not shape:
            return self.convert(obj.tolist(), depth)
        total = int(shape[0])
        kept = self._kept(total)
        if len(shape) == 1:
            out = [self.convert(value, depth) for value in obj[:kept].tolist()]
        else:
            out = [self.convert(row, depth) for row in obj[:kept]]
        if kept < total:
            out.append(self._marker(total))
        return out

    def _marker(self, total: int) -> str:
        marker = items_marker(total)
        self.budget -= len(marker)
        return marker

    def _bytes(self, obj: bytes | bytearray | memoryview) -> JSON:
        """Bytes as text, decoded leniently; only the bytes that can show are decoded."""
        length = obj.nbytes if isinstance(obj, memoryview) else len(obj)
        limit = string_limit(self.max_chars)
        if length <= max(4 * limit, 1 << 16):  # all of it may show (<= 4 bytes a char)
            data = obj.tobytes() if isinstance(obj, memoryview) else bytes(obj)
            text = self._str(data.decode("utf-8", errors="replace"))
        else:
            part = obj.cast("B")[: 4 * limit] if isinstance(obj, memoryview) else obj[: 4 * limit]
            decoded = bytes(part).decode("utf-8", errors="replace")[:limit]
            text = self._str(decoded) + f"…[truncated, {length} bytes]"
        return {"type": "bytes", "length": length, "text": text}

    def _decimal(self, obj: Decimal) -> JSON:
        if obj.is_finite():
            as_float = float(obj)
            if math.isfinite(as_float):
                return as_float
        return self._str(str(obj))  # NaN/Infinity, or finite but beyond float range

    def _key(self, key: Any, out: Mapping[str, JSON]) -> str:
        """A str key that is UTF-8 safe and does not overwrite a different key's value."""
        if isinstance(key, str):
            text = truncate(key, self.max_chars)
        else:
            text = _safe_text(str, key, self.max_chars)
        self.budget -= len(text)
        if text not in out:
            return text
        # Two keys collapsed to one string (e.g. 1 and "1"): keep both values.
        base = f"{text} <{_type_name(key)}>"
        candidate, n = base, 2
        while candidate in out:
            candidate, n = f"{base} #{n}", n + 1
        return candidate

    def _mapping(self, obj: Mapping[Any, Any], depth: int) -> dict[str, JSON]:
        """The first items of a mapping, then the marker under ``CUT_KEY``; the ones left
        out are neither read nor converted."""
        size = len(obj)
        out: dict[str, JSON] = {}
        max_items = self.max_items
        if (
            (max_items is None or size <= max_items)
            and self.budget > 0
            and type(obj) is not CutDict
        ):
            self.budget -= _ITEM_COST * (size + 1)  # all of it is kept: _kept's common case
            for key, value in obj.items():
                out[self._key(key, out)] = self.convert(value, depth)
            return out
        total = obj.total if type(obj) is CutDict else size
        kept = min(self._kept(total), size)
        pairs = obj.items() if kept == size else itertools.islice(obj.items(), kept)
        for key, value in pairs:
            out[self._key(key, out)] = self.convert(value, depth)
        if len(out) < total:
            out[self._key(CUT_KEY, out)] = self._marker(total)
        return out

    def _fields(self, pairs: Mapping[str, Any], depth: int) -> dict[str, JSON]:
        """Like _mapping for keys we produced ourselves (already unique str)."""
        return {truncate(k, self.max_chars): self.convert(v, depth) for k, v in pairs.items()}

    def message(self, message: BaseMessage, depth: int) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "role": _role(message, self.max_chars),
            "content": self.convert(message.content, depth),
        }
        for field in _MESSAGE_FIELDS:
            value = getattr(message, field, None)
            if not _present(value):
                continue
            if field == "tool_calls" and isinstance(value, list | tuple):
                out[field] = self._sequence(value, depth, self._tool_call)
            else:
                out[field] = self.convert(value, depth)
        # Anything else a subclass or extra="allow" attached (artifact, chunk_position, ...).
        extras: dict[str, Any] = {}
        for field in type(message).model_fields:
            if field not in _MESSAGE_SKIP:
                extras[field] = getattr(message, field, None)
        extras.update(message.model_extra or {})
        for field, value in extras.items():
            if field not in _MESSAGE_SKIP and field not in out and _present(value):
                out[truncate(field, self.max_chars)] = self.convert(value, depth)
        return out

    def _tool_call(self, call: Any, depth: int) -> JSON:
        if not isinstance(call, Mapping):
            return self.convert(call, depth)
        out: dict[str, JSON] = {
            "name": self.convert(call.get("name"), depth),
            "args": self.convert(call.get("args"), depth),
            "id": self.convert(call.get("id"), depth),
        }
        for key, value in call.items():  # keep non-standard keys; "type" is always tool_call
            if key not in out and key != "type":
                out[self._key(key, out)] = self.convert(value, depth)
        return out

    def _document(self, doc: Document, depth: int) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "page_content": self.convert(doc.page_content, depth),
            "metadata": self.convert(doc.metadata, depth),
        }
        if doc.id is not None:
            out["id"] = self.convert(doc.id, depth)
        return out

    def _langchain_model(self, obj: BaseModel, nested: str, depth: int) -> JSON:
        # A plain model_dump serializes nested messages as the BaseMessage base class,
        # losing tool_calls and usage; keep that field as objects and convert it here.
        dump = obj.model_dump(mode="python", exclude={nested}, warnings=False)
        data: dict[str, Any] = {}
        for name in type(obj).model_fields:  # keep the model's own field order
            if name == nested:
                data[name] = getattr(obj, name)
            elif name in dump:
                data[name] = dump.pop(name)
        data.update(dump)
        return self._fields(data, depth)

    def _model(self, obj: BaseModel, depth: int) -> JSON:
        try:
            # serialize_as_any keeps subclass fields of nested models (e.g. an AIMessage
            # stored in a field annotated as BaseMessage).
            data = obj.model_dump(mode="python", serialize_as_any=True, warnings=False)
        except Exception:
            return self._opaque(obj)
        return self.convert(data, depth - 1)  # the dump stands in for obj at the same depth

    def _dataclass(self, obj: Any, depth: int) -> dict[str, JSON]:
        # Not dataclasses.asdict: it deep-copies every field and raises on odd values.
        out: dict[str, JSON] = {}
        for field in dataclasses.fields(obj):
            try:
                value = getattr(obj, field.name)
            except Exception as exc:
                out[field.name] = f"<unavailable: {_type_name(exc)}>"
                continue
            out[field.name] = self.convert(value, depth)
        return out


def _repr(obj: Any) -> str:
    return _text(repr, obj)


def to_json(
    obj: Any,
    max_chars: int | None = DEFAULT_MAX_TEXT_CHARS,
    max_items: int | None = DEFAULT_MAX_ITEMS,
) -> JSON:
    """Make any callback payload loggable as strict JSON; never raises, never drops silently.

    Strings keep ``max_chars`` characters, collections ``max_items`` items, each cut
    marked; the whole result stays within ``MAX_CONVERTED_CHARS``. The result never
    shares a container with ``obj``: a record must not change when the application later
    mutates what it passed to a callback.
    """
    try:
        plain = _plain_copy(
            obj,
            MAX_STRING_CHARS if max_chars is None else max_chars,
            _PLAIN_MAX_ITEMS if max_items is None or max_items > _PLAIN_MAX_ITEMS else max_items,
            0,
            _PLAIN_MAX_NODES,
        )
        if plain is not _NOT_PLAIN:
            return plain  # type: ignore[return-value]
        return _Converter(max_chars, max_items).convert(obj)
    except Exception:
        return _opaque(obj, max_chars)


_NOT_PLAIN = object()
# Containers this small are tried as plain JSON first; larger ones go the general,
# budgeted way. So does a tree of more than _PLAIN_MAX_NODES items, or of strings longer
# than that many KiB in all (shared parts can make a small object a huge tree).
_PLAIN_MAX_ITEMS = 64
_PLAIN_MAX_NODES = 1024


def _plain_copy(obj: Any, max_chars: int, max_items: int, depth: int, budget: int) -> object:
    """A copy of ``obj`` if it already is strict JSON within bounds, else ``_NOT_PLAIN``.

    Most payloads (a dict of a few short strings, a list of tags) are; copying them costs
    a fraction of the general conversion. Exact types only: subclasses go the general way.
    ``budget`` bounds the items below ``obj`` (and its strings, a unit per KiB): each of
    a container's ``n`` items gets ``(budget - n) // n`` of it. String items are checked
    in the loops, not by a call each: they are most of what apps send.
    """
    cls = type(obj)
    if cls is str:
        size = len(obj)
        if size > max_chars or size >> 10 > budget or not obj.isascii():
            return _NOT_PLAIN
        return obj
    if obj is None or cls is bool:
        return obj
    if cls is int:
        return obj if _INT64_MIN <= obj <= _INT64_MAX else _NOT_PLAIN
    if cls is float:
        return obj if math.isfinite(obj) else _NOT_PLAIN
    if depth >= 8 or cls not in (dict, list, tuple):  # a tuple becomes a list, as JSON has it
        return _NOT_PLAIN
    n = len(obj)
    if n > max_items or n > budget:
        return _NOT_PLAIN
    if n:
        budget = (budget - n) // n
    depth += 1
    if cls is dict:
        out: dict[str, object] = {}
        for key, value in obj.items():
            if type(key) is not str or len(key) > max_chars or not key.isascii():
                return _NOT_PLAIN  # keys are cut like values
            if type(value) is str:
                size = len(value)
                if size > max_chars or size >> 10 > budget or not value.isascii():
                    return _NOT_PLAIN
                out[key] = value
                continue
            copied = _plain_copy(value, max_chars, max_items, depth, budget)
            if copied is _NOT_PLAIN:
                return _NOT_PLAIN
            out[key] = copied
        return out
    items: list[object] = []
    for item in obj:
        if type(item) is str:
            size = len(item)
            if size > max_chars or size >> 10 > budget or not item.isascii():
                return _NOT_PLAIN
            items.append(item)
            continue
        copied = _plain_copy(item, max_chars, max_items, depth, budget)
        if copied is _NOT_PLAIN:
            return _NOT_PLAIN
        items.append(copied)
    return items


def dumps(
    obj: Any,
    max_chars: int | None = DEFAULT_MAX_TEXT_CHARS,
    max_items: int | None = DEFAULT_MAX_ITEMS,
) -> str:
    """Strict, compact JSON text for any object (valid UTF-8, no NaN/Infinity literals)."""
    return json.dumps(
        to_json(obj, max_chars, max_items),
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )


def text_of(
    value: Any,
    max_chars: int | None = DEFAULT_MAX_TEXT_CHARS,
    max_items: int | None = DEFAULT_MAX_ITEMS,
) -> str:
    """``str(value)`` for a text sample, never raising: where ``str`` fails (a broken
    ``__str__``, a structure nested too deep for it), the value's JSON text instead.

    Within an event (``EVENT_TEXTS``) an object's ``str`` is computed once. A dict,
    list or tuple is spelt as ``str`` spells it, but of its first ``max_items`` items
    (then ``…[truncated, N items]``), and of ``_REPR_MAX_ITEMS`` items in all.
    """
    if type(value) is str:
        return truncate(value, max_chars)
    try:
        if type(value) in _REPR_CONTAINERS:
            text = _python_repr(value, max_items, [_REPR_MAX_ITEMS], set(), 0)
        else:
            text = _text(str, value)
    except Exception:
        return truncate(dumps(value, max_chars, max_items), max_chars)
    return truncate(text, max_chars)


# str() of these is their repr(), which calls repr() of every item directly: spelt out
# here instead, the same text, with each foreign item's repr computed once per event.
_REPR_CONTAINERS = frozenset({dict, list, tuple})
_REPR_SCALARS = frozenset({str, int, float, bool, type(None)})
# However they nest or share parts, the items spelt in one text.
_REPR_MAX_ITEMS = 100_000


def _python_repr(
    obj: Any, max_items: int | None, left: list[int], active: set[int], depth: int
) -> str:
    """``repr(obj)`` as Python writes it, for dicts, lists and tuples of anything, of
    their first ``max_items`` items while ``left[0]`` (items still to spell) lasts, and
    ``_MAX_DEPTH`` levels deep (deeper, Python's own repr would raise RecursionError: on a
    worker thread near the stack's end, recovering from it can kill the interpreter)."""
    cls = type(obj)
    if cls in _REPR_SCALARS:
        return repr(obj)
    if cls not in _REPR_CONTAINERS:
        return _text(repr, obj)
    if depth > _MAX_DEPTH:
        return _MAX_DEPTH_MARKER
    key = id(obj)
    if key in active:  # Python's own spelling of a container inside itself
        return "{...}" if cls is dict else "[...]" if cls is list else "(...)"
    total = len(obj)
    kept = total if max_items is None else min(total, max_items)
    kept = min(kept, max(left[0], 0))
    left[0] -= kept
    active.add(key)
    try:
        if cls is dict:
            parts = [
                f"{_python_repr(k, max_items, left, active, depth + 1)}: "
                f"{_python_repr(v, max_items, left, active, depth + 1)}"
                for k, v in itertools.islice(obj.items(), kept)
            ]
        else:
            parts = [_python_repr(item, max_items, left, active, depth + 1) for item in obj[:kept]]
    finally:
        active.discard(key)
    if kept < total:
        parts.append(items_marker(total))
    if cls is dict:
        return "{" + ", ".join(parts) + "}"
    if cls is list:
        return "[" + ", ".join(parts) + "]"
    return "(" + parts[0] + ",)" if total == 1 and kept == 1 else "(" + ", ".join(parts) + ")"


def message_to_dict(
    message: BaseMessage,
    max_chars: int | None = DEFAULT_MAX_TEXT_CHARS,
    max_items: int | None = DEFAULT_MAX_ITEMS,
) -> dict[str, JSON]:
    """A chat-API-shaped record of a message that keeps tool calls, usage and metadata."""
    converter = _Converter(max_chars, max_items)
    try:
        converter.active.add(id(message))
        return converter.message(message, 1)
    except Exception:
        return {"role": _role(message, max_chars), "content": _opaque(message, max_chars)}


def message_text(message: BaseMessage) -> str:
    """The human-readable text of a message, for samples and previews; never raises."""
    try:
        text: Any = message.text
        # langchain-core < 1.0 exposed text() as a method; 1.x returns a callable str.
        if not isinstance(text, str) and callable(text):
            text = text()
        if isinstance(text, str):
            return truncate(text, None)
    except Exception:
        pass
    try:
        content = message.content
    except Exception:
        return ""
    if isinstance(content, str):
        return truncate(content, None)
    return dumps(content, None)


def render_messages(messages: Sequence[BaseMessage]) -> str:
    """A transcript like "system: Be brief\\nuser: Hi" for text samples; never raises."""
    lines: list[str] = []
    try:
        for message in messages:
            if isinstance(message, BaseMessage):
                lines.append(f"{_role(message, None)}: {message_text(message)}")
            else:  # tolerate stray non-message entries rather than failing the whole log
                lines.append(f"{_type_name(message)}: {_safe_text(str, message, None)}")
    except Exception as exc:
        lines.append(f"<unrenderable: {_type_name(exc)}>")
    return "\n".join(lines)
