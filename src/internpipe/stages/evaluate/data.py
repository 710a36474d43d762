"""Evaluation data files for OpenCompass's custom datasets, checked before anything launches:
every row read, problems as file:line with what was expected. Pure; reads the files only.

OpenCompass reads a custom dataset as JSON lines or CSV and takes its columns from the
first row (every key but `answer` is an input). The types, as OpenCompass defines them:
  qa:   {"question": "...", "answer": "..."}
  mcq:  {"question": "...", "A": "...", "B": "...", ..., "answer": "A"} with options A, B, …
        as consecutive capital letters (at least two)
"""

from __future__ import annotations

import csv
import io
import string
from pathlib import Path
from typing import Any

from internpipe.datafiles import checked_once, json_lines, read_text
from internpipe.errors import Problem

MAX_PROBLEMS = 20


def read_rows(path: Path, shown_as: str) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """(line, row) pairs of a .jsonl or .csv file, and what could not be read."""
    text, unreadable = read_text(path, shown_as)
    if text is None:
        return [], unreadable
    if path.suffix == ".csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header:
            return [], [Problem(shown_as, 1, "", "the CSV file has no header row")]
        return [(reader.line_num, dict(zip(header, row, strict=False))) for row in reader
                if any(cell.strip() for cell in row)], []
    if path.suffix != ".jsonl":
        return [], [Problem(shown_as, None, "", "OpenCompass reads custom datasets from "
                                                ".jsonl or .csv files only")]
    # OpenCompass parses every line, so a blank one would break its loader.
    return json_lines(text, shown_as, blank="blank line (OpenCompass parses every line as "
                                            "JSON)")


def options_of(row: dict[str, Any]) -> list[str]:
    """The option columns as OpenCompass finds them: A, B, … up to the first gap."""
    found = []
    for letter in string.ascii_uppercase:
        if letter not in row:
            break
        found.append(letter)
    return found


def _check_row(row: Any, kind: str, columns: list[str]) -> str | None:
    if not isinstance(row, dict):
        return "expected a JSON object"
    missing = [c for c in columns if c not in row]
    if missing:
        return f"missing {', '.join(map(repr, missing))} (the first row has them, and " \
               "OpenCompass takes the columns from it)"
    if not isinstance(row.get("question"), str) or not row["question"].strip():
        return '"question" must be a non-empty string'
    answer = row.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        return '"answer" must be a non-empty string'
    if kind == "mcq":
        options = options_of(row)
        if len(options) < 2:
            return 'an mcq row needs options "A", "B", … (at least two)'
        for letter in options:
            if not isinstance(row[letter], str):
                return f'option "{letter}" must be a string'
        if answer.strip() not in options:
            return f'"answer" must be one of {", ".join(options)}, got {answer!r}'
    return None


def prompt_fields(prompt: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(prompt) if name]


def check_file(path: Path, kind: str, shown_as: str,
               prompt: str | None = None) -> tuple[int, list[Problem]]:
    """(number of rows, problems) for one custom evaluation file; re-checked only when it
    changed."""
    result: tuple[int, list[Problem]] = checked_once(
        path, ("eval", kind, shown_as, prompt), lambda: _check_file(path, kind, shown_as,
                                                                    prompt))
    return result


def _check_file(path: Path, kind: str, shown_as: str,
                prompt: str | None) -> tuple[int, list[Problem]]:
    rows, problems = read_rows(path, shown_as)
    if not rows:
        return 0, problems or [Problem(shown_as, 1, "", "the data file has no rows")]
    first = rows[0][1]
    columns = [k for k in first if k != "answer"] + ["answer"] if isinstance(first, dict) \
        else []
    for n, row in rows:
        if len(problems) >= MAX_PROBLEMS:
            break
        why = _check_row(row, kind, columns)
        if why:
            problems.append(Problem(shown_as, n, "", f"{kind}: {why}"))
    if prompt is not None and isinstance(first, dict):
        try:
            unknown = [f for f in prompt_fields(prompt) if f not in first or f == "answer"]
        except ValueError as exc:
            problems.append(Problem(shown_as, None, "prompt", f"not a format string: {exc}"))
        else:
            if unknown:
                problems.append(Problem(shown_as, None, "prompt",
                                        f"{{{unknown[0]}}} is not an input column of the "
                                        f"data (columns: {', '.join(columns[:-1])})"))
    return len(rows), problems
