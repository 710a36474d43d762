"""quantize: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from internpipe.artifacts import MODEL
from internpipe.stages import InputSpec
from internpipe.stages.base import Options as Base

KIND = "quantize"
PRODUCES = MODEL
INPUTS = (InputSpec("model", frozenset({MODEL})),)

# LMDeploy's named calibration sets (fetched from the hub: they need the network).
NAMED_CALIB = ("wikitext2", "c4", "pileval", "gsm8k", "neuralmagic_calibration",
               "open-platypus", "openwebtext")


class Drift(Base):
    max_weight_error: float | None = Field(None, gt=0, description="fail above this mean "
                                           "relative weight error")
    min_top1_agreement: float | None = Field(None, ge=0, le=1, description="fail below this "
                                             "top-1 agreement of the logits")
    prompts: list[str] = Field(default_factory=list)


class Options(Base):
    model: str | None = None
    method: Literal["awq", "smooth_quant"] = "awq"
    w_bits: Literal[4, 8] = 4
    group_size: int = Field(128, ge=1)
    search_scale: bool = False
    calib: str | None = Field(None, description="a named set (wikitext2, c4, …: needs the "
                                                "network) or a local text/JSONL file")
    samples: int = Field(128, ge=0, description="calibration samples; 0 = data-free (AWQ)")
    seqlen: int = Field(2048, ge=1)
    batch_size: int = Field(1, ge=1)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    drift: Drift = Field(default_factory=Drift)
