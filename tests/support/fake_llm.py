"""An OpenAI-compatible server that plays a model emitting tool calls, so the agent's tool
path is deterministic. Standard library only; run as `python fake_llm.py PORT`.

The last user message picks the script:
  calc:EXPR     call Calculator with EXPR, then answer with the tool's result
  python:CODE   call PythonInterpreter with CODE, then answer with its result
  remote:EXPR   like calc:, for a tool served by agentlego-server
  malformed     always a tool call whose JSON is broken
  who are you?  "I am <the system prompt> (model <the request's model>)." (personas, compare)
  what did I say?  the user messages before this one (history)
  slow:N        N words, one every 0.2 s (an answer to stop mid-way)
  anything else a plain answer
A request with `stream: true` is answered with server-sent events, a few characters a
chunk (what LMDeploy and transformers serve do).
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
    if query.lower() == "who are you?":
        system = next((str(m["content"]) for m in messages if m.get("role") == "system"),
                      "a test model")
        return f"I am {system} (model {MODEL[0]})."
    if query.lower() == "what did i say?":
        return "You said: " + " | ".join(str(messages[i]["content"]) for i in users[:-1])
    if query.startswith("slow:"):
        return " ".join(f"w{i}" for i in range(int(query[5:])))
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

    def _stream(self, content: str, slow: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = [content[i:i + 3] for i in range(0, len(content), 3)] if not slow \
            else [w + " " for w in content.split()]
        try:
            for piece in pieces:
                chunk = {"id": "x", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.2 if slow else 0.01)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except OSError:         # the client closed the connection: it stopped the answer
            with open("stopped.txt", "a") as f:
                f.write(f"{len(pieces)}\n")

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
        MODEL[0] = str(body.get("model"))
        content = reply(body.get("messages") or [])
        if body.get("stream"):
            self._stream(content, slow=str(body["messages"][-1].get("content"))
                         .startswith("slow:"))
            return
        self._send(200, {"id": "x", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                   "total_tokens": 2}})


COUNT = itertools.count(1)
MODEL = ["fake"]
ARGS = argparse.Namespace(die_after=None, hang_after=None, answer=None)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--die-after", type=int)
    parser.add_argument("--hang-after", type=int)
    parser.add_argument("--answer", help="the plain answer to every other question")
    ARGS = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler).serve_forever()
