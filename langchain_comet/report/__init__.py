"""``langchain-comet report``: one self-contained HTML file from an offline archive.

The page is a template with the stylesheet, the script and the archive's data inlined:
nothing is fetched when it is opened (its Content-Security-Policy forbids it), so it can
be mailed, attached to a ticket or opened on a machine with no network.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from langchain_comet.report.model import DEFAULT_MAX_CHARS, report_data
from langchain_comet.summary import Summary

__all__ = ["DEFAULT_MAX_CHARS", "render_report", "write_report"]

PLACEHOLDER = re.compile(r"\{\{(title|style|data|script)\}\}")


def _resource(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render_report(summary: Summary, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The report page as one HTML string."""
    data = json.dumps(report_data(summary, max_chars), ensure_ascii=False, separators=(",", ":"))
    # Inside <script>, "</" could end the element early and "<!--" change how it parses;
    # "<" only occurs inside JSON strings, where its escape means the same.
    data = data.replace("<", "\\u003c")
    title = summary.archive.name or summary.archive.experiment_id
    values = {
        "title": _escape(f"{title} · langchain-comet report"),
        "style": _resource("style.css"),
        "data": data,
        "script": _resource("app.js"),
    }
    # One pass, so a "{{...}}" inside the archive's data is never taken for a placeholder.
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], _resource("template.html"))


def write_report(summary: Summary, output: Path, max_chars: int = DEFAULT_MAX_CHARS) -> int:
    """Write the report to ``output``; returns its size in bytes."""
    page = render_report(summary, max_chars).encode("utf-8")
    output.write_bytes(page)
    return len(page)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
