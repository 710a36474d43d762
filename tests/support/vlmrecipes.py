"""Helpers of the vision-language recipe tests: a bundled recipe copied out as a user would,
and camp4's FoodieQA data in XTuner's LLaVA-style format, made up small."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli
from support.pngs import write_png


def copied(tmp_path: Path, name: str) -> Path:
    work = tmp_path / "work"
    result = cli("recipes", "copy", name, str(work))
    assert result.returncode == 0, result.stderr
    return work / f"{name}.yaml"


def foodieqa(work: Path) -> None:
    """The lesson's data, in XTuner's LLaVA-style format, with its images."""
    data = work / "data" / "FoodieQA"
    write_png(data / "images" / "1.png", "red", "yellow")
    (data / "sivqa_llava.json").write_text(json.dumps([
        {"id": "1", "image": "images/1.png", "conversations": [
            {"from": "human", "value": "<image>\n这是什么菜？"},
            {"from": "gpt", "value": "麻婆豆腐"}]}], ensure_ascii=False), encoding="utf-8")
    (data / "eval.jsonl").write_text(json.dumps(
        {"image": "images/1.png", "question": "这是什么菜？", "choices": ["麻婆豆腐", "宫保鸡丁"],
         "answer": "A"}, ensure_ascii=False) + "\n", encoding="utf-8")
