"""Model folders readable alike by transformers 4.4x and 5.x: values copied where older
readers look, never changed; the model cache's hard-linked files never edited."""

from __future__ import annotations

import json
import os
from pathlib import Path

from internpipe import portable


def folder(tmp_path: Path) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "llama", "dtype": "bfloat16",
        "rope_parameters": {"rope_theta": 100000.0, "rope_type": "default"}}))
    (d / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "TokenizersBackend", "eos_token": "<|im_end|>"}))
    (d / "chat_template.jinja").write_text("{{ messages }}")
    return d


def test_values_of_transformers_5_are_copied_where_4x_reads_them(tmp_path: Path) -> None:
    d = folder(tmp_path)
    changes = portable.normalise(d)
    assert changes == ["rope_theta 100000.0", "torch_dtype bfloat16",
                       "tokenizer_class PreTrainedTokenizerFast", "model_input_names",
                       "chat_template in tokenizer_config.json"]
    config = json.loads((d / "config.json").read_text())
    assert config["rope_theta"] == 100000.0 and config["torch_dtype"] == "bfloat16"
    assert config["rope_parameters"]["rope_theta"] == 100000.0        # kept for 5.x
    tok = json.loads((d / "tokenizer_config.json").read_text())
    assert tok["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tok["model_input_names"] == ["input_ids", "attention_mask"]   # no token_type_ids
    assert tok["chat_template"] == "{{ messages }}" and tok["eos_token"] == "<|im_end|>"
    assert portable.normalise(d) == []                                 # idempotent


def test_a_stale_template_in_tokenizer_config_follows_the_jinja_file(tmp_path: Path) -> None:
    d = folder(tmp_path)
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": "old"}))
    assert portable.normalise(d)[-1] == "chat_template in tokenizer_config.json"
    assert json.loads((d / "tokenizer_config.json").read_text())["chat_template"] == \
        "{{ messages }}"


def test_a_scaled_rope_keeps_its_scaling_for_4x(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"rope_parameters": {
        "rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0}}))
    portable.normalise(d)
    config = json.loads((d / "config.json").read_text())
    assert config["rope_scaling"] == {"rope_type": "llama3", "factor": 8.0}


def test_a_hard_linked_cache_file_is_replaced_not_edited(tmp_path: Path) -> None:
    d = folder(tmp_path)
    cache = tmp_path / "cache-config.json"
    os.link(d / "config.json", cache)
    before = cache.read_text()
    portable.normalise(d)
    assert cache.read_text() == before
    assert (d / "config.json").stat().st_ino != cache.stat().st_ino


def test_a_4x_folder_is_left_alone(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    text = json.dumps({"model_type": "internlm2", "rope_theta": 1000000,
                       "torch_dtype": "float32"})
    (d / "config.json").write_text(text)
    assert portable.normalise(d) == []
    assert (d / "config.json").read_text() == text


def test_a_stale_dtype_follows_what_the_last_writer_saved(tmp_path: Path) -> None:
    """XTuner's merge (transformers 4.48) saves float16 weights and writes torch_dtype
    float16, keeping the base model's 5.x `dtype: bfloat16`: 5.x readers (LMDeploy) would
    take the model for bf16 and refuse it on a CPU."""
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "dtype": "bfloat16", "torch_dtype": "float16", "transformers_version": "4.48.0"}))
    assert portable.normalise(d) == ["dtype float16"]
    config = json.loads((d / "config.json").read_text())
    assert config["dtype"] == config["torch_dtype"] == "float16"
    (d / "config.json").write_text(json.dumps({
        "dtype": "bfloat16", "torch_dtype": "float32", "transformers_version": "5.23.0"}))
    portable.normalise(d)
    assert json.loads((d / "config.json").read_text())["torch_dtype"] == "bfloat16"
