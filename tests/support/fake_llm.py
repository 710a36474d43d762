"""An OpenAI-compatible server that plays a model emitting tool calls, so the agent's tool
path is deterministic. Standard library only; run as `python fake_llm.py PORT`.

The last user message picks the script:
  calc:EXPR     call Calculator with EXPR, then answer with the tool's result
  python:CODE   call PythonInterpreter with CODE, then answer with its result
  remote:EXPR   like calc:, for a tool served by agentlego-server
  malformed     always a tool call whose JSON is broken
  anything else a plain answer
It speaks both protocols: ReAct's (when the prompt describes "Action Input") and
InternLM2's action tokens. Each request is appended to requests.jsonl in the cwd.

`--answer TEXT`: the plain answer (to a question that is none of the above).
`--die-after N`: the process exits on request N+1 without answering it (a server that dies
mid-run); `--hang-after N`: requests after the N-th never get an answer.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CALL = {"internlm2": "I will use a tool.<|action_start|><|plugin|>\n{call}<|action_end|>\n",
        "react": "Thought: I need a tool.\nAction: {name}\nAction Input: {args}\n"}
FINAL = {"internlm2": "The result is {result}.",
         "react": "Thought: I know it now.\nFinal Answer: The result is {result}."}


def reply(messages: list[dict[str, Any]]) -> str:
    text = " ".join(str(m.get("content")) for m in messages)
    protocol = "react" if "Action Input" in text else "internlm2"
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        return "No question."
    last = users[-1]
    query = str(messages[last]["content"])
    after = [m for m in messages[last + 1:] if m.get("role") != "assistant"
             and "Final Answer" not in str(m.get("content"))]
    if query == "malformed":
        return CALL["internlm2"].format(call='{"name": "Calculator", "parameters": {oops')
    kind, _, arg = query.partition(":")
    tools = {"calc": ("Calculator", "expression"), "remote": ("Calculator", "expression"),
             "python": ("PythonInterpreter", "command")}
    if kind not in tools:
        return ARGS.answer or "Hello, I am a test model."
    if after:                                  # a tool answered: report what it said
        result = str(after[-1]["content"]).removeprefix("Response:").strip()
        return FINAL[protocol].format(result=result)
    name, param = tools[kind]
    args = json.dumps({param: arg})
    if protocol == "react":
        return CALL["react"].format(name=name, args=args)
    return CALL["internlm2"].format(call=json.dumps({"name": name,
                                                     "parameters": {param: arg}}))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path in ("/health", "/v1/models"):
            self._send(200, {"status": "ok", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        seen = next(COUNT)
        if ARGS.die_after is not None and seen > ARGS.die_after:
            os._exit(1)
        while ARGS.hang_after is not None and seen > ARGS.hang_after:
            time.sleep(1)
        with open("requests.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(body) + "\n")
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found", "code": "not_found"}})
            return
        content = reply(body.get("messages") or [])
        self._send(200, {"id": "x", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                   "total_tokens": 2}})


COUNT = itertools.count(1)
ARGS = argparse.Namespace(die_after=None, hang_after=None, answer=None)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--die-after", type=int)
    parser.add_argument("--hang-after", type=int)
    parser.add_argument("--answer", help="the plain answer to every other question")
    ARGS = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler).serve_forever()
