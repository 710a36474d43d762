"""Subprocesses of stages: each in its own process group (so a Ctrl-C reaches internpipe,
which then stops the whole group on purpose), output teed line by line to the stage log, and
marked with a run token in their environment so that processes left behind by a SIGKILLed
run can be found and stopped by the next one."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

TOKEN_VAR = "INTERNPIPE_RUN_TOKEN"
# Terminal control sequences (colours, tqdm's cursor moves): noise in a log file.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Linux: the child gets SIGTERM if internpipe dies, even by SIGKILL. Its own children
    # are caught by the run-token sweep on the next run.
    # ctypes is imported here, not at the top: validate and plan import this module but start
    # no step, and must not pay for loading it. The import runs in the forked child just
    # before exec (~2 ms a step); that is safe because internpipe starts no threads.
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class StepResult:
    def __init__(self, returncode: int, tail: list[str]) -> None:
        self.returncode = returncode
        self.tail = tail


def emit_line(raw: str, log: IO[str], tail: deque[str],
              on_line: Callable[[str], None] | None) -> None:
    """One line of a tool's output (a local step's or a Slurm job's) into the stage log,
    the failure tail and the progress parser."""
    line = raw.rstrip("\r\n")
    # Progress bars redraw with \r: keep the last state of the line.
    line = ANSI.sub("", line.rsplit("\r", 1)[-1])
    log.write(line + "\n")
    # On disk at once: `tail -f` follows the tool, and a killed run keeps the end of its log.
    log.flush()
    if line.strip():
        tail.append(line)
    if on_line is not None:
        on_line(line)


def run(argv: list[str], *, env: dict[str, str], cwd: Path, log: IO[str],
        on_line: Callable[[str], None] | None = None, tail_lines: int = 40,
        on_partial: Callable[[str], None] | None = None) -> StepResult:
    """Run to completion, teeing output. A line redrawn with \r (a progress bar) reaches
    `on_partial` at each redraw, and the log and `on_line` once, when its newline comes.
    KeyboardInterrupt stops the process group and is re-raised once the group is gone."""
    tail: deque[str] = deque(maxlen=tail_lines)
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=die_with_parent)
    except OSError as exc:
        message = f"cannot start {argv[0]}: {exc.strerror}"
        log.write(message + "\n")
        return StepResult(127, [message])
    try:
        assert proc.stdout is not None
        for raw, partial in read_lines(proc.stdout.fileno()):
            text = raw.decode("utf-8", errors="replace")
            if not partial:
                emit_line(text, log, tail, on_line)
            elif on_partial is not None:
                on_partial(ANSI.sub("", text))
        log.flush()
        return StepResult(proc.wait(), list(tail))
    except BaseException:
        stop_group(proc)
        log.write("[internpipe] interrupted: process group stopped\n")
        log.flush()
        raise


def read_lines(fd: int, chunk: int = 65536) -> Iterator[tuple[bytes, bool]]:
    """(line, False) for each line ending in \n, and (segment, True) for each redraw a
    line gets before that (the text up to each \r), as soon as the bytes arrive."""
    pending = b""
    while True:
        data = os.read(fd, chunk)
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n", False
        if b"\r" in pending:
            segments = pending.split(b"\r")
            for segment in segments[:-1]:
                if segment.strip():
                    yield segment, True
            # the redraws so far are reported; the line's last state stays pending
            pending = b"\r" + segments[-1] if segments[-1] else b"\r"
    if pending.strip(b"\r"):
        yield pending, False


def stop_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the step's process group, SIGKILL what is left after `grace` seconds."""
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                if proc.poll() is not None and not _group_alive(pgid):
                    return
                time.sleep(0.05)
            except KeyboardInterrupt:
                break  # a second Ctrl-C: go straight to SIGKILL
    with contextlib.suppress(Exception):
        proc.wait(timeout=1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def processes_with_env(name: str, value: str) -> list[int]:
    """PIDs (other than ours) whose environment carries NAME=value (Linux /proc)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def processes_with_token(token: str) -> list[int]:
    """PIDs whose environment carries INTERNPIPE_RUN_TOKEN=token."""
    return processes_with_env(TOKEN_VAR, token)


def kill_leftovers(token: str) -> int:
    """SIGKILL every process left by the run that used `token`; returns how many."""
    pids = processes_with_token(token)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)
