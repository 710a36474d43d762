"""The gates' parser (check syntax, metric names) and evaluator (each metric family, the
worst bench run, margins, not-measured)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from internpipe import gates, recipe
from internpipe.errors import RecipeError

TINY = Path(__file__).resolve().parents[2] / "recipes" / "models" / "tiny-internlm2"

STAGES = f"""\
version: 1
name: g
stages:
  download:
    source: {TINY}
  finetune:
    data: data.jsonl
  evaluate:
    datasets: [{{path: qa.jsonl, type: qa}}]
  quantize:
    method: awq
  deploy:
    port: auto
    bench: {{concurrency: [1, 4]}}
  agent:
    queries: ["2 + 2?"]
gates:
"""


def load(tmp_path: Path, *checks: str) -> recipe.Recipe:
    path = tmp_path / "r.yaml"
    path.write_text(STAGES + "".join(f"  - {c}\n" for c in checks))
    return recipe.load(path)


@pytest.mark.parametrize(("check", "left", "op", "right", "offset"), [
    ("quantize.drift.top1_agreement >= 0.9", "quantize.drift.top1_agreement", ">=", None, 0.9),
    ("finetune.loss_last<1e-1", "finetune.loss_last", "<", None, 0.1),
    ("agent.failed == 0", "agent.failed", "==", None, 0.0),
    ("deploy.bench.c4.latency_ms.p99 <= 2000", "deploy.bench.c4.latency_ms.p99", "<=", None,
     2000.0),
    ("evaluate.qa.finetune >= evaluate.qa.download + 10", "evaluate.qa.finetune", ">=",
     "evaluate.qa.download", 10.0),
    ("evaluate.qa.finetune > evaluate.qa.download - 2.5", "evaluate.qa.finetune", ">",
     "evaluate.qa.download", -2.5),
    ("finetune.loss_last <= -.5", "finetune.loss_last", "<=", None, -0.5),
])
def test_checks_parse(tmp_path: Path, check: str, left: str, op: str, right: str | None,
                      offset: float) -> None:
    gate = load(tmp_path, check).gates[0]
    assert (str(gate.left), gate.op, gate.right and str(gate.right), gate.offset) == (
        left, op, right, offset)
    assert gate.name == check and gate.line == 18


@pytest.mark.parametrize(("check", "message"), [
    ("agent.failed = 0", "cannot read"),
    ("failed >= 1", "cannot read"),
    ("evaluate.qa.finetune >= evaluate.qa.download * 2", "cannot read"),
    ("evaluate.qa.nobody >= 1", "'nobody' is not a model it evaluates (download, finetune)"),
    ("evaluate.other.finetune >= 1", "'other' is not one of its datasets (qa)"),
    ("finetune.lr <= 1", "a finetune metric is one of loss_last, loss_first, steps"),
    ("deploy.bench.c2.ttft_ms.p50 <= 1", "c2: the bench runs concurrency [1, 4]"),
    ("deploy.bench.ttft_ms.p75 <= 1", "ttft_ms.QUANTILE is one of p50, p90, p95, p99, mean"),
    ("deploy.smoke.seconds <= 1", "deploy measures bench."),
    ("download.files >= 1", "a download stage measures nothing a gate can check"),
    ("agnet.failed == 0", "no stage 'agnet' in the recipe; did you mean 'agent'?"),
])
def test_bad_checks_are_located(tmp_path: Path, check: str, message: str) -> None:
    with pytest.raises(RecipeError) as exc:
        load(tmp_path, "finetune.steps >= 1", check)
    [problem] = exc.value.problems
    assert (problem.line, problem.field) == (19, "gates[1]")
    assert message in problem.message, problem.message


def finished(artifact: dict) -> dict:
    return {"outcome": "finished", "artifact": artifact}


def test_measures_each_family(tmp_path: Path) -> None:
    (tmp_path / "dep").mkdir()
    (tmp_path / "dep" / "bench.json").write_text(json.dumps({"runs": [
        {"concurrency": 1, "requests_per_s": 3.0, "failed": 0,
         "latency_ms": {"p50": 100.0, "p90": 150.0, "p99": 200.0, "mean": 110.0}},
        {"concurrency": 4, "requests_per_s": 5.0, "failed": 0,
         "latency_ms": {"p50": 300.0, "p90": 450.0, "p99": 900.0, "mean": 320.0}}]}))
    (tmp_path / "ag").mkdir()
    (tmp_path / "ag" / "transcripts.json").write_text(json.dumps([
        {"status": "ok", "tool_calls": [{}, {}]}, {"status": "failed", "tool_calls": []}]))
    entries = {
        "evaluate": finished({"scores": {"rows": [
            {"dataset": "qa", "metric": "score", "scores": {"download": 40.0,
                                                             "finetune": 55.0}}]}}),
        "quantize": finished({"drift": {"top1_agreement": 0.85}}),
        "finetune": finished({"loss_last": 0.25, "steps": 12}),
        "deploy": finished({"path": str(tmp_path / "dep"), "bench": "bench.json"}),
        "agent": finished({"path": str(tmp_path / "ag"), "transcripts": "transcripts.json"}),
    }
    r = load(tmp_path, "evaluate.qa.finetune >= evaluate.qa.download + 10",
             "evaluate.qa.finetune >= evaluate.qa.download + 20",
             "quantize.drift.top1_agreement >= 0.9", "finetune.loss_last <= 0.3",
             "deploy.bench.latency_ms.p99 <= 500", "deploy.bench.c1.latency_ms.p99 <= 500",
             "deploy.bench.requests_per_s >= 4", "agent.failed == 0", "agent.tool_calls >= 2")
    results = [gates.evaluate(g, r, entries) for g in r.gates]
    assert [(x["measured"], x["threshold"], x["passed"]) for x in results] == [
        (55.0, 50.0, True), (55.0, 60.0, False), (0.85, 0.9, False), (0.25, 0.3, True),
        (900.0, 500.0, False),     # the worst concurrency is judged
        (200.0, 500.0, True), (3.0, 4.0, False), (1.0, 0.0, False), (2.0, 2.0, True)]
    assert results[1]["message"] == ("evaluate.qa.finetune = 55, fails >= 60 "
                                     "(evaluate.qa.download 40 + 20)")
    assert [x["line"] for x in results] == list(range(18, 27))
    assert results[4]["stage"] == "deploy"
    message, lines = gates.failure_message(r, [results[1], results[2]])
    assert message == (f"gate {results[1]['name']!r} failed ({r.path}:19): measured 55, "
                       "needs >= 60")
    assert lines[1] == (f"{r.path}:20: gate 'quantize.drift.top1_agreement >= 0.9': "
                        "quantize.drift.top1_agreement = 0.85, fails >= 0.9")


def test_not_measured_until_its_stages_finish(tmp_path: Path) -> None:
    r = load(tmp_path, "evaluate.qa.finetune >= evaluate.qa.download + 10",
             "finetune.loss_last <= 0.3")
    entries = {"evaluate": {"outcome": "failed"}, "finetune": finished({"steps": 3})}
    first, second = (gates.evaluate(g, r, entries) for g in r.gates)
    assert first["passed"] is None and first["threshold"] is None
    assert first["message"] == "not measured: stage 'evaluate' has not finished"
    assert second["passed"] is None and second["message"] == (
        "not measured: loss_last was not recorded")
