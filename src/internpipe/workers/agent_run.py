"""Runs inside the agent environment (Lagent 0.2.4 + AgentLego 0.2.0): a Lagent agent whose
brain is an OpenAI-compatible endpoint and whose hands are Lagent actions and AgentLego
tools (local or served by `agentlego-server`).

    agent_run.py run SPEC.json OUT_DIR     every query of the spec → a transcript each
    agent_run.py chat SPEC.json            an interactive chat on the terminal

The LLM is lagent's GPTAPI (lagent 0.2.4's LMDeploy wrappers do not work with LMDeploy 0.18)
with every request bounded: agent_llm.py. Tools that run model-written code get a timeout
and run in this process's working directory, a scratch folder chosen by internpipe.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from internpipe.workers.agent_llm import ModelCallFailed, make_llm
else:  # run by path inside the agent env: this folder is sys.path[0]
    from agent_llm import ModelCallFailed, make_llm

PROGRESS = "internpipe-agent: "


def make_tools(spec: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(plugins, interpreters): AgentLego tools and Lagent actions, in the recipe's order."""
    plugins: list[Any] = []
    interpreters: list[Any] = []
    for name in spec["tools"]:
        if name.startswith(("http://", "https://")):
            from agentlego.tools.remote import RemoteTool

            plugins += [tool.to_lagent() for tool in RemoteTool.from_server(name)]
        elif name == "PythonInterpreter":
            from lagent.actions import PythonInterpreter

            plugins.append(PythonInterpreter(timeout=int(spec["tool_timeout"])))
        elif name == "ArxivSearch":
            plugins.append(arxiv_search())
        elif name == "IPythonInterpreter":
            from lagent.actions import IPythonInterpreter

            interpreters.append(IPythonInterpreter(timeout=int(spec["tool_timeout"]),
                                                   work_dir=os.getcwd()))
        else:
            from agentlego.apis import load_tool

            plugins.append(load_tool(name, device="cpu").to_lagent())
    return plugins, interpreters


def arxiv_search() -> Any:
    """Lagent's ArxivSearch (the Lagent lesson's plugin). lagent 0.2.4 calls
    `arxiv.Search(...).results()`, which arxiv 2 deprecated (it ran `Client().results(self)`)
    and arxiv 4, pinned here, removed, so every search failed: that method is given back."""
    import arxiv
    from lagent.actions import ArxivSearch

    if not hasattr(arxiv.Search, "results"):
        arxiv.Search.results = lambda self: arxiv.Client().results(self)
    return ArxivSearch()


