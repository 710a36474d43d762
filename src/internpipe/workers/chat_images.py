"""Images in a chat turn, standard library only: the terminal chat imports it from internpipe,
the web chat runs it inside the agent environment by path.

A user turn with images is sent as OpenAI content parts, the way LMDeploy's api_server and
`transformers serve` take them: [{"type": "text", "text": …}, {"type": "image_url",
"image_url": {"url": …}}, …]. A local file travels inside the request as a data: URL (the
server need not see this machine's files); an http(s) or data: URL is passed as it is.
The file's kind is told from its first bytes, not its name, so a text file named .png is
refused here instead of failing inside the server.
"""

from __future__ import annotations

import base64
import os
from typing import Any

MAX_BYTES = 20 * 1024 * 1024      # a photo from a phone fits; a stray video does not
# first bytes → MIME type (a WebP is RIFF....WEBP)
SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
              (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"BM", "image/bmp"))
URL_SCHEMES = ("http://", "https://", "data:image/")


class BadImage(ValueError):
    """An image that cannot be sent; the message says why (without the path)."""


def sniff(head: bytes) -> str | None:
    """The image's MIME type from its first 12 bytes, None when it is no image we know."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in SIGNATURES if head.startswith(magic)), None)


def data_url(data: bytes) -> str:
    mime = sniff(data[:12])
    if mime is None:
        raise BadImage("not a PNG, JPEG, GIF, WebP or BMP image (by its first bytes)")
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def file_url(path: str) -> str:
    """A local image file → a data: URL."""
    try:
        size = os.stat(path).st_size
        if not os.path.isfile(path):
            raise BadImage("not a regular file")
        if size > MAX_BYTES:
            raise BadImage(f"{size / 1e6:.0f} MB; at most {MAX_BYTES // (1024 * 1024)} MB")
        with open(path, "rb") as f:
            return data_url(f.read())
    except FileNotFoundError:
        raise BadImage("no such file") from None
    except OSError as exc:
        raise BadImage(exc.strerror or str(exc)) from None


def image_url(spec: str) -> str:
    """PATH or URL (as the user wrote it) → the URL the server is sent."""
    if spec.startswith(URL_SCHEMES):
        return spec
    if "://" in spec:
        raise BadImage("only http(s):// and data:image/ URLs, or a local file")
    return file_url(os.path.expanduser(spec))


def user_content(text: str, urls: list[str]) -> str | list[dict[str, Any]]:
    """A user turn: plain text, or text and image parts when there are images."""
    if not urls:
        return text
    return [{"type": "text", "text": text},
            *({"type": "image_url", "image_url": {"url": u}} for u in urls)]


def shown(content: Any) -> str:
    """A turn's text for display and saved chats: image parts as [image]."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " ".join("[image]" if p.get("type") == "image_url" else str(p.get("text", ""))
                    for p in parts if isinstance(p, dict))
