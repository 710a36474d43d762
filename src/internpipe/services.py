"""The whole life of a long-running server (a service stage such as deploy): started
detached in its own process group with a pidfile and a log, waited on until healthy, asked
whether it is serving, reused while it is, restarted only when something needs it, stopped
by process group. What to run comes from the stage kind's `serve(ctx)`; the runner, the plan
and the CLI all ask this module.

Networking modules are imported when a server is probed, not with this module: `plan` and
`validate` import it and must stay cheap."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from internpipe import proc, state
from internpipe.artifacts import EndpointArtifact

if TYPE_CHECKING:
    from urllib.request import OpenerDirector


@dataclass
class ServiceSpec:
    argv: list[str]
    env: dict[str, str]
    health_url: str
    base_url: str
    model: str
    engine: str
    ready_timeout: float = 300.0
    cwd: Path | None = None
    # Where the server landed, when a scheduler places it (None while not known yet); the
    # URLs' host is replaced by it.
    locate: Callable[[], str | None] | None = None


class ServiceFailed(Exception):
    def __init__(self, reason: str, tail: list[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tail = tail


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie is not serving
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


_direct: OpenerDirector | None = None


def healthy(url: str, timeout: float = 2.0) -> bool:
    global _direct
    import urllib.error
    import urllib.request

    if _direct is None:
        _direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    try:
        with _direct.open(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def is_serving(endpoint: EndpointArtifact | dict[str, Any]) -> bool:
    """The endpoint's server process is alive and answers its health URL."""
    pid = endpoint.get("pid")
    return bool(pid) and alive(int(str(pid))) and healthy(str(endpoint.get("health_url")))


def restart_needed(wanted: bool, kept: bool, used_by_a_stage_that_runs: bool) -> bool:
    """A stopped server is started again only when a stage that will run uses it, the
    command asks for it (deploy, agent chat), or the recipe asks to keep it up: a re-run of a
    finished recipe starts nothing."""
    return wanted or kept or used_by_a_stage_that_runs


def record(work: Path, spec: ServiceSpec, pid: int, log: Path, keep: bool) -> None:
    """What the stage's collect() and later commands read about the running server. Its
    start time (`since`) tells it apart from a later process that got the same pid."""
    state.write_json(work / "service.json",
                     {"base_url": spec.base_url, "health_url": spec.health_url,
                      "model": spec.model, "engine": spec.engine, "pid": pid,
                      "since": start_time(pid), "log": str(log), "keep": keep})


def start_time(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]    # field 22; the name may hold spaces


def stop_previous(work: Path) -> int | None:
    """Stop the server a service stage started earlier and that is still up (one left by
    `deploy --detach` or `keep: true`), before the stage starts its new one: a re-run
    replaces the server, it never leaves the old one running unrecorded. Returns its pid."""
    rec = read_record(work)
    try:
        pid = int(rec.get("pid") or 0)
    except (TypeError, ValueError):
        return None
    if not alive(pid):
        return None
    since = rec.get("since")
    # The same process, not one that reused the pid: its start time matches, or (a record
    # without one) it answers the recorded health URL.
    same = start_time(pid) == since if since else healthy(str(rec.get("health_url")))
    if not same:
        return None
    stop(pid)
    return pid


def launch(spec: ServiceSpec, work: Path, token: str, keep: bool) -> int:
    """Start a stage's server detached and wait until it is healthy; the pid. It is recorded
    in work/service.json. Unless `keep`, it carries the run's token, so the next run sweeps
    it if this one is SIGKILLed, and dies with internpipe."""
    if not keep:
        spec.env = {**spec.env, proc.TOKEN_VAR: token}
    log = log_of(work)
    pid = start(spec, log, work / "server.pid", keep=keep)
    record(work, spec, pid, log, keep)
    return pid


def log_of(work: Path) -> Path:
    return work.parent / "server.log"


def read_record(work: Path) -> dict[str, Any]:
    value = state.read_json(work / "service.json", {})
    return value if isinstance(value, dict) else {}


def _tail(log: Path, n: int = 20) -> list[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [proc.ANSI.sub("", line) for line in lines if line.strip()][-n:]


def start(spec: ServiceSpec, log: Path, pidfile: Path, keep: bool = False) -> int:
    """Start detached, wait until healthy; returns the pid. On failure the server is stopped
    and ServiceFailed carries the last lines of its log. Unless `keep`, the server dies with
    internpipe (PDEATHSIG; the caller also gives it the run token)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = spec.argv
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())   # no secret is ever in an argv
        out.flush()
        server = subprocess.Popen(argv, env=spec.env, cwd=spec.cwd,
                                  stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True,
                                  preexec_fn=None if keep else proc.die_with_parent)
    pidfile.write_text(str(server.pid))
    deadline = time.monotonic() + spec.ready_timeout
    located = spec.locate is None
    try:
        while True:
            if not located and spec.locate is not None:
                host = spec.locate()
                if host:
                    spec.health_url = _with_host(spec.health_url, host)
                    spec.base_url = _with_host(spec.base_url, host)
                    located = True
            if server.poll() is not None:
                raise ServiceFailed(f"the server exited with code {server.returncode} "
                                    "before it was healthy", _tail(log))
            if located and healthy(spec.health_url):
                return server.pid
            if time.monotonic() > deadline:
                raise ServiceFailed(f"the server was not healthy at {spec.health_url} "
                                    f"within {spec.ready_timeout:.0f}s", _tail(log))
            time.sleep(0.5)
    except BaseException:
        stop(server.pid)
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
        raise


def _with_host(url: str, host: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{host}{port}"))


def stop(pid: int, grace: float = 10.0) -> bool:
    """SIGTERM the server's process group, SIGKILL what is left; True if it was running."""
    if not alive(pid):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return True
            time.sleep(0.1)
    return True
