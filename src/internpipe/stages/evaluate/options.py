"""evaluate: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from internpipe.artifacts import ENDPOINT, MODEL, SCORES
from internpipe.fields import EnvName, Line, Text, Url
from internpipe.stages import InputSpec, extra_args
from internpipe.stages.base import Options as Base
from internpipe.stages.evaluate.data import prompt_fields

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

KIND = "evaluate"
PRODUCES = SCORES
INPUTS = (InputSpec("models", frozenset({MODEL, ENDPOINT}), many=True,
                    default="first_and_nearest", unless="endpoints"),)

# metric name → OpenCompass evaluator class, as module.Class (None: the custom dataset
# type's own default). rouge keeps only the Latin letters and digits of Chinese text;
# rouge_zh segments it with Jieba (OpenCompass's JiebaRougeEvaluator, which compares the
# first sentence: up to the first newline, "." or ","); contains: the answer, e.g. a new
# name, appears in the prediction's first sentence (OpenCompass's LEvalEMEvaluator).
ICL = "opencompass.openicl.icl_evaluator."
METRICS: dict[str, dict[str, str | None]] = {
    "qa": {"rouge": ICL + "RougeEvaluator", "rouge_zh": ICL + "JiebaRougeEvaluator",
           "contains": "opencompass.datasets.leval.evaluators.LEvalEMEvaluator",
           "bleu": ICL + "BleuEvaluator", "exact": ICL + "AccEvaluator"},
    "mcq": {"option": None, "exact": ICL + "AccEvaluator"},
    # image-question sets, scored by internpipe's client (stages/evaluate/vqa.py)
    "vqa": {"exact": None, "choice": None},
}
DEFAULT_METRIC = {"qa": "rouge", "mcq": "option", "vqa": "exact"}


class CustomDataset(Base):
    path: Line = Field(min_length=1)
    type: Literal["qa", "mcq", "vqa"] = "qa"
    metric: Line | None = Field(None, description="qa: rouge (default) | rouge_zh | "
                                "contains | bleu | exact; mcq: option (default) | exact; "
                                "vqa (image questions): exact (default) | choice")
    prompt: Text | None = Field(None, description="the question as sent, e.g. "
                                                  "'Answer briefly: {question}'")
    name: Line | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="the dataset's name in the table (default: file "
                                          "name)")

    @field_validator("prompt")
    @classmethod
    def _placeholders(cls, prompt: str | None) -> str | None:
        if prompt is not None:
            prompt_fields(prompt)
        return prompt

    @model_validator(mode="after")
    def _known_metric(self) -> CustomDataset:
        if self.metric is not None and self.metric not in METRICS[self.type]:
            raise ValueError(f"metric {self.metric!r} is not one for {self.type} data; "
                             f"choose from {', '.join(METRICS[self.type])}")
        return self


class Endpoint(Base):
    url: Url = Field(description="the server's base URL (…/v1 or …/v1/chat/completions "
                                 "are accepted too)")
    model: Line = Field(min_length=1, description="the model name the server expects in "
                                                  "requests")
    tokenizer: Line | None = Field(None, min_length=1, description="a local tokenizer folder "
                                   "(OpenCompass counts tokens with it)")
    name: Line | None = Field(None, pattern=r"^[a-z][a-z0-9_-]*$")
    api_key_env: EnvName | None = None
    stream: bool = True


# opencompass's options that internpipe sets, or that would leave the next stages no scores
CONTROLLED = {"-w": "the stage's output folder", "--work-dir": "the stage's output folder",
              "-r": "resumes by itself", "--reuse": "resumes by itself",
              "--slurm": "resources.launcher", "-p": "resources.slurm.partition",
              "--partition": "resources.slurm.partition", "--dlc": "resources.launcher",
              "--qos": "resources.slurm.qos", "--max-num-workers": "resources:",
              "--debug": "one process on a local run", "-a": "backend:",
              "--accelerator": "backend:", "--models": "models:", "--datasets": "datasets:",
              "-m": "the stage reads the scores of a full run",
              "--mode": "the stage reads the scores of a full run",
              "--dry-run": "the stage reads the scores of a full run",
              "--summarizer": "the score table the stage reads"}


class Options(Base):
    models: list[Line] | None = Field(None, min_length=1, description="the stages whose "
                                      "models are evaluated (default: the first and the "
                                      "nearest); leave out to evaluate `endpoints:` only")
    endpoints: list[Endpoint] = Field(default_factory=list)
    datasets: list[Line | CustomDataset] = Field(min_length=1)
    data_dir: Line | None = Field(None, min_length=1, description="where built-in datasets' "
                                  "data is (default: $COMPASS_DATA_CACHE, else "
                                  "~/.cache/opencompass)")
    backend: Literal["auto", "huggingface", "lmdeploy"] = "auto"
    limit: int | None = Field(None, ge=1, le=10**9, description="the first N items of each "
                                                                 "dataset")
    max_out_len: int = Field(64, ge=1, le=1 << 20)
    max_seq_len: int = Field(2048, ge=16, le=1 << 24)
    batch_size: int = Field(8, ge=1, le=65536)
    extra_args: list[Line] = Field(default_factory=list,
                                   description=extra_args.DESCRIPTION + " (opencompass)")

    @field_validator("extra_args")
    @classmethod
    def _not_internpipes(cls, value: list[str]) -> list[str]:
        return extra_args.check(value, CONTROLLED)


def customs(options: Options) -> list[CustomDataset]:
    return [d for d in options.datasets if isinstance(d, CustomDataset)]


def builtins(options: Options) -> list[str]:
    return [d for d in options.datasets if isinstance(d, str)]


def abbr(dataset: CustomDataset) -> str:
    return dataset.name or Path(dataset.path).name.split(".")[0]


def backend(options: Options, device: str) -> str:
    if options.backend != "auto":
        return str(options.backend)
    return "lmdeploy" if device == "cuda" else "huggingface"


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """Every custom data file, the prompts' columns, the named datasets (once the
    OpenCompass env is built), the backend against the device (stages/evaluate/checks.py)."""
    from internpipe.stages.evaluate import checks

    return checks.check(section, recipe_dir, device)
