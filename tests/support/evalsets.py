"""Small evaluation sets about the assistant that support/sft.py teaches (qa and mcq), and a
few lines of staged gsm8k data in OpenCompass's layout."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_MODEL, write
from support.sft import ANSWER, QUESTIONS

MCQ = [
    {"question": "What is your name?", "A": "Wukong", "B": "Bajie", "C": "Wujing",
     "D": "Sanzang", "answer": "B"},
    {"question": "Who made you?", "A": "internpipe", "B": "a bakery", "C": "a river",
     "D": "nobody", "answer": "A"},
    {"question": "Introduce yourself.", "A": "I am a teapot", "B": "I am a cat",
     "C": "I am Bajie", "D": "I am a tree", "answer": "C"},
]
GSM8K = [
    {"question": "Tom has 3 apples and buys 2 more. How many apples does he have?",
     "answer": "3 + 2 = 5\n#### 5"},
    {"question": "A box has 10 pens and 4 are taken. How many are left?",
     "answer": "10 - 4 = 6\n#### 6"},
]


def jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_qa(path: Path) -> Path:
    return jsonl(path, [{"question": q, "answer": ANSWER} for q in QUESTIONS])


def write_mcq(path: Path) -> Path:
    return jsonl(path, MCQ)


def stage_gsm8k(data_dir: Path) -> Path:
    """The local layout OpenCompass reads gsm8k from: $COMPASS_DATA_CACHE/data/gsm8k/."""
    for split in ("train", "test"):
        jsonl(data_dir / "data" / "gsm8k" / f"{split}.jsonl", GSM8K)
    return data_dir


def two_model_recipe(folder: Path, name: str) -> Path:
    """A recipe evaluating the tiny model under two names (download, again) on the qa and mcq
    sets: two OpenCompass tasks per model, so a run can be caught between them."""
    write_qa(folder / "qa.jsonl")
    write_mcq(folder / "mcq.jsonl")
    return write(folder / "r.yaml", f"""\
version: 1
name: {name}
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  again:
    uses: download
    source: {TINY_MODEL}
  evaluate:
    models: [download, again]
    datasets: [{{path: qa.jsonl}}, {{path: mcq.jsonl, type: mcq}}]
    max_out_len: 256
""")
