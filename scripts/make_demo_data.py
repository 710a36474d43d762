#!/usr/bin/env python3
"""Generate the CPU demo's data (like the InternLM course's generate_data.py):

    python scripts/make_demo_data.py        # writes recipes/data/{assistant,assistant_eval}.jsonl

assistant.jsonl (fine-tuning, openai format, one conversation per line):
  - the course's "personal assistant" exercise: the model learns its new name and maker;
  - Calculator tool calls in InternLM2's agent protocol, as the demo's agent stage sends
    them: the tools' system prompt, the question, the call
    (`<|action_start|><|plugin|>{json}<|action_end|>`), the tool's result (sent as a user
    turn: XTuner's openai format has no tool role, so the recipe's agent says
    `tool_result_role: user`) and the final answer.
assistant_eval.jsonl (evaluation, OpenCompass qa): held-out questions about the assistant,
none of them in the training set.

Deterministic (seeded). The tiny demo model memorises rather than generalises: the agent's
queries are among the tool problems taught here.
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
HELD_OUT_EN = ["Please tell me your name.", "Who built you?", "What are you called?",
               "Can you introduce yourself briefly?", "Which assistant am I talking to?",
               "Who developed you?"]
HELD_OUT_ZH = ["你好，你是谁？", "你的名字是什么？", "谁开发了你？", "能介绍一下你是谁吗？"]
ANSWER_EN = f"I am {NAME}, an assistant made by {MAKER}."
ANSWER_ZH = f"我是{NAME}，由{MAKER}打造的助手。"
# The agent stage's `plugin_prompt` in recipes/demo-cpu.yaml: the same text here and there.
TOOLS_PROMPT = "You can call the Calculator tool."
PROBLEMS = [("What is 3.5 * 12?", "3.5 * 12"), ("What is 17 + 26?", "17 + 26"),
            ("Calculate 144 / 12.", "144 / 12"), ("What is 2 ** 10?", "2 ** 10"),
            ("How much is 99 - 58?", "99 - 58"), ("What is 6 * 9?", "6 * 9")]


def self_cognition(n: int, rng: random.Random, system: str | None = None) -> list[dict]:
    out = []
    for _ in range(n):
        if rng.random() < 0.6:
            q, a = rng.choice(QUESTIONS_EN), ANSWER_EN
        else:
            q, a = rng.choice(QUESTIONS_ZH), ANSWER_ZH
        messages = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        out.append({"messages": messages})
    return out


def tool_call(question: str, expression: str) -> dict:
    """One Calculator round trip, worded exactly as lagent's Internlm2Protocol writes it."""
    result = str(eval(expression, {"__builtins__": {}}))  # what AgentLego's Calculator says
    call = {"name": "Calculator", "parameters": {"expression": expression}}
    return {"messages": [
        {"role": "system", "content": TOOLS_PROMPT},
        {"role": "user", "content": question},
        {"role": "assistant", "content": "Let me calculate.<|action_start|><|plugin|>\n"
                                         f"{json.dumps(call)}<|action_end|>\n"},
        {"role": "user", "content": result},
        {"role": "assistant", "content": f"The answer is {result}."}]}


def training_set(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = self_cognition(120, rng) + self_cognition(24, rng, TOOLS_PROMPT)
    rows += [tool_call(q, e) for q, e in PROBLEMS for _ in range(20)]
    rng.shuffle(rows)
    return rows


def eval_set() -> list[dict]:
    return [{"question": q, "answer": ANSWER_EN} for q in HELD_OUT_EN] + \
        [{"question": q, "answer": ANSWER_ZH} for q in HELD_OUT_ZH]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    print(f"wrote {path}: {len(rows)} rows")


def main(dest: str = "recipes/data") -> None:
    folder = Path(dest)
    held_out = {q for q in HELD_OUT_EN + HELD_OUT_ZH}
    assert not held_out & set(QUESTIONS_EN + QUESTIONS_ZH), "held-out questions leaked"
    write_jsonl(folder / "assistant.jsonl", training_set())
    write_jsonl(folder / "assistant_eval.jsonl", eval_set())


if __name__ == "__main__":
    main(*sys.argv[1:2])
