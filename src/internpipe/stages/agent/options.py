"""agent: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from internpipe.artifacts import ENDPOINT, TRANSCRIPTS
from internpipe.stages import InputSpec
from internpipe.stages.base import Options as Base

KIND = "agent"
PRODUCES = TRANSCRIPTS
INPUTS = (InputSpec("endpoint", frozenset({ENDPOINT}), unless="url"),)

# Lagent's own actions; any other plain name is an AgentLego tool (load_tool), a URL an
# agentlego-server.
LAGENT_ACTIONS = ("PythonInterpreter", "IPythonInterpreter")
CODE_TOOLS = LAGENT_ACTIONS
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Query(Base):
    text: str = Field(min_length=1)
    expect: list[str] = Field(default_factory=list, description="substrings the final answer "
                                                                "must contain (any case)")


class Options(Base):
    endpoint: str | None = Field(None, description="a deploy stage (default: the nearest)")
    url: str | None = Field(None, description="an external OpenAI-compatible server instead "
                                              "of a deploy stage")
    model_name: str | None = Field(None, description="the model name the external server "
                                                     "expects")
    api_key_env: str | None = None
    agent: Literal["internlm2", "react"] = "internlm2"
    tools: list[str] = Field(default_factory=list, description="AgentLego tools (Calculator, "
                             "…), Lagent actions (PythonInterpreter, IPythonInterpreter), "
                             "agentlego-server URLs")
    max_turns: int = Field(5, ge=1)
    tool_timeout: float = Field(20, gt=0, description="seconds for code a tool runs")
    request_timeout: float = Field(120, gt=0, description="seconds for one model request")
    max_new_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0)
    meta_prompt: str | None = Field(None, description="the agent's system prompt (default: "
                                    "lagent's; \"\" for none)")
    plugin_prompt: str | None = Field(None, description="the tools' system prompt, {prompt} "
                                      "= the tool descriptions (default: lagent's)")
    tool_result_role: Literal["system", "user"] = Field(
        "system", description="the role tool results are sent as (lagent: system); `user` "
        "suits models fine-tuned with XTuner's openai format, which has no tool role")
    keep_special_tokens: bool | None = Field(
        None, description="ask the server to keep special tokens (LMDeploy's "
        "skip_special_tokens=false; InternLM2's tool-call markers are special tokens). "
        "Default: yes for LMDeploy deploy stages and external URLs, no for the transformers "
        "engine, which rejects the field")
    queries: list[str | Query] = Field(default_factory=list)

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, tools: list[str]) -> list[str]:
        for name in tools:
            if not (name.startswith(("http://", "https://")) or TOOL_NAME.match(name)):
                raise ValueError(f"{name!r} is neither a tool name nor an http(s) URL of an "
                                 "agentlego-server")
        return tools
