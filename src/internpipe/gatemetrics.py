"""What a quality gate can measure: for each stage kind, the names after `STAGE.` in a
gate's check, how `validate` knows them, and how a finished stage's artifact gives the
number. A registry by kind (evaluate, quantize, finetune, deploy, agent); any kind that
produces a score table is read like evaluate.

    evaluate.DATASET.MODEL            a model's score (DATASET's first metric)
    evaluate.DATASET.METRIC.MODEL     …of that metric
    quantize.drift.top1_agreement     (logits_relative_error, weight_error_mean/max)
    finetune.loss_last                (loss_first, steps)
    deploy.bench.latency_ms.p90       (ttft_ms, tpot_ms, itl_ms; p50 p90 p95 p99 mean) at every
                                      concurrency benched: the worst one counts
    deploy.bench.c4.latency_ms.p90    …at concurrency 4
    deploy.bench.requests_per_s       (output_tokens_per_s, failed)
    agent.failed                      (passed, queries, pass_rate, tool_calls)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from internpipe.artifacts import SCORES

if TYPE_CHECKING:
    from internpipe.recipe import StageSection

DRIFT = ("top1_agreement", "logits_relative_error", "weight_error_mean", "weight_error_max")
FINETUNE = ("loss_last", "loss_first", "steps")
TIMES = ("ttft_ms", "tpot_ms", "itl_ms", "latency_ms")
QUANTILES = ("p50", "p90", "p95", "p99", "mean")
RATES = ("requests_per_s", "output_tokens_per_s", "failed")
AGENT = ("failed", "passed", "queries", "pass_rate", "tool_calls")


class Unmeasured(Exception):
    """The stage finished but the number is not in what it wrote."""


@dataclass(frozen=True)
class Family:
    """`names(section, parts)`: None when the parts name a metric, else what is wrong.
    `measure(artifact, parts, higher_is_worse)`: the number."""

    names: Callable[[StageSection, list[str]], str | None]
    measure: Callable[[dict[str, Any], list[str], bool], float]


def _one_of(parts: list[str], choices: tuple[str, ...], what: str) -> str | None:
    if len(parts) == 1 and parts[0] in choices:
        return None
    return f"{what} is one of {', '.join(choices)}"


# --------------------------------------------------------------------------- scores


def _score_names(section: StageSection, parts: list[str]) -> str | None:
    if len(parts) not in (2, 3):
        return "a score is STAGE.DATASET.MODEL or STAGE.DATASET.METRIC.MODEL"
    if section.kind != "evaluate":
        return None
    from internpipe.stages.evaluate.options import Options, abbr, builtins, customs

    opts = section.options
    assert isinstance(opts, Options)
    models = list(section.inputs.get("models", []))
    named = [e.name for e in opts.endpoints if e.name]
    if len(named) == len(opts.endpoints) and parts[-1] not in models + named:
        return f"{parts[-1]!r} is not a model it evaluates ({', '.join(models + named)})"
    datasets = [abbr(d) for d in customs(opts)]
    if not builtins(opts) and parts[0] not in datasets:
        return f"{parts[0]!r} is not one of its datasets ({', '.join(datasets)})"
    return None


def _score(artifact: dict[str, Any], parts: list[str], worse_high: bool) -> float:
    table = artifact.get("scores") or {}
    rows = [r for r in table.get("rows", []) if r.get("dataset") == parts[0] and
            (len(parts) == 2 or r.get("metric") == parts[1])]
    if not rows:
        known = sorted({str(r.get("dataset")) for r in table.get("rows", [])})
        raise Unmeasured(f"no score for {'.'.join(parts[:-1])} (datasets scored: "
                         f"{', '.join(known) or 'none'})")
    value = rows[0].get("scores", {}).get(parts[-1])
    if value is None:
        raise Unmeasured(f"no score of model {parts[-1]!r} for {parts[0]}")
    return float(value)


# --------------------------------------------------------------------------- models


def _drift_names(section: StageSection, parts: list[str]) -> str | None:
    if len(parts) == 2 and parts[0] == "drift":
        return _one_of(parts[1:], DRIFT, "drift.NAME")
    return f"quantize measures drift.NAME, NAME one of {', '.join(DRIFT)}"


def _drift(artifact: dict[str, Any], parts: list[str], worse_high: bool) -> float:
    return _number((artifact.get("drift") or {}).get(parts[1]), ".".join(parts))


def _finetune_names(section: StageSection, parts: list[str]) -> str | None:
    return _one_of(parts, FINETUNE, "a finetune metric")


def _finetune(artifact: dict[str, Any], parts: list[str], worse_high: bool) -> float:
    return _number(artifact.get(parts[0]), parts[0])


# --------------------------------------------------------------------------- bench


def _bench_names(section: StageSection, parts: list[str]) -> str | None:
    bench = getattr(section.options, "bench", None)
    if not parts or parts[0] != "bench":
        return "deploy measures bench.… (its `bench:` option's load test)"
    if bench is None:
        return "the deploy stage has no `bench:` option, so nothing measures it"
    rest = parts[1:]
    if rest and rest[0][:1] == "c" and rest[0][1:].isdigit():
        if int(rest[0][1:]) not in bench.concurrency:
            return f"{rest[0]}: the bench runs concurrency {bench.concurrency}"
        rest = rest[1:]
    if len(rest) == 2 and rest[0] in TIMES:
        return _one_of(rest[1:], QUANTILES, f"{rest[0]}.QUANTILE")
    if len(rest) == 1 and rest[0] in RATES:
        return None
    return (f"bench.[cN.]TIME.QUANTILE (TIME one of {', '.join(TIMES)}; QUANTILE one of "
            f"{', '.join(QUANTILES)}) or bench.[cN.]NAME ({', '.join(RATES)})")


def _bench(artifact: dict[str, Any], parts: list[str], worse_high: bool) -> float:
    path = Path(str(artifact.get("path", ""))) / str(artifact.get("bench", "bench.json"))
    try:
        runs = json.loads(path.read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise Unmeasured(f"no bench results in {path}") from None
    rest = parts[1:]
    if rest[0][:1] == "c" and rest[0][1:].isdigit():
        runs = [r for r in runs if r.get("concurrency") == int(rest[0][1:])]
        rest = rest[1:]
    values = [_number(r[rest[0]] if len(rest) == 1 else (r.get(rest[0]) or {}).get(rest[1]),
                      ".".join(parts)) for r in runs if isinstance(r, dict)]
    if not values:
        raise Unmeasured(f"{'.'.join(parts)}: no such run in {path}")
    # Every concurrency benched must pass: the worst run is the one compared.
    return max(values) if worse_high else min(values)


# --------------------------------------------------------------------------- agent


def _agent_names(section: StageSection, parts: list[str]) -> str | None:
    return _one_of(parts, AGENT, "an agent metric")


def _agent(artifact: dict[str, Any], parts: list[str], worse_high: bool) -> float:
    path = Path(str(artifact.get("path", ""))) / str(artifact.get("transcripts",
                                                                  "transcripts.json"))
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        raise Unmeasured(f"no transcripts in {path}") from None
    passed = sum(1 for r in records if isinstance(r, dict) and r.get("status") == "ok")
    figures = {"passed": passed, "failed": len(records) - passed, "queries": len(records),
               "pass_rate": passed / len(records) if records else 0.0,
               "tool_calls": sum(len(r.get("tool_calls") or []) for r in records
                                 if isinstance(r, dict))}
    return float(figures[parts[0]])


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unmeasured(f"{what} was not recorded")
    return float(value)


SCORE_TABLE = Family(_score_names, _score)
KINDS: dict[str, Family] = {
    "evaluate": SCORE_TABLE,
    "quantize": Family(_drift_names, _drift),
    "finetune": Family(_finetune_names, _finetune),
    "deploy": Family(_bench_names, _bench),
    "agent": Family(_agent_names, _agent),
}


def family(kind: str, produces: str) -> Family | None:
    """The metrics of a stage kind; a kind that produces a score table reads as evaluate."""
    return KINDS.get(kind) or (SCORE_TABLE if produces == SCORES else None)
