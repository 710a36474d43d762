"""Evaluation data files for OpenCompass's custom datasets, checked before anything launches:
every row read, problems as file:line with what was expected. Pure; reads the files only.

OpenCompass reads a custom dataset as JSON lines or CSV and takes its columns from the
first row (every key but `answer` is an input). A JSON list, and fine-tuning data (openai,
XTuner or alpaca records: the first question and its answer), are staged as JSON lines
first. The types, as OpenCompass defines them:
  qa:   {"question": "...", "answer": "..."}
  mcq:  {"question": "...", "A": "...", "B": "...", ..., "answer": "A"} with options A, B, …
        as consecutive capital letters (at least two)
"""

from __future__ import annotations

import csv
import io
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from internpipe.datafiles import Problems, checked_once, json_records, read_text, sampled
from internpipe.errors import Problem
from internpipe.workers import chatdata
from internpipe.workers.jsonstream import Sample

VERSION = 3        # of what a check finds: bump when it changes (the results are kept)
BLANK = "blank line (OpenCompass parses every line as JSON)"


def read_rows(path: Path, problems: Problems,
              sample: Sample | None = None) -> Iterator[tuple[int, Any]]:
    """(line, row) of a .jsonl, .json (one list) or .csv file, read as it goes (JSON lines
    only at evenly spaced places with a `sample`); what cannot be read goes to `problems`."""
    if path.suffix == ".csv":
        yield from _csv_rows(path, problems)
    elif path.suffix not in (".jsonl", ".json"):
        problems.add(None, "custom datasets are read from .jsonl, .json or .csv files")
    else:
        # OpenCompass parses every line, so a blank one would break its loader.
        yield from json_records(path, problems, blank=BLANK, sample=sample)


def _csv_rows(path: Path, problems: Problems) -> Iterator[tuple[int, Any]]:
    text, unreadable = read_text(path, problems.shown_as)
    if text is None:
        for p in unreadable:
            problems.add(p.line, p.message)
        return
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
        if not header:
            problems.add(1, "the CSV file has no header row")
            return
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, dict(zip(header, row, strict=False))
    except csv.Error as exc:
        why = f"CSV: {exc}"
        if "field limit" in str(exc):
            why = (f"a field longer than {csv.field_size_limit()} characters, which the "
                   "csv module (and so OpenCompass) refuses")
        problems.add(max(reader.line_num, 1), why)


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
    """The columns a prompt names, each as `{column}`; ValueError for anything else in braces
    (OpenCompass fills in `{column}` only and would send the rest as it is)."""
    fields = []
    for _, name, spec, conversion in string.Formatter().parse(prompt):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            written = "{" + name + (f"!{conversion}" if conversion else "") + \
                (f":{spec}" if spec else "") + "}"
            raise ValueError(f"{written} is not a placeholder: write {{COLUMN}}, a column of "
                             "the data, e.g. {question}")
        fields.append(name)
    if not fields:
        raise ValueError("the prompt names no column, so the question would not be sent; "
                         "write e.g. 'Answer briefly: {question}'")
    return fields


@dataclass
class EvalData:
    """What a custom evaluation file holds. `staged`: OpenCompass cannot read it as it is
    (a JSON list, or chat records: fine-tuning data), so the stage writes its qa rows
    (workers/chatdata.py) and OpenCompass reads those."""

    rows: int
    problems: list[Problem]
    columns: list[str]
    staged: bool
    answers: int = 0       # rows with a text answer …
    chinese: int = 0       # … of which hold Chinese characters (a plan warning about rouge)
    parsed: int = 0        # > 0: a sampled check parsed these lines; `rows` is the line count


def check_file(path: Path, kind: str, shown_as: str) -> EvalData:
    """Every row of one custom evaluation file, or evenly spaced rows of a very large one
    (datafiles.sampled); re-checked only when it changed."""
    sample = Sample() if path.suffix == ".jsonl" and sampled(path) else None
    return checked_once(path, ("eval", VERSION, kind, shown_as, sample is not None),
                        lambda: _check_file(path, kind, shown_as, sample), EvalData)


def _check_file(path: Path, kind: str, shown_as: str, sample: Sample | None) -> EvalData:
    problems = Problems(shown_as)
    count, columns, chat, answers, chinese = 0, [], False, 0, 0
    for n, row in read_rows(path, problems, sample):
        if problems.full:
            break
        if not count:
            chat = chatdata.is_chat(row)
            if chat and kind != "qa":
                problems.add(n, f"{kind}: fine-tuning records (messages, conversation, "
                                "instruction) give questions and answers: use type: qa")
                break
        if chat:
            row = chatdata.qa_row(row) or "no user turn followed by an assistant reply"
        if not count and isinstance(row, dict):
            columns = [k for k in row if k != "answer"] + ["answer"]
        count += 1
        why = row if isinstance(row, str) else _check_row(row, kind, columns)
        if why:
            problems.add(n, f"{kind}: {why}")
        elif isinstance(row, dict) and isinstance(row.get("answer"), str):
            answers += 1
            chinese += bool(CJK.search(row["answer"]))
    found = problems.as_list()
    if not count and not found:
        found.append(Problem(shown_as, 1, "", "the data file has no rows"))
    parsed = sample.parsed if sample and sample.lines else 0
    return EvalData(sample.lines if parsed and sample else count, found, columns[:-1],
                    chat or path.suffix == ".json", answers, chinese, parsed)


# CJK ideographs: answers holding them are Chinese (or Japanese) text.
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
