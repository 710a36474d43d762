"""Readers shared by every check of a user's file (the recipe; fine-tuning, evaluation and
calibration data): files opened only when they are regular files, JSON records with their
real line numbers, and a result cache keyed by the file's size, mtime and inode (kept in the
internpipe home).

A FIFO given as a data file would block a check forever and /dev/zero would never end, so
anything but a regular file is refused before it is read (opened without blocking, checked
again on the open descriptor). Lines are split on "\\n" only, as JSON and OpenCompass split
them: a raw U+2028 inside a JSON string is legal and stays inside its line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from internpipe import filecache
from internpipe.errors import Problem
from internpipe.workers import jsonstream

MAX_PROBLEMS = 20            # per file: reading stops there (a binary file has millions)
# A JSON-lines file over this many bytes is checked at evenly spaced places, not line by
# line: a full check of 1 GB costs about 20 s of CPU on every change of the file.
SAMPLE_ABOVE = 512 << 20
SAMPLE_ABOVE_ENV = "INTERNPIPE_SAMPLE_DATA_ABOVE"
FULL_CHECK_ENV = "INTERNPIPE_FULL_DATA_CHECK"
_checked: dict[tuple[Any, ...], Any] = {}
T = TypeVar("T")


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


def checked_once(path: Path, key: tuple[Any, ...], check: Callable[[], T],
                 result: type[T]) -> T:
    """`check()`'s result (a dataclass with a `problems` list), remembered while the file's
    size, mtime and inode stay the same: in this process (a command's check pass, its plan
    and its notes all ask) and in the internpipe home (filecache.py), so plan → run → plan
    parses a data file once."""
    try:
        st: os.stat_result | None = path.stat()
    except OSError:
        st = None
    here = (str(path), *key, *(filecache.stamp(st) if st else ()))
    if here in _checked:
        return cast(T, _checked[here])
    found: T | None = None
    if st is not None and stat.S_ISREG(st.st_mode):
        store = filecache.FileCache("checks")
        folder, name = filecache.place(path)
        field = "check " + json.dumps(key, ensure_ascii=False)
        known = store.get(folder, name, st, field)
        if isinstance(known, dict):
            with contextlib.suppress(TypeError, ValueError, KeyError):
                found = result(**{**known, "problems": [Problem(**p)
                                                        for p in known["problems"]]})
        if found is None:
            found = check()
            store.put(folder, name, st, field, dataclasses.asdict(found))  # type: ignore[call-overload]
            store.save()
    _checked[here] = found if found is not None else check()
    return cast(T, _checked[here])


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


class Problems:
    """What is wrong in one data file, collapsed: the same message on many records is one
    problem ("lines 2–80010 (16002 records): …"), so a file whose every record is wrong in
    the same way reads as one line, and memory stays bounded however many records fail.
    `full` once MAX_PROBLEMS different messages are found (reading may stop there)."""

    def __init__(self, shown_as: str) -> None:
        self.shown_as = shown_as
        self.groups: dict[str, list[Any]] = {}       # message → [first, last, count]
        self.unlocated: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        if line is None:
            self.unlocated.append(Problem(self.shown_as, None, "", message))
            return
        group = self.groups.get(message)
        if group is None:
            self.groups[message] = [line, line, 1]
        else:
            group[1], group[2] = line, group[2] + 1

    @property
    def full(self) -> bool:
        return len(self.groups) + len(self.unlocated) >= MAX_PROBLEMS

    @property
    def records(self) -> int:
        """How many records have a problem."""
        return sum(g[2] for g in self.groups.values())

    def __bool__(self) -> bool:
        return bool(self.groups or self.unlocated)

    def as_list(self, hint: str = "") -> list[Problem]:
        found = list(self.unlocated)
        for message, (first, last, count) in self.groups.items():
            text = message if count == 1 else \
                f"lines {first}–{last} ({count} records): {message}"
            found.append(Problem(self.shown_as, first, "", text + hint))
        return found


def sampled(path: Path) -> bool:
    """Whether a data file is checked by sampling: a file over SAMPLE_ABOVE bytes (or the
    INTERNPIPE_SAMPLE_DATA_ABOVE variable's count), unless INTERNPIPE_FULL_DATA_CHECK is
    set (what `--full-data-check` sets)."""
    if os.environ.get(FULL_CHECK_ENV, "") not in ("", "0"):
        return False
    try:
        limit = int(os.environ.get(SAMPLE_ABOVE_ENV) or SAMPLE_ABOVE)
    except ValueError:
        limit = SAMPLE_ABOVE
    try:
        return path.stat().st_size > limit
    except OSError:
        return False


def json_records(path: Path, problems: Problems, blank: str | None = None,
                 sample: jsonstream.Sample | None = None) -> Iterator[tuple[int, Any]]:
    """(line, record) of a data file that is either JSON lines or one JSON list, read as it
    goes (workers/jsonstream.py); why the file or a record cannot be read goes to
    `problems`, and reading stops once they are `full`. With a `sample`, JSON lines are
    read at evenly spaced places only (filled in: lines counted, lines parsed); a JSON list
    has no place to start from but its beginning, so it is read whole (`sample.lines` 0)."""
    try:
        f = open_regular(path)
    except OSError as exc:
        problems.add(None, why_unreadable(exc))
        return
    with f:
        try:
            if sample is not None and not jsonstream.starts_with_list(f):
                found = jsonstream.sampled_json_lines(f, os.fstat(f.fileno()).st_size,
                                                      sample, blank)
            else:
                found = jsonstream.records(f, blank)
            for line, value, why in found:
                if why is None:
                    yield line, value
                else:
                    problems.add(line, why)
                if problems.full:
                    return
        except OSError as exc:
            problems.add(None, why_unreadable(exc))
