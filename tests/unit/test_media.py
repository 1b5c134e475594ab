"""media.py: every provider's media block, references, once per experiment, and bounds."""

from __future__ import annotations

import hashlib

import pytest
from langchain_core.messages import HumanMessage

from langchain_comet import media
from langchain_comet.media import Block, MediaLog, Payload, RunMedia, fingerprint, parse_block
from tests.media_files import b64, data_url, png, wav

IMAGE = png(8, 6)
SHA = hashlib.sha256(IMAGE).hexdigest()


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {
                "type": "image_url",
                "image_url": {"url": data_url("image/png", IMAGE), "detail": "low"},
            },
            Block("image", "image/png", b64(IMAGE), extras={"detail": "low"}),
        ),
        (
            {"type": "image_url", "image_url": "https://x.test/a.png"},
            Block("image", url="https://x.test/a.png"),
        ),
        (
            {"type": "input_image", "image_url": data_url("image/png", IMAGE)},
            Block("image", "image/png", b64(IMAGE)),
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}},
            Block("audio", "audio/mpeg", "AAAA", extras={"format": "mp3"}),
        ),
        (
            {
                "type": "file",
                "file": {"file_data": data_url("application/pdf", b"%PDF"), "filename": "a.pdf"},
            },
            Block("file", "application/pdf", b64(b"%PDF"), extras={"filename": "a.pdf"}),
        ),
        ({"type": "file", "file": {"file_id": "file-1"}}, Block("file", file_id="file-1")),
        (
            {"type": "image", "base64": "AAAA", "mime_type": "image/jpeg"},
            Block("image", "image/jpeg", "AAAA"),
        ),
        (
            {"type": "audio", "url": "https://x.test/a.wav"},
            Block("audio", url="https://x.test/a.wav"),
        ),
        ({"type": "image", "file_id": "f-2"}, Block("image", file_id="f-2")),
        (
            {"type": "image", "source_type": "base64", "data": "AAAA", "mime_type": "image/png"},
            Block("image", "image/png", "AAAA"),
        ),
        ({"type": "file", "source_type": "id", "id": "f-3"}, Block("file", file_id="f-3")),
        (
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/gif", "data": "R0"},
            },
            Block("image", "image/gif", "R0"),
        ),
        (
            {
                "type": "document",
                "source": {"type": "url", "url": "https://x.test/d.pdf"},
                "title": "D",
            },
            Block("file", url="https://x.test/d.pdf", extras={"filename": "D"}),
        ),
        (
            {"type": "media", "mime_type": "audio/wav", "data": b"RIFF"},
            Block("audio", "audio/wav", b"RIFF"),
        ),
        (
            {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}},
            Block("image", "image/png", b"\x89PNG"),
        ),
    ],
)
def test_every_provider_shape_is_understood(block: dict, expected: Block) -> None:
    assert parse_block(block) == expected


@pytest.mark.parametrize(
    "block",
    [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "x"}, {"type": "image"}, {}],
)
def test_text_and_other_blocks_are_not_media(block: dict) -> None:
    assert parse_block(block) is None


def test_an_item_is_logged_once_per_experiment() -> None:
    log, emitted = MediaLog(), []
    message = HumanMessage(
        content=[
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": data_url("image/png", IMAGE)}},
        ]
    )
    first = log.message(message, RunMedia(), emitted.append)
    again = log.message(message, RunMedia(), emitted.append)
    reference = {
        "type": "image",
        "name": f"langchain-image-{SHA[:16]}.png",
        "mime_type": "image/png",
        "bytes": len(IMAGE),
        "sha256": SHA,
    }
    assert first.content == again.content == [{"type": "text", "text": "look"}, reference]
    assert message.content[1]["type"] == "image_url"  # the application's message is unchanged
    assert emitted == [
        Payload(
            "image",
            reference["name"],
            "image/png",
            IMAGE,
            SHA,
            {"sha256": SHA, "mime_type": "image/png", "source": "langchain-comet"},
        )
    ]
    # A new experiment logs it again.
    assert len(MediaLog().message(message, RunMedia(), emitted.append).content) == 2
    assert len(emitted) == 2


def test_a_message_without_media_is_the_same_object() -> None:
    message = HumanMessage(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert MediaLog().message(message, RunMedia(), lambda _: None) is message


def test_the_experiment_limit_leaves_a_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_MEDIA_PER_EXPERIMENT", 1)
    log, emitted = MediaLog(), []
    first, _ = log.reference(Block("image", "image/png", IMAGE), RunMedia())
    second_image = png(9, 9)
    second, payload = log.reference(Block("image", "image/png", second_image), RunMedia())
    assert "name" in first and payload is None
    assert second["omitted"] == "more than 1 media items in this experiment"
    assert second["sha256"] == hashlib.sha256(second_image).hexdigest()
    assert "name" not in second
    assert emitted == []


def test_mime_type_is_sniffed_when_not_declared() -> None:
    reference, payload = MediaLog().reference(Block("audio", data=b64(wav())), RunMedia())
    assert reference["mime_type"] == "audio/wav"
    assert payload is not None and payload.name.endswith(".wav")


def test_a_variable_holding_base64_or_a_data_url_is_described_not_logged() -> None:
    log = MediaLog()
    expected = {"type": "image", "mime_type": "image/png", "bytes": len(IMAGE), "sha256": SHA}
    assert log.variable(data_url("image/png", IMAGE)) == expected
    long_image = png(40, 40)
    described = log.variable(b64(long_image))
    assert described is not None and described["type"] == "image"
    assert described["sha256"] == hashlib.sha256(long_image).hexdigest()
    assert log.variable("just words") is None
    assert log.variable("A" * 10) is None


def test_fingerprint_is_the_same_whatever_the_wrapper() -> None:
    standard = [
        {"type": "text", "text": "q"},
        {"type": "image", "base64": b64(IMAGE), "mime_type": "image/png"},
    ]
    openai = [
        {"type": "text", "text": "q"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", IMAGE)}},
    ]
    other = [
        {"type": "text", "text": "q"},
        {"type": "image_url", "image_url": {"url": data_url("image/png", png(3, 3))}},
    ]
    assert fingerprint(standard) == fingerprint(openai) != fingerprint(other)
    assert fingerprint("text") == "text"


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def test_hostile_prompt_runs_and_blocks_describe_without_raising() -> None:
    from langchain_comet.prompts import describe

    serialized = {
        "id": [Hostile()],
        "kwargs": {
            "messages": [{"id": [Hostile()], "kwargs": {"prompt": {"kwargs": {"template": 1}}}}],
            "input_variables": [Hostile(), "x"],
            "partial_variables": {Hostile(): Hostile()},
        },
    }
    described = describe(
        "p",
        serialized,
        {Hostile(): 1, "x": Hostile()},
        {"prompt_version": Hostile()},
        MediaLog(),
        100,
    )
    assert described["name"] == "p"
    assert set(described) == {"name", "template", "variables", "version"}
    weird = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,\u00e9\u00e9", "detail": Hostile()},
    }
    message = HumanMessage(content=[weird])
    replaced = MediaLog().message(message, RunMedia(), lambda _: None)
    assert replaced.content[0]["type"] == "image"
