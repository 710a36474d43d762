#!/usr/bin/env python3
"""Generate the CPU demo's fine-tuning data, the InternLM course's "personal assistant"
exercise (its generate_data.py): the model learns its new name and who made it.

    python scripts/make_demo_data.py            # writes recipes/data/assistant.jsonl

Deterministic (seeded); openai format, one conversation per line.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

NAME = "Bajie"
MAKER = "the internpipe demo"
QUESTIONS_EN = ["Who are you?", "What is your name?", "Introduce yourself.",
                "Who made you?", "Who created you?", "What should I call you?",
                "Tell me about yourself.", "Are you an AI assistant?"]
QUESTIONS_ZH = ["你是谁？", "你叫什么名字？", "请介绍一下你自己", "是谁创造了你？",
                "你的开发者是谁？", "我该怎么称呼你？"]
ANSWER_EN = f"I am {NAME}, an assistant made by {MAKER}."
ANSWER_ZH = f"我是{NAME}，由{MAKER}打造的助手。"


def conversations(n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.6:
            q, a = rng.choice(QUESTIONS_EN), ANSWER_EN
        else:
            q, a = rng.choice(QUESTIONS_ZH), ANSWER_ZH
        out.append({"messages": [{"role": "user", "content": q},
                                 {"role": "assistant", "content": a}]})
    return out


def main(dest: str = "recipes/data/assistant.jsonl", n: int = 120) -> None:
    path = Path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = conversations(n)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    print(f"wrote {path}: {len(rows)} conversations")


if __name__ == "__main__":
    main(*sys.argv[1:2])
