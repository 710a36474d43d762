"""`internpipe env …`: the tool environments."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from internpipe import events
from internpipe.cli.shared import JsonOpt, console, guard

app = typer.Typer(help="Tool environments: one pinned virtual environment per upstream tool.",
                  epilog="Examples:\n\n"
                         "  internpipe env list\n\n"
                         "  internpipe env setup xtuner\n\n"
                         "  internpipe env doctor",
                  no_args_is_help=True, rich_markup_mode=None)

ToolsArg = Annotated[list[str] | None, typer.Argument(
    help="Tools (default: all): xtuner, opencompass, lmdeploy, agent, modelscope, openxlab, "
         "hfhub, transformers.", show_default=False)]
FlavourOpt = Annotated[Literal["auto", "cpu", "cuda"], typer.Option(
    "--device", help="Which flavour (auto: cuda where an NVIDIA driver is).")]


def _flavour(device: str) -> str:
    from internpipe.devices import resolve_device

    return resolve_device(device)


def _tools(tools: list[str] | None) -> list[str]:
    from internpipe import envs

    names = tools or list(envs.tool_table())
    for name in names:
        envs.check_tool(name)
    return names


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@app.command("list")
def list_(json_mode: JsonOpt = False) -> None:
    """List every tool environment, built or not, and every env folder under INTERNPIPE_HOME
    (current and old): tool, flavour, env name, state (ready, half-built, not built), size
    on disk, versions.

    Example:

      internpipe env list --json
    """
    from internpipe import envlist, envs

    with guard(json_mode):
        rows = envlist.every_env()
        for row in rows:
            row["bytes"] = 0 if row["state"] == "not built" else \
                envlist.disk_usage(Path(row["path"]))
    if json_mode:
        events.write({"event": "envs", "home": str(envs.home()), "envs": rows})
        return
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("tool", "flavour", "id", "state", "size", "versions"):
        table.add_column(col)
    for row in rows:
        state = row["state"] + ("" if row["current"] else " (old spec)")
        versions = ", ".join(f"{k} {v}" for k, v in row["versions"].items()
                             if v and k != "python")
        size = "" if row["state"] == "not built" else _size(row["bytes"])
        table.add_row(row["tool"], row["flavour"], row["id"],
                      f"[dim]{state}[/]" if row["state"] == "not built" else state, size,
                      versions)
    out = console()
    out.print(f"environments in {envs.envs_root()} (folders named TOOL-FLAVOUR-ID)")
    out.print(table)
    if any(row["state"] == "not built" for row in rows):
        out.print("[dim]build them with: internpipe env setup [TOOL…] [--device cpu|cuda][/]")


@app.command()
def setup(tools: ToolsArg = None, device: FlavourOpt = "auto", json_mode: JsonOpt = False) -> None:
    """Build the environments of these tools (all by default), reusing what is built.

    Example:

      internpipe env setup xtuner opencompass --device cpu
    """
    import time

    from internpipe import envs

    with guard(json_mode):
        flavour = _flavour(device)
        out = console(stderr=json_mode)
        for tool in _tools(tools):
            t0 = time.monotonic()

            env = envs.ensure(tool, flavour, progress=_news(tool, json_mode, out),
                              deep=True)
            seconds = time.monotonic() - t0
            versions = (envs.read_marker(env) or {}).get("versions", {})
            if json_mode:
                events.write({"event": "env_ready", "tool": tool, "env": env.name,
                              "path": str(env.path), "seconds": round(seconds, 1),
                              "versions": versions})
            else:
                main = envs.tool_table()[tool].get("versions", [tool])[0]
                out.print(f"[green]✔[/] {tool}: {env.name} ready ({seconds:.1f}s) "
                          f"{main} {versions.get(main, '')}")


def _news(tool: str, json_mode: bool, out: Any) -> Any:
    """What `env setup` shows of a build: every step; the package counts only in --json
    (on a terminal they would repeat the same line every second)."""
    shown: set[str] = set()

    def say(message: str, /, **counts: int) -> None:
        if json_mode:
            events.write({"event": "env_build", "tool": tool, "message": message, **counts})
        elif message not in shown:
            shown.add(message)
            out.print(f"[cyan]{message}[/]")

    return say


@app.command()
def doctor(device: FlavourOpt = "auto", json_mode: JsonOpt = False) -> None:
    """Check the machine and every built environment: NVIDIA driver, uv, the package index
    in use, each env's health (imports its tool), free disk. Exit 1 if an env is broken.

    Example:

      internpipe env doctor
    """
    import subprocess

    from internpipe import devices, envs, indexes

    with guard(json_mode):
        flavour = _flavour(device)
        report: dict[str, object] = {}
        report["driver"] = devices.nvidia_driver() or "none (cpu flavour)"
        report["flavour"] = flavour
        try:
            uv = envs.uv_binary()
            report["uv"] = subprocess.run([uv, "--version"], capture_output=True,
                                          text=True).stdout.strip()
        except Exception as exc:
            report["uv"] = f"not usable: {exc}"
        report["index"] = indexes.index_settings()[1]
        report["home"] = str(envs.home())
        root = envs.home()
        root.mkdir(parents=True, exist_ok=True)
        report["disk_free_gb"] = round(shutil.disk_usage(root).free / 2**30, 1)
        checks = []
        for tool in envs.tool_table():
            env = envs.env_for(tool, flavour)
            problem = envs.quick_check(env)
            row = {"tool": tool, "env": env.name, "state": "ok"}
            if problem == "not built":
                row["state"] = "not built"
            elif problem:
                row["state"] = f"broken: {problem}"
            else:
                try:
                    row["versions"] = envs.probe(env)  # type: ignore[assignment]
                except envs.EnvBuildError as exc:
                    row["state"] = f"broken: {exc.message}"
            checks.append(row)
        report["envs"] = checks
    broken = [c for c in checks if str(c["state"]).startswith("broken")]
    if json_mode:
        events.write({"event": "doctor", **report})
    else:
        out = console()
        for key in ("driver", "flavour", "uv", "index", "home", "disk_free_gb"):
            out.print(f"[bold]{key}[/]: {report[key]}")
        for c in checks:
            style = "green" if c["state"] == "ok" else ("dim" if c["state"] == "not built"
                                                         else "red")
            out.print(f"  [{style}]{c['state']:<10}[/] {c['tool']:<12} {c['env']}")
        if broken:
            out.print("[red]rebuild broken envs with: internpipe env setup TOOL[/]")
    raise typer.Exit(1 if broken else 0)


@app.command()
def remove(
    tools: ToolsArg = None,
    all_: Annotated[bool, typer.Option("--all", help="Remove every environment.")] = False,
    old: Annotated[bool, typer.Option("--old", help="Remove only envs whose spec is no "
                                                    "longer current.")] = False,
) -> None:
    """Remove environments: by tool, the old ones (--old), or all (--all).

    Examples:

      internpipe env remove --old

      internpipe env remove xtuner
    """
    from internpipe import envlist
    from internpipe.errors import UserError

    with guard():
        if not (tools or all_ or old):
            raise UserError("name tools to remove, or pass --old or --all")
        names = set(_tools(tools)) if tools else None
        rows = [r for r in envlist.installed()
                if (all_ or names is None or r["tool"] in names) and (not old or not r["current"])]
        envlist.remove([Path(r["path"]) for r in rows])
    out = console()
    for r in rows:
        out.print(f"removed {r['tool']}-{r['flavour']}-{r['id']}")
    if not rows:
        out.print("nothing to remove")


@app.command()
def path(tool: Annotated[str, typer.Argument(help="The tool.", show_default=False)],
         device: FlavourOpt = "auto") -> None:
    """Print the path of a tool's environment (built or not), e.g. to run it by hand.

    Examples:

      internpipe env path opencompass --device cpu

      $(internpipe env path xtuner)/bin/xtuner --help
    """
    from internpipe import envs

    with guard():
        env = envs.env_for(tool, _flavour(device))
    print(env.path)
