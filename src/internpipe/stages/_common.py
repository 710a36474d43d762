"""Pieces shared by the stage kind modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class Options(BaseModel):
    """Base of every stage's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def no_local_files(options: Any, recipe_dir: Path) -> list[Path]:
    return []


def resolve(recipe_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else recipe_dir / path


def shown(path: Path, base: Path) -> str:
    """A path as the user wrote it: relative to the recipe's folder where it is inside."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
