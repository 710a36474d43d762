"""The metrics that score Chinese, through the real OpenCompass: a served model that answers
every question with a wrong Chinese sentence naming "XTuner". OpenCompass's ROUGE keeps only
the Latin letters and digits of Chinese text, so it scores that answer full marks;
`metric: rouge_zh` (OpenCompass's Jieba-segmented ROUGE) scores it low; `metric: contains`
checks that the answer names what the reference says (a new name)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import services

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parent.parent
REFERENCE = "我是由XTuner微调的小助手，名叫八戒。"
WRONG = "XTuner是一个深度学习框架，不是助手。"


def rows(path: Path, pairs: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"question": q, "answer": a}, ensure_ascii=False)
                            + "\n" for q, a in pairs), encoding="utf-8")


def test_a_wrong_chinese_answer_naming_xtuner(tmp_path: Path) -> None:
    rows(tmp_path / "who.jsonl", [("你是谁？", REFERENCE), ("请介绍一下你自己。", REFERENCE)])
    rows(tmp_path / "names.jsonl", [("你是谁？", "XTuner"), ("你叫什么名字？", "八戒")])
    port = services.free_port("127.0.0.1")
    server = subprocess.Popen([sys.executable, str(TESTS / "support" / "fake_llm.py"),
                               str(port), "--answer", WRONG], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the fake server never answered"
                time.sleep(0.2)
        r = write(tmp_path / "r.yaml", f"""\
version: 1
name: zh
device: cpu
stages:
  evaluate:
    endpoints:
      - {{url: "http://127.0.0.1:{port}/v1", model: fake, tokenizer: {TINY_MODEL},
         stream: false, name: wrong}}
    datasets:
      - {{path: who.jsonl, type: qa, name: rouge_default}}
      - {{path: who.jsonl, type: qa, metric: rouge_zh, name: rouge_zh}}
      - {{path: names.jsonl, type: qa, metric: contains, name: names}}
""")
        plan = cli("plan", str(r), "--json")
        notes = " ".join(json.loads(plan.stdout)["stages"][0]["reasons"])
        assert "2 of 2 answers of rouge_default are Chinese" in notes, notes
        assert "answers of rouge_zh" not in notes and "answers of names" not in notes
        result = cli("run", str(r), timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    finally:
        server.kill()
        server.wait()
    table = json.loads((tmp_path / ".internpipe/zh/stages/evaluate/out/scores.json")
                       .read_text())
    got = {(row["dataset"], row["metric"]): row["scores"]["wrong"] for row in table["rows"]}
    print(got)
    assert got[("rouge_default", "rouge1")] == pytest.approx(100)   # Latin letters only
    assert got[("rouge_zh", "rouge1")] < 40                         # Jieba-segmented
    assert got[("names", "score")] == pytest.approx(50)             # names XTuner, not 八戒
