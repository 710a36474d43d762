"""The recipes that follow the InternLM course (InternLM/Tutorial camps 2–4), validated and
planned here, each compared with its lessons: the lesson's command line, flag by flag,
against the planned command (every difference is listed, with its reason), and the lesson's
XTuner config values against the recipe's. They run where a GPU and the hubs are."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, cli

# The lessons' commands, as the lessons print them (paths aside).
AWQ = ("lmdeploy lite auto_awq /root/models/internlm2_5-1_8b-chat --calib-dataset 'ptb' "
       "--calib-samples 128 --calib-seqlen 2048 --w-bits 4 --w-group-size 128 --batch-size 1 "
       "--search-scale False --work-dir /root/models/internlm2_5-1_8b-chat-w4a16-4bit")
SERVE_AWQ_KV4 = ("lmdeploy serve api_server /root/models/internlm2_5-7b-chat-w4a16-4bit/ "
                 "--model-format awq --quant-policy 4 --cache-max-entry-count 0.4 "
                 "--server-name 0.0.0.0 --server-port 23333 --tp 1")
SERVE_HF_KV4 = ("lmdeploy serve api_server /root/models/internlm2_5-7b-chat --model-format hf "
                "--quant-policy 4 --cache-max-entry-count 0.4 --server-name 0.0.0.0 "
                "--server-port 23333 --tp 1")
SERVE_LAGENT = ("lmdeploy serve api_server /share/new_models/Shanghai_AI_Laboratory/"
                "internlm2_5-7b-chat --model-name internlm2_5-7b-chat")
XTUNER_7B = ("xtuner train ./config/internlm2_chat_7b_qlora_alpaca_e3_copy.py --deepspeed "
             "deepspeed_zero2 --work-dir ./work_dirs/assistTuner")

# What differs from the lesson on purpose: flag → (the planned value or None, why).
DIFFERENT = {
    "--work-dir": ("*", "the stage's own folders (quantize: its output; XTuner: work/train)"),
    "--server-name": ("127.0.0.1", "internpipe binds 127.0.0.1 unless `host:` says"),
    "--calib-dataset": ("wikitext2", "LMDeploy 0.18 has no ptb: a local copy is staged for "
                                     "its wikitext2 reader, which reads text as ptb's did"),
    "--search-scale": (None, "a switch in LMDeploy 0.18: absent is False"),
}

# recipe → [(stage, the lesson's command or an expected fragment of the planned one)]
COURSE: dict[str, list[tuple[str, str]]] = {
    "camp2-bajie-chat.yaml": [
        ("download", "hub_download.py --hub modelscope --repo JimmyMa99/BaJie-Chat-mini"),
        ("agent", "agent_run.py run")],
    "camp3-xtuner-assistant.yaml": [
        ("download", "hub_download.py --hub modelscope --repo "
                     "Shanghai_AI_Laboratory/internlm2-chat-1_8b"),
        ("finetune", "xtuner_launch.py train"), ("agent", "agent_run.py run")],
    "camp3-lmdeploy-quant.yaml": [
        ("download", "hub_download.py --hub modelscope --repo "
                     "Shanghai_AI_Laboratory/internlm2_5-1_8b-chat"),
        ("quantize", AWQ), ("deploy", SERVE_AWQ_KV4)],
    "camp3-lagent-agent.yaml": [
        ("download", "hub_download.py --hub modelscope --repo "
                     "Shanghai_AI_Laboratory/internlm2_5-7b-chat"),
        ("deploy", SERVE_LAGENT), ("agent", "agent_run.py run")],
    "camp4-xtuner-7b-ceval.yaml": [
        ("download", "hub_download.py --hub modelscope --repo "
                     "Shanghai_AI_Laboratory/internlm2_5-7b-chat"),
        ("finetune", XTUNER_7B), ("evaluate", "/opencompass_launch.py "),
        ("deploy", SERVE_HF_KV4), ("eval_served", "/opencompass_launch.py ")],
}

# The lessons' XTuner config values (camp3 internlm2_chat_1_8b_qlora_alpaca_e3_copy.py, camp4
# internlm2_5_chat_7b_qlora_alpaca_e3_copy.py) → the recipe's finetune options.
CONFIG_1_8B = {"method": "qlora", "template": "internlm2_chat", "max_length": 2048,
               "pack": True, "batch_size": 1, "grad_accum": 16, "epochs": 3, "lr": 2e-4,
               "warmup_ratio": 0.03, "save_every": 500, "keep_checkpoints": 2,
               "lora.r": 64, "lora.alpha": 16, "lora.dropout": 0.1}
CONFIG = {"camp3-xtuner-assistant.yaml": CONFIG_1_8B,
          "camp4-xtuner-7b-ceval.yaml": {**CONFIG_1_8B, "grad_accum": 1,
                                         "deepspeed": "zero2"}}
# bajie_chat.py's meta_instruction (camp2 helloworld), joined as Python joins its parts.
BAJIE = ("你是猪八戒，猪八戒说话幽默风趣，说话方式通常表现为直率、幽默，有时带有一点自嘲和调侃。"
         "你的话语中常常透露出对食物的喜爱和对安逸生活的向往，同时也显示出他机智和有时的懒惰特点。"
         "尽量保持回答的自然回答，当然你也可以适当穿插一些文言文，另外，书生·浦语是你的好朋友，"
         "是你的AI助手。")


def flags(command: str, quoted: bool = True) -> dict[str, str | None]:
    """--flag value pairs of a command line (a flag followed by another flag: None)."""
    words = shlex.split(command) if quoted else command.split()
    return {w: (words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("--")
                else None) for i, w in enumerate(words) if w.startswith("--")}


def staged(tmp_path: Path, name: str) -> tuple[Path, dict[str, str]]:
    """The recipe copied out as a user would (`recipes copy`), its data made by the course's
    own scripts, and a local copy of ptb for the LMDeploy lesson."""
    work = tmp_path / "work"
    assert cli("recipes", "copy", name.removesuffix(".yaml"), str(work)).returncode == 0
    if (work / "scripts" / "xtuner_generate_assistant.py").exists():
        subprocess.run([sys.executable, "scripts/xtuner_generate_assistant.py"], cwd=work,
                       check=True, capture_output=True)
    if (work / "scripts" / "change_script.py").exists():
        # camp4's data: JSONL `conversation` records with `system`, renamed by its script.
        rows = [{"conversation": [{"system": "你是一个由尖米开发的助手", "input": q,
                                   "output": f"我是尖米的小助手，{q}"}]}
                for q in ("你是谁", "请介绍一下你自己", "你能做什么")]
        (work / "data").mkdir(exist_ok=True)
        (work / "data" / "assistant_Tuner.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        subprocess.run([sys.executable, "scripts/change_script.py", "data/assistant_Tuner.jsonl",
                        "data/assistant_Tuner_change.jsonl"], cwd=work, check=True,
                       capture_output=True)
    (tmp_path / "calib").mkdir()
    (tmp_path / "calib" / "ptb.txt").write_text("the market rose\n\nshares fell\n")
    return work / name, {"INTERNPIPE_CALIB_DIR": str(tmp_path / "calib")}


def test_the_course_recipes_are_the_bundled_ones() -> None:
    assert set(COURSE) <= {p.name for p in (ROOT / "recipes").glob("*.yaml")}


@pytest.mark.parametrize("name", sorted(COURSE))
def test_course_recipe_follows_its_lessons(tmp_path: Path, name: str) -> None:
    recipe, env = staged(tmp_path, name)
    result = cli("validate", str(recipe), **env)
    assert result.returncode == 0, result.stderr
    text = recipe.read_text(encoding="utf-8")
    lines = text.splitlines()
    for stage, _ in COURSE[name]:               # a comment per step names its lesson
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  {stage}:"))
        comment = []
        while lines[at - 1].strip().startswith("#"):
            at -= 1
            comment.insert(0, lines[at])
        assert re.search(r"[Ll]esson", " ".join(comment)), (stage, comment)
    result = cli("plan", str(recipe), "--json", **env)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["device"] == "cuda"
    stages = {s["stage"]: s for s in plan["stages"]}
    for stage, lesson in COURSE[name]:
        planned = " ".join(" ".join(c["argv"]) for c in stages[stage]["commands"])
        planned += " " + " ".join(stages[stage]["reasons"])
        if not lesson.startswith(("lmdeploy ", "xtuner ")):
            assert lesson in planned, (stage, planned)
            continue
        verb = " ".join(lesson.split()[1:3]) if lesson.startswith("lmdeploy") else "train"
        assert verb in planned, (stage, planned)
        got = flags(planned, quoted=False)
        for flag, value in flags(lesson).items():
            if flag in DIFFERENT:
                expected, _why = DIFFERENT[flag]
                if expected != "*":
                    assert got.get(flag) == expected, (stage, flag, got.get(flag))
            else:
                assert got.get(flag) == value, (stage, flag, value, got.get(flag))
    check_options(name, recipe, env)


def check_options(name: str, recipe: Path, env: dict[str, str]) -> None:
    import os

    from internpipe import recipe as recipe_mod

    os.environ.update(env)
    r = recipe_mod.load(recipe)
    for key, value in CONFIG.get(name, {}).items():
        node: Any = r.stages["finetune"].options
        for part in key.split("."):
            node = getattr(node, part)
        assert node == value, (key, node, value)
    if name == "camp2-bajie-chat.yaml":
        assert r.stages["agent"].options.meta_prompt == BAJIE      # type: ignore[attr-defined]
    if name == "camp3-lagent-agent.yaml":
        assert r.stages["agent"].options.tools == ["ArxivSearch"]  # type: ignore[attr-defined]


def test_the_course_generator_writes_the_courses_data(tmp_path: Path) -> None:
    """recipes/scripts/xtuner_generate_assistant.py writes what the course's does."""
    recipe, _ = staged(tmp_path, "camp3-xtuner-assistant.yaml")
    data = json.loads((recipe.parent / "data" / "assistant.json").read_text(encoding="utf-8"))
    assert len(data) == 16002
    assert data[0] == {"conversation": [{"input": "请介绍一下你自己", "output":
                       "我是伍鲜同志的小助手，内在是上海AI实验室书生·浦语的1.8B大模型哦"}]}
    assert re.match(r'\[\n {4}\{\n {8}"conversation"',
                    (recipe.parent / "data" / "assistant.json").read_text(encoding="utf-8"))


def test_ptb_without_a_local_copy_says_what_to_do(tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(ROOT / "recipes", work, ignore=shutil.ignore_patterns(".internpipe"))
    result = cli("validate", str(work / "camp3-lmdeploy-quant.yaml"),
                 INTERNPIPE_CALIB_DIR=str(tmp_path / "none"))
    assert result.returncode == 2
    assert "calibration set ptb: LMDeploy 0.18 no longer fetches it" in result.stderr
