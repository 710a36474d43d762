"""Shell completion (bash, zsh, fish: `internpipe --install-completion`): the values an
option takes are offered by the shell. Choices complete by themselves (click); these
functions complete what only internpipe knows: the stages of the recipe on the command line,
and recipe files (those here and the bundled ones). They run on every Tab, so they read
the recipe's YAML only, never import the recipe models."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def bundled_recipes() -> list[Path]:
    """The recipes that come with internpipe: the wheel's copy, else the checkout's."""
    from internpipe import bundled

    for folder in (bundled.PACKAGED, bundled.CHECKOUT):
        if folder.is_dir():
            return sorted(folder.glob("*.yaml"))
    return []


def recipe_files(incomplete: str) -> list[str]:
    """YAML files matching what is typed, then the bundled recipes (as paths from here)."""
    typed = Path(incomplete or ".")
    folder = typed if incomplete.endswith("/") or not incomplete else typed.parent
    found = [str(p) if incomplete.startswith("./") or folder != Path(".") else p.name
             for p in sorted(folder.glob("*.y*ml")) if p.is_file()] if folder.is_dir() else []
    found += [_shortest(p) for p in bundled_recipes()]
    return [f for f in dict.fromkeys(found) if f.startswith(incomplete)]


def _shortest(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _recipe_on_line() -> str | None:
    """The recipe among the words typed so far. click's context has no parameters at all
    when the option being completed still lacks its value (`--only <Tab>`), so the words
    the shell handed over (bash: COMP_WORDS; zsh, fish: _TYPER_COMPLETE_ARGS) are read."""
    import os
    import shlex

    line = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    return next((w for w in words if w.endswith((".yaml", ".yml")) and Path(w).is_file()),
                None)


def stage_names(ctx: Any, incomplete: str) -> list[str]:
    """The stages of the recipe given earlier on the command line (RECIPE); after a comma
    (`--only a,b`) the next one."""
    recipe = ctx.params.get("recipe") or _recipe_on_line()
    if not recipe:
        return []
    try:
        import yaml

        data = yaml.safe_load(Path(recipe).read_text(encoding="utf-8"))
        names = [str(n) for n in (data.get("stages") or {})]
    except Exception:       # a half-written recipe: nothing to offer, never a traceback
        return []
    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    done = set(head.split(",")) if head else set()
    return [prefix + n for n in names if n.startswith(last) and n not in done]