class Recorder:
    """What happened during one query: model calls, tool calls, malformed calls; told as it
    happens to `on_event` (the chat prints them)."""

    def __init__(self, on_event: Any = None) -> None:
        self.on_event = on_event
        self.reset()

    def reset(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.malformed: list[str] = []
        self.model_calls = 0
        self.model_seconds = 0.0
        self.last_was_tool_call = False

    def event(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, data)


def _result_text(ret: Any) -> str | None:
    try:
        return str(ret.format_result()) if ret.result else None
    except Exception:  # a tool's odd result must not break the transcript
        return str(ret.result)


def traced_executor(actions: list[Any], rec: Recorder) -> Any:
    """Lagent's ActionExecutor, recording each tool call with its arguments and result."""
    from lagent.actions import ActionExecutor

    class TracedExecutor(ActionExecutor):  # type: ignore[misc]
        def __call__(self, name: str, command: Any) -> Any:
            if name in (self.finish_action.name, self.no_action.name):
                return super().__call__(name, command)
            rec.event("tool_call", name=name, args=command)
            t0 = time.monotonic()
            ret = super().__call__(name, command)
            record = {"name": name, "args": command,
                      "state": str(getattr(ret.state, "name", ret.state)),
                      "result": _result_text(ret), "error": ret.errmsg,
                      "seconds": round(time.monotonic() - t0, 3)}
            rec.calls.append(record)
            rec.event("tool_result", **record)
            return ret

    return TracedExecutor(actions=actions)


def instrument(agent: Any, rec: Recorder, spec: dict[str, Any]) -> None:
    """Count and time the model calls; note tool calls the model wrote as broken JSON
    (Internlm2Agent skips those silently and asks again)."""
    llm = agent._llm
    chat = llm.chat

    def timed_chat(*args: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic()
        try:
            return chat(*args, **kwargs)
        finally:
            rec.model_calls += 1
            rec.model_seconds += time.monotonic() - t0

    llm.chat = timed_chat
    protocol = agent._protocol
    parse = protocol.parse

    def checked_parse(*args: Any, **kwargs: Any) -> Any:
        result = parse(*args, **kwargs)
        rec.last_was_tool_call = spec["agent"] == "internlm2" and result[0] is not None
        if spec["agent"] == "internlm2" and result[0] == "plugin":
            try:
                json.loads(result[2])
            except ValueError:
                rec.malformed.append(str(result[2])[:500])
                rec.event("malformed", text=str(result[2])[:500])
        return result

    protocol.parse = checked_parse


def prompts(spec: dict[str, Any]) -> dict[str, Any]:
    """The recipe's prompts for Internlm2Protocol; lagent's own where it sets none."""
    found: dict[str, Any] = {}
    if spec.get("meta_prompt") is not None:
        found["meta_prompt"] = spec["meta_prompt"] or None     # "" = no system prompt
    if spec.get("plugin_prompt") is not None:
        found["plugin_prompt"] = spec["plugin_prompt"]
    return found


def make_agent(spec: dict[str, Any], rec: Recorder) -> Any:
    llm = make_llm(spec)
    plugins, interpreters = make_tools(spec)
    if spec["agent"] == "react":
        from lagent.agents import ReAct

        agent = ReAct(llm=llm, action_executor=traced_executor(plugins + interpreters, rec),
                      max_turn=spec["max_turns"])
        if spec.get("tool_result_role") == "user":
            # ReAct sends tool results as system messages of its own making.
            fmt = agent._protocol.format_response
            agent._protocol.format_response = lambda ret: {**fmt(ret), "role": "user"}
    else:
        from lagent.agents.internlm2_agent import Internlm2Agent, Internlm2Protocol

        agent = Internlm2Agent(
            llm=llm, plugin_executor=traced_executor(plugins, rec) if plugins else None,
            interpreter_executor=traced_executor(interpreters, rec) if interpreters
            else None, protocol=Internlm2Protocol(**prompts(spec)), max_turn=spec["max_turns"])
    instrument(agent, rec, spec)
    return agent


def _plain(value: Any) -> Any:
    """Messages as JSON: lagent keeps dicts, ActionReturns and enums in them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def finished(spec: dict[str, Any], ret: Any, rec: Recorder) -> bool:
    """Did the agent reach a final answer within max_turns? (Neither agent says so itself:
    Internlm2Agent's state is END either way, ReAct answers with a stock apology.)"""
    if spec["agent"] == "react":
        return bool(ret.response != "Sorry that I cannot answer your question.")
    return not (rec.model_calls >= spec["max_turns"] and rec.last_was_tool_call)


def ask(agent: Any, rec: Recorder, spec: dict[str, Any], messages: Any) -> dict[str, Any]:
    rec.reset()
    t0 = time.monotonic()
    record: dict[str, Any] = {"status": "ok", "reason": None, "answer": None}
    try:
        ret = agent.chat(messages)
        record["answer"] = (ret.response or "").strip()
        record["messages"] = _plain(ret.inner_steps)
        if not finished(spec, ret, rec):
            reason = f"no final answer within max_turns ({spec['max_turns']})"
            if rec.malformed:
                reason = f"the model wrote {len(rec.malformed)} malformed tool call(s) and " \
                         + reason
            record.update(status="failed", reason=reason)
    except ModelCallFailed as exc:   # bounded already: deadline and retries (agent_llm)
        record.update(status="failed", reason=f"the model call failed: {exc}",
                      unreachable=exc.unreachable)
    except Exception as exc:  # one query's error is that query's failure
        record.update(status="failed", reason=f"the agent raised {type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc().splitlines()[-12:])
    record.update(tool_calls=rec.calls, malformed_tool_calls=rec.malformed,
                  model_calls=rec.model_calls, model_seconds=round(rec.model_seconds, 3),
                  seconds=round(time.monotonic() - t0, 3))
    return record


def not_asked(reason: str) -> dict[str, Any]:
    return {"status": "failed", "reason": reason, "answer": None, "tool_calls": [],
            "malformed_tool_calls": [], "model_calls": 0, "model_seconds": 0, "seconds": 0}


def run(spec: dict[str, Any], out_dir: str) -> int:
    rec = Recorder()
    agent = make_agent(spec, rec)
    os.makedirs(out_dir, exist_ok=True)
    queries = spec["queries"]
    unreachable: str | None = None    # once the endpoint is gone, the rest are not asked
    for i, query in enumerate(queries, start=1):
        record = {"index": i, "query": query["text"], "expect": query["expect"],
                  **(not_asked(unreachable) if unreachable
                     else ask(agent, rec, spec, query["text"]))}
        if record.pop("unreachable", False):
            unreachable = f"not asked: query #{i} could not reach the model"
        answer = (record.get("answer") or "").lower()
        record["missing"] = [e for e in query["expect"] if e.lower() not in answer]
        if record["status"] == "ok" and record["missing"]:
            record.update(status="failed", reason="the answer lacks " +
                          ", ".join(repr(e) for e in record["missing"]))
        with open(os.path.join(out_dir, f"{i:03d}.json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, ensure_ascii=False)
        print(PROGRESS + json.dumps({"current": i, "total": len(queries),
                                     "status": record["status"]}), flush=True)
    return 0


def chat(spec: dict[str, Any]) -> int:
    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "tool_call":
            print(f"  ⚙ {data['name']} {json.dumps(data['args'], ensure_ascii=False)}",
                  flush=True)
        elif kind == "tool_result":
            text = data["result"] if data["error"] is None else f"error: {data['error']}"
            print(f"  ↳ {str(text)[:400]}", flush=True)
        elif kind == "malformed":
            print(f"  ✘ malformed tool call: {data['text'][:200]}", flush=True)

    rec = Recorder(show)
    agent = make_agent(spec, rec)
    tools = ", ".join(spec["tools"]) or "no tools"
    print(f"agent chat: {spec['agent']} agent on {spec['model']} at {spec['chat_url']}; "
          f"tools: {tools}", flush=True)
    print("type /reset to forget the conversation, /exit or Ctrl-D to leave", flush=True)
    history: list[dict[str, Any]] = []
    while True:
        try:
            line = input("you> ")
        except EOFError:
            print()
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return 0
        if text == "/reset":
            history = []
            print("(conversation forgotten)", flush=True)
            continue
        user = {"role": "user", "content": text}
        record = ask(agent, rec, spec, [*history, user])
        if record["status"] == "ok":
            print(f"agent> {record['answer']}", flush=True)
            history += [user, {"role": "assistant", "content": record["answer"] or ""}]
        else:
            print(f"agent✘ {record['reason']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["run", "chat"])
    parser.add_argument("spec")
    parser.add_argument("out_dir", nargs="?")
    parser.add_argument("--scratch", help="the folder tools run model-written code in")
    args = parser.parse_args()
    if args.out_dir:
        import shutil

        shutil.rmtree(args.out_dir, ignore_errors=True)   # a previous run's transcripts
    if args.scratch:
        os.makedirs(args.scratch, exist_ok=True)
        os.chdir(args.scratch)
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    # Model calls are bounded in agent_llm; this bounds the rest (remote tools' requests).
    socket.setdefaulttimeout(float(spec["request_timeout"]))
    if args.mode == "run":
        return run(spec, args.out_dir)
    return chat(spec)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
