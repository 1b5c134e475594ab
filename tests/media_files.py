"""Real media files made with the standard library, for tests that send them to a model."""

from __future__ import annotations

import base64
import io
import math
import struct
import wave
import zlib


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A valid RGB PNG: a colour gradient with a diagonal stripe; ``seed`` varies it."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter type: none
        for x in range(width):
            stripe = abs(x - y - seed) < 3
            row += bytes(
                (255, 255, 255)
                if stripe
                else ((x * 4 + seed * 40) % 256, (y * 5) % 256, (128 + seed * 20) % 256)
            )
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float = 0.25, rate: int = 8000, frequency: float = 440.0) -> bytes:
    """A valid mono 16-bit PCM WAV with a sine tone."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * frequency * i / rate)))
        for i in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{b64(data)}"
