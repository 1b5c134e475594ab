"""No import cycles inside ``langchain_comet``: data flows one way, and so do imports.

Every import counts, including those under ``TYPE_CHECKING`` and inside functions: a cycle
hidden from the interpreter is still two modules that cannot be understood apart. The
implicit import of a parent package (``langchain_comet/__init__.py`` runs before any
submodule) is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import langchain_comet

PACKAGE_DIR = Path(langchain_comet.__file__).parent
PACKAGE = "langchain_comet"


def _module_name(path: Path) -> str:
    parts = (PACKAGE, *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}


def _imported(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` statement reads from."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports, anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            source = _imported(node, name, path.name == "__init__.py")
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif source in modules:
                    found.add(source)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _edges(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the path of modules around it, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph[name]):
            cycle = visit(target, [*path, name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_graph_sees_every_kind_of_import() -> None:
    """The check would be vacuous if the parser missed edges: these are known to exist."""
    graph = import_graph()
    assert len(graph) >= 20
    assert "langchain_comet.handler" in graph[PACKAGE]  # from ... import Name
    assert "langchain_comet.demo" in graph["langchain_comet.cli"]  # inside a function
    assert "langchain_comet.visualize" in graph["langchain_comet.runs"]  # a submodule by name
    assert "langchain_comet.records" in graph["langchain_comet.redact"]
    assert "langchain_comet.report.model" in graph["langchain_comet.report"]


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_renderer_program_imports_nothing_of_the_package() -> None:
    """``spacy_pages.py`` is run by its path as the renderer process: importing any module
    of the package there would import LangChain and comet_ml into it (``__init__``)."""
    source = (PACKAGE_DIR / "spacy_pages.py").read_text(encoding="utf-8")
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported and not {name for name in imported if name.startswith(PACKAGE)}
    assert "langchain_comet.spacy_pages" in import_graph()["langchain_comet.render_process"]
