"""The run report: one self-contained HTML file and report.json, from a recipe's work dir.

What it holds: the plan (each stage's state and why), quality gates, the training curves
(loss, lr, grad-norm) and XTuner's sample generations, the score table with each dataset's
per-item outputs, the drift figures against their thresholds, the endpoint, load-test
results, the agent transcripts (a failed stage's too), and lineage: every artifact's
fingerprint, its parents, the tool versions and the exact upstream commands, so a run can be
reproduced by hand. `compare.py`: two runs side by side. Reads only: nothing is run.

gather.py collects the data; sections.py, agent.py and charts.py draw it; page.py writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from internpipe.report.agent import transcript
from internpipe.report.gather import collect
from internpipe.report.page import render, write_page
from internpipe.report.samples import question_of

__all__ = ["collect", "predictions", "render", "write"]


def predictions(folder: Path, limit: int = 500) -> list[dict[str, Any]]:
    """OpenCompass's predictions (predictions/MODEL/DATASET.json) as flat rows: each item's
    question as sent, the model's answer and the reference, at most `limit` per file."""
    from internpipe.report.gather import read_json

    rows = []
    for path in sorted(folder.glob("*/*.json")):
        items = read_json(path)
        if not isinstance(items, dict):
            continue
        for item in list(items.values())[:limit]:
            if isinstance(item, dict):
                rows.append({"model": path.parent.name, "dataset": path.stem,
                             "question": question_of(item.get("origin_prompt")),
                             "prediction": str(item.get("prediction", ""))[:400],
                             "gold": item.get("gold")})
    return rows


def _agent_section(stage: dict[str, Any], evaluated: list[dict[str, Any]]) -> str:
    """One agent stage's transcripts, each beside the evaluated models' own answers."""
    return "".join(transcript(r, evaluated) for r in stage.get("transcripts") or [])


def write(plan: Any, dest: Path, overrides: list[str] | None = None) -> tuple[Path, Path]:
    """report.html and report.json in dest, each written whole or not at all."""
    from internpipe.state import write_json

    data = collect(plan, overrides)
    page = write_page(dest, "report.html", render(data))
    write_json(dest / "report.json", data)
    return page, dest / "report.json"
