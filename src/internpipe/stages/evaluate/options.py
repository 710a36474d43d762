"""evaluate: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from internpipe.artifacts import ENDPOINT, MODEL, SCORES
from internpipe.stages import InputSpec
from internpipe.stages.base import Options as Base

KIND = "evaluate"
PRODUCES = SCORES
INPUTS = (InputSpec("models", frozenset({MODEL, ENDPOINT}), many=True,
                    default="first_and_nearest", unless="endpoints"),)

# metric name → OpenCompass evaluator class (None: the custom dataset type's own default).
METRICS: dict[str, dict[str, str | None]] = {
    "qa": {"rouge": "RougeEvaluator", "bleu": "BleuEvaluator", "exact": "AccEvaluator"},
    "mcq": {"option": None, "exact": "AccEvaluator"},
}
DEFAULT_METRIC = {"qa": "rouge", "mcq": "option"}


class CustomDataset(Base):
    path: str
    type: Literal["qa", "mcq"] = "qa"
    metric: str | None = Field(None, description="qa: rouge (default) | bleu | exact; "
                                                  "mcq: option (default) | exact")
    prompt: str | None = Field(None, description="the question as sent, e.g. "
                                                 "'Answer briefly: {question}'")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$",
                             description="the dataset's name in the table (default: file "
                                         "name)")

    @model_validator(mode="after")
    def _known_metric(self) -> CustomDataset:
        if self.metric is not None and self.metric not in METRICS[self.type]:
            raise ValueError(f"metric {self.metric!r} is not one for {self.type} data; "
                             f"choose from {', '.join(METRICS[self.type])}")
        return self


class Endpoint(Base):
    url: str = Field(description="the server's base URL (…/v1 or …/v1/chat/completions "
                                 "are accepted too)")
    model: str = Field(description="the model name the server expects in requests")
    tokenizer: str | None = Field(None, description="a local tokenizer folder (OpenCompass "
                                                    "counts tokens with it)")
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]*$")
    api_key_env: str | None = None
    stream: bool = True


class Options(Base):
    models: list[str] | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)
    datasets: list[str | CustomDataset] = Field(min_length=1)
    data_dir: str | None = Field(None, description="where built-in datasets' data is "
                                                   "(default: $COMPASS_DATA_CACHE, else "
                                                   "~/.cache/opencompass)")
    backend: Literal["auto", "huggingface", "lmdeploy"] = "auto"
    limit: int | None = Field(None, ge=1, description="the first N items of each dataset")
    max_out_len: int = Field(64, ge=1)
    max_seq_len: int = Field(2048, ge=16)
    batch_size: int = Field(8, ge=1)


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
