"""The load test's pure parts (workers/loadstats.py): percentiles, Poisson arrivals,
prompts, token accounting."""

from __future__ import annotations

import importlib.util
import itertools
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

import pytest

WORKERS = Path(__file__).resolve().parents[2] / "src" / "internpipe" / "workers"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loadstats", WORKERS / "loadstats.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadstats"] = module
    spec.loader.exec_module(module)
    return module


ls = _load()


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]       # 1..100
    found = ls.percentiles(values)
    # numpy.percentile(range(1, 101), [50, 90, 95, 99]) = 50.5, 90.1, 95.05, 99.01
    assert found["p50"] == pytest.approx(50.5)
    assert found["p90"] == pytest.approx(90.1)
    assert found["p95"] == pytest.approx(95.05)
    assert found["p99"] == pytest.approx(99.01)
    assert found["mean"] == pytest.approx(50.5)
    assert ls.percentiles([7.0]) == {"p50": 7.0, "p90": 7.0, "p95": 7.0, "p99": 7.0, "mean": 7.0}
    assert ls.percentiles([]) == {"p50": None, "p90": None, "p95": None, "p99": None,
                                 "mean": None}


def test_poisson_arrivals_are_seeded_with_the_asked_rate() -> None:
    times = ls.poisson_arrivals(4000, 8.0, seed=3)
    assert times == ls.poisson_arrivals(4000, 8.0, seed=3)
    assert times != ls.poisson_arrivals(4000, 8.0, seed=4)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 0 and all(g >= 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / 8, rel=0.06)
    # exponential gaps: the standard deviation equals the mean (a fixed pace would be 0)
    assert statistics.pstdev(gaps) == pytest.approx(1 / 8, rel=0.1)
    assert ls.poisson_arrivals(3, None, seed=0) == [0.0, 0.0, 0.0]


def record(ttft: float, latency: float, chunks: list[float], usage: tuple[int, int] | None,
           ok: bool = True) -> dict:
    return {"ok": ok, "ttft": ttft, "latency": latency, "chunk_times": chunks,
            "prompt_tokens": usage[0] if usage else None,
            "completion_tokens": usage[1] if usage else None,
            "prompt_text": "Tell me about yourself.", "error": None if ok else "Boom: x"}


def test_tokens_come_from_usage_not_from_chunks() -> None:
    # transformers serve sends 16 tokens in 11 content chunks: counting chunks undercounts
    recs = [record(0.1, 1.6, [0.1 + 0.1 * i for i in range(11)], (22, 16)),
            record(0.2, 1.7, [0.2 + 0.1 * i for i in range(11)], (20, 16)),
            record(0.0, 0.5, [], None, ok=False)]
    run = ls.summarise(recs, concurrency=2, rate=None, duration=2.0)
    assert run["token_source"] == "usage"
    assert (run["input_tokens"], run["output_tokens"]) == (42, 32)
    assert run["output_tokens_per_s"] == 16.0 and run["requests_per_s"] == 1.0
    assert (run["requests"], run["ok"], run["failed"]) == (3, 2, 1)
    assert run["errors"] == ["Boom: x"]
    # TPOT: (latency − TTFT) / (tokens − 1) = 1.5 / 15 = 100 ms for both requests
    assert run["tpot_ms"]["p50"] == pytest.approx(100.0)
    assert run["itl_ms"]["mean"] == pytest.approx(100.0)
    assert run["ttft_ms"]["p50"] == pytest.approx(150.0)
    assert run["latency_ms"]["p99"] == pytest.approx(1699.0)


def test_without_usage_the_run_says_estimate() -> None:
    recs = [record(0.1, 1.0, [0.1, 0.2, 0.3], (10, 3)), record(0.1, 1.0, [0.1, 0.2], None)]
    run = ls.summarise(recs, concurrency=1, rate=2.0, duration=1.0)
    assert run["token_source"] == "estimate" and run["rate"] == 2.0
    assert run["output_tokens"] == 5          # content chunks, the fallback
    assert run["input_tokens"] == 2 * ls.estimate_tokens("Tell me about yourself.")
    assert ls.estimate_tokens("你好世界") == 4 and ls.estimate_tokens("abcdefgh") == 2


def test_datasets_messages_and_prompts(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"messages": [{"role": "system", "content": "S"},
                                          {"role": "user", "content": "Q"},
                                          {"role": "assistant", "content": "A"}]}) + "\n\n" +
                 json.dumps({"prompt": "P"}) + "\n" + json.dumps({"question": "Q2"}) + "\n")
    found = ls.read_dataset(f)
    assert found == [[{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
                     [{"role": "user", "content": "P"}], [{"role": "user", "content": "Q2"}]]
    f.write_text(json.dumps({"prompt": "ok"}) + "\n" + json.dumps({"answer": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"p.jsonl:2: no `messages`"):
        ls.read_dataset(f)


def test_prompts_vary_in_a_seeded_order() -> None:
    pool = [[{"role": "user", "content": p}] for p in ls.BUNDLED_PROMPTS]
    order = ls.shuffled(pool, 40, seed=1)
    assert order == ls.shuffled(pool, 40, seed=1) and order != ls.shuffled(pool, 40, seed=2)
    first = [m[0]["content"] for m in order[:len(pool)]]
    assert sorted(first) == sorted(ls.BUNDLED_PROMPTS)     # the whole set before a repeat
    assert len(ls.BUNDLED_PROMPTS) >= 30
