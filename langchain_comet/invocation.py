"""What a model was called with: its invocation parameters, the tools it was offered.

LangChain passes every LLM and chat-model start an ``invocation_params`` dict: the model,
temperature, max tokens, stop, response format, and whatever the integration or a
``bind(...)`` adds, including the tool schemas a ``bind_tools`` offered. Some of it can be
a credential (an ``api_key`` a community integration keeps there, an ``Authorization``
header in ``extra_headers``, a ``SecretStr``), and none of that may leave the process.

A value is replaced by :data:`SECRET` when any of these says it is a credential:

- it is a pydantic ``SecretStr`` / ``SecretBytes``;
- its key is a field the integration marks secret (``lc_secrets``: the fields its
  ``serialized`` form shows as ``{"type": "secret"}``, e.g. ``openai_api_key``);
- its key names a credential (``api_key``, ``x-api-key``, ``Authorization``, ``token``,
  ``password``, ``client_secret``, ``cookie``, ...) and the value is text (a string, or a
  list of them): numbers (``max_tokens``) are never secrets, and a mapping is looked
  into instead (a JSON schema's ``password`` property is not one);
- it is a string shaped like one (``Bearer ...``, ``Basic ...``, ``sk-...``, ``AKIA...``).

Runs on the background worker only.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from langchain_comet.serialize import JSON, text_of, to_json

__all__ = ["SECRET", "Invocation", "describe", "is_secret_key", "looks_like_secret", "scrub"]

SECRET = "[secret]"
# Keys of ``invocation_params`` that hold the tools offered and the choice among them
# (OpenAI's legacy ``functions`` / ``function_call`` included); recorded as ``tools`` and
# ``tool_choice``, not repeated in ``invocation_params``.
TOOLS_KEYS = ("tools", "functions")
TOOL_CHOICE_KEYS = ("tool_choice", "function_call")
_MAX_DEPTH = 20

# Key names (lower case, punctuation removed) that hold credentials.
_SECRET_NAMES = frozenset(
    {
        "key",
        "token",
        "auth",
        "authorization",
        "proxyauthorization",
        "password",
        "passwd",
        "secret",
        "cookie",
        "setcookie",
        "credential",
        "credentials",
        "signature",
    }
)
_SECRET_SUFFIXES = (
    "apikey",
    "secretkey",
    "accesskey",
    "privatekey",
    "subscriptionkey",
    "sessionkey",
    "signingkey",
    "token",
    "secret",
    "password",
    "credentials",
    "credential",
)
# Names ending in "token" that count tokens or name a vocabulary token, never hold a secret.
_COUNT_PREFIXES = (
    "max",
    "min",
    "num",
    "count",
    "total",
    "budget",
    "stop",
    "eos",
    "bos",
    "pad",
    "sep",
    "unk",
    "cls",
    "mask",
    "start",
    "end",
)
_SECRET_VALUE = re.compile(
    r"^(?:(?:bearer|basic|token|apikey)\s+\S{8,}"
    r"|sk-[A-Za-z0-9_\-]{16,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|glpat-[A-Za-z0-9_\-]{20,})$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Invocation:
    """An LLM run's ``invocation_params`` without credentials, and the tools it was offered."""

    params: dict[str, JSON]
    tools: JSON = None
    tool_choice: JSON = None


# A model called again and again passes the same parameters every time: what they became
# is kept, by their repr, for this many distinct parameter sets.
_MEMO_SIZE = 256
_memo: dict[tuple[str, frozenset[str], int | None], Invocation] = {}
_memo_lock = threading.Lock()


def describe(invocation_params: Any, serialized: Any, max_chars: int | None) -> Invocation:
    """The record's ``invocation_params``, ``tools`` and ``tool_choice`` for one run.

    Remembered by the parameters' ``repr`` (plain dicts, lists and strings: its text is
    the value), so a model called a thousand times is described once, not a thousand.
    """
    if not isinstance(invocation_params, Mapping):
        return Invocation({})
    secret_keys = secret_fields(serialized)
    key = _memo_key(invocation_params, secret_keys, max_chars)
    if key is not None:
        known = _memo.get(key)
        if known is not None:
            return known
    described = _describe(invocation_params, secret_keys, max_chars)
    if key is not None:
        with _memo_lock:
            if len(_memo) >= _MEMO_SIZE:
                _memo.clear()
            _memo[key] = described
    return described


def _memo_key(
    params: Mapping[Any, Any], secret_keys: frozenset[str], max_chars: int | None
) -> tuple[str, frozenset[str], int | None] | None:
    """The parameters' repr when it says all of them: only plain values (str, numbers,
    None, bools, and lists, tuples and dicts of them), whose repr is their value; else
    None (an object's repr may hide a difference, or a secret's value)."""
    if type(params) is not dict or not _plain(params, 0):
        return None
    return repr(params), secret_keys, max_chars


