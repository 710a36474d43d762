"""Records of a JSON data file, read as it goes: JSON lines, or one JSON list parsed
incrementally, each record with the line it starts on. Memory stays bounded by the largest
record (at most MAX_RECORD), however large the file.

Stdlib only: internpipe's data checks import it, and the workers that read the same files
inside a tool env (quant_checks.py) import it by its path, so both read a file the same way.
Lines are split on "\\n" only, as JSON and OpenCompass split them: a raw U+2028 inside a JSON
string stays inside its line.

`records(f)` yields (line, value, why): `why` is None for a record, else what is wrong at
that line (the value is then None). After an error in a JSON list's structure nothing more
can be read from it: it is the last thing yielded.
"""

import codecs
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

MAX_RECORD = 64 << 20        # one record: beyond this it is a mistake, not a sample
CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
BLANKS = " \t\r\n"
_DECODER = json.JSONDecoder()
# How close to the end of what is read an error must be to mean "the record goes on".
_CUT = 16

Record = tuple[int, Any, str | None]


def loads(text: str) -> tuple[Any, str | None]:
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


def starts_with_list(f: BinaryIO) -> bool:
    """Whether the file's first non-blank character is "[" (a JSON list, not JSON lines).
    The file is left at its start."""
    head = f.read(1 << 16).removeprefix(BOM).lstrip(b" \t\r\n")
    while not head and (chunk := f.read(1 << 16)):
        head = chunk.lstrip(b" \t\r\n")
    f.seek(0)
    return head.startswith(b"[")


def _line(raw: bytes, n: int, blank: str | None) -> Record | None:
    """Line `n` (its bytes) as a record; None for a blank line nobody minds."""
    if n == 1 and raw.startswith(BOM):
        raw = raw[len(BOM):]
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return n, None, "not UTF-8 text"
    if not line.strip():
        return (n, None, blank) if blank else None
    value, why = loads(line)
    return n, value, why


def json_lines(f: BinaryIO, blank: str | None = None) -> Iterator[Record]:
    """Each JSON line; a blank line is an error only when `blank` says why it matters."""
    n = 0
    while raw := f.readline(MAX_RECORD + 1):
        n += 1
        if len(raw) > MAX_RECORD and not raw.endswith(b"\n"):
            yield n, None, f"a line longer than {MAX_RECORD >> 20} MiB"
            return
        if (record := _line(raw, n, blank)) is not None:
            yield record


class Sample:
    """How a sampled read went: `lines` in the whole file (counted, not parsed) and how many
    of them were parsed."""

    def __init__(self, head: int = 1000, places: int = 64, per_place: int = 50) -> None:
        self.head, self.places, self.per_place = head, places, per_place
        self.lines = self.parsed = 0


def _skip_line(f: BinaryIO) -> bool:
    """Past the rest of the line the file is in; whether a newline ended it."""
    while raw := f.readline(CHUNK):
        if raw.endswith(b"\n"):
            return True
    return False


