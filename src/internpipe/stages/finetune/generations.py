"""XTuner's sample generations during training (EvaluateChatHook's
vis_data/eval_outputs_iter_N.txt: "Eval output K:" then the decoded prompt and answer) as
records {"iter", "prompt", "output"} for generations.jsonl, the report's interface. Pure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from internpipe.xtuner_templates import TEMPLATES

BLOCK = re.compile(r"^Eval output (\d+):\n", re.MULTILINE)
ITER = re.compile(r"eval_outputs_iter_(\d+)\.txt$")


def answer_of(text: str, prompt: str, template: str) -> str:
    """The model's part of a decoded sample: what follows the rendered prompt (the template's
    instruction), up to the template's stop word."""
    t = TEMPLATES.get(template)
    rendered = t.instruction.replace("{input}", prompt).replace("{round}", "1") if t else ""
    at = text.rfind(rendered) if rendered else -1
    if at >= 0:
        rest = text[at + len(rendered):]
    else:
        at = text.rfind(prompt)
        rest = text[at + len(prompt):] if at >= 0 else text
    for stop in ((t.suffix, *t.stop_words) if t else ()):
        if stop and stop in rest:
            rest = rest[:rest.index(stop)]
    return rest.strip()


def parse(text: str, iteration: int, prompts: list[str], template: str) -> list[dict[str, Any]]:
    marks = list(BLOCK.finditer(text))
    found = []
    for i, m in enumerate(marks):
        block = text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        number = int(m.group(1))
        prompt = prompts[number - 1] if 0 < number <= len(prompts) else ""
        found.append({"iter": iteration, "prompt": prompt,
                      "output": answer_of(block, prompt, template) if prompt else
                      block.strip()})
    return found


def from_files(paths: list[Path], prompts: list[str], template: str) -> list[dict[str, Any]]:
    """Every sample of every eval_outputs_iter_N.txt, in iteration order."""
    found: list[dict[str, Any]] = []
    numbered = []
    for path in paths:
        m = ITER.search(path.name)
        if m:
            numbered.append((int(m.group(1)), path))
    for iteration, path in sorted(numbered):
        found += parse(path.read_text(encoding="utf-8", errors="replace"), iteration, prompts,
                       template)
    return found
