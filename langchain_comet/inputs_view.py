"""What the model saw, in a few lines of text per LLM run (``langchain-comet show``).

Reads the run record fields of issue #15 (``invocation_params``, ``tools``,
``tool_choice``, ``prompt_template``, media references in the messages, ``cost_source``)
and says them in one line each; the report shows the same fields in full.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from langchain_comet.media import is_reference

__all__ = ["detail_lines", "media_references", "tool_names"]

# Parameters the run label already shows (the model) or that say nothing to a reader.
HIDDEN_PARAMS = frozenset({"model", "model_name", "_type"})
MAX_VALUE_CHARS = 60
MAX_LINE_CHARS = 240
MAX_MEDIA_LISTED = 8
COST_SOURCES = {
    "provider": "reported by the provider",
    "prices": "from the prices option",
    "genai-prices": "from genai-prices",
}


def detail_lines(run: Mapping[str, Any]) -> list[str]:
    """One line per kind of input the record holds; none for runs that are not LLM calls."""
    lines = [
        _params(run.get("invocation_params")),
        _tools(run.get("tools"), run.get("tool_choice")),
        _template(run.get("prompt_template")),
        _media(run),
        _cost_source(run.get("cost_source")),
    ]
    return [_cut(line, MAX_LINE_CHARS) for line in lines if line]


def tool_names(tools: Any) -> list[str]:
    """The names of the tools offered (OpenAI's and Anthropic's shapes)."""
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
        names.append(str(name) if name is not None else str(tool.get("type", "?")))
    return names


def media_references(run: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The media references in a run's input messages, then in its generated messages."""
    inputs = run.get("inputs")
    batches = inputs.get("messages") if isinstance(inputs, Mapping) else None
    for batch in batches if isinstance(batches, list) else []:
        for message in batch if isinstance(batch, list) else []:
            yield from _in_message(message)
    outputs = run.get("outputs")
    generations = outputs.get("generations") if isinstance(outputs, Mapping) else None
    for batch in generations if isinstance(generations, list) else []:
        for generation in batch if isinstance(batch, list) else []:
            if isinstance(generation, Mapping):
                yield from _in_message(generation.get("message"))


def _in_message(message: Any) -> Iterator[Mapping[str, Any]]:
    content = message.get("content") if isinstance(message, Mapping) else None
    for item in content if isinstance(content, list) else []:
        if is_reference(item):
            yield item


def _params(params: Any) -> str | None:
    if not isinstance(params, Mapping):
        return None
    shown = [
        f"{key}={_value(value)}"
        for key, value in params.items()
        if key not in HIDDEN_PARAMS and value is not None
    ]
    return "params: " + " · ".join(shown) if shown else None


def _tools(tools: Any, choice: Any) -> str | None:
    names = tool_names(tools)
    if not names and choice is None:
        return None
    line = "tools: " + (", ".join(names) if names else "none")
    if choice is not None:
        line += f" · tool_choice: {_value(choice)}"
    return line


def _template(template: Any) -> str | None:
    if not isinstance(template, Mapping):
        return None
    line = f"prompt: {template.get('name') or 'template'}"
    if template.get("version") is not None:
        line += f" version {template['version']}"
    variables = template.get("variables")
    if isinstance(variables, Mapping) and variables:
        line += " · variables: " + ", ".join(str(key) for key in variables)
    return line


def _media(run: Mapping[str, Any]) -> str | None:
    references = list(media_references(run))
    if not references:
        return None
    parts = [_reference(ref) for ref in references[:MAX_MEDIA_LISTED]]
    if len(references) > MAX_MEDIA_LISTED:
        parts.append(f"{len(references) - MAX_MEDIA_LISTED} more")
    return "media: " + "; ".join(parts)


def _reference(ref: Mapping[str, Any]) -> str:
    what = str(ref.get("type"))
    where = ref.get("name") or ref.get("url") or ref.get("file_id") or ref.get("filename")
    text = f"{what} {where}" if where else what
    facts = [str(ref["mime_type"])] if ref.get("mime_type") else []
    if isinstance(ref.get("bytes"), int):
        facts.append(_size(ref["bytes"]))
    if ref.get("omitted"):
        facts.append(f"not logged: {ref['omitted']}")
    return f"{text} ({', '.join(facts)})" if facts else text


def _cost_source(source: Any) -> str | None:
    if not isinstance(source, str):
        return None
    return f"cost {COST_SOURCES.get(source, source)}"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} kB"
    return f"{count / (1024 * 1024):.1f} MB"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _cut(text, MAX_VALUE_CHARS)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
