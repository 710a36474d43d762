"""Shared by the benchmarks: run a command several times, take the median; time one run's
wall clock and CPU (user + system of the child and of everything it waited for)."""

from __future__ import annotations

import os
import resource
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


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float   # seconds of user + system time


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
              expect: int = 0) -> Sample:
    """Run once with output discarded. CPU is the RUSAGE_CHILDREN delta around the run, so
    nothing else may be running children of this process at the same time."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=cwd, env=env or dict(os.environ),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    if rc != expect:
        raise SystemExit(f"{' '.join(cmd)} exited {rc}")
    return Sample(wall, cpu)


def median_seconds(cmd: list[str], repeat: int = 7, cwd: Path | None = None,
                   env: dict[str, str] | None = None, expect: int = 0) -> float:
    return statistics.median(timed_run(cmd, cwd, env, expect).wall for _ in range(repeat))
