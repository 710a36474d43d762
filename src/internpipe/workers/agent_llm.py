"""Runs inside the agent environment: the agent's model, lagent 0.2.4's GPTAPI with every
request bounded (imported by agent_run.py).

GPTAPI posts without a timeout and retries a refused connection forever without counting
(17,520 retries in 4 minutes against a stopped server, one log line each). Here one model
call has a deadline, `request_timeout` seconds for connecting, waiting, reading and retrying
together, and at most `retries` retries after a connection error or a 429/5xx answer, each
after a backoff (1 s, 2 s, 4 s …) that the deadline also bounds. Then the call raises
ModelCallFailed, which names the URL and the last problem; the agent's query fails with it.

GPTAPI also sends its `model_type` as the request's model and knows only gpt/internlm/qwen
names; servers name models freely (transformers serve: the folder path), so the request's
model is replaced after GPTAPI built it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_SECONDS = 1.0


class ModelCallFailed(RuntimeError):
    """A model call that got no answer; `unreachable` when no attempt reached the server."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


def root_cause(exc: BaseException) -> str:
    """The innermost error of requests' wrapped chain, e.g. `ConnectionRefusedError: [Errno
    111] Connection refused` instead of urllib3's pool message around it."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    inner = seen[-1]
    return f"{type(inner).__name__}: {str(inner)[:200]}"


def read_before(reply: Any, deadline: float, timeout: float) -> bytes:
    """The body, chunk by chunk, failing once the deadline passed: a server that trickles
    bytes gets at most one more read, not forever."""
    import requests

    chunks = []
    for chunk in reply.iter_content(65536):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise requests.ReadTimeout(f"the answer took longer than {timeout:g}s")
    return b"".join(chunks)


def answer_of(status: int, body: bytes) -> str | None:
    """The reply's text; None for a status worth retrying; ModelCallFailed otherwise."""
    if status in RETRY_STATUS:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status >= 400 or not isinstance(data, dict) or "error" in data:
        raise ModelCallFailed(f"the server answered HTTP {status}: "
                              f"{body[:300].decode(errors='replace')}", unreachable=False)
    try:
        return str(data["choices"][0]["message"]["content"]).strip()
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelCallFailed("the server's answer is not a chat completion: "
                              f"{body[:300].decode(errors='replace')}", unreachable=False) from exc


def post_chat(url: str, header: dict[str, str], data: dict[str, Any], timeout: float,
              retries: int) -> str:
    """One model call: POST until an answer, `retries` retries or `timeout` seconds."""
    import requests

    deadline = time.monotonic() + timeout
    problems: list[str] = []
    reached = False
    for attempt in range(retries + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            with requests.post(url, headers=header, data=json.dumps(data), stream=True,
                               timeout=(left, left)) as reply:
                reached = True
                answer = answer_of(reply.status_code, read_before(reply, deadline, timeout))
            if answer is not None:
                return answer
            problems.append(f"HTTP {reply.status_code}")
        except requests.Timeout as exc:
            reached = reached or isinstance(exc, requests.ReadTimeout)
            problems.append(f"no answer within {timeout:g}s (request_timeout)")
        except requests.RequestException as exc:
            problems.append(root_cause(exc))
        pause = BACKOFF_SECONDS * 2 ** attempt
        if attempt == retries or time.monotonic() + pause >= deadline:
            break
        print(f"internpipe: model call to {url} failed ({problems[-1]}); retry "
              f"{attempt + 1} of {retries} in {pause:g}s", flush=True)
        time.sleep(pause)
    raise ModelCallFailed(f"no answer from {url} after {len(problems)} attempt(s) within "
                          f"{timeout:g}s: " + "; then ".join(dict.fromkeys(problems)),
                          unreachable=not reached)


def make_llm(spec: dict[str, Any]) -> Any:
    from lagent.llms import GPTAPI

    class Endpoint(GPTAPI):  # type: ignore[misc]
        def generate_request_data(self, model_type: str, messages: list[dict[str, Any]],
                                  gen_params: dict[str, Any],
                                  json_mode: bool = False) -> Any:
            gen_params = {k: v for k, v in gen_params.items() if k not in ("top_k",)}
            header, data = super().generate_request_data("internlm2", messages, gen_params,
                                                          json_mode)
            data["model"] = spec["model"]
            if spec.get("keep_special_tokens"):
                # LMDeploy's field: InternLM2's tool-call markers are special tokens.
                data["skip_special_tokens"] = False
            else:
                data.pop("skip_special_tokens", None)   # strict servers reject it (422)
            return header, data

        def _chat(self, messages: list[dict[str, Any]], **gen_params: Any) -> str:
            header, data = self.generate_request_data(self.model_type, messages, gen_params,
                                                      self.json_mode)
            header["Authorization"] = f"Bearer {self.keys[0]}"
            return post_chat(self.url, header, data, float(spec["request_timeout"]),
                             int(spec["retries"]))

        def _stream_chat(self, messages: list[dict[str, Any]], **gen_params: Any) -> Any:
            raise NotImplementedError("internpipe's agent asks for whole answers")

    key_env = spec.get("api_key_env")
    key = os.environ.get(key_env, "") if key_env else "EMPTY"
    # lagent's own role mapping, with the tool results' role from the recipe.
    template = [{"role": "system", "api_role": "system"}, {"role": "user", "api_role": "user"},
                {"role": "assistant", "api_role": "assistant"},
                {"role": "environment", "api_role": spec.get("tool_result_role", "system")}]
    return Endpoint(model_type="internlm2", key=key, openai_api_base=spec["chat_url"],
                    meta_template=template, query_per_second=100,
                    max_new_tokens=spec["max_new_tokens"], temperature=spec["temperature"],
                    top_p=0.8, stop_words=["<|im_end|>", "<|action_end|>"]
                    if spec["agent"] == "internlm2" else None)
