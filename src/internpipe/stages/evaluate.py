"""evaluate: OpenCompass on several models of the recipe, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from internpipe.stages import ENDPOINT, MODEL, SCORES, InputSpec, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import not_yet, resolve

KIND = "evaluate"
PRODUCES = SCORES
INPUTS = (InputSpec("models", frozenset({MODEL, ENDPOINT}), many=True,
                    default="first_and_nearest"),)


class CustomDataset(Base):
    path: str
    type: Literal["qa", "mcq"] = "qa"
    metric: str | None = None
    prompt: str | None = None


class Options(Base):
    models: list[str] | None = None
    datasets: list[str | CustomDataset] = Field(min_length=1)
    data_dir: str | None = None
    backend: Literal["auto", "huggingface", "lmdeploy"] = "auto"
    limit: int | None = Field(None, ge=1)
    max_out_len: int = Field(64, ge=1)
    batch_size: int = Field(8, ge=1)


def tool(options: Any, device: str) -> str | None:
    return "opencompass"


def local_files(options: Any, recipe_dir: Path) -> list[Path]:
    return [resolve(recipe_dir, d.path) for d in options.datasets
            if isinstance(d, CustomDataset)]


def plan(ctx: StageContext) -> list[Step]:
    not_yet(KIND, 7)


def collect(ctx: StageContext) -> dict[str, Any]:
    not_yet(KIND, 7)
