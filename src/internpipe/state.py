"""The work dir: layout, atomic JSON writes, the run lock and the per-stage state entries.
(The hash cache of local files lives in the internpipe home: filecache.py.)

Layout of `.internpipe/<recipe name>/`:
    state.json            finished stages: fingerprint, its components, artifact, timings
    run.lock              flock'ed by the one run in progress; holds who owns it
    stages/<stage>/out/   the published output (renamed into place when complete)
    stages/<stage>/.out.tmp/  the output being built
    stages/<stage>/work/  survives re-runs: generated configs, checkpoints
    stages/<stage>/log.txt, RUNNING (marker of a stage in progress: run token, pid)
    stages/<stage>/FAILED (why its last run failed; removed by the next success)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from internpipe.errors import UserError

STATE_VERSION = 1


class Outcome(StrEnum):
    """How a stage's last run ended, as the work dir records it."""

    FINISHED = "finished"        # a state entry (written last, after the output is in place)
    FAILED = "failed"            # a FAILED file with the reason
    INTERRUPTED = "interrupted"  # a RUNNING marker left by a run that is gone


class StageStatus(StrEnum):
    """A stage as `status`, `plan` and the report show it: data, apart from the reasons."""

    DONE = "done"                # finished and up to date
    STALE = "stale"              # finished, but out of date or its output is gone
    NEVER_RUN = "never run"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    RUNNING = "running"          # `status` only: the run holding the lock is in this stage
    NOT_SERVING = "not serving"  # a service stage, up to date, whose server is down


def read_json(path: Path, default: Any) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except (OSError, ValueError):
        # A damaged file is treated as absent: at worst a stage re-runs.
        return default


def write_json(path: Path, value: Any) -> None:
    """Write via a temp file in the same folder and os.replace: readers see old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class WorkDir:
    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "run.lock"

    def stage_dir(self, stage: str) -> Path:
        return self.root / "stages" / stage

    def out(self, stage: str) -> Path:
        return self.stage_dir(stage) / "out"

    def tmp_out(self, stage: str) -> Path:
        return self.stage_dir(stage) / ".out.tmp"

    def work(self, stage: str) -> Path:
        return self.stage_dir(stage) / "work"

    def log(self, stage: str) -> Path:
        return self.stage_dir(stage) / "log.txt"

    def marker(self, stage: str) -> Path:
        return self.stage_dir(stage) / "RUNNING"

    def read_state(self) -> dict[str, Any]:
        data = read_json(self.state_file, {})
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return {"version": STATE_VERSION, "stages": {}}
        if not isinstance(data.get("stages"), dict):
            data["stages"] = {}   # a damaged file: every stage counts as never run
        return data

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every finished stage's entry (malformed ones left out)."""
        stages = self.read_state()["stages"]
        return {k: v for k, v in stages.items() if isinstance(v, dict)}

    def entry(self, stage: str) -> dict[str, Any] | None:
        return self.entries().get(stage)

    def failure(self, stage: str) -> str | None:
        """Why the stage's last run failed, if it did (and has not succeeded since)."""
        try:
            return (self.stage_dir(stage) / "FAILED").read_text(errors="replace").strip()
        except OSError:
            return None

    def last_outcome(self, stage: str, finished: bool) -> Outcome | None:
        """How the stage's last run ended; `finished`: whether it has a state entry (the
        caller has read the state already)."""
        if self.marker(stage).exists():
            return Outcome.INTERRUPTED
        if (self.stage_dir(stage) / "FAILED").exists():
            return Outcome.FAILED
        return Outcome.FINISHED if finished else None

    def overrides(self) -> list[str]:
        """The --set values of the last run (none recorded: [])."""
        found = self.read_state().get("overrides")
        return [str(x) for x in found] if isinstance(found, list) else []

    def remember_overrides(self, overrides: list[str]) -> None:
        # Under the run lock, like write_entry.
        data = self.read_state()
        if data.get("overrides", []) != overrides:
            data["overrides"] = list(overrides)
            write_json(self.state_file, data)

    def write_entry(self, stage: str, entry: dict[str, Any]) -> None:
        # Only the run holding the lock writes, so read-modify-replace is safe.
        data = self.read_state()
        data["stages"][stage] = entry
        write_json(self.state_file, data)

    def publish(self, stage: str) -> Path:
        """Move the built output into place, its files read-only. The old output, if any, is
        swapped aside first and removed after, so `out` is always either the old or the new
        complete folder."""
        tmp, out = self.tmp_out(stage), self.out(stage)
        read_only(tmp)
        old = out.with_name(".out.old")
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        if old.exists():
            shutil.rmtree(old, ignore_errors=True)
        return out


def read_only(folder: Path) -> None:
    """Take the write bits off every file of an output, so a tool or a user cannot change a
    finished stage's artifact in place by mistake. Folders keep theirs: the output can
    still be replaced or removed as a whole (unlinking needs only the folder's write bit)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode) and mode & 0o222:
                os.chmod(path, stat.S_IMODE(mode) & ~0o222)


def snapshot(folder: Path) -> dict[str, list[int]]:
    """{relative path: [size, mtime_ns]} of every file of a published output, recorded in
    its state entry: a cached stage's output is checked against it cheaply (stat, never a
    hash)."""
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            st = os.lstat(path)
            files[os.path.relpath(path, folder)] = [st.st_size, st.st_mtime_ns]
    return files


def output_changed(folder: Path, recorded: Any) -> str | None:
    """The first file of the output that differs from its snapshot (changed, missing or
    added), None when it matches or nothing was recorded (an entry from an older version)."""
    if not isinstance(recorded, dict):
        return None
    now = snapshot(folder)
    for rel in sorted(set(recorded) | set(now)):
        if rel not in now:
            return f"{rel} (missing)"
        if rel not in recorded:
            return f"{rel} (added)"
        if list(recorded[rel]) != now[rel]:
            return rel
    return None


# --------------------------------------------------------------------------- the run lock


class RunLock:
    """One run per work dir. flock is released by the kernel when the holder dies, so a
    SIGKILLed run never leaves a stale lock; the file's text only says who holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, wait: bool = False, on_wait: Any = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self.holder()
                if not wait:
                    os.close(fd)
                    raise UserError(f"{self.path.parent} is busy: {describe_holder(holder)}. "
                                    "Wait for it, or pass --wait.") from None
                if not announced and on_wait is not None:
                    on_wait(describe_holder(holder))
                    announced = True
                time.sleep(0.2)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd

    def holder(self) -> dict[str, Any]:
        return read_json(self.path, {}) or {}

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


def lock_holder(path: Path) -> dict[str, Any] | None:
    """Who holds the run lock now ({pid, host, started}; {} if it has not said yet), or
    None when no run holds it. Asks the kernel (a flock attempt), so a run that died is
    never taken for a running one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_json(path, {}) or {}
    finally:
        os.close(fd)      # closing drops a lock we got
    return None


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "another run holds its lock"
    return (f"another run holds its lock (pid {holder.get('pid')} on {holder.get('host')}, "
            f"since {holder.get('started')})")


@contextlib.contextmanager
def locked(path: Path, wait: bool = False, on_wait: Any = None) -> Iterator[RunLock]:
    lock = RunLock(path)
    lock.acquire(wait=wait, on_wait=on_wait)
    try:
        yield lock
    finally:
        lock.release()
