"""A small self-cognition data set in each format, and a recipe around the tiny model."""

from __future__ import annotations

import json
import random
from pathlib import Path

from conftest import TINY_MODEL, write

QUESTIONS = ["Who are you?", "What is your name?", "Introduce yourself.", "你是谁？",
             "请介绍一下你自己", "Who made you?"]
ANSWER = "I am Bajie, an assistant made by internpipe."


def samples(n: int = 60) -> list[tuple[str, str]]:
    rng = random.Random(0)
    return [(rng.choice(QUESTIONS), ANSWER) for _ in range(n)]


def write_data(path: Path, fmt: str, n: int = 60) -> Path:
    rows = []
    for q, a in samples(n):
        if fmt == "openai":
            rows.append({"messages": [{"role": "user", "content": q},
                                      {"role": "assistant", "content": a}]})
        elif fmt == "alpaca":
            rows.append({"instruction": q, "input": "", "output": a})
        else:
            rows.append({"conversation": [{"input": q, "output": a}]})
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def recipe(dir: Path, extra: str = "", fmt: str = "openai", name: str = "ft",
           epochs: int = 3, save_every: int = 10, warmup: float = 0, n: int = 60) -> Path:
    write_data(dir / "data.jsonl", fmt, n)
    return write(dir / "r.yaml", f"""\
version: 1
name: {name}
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  finetune:
    data: data.jsonl
    format: {fmt}
    epochs: {epochs}
    lr: 2.0e-3
    warmup_ratio: {warmup}
    max_length: 256
    save_every: {save_every}
    log_every: 1
    lora: {{r: 8, alpha: 16, dropout: 0.0}}
{extra}""")
