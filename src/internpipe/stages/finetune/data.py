"""Fine-tuning data files, checked before anything launches: every line parsed and matched to
its format, problems as file:line with what was expected. Pure; reads the files only.

Formats (JSON lines, or one JSON list):
  openai:  {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
           with at least one user and one assistant message
  alpaca:  {"instruction": "...", "input": "..." (optional), "output": "..."}
  xtuner:  {"conversation": [{"system": "..." (optional), "input": "...", "output": "..."}, ...]}
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from internpipe.datafiles import MAX_PROBLEMS, checked_once, json_records
from internpipe.errors import Problem


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


CHECKS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "openai": _openai, "alpaca": _alpaca, "xtuner": _xtuner}


def check_file(path: Path, fmt: str, shown_as: str) -> tuple[int, list[Problem]]:
    """(number of samples, problems) for one data file; re-checked only when it changed."""
    result: tuple[int, list[Problem]] = checked_once(
        path, (fmt, shown_as), lambda: _check_file(path, fmt, shown_as))
    return result


def _check_file(path: Path, fmt: str, shown_as: str) -> tuple[int, list[Problem]]:
    check = CHECKS[fmt]
    problems: list[Problem] = []
    count = 0
    for n, item in json_records(path, shown_as, problems):
        if len(problems) >= MAX_PROBLEMS:
            break
        count += 1
        if not isinstance(item, dict):
            problems.append(Problem(shown_as, n, "", f"expected a JSON object ({fmt} format)"))
            continue
        why = check(item)
        if why:
            problems.append(Problem(shown_as, n, "", f"{fmt} format: {why}"))
    if not count and not problems:
        problems.append(Problem(shown_as, 1, "", "the data file has no samples"))
    return count, problems
