"""Recipe strings reach XTuner and OpenCompass literally: mmengine substitutes
`{{$NAME:default}}`, `{{ fileDirname }}` and `{{_base_.x}}` in a config's text, so a recipe
string holding one would copy an environment variable (a token) into the logs, the
predictions and the prompts, unless the generated configs (and OpenCompass's own dumps of
them) never spell those patterns."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import envs
from support.evalsets import write_qa
from support.sft import recipe as sft_recipe

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-token-value"
# Every pattern mmengine substitutes, and both quotes (an env value or a recipe string with
# one must not break the config either).
TRICKY = ("{{$INTERNPIPE_TEST_TOKEN:x}} in {{ fileDirname }}/{{fileBasename}} "
          "and {{_base_.a}} \"q'")

LOAD = """
import json, sys
from mmengine.config import Config
cfg = Config.fromfile(sys.argv[1])
print("LOADED:" + json.dumps(cfg.to_dict(), default=str))
"""


def load_in_env(tool: str, config: Path) -> dict[str, Any]:
    """The config as mmengine itself loads it, in the tool's own env."""
    env = envs.ensure(tool, "cpu")
    result = subprocess.run([str(env.python), "-c", LOAD, str(config)], capture_output=True,
                            text=True, env=envs.step_environ(
                                env, {"INTERNPIPE_TEST_TOKEN": SECRET}), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(result.stdout.split("LOADED:", 1)[1])
    return loaded


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_a_sample_prompt_reaches_xtuner_literally(tmp_path: Path) -> None:
    r = sft_recipe(tmp_path, "    sample_prompts: [" + json.dumps(TRICKY) + "]\n",
                   name="lit", epochs=1, save_every=100)
    result = cli("run", str(r), timeout=900, INTERNPIPE_TEST_TOKEN=SECRET)
    assert result.returncode == 0, result.stderr[-3000:]
    stage = tmp_path / ".internpipe/lit/stages/finetune"
    config = load_in_env("xtuner", stage / "work/config.py")
    hook = next(h for h in config["custom_hooks"] if "EvaluateChatHook" in str(h["type"]))
    assert hook["evaluation_inputs"] == [TRICKY]
    log = (stage / "log.txt").read_text()
    assert TRICKY in log                        # XTuner's sample output shows it as written
    assert SECRET not in log and SECRET not in (stage / "out/xtuner_config.py").read_text()


def test_a_dataset_prompt_reaches_opencompass_literally(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    prompt = TRICKY + " {question}"
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: lit
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  evaluate:
    datasets: [{{path: qa.jsonl, prompt: {json.dumps(prompt)}}}]
    limit: 2
    max_out_len: 4
""")
    result = cli("run", str(r), timeout=900, INTERNPIPE_TEST_TOKEN=SECRET)
    assert result.returncode == 0, result.stderr[-3000:]
    stage = tmp_path / ".internpipe/lit/stages/evaluate"
    config = load_in_env("opencompass", stage / "work/config.py")
    assert config["datasets"][0]["human_prompt"] == prompt
    # What the model was sent: OpenCompass dumps its config and loads the dump again
    # before any task runs, so this also covers its own re-loads.
    sent = strings(json.loads((stage / "out/predictions/download/qa.json").read_text()))
    question = json.loads((tmp_path / "qa.jsonl").read_text().splitlines()[0])["question"]
    assert any(TRICKY + " " + question in s for s in sent), sent[:4]
    for path in stage.rglob("*"):
        if path.is_file() and path.stat().st_size < 10_000_000:
            assert SECRET not in path.read_text(errors="replace"), path
