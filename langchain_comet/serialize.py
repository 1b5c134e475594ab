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
import json
import math
import pathlib
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeAlias

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult, LLMResult
from langchain_core.prompt_values import ChatPromptValue
from pydantic import BaseModel

__all__ = [
    "DEFAULT_MAX_TEXT_CHARS",
    "JSON",
    "dumps",
    "message_text",
    "message_to_dict",
    "render_messages",
    "text_of",
    "to_json",
    "truncate",
]

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None

DEFAULT_MAX_TEXT_CHARS: int = 100_000

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


def _type_name(obj: Any) -> str:
    """Name a type the way a reader would look it up; builtins stay short."""
    try:
        cls = type(obj)
        module = getattr(cls, "__module__", None)
        qualname = getattr(cls, "__qualname__", None) or cls.__name__
        if not isinstance(module, str) or module == "builtins":
            return _valid_utf8(str(qualname))
        return _valid_utf8(f"{module}.{qualname}")
    except Exception:
        return "<unknown type>"


def _safe_text(func: Callable[[Any], object], obj: Any, max_chars: int | None) -> str:
    """Call str()/repr() on foreign objects without letting their bugs escape."""
    try:
        result = func(obj)
        if not isinstance(result, str):
            raise TypeError("did not return str")
        return truncate(result, max_chars)
    except Exception as exc:
        return f"<unrepresentable: {_type_name(exc)}>"


def _opaque(obj: Any, max_chars: int | None) -> dict[str, JSON]:
    """Last resort: keep the type and a repr so nothing is silently dropped."""
    return {"type": _type_name(obj), "repr": _safe_text(repr, obj, max_chars)}


def _int_to_json(value: int) -> JSON:
    """Keep ints exact: out-of-int64 values become strings so no JSON reader rounds them."""
    value = int.__index__(value)  # drop int subclasses
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    try:
        return str(value)
    except ValueError:  # beyond sys.get_int_max_str_digits(); hex has no such limit
        return hex(value)


