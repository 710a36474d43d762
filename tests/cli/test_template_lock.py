"""The chat-template lock at plan time and when a stage starts: a fine-tuned model is served
and evaluated with the prompt it was trained on, or the recipe is refused (exit 2) at the
line that breaks it. (That the folder finetune publishes renders what XTuner trains on is
tests/integration/test_chat_templates.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli
from internpipe import chat_templates, template_lock
from internpipe.errors import UserError
from internpipe.stages import InputRef, StageContext
from internpipe.stages.deploy.stage import Options, lmdeploy_argv
from internpipe.stages.evaluate.config import stop_words
from support.sft import recipe as sft_recipe


def chain(tmp: Path, template: str | None, deploy: str) -> Path:
    extra = f"    template: {template}\n" if template else ""
    return sft_recipe(tmp, extra=f"{extra}  deploy:\n    model: finetune\n{deploy}")


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_served_template_other_than_the_trained_one_is_a_plan_error(tmp_path: Path) -> None:
    r = chain(tmp_path, "internlm2_chat", "    chat_template: llama3\n")
    result = cli("validate", str(r))
    assert result.returncode == 2, result.stdout + result.stderr
    where = f"{r.name}:{line_of(r, 'chat_template: llama3')}: stages.deploy.chat_template:"
    assert where in result.stderr, result.stderr
    assert "the served prompt differs from the trained one" in result.stderr
    assert "stage 'finetune' is trained with internlm2_chat" in result.stderr
    assert "<|start_header_id|>" in result.stderr           # what the server would render
    assert cli("plan", str(r)).returncode == 2


def test_the_default_system_prompt_is_a_difference_too(tmp_path: Path) -> None:
    # llama2_chat's SYSTEM carries a default system text: it differs only when a system
    # message is given, so the probe with one catches it.
    r = chain(tmp_path, "llama2_chat", "    chat_template: code_llama_chat\n")
    result = cli("validate", str(r))
    assert result.returncode == 2 and "system + user + assistant + user" in result.stderr


def test_an_unknown_served_template_cannot_be_checked(tmp_path: Path) -> None:
    r = chain(tmp_path, "internlm2_chat", "    chat_template: vicuna-v9\n")
    result = cli("validate", str(r))
    assert result.returncode == 2 and "cannot be checked against" in result.stderr


@pytest.mark.parametrize("served", ["internlm2", "internlm2_chat", "hf", None])
def test_a_consistent_recipe_passes(tmp_path: Path, served: str | None) -> None:
    deploy = f"    chat_template: {served}\n" if served else "    port: auto\n"
    r = chain(tmp_path, "internlm2_chat", deploy)
    result = cli("validate", str(r))
    assert result.returncode == 0, result.stderr


def test_a_training_template_unknown_at_plan_time_waits_for_the_run(tmp_path: Path) -> None:
    # the download declares no chat_template: finetune's is detected from the model's files
    # when it runs, and deploy checks against it when it starts (below)
    r = chain(tmp_path, None, "    chat_template: llama3\n")
    assert cli("validate", str(r)).returncode == 0


def test_templates_that_render_alike_pass(tmp_path: Path) -> None:
    # qwen_chat and internlm2_chat write the same text (they differ in stop words only).
    assert chat_templates.mismatch("internlm2_chat", "qwen_chat") is None
    r = chain(tmp_path, "qwen_chat", "    chat_template: internlm2\n")
    assert cli("validate", str(r)).returncode == 0


def ctx(tmp_path: Path, model: Path, artifact: dict[str, object],
        **options: object) -> StageContext:
    return StageContext(name="deploy", kind="deploy", options=Options(**options),
                        recipe_name="assistant", recipe_dir=tmp_path, work=tmp_path / "w",
                        out=tmp_path / "o",
                        inputs={"model": [InputRef("finetune", "model", model, artifact)]},
                        device="cuda", python=tmp_path / "env" / "bin" / "python")


def tuned_folder(tmp_path: Path, template: str) -> Path:
    folder = tmp_path / "tuned"
    shutil.copytree(TINY_MODEL, folder)
    chat_templates.write_folder_template(folder, template)
    return folder


def test_a_started_stage_rechecks_the_folder(tmp_path: Path) -> None:
    art = {"template": "internlm2_chat", "chat_template": "internlm2"}
    good = tuned_folder(tmp_path, "internlm2_chat")
    template_lock.check_started(ctx(tmp_path, good, art), [ctx(tmp_path, good, art).input(
        "model")])                                      # the folder finetune wrote: fine
    # LMDeploy renders the folder's own template (it has no `internlm2` in 0.18)
    argv = lmdeploy_argv(ctx(tmp_path, good, art), 23333)
    assert argv[argv.index("--chat-template") + 1] == "hf"

    # a folder whose template was replaced since (the base model's own) is refused
    (good / "chat_template.jinja").unlink()
    shutil.copy2(TINY_MODEL / "tokenizer_config.json", good / "tokenizer_config.json")
    c = ctx(tmp_path, good, art)
    with pytest.raises(UserError, match="not the one finetune trained with"):
        template_lock.check_started(c, [c.input("model")])


def test_a_template_known_only_at_run_time_is_checked_when_the_stage_starts(
        tmp_path: Path) -> None:
    art = {"template": "internlm2_chat"}
    folder = tuned_folder(tmp_path, "internlm2_chat")
    c = ctx(tmp_path, folder, art, chat_template="llama3")
    with pytest.raises(UserError, match="the served prompt differs"):
        template_lock.check_started(c, [c.input("model")], "llama3", ("chat_template",))


def test_the_published_folder_ends_replies_at_the_templates_stop_token(tmp_path: Path) -> None:
    folder = tuned_folder(tmp_path, "internlm2_chat")
    added = chat_templates.add_stop_tokens(folder, "internlm2_chat")
    config = json.loads((folder / "generation_config.json").read_text())
    vocab = {t["content"]: t["id"] for t in
             json.loads((folder / "tokenizer.json").read_text())["added_tokens"]}
    assert added == [vocab["<|im_end|>"]]
    assert config["eos_token_id"] == [2, vocab["<|im_end|>"]]       # </s> stays
    # OpenCompass is told the same stop words for the tuned and the base model
    tuned = InputRef("finetune", "model", folder, {"template": "internlm2_chat"})
    base = InputRef("download", "model", TINY_MODEL, {"chat_template": "internlm2"})
    assert stop_words(tuned) == stop_words(base) == ["<|im_end|>"]
