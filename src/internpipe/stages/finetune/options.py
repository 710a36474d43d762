"""finetune: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from internpipe.artifacts import MODEL
from internpipe.stages import InputSpec
from internpipe.stages.base import Options as Base

KIND = "finetune"
PRODUCES = MODEL
INPUTS = (InputSpec("model", frozenset({MODEL})),)


class Lora(Base):
    r: int = Field(64, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    targets: list[str] | None = None


class Options(Base):
    model: str | None = None
    method: Literal["lora", "qlora", "full"] = "lora"
    data: str | list[str]
    format: Literal["openai", "alpaca", "xtuner"] = "openai"
    template: str | None = None
    epochs: int = Field(1, ge=1)
    lr: float = Field(2e-4, gt=0)
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(2048, ge=8)
    pack: bool = True
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    seed: int = 42
    save_every: int = Field(500, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(10, ge=1)
    lora: Lora = Field(default_factory=Lora)
    deepspeed: Literal["zero1", "zero2", "zero3"] | None = None
    sample_prompts: list[str] = Field(default_factory=list)
