"""`internpipe chat --web`: the chat page (workers/web_chat.py, Streamlit) served from the
agent environment, which already holds Streamlit (Lagent's dependency) besides Lagent and
AgentLego for the agent mode: no environment of its own to build.

The page binds 127.0.0.1. Another host is served only when asked, with a warning, and then
the page asks for an access key: $INTERNPIPE_CHAT_KEY, or one made here and printed once on
the terminal. The key reaches Streamlit through its environment, never a command line or a
log. The page's server is started and stopped like a deploy server (services.py).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from internpipe import services
from internpipe.errors import StageFailed, UserError

if TYPE_CHECKING:
    from internpipe.chat.targets import Target
    from internpipe.envs import Env

KEY_VAR = "INTERNPIPE_CHAT_KEY"
PAGE = Path(__file__).resolve().parent.parent / "workers" / "web_chat.py"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def page_spec(targets: list[Target], system: str | None, settings: dict[str, Any],
              agent: dict[str, Any] | None, key_env: str | None) -> dict[str, Any]:
    return {"models": [{"label": t.label, "base_url": t.endpoint["base_url"],
                        "model": t.endpoint["model"], "engine": t.endpoint.get("engine"),
                        "api_key_env": t.endpoint.get("api_key_env")} for t in targets],
            "system": system, "settings": settings, "agent": agent, "key_env": key_env}


def access_key(host: str, environ: dict[str, str]) -> tuple[str | None, list[str]]:
    """(the key the page asks for, lines to show) for a host; None on this machine only."""
    if host in LOOPBACK:
        return None, []
    given = environ.get(KEY_VAR, "")
    key = given or secrets.token_urlsafe(18)
    lines = [f"warning: the chat page listens on {host}: anyone who can reach this machine "
             "can open it; it asks for an access key"]
    if not given:
        lines.append(f"access key (set {KEY_VAR} to choose one): {key}")
    return key, lines


def streamlit_argv(env: Env, host: str, port: int, spec_file: Path) -> list[str]:
    return [str(env.python), "-m", "streamlit", "run", str(PAGE),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer", "--", str(spec_file)]


def pick_port(host: str, port: str) -> int:
    if port == "auto":
        return services.free_port(host)
    try:
        number = int(port)
    except ValueError:
        raise UserError(f"--port: {port!r} is not a port number or auto") from None
    if not services.port_free(host, number):
        raise UserError(f"port {number} on {host} is in use; choose another --port, or "
                        "--port auto")
    return number


def serve_page(env: Env, work: Path, spec: dict[str, Any], host: str, port: str,
               key: str | None, say: Any) -> tuple[int, str]:
    """Start the page and wait until it answers; (pid, URL)."""
    import json

    from internpipe import envs

    number = pick_port(host, port)
    work.mkdir(parents=True, exist_ok=True)
    (work / "scratch").mkdir(exist_ok=True)
    spec_file = work / "web-spec.json"
    spec_file.write_text(json.dumps(spec, indent=1, ensure_ascii=False))
    environ = envs.step_environ(env, offline=True)
    if key is not None:
        environ[KEY_VAR] = key
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{number}"
    svc = services.ServiceSpec(argv=streamlit_argv(env, host, number, spec_file),
                               env=environ, health_url=f"{base}/_stcore/health",
                               base_url=base, model="web chat", engine="streamlit",
                               ready_timeout=120, cwd=work / "scratch")
    started = time.monotonic()
    try:
        pid = services.start(svc, work / "web.log", work / "web.pid")
    except services.ServiceFailed as exc:
        raise StageFailed("web chat", f"the page did not start: {exc.reason}", exc.tail,
                          str(work / "web.log")) from None
    say(f"chat page ready in {time.monotonic() - started:.1f}s: {base}/"
        + ("?key=…" if key else "") + f"  (log: {work / 'web.log'})")
    return pid, base + "/"


def wait(pid: int) -> None:
    """Until the page's server ends or Ctrl-C; then it is stopped."""
    try:
        while services.alive(pid):
            time.sleep(0.5)
    finally:
        services.stop(pid)
