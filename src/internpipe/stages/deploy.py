"""deploy: an OpenAI-compatible server (LMDeploy on CUDA, transformers serve on CPU)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from internpipe.stages import ENDPOINT, MODEL, InputSpec, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import no_local_files, not_yet

KIND = "deploy"
PRODUCES = ENDPOINT
INPUTS = (InputSpec("model", frozenset({MODEL})),)
local_files = no_local_files


class Options(Base):
    model: str | None = None
    engine: Literal["auto", "lmdeploy", "transformers"] = "auto"
    backend: Literal["turbomind", "pytorch"] = "turbomind"
    quant_policy: Literal[0, 4, 8] = 0
    cache_max_entry_count: float = Field(0.8, gt=0, le=1)
    tp: int = Field(1, ge=1)
    session_len: int | None = Field(None, ge=1)
    max_batch_size: int | None = Field(None, ge=1)
    host: str = "127.0.0.1"
    port: int | Literal["auto"] = 23333
    model_name: str | None = None
    api_key_env: str | None = None
    chat_template: str | None = None
    keep: bool = False


def tool(options: Any, device: str) -> str | None:
    engine = options.engine if options.engine != "auto" else (
        "lmdeploy" if device == "cuda" else "transformers")
    return "lmdeploy" if engine == "lmdeploy" else "serve-cpu"


def plan(ctx: StageContext) -> list[Step]:
    not_yet(KIND, 9)


def collect(ctx: StageContext) -> dict[str, Any]:
    not_yet(KIND, 9)
