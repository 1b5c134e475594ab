"""Images, audio and files inside chat messages: references in the record, payloads to Comet.

A message's content may hold media as base64 text (LangChain's standard blocks, OpenAI's
``image_url`` data URLs and ``input_audio``, Anthropic's ``source`` blocks) or as a URL.
Kept as text, a picture becomes megabytes of base64 cut to an unusable prefix. Here each
media block is replaced, in the run record, by a short reference::

    {"type": "image", "name": "langchain-image-<sha256[:16]>.png",
     "mime_type": "image/png", "bytes": 1234, "sha256": "<hex>"}

and its bytes are handed to the writer once per experiment (``log_image`` for images,
``log_audio`` for audio, ``log_asset`` for other files). A remote URL is kept as the
reference's ``url`` and never fetched; a provider's file id as ``file_id``.

Bounded: past :data:`MAX_MEDIA_BYTES` per item, :data:`MAX_MEDIA_PER_RUN` items per run,
or the per-experiment limits, the reference stays (with ``bytes`` and, when decoded,
``sha256``) and says why the payload was not logged in ``omitted``.

Runs on the background worker only: decoding and hashing never touch the hot path.
"""

from __future__ import annotations

import binascii
import hashlib
import mimetypes
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_comet.serialize import JSON, to_json

__all__ = [
    "MAX_MEDIA_BYTES",
    "MAX_MEDIA_PER_EXPERIMENT",
    "MAX_MEDIA_PER_RUN",
    "MEDIA_KINDS",
    "Block",
    "MediaLog",
    "Payload",
    "RunMedia",
    "fingerprint",
    "is_reference",
    "parse_block",
]

MEDIA_KINDS = ("image", "audio", "video", "file")
# One item larger than this is referenced, not logged (OpenAI accepts images up to 20 MB).
MAX_MEDIA_BYTES = 20 * 1024 * 1024
# Items of one run decoded and logged; later ones are referenced with ``omitted``.
MAX_MEDIA_PER_RUN = 16
# Distinct items, and their bytes, logged into one experiment.
MAX_MEDIA_PER_EXPERIMENT = 1000
MAX_MEDIA_BYTES_PER_EXPERIMENT = 256 * 1024 * 1024
# Past this many characters a prompt variable that is all base64 is taken for media.
BASE64_VARIABLE_MIN_CHARS = 1024

_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),", re.IGNORECASE)
_BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_AUDIO_FORMATS = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "pcm16": "audio/L16",
}
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/svg+xml": "svg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
    "audio/webm": "webm",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "application/pdf": "pdf",
    "text/plain": "txt",
    "text/csv": "csv",
    "application/json": "json",
}
# Leading bytes of common formats, for blocks that do not say their MIME type.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
)


@dataclass(frozen=True, slots=True)
class Block:
    """What one media content block carries, whatever its provider's shape."""

    kind: str  # image, audio, video or file
    mime_type: str | None = None
    data: str | bytes | None = None  # base64 text, or the raw bytes
    url: str | None = None
    file_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # detail, filename, format


@dataclass(frozen=True, slots=True)
class Payload:
    """One distinct item to log into the experiment."""

    kind: str
    name: str
    mime_type: str
    data: bytes
    sha256: str
    metadata: dict[str, JSON]


@dataclass(slots=True)
class RunMedia:
    """Media items one run has decoded so far (bounded by :data:`MAX_MEDIA_PER_RUN`)."""

    decoded: int = 0


