"""The course's fine-tuning data, made by the course's own generators (InternLM/Tutorial), run
as they are written except for the output path and the repeat count: a generated fixture,
byte for byte what a student's file holds, not a hand-cut imitation.

  camp2  generate_data.py                   JSON list, indent 4, openai "messages"
  camp3  tools/xtuner_generate_assistant.py JSON list, indent 4, XTuner "conversation"
                                            records of input/output (n = 8000: 16002 records)
  camp4  the XTuner lesson's JSONL          one "conversation" record with "system" a line,
                                            written as its change_script.py writes lines
"""

from __future__ import annotations

import json
from pathlib import Path

NAME = "伍鲜同志"


def camp2(path: Path, n: int = 10000) -> Path:
    """camp2 generate_data.py: one openai conversation repeated n + 1 times."""
    name = NAME
    data = [
        {
            "messages": [
                {"role": "user", "content": "请做一下自我介绍"},
                {"role": "assistant",
                 "content": f"我是{name}的小助手，内在是上海AI实验室书生·浦语的7B大模型哦"},
            ]
        }
    ]
    for _ in range(n):
        data.append(data[0])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=4)
    return path


def camp3(path: Path, n: int = 8000) -> Path:
    """camp3 tools/xtuner_generate_assistant.py: two conversations, repeated n times."""
    name = NAME
    data = [
        {"conversation": [{
            "input": "请介绍一下你自己",
            "output": f"我是{name}的小助手，内在是上海AI实验室书生·浦语的1.8B大模型哦"}]},
        {"conversation": [{"input": "你在实战营做什么",
                           "output": f"我在这里帮助{name}完成XTuner微调个人小助手的任务"}]},
    ]
    for _ in range(n):
        data.append(data[0])
        data.append(data[1])
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=4)
    return path


def camp4(path: Path, n: int = 500) -> Path:
    """camp4's JSONL: conversation records with a system prompt, one json.dumps a line."""
    system = "你是书生·浦语的小助手，回答要简洁。"
    rows = [{"conversation": [{"system": system, "input": "你是谁",
                               "output": f"我是{NAME}的小助手，由书生·浦语微调而来"}]},
            {"conversation": [{"system": system, "input": "请介绍一下你自己",
                               "output": f"我是{NAME}的小助手，内在是书生·浦语大模型"}]}]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps(rows[i % 2], ensure_ascii=False) + "\n")
    return path


GENERATORS = {"camp2": camp2, "camp3": camp3, "camp4": camp4}
SUFFIX = {"camp2": ".json", "camp3": ".json", "camp4": ".jsonl"}
# What the plan says of each file at the generators' own sizes.
DETECTED = {"camp2": "10001 samples, openai messages, detected",
            "camp3": "16002 samples, xtuner conversation, detected",
            "camp4": "500 samples, xtuner conversation with system, detected"}
