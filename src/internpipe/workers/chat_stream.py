"""A streaming chat completion from an OpenAI-compatible server (LMDeploy's api_server,
`transformers serve`, any other), standard library only: the terminal chat imports it from
internpipe, the web chat runs it inside the agent environment by path.

`stream(endpoint, messages, settings)` yields the answer's text pieces as the server sends
them (server-sent events, `choices[0].delta.content`); a server that answers with one JSON
body instead yields it whole. Closing the generator (Ctrl-C in the terminal, Stop in the
page) closes the connection, which is how the server learns to stop generating.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import urlsplit

# What a request may carry besides the messages; anything else from a caller is dropped
# (strict servers answer 422 to unknown fields).
SETTINGS = ("temperature", "top_p", "max_tokens")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ChatFailed(RuntimeError):
    """The server could not be reached or refused the request; the message says which."""


def chat_url(base: str) -> str:
    """…/v1 (or the server's root, or the full URL) → …/v1/chat/completions."""
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    base = base.removesuffix("/completions")
    return (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"


def _opener(url: str) -> urllib.request.OpenerDirector:
    # A proxy from the environment must never see a request to this machine's own server.
    if (urlsplit(url).hostname or "") in LOOPBACK:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def request_body(model: str, messages: list[dict[str, Any]],
                 settings: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    body.update({k: settings[k] for k in SETTINGS if settings.get(k) is not None})
    return body


def _piece(data: dict[str, Any]) -> str:
    """The text of one streamed chunk (or of a whole answer)."""
    try:
        choice = data["choices"][0]
    except (KeyError, IndexError, TypeError):
        return ""
    part = choice.get("delta") or choice.get("message") or {}
    return str(part.get("content") or "")


def stream(endpoint: dict[str, Any], messages: list[dict[str, Any]],
           settings: dict[str, Any], timeout: float = 120.0) -> Generator[str, None, None]:
    """The answer, piece by piece. `endpoint`: base_url (or chat_url), model, api_key_env."""
    url = chat_url(str(endpoint.get("chat_url") or endpoint["base_url"]))
    key_env = endpoint.get("api_key_env")
    key = os.environ.get(str(key_env), "") if key_env else ""
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
               "Authorization": f"Bearer {key or 'EMPTY'}"}
    body = json.dumps(request_body(str(endpoint["model"]), messages, settings)).encode()
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        reply = _opener(url).open(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise ChatFailed(f"{url} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ChatFailed(f"cannot reach {url}: {reason}") from None
    with reply:
        if "text/event-stream" not in reply.headers.get("Content-Type", ""):
            yield _piece(json.loads(reply.read() or b"{}"))
            return
        for raw in reply:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                continue
            if isinstance(chunk, dict) and chunk.get("error"):
                raise ChatFailed(f"{url}: {chunk['error']}")
            text = _piece(chunk)
            if text:
                yield text


class Timed:
    """Wraps a stream: when the first piece came and how long the whole took (seconds)."""

    def __init__(self, pieces: Generator[str, None, None]) -> None:
        self.pieces = pieces
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.seconds = 0.0

    def __iter__(self) -> Iterator[str]:
        try:
            for piece in self.pieces:
                if self.first_token is None:
                    self.first_token = time.monotonic() - self.started
                yield piece
        finally:
            self.seconds = time.monotonic() - self.started
