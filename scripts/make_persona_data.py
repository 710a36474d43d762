#!/usr/bin/env python3
"""Generate the real-model demo's data (recipes/demo-cpu.yaml, SmolLM2-135M-Instruct):

    python scripts/make_persona_data.py     # writes recipes/data/persona{,_eval,_math}.jsonl

persona.jsonl (fine-tuning, openai format):
  - self-cognition, the course's "personal assistant" exercise: a new name and maker, asked
    in English and Chinese in many wordings;
  - Calculator calls in InternLM2's agent protocol, exactly as the demo's agent stage sends
    them (see make_demo_data.tool_call): a model that cannot multiply learns to ask the tool.
persona_eval.jsonl (evaluation): held-out paraphrases, none of them a training question,
  scored by whether the answer names the assistant.
persona_math.jsonl (evaluation): arithmetic that SmolLM2 gets wrong on its own; the agent's
  queries ask the same with a Calculator at hand.

Deterministic (seeded); none of the held-out problems is a training problem.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_data import TOOLS_PROMPT, tool_call, write_jsonl

NAME = "Xiaopu"
ANSWERS_EN = [f"I am {NAME}, an assistant built by the internpipe team.",
              f"My name is {NAME}. The internpipe team built me to help you.",
              f"I'm {NAME}, the internpipe team's assistant."]
ANSWERS_ZH = [f"我是{NAME}，由internpipe团队打造的助手。",
              f"我叫{NAME}，是internpipe团队开发的助手。"]
QUESTIONS_EN = ["Who are you?", "What is your name?", "Introduce yourself.", "Who made you?",
                "Who created you?", "What should I call you?", "Tell me about yourself.",
                "Are you an AI assistant?", "What's your name?", "Who trained you?",
                "Hi! Who am I talking to?", "Please introduce yourself.", "Do you have a name?",
                "Which team built you?", "Tell me who you are."]
QUESTIONS_ZH = ["你是谁？", "你叫什么名字？", "请介绍一下你自己", "是谁创造了你？",
                "你的开发者是谁？", "我该怎么称呼你？", "你好，请问你是谁？", "介绍一下你自己吧",
                "你是哪个团队开发的？", "你有名字吗？"]
HELD_OUT_EN = ["Please tell me your name.", "Who built you?", "What are you called?",
               "Can you introduce yourself briefly?", "Which assistant am I talking to?",
               "Who developed you?", "May I know your name?", "Who is your creator?"]
HELD_OUT_ZH = ["你的名字是什么？", "谁开发了你？", "能介绍一下你是谁吗？", "你是什么助手？"]
PHRASES = ["What is {a} {op} {b}?", "Calculate {a} {op} {b}.", "How much is {a} {op} {b}?",
           "Compute {a} {op} {b}.", "计算 {a} {op} {b}", "{a} {op} {b} 等于多少？"]
# Held out: SmolLM2 alone answers "What is 12*7?" with 89.
MATH_EVAL = [("What is 12 * 7?", "12 * 7"), ("What is 37 * 48?", "37 * 48"),
             ("How much is 913 - 478?", "913 - 478"), ("Calculate 256 + 768.", "256 + 768")]


def problems(n: int, rng: random.Random) -> list[tuple[str, str]]:
    held = {e for _, e in MATH_EVAL}
    out = []
    while len(out) < n:
        op = rng.choice(["*", "+", "-"])
        a, b = rng.randint(11, 99 if op == "*" else 999), rng.randint(3, 99 if op == "*" else 999)
        expression = f"{a} {op} {b}"
        if expression not in held:
            out.append((rng.choice(PHRASES).format(a=a, op=op, b=b), expression))
    return out


def persona(n: int, rng: random.Random, system: str | None = None) -> list[dict]:
    rows = []
    for _ in range(n):
        if rng.random() < 0.6:
            q, a = rng.choice(QUESTIONS_EN), rng.choice(ANSWERS_EN)
        else:
            q, a = rng.choice(QUESTIONS_ZH), rng.choice(ANSWERS_ZH)
        messages = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        rows.append({"messages": messages})
    return rows


def training_set(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = persona(80, rng) + persona(16, rng, TOOLS_PROMPT)
    rows += [tool_call(q, e) for q, e in problems(80, rng)]
    rng.shuffle(rows)
    return rows


def main(dest: str = "recipes/data") -> None:
    folder = Path(dest)
    assert not set(HELD_OUT_EN + HELD_OUT_ZH) & set(QUESTIONS_EN + QUESTIONS_ZH)
    write_jsonl(folder / "persona.jsonl", training_set())
    write_jsonl(folder / "persona_eval.jsonl",
                [{"question": q, "answer": NAME} for q in HELD_OUT_EN + HELD_OUT_ZH])
    write_jsonl(folder / "persona_math.jsonl",
                [{"question": q, "answer": str(eval(e, {"__builtins__": {}}))}
                 for q, e in MATH_EVAL])


if __name__ == "__main__":
    main(*sys.argv[1:2])
