"""Fingerprints: canonical JSON hashes of a stage's options, env and inputs, and content
hashes of local files that are computed once and remembered by (size, mtime, inode) so a
re-run of a finished recipe never re-reads weights or data."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from internpipe import datafiles, state

CHUNK = 1 << 20


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    """A regular file's sha256 (a FIFO or device is refused: NotRegularFile, an OSError)."""
    h = hashlib.sha256()
    with datafiles.open_regular(path) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class HashCache:
    """sha256 of local files, kept in a JSON file beside the state and re-used while a file's
    size, mtime and inode are unchanged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = state.read_json(path, {})
        self.dirty = False

    def file(self, path: Path) -> str:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise datafiles.NotRegularFile(path, st.st_mode)
        key = str(path.resolve())
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.entries.get(key)
        if entry and entry.get("stamp") == stamp:
            return str(entry["sha256"])
        sha = sha256_file(path)
        self.entries[key] = {"stamp": stamp, "sha256": sha}
        self.dirty = True
        return sha

    def path_hash(self, path: Path) -> str:
        """A file's sha256, or for a folder the hash of its (relative path, sha256) list."""
        if path.is_dir():
            listing = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = Path(root) / name
                    listing.append([str(full.relative_to(path)), self.file(full)])
            return digest(listing)
        return self.file(path)

    def save(self) -> None:
        if self.dirty:
            state.write_json(self.path, self.entries)
            self.dirty = False


def manifest(folder: Path, cache: HashCache | None = None) -> dict[str, Any]:
    """{files: [{path, size, sha256}]} of a folder, manifest.json and provenance.json aside."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            full = Path(root) / name
            rel = str(full.relative_to(folder))
            if rel in ("manifest.json", "provenance.json"):
                continue
            sha = cache.file(full) if cache else sha256_file(full)
            files.append({"path": rel, "size": full.stat().st_size, "sha256": sha})
    return {"files": files}
