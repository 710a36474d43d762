"""The chat-template lock with the real tools on the tiny model: the registry is XTuner's own;
the folder finetune publishes renders exactly the text XTuner trained on, through
`tokenizer.apply_chat_template` in every env that reads it (XTuner's transformers 4.48,
OpenCompass's 4.57, the serving engine's 5.x); OpenCompass's predictions end where the
template ends a reply; and the Chinese-capable metrics score what they should."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from conftest import cli
from internpipe import chat_templates, envs
from internpipe.xtuner_templates import TEMPLATES
from support.sft import ANSWER, recipe

pytestmark = pytest.mark.integration

REGISTRY = """
import json
from xtuner.utils import PROMPT_TEMPLATE
print("JSON:" + json.dumps({k: dict(v) for k, v in PROMPT_TEMPLATE.items()}))
"""

# XTuner's own pipeline (openai_map_fn → template_map_fn → encode_fn) on each probe ended by
# an assistant reply, decoded: the text it trains on; and what the folder's template renders.
XTUNER_TEXT = """
import copy, json, sys
from transformers import AutoTokenizer
from xtuner.dataset.map_fns import openai_map_fn, template_map_fn
from xtuner.dataset.utils import encode_fn
from xtuner.utils import PROMPT_TEMPLATE
tok = AutoTokenizer.from_pretrained(sys.argv[1])
out = {}
for name, probe in json.loads(sys.argv[3]).items():
    full = probe + [{"role": "assistant", "content": "5"}]
    ex = template_map_fn(openai_map_fn({"messages": copy.deepcopy(full)}),
                         PROMPT_TEMPLATE[sys.argv[2]])
    out[name] = tok.decode(encode_fn(ex, tok, 100000)["input_ids"])
print("JSON:" + json.dumps(out))
"""

RENDER = """
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
out = {}
for name, probe in json.loads(sys.argv[2]).items():
    full = probe + [{"role": "assistant", "content": "5"}]
    out[name] = [tok.apply_chat_template(full, tokenize=False),
                 tok.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)]
print("JSON:" + json.dumps(out))
"""


# The control: the same model generating with its base EOS only (</s>) goes on past the
# <|im_end|> that ends its reply.
RAW = """
import sys
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
ids = tok.apply_chat_template([{"role": "user", "content": "Who are you?"}],
                              add_generation_prompt=True, return_tensors="pt")
out = model.generate(ids, max_new_tokens=48, do_sample=False, eos_token_id=[tok.eos_token_id])
print("JSON:" + __import__("json").dumps(tok.decode(out[0][ids.shape[1]:])))
"""


def in_env(tool: str, script: str, *args: str) -> dict:
    env = envs.ensure(tool, "cpu")
    result = subprocess.run([str(env.python), "-c", script, *args], capture_output=True,
                            text=True, env=envs.step_environ(env, offline=True), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.split("JSON:", 1)[1])


def test_the_registry_is_xtuners_own() -> None:
    theirs = in_env("xtuner", REGISTRY)
    assert list(theirs) == list(TEMPLATES)
    for name, tpl in TEMPLATES.items():
        ours = {k.upper(): v for k, v in dataclasses.asdict(tpl).items()}
        ours["STOP_WORDS"] = list(ours["STOP_WORDS"])
        expected = {"SYSTEM": "", "SUFFIX": "", "SEP": "", "SUFFIX_AS_EOS": False,
                    "STOP_WORDS": [], **theirs[name]}
        assert ours == expected, name


def test_the_published_folder_renders_what_xtuner_trained_on(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": q, "answer": ANSWER}) + "\n"
                          for q in ("Who are you?", "你是谁？")))
    # A full fine-tune that learns to end its reply with <|im_end|> (as the demo's).
    r = recipe(tmp_path, n=60, epochs=4, extra="""\
    method: full
  evaluate:
    models: [finetune]
    datasets: [{path: qa.jsonl, type: qa, metric: rouge_zh}]
    max_out_len: 48
""")
    result = cli("run", str(r), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    work = tmp_path / ".internpipe/ft/stages"
    folder = work / "finetune/out"
    probes = json.dumps(chat_templates.PROBES)

    trained = in_env("xtuner", XTUNER_TEXT, str(folder), "internlm2_chat", probes)
    assert "<|im_start|>system\nYou are a helpful" in trained["system + user + assistant + user"]
    reply = "5" + TEMPLATES["internlm2_chat"].suffix + TEMPLATES["internlm2_chat"].sep
    for tool in ("xtuner", "opencompass", "transformers"):     # transformers 4.48, 4.57, 5.x
        rendered = in_env(tool, RENDER, str(folder), probes)
        for name, text in trained.items():
            full, prompt = rendered[name]
            assert full == text, (tool, name, full, text)
            assert full == prompt + reply, (tool, name)        # the prompt the reply follows
    # The folder carries the registry's template, not the base model's own.
    assert chat_templates.folder_template(folder) == chat_templates.jinja("internlm2_chat")
    assert chat_templates.folder_template(work / "download/out") != \
        chat_templates.folder_template(folder)

    # Stop tokens: the reply ends at the template's <|im_end|>, which OpenCompass is told.
    vocab = {t["content"]: t["id"] for t in
             json.loads((folder / "tokenizer.json").read_text())["added_tokens"]}
    eos = json.loads((folder / "generation_config.json").read_text())["eos_token_id"]
    assert vocab["<|im_end|>"] in eos
    config = (work / "evaluate/out/opencompass_config.py").read_text()
    assert "stop_words=[\n" in config and "'<|im_end|>'" in config
    assert "JiebaRougeEvaluator" in config
    preds = json.loads((work / "evaluate/out/predictions/finetune/qa.json").read_text())
    raw = in_env("opencompass", RAW, str(folder))
    print("without the stop token:", repr(raw), [p["prediction"] for p in preds.values()])
    reply_end = raw.find("<|im_end|>")
    assert 0 < reply_end < len(raw) - len("<|im_end|>"), raw      # it goes on past it
    # Cut where the reply ends, though 48 new tokens were allowed.
    for item in preds.values():
        assert item["prediction"] and "<|im_end|>" not in item["prediction"], item
