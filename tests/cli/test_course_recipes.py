"""The GPU recipes that follow the InternLM course: validated and planned in CI (exact
commands shown); they run only where a GPU and the hubs are."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, cli

COURSE = {
    "internlm2_5-1_8b-assistant.yaml": {
        "download": "hub_download.py --hub modelscope --repo "
                    "Shanghai_AI_Laboratory/internlm2_5-1_8b-chat",
        "finetune": "xtuner_launch.py train", "evaluate": "/opencompass_launch.py ",
        "quantize": "lmdeploy lite auto_awq", "agent": "agent_run.py run"},
    "bajie-chat-openxlab.yaml": {
        "download": "hub_download.py --hub openxlab --repo JimmyMa99/BaJie-Chat-mini",
        "agent": "agent_run.py run"},
    "internlm2_5-7b-agent.yaml": {
        "download": "hub_download.py --hub modelscope --repo "
                    "Shanghai_AI_Laboratory/internlm2_5-7b-chat",
        "agent": "agent_run.py run"},
}


@pytest.mark.parametrize("name", sorted(COURSE))
def test_course_recipe_validates_and_plans(tmp_path: Path, name: str) -> None:
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes",
                    ignore=shutil.ignore_patterns(".internpipe", "models"))
    recipe = tmp_path / "recipes" / name
    assert cli("validate", str(recipe)).returncode == 0
    result = cli("plan", str(recipe), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["device"] == "cuda"
    stages = {s["stage"]: s for s in plan["stages"]}
    for stage, expected in COURSE[name].items():
        commands = " ".join(" ".join(c["argv"]) for c in stages[stage]["commands"])
        assert expected in commands, (stage, commands)
    deploy = " ".join(stages["deploy"]["reasons"])
    # LMDeploy's CLI, started in-process by the launcher (which reads an API key itself)
    assert re.search(r"/lmdeploy_serve\.py (--api-key-env \w+ )?-- serve api_server ", deploy), \
        deploy
    if name.startswith("internlm2_5-1_8b"):
        assert "--quant-policy 8" in deploy
