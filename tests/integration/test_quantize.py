"""The quantize stage with the real LMDeploy `lite` tools on the tiny model, on CPU."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, TINY_MODEL, cli, write
from internpipe import envs
from internpipe.stages.quantize.stage import CHECKS, Drift, drift_violations

pytestmark = pytest.mark.integration
CALIB = ROOT / "recipes" / "data" / "assistant.jsonl"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the three flavours; tests look at their artifacts."""
    d = tmp_path_factory.mktemp("quant")
    shutil.copy(CALIB, d / "calib.jsonl")
    write(d / "r.yaml", f"""version: 1
name: q
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  awq_free:
    uses: quantize
    samples: 0
    drift: {{max_weight_error: 0.3}}
  awq_calib:
    uses: quantize
    model: download
    calib: calib.jsonl
    samples: 8
    seqlen: 64
  sq:
    uses: quantize
    model: download
    method: smooth_quant
    calib: calib.jsonl
    samples: 8
    seqlen: 64
""")
    result = cli("run", str(d / "r.yaml"), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return d


def artifact(d: Path, stage: str) -> dict:
    return json.loads((d / ".internpipe/q/state.json").read_text())["stages"][stage]["artifact"]


def test_awq_data_free(quantized: Path) -> None:
    a = artifact(quantized, "awq_free")
    assert a["quantization_config"] == {"bits": 4, "group_size": 128, "quant_method": "awq",
                                        "version": "gemm", "zero_point": True}
    assert a["calibration"] == {"samples": 0, "set": "data-free"}
    out = Path(a["path"])
    drift = json.loads((out / "drift.json").read_text())
    assert len(drift["layers"]) == 14                      # 2 layers × 7 linears
    assert 0.02 < drift["weight_error_mean"] < 0.2         # int4, group 128: ~0.10
    assert 0.5 < drift["top1_agreement"] <= 1.0
    assert (out / "tokenizer.json").exists()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["chat_template"] == "internlm2"


def test_awq_with_a_local_calibration_file(quantized: Path) -> None:
    a = artifact(quantized, "awq_calib")
    assert a["calibration"]["set"] == "calib.jsonl"
    assert len(a["calibration"]["sha256"]) == 64
    assert (quantized / ".internpipe/q/stages/awq_calib/work/calib/wikitext/README.md").exists()
    assert a["drift"]["top1_agreement"] > 0.4


def test_smooth_quant(quantized: Path) -> None:
    a = artifact(quantized, "sq")
    assert a["quantization_config"] == {"quant_dtype": "int8", "quant_method": "smooth_quant"}
    assert a["drift"]["top1_agreement"] > 0.9
    assert a["drift"]["logits_relative_error"] < 0.1


def test_rerun_is_cached(quantized: Path) -> None:
    again = cli("run", str(quantized / "r.yaml"), "--json")
    statuses = [json.loads(x)["status"] for x in again.stdout.splitlines()
                if '"stage_finished"' in x]
    assert statuses == ["cached"] * 4


def test_a_corrupted_quantized_model_is_caught(quantized: Path, tmp_path: Path) -> None:
    import importlib.util

    good = Path(artifact(quantized, "awq_free")["path"])
    bad = tmp_path / "bad"
    shutil.copytree(good, bad)
    env = envs.ensure("lmdeploy", "cpu")
    corrupt = (
        "import sys, torch\n"
        "from safetensors.torch import load_file, save_file\n"
        "t = load_file(sys.argv[1])\n"
        "k = next(k for k in t if k.endswith('mlp.down_proj.scales'))\n"
        "t[k] = t[k] * 50\n"
        "save_file(t, sys.argv[1], metadata={'format': 'pt'})\n")
    subprocess.run([str(env.python), "-c", corrupt, str(bad / "model.safetensors")],
                   check=True, env=envs.step_environ(env))
    subprocess.run([str(env.python), str(CHECKS), "drift", str(TINY_MODEL), str(bad),
                    str(tmp_path / "drift.json")], check=True, env=envs.step_environ(env),
                   capture_output=True)
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["weight_error_max"] > 5
    assert drift_violations(report, Drift(max_weight_error=0.3))
    assert not drift_violations(json.loads((good / "drift.json").read_text()),
                                Drift(max_weight_error=0.3))
    assert importlib.util.find_spec("torch") is None   # internpipe itself never has torch


def test_threshold_fails_the_stage(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", f"""version: 1
name: q
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  quantize:
    samples: 0
    drift: {{min_top1_agreement: 0.999}}
""")
    result = cli("run", str(tmp_path / "r.yaml"), timeout=600)
    assert result.returncode == 1
    assert "drifted too far: top-1 agreement" in result.stderr
    assert not (tmp_path / ".internpipe/q/stages/quantize/out").exists()


def test_plan_time_checks(tmp_path: Path) -> None:
    base = f"version: 1\nstages:\n  download:\n    source: {TINY_MODEL}\n  quantize:\n"
    write(tmp_path / "a.yaml", base + "    group_size: 96\n")
    assert cli("run", str(tmp_path / "a.yaml"), "--device", "cpu").returncode == 2
    r = cli("run", str(tmp_path / "a.yaml"), "--device", "cpu")
    assert "group_size 96 does not divide" in r.stderr and "e.g. 64" in r.stderr
    write(tmp_path / "b.yaml", base + "    method: smooth_quant\n    samples: 0\n")
    r = cli("plan", str(tmp_path / "b.yaml"), "--device", "cpu")
    assert r.returncode == 2 and "smooth_quant needs calibration data" in r.stderr


def test_standalone_quantize(tmp_path: Path) -> None:
    shutil.copy(CALIB, tmp_path / "calib.jsonl")
    result = cli("quantize", str(TINY_MODEL), "--calib", "calib.jsonl", "--samples", "8",
                 "--set", "stages.quantize.seqlen=64", "--device", "cpu", cwd=tmp_path,
                 timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / ".internpipe/quantize/stages/quantize/out"
    assert json.loads((out / "config.json").read_text())["quantization_config"][
        "quant_method"] == "awq"


def test_calibration_lines_keep_a_raw_u2028(tmp_path: Path) -> None:
    """JSON lines are split on "\\n" only: a raw U+2028 inside a string is legal JSON."""
    env = envs.ensure("lmdeploy", "cpu")
    calib = tmp_path / "calib.jsonl"
    calib.write_text("".join(json.dumps({"text": f"one\u2028line {i}"}, ensure_ascii=False)
                             + "\n" for i in range(3)), encoding="utf-8")
    done = subprocess.run([str(env.python), str(CHECKS), "stage-calib", str(calib),
                           str(tmp_path / "out")], capture_output=True, text=True,
                          env=envs.step_environ(env, offline=True), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "staged 3 calibration samples" in done.stdout
