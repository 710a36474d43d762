"""Shared by the benchmarks: run a command several times, take the median."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def internpipe() -> list[str]:
    exe = Path(PY).parent / "internpipe"
    return [str(exe)] if exe.exists() else [PY, "-m", "internpipe"]


def median_seconds(cmd: list[str], repeat: int = 7, cwd: Path | None = None,
                   env: dict[str, str] | None = None, expect: int = 0) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, cwd=cwd, env=env or dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        times.append(time.perf_counter() - t0)
        if rc != expect:
            raise SystemExit(f"{' '.join(cmd)} exited {rc}")
    return statistics.median(times)
