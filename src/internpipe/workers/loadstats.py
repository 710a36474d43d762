"""The pure parts of the load test (workers/load_test.py): prompts, arrival times, token
accounting and the figures of a run. Stdlib only: it runs inside a tool env, and the unit
tests import it by path.

The figures are those `evalscope perf` reports, computed the same way: TTFT (request sent →
first content), TPOT ((latency − TTFT) / (output tokens − 1), per request), ITL (the gaps
between content chunks, pooled over requests), latency; percentiles by linear
interpolation between closest ranks (numpy's default).
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

PERCENTILES = (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99))
MAX_DATASET_BYTES = 64 << 20       # a prompt set, not a corpus
PROMPT_KEYS = ("prompt", "text", "question", "instruction", "query", "input")

# Varied prompts (lengths, languages, tasks), so no two requests in a row share a prefix the
# server could cache; a few hundred tokens at most each.
BUNDLED_PROMPTS = [
    "Tell me about yourself.",
    "What is the capital of France, and why did it become the capital?",
    "Write a haiku about autumn leaves.",
    "Explain the difference between a list and a tuple in Python.",
    "请用三句话介绍一下长城。",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "What is 37 multiplied by 48? Show your working.",
    "Give me three tips for learning a new language.",
    "如何在家里种植西红柿？",
    "Describe how a rainbow forms.",
    "Translate 'good morning, how are you?' into Chinese.",
    "List five animals that live in the ocean and one fact about each.",
    "Why is the sky blue? Answer for a ten-year-old.",
    "Write a short email asking a colleague to reschedule a meeting to Friday.",
    "什么是机器学习？请举一个例子。",
    "What are the main causes of the seasons on Earth?",
    "Suggest a name for a small coffee shop near a university.",
    "Explain what an API is to someone who does not program.",
    "Write a limerick about a cat who learned to code.",
    "请解释一下光合作用的过程。",
    "How do vaccines train the immune system?",
    "Compare trains and planes for a 500 km journey.",
    "Give a recipe for a simple vegetable soup.",
    "What does a compiler do? Keep it under 80 words.",
    "写一首关于月亮的短诗。",
    "What are three good habits for writing clean code?",
    "Explain recursion with an everyday example.",
    "Plan a one-day visit to Shanghai for a first-time tourist.",
    "What is the Pythagorean theorem and where is it used?",
    "简单介绍一下书生·浦语大模型。",
    "Describe the water cycle step by step.",
    "Why do we need sleep?",
]


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p95/p99/mean of the values (None for each when there are none)."""
    if not values:
        return {**{name: None for name, _ in PERCENTILES}, "mean": None}
    ordered = sorted(values)
    found: dict[str, float | None] = {name: _interpolated(ordered, q)
                                      for name, q in PERCENTILES}
    found["mean"] = sum(ordered) / len(ordered)
    return found


def _interpolated(ordered: list[float], q: float) -> float:
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def poisson_arrivals(count: int, rate: float | None, seed: int) -> list[float]:
    """The send time (seconds from the start) of each request: exponential gaps of mean
    1/rate (a Poisson process, seeded so runs compare); all at 0 when rate is None (as fast
    as the concurrency allows)."""
    if rate is None:
        return [0.0] * count
    rng = random.Random(seed)
    times, now = [], 0.0
    for _ in range(count):
        times.append(now)
        now += rng.expovariate(rate)
    return times


def read_dataset(path: Path) -> list[list[dict[str, str]]]:
    """Chat messages per JSONL line: {"messages": [...]} (a trailing assistant answer is
    dropped: the server writes its own), or a string under one of PROMPT_KEYS. Raises
    ValueError naming the line."""
    if path.stat().st_size > MAX_DATASET_BYTES:
        raise ValueError(f"{path}: larger than {MAX_DATASET_BYTES >> 20} MiB")
    found = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                found.append(_messages(json.loads(line)))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
    if not found:
        raise ValueError(f"{path}: no prompts in the file")
    return found


def _messages(record: Any) -> list[dict[str, str]]:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    messages = record.get("messages")
    if isinstance(messages, list):
        kept = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages
                if isinstance(m, dict) and "role" in m and "content" in m]
        while kept and kept[-1]["role"] == "assistant":
            kept.pop()
        if kept:
            return kept
        raise ValueError("`messages` has no user message")
    for key in PROMPT_KEYS:
        if isinstance(record.get(key), str) and record[key].strip():
            return [{"role": "user", "content": record[key]}]
    raise ValueError(f"no `messages` and no prompt under {', '.join(PROMPT_KEYS)}")


def shuffled(prompts: list[list[dict[str, str]]], count: int, seed: int
             ) -> list[list[dict[str, str]]]:
    """`count` prompts in a seeded order, cycling through the whole set before repeating."""
    rng = random.Random(seed)
    order: list[list[dict[str, str]]] = []
    while len(order) < count:
        batch = list(prompts)
        rng.shuffle(batch)
        order += batch
    return order[:count]


def estimate_tokens(text: str) -> int:
    """A token count when the server sends no usage: about 4 characters a token in English,
    1 a token for CJK characters."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")
    return cjk + max(0, (len(text) - cjk + 3) // 4)


def summarise(records: list[dict[str, Any]], concurrency: int, rate: float | None,
              duration: float) -> dict[str, Any]:
    """A run's figures (the bench file's `runs` entry) from its requests' records: each has
    ok, latency, ttft, chunk_times (seconds since its start, of each content chunk),
    prompt_tokens / completion_tokens (the server's usage, or None), text, prompt_text."""
    ok = [r for r in records if r["ok"]]
    from_usage = bool(ok) and all(r["completion_tokens"] is not None for r in ok)
    tpots, itls = [], []
    inputs = outputs = 0
    for r in ok:
        out = r["completion_tokens"] if from_usage else len(r["chunk_times"])
        inputs += r["prompt_tokens"] if from_usage and r["prompt_tokens"] is not None else \
            estimate_tokens(r["prompt_text"])
        outputs += out
        if r["ttft"] is not None and out > 1:
            tpots.append((r["latency"] - r["ttft"]) / (out - 1))
        chunks = r["chunk_times"]
        itls += [b - a for a, b in itertools.pairwise(chunks)]
    errors = list(dict.fromkeys(r["error"] for r in records if not r["ok"]))
    return {"concurrency": concurrency, "rate": rate, "requests": len(records),
            "ok": len(ok), "failed": len(records) - len(ok),
            "duration_s": round(duration, 3),
            "requests_per_s": round(len(ok) / duration, 3) if duration > 0 else 0.0,
            "output_tokens_per_s": round(outputs / duration, 2) if duration > 0 else 0.0,
            "input_tokens": inputs, "output_tokens": outputs,
            "token_source": "usage" if from_usage else "estimate",
            "ttft_ms": _ms([r["ttft"] for r in ok if r["ttft"] is not None]),
            "tpot_ms": _ms(tpots), "itl_ms": _ms(itls),
            "latency_ms": _ms([r["latency"] for r in ok]), "errors": errors[:5]}


def _ms(seconds: list[float]) -> dict[str, float | None]:
    return {k: None if v is None else round(v * 1000, 2)
            for k, v in percentiles(seconds).items()}
