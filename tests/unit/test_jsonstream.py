"""workers/jsonstream.py: JSON lists read incrementally give the same records as json.loads,
at the lines they start on, whatever the chunk boundaries cut."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from internpipe.workers import jsonstream

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
                    st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12)


def read(data: bytes) -> list[tuple[int, Any, str | None]]:
    return list(jsonstream.records(io.BytesIO(data)))


@settings(max_examples=150, deadline=None)
@given(items=st.lists(VALUES, max_size=8), indent=st.sampled_from([None, 0, 1, 4]),
       chunk=st.sampled_from([1, 2, 3, 7, 64]), ascii_only=st.booleans())
def test_a_list_read_in_any_chunks_gives_its_items(items: list[Any], indent: int | None,
                                                  chunk: int, ascii_only: bool) -> None:
    text = json.dumps(items, indent=indent, ensure_ascii=ascii_only)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jsonstream, "CHUNK", chunk)
        got = read(text.encode())
    assert [why for _, _, why in got] == [None] * len(items), got
    assert [value for _, value, _ in got] == items


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_items_carry_the_line_they_start_on(monkeypatch: pytest.MonkeyPatch,
                                            chunk: int) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)
    items = [{"conversation": [{"input": f"问{i}", "output": "答"}]} for i in range(5)]
    text = json.dumps(items, ensure_ascii=False, indent=4)
    starts = [n + 1 for n, line in enumerate(text.split("\n")) if line == "    {"]
    assert [line for line, _, _ in read(text.encode())] == starts
    # an error deep in the file is at its own line, and reading stops there
    parts = text.split('"答"')                 # the 4th item broken
    broken = '"答"'.join(parts[:4]) + '"答" oops' + '"答"'.join(parts[4:])
    got = read(broken.encode())
    bad_line = next(n + 1 for n, line in enumerate(broken.split("\n")) if "oops" in line)
    assert got[-1][0] == bad_line and got[-1][2] is not None and "invalid JSON" in got[-1][2]
    assert len(got) == 4


def test_what_is_not_a_list_or_not_utf8_is_located() -> None:
    assert read(b'[1, 2] 3')[-1] == (1, None, "invalid JSON: extra data after the list")
    assert read(b'[1,\n2\n3]')[-1][:1] == (3,)
    assert read(b'[\n"a",\n"\xff"]')[-1] == (3, None, "not UTF-8 text")
    assert read(b"\xef\xbb\xbf[\n]") == []
    with pytest.MonkeyPatch.context() as mp:     # a BOM cut by the chunk size
        mp.setattr(jsonstream, "CHUNK", 1)
        assert read(b"\xef\xbb\xbf[1]") == [(1, 1, None)]
    assert read(b'{"a": 1}\n\n{"b": 2}\n') == [(1, {"a": 1}, None), (3, {"b": 2}, None)]
    assert read(b"[" * 10 + b"1")[-1][2] is not None


def test_a_record_past_the_limit_stops_the_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "MAX_RECORD", 1000)
    monkeypatch.setattr(jsonstream, "CHUNK", 100)
    got = read(b'[1, "' + b"x" * 5000 + b'"]')
    assert got[0] == (1, 1, None) and "longer than" in str(got[-1][2]) and len(got) == 2


LINES = st.lists(st.one_of(st.just(""), st.just("{bad"), st.just("\ufeff{}"),
                           st.builds(lambda i, pad: json.dumps({"i": i, "pad": "x" * pad}),
                                     st.integers(0, 99), st.integers(0, 300))), max_size=400)


@settings(max_examples=200, deadline=None)
@given(lines=LINES, newline_at_end=st.booleans(), chunk=st.sampled_from([1, 7, 64, 4096]),
       head=st.integers(0, 20), places=st.integers(1, 9), per_place=st.integers(1, 9))
def test_a_sampled_read_gives_the_full_reads_records_at_their_true_lines(
        lines: list[str], newline_at_end: bool, chunk: int, head: int, places: int,
        per_place: int) -> None:
    data = ("\n".join(lines) + ("\n" if newline_at_end and lines else "")).encode()
    full = {n: (value, why) for n, value, why in
            jsonstream.json_lines(io.BytesIO(data), "blank")}
    sample = jsonstream.Sample(head, places, per_place)
    with pytest.MonkeyPatch.context() as patch:        # small chunks: many places and cuts
        patch.setattr(jsonstream, "CHUNK", chunk)
        got = list(jsonstream.sampled_json_lines(io.BytesIO(data), len(data), sample,
                                                 "blank"))
    for n, value, why in got:
        assert full[n] == (value, why), n
    assert sample.lines == data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))
    assert sample.parsed >= min(head, sample.lines)
    if head >= sample.lines:          # all of a short file is read
        assert [n for n, *_ in got] == list(full)
