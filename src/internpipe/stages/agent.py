"""agent: a Lagent agent on the model the recipe deployed, with Lagent actions and AgentLego
tools; scripted queries become transcripts (and checks, with `expect`).

One step in the agent env: workers/agent_run.py runs every query with a fresh agent and
writes a transcript per query (messages, tool calls with arguments and results, the final
answer, timings). Tools that run model-written code (PythonInterpreter,
IPythonInterpreter) exist only when the recipe lists them, run with `tool_timeout`, and
run in a scratch folder of the stage's work dir. A query fails when the agent raises,
reaches no answer within `max_turns`, or its answer lacks an `expect` substring; any failed
query fails the stage, naming the queries and where their transcripts are.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from internpipe.errors import StageFailed, UserError
from internpipe.stages import ENDPOINT, TRANSCRIPTS, InputSpec, StageContext, Step
from internpipe.stages._common import Options as Base
from internpipe.stages._common import no_local_files

KIND = "agent"
PRODUCES = TRANSCRIPTS
VERSION = 1
INPUTS = (InputSpec("endpoint", frozenset({ENDPOINT}), unless="url"),)
local_files = no_local_files
WORKERS = Path(__file__).resolve().parent.parent / "workers"
WORKER = WORKERS / "agent_run.py"
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


def tool(options: Any, device: str) -> str | None:
    return "agent"


def queries(options: Any) -> list[dict[str, Any]]:
    return [{"text": q, "expect": []} if isinstance(q, str) else q.model_dump()
            for q in options.queries]


def chat_url(base: str) -> str:
    """GPTAPI posts to the full chat-completions URL."""
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/completions"):
        base = base.removesuffix("/completions")
    return (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"


def target(ctx: StageContext) -> tuple[str, str, str | None, str | None]:
    """(chat URL, model name, API key env var, engine) of the model the agent talks to."""
    opts: Any = ctx.options
    if opts.url:
        if not opts.model_name:
            raise UserError(f"stage {ctx.name!r}: `url:` needs `model_name:` (the model name "
                            "the server expects)")
        return chat_url(opts.url), str(opts.model_name), opts.api_key_env, None
    ref = ctx.input("endpoint")
    art = ref.artifact or {}
    base = str(art.get("base_url") or f"<base URL of {ref.stage}>")
    return chat_url(base), str(art.get("model") or f"<model of {ref.stage}>"), \
        art.get("api_key_env"), art.get("engine")


def make_spec(opts: Any, url: str, model: str, key_env: str | None,
              engine: str | None) -> dict[str, Any]:
    """What workers/agent_run.py reads: the endpoint, the agent, its tools, the queries."""
    keep = opts.keep_special_tokens
    return {"chat_url": chat_url(url), "model": model, "api_key_env": key_env,
            "agent": opts.agent,
            "keep_special_tokens": engine != "transformers" if keep is None else keep,
            "tools": list(opts.tools), "max_turns": opts.max_turns,
            "tool_timeout": opts.tool_timeout, "request_timeout": opts.request_timeout,
            "max_new_tokens": opts.max_new_tokens, "temperature": opts.temperature,
            "meta_prompt": opts.meta_prompt, "plugin_prompt": opts.plugin_prompt,
            "tool_result_role": opts.tool_result_role, "queries": queries(opts)}


def spec(ctx: StageContext) -> dict[str, Any]:
    return make_spec(ctx.options, *target(ctx))


def plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    if not opts.queries:
        raise UserError(f"stage {ctx.name!r}: no `queries:` to run; chat with the agent "
                        "instead: internpipe agent chat RECIPE")
    if opts.api_key_env:
        import os

        if not os.environ.get(opts.api_key_env):
            raise UserError(f"stage {ctx.name!r}: api_key_env {opts.api_key_env!r} is not set")
    text = json.dumps(spec(ctx), indent=1, ensure_ascii=False)
    # The worker empties the transcripts folder and works in the scratch folder (created
    # there: planning writes nothing).
    return [Step("agent", [str(ctx.python), str(WORKER), "run", str(ctx.work / "spec.json"),
                           str(ctx.work / "transcripts"), "--scratch",
                           str(ctx.work / "scratch")],
                 tool="agent", files={"spec.json": text}, offline=True)]


def notes(ctx: StageContext) -> list[str]:
    opts: Any = ctx.options
    found = [f"{len(opts.queries)} queries, {opts.agent} agent"]
    code = [t for t in opts.tools if t in CODE_TOOLS]
    if code:
        found.append(f"{', '.join(code)} run model-written code (timeout "
                     f"{opts.tool_timeout:g}s, in work/scratch)")
    return found


PROGRESS = "internpipe-agent: "


def parse_line(line: str) -> dict[str, Any] | None:
    if not line.startswith(PROGRESS):
        return None
    try:
        data = json.loads(line.removeprefix(PROGRESS))
    except ValueError:
        return None
    return {"current": data["current"], "total": data["total"]}


def summary_line(record: dict[str, Any]) -> str:
    calls = ", ".join(f"{c['name']}→{(c['result'] or c['error'] or '')[:30]!r}"
                      for c in record.get("tool_calls", []))
    answer = (record.get("answer") or "").replace("\n", " ")[:80]
    mark = "ok" if record["status"] == "ok" else f"FAILED ({record['reason']})"
    return f"#{record['index']} {mark}: {record['query'][:50]!r}" + \
        (f" [{calls}]" if calls else "") + f" → {answer!r}"


def collect(ctx: StageContext) -> dict[str, Any]:
    opts: Any = ctx.options
    folder = ctx.work / "transcripts"
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    if len(records) != len(opts.queries):
        raise StageFailed(ctx.name, f"the agent wrote {len(records)} transcripts for "
                                    f"{len(opts.queries)} queries")
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        raise StageFailed(ctx.name, f"{len(failed)} of {len(records)} queries failed: " +
                          "; ".join(f"#{r['index']} {r['reason']}" for r in failed[:3]),
                          [summary_line(r) for r in records] +
                          [f"transcripts: {folder}"])
    shutil.copytree(folder, ctx.out / "transcripts")
    (ctx.out / "transcripts.json").write_text(json.dumps(records, indent=1,
                                                         ensure_ascii=False) + "\n")
    url, model, _, _ = target(ctx)
    return {"source": f"{opts.agent} agent on {model}", "endpoint": url, "model": model,
            "tools": list(opts.tools), "queries": len(records),
            "tool_calls": sum(len(r["tool_calls"]) for r in records),
            "seconds": round(sum(r["seconds"] for r in records), 3),
            "summary": [summary_line(r) for r in records], "transcripts": "transcripts.json"}