class MediaLog:
    """The media already logged into the current experiment, and its limits."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._names: dict[str, str] = {}  # sha256 -> name logged under
        self._bytes = 0

    def message(
        self,
        message: BaseMessage,
        run: RunMedia | None,
        emit: Callable[[Payload], None],
    ) -> BaseMessage:
        """``message`` with every media block of its content replaced by a reference
        (a copy; the application's message is never changed). New payloads go to ``emit``;
        ``run`` None only describes (see :meth:`reference`)."""
        content = message.content
        if not isinstance(content, list) or not any(_maybe_media(b) for b in content):
            return message
        replaced = [self._content_item(item, run, emit) for item in content]
        return message.model_copy(update={"content": replaced})

    def _content_item(
        self, item: Any, run: RunMedia | None, emit: Callable[[Payload], None]
    ) -> Any:
        block = parse_block(item) if isinstance(item, Mapping) else None
        if block is None:
            return item
        reference, payload = self.reference(block, run)
        if payload is not None:
            emit(payload)
        return reference

    def reference(
        self, block: Block, run: RunMedia | None
    ) -> tuple[dict[str, JSON], Payload | None]:
        """The record's reference for ``block``, and its payload if it is to be logged now.

        ``run`` None: only describe (a prompt variable), never log nor count.
        """
        ref: dict[str, JSON] = {"type": block.kind}
        if block.url is not None:
            ref["url"] = block.url
            mime = block.mime_type or _mime_from_url(block.url)
            if mime:
                ref["mime_type"] = mime
            return _with_extras(ref, block), None
        if block.file_id is not None:
            ref["file_id"] = block.file_id
            if block.mime_type:
                ref["mime_type"] = block.mime_type
            return _with_extras(ref, block), None
        if block.data is None:
            return _with_extras(ref, block), None
        size = _decoded_size(block.data)
        omitted = None
        if size > MAX_MEDIA_BYTES:
            omitted = f"larger than {_amount(MAX_MEDIA_BYTES)}"
        elif run is not None and run.decoded >= MAX_MEDIA_PER_RUN:
            omitted = f"more than {MAX_MEDIA_PER_RUN} media items in one run"
        if omitted is not None:
            ref.update(mime_type=block.mime_type, bytes=size, sha256=None, omitted=omitted)
            return _with_extras(ref, block), None
        if run is not None:
            run.decoded += 1
        raw = _decode(block.data)
        if raw is None:
            ref.update(mime_type=block.mime_type, bytes=None, sha256=None)
            ref["omitted"] = "not valid base64"
            return _with_extras(ref, block), None
        sha = hashlib.sha256(raw).hexdigest()
        mime = block.mime_type or _sniff(raw) or "application/octet-stream"
        name = self._names.get(sha)
        payload = None
        if name is None and run is not None and self.enabled:
            limit = self._limit(len(raw))
            if limit is None:
                name = f"langchain-{block.kind}-{sha[:16]}.{_extension(mime)}"
                self._names[sha] = name
                self._bytes += len(raw)
                payload = Payload(block.kind, name, mime, raw, sha, _metadata(block, mime, sha))
            else:
                ref["omitted"] = limit
        if name is not None:
            ref["name"] = name
        ref.update(mime_type=mime, bytes=len(raw), sha256=sha)
        return _with_extras(_ordered(ref), block), payload

    def _limit(self, size: int) -> str | None:
        """Why the experiment takes no more media, if it does not."""
        if len(self._names) >= MAX_MEDIA_PER_EXPERIMENT:
            return f"more than {MAX_MEDIA_PER_EXPERIMENT} media items in this experiment"
        if self._bytes + size > MAX_MEDIA_BYTES_PER_EXPERIMENT:
            return (
                f"more than {_amount(MAX_MEDIA_BYTES_PER_EXPERIMENT)} of media in this experiment"
            )
        return None

    def variable(self, value: str) -> dict[str, JSON] | None:
        """A reference for a prompt variable that is media (a data URL, or long base64
        text like the ``{image_data}`` of an image template); None for other text.
        Only described: the messages the template made log the payload."""
        block = None
        if value[:5].lower() == "data:":
            block = _from_url("file", value, {})
        elif len(value) >= BASE64_VARIABLE_MIN_CHARS and _BASE64_TEXT.match(value):
            block = Block("file", data=value)
        if block is None or block.data is None:
            return None
        reference, _ = self.reference(block, None)
        if reference["type"] == "file":
            reference["type"] = _kind_of(reference.get("mime_type"))
        return reference


def parse_block(block: Mapping[str, Any]) -> Block | None:
    """The media a content block carries, or None for text and anything else."""
    kind = block.get("type")
    if kind in ("image_url", "input_image"):
        return _openai_image(block)
    if kind == "input_audio":
        return _openai_audio(block.get("input_audio"))
    if kind in ("file", "input_file") and ("file" in block or "file_data" in block):
        return _openai_file(block.get("file") if "file" in block else block)
    if kind == "media":  # langchain-google-genai
        return _standard(_kind_of(block.get("mime_type")), block)
    if kind in MEDIA_KINDS or kind == "document":
        source = block.get("source")
        if isinstance(source, Mapping):  # Anthropic
            return _anthropic("file" if kind == "document" else str(kind), source, block)
        return _standard("file" if kind == "document" else str(kind), block)
    if kind is None and len(block) == 1:  # Bedrock Converse: {"image": {"source": ...}}
        ((key, value),) = block.items()
        if key in ("image", "document", "video") and isinstance(value, Mapping):
            return _bedrock("file" if key == "document" else str(key), value)
    return None


def is_reference(value: Any) -> bool:
    """Whether a record value is a media reference this module wrote (for the views)."""
    return (
        isinstance(value, Mapping)
        and value.get("type") in MEDIA_KINDS
        and any(key in value for key in ("sha256", "url", "file_id", "omitted"))
    )


def fingerprint(content: Any) -> JSON:
    """A message content reduced to what identifies it whatever the provider's wrapper:
    text as is, media by its base64 text or URL (LangChain rewrites image blocks into
    OpenAI's shape before tracing them, so the wrapper of the same image differs)."""
    if not isinstance(content, list):
        return to_json(content, None)
    out: list[JSON] = []
    for item in content:
        block = parse_block(item) if isinstance(item, Mapping) else None
        if block is None:
            if isinstance(item, Mapping) and item.get("type") == "text":
                out.append(to_json(item.get("text"), None))
            elif isinstance(item, Mapping):
                out.append(to_json({k: v for k, v in item.items() if k != "type"}, None))
            else:
                out.append(to_json(item, None))
        elif block.data is not None:
            data = block.data
            digest = hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()
            out.append({"media": digest})
        else:
            out.append({"media": block.url or block.file_id})
    return out


# -- parsing the providers' shapes -----------------------------------------------------------


def _openai_image(block: Mapping[str, Any]) -> Block | None:
    image = block.get("image_url")
    extras: dict[str, Any] = {}
    if isinstance(image, Mapping):
        if image.get("detail") is not None:
            extras["detail"] = image["detail"]
        url = image.get("url")
    else:
        url = image
    if block.get("detail") is not None:
        extras["detail"] = block["detail"]
    if isinstance(url, str):
        return _from_url("image", url, extras)
    if isinstance(block.get("file_id"), str):
        return Block("image", file_id=block["file_id"], extras=extras)
    return None


def _openai_audio(audio: Any) -> Block | None:
    if not isinstance(audio, Mapping):
        return None
    fmt = audio.get("format")
    mime = _AUDIO_FORMATS.get(str(fmt).lower()) if fmt is not None else None
    data = audio.get("data")
    if not isinstance(data, str | bytes):
        return None
    return Block("audio", mime, data, extras={"format": fmt} if fmt is not None else {})


def _openai_file(file: Any) -> Block | None:
    if not isinstance(file, Mapping):
        return None
    extras = {"filename": file["filename"]} if isinstance(file.get("filename"), str) else {}
    data = file.get("file_data")
    if isinstance(data, str):
        if data[:5].lower() == "data:":
            return _from_url("file", data, extras)
        if data.startswith(("http://", "https://")):
            return Block("file", url=data, extras=extras)
        return Block("file", _mime_from_url(extras.get("filename", "")), data, extras=extras)
    if isinstance(file.get("file_id"), str):
        return Block("file", file_id=file["file_id"], extras=extras)
    return None


def _standard(kind: str, block: Mapping[str, Any]) -> Block | None:
    """LangChain's standard blocks, v1 (``base64``/``url``/``file_id``) and v0
    (``source_type`` with ``data``/``url``/``id``)."""
    mime = block.get("mime_type") if isinstance(block.get("mime_type"), str) else None
    extras: dict[str, Any] = {}
    for key in ("filename", "detail"):
        if block.get(key) is not None:
            extras[key] = block[key]
    metadata = block.get("extras") or block.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("filename"), str):
        extras.setdefault("filename", metadata["filename"])
    source_type = block.get("source_type")
    data = block.get("base64")
    if data is None and source_type in ("base64", None):
        data = block.get("data")
    if isinstance(data, str | bytes | bytearray):
        return Block(
            kind, mime, bytes(data) if isinstance(data, bytearray) else data, None, None, extras
        )
    url = block.get("url")
    if isinstance(url, str):
        return _from_url(kind, url, extras, mime)
    ident = block.get("file_id") or (block.get("id") if source_type == "id" else None)
    if isinstance(ident, str):
        return Block(kind, mime, file_id=ident, extras=extras)
    return None


def _anthropic(kind: str, source: Mapping[str, Any], block: Mapping[str, Any]) -> Block | None:
    mime = source.get("media_type") if isinstance(source.get("media_type"), str) else None
    extras = {"filename": block["title"]} if isinstance(block.get("title"), str) else {}
    source_type = source.get("type")
    if source_type == "base64" and isinstance(source.get("data"), str | bytes):
        return Block(kind, mime, source["data"], extras=extras)
    if source_type == "url" and isinstance(source.get("url"), str):
        return _from_url(kind, source["url"], extras, mime)
    if source_type == "file" and isinstance(source.get("file_id"), str):
        return Block(kind, mime, file_id=source["file_id"], extras=extras)
    return None


def _bedrock(kind: str, value: Mapping[str, Any]) -> Block | None:
    source = value.get("source")
    data = source.get("bytes") if isinstance(source, Mapping) else None
    if not isinstance(data, bytes | bytearray | str):
        return None
    fmt = value.get("format")
    mime = _mime_from_url(f"x.{fmt}") if isinstance(fmt, str) else None
    extras = {"filename": value["name"]} if isinstance(value.get("name"), str) else {}
    return Block(kind, mime, bytes(data) if isinstance(data, bytearray) else data, extras=extras)


def _from_url(kind: str, url: str, extras: dict[str, Any], mime: str | None = None) -> Block | None:
    """A block's URL: a data URL carries the payload, any other is only referenced."""
    match = _DATA_URL.match(url[:512])
    if match is None:
        return Block(kind, mime, url=url, extras=extras)
    declared = match.group("mime").strip().lower() or mime
    body = url[match.end() :]
    if ";base64" in match.group("params").lower():
        data: str | bytes = body
    else:
        data = urllib.parse.unquote_to_bytes(body)
    if kind == "file" and declared:
        kind = _kind_of(declared)
    return Block(kind, declared, data, extras=extras)


# -- payload helpers -------------------------------------------------------------------------


def _maybe_media(item: Any) -> bool:
    """A cheap test that a content item may be media (text blocks are the common case)."""
    return isinstance(item, Mapping) and item.get("type") != "text"


def _decoded_size(data: str | bytes) -> int:
    if isinstance(data, bytes):
        return len(data)
    stripped = len(data) - data.count("\n") - data.count("\r")
    return max(0, stripped * 3 // 4 - (data[-2:].count("=") if data else 0))


def _decode(data: str | bytes) -> bytes | None:
    if isinstance(data, bytes):
        return data
    try:
        if "-" in data or "_" in data:
            data = data.replace("-", "+").replace("_", "/")
        padded = data + "=" * (-len(data.strip()) % 4)
        return binascii.a2b_base64(padded.encode("ascii"), strict_mode=False)
    except (ValueError, UnicodeEncodeError):
        return None


def _sniff(raw: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if raw.startswith(magic):
            return mime
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE":
        return "audio/wav"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return None


def _amount(count: int) -> str:
    mib = 1024 * 1024
    return f"{count // mib} MiB" if count % mib == 0 else f"{count} bytes"


def _kind_of(mime: Any) -> str:
    major = mime.split("/", 1)[0] if isinstance(mime, str) else ""
    return major if major in ("image", "audio", "video") else "file"


def _extension(mime: str) -> str:
    known = _EXTENSIONS.get(mime.lower())
    if known:
        return known
    guessed = mimetypes.guess_extension(mime, strict=False)
    return guessed.lstrip(".") if guessed else "bin"


def _mime_from_url(url: str) -> str | None:
    path = urllib.parse.urlsplit(url).path if "://" in url else url
    mime, _ = mimetypes.guess_type(path, strict=False)
    return mime


def _metadata(block: Block, mime: str, sha: str) -> dict[str, JSON]:
    metadata: dict[str, JSON] = {"sha256": sha, "mime_type": mime, "source": "langchain-comet"}
    filename = block.extras.get("filename")
    if isinstance(filename, str):
        metadata["filename"] = filename
    return metadata


def _with_extras(ref: dict[str, JSON], block: Block) -> dict[str, JSON]:
    for key, value in block.extras.items():
        if key not in ref:
            ref[key] = to_json(value, 1000)
    return ref


_ORDER = ("type", "name", "mime_type", "bytes", "sha256")


def _ordered(ref: dict[str, JSON]) -> dict[str, JSON]:
    """The reference's fields in the documented order, the rest after them."""
    return {
        **{key: ref[key] for key in _ORDER if key in ref},
        **{key: value for key, value in ref.items() if key not in _ORDER},
    }


def references(content: Any) -> Iterable[Mapping[str, Any]]:
    """The media references in a recorded message content."""
    if isinstance(content, Sequence) and not isinstance(content, str):
        for item in content:
            if is_reference(item):
                yield item
