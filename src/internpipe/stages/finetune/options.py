"""finetune: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from internpipe.artifacts import MODEL
from internpipe.fields import Line, Text
from internpipe.problems import suggest
from internpipe.stages import InputSpec, extra_args
from internpipe.stages.base import Options as Base
from internpipe.stages.finetune.templates import XTUNER_TEMPLATES

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

KIND = "finetune"
PRODUCES = MODEL
INPUTS = (InputSpec("model", frozenset({MODEL})),)


# xtuner train's options that internpipe sets (extra_args may not)
CONTROLLED = {"--work-dir": "the stage's work folder", "--resume": "resumes by itself",
              "--launcher": "resources:", "--local_rank": "resources:",
              "--local-rank": "resources:", "--deepspeed": "deepspeed:"}
# With `xtuner_config:`, the recipe options patched into it when the recipe sets them; the
# others that shape training are the config's own.
PATCHABLE = ("epochs", "lr", "batch_size", "grad_accum", "max_length", "pack", "seed",
             "save_every", "keep_checkpoints", "log_every", "template")
CONFIG_OWNS = ("method", "lora", "warmup_ratio", "sample_prompts")


class Lora(Base):
    r: int = Field(64, ge=1, le=65536)
    alpha: int = Field(16, ge=1, le=65536)
    dropout: float = Field(0.1, ge=0, lt=1)
    targets: list[Line] | None = None


class Options(Base):
    model: Line | None = None
    method: Literal["lora", "qlora", "full"] = "lora"
    data: Line | list[Line]
    format: Literal["openai", "alpaca", "xtuner", "llava"] | None = Field(
        None, description="default: detected from the first record of each file; llava: "
        "image-question data for a vision-language model")
    image_folder: Line | None = Field(None, description="where llava data's image paths "
                                      "start (default: the data file's folder)")
    template: Line | None = Field(None, description="an XTuner prompt template (default: "
                                  "from the model's chat template)")
    epochs: int = Field(1, ge=1, le=1000)
    lr: float = Field(2e-4, gt=0, le=1)
    batch_size: int = Field(1, ge=1, le=65536)
    grad_accum: int = Field(1, ge=1, le=65536)
    max_length: int = Field(2048, ge=8, le=1 << 20)
    pack: bool = True
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    save_every: int = Field(500, ge=1, le=10**9)
    keep_checkpoints: int = Field(2, ge=1, le=10_000)
    log_every: int = Field(10, ge=1, le=10**9)
    lora: Lora = Field(default_factory=Lora)
    deepspeed: Literal["zero1", "zero2", "zero3"] | None = None
    sample_prompts: list[Text] = Field(default_factory=list)
    xtuner_config: Line | None = Field(
        None, description="your own XTuner .py config (e.g. from `xtuner copy-cfg`): the "
        "recipe's model, data and the options it sets are patched in through mmengine's "
        "Config")
    report_to: Literal["tensorboard", "wandb", "swanlab"] | None = Field(
        None, description="an experiment tracker (mmengine visualizer backend, offline); "
        "its run folder is kept in the output's `tracker/`")
    extra_args: list[Line] = Field(default_factory=list,
                                   description=extra_args.DESCRIPTION + " (xtuner train)")

    @field_validator("extra_args")
    @classmethod
    def _not_internpipes(cls, value: list[str]) -> list[str]:
        return extra_args.check(value, CONTROLLED)

    @field_validator("template")
    @classmethod
    def _xtuner_template(cls, value: str | None) -> str | None:
        if value is not None and value not in XTUNER_TEMPLATES:
            hint = suggest(value, list(XTUNER_TEMPLATES)) or \
                f"; templates: {', '.join(XTUNER_TEMPLATES)}"
            raise ValueError(f"{value!r} is not an XTuner 0.2.0 prompt template{hint}")
        return value

    @field_validator("deepspeed", mode="before")
    @classmethod
    def _xtuner_deepspeed_name(cls, value: object) -> object:
        """XTuner's own name (`--deepspeed deepspeed_zero2`, as the course writes it)."""
        return value.removeprefix("deepspeed_") if isinstance(value, str) else value

    @field_validator("data")
    @classmethod
    def _some_data(cls, value: str | list[str]) -> str | list[str]:
        if not value:
            raise ValueError("name at least one data file")
        return value


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """Every data file, the method against the device, the prompt template
    (stages/finetune/checks.py)."""
    from internpipe.stages.finetune import checks

    return checks.check(section, recipe_dir, device)
