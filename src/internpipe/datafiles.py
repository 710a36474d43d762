"""Readers shared by every check of a user's file (the recipe; fine-tuning, evaluation and
calibration data): files opened only when they are regular files, JSON records with their
real line numbers, and a result cache keyed by the file's size and mtime. Pure; reads files
only.

A FIFO given as a data file would block a check forever and /dev/zero would never end, so
anything but a regular file is refused before it is read (opened without blocking, checked
again on the open descriptor). Lines are split on "\\n" only, as JSON and OpenCompass split
them: a raw U+2028 inside a JSON string is legal and stays inside its line.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from internpipe.errors import Problem

MAX_LINE = 64 << 20          # one JSON line: beyond this it is a mistake, not a sample
MAX_PROBLEMS = 20            # per file: reading stops there (a binary file has millions)
_checked: dict[tuple[Any, ...], Any] = {}
_BOM = b"\xef\xbb\xbf"


class NotRegularFile(OSError):
    """A FIFO, device or socket where a file was expected."""

    def __init__(self, path: Path | str, mode: int) -> None:
        kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
        what = next((name for test, name in kinds if test(mode)), "not a regular file")
        super().__init__(errno.EINVAL, f"not a regular file ({what})", str(path))


def open_regular(path: Path | str) -> BinaryIO:
    """`path` opened for binary reading; NotRegularFile (an OSError) for anything else."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)
    # O_NONBLOCK: should the path turn into a FIFO after the stat, the open still returns.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def why_unreadable(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such data file"
    return f"cannot read: {exc.strerror or exc}"


def checked_once(path: Path, key: tuple[Any, ...], check: Callable[[], Any]) -> Any:
    """`check()`'s result, remembered while the file's size and mtime stay the same (a
    command's check pass, its plan and its notes all ask)."""
    try:
        st = path.stat()
        stamp: tuple[Any, ...] = (str(path), *key, st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = (str(path), *key, None, None)
    if stamp not in _checked:
        _checked[stamp] = check()
    return _checked[stamp]


def read_text(path: Path, shown_as: str) -> tuple[str | None, list[Problem]]:
    """A data file's whole text, or why it cannot be read (missing, not a regular file,
    unreadable, not UTF-8)."""
    try:
        with open_regular(path) as f:
            raw = f.read()
    except OSError as exc:
        return None, [Problem(shown_as, None, "", why_unreadable(exc))]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(shown_as, line, "", "not UTF-8 text")]


def _loads(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, why it is not JSON). Nesting too deep for Python's parser and
    integers too long for int() are reasons, not crashes."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"


def json_lines(f: BinaryIO, shown_as: str, problems: list[Problem],
               blank: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line, value) of each JSON line, read one line at a time; what is wrong with a line
    goes to `problems` (a blank line too when `blank` says why it matters)."""
    n = 0
    while len(problems) < MAX_PROBLEMS and (raw := f.readline(MAX_LINE + 1)):
        n += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            problems.append(Problem(shown_as, n, "", f"a line longer than {MAX_LINE >> 20} "
                                                     "MiB"))
            return
        if n == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(shown_as, n, "", "not UTF-8 text"))
            continue
        if not line.strip():
            if blank:
                problems.append(Problem(shown_as, n, "", blank))
            continue
        value, why = _loads(line)
        if why is None:
            yield n, value
        else:
            problems.append(Problem(shown_as, n, "", why))


def _skip(text: str, pos: int) -> int:
    """The position of the first non-blank character at or after `pos`."""
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def json_array(text: str, shown_as: str, problems: list[Problem]) -> Iterator[tuple[int, Any]]:
    """(line, item) of each item of a JSON list, the line being where the item starts."""
    decoder = json.JSONDecoder()
    pos = _skip(text, 0) + 1       # past the "["
    line, counted = 1, 0

    def where(at: int) -> int:
        nonlocal line, counted
        line += text.count("\n", counted, at)
        counted = at
        return line

    pos = _skip(text, pos)
    if text.startswith("]", pos):
        pos = _skip(text, pos + 1)
    else:
        while True:
            start = where(pos)
            try:
                item, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                problems.append(Problem(shown_as, exc.lineno, "", f"invalid JSON: {exc.msg} "
                                                                  f"(column {exc.colno})"))
                return
            except (RecursionError, ValueError) as exc:
                why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                problems.append(Problem(shown_as, start, "", f"invalid JSON: {why}"))
                return
            yield start, item
            pos = _skip(text, end)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
                continue
            if not text.startswith("]", pos):
                problems.append(Problem(shown_as, where(pos), "",
                                        "invalid JSON: expected ',' or ']' after an item"))
                return
            pos = _skip(text, pos + 1)
            break
    if pos != len(text):
        problems.append(Problem(shown_as, where(pos), "", "invalid JSON: extra data after "
                                                          "the list"))


def starts_with_list(f: BinaryIO) -> bool:
    """Whether the file's first non-blank character is "[" (a JSON list, not JSON lines).
    The file is left at its start."""
    head = f.read(1 << 16).removeprefix(_BOM).lstrip(b" \t\r\n")
    while not head and (chunk := f.read(1 << 16)):
        head = chunk.lstrip(b" \t\r\n")
    f.seek(0)
    return head.startswith(b"[")


def json_records(path: Path, shown_as: str, problems: list[Problem],
                 blank: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line, record) of a data file that is either JSON lines (read a line at a time) or one
    JSON list; why the file or a record cannot be read goes to `problems`."""
    try:
        f = open_regular(path)
    except OSError as exc:
        problems.append(Problem(shown_as, None, "", why_unreadable(exc)))
        return
    with f:
        try:
            if not starts_with_list(f):
                yield from json_lines(f, shown_as, problems, blank)
                return
            raw = f.read()
        except OSError as exc:
            problems.append(Problem(shown_as, None, "", why_unreadable(exc)))
            return
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(shown_as, raw[: exc.start].count(b"\n") + 1, "",
                                "not UTF-8 text"))
        return
    yield from json_array(text, shown_as, problems)
