"""modelkind: text or vision-language, from a config or a hub name."""

from __future__ import annotations

from pathlib import Path

import pytest

from internpipe import modelkind


@pytest.mark.parametrize(("config", "kind"), [
    ({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}, "text"),
    ({"architectures": ["InternLM2ForCausalLM"], "model_type": "internlm2"}, "text"),
    ({"architectures": ["InternVLChatModel"], "model_type": "internvl_chat",
      "llm_config": {}}, "vision-language"),
    ({"architectures": ["InternLMXComposer2ForCausalLM"],
      "model_type": "internlmxcomposer2"}, "vision-language"),
    ({"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
      "vision_config": {}, "text_config": {}}, "vision-language"),
    ({"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}, "text"),
])
def test_of_config(config: dict, kind: str) -> None:
    assert modelkind.of_config(config) == kind


@pytest.mark.parametrize(("source", "kind"), [
    ("modelscope:OpenGVLab/InternVL2-2B", "vision-language"),
    ("hf:Shanghai_AI_Laboratory/internlm-xcomposer2-vl-7b", "vision-language"),
    ("modelscope:Qwen/Qwen2-VL-2B-Instruct", "vision-language"),
    ("modelscope:Shanghai_AI_Laboratory/internlm2_5-7b-chat", "text"),
    ("openxlab:OpenLMLab/InternLM2-Chat-1.8B", "text"),
])
def test_of_source_by_name(source: str, kind: str, tmp_path: Path) -> None:
    assert modelkind.of_source(source, tmp_path) == kind
