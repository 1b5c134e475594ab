"""One record's maximum size, enforced where records are encoded.

Strings are cut at ``max_text_chars`` and collections at ``max_items`` as they are
converted (serialize.py), and one conversion stays within ``MAX_CONVERTED_CHARS``; but a
record is assembled from several conversions (inputs, outputs, metadata, events), so it
can still be larger than ``MAX_RECORD_BYTES``. The sink encodes every run record, session
row and action record through :func:`bounded_line`: one that is too large is cut again,
to ever smaller limits, until it fits, and says so under ``CUT_KEY`` (``"…[truncated,
N bytes]"``, N its encoded size). Cuts already made keep their original counts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from langchain_comet.serialize import CUT_KEY, JSON, MAX_RECORD_BYTES, items_marker

Encode = Callable[[dict[str, JSON]], bytes]

# (characters a string keeps, items a collection keeps), tried in order until one fits.
_LADDER = ((65_536, 256), (8_192, 64), (1_024, 16), (128, 4), (16, 1))
# A record's own fields (its top level) are all kept up to this many, names whole.
_TOP_ITEMS = 64
_TOP_KEY_CHARS = 256
# The fields that identify a record, kept if nothing else fits.
_IDENTITY = ("action", "run_id", "parent_run_id", "trace_id", "run_type", "name", "status", "step")
_CUT_TEXT = re.compile(r"…\[truncated, (\d+) (chars|bytes)\]")
_CUT_ITEMS = re.compile(r"…\[truncated, (\d+) items\]")
_MARKER_TAIL = 48  # a marker is shorter than this


def bounded_line(record: dict[str, JSON], encode: Encode, limit: int = MAX_RECORD_BYTES) -> bytes:
    """``encode(record)``, or if that is larger than ``limit`` bytes, the record cut to fit."""
    line = encode(record)
    if len(line) <= limit:
        return line
    return encode(fit(record, len(line), encode, limit))


def fit(record: dict[str, JSON], size: int, encode: Encode, limit: int) -> dict[str, JSON]:
    """``record`` (``size`` bytes encoded) cut until it encodes within ``limit`` bytes."""
    marker = f"…[truncated, {size} bytes]"
    for chars, items in _LADDER:
        candidate = _shrink_top(record, chars, items)
        candidate[CUT_KEY] = marker
        if len(encode(candidate)) <= limit:
            return candidate
    identity: dict[str, JSON] = {
        key: shrink(record[key], 64, 1) for key in _IDENTITY if key in record
    }
    identity[CUT_KEY] = marker
    return identity


def _shrink_top(record: dict[str, JSON], chars: int, items: int) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    kept = max(items, _TOP_ITEMS)
    for key, value in itertools.islice(record.items(), kept):
        if key != CUT_KEY:
            out[_unique(recut(key, max(chars, _TOP_KEY_CHARS)), out)] = shrink(value, chars, items)
    if len(record) > kept:
        out[_unique(CUT_KEY, out)] = items_marker(len(record))
    return out


def shrink(value: JSON, chars: int, items: int) -> JSON:
    """``value`` with strings of at most ``chars`` characters and collections of at most
    ``items`` items (plus their markers); a cut already marked keeps its original count."""
    if isinstance(value, str):
        return recut(value, chars)
    if isinstance(value, list):
        total = len(value)
        body = value
        last = value[-1] if value else None
        if isinstance(last, str) and (found := _CUT_ITEMS.fullmatch(last)) is not None:
            total, body = int(found[1]), value[:-1]
        out_list = [shrink(item, chars, items) for item in body[:items]]
        if len(out_list) < total:
            out_list.append(items_marker(total))
        return out_list
    if isinstance(value, dict):
        total = len(value)
        cut = value.get(CUT_KEY)
        if isinstance(cut, str) and (found := _CUT_ITEMS.fullmatch(cut)) is not None:
            total = int(found[1])
        out: dict[str, JSON] = {}
        pairs = ((key, item) for key, item in value.items() if key != CUT_KEY)
        for key, item in itertools.islice(pairs, items):
            out[_unique(recut(key, chars), out)] = shrink(item, chars, items)
        if len(out) < total:
            out[_unique(CUT_KEY, out)] = items_marker(total)
        return out
    return value


def recut(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters; a text cut before keeps its original length."""
    body, total, unit = text, len(text), "chars"
    start = text.rfind("…[truncated, ", max(len(text) - _MARKER_TAIL, 0))
    if start >= 0 and (found := _CUT_TEXT.fullmatch(text, start)) is not None:
        body, total, unit = text[:start], int(found[1]), found[2]
    if len(body) <= chars:
        return text
    return f"{body[:chars]}…[truncated, {total} {unit}]"


def _unique(key: str, out: dict[str, Any]) -> str:
    """``key``, or ``key #n`` if cutting made it collide with one already kept."""
    candidate, n = key, 2
    while candidate in out:
        candidate, n = f"{key} #{n}", n + 1
    return candidate
