"""A load test of an OpenAI-compatible endpoint with the official `openai` client (asyncio,
streaming), measuring what `evalscope perf` measures (figures in workers/loadstats.py).

    python load_test.py BASE_URL MODEL [-c N]... [--requests M] [--max-tokens T]
        [--rate R] [--seed S] [--warmup W] [--dataset FILE] [--api-key-env NAME]

Token counts come from the server's `usage` (stream_options include_usage); a run whose
server sends none is counted by estimate and says so (`token_source`). Prompts are varied
(a bundled set, or --dataset JSONL) in a seeded order; W warm-up requests go first and are
not counted; with --rate, requests are sent at Poisson arrival times (seeded), at most N in
flight. Each concurrency is one run. Prints one line `INTERNPIPE-BENCH {json}`: the runs.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from internpipe.workers import loadstats
else:  # run by path inside a tool env: this folder is put first on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import loadstats

PROGRESS = "internpipe-progress: "


async def one(client: Any, model: str, messages: list[dict[str, str]], max_tokens: int
              ) -> dict[str, Any]:
    """One streamed request: its timings, usage (or None) and text."""
    record: dict[str, Any] = {"ok": False, "ttft": None, "chunk_times": [],
                              "prompt_tokens": None, "completion_tokens": None,
                              "prompt_text": " ".join(m["content"] for m in messages),
                              "latency": 0.0, "error": None}
    text: list[str] = []
    t0 = time.perf_counter()
    try:
        stream = await client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, temperature=0,
            stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.usage is not None:
                record["prompt_tokens"] = chunk.usage.prompt_tokens
                record["completion_tokens"] = chunk.usage.completion_tokens
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None and delta.content:
                now = time.perf_counter() - t0
                if record["ttft"] is None:
                    record["ttft"] = now
                record["chunk_times"].append(now)
                text.append(delta.content)
        record["ok"] = True
    except Exception as exc:  # counted and reported with the run, never raised
        record["error"] = f"{type(exc).__name__}: {exc}"[:200]
    record["latency"] = time.perf_counter() - t0
    record["text"] = "".join(text)
    return record


async def measure(client: Any, args: argparse.Namespace, concurrency: int,
                  prompts: list[list[dict[str, str]]], seed: int) -> dict[str, Any]:
    """One run: `requests` requests, at most `concurrency` in flight, sent at Poisson
    arrival times when --rate is given."""
    arrivals = loadstats.poisson_arrivals(len(prompts), args.rate, seed)
    gate = asyncio.Semaphore(concurrency)
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()

    async def send(at: float, messages: list[dict[str, str]]) -> None:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        async with gate:
            records.append(await one(client, args.model, messages, args.max_tokens))
        print(PROGRESS + json.dumps({"current": len(records), "total": len(prompts),
                                     "unit": "request", "concurrency": concurrency}),
              flush=True)

    await asyncio.gather(*(send(at, m) for at, m in zip(arrivals, prompts, strict=True)))
    return loadstats.summarise(records, concurrency, args.rate, time.perf_counter() - t0)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from openai import AsyncOpenAI

    key = os.environ.get(args.api_key_env, "") if args.api_key_env else ""
    client = AsyncOpenAI(base_url=args.base_url, api_key=key or "EMPTY", max_retries=0,
                         timeout=args.timeout)
    pool = loadstats.read_dataset(Path(args.dataset)) if args.dataset else \
        [[{"role": "user", "content": p}] for p in loadstats.BUNDLED_PROMPTS]
    order = loadstats.shuffled(pool, args.warmup + args.requests * len(args.concurrency),
                               args.seed)
    # The server's first requests (compilation, allocations) are not counted; they go at
    # most as many at a time as the largest run sends.
    if args.warmup:
        await measure(client, args, max(args.concurrency), order[:args.warmup], args.seed)
    runs = []
    for i, c in enumerate(args.concurrency):
        start = args.warmup + i * args.requests
        runs.append(await measure(client, args, c, order[start:start + args.requests],
                                  args.seed + i))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("model")
    ap.add_argument("-c", "--concurrency", type=int, action="append")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dataset")
    ap.add_argument("--api-key-env")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    args.concurrency = args.concurrency or [4]
    try:
        runs = asyncio.run(run(args))
    except (OSError, ValueError) as exc:
        print(f"internpipe-error: {exc}", flush=True)
        return 2
    print("INTERNPIPE-BENCH " + json.dumps({"runs": runs}), flush=True)
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
