"""Place a model folder's files into DEST by hard link (a copy across file systems), so a
multi-GB local model costs no disk. stdlib only.

    python link_model.py SRC DEST [--include PATTERN]... [--exclude PATTERN]...
"""

import argparse
import fnmatch
import os
import shutil
import sys

SKIP_FILES = {"manifest.json", "provenance.json"}  # ours: written anew for the output


def wanted(rel: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(fnmatch.fnmatch(rel, p) for p in include):
        return False
    return not any(fnmatch.fnmatch(rel, p) for p in exclude)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dest")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--exclude", action="append", default=[])
    args = ap.parse_args()
    if not os.path.isdir(args.src):
        print(f"error: {args.src} is not a folder", file=sys.stderr)
        return 2
    count = linked = 0
    for root, dirs, files in os.walk(args.src):
        # Hidden entries are the hub clients' and VCS's bookkeeping (.git, .cache, .msc,
        # ._____temp, our .lock and .complete.json), never part of a model.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            if name.startswith("."):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, args.src)
            if name in SKIP_FILES or not wanted(rel, args.include, args.exclude):
                continue
            target = os.path.join(args.dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            real = os.path.realpath(full)
            try:
                os.link(real, target)
                linked += 1
            except OSError:
                shutil.copy2(real, target)
            count += 1
    print(f"placed {count} files ({linked} hard-linked, {count - linked} copied)")
    return 0 if count else 3


if __name__ == "__main__":
    sys.exit(main())
