"""What internpipe learnt about a local file, remembered across commands and recipes in the
internpipe home: the sha256 of model and data files, the result of a data file's check.

    $INTERNPIPE_HOME/cache/<kind>/<digest of the folder>.json   {name: {stamp, key: value}}

An entry holds while the file's (size, mtime, inode) stamp is unchanged, so planning a fresh
recipe over a large local model hashes it once per change, and a data file is parsed once
however often it is planned. One small file per folder: a command reads the folders it
touches only. Writes are atomic and merged with what another process wrote meanwhile; a home
that cannot be written only costs the work again (this is a cache, never a source of truth).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from internpipe import state


def stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def root() -> Path:
    from internpipe.envs import home

    return home() / "cache"


class FileCache:
    """Values per (file, key), valid while the file's stamp holds."""

    def __init__(self, kind: str, base: Path | None = None) -> None:
        self.dir = (base or root()) / kind
        self.shards: dict[str, dict[str, Any]] = {}
        self.dirty: dict[str, dict[str, Any]] = {}        # folder → {name: entry}

    def _file(self, folder: str) -> Path:
        return self.dir / (hashlib.sha256(folder.encode()).hexdigest()[:24] + ".json")

    def _shard(self, folder: str) -> dict[str, Any]:
        if folder not in self.shards:
            found = state.read_json(self._file(folder), {})
            self.shards[folder] = found if isinstance(found, dict) else {}
        return self.shards[folder]

    def get(self, folder: str, name: str, st: os.stat_result, key: str) -> Any:
        """The value remembered for `key` of FOLDER/NAME (folder resolved), or None."""
        entry = self._shard(folder).get(name)
        if isinstance(entry, dict) and entry.get("stamp") == stamp(st):
            return entry.get(key)
        return None

    def put(self, folder: str, name: str, st: os.stat_result, key: str, value: Any) -> None:
        shard = self._shard(folder)
        entry = shard.get(name)
        if not (isinstance(entry, dict) and entry.get("stamp") == stamp(st)):
            entry = {"stamp": stamp(st)}                    # the file changed: forget all
        entry[key] = value
        shard[name] = entry
        self.dirty.setdefault(folder, {})[name] = entry

    def save(self) -> None:
        """Write what changed, merged into what is on disk now."""
        for folder, entries in self.dirty.items():
            path = self._file(folder)
            current = state.read_json(path, {})
            current = current if isinstance(current, dict) else {}
            current.update(entries)
            with contextlib.suppress(OSError):   # an unwritable home: done again later
                state.write_json(path, current)
        self.dirty.clear()


def place(path: Path) -> tuple[str, str]:
    """(resolved folder, name) of a file: the cache's key."""
    full = path.resolve()
    return str(full.parent), full.name
