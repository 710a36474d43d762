"""The chat-template lock: one registry (xtuner_templates.TEMPLATES) gives, for each XTuner
prompt template, the exact text XTuner trains on (`render`, XTuner's openai_map_fn +
template_map_fn + encode_fn as text) and a jinja chat template that renders the same text
(`jinja`), which finetune writes into the model folder it publishes. Serving engines
(`transformers serve`, LMDeploy's `hf` template) and OpenCompass's HuggingFace chat model
all render the folder's template, so they prompt the model as it was trained.

`mismatch` compares two templates on probe conversations (with and without a system
message); plan-time checks use it on the names a recipe declares, and a stage that starts
compares the folder's template text with the registry's (`folder_mismatch`). Pure Python:
no jinja here (jinja2 is not a dependency of internpipe; the engines render the jinja, and
tests/integration/test_chat_templates.py checks that it renders what XTuner trains on)."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path
from typing import Any

from internpipe.xtuner_templates import TEMPLATES

# A model's chat template (as download names it) → the XTuner prompt template it trains with.
FROM_CHAT_TEMPLATE = {"internlm2": "internlm2_chat", "internlm": "internlm_chat",
                      "llama3": "llama3_chat", "llama2": "llama2_chat", "qwen": "qwen_chat",
                      "chatml": "qwen_chat"}

# The conversations every pair of templates must render alike (the first with a system
# message, the second without: some engines inject a default system prompt).
PROBES: dict[str, list[dict[str, str]]] = {
    "system + user + assistant + user": [
        {"role": "system", "content": "You are a helpful assistant. 你是一个助手。"},
        {"role": "user", "content": "Who are you? 你是谁？"},
        {"role": "assistant", "content": "I am the assistant. 我是助手。"},
        {"role": "user", "content": "What is 2 + 3?"}],
    "user + assistant + user (no system message)": [
        {"role": "user", "content": "Who are you? 你是谁？"},
        {"role": "assistant", "content": "I am the assistant. 我是助手。"},
        {"role": "user", "content": "What is 2 + 3?"}],
}
BOS, EOS = "<BOS>", "<EOS>"      # stand-ins for the tokenizer's own in plan-time renders


def xtuner_name(name: str) -> str | None:
    """The XTuner template a template name means (its own name, or a chat template's name
    such as internlm2), None when the registry has none."""
    name = FROM_CHAT_TEMPLATE.get(name, name)
    return name if name in TEMPLATES else None


def turns(messages: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """XTuner's openai_map_fn: (system, input, output) per assistant reply (consecutive user
    messages joined, leading assistant messages dropped), then a last turn with output None
    when the conversation ends waiting for the assistant."""
    msgs = list(messages)
    while msgs and msgs[0].get("role") == "assistant":
        msgs.pop(0)
    found: list[tuple[str, str, str | None]] = []
    system = text = ""
    pending = False
    for msg in msgs:
        role, content = msg.get("role"), _text(msg.get("content"))
        if role == "system":
            system = content
        elif role == "user":
            text, pending = text + content, True
        elif role == "assistant":
            found.append((system, text, content))
            system, text, pending = "", "", False
    if pending or system:
        found.append((system, text, None))
    return found


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return ""


def render(name: str, messages: list[dict[str, Any]], bos: str = BOS, eos: str = EOS) -> str:
    """The text XTuner trains on for `messages` with template `name` (template_map_fn, then
    encode_fn's BOS / EOS / SEP), ending with the prompt for the next reply when the last
    message is the user's."""
    tpl = TEMPLATES[name]
    out, needs_bos = "", True
    for i, (system, text, output) in enumerate(turns(messages)):
        if needs_bos:
            out += bos
        if system and tpl.system:
            out += tpl.system.format(system=system)
        out += tpl.instruction.format(input=text, round=i + 1)
        if output is None:
            break
        out += output + tpl.suffix
        needs_bos = not tpl.suffix_as_eos
        if needs_bos:
            out += eos
        out += tpl.sep
    return out


def mismatch(trained: str, other: str) -> str | None:
    """How template `other` renders the probes differently from `trained` (both registry
    names), or None when they render the same text."""
    for what, probe in PROBES.items():
        a, b = render(trained, probe), render(other, probe)
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                      min(len(a), len(b)))
            return (f"for a probe conversation ({what}) training renders "
                    f"{a[max(0, at - 20):at + 40]!r} where it renders "
                    f"{b[max(0, at - 20):at + 40]!r}")
    return None


def _lit(text: str) -> str:
    """A jinja string expression of `text` (jinja reads a string literal's escapes as
    Python's unicode-escape, which JSON's ASCII escapes are)."""
    return "{{- " + json.dumps(text, ensure_ascii=True) + " -}}"


