"""Escape hatches with the real XTuner on the tiny model, on CPU: a config of XTuner's own
(`xtuner copy-cfg internlm2_chat_1_8b_qlora_alpaca_e3`, a QLoRA + AMP config made for CUDA)
trains through `finetune.xtuner_config:`, with `report_to: tensorboard` and an `extra_args`
that changes what is logged; the config kept with the output loads in XTuner's own tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import envs
from support.sft import write_data

pytestmark = pytest.mark.integration

SHIPPED = "internlm2_chat_1_8b_qlora_alpaca_e3"

INSPECT = """
import glob, json, sys
from mmengine.config import Config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
cfg = Config.fromfile(sys.argv[1])
runs = sorted(glob.glob(sys.argv[2] + "/*"))
events = EventAccumulator(runs[-1]); events.Reload()
print("FOUND:" + json.dumps({
    "llm": cfg.model.llm.pretrained_model_name_or_path,
    "tokenizer": cfg.tokenizer.pretrained_model_name_or_path,
    "data": list(cfg.train_dataloader.dataset.dataset.data_files),
    "quantized": "quantization_config" in cfg.model.llm,
    "optim": cfg.optim_wrapper.type,
    "tags": events.Tags()["scalars"],
    "loss": [[s.step, s.value] for s in events.Scalars("loss")]}))
"""


def in_env(*argv: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = envs.ensure("xtuner", "cpu")
    cmd = [str(env.python), "-c", code, *argv] if code else list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, env=envs.step_environ(env),
                          timeout=300)


def copy_cfg(dest: Path) -> Path:
    """XTuner's own `xtuner copy-cfg`, as a course student starts."""
    env = envs.ensure("xtuner", "cpu")
    result = in_env(str(env.python.parent / "xtuner"), "copy-cfg", SHIPPED, str(dest))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return dest / f"{SHIPPED}_copy.py"


def recipe(d: Path, config: Path, extra: str = "") -> Path:
    write_data(d / "data.jsonl", "openai", 8)
    return write(d / "r.yaml", f"""\
version: 1
name: own
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  finetune:
    data: data.jsonl
    xtuner_config: {config.name}
    epochs: 1
    batch_size: 4
    max_length: 64
    pack: false
{extra}""")


def test_xtuners_own_config_trains_with_tensorboard_and_extra_args(tmp_path: Path) -> None:
    config = copy_cfg(tmp_path)
    r = recipe(tmp_path, config, "    report_to: tensorboard\n"
                                 "    extra_args: ['--cfg-options', "
                                 "'default_hooks.logger.interval=1']\n")
    plan = cli("plan", str(r))
    assert plan.returncode == 0, plan.stderr
    assert "--cfg-options default_hooks.logger.interval=1" in plan.stdout
    assert "patched through mmengine's Config" in plan.stdout

    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((tmp_path / ".internpipe/own/state.json").read_text())
    artifact: dict[str, Any] = state["stages"]["finetune"]["artifact"]
    out = Path(artifact["path"])
    assert artifact["method"] == "lora" and artifact["template"] == "internlm2_chat"
    assert artifact["tracker"] == {"kind": "tensorboard", "dir": "tracker"}
    assert (out / "adapter" / "adapter_config.json").exists()
    patched = json.loads((out / "xtuner_patched.json").read_text())["changes"]
    assert any(c.startswith("model.llm.quantization_config: removed") for c in patched)
    assert any(c.startswith("train_cfg.max_epochs: 3 → 1") for c in patched)

    # 8 samples, 4 a batch, no packing: 2 iterations. The copied config logs every 10
    # iterations (once, at the end); the extra argument makes it every one.
    curve = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert [row["iter"] for row in curve] == [1, 2], curve

    found = in_env(str(out / "xtuner_config.py"), str(out / "tracker"), code=INSPECT)
    assert found.returncode == 0, found.stderr[-3000:]
    seen = json.loads(found.stdout.split("FOUND:", 1)[1])
    model = str(tmp_path / ".internpipe/own/stages/download/out")
    assert seen["llm"] == seen["tokenizer"] == model, seen
    assert seen["data"] == [str(tmp_path / "data.jsonl")]
    assert not seen["quantized"] and seen["optim"] == "mmengine.optim.OptimWrapper"
    assert "loss" in seen["tags"]
    assert [step for step, _ in seen["loss"]] == [1, 2]
    assert seen["loss"][0][1] == pytest.approx(curve[0]["loss"], rel=1e-4)
    print(f"TensorBoard loss: {seen['loss']}; patched: {len(patched)} values")


def test_a_config_mmengine_cannot_load_is_refused_at_its_line(tmp_path: Path) -> None:
    config = write(tmp_path / "broken.py", "from xtuner.no_such_module import thing\n")
    r = recipe(tmp_path, config)
    result = cli("run", str(r), timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    line = r.read_text().splitlines().index("    xtuner_config: broken.py") + 1
    assert f"r.yaml:{line}: stages.finetune.xtuner_config" in result.stderr, result.stderr
    assert "mmengine cannot load it" in result.stderr and "no_such_module" in result.stderr
    assert "Traceback" not in result.stderr
