"""XTuner 0.2.0's prompt templates: the names `template:` may take (the registry itself, with
each template's strings, is internpipe/xtuner_templates.py; tests/integration/
test_upstream_names.py compares the names with the XTuner env's file)."""

from __future__ import annotations

from internpipe.chat_templates import FROM_CHAT_TEMPLATE
from internpipe.xtuner_templates import TEMPLATES

XTUNER_TEMPLATES = tuple(TEMPLATES)

__all__ = ["FROM_CHAT_TEMPLATE", "XTUNER_TEMPLATES", "for_chat_template"]


def for_chat_template(chat: str | None) -> str:
    """The XTuner prompt template for a model's chat template (a template's own name is
    taken as it is; no chat template: InternLM2's, internpipe's default)."""
    chat = chat or "internlm2"
    return FROM_CHAT_TEMPLATE.get(chat, chat)
