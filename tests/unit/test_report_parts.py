"""The report's pure parts: figures as people read them, charts with a value per hover
column, per-item scores (OpenCompass's own where it kept them, the metric's rule where it is
simple, none otherwise), drift against thresholds, the calibration as a sentence, load-test
results drawn from the shared bench format, the training curves, and transcripts of a failed
agent stage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from internpipe.report import charts, drift, gather, samples, sections
from internpipe.state import WorkDir

FIXTURE = Path(__file__).parents[1] / "support" / "report_fixture"


def test_figures_are_formatted_for_reading() -> None:
    shown = [charts.number(v) for v in (0.7435897435897436, 18.94643783569336, 1.02e-05,
                                        12345.6, 100.0, 0.0, None, float("nan"))]
    assert shown == ["0.7436", "18.95", "1.02e-5", "12,346", "100", "0", "-", "-"]


def test_a_chart_has_one_hover_column_per_x_with_every_series_value() -> None:
    svg = charts.line_chart("loss", [charts.Series("A", [1, 2, 3], [2.0, 1.5, None]),
                                     charts.Series("B", [1, 2, 3], [2.5, 1.25, 1.0])],
                            "iteration", "loss")
    tips = re.findall(r"data-tip='([^']*)'", svg)
    assert tips == ["iteration 1: A 2; B 2.5", "iteration 2: A 1.5; B 1.25",
                    "iteration 3: B 1"]
    assert svg.count("<polyline") == 2 and "<script" not in svg
    assert charts.line_chart("empty", [charts.Series("A", [1], [None])], "x", "y") == ""


def test_a_long_curve_is_thinned_but_keeps_its_last_point() -> None:
    xs = list(range(1, 1001))
    svg = charts.line_chart("loss", [charts.Series("loss", xs, [1 / x for x in xs])],
                            "iteration", "loss")
    tips = re.findall(r"data-tip='([^']*)'", svg)
    assert len(tips) <= charts.MAX_MARKS + 1 and tips[-1] == "iteration 1000: loss 0.001"


def _evaluated(tmp_path: Path, details: dict[str, object] | None = None) -> Path:
    items = [("Who are you?", "Xiaopu", "I am Bob.", "I am Xiaopu, the assistant."),
             ("Say OK.", "OK", "OK.", "OK.")]
    for i, model in enumerate(("base", "tuned")):
        for part, record in (("predictions", lambda q, ref, a: {
                "origin_prompt": [{"role": "HUMAN", "prompt": q + "\n"}], "prediction": a,
                "gold": ref}),):
            path = tmp_path / part / model / "set.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({str(k): record(q, ref, answers[i])
                                        for k, (q, ref, *answers) in enumerate(items)}))
        if details is not None:
            path = tmp_path / "results" / model / "set.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"accuracy": 50.0, "details": details[model]}))
    return tmp_path


def test_per_item_scores_by_the_metrics_rule_when_opencompass_kept_none(
        tmp_path: Path) -> None:
    out = _evaluated(tmp_path)
    options = {"datasets": [{"path": "data/set.jsonl", "type": "qa", "metric": "contains"}]}
    [table] = samples.tables(out, ["base", "tuned"], options)
    assert table["scored_by"] == "computed" and table["metric"] == "contains"
    assert [(i["question"], i["scores"], i["differ"]) for i in table["items"]] == [
        ("Who are you?", {"base": 0.0, "tuned": 100.0}, True),
        ("Say OK.", {"base": 100.0, "tuned": 100.0}, False)]
    # checked against the score table: a rule that is not OpenCompass's would show
    official = {"rows": [{"dataset": "set", "scores": {"base": 50.0, "tuned": 0.0}}]}
    assert samples.mismatches(table, official) == [
        "tuned: the per-item scores average 100.00, OpenCompass reports 0.00"]
    # rouge scores the whole set: no per-item score is made up
    rouge = samples.tables(out, ["base", "tuned"], {"datasets": [
        {"path": "set.jsonl", "type": "qa", "metric": "rouge"}]})[0]
    assert rouge["scored_by"] is None
    assert {s for i in rouge["items"] for s in i["scores"].values()} == {None}


def test_per_item_scores_opencompass_kept_come_first(tmp_path: Path) -> None:
    out = _evaluated(tmp_path, {"base": {"0": {"correct": [False]}, "1": {"correct": [True]}},
                                "tuned": {"0": {"is_correct": True}, "1": {"correct": True}}})
    [table] = samples.tables(out, ["base", "tuned"], {"datasets": [
        {"path": "set.jsonl", "type": "qa", "metric": "exact"}]})
    assert table["scored_by"] == "opencompass"
    assert [i["scores"] for i in table["items"]] == [{"base": 0.0, "tuned": 100.0},
                                                     {"base": 100.0, "tuned": 100.0}]


def test_items_shown_are_bounded_per_dataset_and_in_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _evaluated(tmp_path)
    monkeypatch.setattr(samples, "BUDGET", 1)
    [table] = samples.tables(out, ["base", "tuned"], {})
    assert (len(table["items"]), table["total"], table["mismatch"]) == (1, 2, [])


def test_opencompass_contains_rule() -> None:
    assert samples.general_postprocess("The answer is 84.\nmore") == "answer is 84"
    assert samples._contains("I am Xiaopu, the assistant", "Xiaopu") == 100.0
    assert samples._contains("Hello.\nI am Xiaopu", "Xiaopu") == 0.0   # first sentence only


def test_drift_against_the_recipes_thresholds_then_the_defaults() -> None:
    rows = {r["figure"]: r for r in drift.rows(
        {"top1_agreement": 0.7435897435897436, "weight_error_mean": 0.6256744253138701,
         "weight_error_max": 18.94643783569336}, {"min_top1_agreement": 0.5})}
    top1, mean, worst = rows["top1_agreement"], rows["weight_error_mean"], \
        rows["weight_error_max"]
    assert (top1["shown"], top1["threshold"], top1["source"], top1["passed"]) == (
        "0.7436", 0.5, "recipe", True)
    assert (mean["threshold"], mean["source"], mean["passed"]) == (0.5, "default", False)
    assert (worst["threshold"], worst["passed"]) == (None, None)
    assert drift.rows({"top1_agreement": 0.95}, {})[0]["passed"] is True


def test_calibration_reads_as_a_sentence() -> None:
    assert drift.calibration_text({"samples": 16, "set": "data/persona.jsonl",
                                   "sha256": "eb33ec21f1b3a2b05a86"}) == \
        "16 samples from data/persona.jsonl (sha256 eb33ec21f1b3…)"
    assert drift.calibration_text({"samples": 0, "set": "data-free"}) == \
        "data-free (no calibration samples)"
    assert drift.calibration_text(None) == ""


def test_bench_results_in_the_shared_format_are_tabled_and_charted() -> None:
    result = {"source": "stage deploy", **json.loads((FIXTURE / "bench.json").read_text())}
    html = sections.bench(result, 0)
    assert html.count("<tr>") == 4            # the header and three runs
    assert "c=4, 2/s" in html and "15/16" in html and "1.858" in html
    for chart in ("bench-latency-0", "bench-rps-0", "bench-tps-0"):
        assert f"id='{chart}'" in html
    assert "402.2 / -" in html                # a percentile it could not measure
    assert sections.bench({"runs": []}, 1) == ""


def test_curves_keep_lr_and_grad_norm_and_gaps(tmp_path: Path) -> None:
    path = tmp_path / "loss.jsonl"
    path.write_text('{"iter": 5, "loss": 1.5, "lr": 0.001, "grad_norm": 0.7}\n'
                    '{"iter": 10, "loss": 1.0, "lr": 0.0005}\nnot json\n{"time": 3}\n')
    assert gather.curves(path) == {"iter": [5, 10], "loss": [1.5, 1.0],
                                    "lr": [0.001, 0.0005], "grad_norm": [0.7, None]}


def test_a_failed_agent_stages_transcripts_come_from_its_work_dir(tmp_path: Path) -> None:
    wd = WorkDir(tmp_path)
    (wd.work("agent") / "transcripts").mkdir(parents=True)
    for i in (2, 1):
        (wd.work("agent") / "transcripts" / f"00{i}.json").write_text(
            json.dumps({"index": i, "status": "ok" if i == 1 else "failed"}))
    assert [r["index"] for r in gather.transcripts(wd, "agent", {})] == [1, 2]
    wd.out("agent").mkdir(parents=True)
    (wd.out("agent") / "transcripts.json").write_text(json.dumps([{"index": 9}]))
    assert gather.transcripts(wd, "agent", {"transcripts": "transcripts.json"}) == [
        {"index": 9}]
