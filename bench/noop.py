"""A no-op re-run of a finished recipe whose input is a 1 GB model folder: wall and CPU time
of the whole `internpipe run` process, alternated with `python -c pass`, medians and ratios.
Unchanged inputs are not re-hashed (the hash cache in the internpipe home keys them by size,
mtime and inode). Targets: ≤ 0.5 s wall, ≤ 0.4 s CPU.

    python bench/noop.py [--repeat N]      (default 7)"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _util import HEADER, PY, ROOT, alternate, internpipe, row, this_checkout

GB = 1 << 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    repeat = max(1, parser.parse_args().repeat)
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
                               capture_output=True, text=True, env=this_checkout())
        cold = time.perf_counter() - t0
        if first.returncode != 0:
            raise SystemExit(first.stderr)
        again = subprocess.run([*internpipe(), "run", str(recipe), "--json"],
                               capture_output=True, text=True, env=this_checkout())
        statuses = [json.loads(x).get("status") for x in again.stdout.splitlines()]
        assert "cached" in statuses, again.stdout
        base, runs = alternate([*internpipe(), "run", str(recipe), "--json"],
                               [PY, "-c", "pass"], repeat)
        wall = statistics.median(s.wall for s in runs)
        cpu = statistics.median(s.cpu for s in runs)
        print(f"first run (hashes 1 GB): {cold:.2f} s wall")
        print(f"median of {repeat} runs each, alternated with `python -c pass`")
        print(HEADER)
        print(row("no-op re-run", base, runs,
                  f"wall ≤ 500 ms: {'ok' if wall <= 0.5 else 'MISSED'}; "
                  f"cpu ≤ 400 ms: {'ok' if cpu <= 0.4 else 'MISSED'}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