_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any, depth: int) -> bool:
    if type(value) in _PLAIN:
        return True
    if depth > 10:
        return False
    if type(value) in (list, tuple):
        return len(value) <= 256 and all(_plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return len(value) <= 256 and all(
            type(k) is str and _plain(v, depth + 1) for k, v in value.items()
        )
    return False


def _describe(
    invocation_params: Mapping[Any, Any], secret_keys: frozenset[str], max_chars: int | None
) -> Invocation:
    params: dict[str, JSON] = {}
    tools: JSON = None
    tool_choice: JSON = None
    for key, value in invocation_params.items():
        name = key if isinstance(key, str) else text_of(key, max_chars)
        # Tool schemas name their properties freely ("password", "token"): only a value
        # shaped like a credential is one there.
        if name in TOOLS_KEYS and value:
            tools = _clean(to_json(value, max_chars), secret_keys, by_key=False)
        elif name in TOOL_CHOICE_KEYS and value is not None:
            tool_choice = _clean(to_json(value, max_chars), secret_keys, by_key=False)
        elif name not in TOOLS_KEYS and name not in TOOL_CHOICE_KEYS:
            params[name] = _param(name, value, secret_keys, max_chars)
    return Invocation(params, tools, tool_choice)


def _param(name: str, value: Any, secret_keys: frozenset[str], max_chars: int | None) -> JSON:
    if _secret_object(value) or _secret_entry(name, value, secret_keys):
        return SECRET
    if isinstance(value, type) and issubclass(value, BaseModel):
        # with_structured_output(MyModel) binds the class itself: its schema says more.
        try:
            value = value.model_json_schema()
        except Exception:
            value = value.__qualname__
    return _clean(to_json(_unwrap_secrets(value, 0), max_chars), secret_keys)


def scrub(value: JSON) -> JSON:
    """Any JSON value (a serialized model, its parameters) with credentials replaced."""
    return _clean(value, frozenset())


def secret_fields(serialized: Any) -> frozenset[str]:
    """The constructor fields LangChain serialized as secrets (the model's ``lc_secrets``)."""
    kwargs = serialized.get("kwargs") if isinstance(serialized, Mapping) else None
    if not isinstance(kwargs, Mapping):
        return frozenset()
    return frozenset(
        text_of(key, None)
        for key, value in kwargs.items()
        if isinstance(value, Mapping) and value.get("type") == "secret"
    )


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a parameter or header named ``key`` holds a credential."""
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    if name in _SECRET_NAMES:
        return True
    if not name.endswith(_SECRET_SUFFIXES):
        return False
    if name.endswith("token") or name.endswith("tokens"):
        return not name.startswith(_COUNT_PREFIXES)
    return True


def looks_like_secret(value: str) -> bool:
    """Whether a string is shaped like a credential (a bearer header, a provider's key)."""
    return len(value) < 4096 and _SECRET_VALUE.match(value.strip()) is not None


def _secret_object(value: Any) -> bool:
    return isinstance(value, SecretStr | SecretBytes)


def _secret_entry(key: str, value: Any, secret_keys: frozenset[str]) -> bool:
    """Whether ``key: value`` is a credential by its name: only text can be one."""
    if not _text_like(value):
        return False
    return key in secret_keys or is_secret_key(key)


def _text_like(value: Any) -> bool:
    if isinstance(value, str | bytes | SecretStr | SecretBytes):
        return bool(value)
    if isinstance(value, list | tuple):
        return bool(value) and all(isinstance(item, str | bytes) for item in value)
    return False


def _unwrap_secrets(value: Any, depth: int) -> Any:
    """``value`` with every ``SecretStr``/``SecretBytes`` in a dict or list replaced, so
    what ``to_json`` makes of the rest can carry none of them."""
    if _secret_object(value):
        return SECRET
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {key: _unwrap_secrets(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unwrap_secrets(item, depth + 1) for item in value]
    return value


def _clean(
    value: JSON, secret_keys: frozenset[str], depth: int = 0, *, by_key: bool = True
) -> JSON:
    """A JSON value with every credential replaced by :data:`SECRET` (``by_key``: also
    the text under a credential's name)."""
    if isinstance(value, str):
        return SECRET if looks_like_secret(value) else value
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            key: SECRET
            if by_key and _secret_entry(key, item, secret_keys)
            else _clean(item, secret_keys, depth + 1, by_key=by_key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_clean(item, secret_keys, depth + 1, by_key=by_key) for item in value]
    return value
