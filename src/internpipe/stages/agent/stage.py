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
import shutil
from typing import Any

from internpipe.artifacts import TranscriptsArtifact
from internpipe.errors import StageFailed
from internpipe.stages import StageContext, Step, base
from internpipe.stages.agent.options import (
    CODE_TOOLS,
    INPUTS,
    KIND,
    PRODUCES,
    Options,
    check,
)
from internpipe.stages.base import WORKERS

__all__ = ["INPUTS", "KIND", "PRODUCES", "Options", "check"]

VERSION = 1
NOT_FINGERPRINTED = base.NOT_FINGERPRINTED
SERVICE = base.SERVICE
SLURM_NATIVE = base.SLURM_NATIVE
serve = base.serve
local_files = base.no_local_files
keeps_serving = base.never_keeps_serving

WORKER = WORKERS / "agent_run.py"
# Retries of one model call after a connection error or a 429/5xx answer, all within its
# request_timeout (workers/agent_llm.py): lagent's own GPTAPI retries a refused connection
# forever.
MODEL_CALL_RETRIES = 2


def tool(options: Options, device: str) -> str | None:
    return "agent"


def queries(options: Options) -> list[dict[str, Any]]:
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
    opts = ctx.options_as(Options)
    if opts.url:
        return chat_url(opts.url), str(opts.model_name), opts.api_key_env, None
    ref = ctx.input("endpoint")
    art = ref.endpoint()
    base = str(art.get("base_url") or f"<base URL of {ref.stage}>")
    return chat_url(base), str(art.get("model") or f"<model of {ref.stage}>"), \
        art.get("api_key_env"), art.get("engine")


def make_spec(opts: Options, url: str, model: str, key_env: str | None,
              engine: str | None) -> dict[str, Any]:
    """What workers/agent_run.py reads: the endpoint, the agent, its tools, the queries."""
    keep = opts.keep_special_tokens
    return {"chat_url": chat_url(url), "model": model, "api_key_env": key_env,
            "agent": opts.agent,
            "keep_special_tokens": engine != "transformers" if keep is None else keep,
            "tools": list(opts.tools), "max_turns": opts.max_turns,
            "tool_timeout": opts.tool_timeout, "request_timeout": opts.request_timeout,
            "retries": MODEL_CALL_RETRIES,
            "max_new_tokens": opts.max_new_tokens, "temperature": opts.temperature,
            "meta_prompt": opts.meta_prompt, "plugin_prompt": opts.plugin_prompt,
            "tool_result_role": opts.tool_result_role, "queries": queries(opts)}


def spec(ctx: StageContext) -> dict[str, Any]:
    return make_spec(ctx.options_as(Options), *target(ctx))


def plan(ctx: StageContext) -> list[Step]:
    opts = ctx.options_as(Options)
    if not opts.queries:
        raise ctx.refuse("no `queries:` to run; chat with the agent instead: internpipe "
                         "agent chat RECIPE", "queries")
    if opts.api_key_env:
        import os

        if not os.environ.get(opts.api_key_env):
            raise ctx.refuse(f"api_key_env {opts.api_key_env!r} is not set", "api_key_env")
    text = json.dumps(spec(ctx), indent=1, ensure_ascii=False)
    # The worker empties the transcripts folder and works in the scratch folder (created
    # there: planning writes nothing).
    return [Step("agent", [str(ctx.python), str(WORKER), "run", str(ctx.work / "spec.json"),
                           str(ctx.work / "transcripts"), "--scratch",
                           str(ctx.work / "scratch")],
                 tool="agent", files={"spec.json": text}, offline=True)]


def notes(ctx: StageContext) -> list[str]:
    opts = ctx.options_as(Options)
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
    return {"current": data["current"], "total": data["total"], "unit": "query"}


def summary_line(record: dict[str, Any]) -> str:
    calls = ", ".join(f"{c['name']}→{(c['result'] or c['error'] or '')[:30]!r}"
                      for c in record.get("tool_calls", []))
    answer = (record.get("answer") or "").replace("\n", " ")[:80]
    mark = "ok" if record["status"] == "ok" else f"FAILED ({record['reason']})"
    return f"#{record['index']} {mark}: {record['query'][:50]!r}" + \
        (f" [{calls}]" if calls else "") + f" → {answer!r}"


def collect(ctx: StageContext) -> TranscriptsArtifact:
    opts = ctx.options_as(Options)
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
