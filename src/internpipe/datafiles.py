"""Line readers shared by every data check (fine-tuning, evaluation, calibration): a file's
text with a located reason when it cannot be read, JSON lines with their line numbers, and a
result cache keyed by the file's size and mtime. Pure; reads files only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from internpipe.errors import Problem

_checked: dict[tuple[Any, ...], Any] = {}


def checked_once(path: Path, key: tuple[Any, ...], check: Callable[[], Any]) -> Any:
    """`check()`'s result, remembered while the file's size and mtime stay the same (plan
    and its notes both ask)."""
    try:
        st = path.stat()
        stamp: tuple[Any, ...] = (str(path), *key, st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = (str(path), *key, None, None)
    if stamp not in _checked:
        _checked[stamp] = check()
    return _checked[stamp]


def json_lines(text: str, shown_as: str,
               blank: str | None = None) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """(line, value) for each JSON line; blank lines are skipped, or a problem `blank`."""
    rows: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if blank:
                problems.append(Problem(shown_as, n, "", blank))
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(Problem(shown_as, n, "", f"invalid JSON: {exc.msg} "
                                                     f"(column {exc.colno})"))
    return rows, problems


def read_text(path: Path, shown_as: str) -> tuple[str | None, list[Problem]]:
    """A data file's text, or why it cannot be read (missing, unreadable, not UTF-8)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(shown_as, None, "", "no such data file")]
    except OSError as exc:
        return None, [Problem(shown_as, None, "", f"cannot read: {exc.strerror}")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(shown_as, line, "", "not UTF-8 text")]