def _fmt(pattern: str, fields: dict[str, str]) -> str:
    """A Python format string of XTuner's as jinja: its literal parts as strings, each
    {field} as the jinja expression `fields` names."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(pattern):
        if literal:
            parts.append(_lit(literal))
        if field is not None:
            parts.append("{{- " + fields[field] + " -}}")
    return "".join(parts)


def jinja(name: str) -> str:
    """A jinja chat template that renders exactly `render(name, messages, bos_token,
    eos_token)`. The assistant's header is part of XTuner's INSTRUCTION, so the prompt for
    the next reply follows every user turn (add_generation_prompt changes nothing)."""
    tpl = TEMPLATES[name]
    turn = ("{%- if ns.bos and bos_token -%}{{- bos_token -}}{%- endif -%}"
            + (("{%- if ns.system -%}" + _fmt(tpl.system, {"system": "ns.system"})
                + "{%- endif -%}") if tpl.system else "")
            + _fmt(tpl.instruction, {"input": "ns.input", "round": "ns.round"}))
    close = _lit(tpl.suffix) if tpl.suffix else ""
    if tpl.suffix_as_eos:
        close += "{%- set ns.bos = false -%}"
    else:
        close += "{%- if eos_token -%}{{- eos_token -}}{%- endif -%}{%- set ns.bos = true -%}"
    close += _lit(tpl.sep) if tpl.sep else ""
    return (
        f"{{#- internpipe: XTuner 0.2.0 prompt template {name} -#}}"
        "{%- set ns = namespace(system='', input='', pending=false, round=0, bos=true, "
        "started=false) -%}"
        "{%- for message in messages -%}"
        "{%- if message['content'] is string -%}{%- set content = message['content'] -%}"
        "{%- elif message['content'] -%}{%- set content = message['content'] | "
        "selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') -%}"
        "{%- else -%}{%- set content = '' -%}{%- endif -%}"
        "{%- if message['role'] == 'system' -%}"
        "{%- set ns.system = content -%}{%- set ns.started = true -%}"
        "{%- elif message['role'] == 'user' -%}"
        "{%- set ns.input = ns.input + content -%}{%- set ns.pending = true -%}"
        "{%- set ns.started = true -%}"
        "{%- elif message['role'] == 'assistant' and ns.started -%}"
        "{%- set ns.round = ns.round + 1 -%}" + turn + "{{- content -}}" + close
        + "{%- set ns.system = '' -%}{%- set ns.input = '' -%}{%- set ns.pending = false -%}"
        "{%- endif -%}{%- endfor -%}"
        "{%- if ns.pending or ns.system -%}{%- set ns.round = ns.round + 1 -%}" + turn
        + "{%- endif -%}")


def folder_template(folder: Path) -> str | None:
    """The chat template a model folder carries: chat_template.jinja (read first by
    transformers 5) else tokenizer_config.json's `chat_template`."""
    jinja_file = folder / "chat_template.jinja"
    try:
        if jinja_file.is_file():
            return jinja_file.read_text(encoding="utf-8")
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("chat_template") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def folder_mismatch(folder: Path, trained: str) -> str | None:
    """Why the model folder would not be prompted as it was trained with `trained`, or None
    (its template is the one finetune wrote for that XTuner template)."""
    found = folder_template(folder)
    if found is None:
        return f"{folder} has no chat template (finetune wrote one for {trained})"
    if found != jinja(trained):
        return (f"the chat template in {folder} is not the one finetune trained with "
                f"({trained}): a serving engine or OpenCompass would render other text")
    return None


def write_folder_template(folder: Path, name: str) -> None:
    """Make `folder`'s tokenizer render template `name`: chat_template.jinja (transformers 5)
    and tokenizer_config.json's `chat_template` (transformers 4.x) hold the same text."""
    text = jinja(name)
    _replace(folder / "chat_template.jinja", text)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["chat_template"] = text
    _replace(config_file, json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def _replace(path: Path, text: str) -> None:
    """Write a new file in place of `path` (never through it: it may be a hard link into
    a model cache or another stage's output)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def stop_token_ids(folder: Path, words: tuple[str, ...]) -> list[int]:
    """The ids of the stop words that are single tokens of the folder's tokenizer.json (its
    added tokens, then its vocabulary)."""
    try:
        tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    ids = {t.get("content"): t.get("id") for t in tok.get("added_tokens") or []
           if isinstance(t, dict)}
    vocab = (tok.get("model") or {}).get("vocab")
    found = []
    for word in words:
        value = ids.get(word)
        if value is None and isinstance(vocab, dict):
            value = vocab.get(word)
        if isinstance(value, int):
            found.append(value)
    return found


def add_stop_tokens(folder: Path, name: str) -> list[int]:
    """End generation where the template ends a reply: its stop words' token ids join
    generation_config.json's `eos_token_id` (which transformers' generate, `transformers
    serve` and OpenCompass's stop words all read). The ids added."""
    ids = stop_token_ids(folder, TEMPLATES[name].stop_words)
    path = folder / "generation_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    eos = config.get("eos_token_id")
    if eos is None:          # no generation config: generate() reads the model's config
        try:
            eos = json.loads((folder / "config.json").read_text()).get("eos_token_id")
        except (OSError, ValueError, AttributeError):
            eos = None
    current = [eos] if isinstance(eos, int) else list(eos) if isinstance(eos, list) else []
    added = [i for i in ids if i not in current]
    if added:
        config["eos_token_id"] = current + added
        _replace(path, json.dumps(config, indent=2) + "\n")
    return added
