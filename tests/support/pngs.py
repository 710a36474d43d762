"""Small PNG images written with the standard library (zlib), for the vision-language tests:
a solid colour, optionally with a square of another colour in the middle."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (30, 80, 220),
           "yellow": (240, 210, 20), "black": (0, 0, 0), "white": (255, 255, 255)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png(colour: str, square: str | None = None, size: tuple[int, int] = (48, 40)) -> bytes:
    w, h = size
    back, front = COLOURS[colour], COLOURS[square or colour]
    rows = []
    for y in range(h):
        row = bytearray(b"\x00")                       # filter: none
        for x in range(w):
            inside = w // 4 <= x < 3 * w // 4 and h // 4 <= y < 3 * h // 4
            row += bytes(front if inside else back)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)   # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows))) + _chunk(b"IEND", b""))


def write_png(path: Path, colour: str, square: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png(colour, square))
    return path
