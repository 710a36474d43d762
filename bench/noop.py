"""A no-op re-run of a finished recipe whose input is a 1 GB model folder: the time of the
whole `internpipe run` process, beside `python -c pass` in the same run. Unchanged inputs
are not re-hashed (the hash cache keys them by size, mtime and inode). Target: ≤ 0.5 s."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _util import PY, ROOT, internpipe, median_seconds

GB = 1 << 30


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="internpipe-noop-"))
    try:
        model = work / "model"
        shutil.copytree(ROOT / "recipes/models/tiny-internlm2", model)
        with open(model / "big.safetensors", "wb") as f:   # 1 GB of real (non-sparse) data
            block = bytes(range(256)) * 4096
            for _ in range(GB // len(block)):
                f.write(block)
        recipe = work / "r.yaml"
        recipe.write_text(f"version: 1\nname: noop\nstages:\n  download:\n"
                          f"    source: {model}\n")
        t0 = time.perf_counter()
        first = subprocess.run([*internpipe(), "run", str(recipe), "--json"],
                               capture_output=True, text=True)
        cold = time.perf_counter() - t0
        if first.returncode != 0:
            raise SystemExit(first.stderr)
        again = subprocess.run([*internpipe(), "run", str(recipe), "--json"],
                               capture_output=True, text=True)
        statuses = [json.loads(x).get("status") for x in again.stdout.splitlines()]
        assert "cached" in statuses, again.stdout
        base = median_seconds([PY, "-c", "pass"])
        noop = median_seconds([*internpipe(), "run", str(recipe), "--json"])
        print(f"first run (hashes 1 GB)    {cold:6.2f} s")
        print(f"python -c pass             {base:6.3f} s   1.00x")
        print(f"no-op re-run               {noop:6.3f} s   {noop / base:5.2f}x "
              f"(target ≤ 0.5 s: {'ok' if noop <= 0.5 else 'MISSED'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
