"""The defaults of every optional member of the stage contract, and the pieces shared by the
kind modules. A kind module assigns every member of `StageKind` itself, taking the defaults
from here (`VERSION = base.VERSION`, `notes = base.no_notes`, …), so that reading one module
shows its whole contract (the way pre-commit's language modules do).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.services import ServiceSpec
    from internpipe.stages import Section, StageContext

# Where the scripts that run inside the tool environments are.
WORKERS = Path(__file__).resolve().parent.parent / "workers"


class Options(BaseModel):
    """Base of every stage's options: unknown keys are errors; numbers are finite and of
    their own type (strict: `epochs: true` or `epochs: 1e38` are not counts, `lr: .inf` not a
    rate). String fields use the types of internpipe.fields (no control characters)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# ----------------------------------------------------------------- defaults of the contract

VERSION = 1
NOT_FINGERPRINTED: tuple[str, ...] = ()
SERVICE = False
SLURM_NATIVE = False
serve: Callable[[StageContext], ServiceSpec] | None = None


def no_local_files(options: Any, recipe_dir: Path) -> list[Path]:
    return []


def no_notes(ctx: StageContext) -> list[str]:
    return []


def no_checks(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    return []


def no_progress(line: str) -> dict[str, Any] | None:
    return None


# A worker of ours states its progress on a line of its own: this prefix and a JSON object
# ({"current", "total", "unit", …}); the runner reads it for every kind, before parse_line.
WORKER_PROGRESS = "internpipe-progress: "


def worker_progress(line: str) -> dict[str, Any] | None:
    # Anywhere in the line: a tool's bar (stderr, redrawn with \r, no newline) may be on
    # the line when the worker prints; the JSON runs to the end of the line.
    at = line.find(WORKER_PROGRESS)
    if at < 0:
        return None
    try:
        update = json.loads(line[at + len(WORKER_PROGRESS):])
    except ValueError:
        return None
    return update if isinstance(update, dict) else None


def never_keeps_serving(options: Any) -> bool:
    return False


# ----------------------------------------------------------------- shared helpers


def resolve(recipe_dir: Path, value: str) -> Path:
    """A path the recipe gives, relative to its folder (`~` and `~user` expanded when that
    user exists)."""
    path = Path(value)
    with contextlib.suppress(RuntimeError):    # ~nosuchuser: as written ("does not exist")
        path = path.expanduser()
    return path if path.is_absolute() else recipe_dir / path


def shown(path: Path, base: Path) -> str:
    """A path as the user wrote it: relative to the recipe's folder where it is inside."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
