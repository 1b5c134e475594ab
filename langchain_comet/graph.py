"""A compiled LangGraph graph's structure, for ``flush_tracker(langchain_asset=graph)``.

Logged as two assets: ``langchain-graph.json`` (nodes and edges, which the HTML report
draws) and ``langchain-graph.mmd`` (LangGraph's own Mermaid text, which Comet, GitHub and
mermaid.live render). Read with LangGraph's public ``get_graph``; nothing is imported
from LangGraph, and any other asset is left to ``assets.describe`` as before.
"""

from __future__ import annotations

from typing import Any

from langchain_comet.serialize import JSON, text_of

# Subgraphs drawn inside their parent node (LangGraph's ``xray``), to this depth.
XRAY_DEPTH = 3
# LangGraph marks the entry and exit with these node ids.
START, END = "__start__", "__end__"


def is_graph(asset: Any) -> bool:
    """Whether ``asset`` is a LangGraph graph (compiled ``StateGraph``, ``Pregel``, agent)."""
    return type(asset).__module__.split(".", 1)[0] == "langgraph" and callable(
        getattr(asset, "get_graph", None)
    )


def structure(asset: Any, max_chars: int | None) -> tuple[dict[str, JSON], str]:
    """``({"name", "nodes", "edges"}, mermaid)`` of a LangGraph graph; raises if it cannot
    be drawn (the caller reports that once and logs the rest of the flush)."""
    try:
        drawable = asset.get_graph(xray=XRAY_DEPTH)
    except TypeError:  # a graph whose get_graph takes no xray
        drawable = asset.get_graph()
    nodes: list[JSON] = []
    for node_id, node in drawable.nodes.items():
        ident = text_of(node_id, max_chars)
        entry: dict[str, JSON] = {
            "id": ident,
            "name": text_of(getattr(node, "name", node_id), max_chars),
            "kind": "start" if ident == START else "end" if ident == END else "node",
        }
        data = getattr(node, "data", None)
        if data is not None and not isinstance(data, str):
            entry["type"] = type(data).__name__
        parent, _, _ = ident.rpartition(":")
        if parent:
            entry["subgraph"] = parent  # xray: "team:alice" is alice inside team
        nodes.append(entry)
    edges: list[JSON] = []
    for edge in drawable.edges:
        one: dict[str, JSON] = {
            "source": text_of(edge.source, max_chars),
            "target": text_of(edge.target, max_chars),
            "conditional": bool(edge.conditional),
        }
        if edge.data is not None:
            one["label"] = text_of(edge.data, max_chars)
        edges.append(one)
    name = getattr(asset, "name", None)
    description: dict[str, JSON] = {
        "name": text_of(name, max_chars) if name else type(asset).__name__,
        "nodes": nodes,
        "edges": edges,
    }
    return description, drawable.draw_mermaid()
