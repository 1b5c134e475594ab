"""Which prompt template made the messages an LLM run was called with.

A ``PromptTemplate`` or ``ChatPromptTemplate`` is a run of its own (``run_type`` "prompt")
that ends before the model it feeds starts: in ``prompt | llm`` they are siblings under
the sequence, in an app that calls ``prompt.invoke`` then ``llm.invoke`` with the same
config they are siblings under the app's run. A template is attached to an LLM run only
when all of these hold, so it never lands on an unrelated call, also under ``batch``
and concurrency:

- the prompt run's parent is the LLM run's parent or one of its ancestors (same trace);
- the prompt run ended before the LLM run started, and that parent is still open;
- the prompt's output is exactly what the model received: the same messages (type and
  content, media compared by their base64 text or URL) for a chat model, the same text
  for an LLM.

Among several matches the most recent prompt run wins; a template stays matchable until
its parent ends, so fallbacks and retries of the same call carry it too.

Runs on the background worker only.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue

from langchain_comet.media import MediaLog, fingerprint
from langchain_comet.serialize import JSON, dumps, message_to_dict, text_of, to_json, truncate

__all__ = ["PROMPT_RUN_TYPE", "PromptTemplates", "describe", "messages_digest", "text_digest"]

PROMPT_RUN_TYPE = "prompt"
# Templates that ended under one parent and may still feed one of its LLM runs.
MAX_PENDING_PER_PARENT = 256
# Parents with pending templates; past this the oldest are forgotten (a parent this
# handler never sees end would otherwise keep its templates for the process's life).
MAX_PARENTS = 10_000
# How far up from an LLM run its ancestors are searched.
MAX_ANCESTORS = 64
# Metadata keys: the app's own version; LangChain Hub's, which pulled prompts carry.
VERSION_KEY = "prompt_version"
HUB_KEYS = ("lc_hub_owner", "lc_hub_repo", "lc_hub_commit_hash")

_ROLES = {
    "SystemMessagePromptTemplate": "system",
    "HumanMessagePromptTemplate": "user",
    "AIMessagePromptTemplate": "assistant",
    "SystemMessage": "system",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "ToolMessage": "tool",
}


@dataclass(frozen=True, slots=True)
class _Pending:
    messages: str | None
    text: str | None
    template: dict[str, JSON]


class PromptTemplates:
    """Templates of prompt runs that ended, by parent run, until the parent ends."""

    def __init__(self) -> None:
        self._by_parent: dict[UUID, deque[_Pending]] = {}

    def ended(self, parent_run_id: UUID, output: Any, template: dict[str, JSON]) -> None:
        """A prompt run under ``parent_run_id`` ended with ``output`` (its PromptValue)."""
        messages, text = _output_digests(output)
        if messages is None and text is None:
            return
        pending = self._by_parent.get(parent_run_id)
        if pending is None:
            if len(self._by_parent) >= MAX_PARENTS:
                del self._by_parent[next(iter(self._by_parent))]
            pending = self._by_parent[parent_run_id] = deque(maxlen=MAX_PENDING_PER_PARENT)
        pending.append(_Pending(messages, text, template))

    def match(
        self, ancestors: Iterable[UUID], digest: Callable[[], str], *, chat: bool
    ) -> dict[str, JSON] | None:
        """The template whose output is exactly the LLM run's input, searched from the
        nearest ancestor up. ``digest`` (:func:`messages_digest` of a chat model's
        messages, :func:`text_digest` of an LLM's prompt) is computed only when some
        ancestor has a template pending: most LLM runs are fed by none."""
        if not self._by_parent:
            return None
        wanted: str | None = None
        for ancestor in ancestors:
            pending = self._by_parent.get(ancestor)
            if not pending:
                continue
            wanted = digest() if wanted is None else wanted
            for candidate in reversed(pending):
                if (candidate.messages if chat else candidate.text) == wanted:
                    return candidate.template
        return None

    def forget(self, run_id: UUID) -> None:
        """``run_id`` ended: templates that ended under it can feed nothing more."""
        if self._by_parent:
            self._by_parent.pop(run_id, None)


def describe(
    name: str,
    serialized: Any,
    inputs: Any,
    metadata: Mapping[str, Any],
    media: MediaLog,
    max_chars: int | None,
) -> dict[str, JSON]:
    """``{"name", "template", "variables", "version"}`` of one prompt run."""
    kwargs = serialized.get("kwargs") if isinstance(serialized, Mapping) else None
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    return {
        "name": _name(name, metadata),
        "template": to_json(_template(serialized), max_chars),
        "variables": _variables(kwargs, inputs, media, max_chars),
        "version": _version(metadata),
    }


def with_version(template: dict[str, JSON], metadata: Mapping[str, Any]) -> dict[str, JSON]:
    """``template`` with the LLM run's ``prompt_version`` when its prompt run had none."""
    if template.get("version") is not None or _version(metadata) is None:
        return template
    return {**template, "version": _version(metadata)}


def messages_digest(messages: Sequence[BaseMessage]) -> str:
    """What identifies the messages a chat model was called with (see the module doc)."""
    return _digest([[_type(m), fingerprint(_content(m))] for m in messages])


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# -- helpers -----------------------------------------------------------------------------


def _output_digests(output: Any) -> tuple[str | None, str | None]:
    if isinstance(output, PromptValue):
        return messages_digest(output.to_messages()), text_digest(output.to_string())
    if isinstance(output, str):
        return None, text_digest(output)
    if isinstance(output, Sequence) and output and all(isinstance(m, BaseMessage) for m in output):
        return messages_digest(output), None
    return None, None


def _digest(value: JSON) -> str:
    return hashlib.sha256(dumps(value, None).encode("utf-8")).hexdigest()


def _type(message: BaseMessage) -> JSON:
    try:
        return to_json(message.type, None)
    except Exception:
        return None


def _content(message: BaseMessage) -> Any:
    try:
        return message.content
    except Exception:
        return None


def _name(run_name: str, metadata: Mapping[str, Any]) -> str:
    owner, repo = metadata.get(HUB_KEYS[0]), metadata.get(HUB_KEYS[1])
    if isinstance(repo, str) and repo:
        return f"{owner}/{repo}" if isinstance(owner, str) and owner else repo
    return run_name


def _version(metadata: Mapping[str, Any]) -> JSON:
    for key in (VERSION_KEY, HUB_KEYS[2]):
        value = metadata.get(key)
        if value is not None and value != "":
            return value if isinstance(value, int | float) else text_of(value, 1000)
    return None


def _template(serialized: Any) -> Any:
    """The template text, or one entry per message of a chat template; None when the
    prompt is not serializable (a custom class)."""
    kwargs = serialized.get("kwargs") if isinstance(serialized, Mapping) else None
    if not isinstance(kwargs, Mapping):
        return None
    messages = kwargs.get("messages")
    if isinstance(messages, list):
        return [_message_template(item) for item in messages]
    template = kwargs.get("template")
    if template is not None:
        return template
    prompt = kwargs.get("prompt")  # a wrapper around one template
    return _template(prompt) if isinstance(prompt, Mapping) else None


def _message_template(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        return {"role": None, "template": item}
    ident = item.get("id")
    cls = ident[-1] if isinstance(ident, list) and ident else None
    found = item.get("kwargs")
    kwargs: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    if cls == "MessagesPlaceholder":
        variable = kwargs.get("variable_name")
        return {"role": "placeholder", "template": f"{{{variable}}}"}
    role = kwargs.get("role") if cls in ("ChatMessagePromptTemplate", "ChatMessage") else None
    role = role or _ROLES.get(cls if isinstance(cls, str) else "") or to_json(cls, 1000)
    if "content" in kwargs:  # a literal message inside the template
        return {"role": role, "template": kwargs["content"]}
    prompt = kwargs.get("prompt")
    if isinstance(prompt, list):  # multimodal: text and image templates
        return {"role": role, "template": [_template(part) for part in prompt]}
    return {"role": role, "template": _template(prompt)}


def _variables(
    kwargs: Mapping[str, Any], inputs: Any, media: MediaLog, max_chars: int | None
) -> dict[str, JSON]:
    names = kwargs.get("input_variables")
    names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else None
    optional = kwargs.get("optional_variables")
    if names is not None and isinstance(optional, list):
        names += [n for n in optional if isinstance(n, str) and n not in names]
    values: dict[str, Any] = {}
    partial = kwargs.get("partial_variables")
    if isinstance(partial, Mapping):
        values.update({text_of(k, max_chars): v for k, v in partial.items()})
    if isinstance(inputs, Mapping):
        values.update(
            {text_of(k, max_chars): v for k, v in inputs.items() if names is None or k in names}
        )
    elif inputs is not None:  # one variable, invoked with its value alone
        values[names[0] if names and len(names) == 1 else "input"] = inputs
    return {key: _variable(value, media, max_chars) for key, value in values.items()}


def _variable(value: Any, media: MediaLog, max_chars: int | None) -> JSON:
    """A variable's value as JSON, media replaced by a reference like in messages."""
    if isinstance(value, str):
        reference = media.variable(value)
        return reference if reference is not None else truncate(value, max_chars)
    if isinstance(value, BaseMessage):
        return message_to_dict(media.message(value, None, _no_emit), max_chars)
    if isinstance(value, list | tuple) and any(isinstance(v, BaseMessage) for v in value):
        return [_variable(v, media, max_chars) for v in value]
    return to_json(value, max_chars)


def _no_emit(payload: Any) -> None:
    """Variables are only described; the messages made from them log the payloads."""
