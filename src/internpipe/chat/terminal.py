"""The terminal chat: a multi-turn conversation streamed as the model writes it.

Ctrl-C while an answer streams stops that answer (the connection is closed, so the server
stops generating) and the chat goes on with what was written so far; Ctrl-C at the prompt
only clears the line; /exit or Ctrl-D leaves. `ask_all` is the non-interactive form
(`--query`): each query in turn, with the answers before it as history. Images (`--image`,
`/image PATH|URL`) go with the next question, as OpenAI image parts (workers/chat_images.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from internpipe.workers import chat_images, chat_stream

HELP = ("/reset forgets the conversation · /system [TEXT] shows or sets the system prompt · "
        "/image PATH|URL adds an image to the next question · "
        "/set temperature|top_p|max_tokens VALUE · /save [FILE] writes the conversation · "
        "/exit or Ctrl-D leaves · Ctrl-C stops an answer")
LIMITS = {"temperature": (float, 0.0, 2.0), "top_p": (float, 0.0, 1.0),
          "max_tokens": (int, 1, 1 << 20)}


@dataclass
class Conversation:
    endpoint: dict[str, Any]
    system: str | None
    settings: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)    # URLs for the next question

    def messages(self, question: str) -> list[dict[str, Any]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, *self.turns,
                {"role": "user", "content": chat_images.user_content(question, self.images)}]

    def record(self) -> dict[str, Any]:
        """The conversation as saved: an image is [image] in its turn's text, not megabytes
        of base64."""
        turns = [{**t, "content": chat_images.shown(t["content"])} for t in self.turns]
        return {"model": self.endpoint.get("model"), "base_url": self.endpoint.get("base_url"),
                "system": self.system, "settings": self.settings, "messages": turns}


@dataclass
class Answer:
    text: str
    stopped: bool
    first_token: float | None
    seconds: float


def answer(conv: Conversation, question: str, out: IO[str] | None,
           timeout: float = 120.0) -> Answer:
    """Stream one answer (to `out` as it comes); the turn joins the history, also when
    Ctrl-C stopped it, with what was written so far."""
    messages = conv.messages(question)
    conv.images = []
    timed = chat_stream.Timed(chat_stream.stream(conv.endpoint, messages, conv.settings,
                                                 timeout))
    pieces: list[str] = []
    stopped = False
    try:
        for piece in timed:
            pieces.append(piece)
            if out is not None:
                out.write(piece)
                out.flush()
    except KeyboardInterrupt:
        stopped = True
    finally:
        with contextlib.suppress(Exception):
            timed.pieces.close()          # closes the connection: the server stops
    text = "".join(pieces)
    conv.turns += [messages[-1], {"role": "assistant", "content": text}]
    return Answer(text, stopped, timed.first_token, timed.seconds)


def ask_all(conv: Conversation, queries: list[str], json_mode: bool) -> int:
    for query in queries:
        got = answer(conv, query, None if json_mode else sys.stdout)
        if json_mode:
            print(json.dumps({"query": query, "answer": got.text,
                              "first_token_seconds": _round(got.first_token),
                              "seconds": _round(got.seconds)}, ensure_ascii=False), flush=True)
        else:
            print(flush=True)
        if got.stopped:
            return 130
    return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def save(conv: Conversation, name: str) -> Path:
    """The conversation as JSON, written whole or not at all."""
    path = Path(name or time.strftime("chat-%Y%m%d-%H%M%S.json")).expanduser()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(conv.record(), indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def set_option(conv: Conversation, args: str) -> str:
    key, _, value = args.strip().partition(" ")
    if key not in LIMITS:
        return f"unknown setting {key!r}: one of {', '.join(LIMITS)}"
    kind, low, high = LIMITS[key]
    try:
        number = kind(value.strip())
    except ValueError:
        return f"{key}: {value.strip()!r} is not a number"
    if not low <= number <= high:
        return f"{key}: must be between {low} and {high}"
    conv.settings[key] = number
    return f"{key} = {number}"


def command(conv: Conversation, line: str) -> str | None:
    """A slash command → what to print; None means leave."""
    name, _, args = line.partition(" ")
    if name in ("/exit", "/quit"):
        return None
    if name == "/reset":
        conv.turns.clear()
        return "(conversation forgotten)"
    if name == "/system":
        if args.strip():
            conv.system = args.strip()
            return f"(system prompt set: {conv.system})"
        return f"(system prompt: {conv.system or 'none'})"
    if name == "/save":
        try:
            return f"(saved to {save(conv, args.strip())})"
        except OSError as exc:
            return f"(cannot save: {exc.strerror or exc})"
    if name == "/set":
        return f"({set_option(conv, args)})"
    if name == "/image":
        try:
            conv.images.append(chat_images.image_url(args.strip()))
        except chat_images.BadImage as exc:
            return f"(image {args.strip()}: {exc})"
        return f"({len(conv.images)} image(s) go with the next question)"
    return HELP


def repl(conv: Conversation, label: str) -> int:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  # line editing and history for input()
    print(f"chat with {label} ({conv.endpoint.get('base_url')})"
          + (f"; system prompt: {conv.system}" if conv.system else ""), flush=True)
    print(HELP, flush=True)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print("\n(/exit or Ctrl-D leaves)", flush=True)
            continue
        if not line:
            continue
        if line.startswith("/"):
            said = command(conv, line)
            if said is None:
                return 0
            print(said, flush=True)
            continue
        sys.stdout.write("assistant> ")
        try:
            got = answer(conv, line, sys.stdout)
        except chat_stream.ChatFailed as exc:
            print(f"\n(error: {exc})", flush=True)
            continue
        print("\n(stopped)" if got.stopped else "", flush=True)
