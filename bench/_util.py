"""Shared by the benchmarks: run a command several times, take the median; time one run's
wall clock and CPU (user + system of the child and of everything it waited for)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def internpipe() -> list[str]:
    exe = Path(PY).parent / "internpipe"
    return [str(exe)] if exe.exists() else [PY, "-m", "internpipe"]


def this_checkout(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with this checkout's src/ first on PYTHONPATH (absolute: a command
    run in another folder must still measure this code, not an installed internpipe)."""
    env = dict(env or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                      env.get("PYTHONPATH")]))
    return env


@dataclass(frozen=True)
class Sample:
    wall: float   # seconds
    cpu: float    # seconds of user + system time (the child and what it waited for)
    rss_mb: float = 0.0   # the child's peak resident memory


def timed_run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
              expect: int = 0) -> Sample:
    """Run once with output discarded. CPU and peak RSS are that child's own (os.wait4),
    so other children of this process do not count."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, env=this_checkout(env),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {child.returncode}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def alternate(cmd: list[str], baseline: list[str], repeat: int, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> tuple[list[Sample], list[Sample]]:
    """(baseline samples, command samples), taken in turn (baseline, command, baseline, …)
    after one untimed run of each, so that what else the machine does weighs on both."""
    timed_run(baseline, cwd, env)
    timed_run(cmd, cwd, env)
    base: list[Sample] = []
    runs: list[Sample] = []
    for _ in range(repeat):
        base.append(timed_run(baseline, cwd, env))
        runs.append(timed_run(cmd, cwd, env))
    return base, runs


def row(label: str, base: list[Sample], runs: list[Sample], target: str = "") -> str:
    """One line: medians of wall and CPU, their ratios to the baseline's medians."""
    wall, cpu = (statistics.median(s.wall for s in runs),
                 statistics.median(s.cpu for s in runs))
    bwall, bcpu = (statistics.median(s.wall for s in base),
                   statistics.median(s.cpu for s in base))
    return (f"{label:<28}{wall * 1000:9.1f}{bwall * 1000:7.1f}{wall / bwall:7.2f}x"
            f"{cpu * 1000:10.1f}{bcpu * 1000:7.1f}"
            f"{cpu / bcpu if bcpu else float('nan'):7.2f}x   {target}")


HEADER = (f"{'':<28}{'wall ms':>9}{'base':>7}{'ratio':>8}{'cpu ms':>10}{'base':>7}"
          f"{'ratio':>8}   target")


def median_seconds(cmd: list[str], repeat: int = 7, cwd: Path | None = None,
                   env: dict[str, str] | None = None, expect: int = 0) -> float:
    return statistics.median(timed_run(cmd, cwd, env, expect).wall for _ in range(repeat))
