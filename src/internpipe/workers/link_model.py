"""Place a model folder's files into DEST. stdlib only.

    python link_model.py SRC DEST [--link] [--include PATTERN]... [--exclude PATTERN]...

Each file is a copy-on-write clone where the file system can make one (btrfs, XFS, bcachefs,
ZFS 2.2+: no data copied, `cp --reflink=auto`), else an in-kernel copy. Never a hard link
to a folder the user owns: a hard link is the same file, so a tool writing into the output
would change the user's own model, and making the published output read-only would change
the mode of the user's file. `--link` (the download stage's own hub cache, which nobody
edits and whose files become read-only with the output) hard-links instead: a multi-GB
download then costs its disk once.
"""

import argparse
import fnmatch
import os
import shutil
import sys

SKIP_FILES = {"manifest.json", "provenance.json"}  # ours: written anew for the output
FICLONE = 0x40049409     # linux/fs.h: _IOW(0x94, 9, int), the reflink ioctl


def wanted(rel: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(fnmatch.fnmatch(rel, p) for p in include):
        return False
    return not any(fnmatch.fnmatch(rel, p) for p in exclude)


def clone_or_copy(src: str, dst: str) -> str:
    """Copy src to dst (a new file), sharing its data blocks where the file system allows;
    the way it went: "cloned" or "copied". Times and mode follow the source, like cp -p."""
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        try:
            import fcntl

            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            how = "cloned"
        except (ImportError, OSError):
            how = "copied"
            # copy_file_range also shares blocks on file systems that can (XFS, NFS 4.2
            # server-side copy); anything it refuses goes through shutil.
            try:
                left = os.fstat(fin.fileno()).st_size
                while left > 0:
                    done = os.copy_file_range(fin.fileno(), fout.fileno(), left)
                    if done == 0:
                        break
                    left -= done
            except (AttributeError, OSError):
                fin.seek(0)
                fout.seek(0)
                fout.truncate()
                shutil.copyfileobj(fin, fout, 1 << 20)
    shutil.copystat(src, dst)
    return how


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dest")
    ap.add_argument("--link", action="store_true",
                    help="hard-link (SRC is internpipe's own cache, not the user's folder)")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--exclude", action="append", default=[])
    args = ap.parse_args()
    if not os.path.isdir(args.src):
        print(f"error: {args.src} is not a folder", file=sys.stderr)
        return 2
    ways = {"hard-linked": 0, "cloned": 0, "copied": 0}
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
            if args.link:
                try:
                    os.link(real, target)
                    ways["hard-linked"] += 1
                    continue
                except OSError:
                    pass
            ways[clone_or_copy(real, target)] += 1
    count = sum(ways.values())
    print(f"placed {count} files (" + ", ".join(f"{n} {way}" for way, n in ways.items() if n)
          + ")")
    return 0 if count else 3


if __name__ == "__main__":
    sys.exit(main())
