"""After a run that died holding the lock (SIGKILL, power loss): what its RUNNING markers
say, and putting the work dir right before the next run uses it.

The one window where a stage's out/ and its state entry can disagree is between publishing
the output (.out.tmp renamed to out) and writing the entry. The runner closes it: just
before the rename it writes the entry it is about to record into the stage's marker, under
"publishing". A marker that holds one while out/ is the very output that entry describes
(out/manifest.json hashes to the artifact's fingerprint) means the stage finished and only
its bookkeeping was cut short: the entry is completed from the marker. Otherwise out/ is
still the previous output (or none), which the previous entry describes, and the stage
simply counts as interrupted.

`entries` is pure (plan uses it, so `plan` and `status` already see a completed stage);
`recover` writes, under the run lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from typing import Any

from internpipe import proc, slurm, state
from internpipe.fingerprint import digest
from internpipe.state import WorkDir

PUBLISHING = "publishing"


def marker_info(wd: WorkDir, stage: str) -> dict[str, Any]:
    info = state.read_json(wd.marker(stage), {})
    return info if isinstance(info, dict) else {}


def published_entry(wd: WorkDir, stage: str) -> dict[str, Any] | None:
    """The entry a dead run had published out/ for and not yet recorded, if out/ is the
    output it describes."""
    entry = marker_info(wd, stage).get(PUBLISHING)
    if not isinstance(entry, dict) or not isinstance(entry.get("artifact"), dict):
        return None
    files = state.read_json(wd.out(stage) / "manifest.json", None)
    if files is None or digest(files) != entry["artifact"].get("fingerprint"):
        return None
    return entry


def entries(wd: WorkDir, stages: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The finished stages' entries, counting those whose recording a dead run cut short."""
    found = wd.entries()
    for stage in stages:
        if wd.marker(stage).exists():
            entry = published_entry(wd, stage)
            if entry is not None:
                found[stage] = entry
    return found


def recover(wd: WorkDir) -> list[str]:
    """For each stage a dead run left RUNNING (the caller holds the lock, so its owner is
    gone; a stage since renamed in the recipe too): stop whatever it left running, put back
    an output that publishing had swapped aside, complete an entry whose output was
    published, and drop the half-built output. Returns the stages whose entry was
    completed."""
    completed = []
    for marker in sorted((wd.root / "stages").glob("*/RUNNING")):
        stage = marker.parent.name
        info = marker_info(wd, stage)
        token = info.get("token")
        if token:
            proc.kill_leftovers(str(token))
        if info.get("slurm_jobs"):
            slurm.cancel_leftovers(slurm.running_jobs(info))
        out = wd.out(stage)
        aside = out.with_name(".out.old")       # see WorkDir.publish: old out, swapped aside
        if not out.exists() and aside.is_dir():
            os.replace(aside, out)
        shutil.rmtree(wd.tmp_out(stage), ignore_errors=True)
        entry = published_entry(wd, stage)
        if entry is not None:
            wd.write_entry(stage, entry)
            for leftover in (marker, wd.stage_dir(stage) / "FAILED"):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            completed.append(stage)
    return completed
