"""Start-up cost of the CLI: wall time and CPU time (user + system) of `internpipe --help`,
`--version`, `validate` and `plan` on the demo recipe, each against `python -c pass`.

Each command is run alternately with its baseline (baseline, command, baseline, command, …)
so that whatever else the machine is doing weighs on both; the medians of the N runs and
their ratios to the baseline are printed. CPU time is steadier than wall time on a busy
machine, so the targets that are about work done are CPU targets:

    --help      ≤ 0.25 s wall
    --version   ≤ 0.05 s CPU
    validate    ≤ 0.2 s CPU

    python bench/startup.py [--repeat N]      (default 11)

validate and plan run on a temporary copy of recipes/ (plan must write nothing: the bench
says so if it did).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from _util import PY, ROOT, alternate, internpipe

BASELINE = [PY, "-c", "pass"]
# (label, arguments after `internpipe`, target: (what, limit in seconds) or None)
COMMANDS: list[tuple[str, list[str], tuple[str, float] | None]] = [
    ("--help", ["--help"], ("wall", 0.25)),
    ("--version", ["--version"], ("cpu", 0.05)),
    ("validate", ["validate", "demo-cpu.yaml"], ("cpu", 0.2)),
    ("plan", ["plan", "demo-cpu.yaml"], None),
]


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() or p.is_dir()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=11, help="runs of each (default 11)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    work = Path(tempfile.mkdtemp(prefix="internpipe-startup-"))
    try:
        recipes = work / "recipes"
        shutil.copytree(ROOT / "recipes", recipes, symlinks=True)
        before = files_under(recipes)
        print(f"median of {args.repeat} runs each, alternated with `python -c pass`; "
              "ratios are to that baseline")
        print(f"{'internpipe':<12}{'wall ms':>9}{'base':>7}{'ratio':>8}"
              f"{'cpu ms':>10}{'base':>7}{'ratio':>8}   target")
        missed = 0
        for label, argv, target in COMMANDS:
            base, runs = alternate([*internpipe(), *argv], BASELINE, args.repeat, recipes)
            wall = statistics.median(s.wall for s in runs)
            cpu = statistics.median(s.cpu for s in runs)
            base_wall = statistics.median(s.wall for s in base)
            base_cpu = statistics.median(s.cpu for s in base)
            verdict = ""
            if target is not None:
                what, limit = target
                value = wall if what == "wall" else cpu
                ok = value <= limit
                missed += not ok
                verdict = f"{what} ≤ {limit * 1000:.0f} ms: {'ok' if ok else 'MISSED'}"
            print(f"{label:<12}{wall * 1000:9.1f}{base_wall * 1000:7.1f}"
                  f"{wall / base_wall:7.2f}x{cpu * 1000:10.1f}{base_cpu * 1000:7.1f}"
                  f"{cpu / base_cpu if base_cpu else float('nan'):7.2f}x   {verdict}")
        written = sorted(set(files_under(recipes).items()) - set(before.items()))
        if written:
            print(f"note: validate/plan wrote or changed {len(written)} paths under recipes/, "
                  f"e.g. {written[0][0]}")
        print(f"{len([c for c in COMMANDS if c[2]]) - missed} of "
              f"{len([c for c in COMMANDS if c[2]])} targets met")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
