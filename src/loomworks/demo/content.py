"""Small, real file contents for demo renders: each opens in the program its type names."""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from typing import NamedTuple


class DemoFile(NamedTuple):
    """One file of a render, in the shape loomworks.db.renders.create_render takes."""

    filename: str
    media_type: str
    content: bytes


def csv_table(header: str, rows: Sequence[tuple[object, ...]]) -> bytes:
    lines = [header, *(",".join(str(value) for value in row) for row in rows)]
    return ("\n".join(lines) + "\n").encode()


def elevation_svg(title: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="120">'
        f"<title>{title}</title>"
        '<rect x="10" y="60" width="300" height="12" fill="#345"/>'
        '<rect x="40" y="20" width="8" height="90" fill="#678"/>'
        '<rect x="270" y="20" width="8" height="90" fill="#678"/></svg>'
    ).encode()


def gradient_png(width: int, height: int) -> bytes:
    """A real, small gradient PNG, so the download is something an image viewer opens."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = io.BytesIO()
    for y in range(height):
        raw.write(b"\x00")
        for x in range(width):
            raw.write(bytes((40 + x * 4 % 200, 80 + y * 5 % 160, 160)))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.getvalue()))
        + chunk(b"IEND", b"")
    )
