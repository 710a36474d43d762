"""The XTuner config the finetune stage writes for a vision-language model (camp4's
InternVL2-2B LoRA) loads in XTuner 0.2.0's own environment: mmengine reads it, every `type`
in it imports, and the values are the recipe's. Training itself needs CUDA and InternVL's
remote code from the hub, so this is as far as it runs here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from internpipe import envs, pipeline
from support.vlmrecipes import copied, foodieqa

pytestmark = pytest.mark.integration

CHECK = """
import importlib, json, sys
from mmengine.config import Config
sys.path.insert(0, sys.argv[3])
import xtuner_vlm
assert xtuner_vlm.cmd_config(sys.argv[1], sys.argv[2]) == 0
config = Config.fromfile(sys.argv[2])

def resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)

def types(node):
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            yield node["type"]
        for value in node.values():
            yield from types(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from types(value)

found = sorted(set(types(config.to_dict())))
for dotted in found:
    resolve(dotted)
print(json.dumps({"types": found, "lora": config.model.llm_lora.to_dict(),
                  "template": config.train_dataloader.dataset.template["INSTRUCTION"],
                  "lr": config.optim_wrapper.optimizer.lr}))
"""


def test_the_internvl_lora_config_loads_in_xtuner(tmp_path: Path) -> None:
    recipe_path = copied(tmp_path, "internvl2-2b-foodieqa")
    foodieqa(recipe_path.parent)
    plan = pipeline.plan(pipeline.load(recipe_path, None), "cuda")
    stage = next(sp for sp in plan.stages if sp.name == "finetune")
    train = next(s for s in stage.steps_preview if s.name == "train")
    spec = tmp_path / "spec.json"
    spec.write_text(train.files["spec.json"])
    env = envs.ensure("xtuner", "cpu")             # the same XTuner 0.2.0 as the cuda env
    out = subprocess.run([str(env.python), "-c", CHECK, str(spec), str(tmp_path / "c.py"),
                          str(ROOT / "src" / "internpipe" / "workers")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"xtuner.model.InternVL_V1_5", "xtuner.dataset.InternVL_V1_5_Dataset",
            "peft.LoraConfig"} <= set(got["types"])
    assert (got["lora"]["r"], got["lora"]["lora_alpha"]) == (128, 256)
    assert got["template"].startswith("<|im_start|>user")
    assert got["lr"] == 1e-6
    assert json.loads(spec.read_text())["image_folders"] == [
        str(recipe_path.parent / "data" / "FoodieQA")]