def sampled_json_lines(f: BinaryIO, size: int, sample: Sample,
                       blank: str | None = None) -> Iterator[Record]:
    """The first `sample.head` lines, then `sample.per_place` lines at each of
    `sample.places` evenly spaced places, each with its true line number: the lines between
    are counted a chunk at a time, never parsed, so a sampled gigabyte costs well under a
    second. Fills in `sample` as it goes."""
    n, step = 0, max(size // sample.places, CHUNK)     # n: the newlines read past

    def take(count: int) -> Iterator[Record]:
        nonlocal n
        for _ in range(count):
            raw = f.readline(MAX_RECORD + 1)
            if not raw:
                return
            sample.parsed += 1
            if len(raw) > MAX_RECORD and not raw.endswith(b"\n"):
                yield n + 1, None, f"a line longer than {MAX_RECORD >> 20} MiB"
                n += _skip_line(f)
                continue
            n += raw.endswith(b"\n")
            if (record := _line(raw, n + 1 - raw.endswith(b"\n"), blank)) is not None:
                yield record

    yield from take(sample.head)
    next_place = f.tell() + step
    while chunk := f.read(min(CHUNK, max(next_place - f.tell(), 1))):
        n += chunk.count(b"\n")
        if f.tell() >= next_place:
            if not chunk.endswith(b"\n"):
                n += _skip_line(f)             # a sample starts on a whole line
            yield from take(sample.per_place)
            next_place = f.tell() + step
    ends_cut = f.seek(0, 2) > 0 and f.seek(-1, 2) >= 0 and f.read(1) != b"\n"
    sample.lines = n + ends_cut                 # a last line without its newline counts


class _NotUtf8(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Text:
    """The decoded text of a file, read a chunk at a time, with line numbers for positions.
    Only the text from the record being read on is kept."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()   # a BOM dropped
        self.buf, self.pos, self.eof = "", 0, False
        self.line, self.counted = 1, 0       # the line at buf[counted]

    def more(self, at_least: int = 0) -> bool:
        """Read on; False at the end of the file. Positions change only when it returns
        True (what was read past is dropped then), so a caller re-reads them."""
        if self.eof:
            return False
        raw = self.f.read(max(at_least, CHUNK))
        self.eof = not raw
        try:
            text = self.decoder.decode(raw, final=self.eof)
        except UnicodeDecodeError as exc:
            start = self.line_at(len(self.buf))
            raise _NotUtf8(start + raw[: exc.start].count(b"\n")) from None
        if self.eof:
            self.buf += text                 # nothing (or a cut character: refused above)
            return False
        if self.pos > CHUNK:                 # drop what was read past
            self.line_at(self.pos)
            self.buf, self.counted = self.buf[self.pos:], self.counted - self.pos
            self.pos = 0
        self.buf += text
        return True

    def line_at(self, pos: int) -> int:
        self.line += self.buf.count("\n", self.counted, pos)
        self.counted = pos
        return self.line

    def peek(self) -> str:
        """The next non-blank character ("" at the end), the position left on it."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in BLANKS:
                self.pos += 1
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos: self.pos + 1]

    def value(self) -> Any:
        """The JSON value at the position, reading on while it is cut by the chunk's end."""
        while True:
            try:
                item, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or \
                    exc.pos >= len(self.buf) - _CUT
                if cut and len(self.buf) - self.pos <= MAX_RECORD and \
                        self.more(len(self.buf) - self.pos):
                    continue
                raise
            # a number cut by the chunk's end ("0." of "0.5") parses as a shorter one
            if end + _CUT > len(self.buf) and self.more():
                continue
            self.pos = end
            return item


def json_list(f: BinaryIO) -> Iterator[Record]:
    """Each item of one JSON list, at the line where the item starts."""
    text = _Text(f)
    try:
        text.peek()
        text.pos += 1                                 # past the "["
        if text.peek() == "]":
            text.pos += 1
        else:
            while True:
                text.peek()
                start = text.line_at(text.pos)
                try:
                    item = text.value()
                except json.JSONDecodeError as exc:
                    if len(text.buf) - text.pos > MAX_RECORD:
                        yield start, None, f"a record longer than {MAX_RECORD >> 20} MiB"
                        return
                    at = text.line_at(max(exc.pos, text.counted))
                    column = exc.pos - text.buf.rfind("\n", 0, exc.pos)
                    yield at, None, f"invalid JSON: {exc.msg} (column {column})"
                    return
                except RecursionError:
                    yield start, None, "invalid JSON: nested too deeply"
                    return
                except ValueError as exc:
                    yield start, None, f"invalid JSON: {exc}"
                    return
                yield start, item, None
                after = text.peek()
                if after == ",":
                    text.pos += 1
                    continue
                if after != "]":
                    yield text.line_at(text.pos), None, \
                        "invalid JSON: expected ',' or ']' after an item"
                    return
                text.pos += 1
                break
        if text.peek():
            yield text.line_at(text.pos), None, "invalid JSON: extra data after the list"
    except _NotUtf8 as exc:
        yield exc.line, None, "not UTF-8 text"


def records(f: BinaryIO, blank: str | None = None) -> Iterator[Record]:
    """The records of a JSON-lines file or of a file holding one JSON list."""
    if starts_with_list(f):
        yield from json_list(f)
    else:
        yield from json_lines(f, blank)
