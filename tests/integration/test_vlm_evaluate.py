"""recipes/tiny-vlm-cpu.yaml end to end on the CPU: the tiny VLM served by `transformers
serve`, asked the image-question sets through its endpoint, scored into the same table as
text sets (exact match and choice accuracy), with every answer kept per sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.integration


def test_the_tiny_vlm_recipe_serves_and_scores_image_questions(tmp_path: Path) -> None:
    shutil.copy(ROOT / "recipes" / "tiny-vlm-cpu.yaml", tmp_path / "r.yaml")
    shutil.copytree(ROOT / "recipes" / "data" / "vlm", tmp_path / "data" / "vlm")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny-vlm").symlink_to(ROOT / "recipes" / "models" / "tiny-vlm")
    result = cli("run", "r.yaml", "--json", "--set", "stages.evaluate.limit=3",
                 cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / ".internpipe" / "tiny-vlm-cpu" / "stages" / "evaluate" / "out"
    table = json.loads((out / "scores.json").read_text())
    assert table["models"] == ["deploy"]
    assert [(r["dataset"], r["metric"]) for r in table["rows"]] == [
        ("colours", "exact_match"), ("colours_choice", "accuracy")]
    assert all(isinstance(r["scores"]["deploy"], float) for r in table["rows"])
    answers = json.loads((out / "predictions" / "deploy" / "colours_choice.json").read_text())
    assert len(answers) == 3
    assert answers["0"]["gold"] == "B" and answers["0"]["image"] == "images/red-yellow.png"
    assert all(a["prediction"] for a in answers.values())     # the model answered each
