"""Fingerprints: canonical JSON hashes of a stage's options, env and inputs, and content
hashes of local files that are computed once and remembered by (size, mtime, inode) in the
internpipe home, so neither a re-run nor a fresh recipe over the same model re-reads it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from internpipe import datafiles
from internpipe.filecache import FileCache, place

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
    """sha256 of local files, remembered in the internpipe home (filecache.py) while a file's
    size, mtime and inode are unchanged: across commands, work dirs and recipes."""

    def __init__(self, base: Path | None = None) -> None:
        self.store = FileCache("sha256", base)

    def file(self, path: Path) -> str:
        folder, name = place(path)
        return self._file(folder, name, path.stat())

    def _file(self, folder: str, name: str, st: os.stat_result) -> str:
        if not stat.S_ISREG(st.st_mode):
            raise datafiles.NotRegularFile(Path(folder, name), st.st_mode)
        known = self.store.get(folder, name, st, "sha256")
        if isinstance(known, str):
            return known
        sha = sha256_file(Path(folder, name))
        self.store.put(folder, name, st, "sha256", sha)
        return sha

    def path_hash(self, path: Path) -> str:
        """A file's sha256, or for a folder the hash of its (relative path, sha256) list.
        A folder is resolved once, its files by joining names (no resolve per file)."""
        if not path.is_dir():
            return self.file(path)
        top = str(path.resolve())
        listing = []
        for root, dirs, files in os.walk(top):
            dirs.sort()
            rel = os.path.relpath(root, top)
            for name in sorted(files):
                st = os.stat(os.path.join(root, name))
                listing.append([os.path.normpath(os.path.join(rel, name)),
                                self._file(root, name, st)])
        return digest(listing)

    def save(self) -> None:
        self.store.save()


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
