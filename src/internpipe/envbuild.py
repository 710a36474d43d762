"""Building one tool environment: under a per-env file lock, a fresh virtual environment
made by uv, the pinned packages installed with `uv pip sync` (with the package-index settings
of internpipe.indexes), the stand-in modules copied in, the import probe run, and the
done-marker written last. Any failure or interruption removes the half-built folder.

`envs.ensure` decides whether a build is needed and calls in here (imported only then).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from internpipe import state
from internpipe.envs import (
    LEAKY_VARS,
    MARKER,
    PYTHON_VERSION,
    STUB_SOURCE,
    Env,
    EnvBuildError,
    Progress,
    dists,
    envs_root,
    probe,
    site_packages,
    uv_binary,
)
from internpipe.indexes import index_settings


@contextlib.contextmanager
def build_lock(env: Env, progress: Progress | None) -> Iterator[None]:
    lock_path = envs_root() / ".locks" / f"{env.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress(f"{env.tool}: another process is building this environment; waiting")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def build(env: Env, progress: Progress | None) -> None:
    assert env.spec is not None
    if env.path.exists():
        shutil.rmtree(env.path)
    log_path = envs_root() / f"{env.name}.log"
    uv = uv_binary()
    index_args, _ = index_settings()
    started = time.monotonic()
    try:
        with open(log_path, "w") as log:
            _uv(log, progress, env.tool, "creating the virtual environment",
                [uv, "venv", "--quiet", "--python", _base_python(), str(env.path)])
            total = _count(env.spec.lock_text)
            with _watch_install(env, total, progress):
                _uv(log, progress, env.tool, f"installing {total} pinned packages",
                    [uv, "pip", "sync", "--python", str(env.python), str(env.spec.lock_file),
                     *index_args])
        for stub in env.spec.stubs:
            stub_dir = site_packages(env) / stub
            stub_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(STUB_SOURCE, stub_dir / "__init__.py")
        installed_at = time.monotonic()
        if progress:
            progress(f"{env.tool}: health check (importing {env.spec.probe[0]})")
        versions = probe(env)
        done = time.monotonic()
        marker = {"tool": env.tool, "flavour": env.flavour, "id": env.id,
                  "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "build_seconds": round(done - started, 2),
                  "install_seconds": round(installed_at - started, 2),
                  "probe_seconds": round(done - installed_at, 2),
                  "versions": versions, "dists": dists(env)}
        state.write_json(env.path / MARKER, marker)  # last: the env now counts as done
    except BaseException as exc:
        shutil.rmtree(env.path, ignore_errors=True)
        if isinstance(exc, EnvBuildError):
            exc.log_path = exc.log_path or log_path
            raise
        if isinstance(exc, subprocess.CalledProcessError):
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise EnvBuildError(f"{env.tool}: building the environment failed",
                                log_path, tail) from None
        raise


def _count(lock_text: str) -> int:
    return sum(1 for line in lock_text.splitlines() if line and not line.startswith("#"))


@contextlib.contextmanager
def _watch_install(env: Env, total: int, progress: Progress | None,
                   every: float = 0.5) -> Iterator[None]:
    """uv prints nothing while it works when its output is not a terminal, so the env
    folder is watched instead: packages installed so far (their .dist-info folders) of the
    pinned total, and the bytes in the env."""
    if progress is None:
        yield
        return
    stop = threading.Event()

    def report() -> None:
        installed, size = _installed(env)
        progress(f"{env.tool}: installing {total} pinned packages",
                 current=min(installed, total), total=total, bytes=size)

    def watch() -> None:
        while not stop.wait(every):
            report()

    thread = threading.Thread(target=watch, daemon=True, name="env-install-watch")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    report()            # where it ended (a fast install from uv's cache is one step)


def _installed(env: Env) -> tuple[int, int]:
    """(.dist-info folders in site-packages, bytes under the env); 0s before it exists."""
    try:
        installed = sum(1 for p in site_packages(env).iterdir() if p.name.endswith(".dist-info"))
    except OSError:
        return 0, 0
    size = 0
    for folder, _, files in os.walk(env.path):
        for name in files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(folder, name)).st_size
    return installed, size


def _uv(log: Any, progress: Progress | None, tool: str, what: str, cmd: list[str]) -> None:
    if progress:
        progress(f"{tool}: {what}")
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    environ = {k: v for k, v in os.environ.items() if k not in LEAKY_VARS}
    from internpipe.proc import die_with_parent

    subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=environ, check=True,
                   preexec_fn=die_with_parent)


def _base_python() -> str:
    """A Python 3.11 for new envs: ours when it is 3.11, else whatever uv finds."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
        return getattr(sys, "_base_executable", sys.executable)
    return PYTHON_VERSION
