"""Fine-tuning data files, checked before anything launches: every line parsed and matched to
its format, problems as file:line with what was expected. Pure; reads the files only.

Formats (JSON lines, or one JSON list; without `format:` the first record tells which):
  openai:  {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
           with at least one user and one assistant message
  alpaca:  {"instruction": "...", "input": "..." (optional), "output": "..."}
  xtuner:  {"conversation": [{"system": "..." (optional), "input": "...", "output": "..."}, ...]}
  llava:   {"image": "rel/path.jpg", "conversations": [{"from": "human", "value":
           "<image>\n..."}, {"from": "gpt", "value": "..."}]} (vision-language; its images
           are checked too: stages/finetune/vlmdata.py)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from internpipe.datafiles import Problems, checked_once, json_records, sampled
from internpipe.errors import Problem
from internpipe.stages.finetune import vlmdata
from internpipe.workers.jsonstream import Sample


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _openai(item: dict[str, Any]) -> str | None:
    messages = item.get("messages")
    if not isinstance(messages, list) or not messages:
        return 'expected "messages": a non-empty list of {"role", "content"}'
    roles = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"messages[{i}] is not an object"
        if m.get("role") not in ("system", "user", "assistant"):
            return f'messages[{i}].role must be "system", "user" or "assistant", got ' \
                   f"{m.get('role')!r}"
        if not _text(m.get("content")):
            return f"messages[{i}].content must be a string"
        roles.append(m["role"])
    if "user" not in roles or "assistant" not in roles:
        return "needs at least one user and one assistant message"
    return None


def _alpaca(item: dict[str, Any]) -> str | None:
    for key in ("instruction", "output"):
        if not _text(item.get(key)):
            return f'expected "{key}": a string'
    if "input" in item and not _text(item["input"]):
        return '"input" must be a string'
    return None


def _xtuner(item: dict[str, Any]) -> str | None:
    conversation = item.get("conversation")
    if not isinstance(conversation, list) or not conversation:
        return 'expected "conversation": a non-empty list of {"input", "output"}'
    for i, turn in enumerate(conversation):
        if not isinstance(turn, dict):
            return f"conversation[{i}] is not an object"
        for key in ("input", "output"):
            if not _text(turn.get(key)):
                return f'conversation[{i}].{key} must be a string'
        if "system" in turn and not _text(turn["system"]):
            return f"conversation[{i}].system must be a string"
    return None


VERSION = 2        # of what a check finds: bump when it changes (the results are kept)
CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "openai": _openai, "alpaca": _alpaca, "xtuner": _xtuner}
VISION = "llava"   # checked with its images (vlmdata.check_record), never from the cache
# The key that tells each format, in the order they are tried.
MARKS = (("messages", "openai"), ("conversations", VISION), ("conversation", "xtuner"),
         ("instruction", "alpaca"))
UNKNOWN = ('cannot tell the data format: a record needs "messages" (openai), "conversation" '
           '(xtuner), "instruction" (alpaca) or "conversations" (llava); set `format:` if it '
           'is one of these')


def detect(item: Any) -> str | None:
    """The format a record is written in, from its keys; None when none fits."""
    if isinstance(item, dict):
        for key, fmt in MARKS:
            if key in item:
                return fmt
    return None


def describe(fmt: str, item: Any) -> str:
    """How the plan names a format: "xtuner conversation with system", "openai messages"."""
    if fmt == "xtuner":
        turns = item.get("conversation") if isinstance(item, dict) else None
        first = turns[0] if isinstance(turns, list) and turns else None
        system = isinstance(first, dict) and "system" in first
        return "xtuner conversation" + (" with system" if system else "")
    return {"openai": "openai messages", VISION: "llava conversations with images"}.get(fmt, fmt)


@dataclass
class Checked:
    """What one data file holds: its samples, its format and whether it was detected.
    `parsed` > 0: a sampled check (a very large file) parsed that many lines, and `samples`
    is the file's line count."""

    samples: int
    format: str | None
    described: str
    detected: bool
    problems: list[Problem] = field(default_factory=list)
    parsed: int = 0

    @property
    def note(self) -> str:
        how = "detected" if self.detected else "from `format:`"
        return f"{self.counted}, {self.described}, {how}"

    @property
    def counted(self) -> str:
        if not self.parsed:
            return f"{self.samples} samples"
        return (f"about {self.samples} samples (a sampled check of this large file: "
                f"{self.parsed} lines parsed; --full-data-check parses every one)")


def check_file(path: Path, fmt: str | None, shown_as: str,
               image_root: Path | None = None) -> Checked:
    """Every sample of one data file against `fmt` (None: the format its first record is
    written in), or evenly spaced samples of a very large one (datafiles.sampled);
    re-checked only when the file changed, except vision-language data, whose images (under
    `image_root`, default: the file's folder) change without it."""
    root = image_root or path.parent
    sample = Sample() if sampled(path) else None
    found = checked_once(path, ("finetune", VERSION, fmt, shown_as, str(root),
                                sample is not None),
                         lambda: _check_file(path, fmt, shown_as, root, sample), Checked)
    if found.format != VISION:
        return found
    return _check_file(path, fmt, shown_as, root, Sample() if sample else None)


def _check_file(path: Path, forced: str | None, shown_as: str, image_root: Path,
                sample: Sample | None) -> Checked:
    problems = Problems(shown_as)
    count, fmt, first = 0, forced, None
    for n, item in json_records(path, problems, sample=sample):
        count += 1
        if count == 1:
            first = item
            fmt = forced or detect(item)
            if fmt is None:
                problems.add(n, UNKNOWN)
                break
        if not isinstance(item, dict):
            problems.add(n, f"expected a JSON object ({fmt} format)")
            continue
        why = vlmdata.check_record(item, image_root) if fmt == VISION else \
            CHECKS[str(fmt)](item)
        if why:
            problems.add(n, f"{fmt} format: {why}")
    hint = ""
    seen = detect(first)
    if forced and count and problems.records == count and seen not in (None, forced):
        hint = (f" (the records look like {describe(str(seen), first)}: set `format: "
                f"{seen}`, or leave `format:` out to detect it)")
    found = problems.as_list(hint)
    if not count and not found:
        found.append(Problem(shown_as, 1, "", "the data file has no samples"))
    parsed = sample.parsed if sample and sample.lines else 0
    return Checked(sample.lines if parsed and sample else count, fmt,
                   describe(fmt, first) if fmt else "unknown format", forced is None, found,
                   parsed)