def _float_to_json(value: float) -> JSON:
    """Strict JSON has no NaN/Infinity, so spell them as strings instead of losing them."""
    value = float.__float__(value)  # drop float subclasses
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _role(message: BaseMessage) -> str:
    """Map LangChain's message type to the chat-API role people expect to read."""
    try:
        mtype = message.type
        if mtype in _CHAT_TYPES:
            role = getattr(message, "role", None)
            if isinstance(role, str):
                return truncate(role, None)
        if isinstance(mtype, str):
            return _ROLE_BY_TYPE.get(mtype) or truncate(mtype, None)
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
    """Holds the settings and the stack of containers on the current path for one conversion."""

    __slots__ = ("active", "max_chars")

    def __init__(self, max_chars: int | None) -> None:
        self.max_chars = max_chars
        self.active: set[int] = set()

    def convert(self, obj: Any, depth: int = 0) -> JSON:
        """Convert one value; any failure degrades to an opaque record for that value only."""
        try:
            return self._convert(obj, depth)
        except Exception:
            return _opaque(obj, self.max_chars)

    def _convert(self, obj: Any, depth: int) -> JSON:
        cls = type(obj)
        # Fast paths for the overwhelmingly common exact types.
        if obj is None:
            return None
        if cls is bool:
            return bool(obj)
        if cls is str:
            return truncate(obj, self.max_chars)
        if cls is int:
            return _int_to_json(obj)
        if cls is float:
            return _float_to_json(obj)

        # Leaf values: they never recurse, so depth and cycles do not matter.
        if isinstance(obj, bool):
            return bool(obj)
        if isinstance(obj, str):
            return truncate(obj, self.max_chars)
        if isinstance(obj, int):
            return _int_to_json(obj)
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
            return truncate(str(obj), self.max_chars)
        if isinstance(obj, BaseException):
            return {
                "type": _type_name(obj),
                "message": _safe_text(str, obj, self.max_chars),
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
        if isinstance(obj, Mapping):
            return self._mapping(obj, depth)
        if isinstance(obj, _SEQUENCE_TYPES):
            return [self.convert(item, depth) for item in obj]
        if isinstance(obj, set | frozenset):
            items = list(obj)
            # If an element's repr is broken, iteration order is the best we have.
            with contextlib.suppress(Exception):
                items.sort(key=repr)
            return [self.convert(item, depth) for item in items]
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
            # numpy is never imported here: .tolist() yields plain Python scalars/lists.
            return self.convert(obj.tolist(), depth)
        # Generators, iterators and unknown objects are described, never iterated.
        return _opaque(obj, self.max_chars)

    def _bytes(self, obj: bytes | bytearray | memoryview) -> JSON:
        data = obj.tobytes() if isinstance(obj, memoryview) else bytes(obj)
        return {
            "type": "bytes",
            "length": len(data),
            "text": truncate(data.decode("utf-8", errors="replace"), self.max_chars),
        }

    def _decimal(self, obj: Decimal) -> JSON:
        if obj.is_finite():
            as_float = float(obj)
            if math.isfinite(as_float):
                return as_float
        return str(obj)  # NaN/Infinity, or finite but beyond float range

    def _key(self, key: Any, out: Mapping[str, JSON]) -> str:
        """A str key that is UTF-8 safe and does not overwrite a different key's value."""
        if isinstance(key, str):
            text = truncate(key, self.max_chars)
        else:
            text = _safe_text(str, key, self.max_chars)
        if text not in out:
            return text
        # Two keys collapsed to one string (e.g. 1 and "1"): keep both values.
        base = f"{text} <{_type_name(key)}>"
        candidate, n = base, 2
        while candidate in out:
            candidate, n = f"{base} #{n}", n + 1
        return candidate

    def _mapping(self, obj: Mapping[Any, Any], depth: int) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for key, value in obj.items():
            out[self._key(key, out)] = self.convert(value, depth)
        return out

    def _fields(self, pairs: Mapping[str, Any], depth: int) -> dict[str, JSON]:
        """Like _mapping for keys we produced ourselves (already unique str)."""
        return {truncate(k, None): self.convert(v, depth) for k, v in pairs.items()}

    def message(self, message: BaseMessage, depth: int) -> dict[str, JSON]:
        out: dict[str, JSON] = {
            "role": _role(message),
            "content": self.convert(message.content, depth),
        }
        for field in _MESSAGE_FIELDS:
            value = getattr(message, field, None)
            if not _present(value):
                continue
            if field == "tool_calls" and isinstance(value, list | tuple):
                out[field] = [self._tool_call(call, depth) for call in value]
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
                out[truncate(field, None)] = self.convert(value, depth)
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
            return _opaque(obj, self.max_chars)
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


def to_json(obj: Any, max_chars: int | None = DEFAULT_MAX_TEXT_CHARS) -> JSON:
    """Make any callback payload loggable as strict JSON; never raises, never drops silently.

    The result never shares a container with ``obj``: a record must not change when the
    application later mutates what it passed to a callback.
    """
    try:
        plain = _plain_copy(obj, max_chars, 0)
        if plain is not _NOT_PLAIN:
            return plain  # type: ignore[return-value]
        return _Converter(max_chars).convert(obj)
    except Exception:
        return _opaque(obj, max_chars)


_NOT_PLAIN = object()
# Containers this small are tried as plain JSON first; larger ones go the general way.
_PLAIN_MAX_ITEMS = 64


def _plain_copy(obj: Any, max_chars: int | None, depth: int) -> object:
    """A copy of ``obj`` if it already is strict JSON within bounds, else ``_NOT_PLAIN``.

    Most payloads (a dict of a few short strings, a list of tags) are; copying them costs
    a fraction of the general conversion. Exact types only: subclasses go the general way.
    """
    cls = type(obj)
    if cls is str:
        fits = obj.isascii() and (max_chars is None or len(obj) <= max_chars)
        return obj if fits else _NOT_PLAIN
    if obj is None or cls is bool:
        return obj
    if cls is int:
        return obj if _INT64_MIN <= obj <= _INT64_MAX else _NOT_PLAIN
    if cls is float:
        return obj if math.isfinite(obj) else _NOT_PLAIN
    if depth >= 8 or cls not in (dict, list) or len(obj) > _PLAIN_MAX_ITEMS:
        return _NOT_PLAIN
    if cls is dict:
        out: dict[str, object] = {}
        for key, value in obj.items():
            if type(key) is not str or not key.isascii():
                return _NOT_PLAIN
            if max_chars is not None and len(key) > max_chars:  # keys are cut like values
                return _NOT_PLAIN
            copied = _plain_copy(value, max_chars, depth + 1)
            if copied is _NOT_PLAIN:
                return _NOT_PLAIN
            out[key] = copied
        return out
    items: list[object] = []
    for item in obj:
        copied = _plain_copy(item, max_chars, depth + 1)
        if copied is _NOT_PLAIN:
            return _NOT_PLAIN
        items.append(copied)
    return items


def dumps(obj: Any, max_chars: int | None = DEFAULT_MAX_TEXT_CHARS) -> str:
    """Strict, compact JSON text for any object (valid UTF-8, no NaN/Infinity literals)."""
    return json.dumps(
        to_json(obj, max_chars), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )


def text_of(value: Any, max_chars: int | None = DEFAULT_MAX_TEXT_CHARS) -> str:
    """``str(value)`` for a text sample, never raising: where ``str`` fails (a broken
    ``__str__``, a structure nested too deep for it), the value's JSON text instead."""
    if type(value) is str:
        return truncate(value, max_chars)
    try:
        text = str(value)
    except Exception:
        return truncate(dumps(value, max_chars), max_chars)
    return truncate(text, max_chars)


def message_to_dict(
    message: BaseMessage, max_chars: int | None = DEFAULT_MAX_TEXT_CHARS
) -> dict[str, JSON]:
    """A chat-API-shaped record of a message that keeps tool calls, usage and metadata."""
    converter = _Converter(max_chars)
    try:
        converter.active.add(id(message))
        return converter.message(message, 1)
    except Exception:
        return {"role": _role(message), "content": _opaque(message, max_chars)}


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
                lines.append(f"{_role(message)}: {message_text(message)}")
            else:  # tolerate stray non-message entries rather than failing the whole log
                lines.append(f"{_type_name(message)}: {_safe_text(str, message, None)}")
    except Exception as exc:
        lines.append(f"<unrenderable: {_type_name(exc)}>")
    return "\n".join(lines)
