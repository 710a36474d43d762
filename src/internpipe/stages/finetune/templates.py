"""XTuner 0.2.0's prompt templates (`xtuner.utils.templates.PROMPT_TEMPLATE`), as data: the
names `template:` may take. Read from the installed package's source, not imported (XTuner
lives in its own environment); tests/integration/test_upstream_names.py compares this list
with the XTuner env's file."""

from __future__ import annotations

XTUNER_TEMPLATES = (
    "default", "zephyr", "internlm_chat", "internlm2_chat", "moss_sft", "llama2_chat",
    "code_llama_chat", "chatglm2", "chatglm3", "qwen_chat", "baichuan_chat", "baichuan2_chat",
    "wizardlm", "wizardcoder", "vicuna", "deepseek_coder", "deepseekcoder", "deepseek_moe",
    "deepseek_v2", "mistral", "mixtral", "minicpm", "minicpm3", "gemma", "cohere_chat",
    "llama3_chat", "phi3_chat",
)

# A model's chat template (as download names it) → the XTuner prompt template it trains with.
FROM_CHAT_TEMPLATE = {"internlm2": "internlm2_chat", "internlm": "internlm_chat",
                      "llama3": "llama3_chat", "llama2": "llama2_chat", "qwen": "qwen_chat",
                      "chatml": "qwen_chat"}


def for_chat_template(chat: str | None) -> str:
    """The XTuner prompt template for a model's chat template (a template's own name is
    taken as it is; no chat template: InternLM2's, internpipe's default)."""
    chat = chat or "internlm2"
    return FROM_CHAT_TEMPLATE.get(chat, chat)
