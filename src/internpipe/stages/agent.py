"""agent: Lagent + AgentLego tools on a served model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from internpipe.stages import ENDPOINT, TRANSCRIPTS, InputSpec, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import no_local_files, not_yet

KIND = "agent"
PRODUCES = TRANSCRIPTS
INPUTS = (InputSpec("endpoint", frozenset({ENDPOINT}), unless="url"),)
local_files = no_local_files


class Query(Base):
    text: str
    expect: list[str] = Field(default_factory=list)


class Options(Base):
    endpoint: str | None = None
    url: str | None = None
    model_name: str | None = None
    api_key_env: str | None = None
    agent: Literal["internlm2", "react"] = "internlm2"
    tools: list[str] = Field(default_factory=list)
    max_turns: int = Field(5, ge=1)
    timeout: float = Field(30, gt=0)
    queries: list[str | Query] = Field(default_factory=list)


def tool(options: Any, device: str) -> str | None:
    return "agent"


def plan(ctx: StageContext) -> list[Step]:
    not_yet(KIND, 10)


def collect(ctx: StageContext) -> dict[str, Any]:
    not_yet(KIND, 10)
