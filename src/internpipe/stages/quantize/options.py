"""quantize: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from internpipe.artifacts import MODEL
from internpipe.fields import Line, Text
from internpipe.stages import InputSpec, extra_args
from internpipe.stages.base import Options as Base

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

KIND = "quantize"
PRODUCES = MODEL
INPUTS = (InputSpec("model", frozenset({MODEL})),)

# LMDeploy 0.18's named calibration sets → the hub dataset it fetches each from.
NAMED_CALIB = {"wikitext2": "Salesforce/wikitext", "c4": "allenai/c4",
               "pileval": "mit-han-lab/pile-val-backup", "gsm8k": "openai/gsm8k",
               "neuralmagic_calibration": "neuralmagic/calibration",
               "open-platypus": "garage-bAInd/Open-Platypus",
               "openwebtext": "Skylion007/openwebtext"}
# Sets the course names that LMDeploy 0.18 no longer fetches: usable from a local copy only.
# (The LMDeploy lesson's `--calib-dataset ptb`: Penn Treebank, read by joining its sentences
# and cutting random windows, which is what LMDeploy's wikitext2 reader does.)
LOCAL_ONLY_CALIB = {"ptb": "the Penn Treebank text (ptb.train.txt of the `ptb_text_only` "
                           "dataset)"}
DEFAULT_CALIB = "wikitext2"                    # LMDeploy's default --calib-dataset
COPY_SUFFIXES = (".txt", ".jsonl", ".json")


def calib_dir() -> Path:
    """Where local copies of named calibration sets are looked for: NAME.txt (paragraphs)
    or NAME.jsonl (a "text" per line)."""
    import os

    from internpipe.envs import home

    configured = os.environ.get("INTERNPIPE_CALIB_DIR")
    return Path(configured).expanduser() if configured else home() / "calib"


def is_named(calib: str | None) -> bool:
    return calib is None or calib in NAMED_CALIB or calib in LOCAL_ONLY_CALIB


def local_copy(name: str) -> Path | None:
    """A local copy of a named set, if one is staged."""
    folder = calib_dir()
    return next((folder / f"{name}{suffix}" for suffix in COPY_SUFFIXES
                 if (folder / f"{name}{suffix}").is_file()), None)


class Drift(Base):
    max_weight_error: float | None = Field(None, gt=0, description="fail above this mean "
                                           "relative weight error")
    min_top1_agreement: float | None = Field(None, ge=0, le=1, description="fail below this "
                                             "top-1 agreement of the logits")
    prompts: list[Text] = Field(default_factory=list)


# lmdeploy lite's options that internpipe sets
CONTROLLED = {"--work-dir": "the stage's output folder", "--device": "device:",
              "--w-bits": "w_bits:", "--w-group-size": "group_size:",
              "--search-scale": "search_scale:", "--calib-dataset": "calib:",
              "--calib-samples": "samples:", "--calib-seqlen": "seqlen:",
              "--batch-size": "batch_size:"}


class Options(Base):
    model: Line | None = None
    method: Literal["awq", "smooth_quant"] = "awq"
    w_bits: Literal[4, 8] = 4
    group_size: int = Field(128, ge=1, le=65536)
    search_scale: bool = False
    calib: Line | None = Field(None, min_length=1, description="a named set (wikitext2, c4, "
                               "pileval, …: a local copy in $INTERNPIPE_HOME/calib/NAME.txt, "
                               "else the hub; ptb: a local copy only) or a local text/JSONL "
                               "file; default: LMDeploy's wikitext2")
    samples: int = Field(128, ge=0, le=10**6, description="calibration samples; 0 = "
                                                           "data-free (AWQ)")
    seqlen: int = Field(2048, ge=1, le=1 << 20)
    batch_size: int = Field(1, ge=1, le=65536)
    device: Literal["auto", "cuda", "cpu"] = "auto"
    drift: Drift = Field(default_factory=Drift)
    extra_args: list[Line] = Field(default_factory=list,
                                   description=extra_args.DESCRIPTION + " (lmdeploy lite)")

    @field_validator("extra_args")
    @classmethod
    def _not_internpipes(cls, value: list[str]) -> list[str]:
        return extra_args.check(value, CONTROLLED)

    @model_validator(mode="after")
    def _awq_is_w4(self) -> Options:
        if self.method == "awq" and self.w_bits != 4:
            raise ValueError("LMDeploy's AWQ is W4A16: w_bits must be 4 (8 is smooth_quant)")
        return self


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """The device, the calibration file, AWQ's group size against a local model's sizes
    (stages/quantize/checks.py)."""
    from internpipe.stages.quantize import checks

    return checks.check(section, recipe_dir, device)
