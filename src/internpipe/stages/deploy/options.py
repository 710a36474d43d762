"""deploy: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator

from internpipe.artifacts import ENDPOINT, MODEL
from internpipe.fields import EnvName, Host, Line
from internpipe.stages import InputSpec, extra_args
from internpipe.stages.base import Options as Base

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

KIND = "deploy"
PRODUCES = ENDPOINT
INPUTS = (InputSpec("model", frozenset({MODEL})),)


# One day: a server that has not come up by then will not.
MAX_WAIT = 86400
# LMDeploy's options that the CPU engine (transformers serve) has no use for, with their
# defaults: a value other than the default is a plan note on CPU, not silently dropped.
# quant_policy is not here: a quantized KV cache changes the answers, so the check refuses it.
CUDA_ONLY = {"backend": "turbomind", "cache_max_entry_count": 0.8, "session_len": None,
             "max_batch_size": None}


# the servers' options that internpipe sets (either engine): the next stages find the
# server by them; API keys never go in argv (api_key_env:)
CONTROLLED = {"--server-name": "host:", "--server-port": "port:", "--host": "host:",
              "--port": "port:", "--backend": "backend:", "--model-name": "model_name:",
              "--tp": "tp:", "--quant-policy": "quant_policy:",
              "--cache-max-entry-count": "cache_max_entry_count:",
              "--chat-template": "chat_template:", "--model-format": "model_format:",
              "--session-len": "session_len:", "--max-batch-size": "max_batch_size:",
              "--api-keys": "api_key_env: keeps the key out of argv", "--device": "device",
              "--continuous-batching": "continuous_batching:",
              "--cb-block-size": "continuous_batching: a bounded cache",
              "--cb-num-blocks": "continuous_batching: a bounded cache"}

class Bench(Base):
    """A load test of the served model after the smoke request (workers/load_test.py), kept
    as the stage's bench.json: what `internpipe bench` measures."""

    concurrency: list[Annotated[int, Field(ge=1, le=4096)]] = Field(
        default_factory=lambda: [1, 4], min_length=1, max_length=32,
        description="requests in flight; one run each")
    requests: int = Field(16, ge=1, le=1_000_000, description="requests per run")
    max_tokens: int = Field(64, ge=1, le=1 << 20)
    rate: float | None = Field(None, gt=0, le=1e6, description="requests per second at "
                               "Poisson arrival times (default: as fast as the concurrency "
                               "allows)")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    warmup: int = Field(2, ge=0, le=10_000, description="requests sent first, not counted")
    dataset: Line | None = Field(None, min_length=1, description="JSONL prompts, relative "
                                 "to the recipe (default: a bundled varied set)")


class Options(Base):
    model: Line | None = None
    engine: Literal["auto", "lmdeploy", "transformers"] = "auto"
    backend: Literal["turbomind", "pytorch"] = "turbomind"
    model_format: Literal["hf", "awq"] | None = Field(
        None, description="LMDeploy's --model-format: checked against the model's "
        "quantization_config (awq is passed when the model is AWQ either way)")
    quant_policy: Literal[0, 4, 8] = 0
    cache_max_entry_count: float = Field(0.8, gt=0, le=1)
    tp: int = Field(1, ge=1, le=1024)
    session_len: int | None = Field(None, ge=1, le=1 << 24)
    max_batch_size: int | None = Field(None, ge=1, le=65536)
    continuous_batching: bool = Field(True, description="the transformers engine: batch "
                                      "concurrent requests (transformers serve "
                                      "--continuous-batching); false serves them one by one")
    host: Host = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] | Literal["auto"] = 23333
    model_name: Line | None = Field(None, min_length=1)
    api_key_env: EnvName | None = None
    chat_template: Line | None = Field(None, min_length=1)
    keep: bool = False
    ready_timeout: float = Field(300, gt=0, le=MAX_WAIT)
    extra_args: list[Line] = Field(default_factory=list, description=extra_args.DESCRIPTION
                                   + " (lmdeploy serve api_server / transformers serve)")

    @field_validator("extra_args")
    @classmethod
    def _not_internpipes(cls, value: list[str]) -> list[str]:
        return extra_args.check(value, CONTROLLED)

    bench: Bench | None = Field(None, description="load-test the server after the smoke "
                                "request (`bench: true` for the defaults); bench.json in the "
                                "stage's output")

    @field_validator("bench", mode="before")
    @classmethod
    def _bench_shorthand(cls, value: object) -> object:
        """`bench: true` is the defaults, `bench: false` none."""
        if value is True:
            return {}
        return None if value is False else value


def engine(options: Options, device: str) -> str:
    if options.engine != "auto":
        return str(options.engine)
    return "lmdeploy" if device == "cuda" else "transformers"


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """The engine against the device and the options it honours (stages/deploy/checks.py)."""
    from internpipe.stages.deploy import checks

    return checks.check(section, recipe_dir, device)
