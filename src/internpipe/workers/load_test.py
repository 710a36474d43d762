"""An asyncio load test of an OpenAI-compatible endpoint with the official `openai` client.

    python load_test.py BASE_URL MODEL --concurrency N --requests M [--max-tokens T]
        [--api-key-env NAME] [--prompt TEXT]

Streams every request (to time the first token). Prints one JSON line: requests/s, output
tokens/s, time to first token and latency p50/p95, failures.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one(client: Any, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first = None
    tokens = 0
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
        temperature=0, stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter() - t0
            tokens += 1   # one content delta per generated token on both engines
    return {"latency": time.perf_counter() - t0, "ttft": first, "tokens": tokens}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from openai import AsyncOpenAI

    key = os.environ.get(args.api_key_env, "") if args.api_key_env else ""
    client = AsyncOpenAI(base_url=args.base_url, api_key=key or "EMPTY", max_retries=0,
                         timeout=300)
    queue = list(range(args.requests))
    results: list[dict[str, Any]] = []
    failures: list[str] = []

    async def worker() -> None:
        while queue:
            queue.pop()
            try:
                results.append(await one(client, args.model, args.prompt, args.max_tokens))
            except Exception as exc:  # counted, reported
                failures.append(f"{type(exc).__name__}: {exc}"[:200])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    wall = time.perf_counter() - t0
    latencies = [r["latency"] for r in results]
    ttfts = [r["ttft"] for r in results if r["ttft"] is not None]
    tokens = sum(r["tokens"] for r in results)
    return {"requests": args.requests, "concurrency": args.concurrency, "ok": len(results),
            "failed": len(failures), "errors": failures[:5], "seconds": round(wall, 3),
            "requests_per_s": round(len(results) / wall, 3) if wall else None,
            "output_tokens_per_s": round(tokens / wall, 2) if wall else None,
            "ttft_p50": pct(ttfts, 0.5), "ttft_p95": pct(ttfts, 0.95),
            "latency_p50": pct(latencies, 0.5), "latency_p95": pct(latencies, 0.95),
            "latency_mean": statistics.fmean(latencies) if latencies else None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base_url")
    ap.add_argument("model")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--api-key-env")
    ap.add_argument("--prompt", default="Tell me about yourself.")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    print("INTERNPIPE-BENCH " + json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
