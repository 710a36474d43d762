"""quantize: LMDeploy lite AWQ (W4A16) or SmoothQuant (W8A8), with a drift check."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from internpipe.stages import MODEL, InputSpec, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import not_yet, resolve

KIND = "quantize"
PRODUCES = MODEL
INPUTS = (InputSpec("model", frozenset({MODEL})),)


class Thresholds(Base):
    max_weight_error: float | None = Field(None, gt=0)
    min_top1_agreement: float | None = Field(None, ge=0, le=1)


class Options(Base):
    model: str | None = None
    method: Literal["awq", "smooth_quant"] = "awq"
    w_bits: Literal[4, 8] = 4
    group_size: int = Field(128, ge=1)
    search_scale: bool = False
    calib: str | None = None
    samples: int = Field(128, ge=0)
    seqlen: int = Field(2048, ge=1)
    batch_size: int = Field(1, ge=1)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    drift: Thresholds = Field(default_factory=Thresholds)


def tool(options: Any, device: str) -> str | None:
    return "lmdeploy"


def local_files(options: Any, recipe_dir: Path) -> list[Path]:
    if options.calib and (options.calib.startswith((".", "/", "~")) or "/" in options.calib):
        return [resolve(recipe_dir, options.calib)]
    return []


def plan(ctx: StageContext) -> list[Step]:
    not_yet(KIND, 8)


def collect(ctx: StageContext) -> dict[str, Any]:
    not_yet(KIND, 8)
