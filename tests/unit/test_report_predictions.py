"""The report puts an agent's answer beside what each evaluated model said to the same
question without tools (the real-model demo: SmolLM2 alone says 12 * 7 = 90, the agent
asks the Calculator and says 84)."""

from __future__ import annotations

import json
from pathlib import Path

from internpipe import report


def test_an_agent_query_shows_each_models_answer_without_tools(tmp_path: Path) -> None:
    folder = tmp_path / "predictions"
    for model, answer in (("download", "12 * 7 = 90"), ("finetune", "Let me calculate.")):
        (folder / model).mkdir(parents=True)
        (folder / model / "math.json").write_text(json.dumps({"0": {
            "origin_prompt": [{"role": "HUMAN", "prompt": "What is 12 * 7?\n"}],
            "prediction": answer, "gold": "84"}}))
    rows = report.predictions(folder)
    assert [(r["model"], r["question"], r["gold"]) for r in rows] == [
        ("download", "What is 12 * 7?", "84"), ("finetune", "What is 12 * 7?", "84")]
    agent = {"stage": "agent", "transcripts": [{
        "index": 1, "status": "ok", "query": "What is 12 * 7?", "answer": "The answer is 84.",
        "tool_calls": [{"name": "Calculator", "args": {"expression": "12 * 7"},
                        "result": "84", "error": None, "seconds": 0.01}],
        "model_calls": 2, "seconds": 1.0, "messages": []}]}
    html = report._agent_section(agent, rows)
    assert "without tools, <b>download</b>: 12 * 7 = 90" in html
    assert "answer: The answer is 84." in html
    assert "without tools" not in report._agent_section(agent, [
        {**rows[0], "question": "What is 6 * 9?"}])
