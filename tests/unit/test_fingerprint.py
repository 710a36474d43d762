from __future__ import annotations

import os
from pathlib import Path

import pytest

from internpipe import fingerprint
from internpipe.fingerprint import HashCache, canonical_json, digest


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == \
        canonical_json({"a": [1, {"x": 1, "y": 2}], "b": 1})
    assert digest({"a": 1}) != digest({"a": 2})


def test_hash_cache_reads_a_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "big.bin"
    data.write_bytes(os.urandom(1 << 16))
    reads = []
    real = fingerprint.sha256_file
    monkeypatch.setattr(fingerprint, "sha256_file", lambda p: reads.append(p) or real(p))
    cache = HashCache(tmp_path / "hashes.json")
    first = cache.file(data)
    cache.save()
    again = HashCache(tmp_path / "hashes.json").file(data)
    assert first == again == real(data)
    assert len(reads) == 1


def test_hash_cache_notices_changes(tmp_path: Path) -> None:
    data = tmp_path / "d.txt"
    data.write_text("one")
    cache = HashCache(tmp_path / "hashes.json")
    first = cache.file(data)
    data.write_text("two")          # same size, new mtime
    os.utime(data, ns=(1, 1))
    assert cache.file(data) != first


def test_folder_hash_covers_names_and_contents(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / "a").write_text("1")
    (folder / "sub" / "b").write_text("2")
    cache = HashCache(tmp_path / "h.json")
    h1 = cache.path_hash(folder)
    (folder / "sub" / "b").rename(folder / "sub" / "c")
    assert cache.path_hash(folder) != h1


def test_manifest_lists_files_without_itself(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"abc")
    (tmp_path / "manifest.json").write_text("{}")
    m = fingerprint.manifest(tmp_path)
    assert [f["path"] for f in m["files"]] == ["w.bin"]
    assert m["files"][0]["size"] == 3


def test_the_cache_merges_writers_and_survives_an_unwritable_home(tmp_path: Path) -> None:
    from internpipe.filecache import FileCache

    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
    one, two = FileCache("k", tmp_path / "c"), FileCache("k", tmp_path / "c")
    one.put(str(tmp_path), "a", (tmp_path / "a").stat(), "v", 1)
    two.put(str(tmp_path), "b", (tmp_path / "b").stat(), "v", 2)
    one.save()
    two.save()                                   # read what `one` wrote, then added its own
    again = FileCache("k", tmp_path / "c")
    assert again.get(str(tmp_path), "a", (tmp_path / "a").stat(), "v") == 1
    assert again.get(str(tmp_path), "b", (tmp_path / "b").stat(), "v") == 2
    (tmp_path / "a").write_text("changed")
    assert again.get(str(tmp_path), "a", (tmp_path / "a").stat(), "v") is None
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    cache = HashCache(blocked)                   # its folder cannot be made: no error
    assert cache.file(tmp_path / "b") == fingerprint.sha256_file(tmp_path / "b")
    cache.save()
