"""The documentation holds together: every relative link resolves, the README stays a
landing page, and the layout page names the modules that exist.

Links are read from Markdown outside code (fenced blocks and inline code are skipped);
an ``#anchor`` into a Markdown file must match one of its headings, slugged as GitHub
does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 200

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.DOTALL)
# [text](target "title") and ![alt](target), text may hold one level of brackets; then
# reference definitions: [label]: target
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def markdown_files() -> list[Path]:
    files = [README, *sorted(DOCS.glob("*.md"))]
    files += sorted(path for path in ROOT.glob("*.md") if path not in files)
    examples = ROOT / "examples" / "README.md"
    return [*files, examples] if examples.exists() else files


def prose(markdown: str) -> str:
    """The Markdown without code, where a link is only text."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def links(markdown: str) -> list[str]:
    text = prose(markdown)
    return [*INLINE_LINK.findall(text), *REFERENCE.findall(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped.

    A code span keeps its text whole (``trace_attributes`` keeps its underscore); outside
    code, emphasis markers and HTML tags are not text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    parts = re.split(r"(`[^`]*`)", text)
    rendered = "".join(
        part[1:-1]
        if len(part) >= 2 and part[0] == part[-1] == "`"
        else re.sub(r"[*~]|(?<!\w)_+|_+(?!\w)|<[^>]+>", "", part)
        for part in parts
    )
    rendered = re.sub(r"[^\w\- ]", "", rendered.strip().lower())
    return rendered.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor, numbered as GitHub numbers repeated ones."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, title in HEADING.findall(FENCE.sub("", markdown)):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(source: Path) -> list[str]:
    """The relative links of ``source`` that point at nothing."""
    broken = []
    for link in links(source.read_text(encoding="utf-8")):
        if EXTERNAL.match(link):
            continue
        target, _, anchor = link.partition("#")
        path = (source.parent / unquote(target)).resolve() if target else source
        if not path.exists():
            broken.append(f"{link} (no file {os.path.relpath(path, ROOT)})")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text("utf-8")):
            broken.append(f"{link} (no heading #{anchor} in {path.name})")
    return broken


@pytest.mark.parametrize("source", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(source: Path) -> None:
    assert broken_links(source) == []


def test_the_readme_is_a_landing_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_readme_and_the_docs_link_to_each_other() -> None:
    """Every page is reachable: the README links the index, the index every page."""
    assert "docs/index.md" in links(README.read_text(encoding="utf-8"))
    listed = {link.partition("#")[0] for link in links((DOCS / "index.md").read_text("utf-8"))}
    pages = {path.name for path in DOCS.glob("*.md")} - {"index.md"}
    assert pages - listed == set()


def test_the_layout_page_names_every_module() -> None:
    """``docs/layout.md`` matches the code: no module missing, none that does not exist."""
    package = ROOT / "langchain_comet"
    modules = {path.name for path in package.glob("*.py")} - {"__init__.py"}
    modules |= {f"{path.parent.name}/" for path in package.glob("*/__init__.py")}
    rows = [
        line
        for line in (DOCS / "layout.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    ]
    named = {name for row in rows for name in re.findall(r"`([a-z_]+\.py|[a-z_]+/)`", row)}
    assert modules - named == set(), "modules missing from docs/layout.md"
    assert named - modules == set(), "docs/layout.md names modules that do not exist"


# -- the checker itself ------------------------------------------------------------------


def test_links_skip_code_and_keep_images_and_references() -> None:
    markdown = (
        "See [a](a.md#x), ![img](i.png) and [b][ref] `[not](code.md)`.\n\n"
        "```\n[not](fenced.md)\n```\n\n[ref]: b.md\n[web](https://example.com)\n"
    )
    assert links(markdown) == ["a.md#x", "i.png", "https://example.com", "b.md"]


def test_slugs_follow_github() -> None:
    markdown = (
        "# See your runs: `show` and `report`\n## Where data goes (the embedded default)\n"
        "## Cost\n## Cost\n```\n# not a heading\n```\n"
        "## `trace_attributes` from _anywhere_ in **the** code\n"
    )
    assert anchors(markdown) == {
        "see-your-runs-show-and-report",
        "where-data-goes-the-embedded-default",
        "cost",
        "cost-1",
        "trace_attributes-from-anywhere-in-the-code",
    }


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "cost.md").write_text("# Cost\n\n## Session summary\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[gone](missing.md) [bad](cost.md#no-such-heading) [ok](cost.md#session-summary)"
        " [here](#top) [self](#title)\n\n# Title\n"
    )
    assert [entry.split(" ")[0] for entry in broken_links(page)] == [
        "missing.md",
        "cost.md#no-such-heading",
        "#top",
    ]
