"""A test plugin (INTERNPIPE_PLUGINS=support.countparses): every data file internpipe parses
and every file it hashes is appended to the file named by INTERNPIPE_TEST_PARSES ("parse
PATH" / "hash PATH"), so a test can count them across commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from internpipe import fingerprint
from internpipe.workers import jsonstream

_records, _sha256 = jsonstream.records, fingerprint.sha256_file


def _log(what: str, path: str) -> None:
    with open(os.environ["INTERNPIPE_TEST_PARSES"], "a", encoding="utf-8") as log:
        log.write(f"{what} {path}\n")


def _counted(f: BinaryIO, blank: str | None = None) -> Iterator[Any]:
    _log("parse", os.readlink(f"/proc/self/fd/{f.fileno()}"))
    return _records(f, blank)


def _hashed(path: Path) -> str:
    _log("hash", str(path))
    return _sha256(path)


jsonstream.records = _counted  # type: ignore[assignment]
fingerprint.sha256_file = _hashed
