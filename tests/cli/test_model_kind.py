"""A model is known as a text or vision-language model from its config (or, before it is
downloaded, its hub name); the artifact of every model stage carries it (`modality`), and
stages that cannot take a vision-language model refuse it before anything runs, at the
stage's recipe line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_MODEL, TINY_VLM, cli, write


def recipe(tmp_path: Path, source: str, stages: str, device: str = "cpu") -> Path:
    return write(tmp_path / "r.yaml", f"""\
version: 1
name: kind
device: {device}
stages:
  download:
    source: {source}
{stages}""")


def test_the_download_artifact_and_provenance_say_vision_language(tmp_path: Path) -> None:
    for name, source, kind in (("vlm", TINY_VLM, "vision-language"),
                               ("text", TINY_MODEL, "text")):
        where = tmp_path / name
        where.mkdir()
        r = recipe(where, str(source), "")
        assert cli("run", str(r), cwd=where).returncode == 0
        state = json.loads((where / ".internpipe/kind/state.json").read_text())
        assert state["stages"]["download"]["artifact"]["modality"] == kind
        out = where / ".internpipe/kind/stages/download/out"
        assert json.loads((out / "provenance.json").read_text())["modality"] == kind


QUANTIZE = "  quantize:\n    method: awq\n    samples: 0\n"
FINETUNE_TEXT = "  finetune:\n    data: d.jsonl\n"


@pytest.mark.parametrize(("source", "stages", "line", "words"), [
    (str(TINY_VLM), QUANTIZE, 7, "stages.quantize: the model is a vision-language model "
     f"(from its config, {TINY_VLM}): quantize on cpu takes text models"),
    ("modelscope:OpenGVLab/InternVL2-2B", QUANTIZE, 7, "stages.quantize: the model is a "
     "vision-language model (from its name modelscope:OpenGVLab/InternVL2-2B): quantize on "
     "cpu"),
    (str(TINY_VLM), FINETUNE_TEXT + "    format: openai\n", 9,
     "stages.finetune.format: a vision-language model is fine-tuned on image-question data "
     "(format llava), not openai"),
    (str(TINY_MODEL), FINETUNE_TEXT + "    format: llava\n", 9,
     "stages.finetune.format: llava data (images) trains a vision-language model"),
    (str(TINY_VLM), "  evaluate:\n    models: [download]\n    datasets:\n"
     "      - {path: d.jsonl, type: qa}\n", 8,
     "stages.evaluate.models: download is a vision-language model, which OpenCompass's text "
     "models cannot load"),
])
def test_stages_that_cannot_take_a_vlm_say_so_at_their_line(
        tmp_path: Path, source: str, stages: str, line: int, words: str) -> None:
    (tmp_path / "d.jsonl").write_text('{"messages": [{"role": "user", "content": "q"}, '
                                      '{"role": "assistant", "content": "a"}]}\n'
                                      if "finetune" in stages else
                                      '{"question": "q", "answer": "a"}\n')
    r = recipe(tmp_path, source, stages)
    result = cli("plan", str(r), cwd=tmp_path, COLUMNS="250")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"r.yaml:{line}: {words}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_vlm_finetune_on_cpu_says_it_needs_cuda_and_the_hub_code(tmp_path: Path) -> None:
    r = recipe(tmp_path, "modelscope:OpenGVLab/InternVL2-2B",
               "  finetune:\n    data: train.json\n    image_folder: imgs\n")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "train.json").write_text("[]\n")
    result = cli("plan", str(r), cwd=tmp_path, COLUMNS="250")
    assert result.returncode == 2
    assert "r.yaml:7: stages.finetune: the model is a vision-language model (from its name " \
           "modelscope:OpenGVLab/InternVL2-2B): XTuner 0.2.0 fine-tunes one through its " \
           "InternVL path, which needs CUDA" in result.stderr, result.stderr


def test_a_vlm_that_is_not_internvl_is_refused_for_finetune(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text("[]\n")
    r = recipe(tmp_path, str(TINY_VLM), "  finetune:\n    data: train.json\n",
               device="cuda")
    result = cli("plan", str(r), cwd=tmp_path, COLUMNS="250")
    assert result.returncode == 2
    assert "r.yaml:7: stages.finetune: the model is a vision-language model (from its " \
           f"config, {TINY_VLM}): XTuner 0.2.0 fine-tunes InternVL-Chat models only" \
        in result.stderr, result.stderr


def test_the_finetune_command_takes_llava_data_and_its_image_folder(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "train.json").write_text('[{"id": "1", "image": "gone.png", "conversations": '
                                         '[{"from": "human", "value": "<image>\\nQ"}, '
                                         '{"from": "gpt", "value": "A"}]}]\n')
    result = cli("finetune", "modelscope:OpenGVLab/InternVL2-2B", "--data", "train.json",
                 "--format", "llava", "--image-folder", "imgs", cwd=tmp_path, COLUMNS="250")
    assert result.returncode == 2
    assert "train.json:1: llava format: image 'gone.png' not found (looked in " \
           f"{tmp_path / 'imgs'})" in result.stderr, result.stderr
    assert "XTuner 0.2.0 fine-tunes one through its InternVL path, which needs CUDA" \
        in result.stderr
