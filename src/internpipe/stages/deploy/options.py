"""deploy: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from internpipe.artifacts import ENDPOINT, MODEL
from internpipe.stages import InputSpec
from internpipe.stages.base import Options as Base

KIND = "deploy"
PRODUCES = ENDPOINT
INPUTS = (InputSpec("model", frozenset({MODEL})),)


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
    ready_timeout: float = Field(300, gt=0)
