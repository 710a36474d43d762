"""The vision-language recipes that ship with internpipe, copied out as a user would and
validated and planned here: camp4's InternVL2-2B LoRA on FoodieQA-style data (XTuner's
InternVL path, LMDeploy serving, base vs tuned on image questions), XComposer2 served with
LMDeploy for the chat, both on CUDA (their commands are checked, not run); and the tiny VLM
on the CPU (run end to end in tests/integration/test_vlm_evaluate.py)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli
from support.vlmrecipes import copied, foodieqa


def commands(recipe: Path, *extra: str) -> dict[str, str]:
    result = cli("plan", str(recipe), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return {s["stage"]: " ".join(" ".join(c["argv"]) for c in s["commands"]) + " " +
            " ".join(s["reasons"]) for s in json.loads(result.stdout)["stages"]}


def test_internvl2_foodieqa_plans_xtuner_internvl_and_lmdeploy(tmp_path: Path) -> None:
    recipe = copied(tmp_path, "internvl2-2b-foodieqa")
    missing = cli("validate", str(recipe))
    assert missing.returncode == 2 and "sivqa_llava.json: no such data file" in missing.stderr
    foodieqa(recipe.parent)
    assert cli("validate", str(recipe)).returncode == 0
    planned = commands(recipe)
    assert "hub_download.py --hub modelscope --repo OpenGVLab/InternVL2-2B" in \
        planned["download"]
    assert "xtuner_vlm.py train" in planned["finetune"]
    assert "xtuner_vlm.py export" in planned["finetune"]
    assert "1 samples, llava conversations with images" in planned["finetune"]
    for stage, name in (("deploy_base", "internvl2-2b"), ("deploy", "internvl2-2b-food")):
        assert "serve api_server" in planned[stage]
        assert f"--model-name {name}" in planned[stage]
        assert "--cache-max-entry-count 0.2" in planned[stage]
    assert "stages/finetune/out" in planned["deploy"]
    assert "vqa_eval.py" in planned["evaluate"]
    # on this machine's cpu, the fine-tune says what it needs instead of failing later
    cpu = cli("plan", str(recipe), "--device", "cpu")
    assert cpu.returncode == 2
    assert "XTuner 0.2.0 fine-tunes one through its InternVL path, which needs CUDA" \
        in cpu.stderr


def test_xcomposer2_is_served_by_lmdeploy_for_the_chat(tmp_path: Path) -> None:
    recipe = copied(tmp_path, "xcomposer2-chat")
    assert cli("validate", str(recipe)).returncode == 0
    planned = commands(recipe)
    assert "--repo Shanghai_AI_Laboratory/internlm-xcomposer2-vl-7b" in planned["download"]
    for part in ("serve api_server", "--model-name internlm-xcomposer2",
                 "--session-len 8192", "--cache-max-entry-count 0.4"):
        assert part in planned["deploy"], part


def test_the_tiny_vlm_recipe_plans_on_cpu(tmp_path: Path) -> None:
    recipe = copied(tmp_path, "tiny-vlm-cpu")
    assert cli("validate", str(recipe)).returncode == 0
    planned = commands(recipe)
    assert "transformers serve" in planned["deploy"].replace("/transformers serve",
                                                             " transformers serve")
    assert "12 image questions" in planned["evaluate"]
