"""The load test from internpipe's side: the command line of workers/load_test.py, running it
in a tool env, and the bench file it becomes (used by `internpipe bench` and by the deploy
stage's `bench:` option).

The bench file (read by the report and by gates):
    {"schema": 1, "tool": "internpipe-load-test", "base_url", "model", "started",
     "runs": [{"concurrency", "rate", "requests", "ok", "failed", "duration_s",
               "requests_per_s", "output_tokens_per_s", "input_tokens", "output_tokens",
               "token_source": "usage"|"estimate", "ttft_ms", "tpot_ms", "itl_ms",
               "latency_ms" (each {"p50", "p90", "p95", "p99", "mean"})}]}
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).resolve().parent / "workers" / "load_test.py"
RESULT = "INTERNPIPE-BENCH "
PROGRESS = "internpipe-progress: "
SCHEMA = 1
TOOL = "internpipe-load-test"


class LoadTestFailed(Exception):
    def __init__(self, reason: str, tail: list[str]) -> None:
        super().__init__(reason)
        self.reason, self.tail = reason, tail


@dataclass
class Settings:
    """What to send: one run per concurrency."""

    concurrency: list[int] = field(default_factory=lambda: [1, 4])
    requests: int = 16
    max_tokens: int = 64
    rate: float | None = None
    seed: int = 0
    warmup: int = 2
    dataset: Path | None = None


def argv(python: Path | str, base_url: str, model: str, s: Settings,
         api_key_env: str | None = None) -> list[str]:
    """The worker's exact command line (the API key is named by its variable only)."""
    found = [str(python), str(WORKER), base_url, model]
    for c in s.concurrency:
        found += ["-c", str(c)]
    found += ["--requests", str(s.requests), "--max-tokens", str(s.max_tokens),
              "--seed", str(s.seed), "--warmup", str(s.warmup)]
    if s.rate is not None:
        found += ["--rate", repr(s.rate)]
    if s.dataset is not None:
        found += ["--dataset", str(s.dataset)]
    if api_key_env:
        found += ["--api-key-env", api_key_env]
    return found


def run(command: list[str], env: Mapping[str, str], base_url: str, model: str,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        log: Callable[[str], None] | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Run the worker; the bench file's document. Raises LoadTestFailed when it gives no
    result (a run with failed requests is a result: its `failed` counts them)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tail: list[str] = []
    result = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=dict(env)) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in proc.stdout:
            line = line.rstrip("\n")
            if log is not None:
                log(line)
            if line.startswith(RESULT):
                result = json.loads(line.removeprefix(RESULT))
            elif line.startswith(PROGRESS) and on_progress is not None:
                on_progress(json.loads(line.removeprefix(PROGRESS)))
            else:
                tail = [*tail[-14:], line]
            if time.monotonic() > deadline:
                proc.kill()
                raise LoadTestFailed(f"the load test ran past {timeout:g} s", tail)
    if result is None:
        reason = next((x.removeprefix("internpipe-error: ") for x in reversed(tail)
                       if x.startswith("internpipe-error: ")), "the load test gave no result")
        raise LoadTestFailed(reason, tail)
    return {"schema": SCHEMA, "tool": TOOL, "base_url": base_url, "model": model,
            "started": started, "runs": result["runs"]}


def timestamp_name() -> str:
    """A file name for a result saved under <workdir>/bench/ (UTC, sorts by time)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + ".json"


def failed(doc: dict[str, Any]) -> int:
    return sum(int(r.get("failed", 0)) for r in doc.get("runs", []))
