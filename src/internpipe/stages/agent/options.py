"""agent: what a recipe may say (the declaration; cheap to import)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from internpipe.artifacts import ENDPOINT, TRANSCRIPTS
from internpipe.fields import EnvName, Line, Text, Url, url
from internpipe.problems import suggest
from internpipe.stages import InputSpec
from internpipe.stages.agent.tools import CODE_ACTIONS, LAGENT_ACTIONS, TOOL_NAMES
from internpipe.stages.base import Options as Base

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

KIND = "agent"
PRODUCES = TRANSCRIPTS
INPUTS = (InputSpec("endpoint", frozenset({ENDPOINT}), unless="url"),)

# Tools that run model-written code.
CODE_TOOLS = CODE_ACTIONS
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_WAIT = 86400      # seconds: a timeout beyond a day is no timeout


class Query(Base):
    text: Text = Field(min_length=1)
    expect: list[Text] = Field(default_factory=list, description="substrings the final answer "
                                                                 "must contain (any case)")


class Options(Base):
    endpoint: Line | None = Field(None, description="a deploy stage (default: the nearest)")
    url: Url | None = Field(None, description="an external OpenAI-compatible server "
                                               "instead of a deploy stage")
    model_name: Line | None = Field(None, min_length=1, description="the model name the "
                                    "external server expects")
    api_key_env: EnvName | None = None
    agent: Literal["internlm2", "react"] = "internlm2"
    tools: list[Line] = Field(default_factory=list, description="AgentLego tools "
                              "(Calculator, …), Lagent actions (PythonInterpreter, "
                              "IPythonInterpreter), agentlego-server URLs")
    max_turns: int = Field(5, ge=1, le=1000)
    tool_timeout: float = Field(20, gt=0, le=MAX_WAIT, description="seconds for code a tool "
                                                                   "runs")
    request_timeout: float = Field(120, gt=0, le=MAX_WAIT, description="seconds for one "
                                                                       "model request")
    max_new_tokens: int = Field(512, ge=1, le=1 << 20)
    temperature: float = Field(0.0, ge=0, le=2)
    meta_prompt: Text | None = Field(None, description="the agent's system prompt (default: "
                                     "lagent's; \"\" for none)")
    plugin_prompt: Text | None = Field(None, description="the tools' system prompt, {prompt} "
                                       "= the tool descriptions (default: lagent's)")
    tool_result_role: Literal["system", "user"] = Field(
        "system", description="the role tool results are sent as (lagent: system); `user` "
        "suits models fine-tuned with XTuner's openai format, which has no tool role")
    keep_special_tokens: bool | None = Field(
        None, description="ask the server to keep special tokens (LMDeploy's "
        "skip_special_tokens=false; InternLM2's tool-call markers are special tokens). "
        "Default: yes for LMDeploy deploy stages and external URLs, no for the transformers "
        "engine, which rejects the field")
    queries: list[Text | Query] = Field(default_factory=list)

    @field_validator("tools")
    @classmethod
    def _tool_names(cls, tools: list[str]) -> list[str]:
        for name in tools:
            if name.startswith(("http://", "https://")):
                url(name)
            elif not TOOL_NAME.match(name):
                raise ValueError(f"{name!r} is neither a tool name nor an http(s) URL of an "
                                 "agentlego-server")
            elif name not in TOOL_NAMES:
                hint = suggest(name, list(TOOL_NAMES)) or (
                    ": name an AgentLego 0.2.0 tool (Calculator, GoogleSearch, …), a Lagent "
                    f"action ({', '.join(LAGENT_ACTIONS)}) or the http(s) URL of an "
                    "agentlego-server")
                raise ValueError(f"{name!r} is not a tool{hint}")
        return tools


def check(section: Section, recipe_dir: Path, device: str) -> list[Problem]:
    """An external `url:` needs the model name it serves (the tool names and URLs are
    checked with the options)."""
    opts = section.options_as(Options)
    if opts.url and not opts.model_name:
        return [section.problem("`url:` needs `model_name:` (the model name the server "
                                "expects)", "url")]
    return []
