"""download: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from internpipe.artifacts import MODEL
from internpipe.fields import Line, Url
from internpipe.stages import InputSpec
from internpipe.stages.base import Options as Base

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

KIND = "download"
PRODUCES = MODEL
INPUTS: tuple[InputSpec, ...] = ()

HUBS = {"modelscope": "modelscope", "openxlab": "openxlab", "hf": "hfhub"}


class Options(Base):
    source: Line = Field(min_length=1, description="modelscope:OWNER/NAME, "
                         "openxlab:OWNER/NAME, hf:OWNER/NAME, or a local folder")
    revision: Line | None = Field(None, min_length=1)
    include: list[Line] = Field(default_factory=list)
    exclude: list[Line] = Field(default_factory=list)
    endpoint: Url | None = None
    chat_template: Line | None = Field(None, min_length=1)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        hub, sep, repo = value.partition(":")
        if sep and hub in HUBS:
            owner, slash, name = repo.partition("/")
            if not (owner and slash and name) or "/" in name:
                raise ValueError(f"expected {hub}:OWNER/NAME, got {value!r}")
        elif sep and len(hub) > 1 and "/" not in hub:
            raise ValueError(f"unknown hub {hub!r}: use modelscope:, openxlab:, hf: or a "
                             "local path")
        return value


def parse_source(source: str) -> tuple[str | None, str]:
    """('modelscope', 'OWNER/NAME') for hub sources, (None, path) for local ones."""
    hub, sep, repo = source.partition(":")
    if sep and hub in HUBS:
        return hub, repo
    return None, source


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """A local source folder must be there (stages/download/checks.py)."""
    from internpipe.stages.download import checks

    return checks.check(section, recipe_dir, device)
