"""The evaluate stage's per-item outputs, one table per dataset: each question, its reference
and every model's answer side by side, with a per-item score.

The score comes from OpenCompass's results/MODEL/DATASET.json when its evaluator kept one per
item (`details` with `correct` / `is_correct` / `score`); otherwise, for the metrics whose rule
is simple (contains: OpenCompass's LEvalEMEvaluator; exact), it is computed here by the same
rule and marked so; for the others (rouge, bleu, …) there is none. Never invented. Pure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

LIMIT = 500          # items shown per dataset (the rest is in the stage's output)
BUDGET = 3000        # items shown over all datasets (a benchmark of 50 subsets stays small)
TEXT = 2000          # characters of one answer kept


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def question_of(prompt: Any) -> str:
    """The question as sent: a chat prompt's last human turn, or the plain prompt."""
    if isinstance(prompt, list):
        prompt = next((t.get("prompt") for t in reversed(prompt)
                       if isinstance(t, dict) and t.get("role") == "HUMAN"), "")
    return str(prompt or "").strip()


def general_postprocess(text: str) -> str:
    """OpenCompass's text_postprocessors.general_postprocess: the first sentence, no
    punctuation, no articles, single spaces."""
    first = re.split(r"[\n.,]", text, maxsplit=1)[0]
    no_punct = re.sub(r"[^\w\s]", "", first)
    no_articles = re.sub(r"\b(a|an|the)\b", "", no_punct, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", no_articles).strip()


def _contains(prediction: str, reference: str) -> float:
    pred = general_postprocess(prediction)
    return 100.0 if general_postprocess(reference) in pred or reference in pred else 0.0


def _exact(prediction: str, reference: str) -> float:
    # AccEvaluator: the strings themselves, equal or not
    return 100.0 if prediction == reference else 0.0


# metric → the per-item rule OpenCompass applies (only where the rule is that simple)
COMPUTED = {"contains": _contains, "exact": _exact}


def _kept_score(detail: Any) -> float | None:
    """A per-item score an OpenCompass evaluator kept in its details, as 0–100."""
    if not isinstance(detail, dict):
        return None
    for key in ("correct", "is_correct", "score"):
        value = detail.get(key)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, bool):
            return 100.0 if value else 0.0
        if isinstance(value, int | float):
            return float(value) * (100.0 if key != "score" and value <= 1 else 1.0)
    return None


def dataset_table(out: Path, dataset: str, models: list[str], metric: str | None,
                  limit: int = LIMIT) -> dict[str, Any] | None:
    """{dataset, metric, scored_by: opencompass|computed|None, models, items: [{question,
    reference, answers: {model: text}, scores: {model: float|None}, differ}]}."""
    predictions = {m: _read(out / "predictions" / m / f"{dataset}.json") for m in models}
    results = {m: _read(out / "results" / m / f"{dataset}.json") for m in models}
    if not any(isinstance(p, dict) for p in predictions.values()):
        return None
    keys: list[str] = []
    for p in predictions.values():
        if isinstance(p, dict):
            keys += [k for k in p if k not in keys]
    kept = any(_kept_score(((r or {}).get("details") or {}).get(k)) is not None
               for r in results.values() if isinstance(r, dict) for k in keys[:5])
    rule = None if kept else COMPUTED.get(metric or "")
    items = []
    for key in keys[:limit]:
        row: dict[str, Any] = {"question": "", "reference": "", "answers": {}, "scores": {}}
        for m in models:
            item = (predictions[m] or {}).get(key) if isinstance(predictions[m], dict) else None
            if not isinstance(item, dict):
                row["answers"][m], row["scores"][m] = None, None
                continue
            row["question"] = row["question"] or question_of(item.get("origin_prompt"))
            gold = item.get("gold")
            row["reference"] = row["reference"] or ("" if gold is None else str(gold))
            answer = str(item.get("prediction", ""))
            row["answers"][m] = answer[:TEXT]
            details = (results[m] or {}).get("details") if isinstance(results[m], dict) \
                else None
            if kept:
                row["scores"][m] = _kept_score((details or {}).get(key))
            elif rule is not None and gold is not None:
                # what the evaluator saw: the prediction after the dataset's postprocessor
                seen = ((details or {}).get(key) or {}).get("predictions")
                row["scores"][m] = rule(seen if isinstance(seen, str) else answer, str(gold))
            else:
                row["scores"][m] = None
        answers = [row["answers"][m] for m in models]
        scores = [row["scores"][m] for m in models]
        row["differ"] = len(set(answers)) > 1 or len(set(scores)) > 1
        items.append(row)
    return {"dataset": dataset, "metric": metric,
            "scored_by": "opencompass" if kept else ("computed" if rule else None),
            "models": models, "items": items, "total": len(keys)}


def mismatches(table: dict[str, Any], scores: dict[str, Any] | None) -> list[str]:
    """Where the per-item scores of a whole dataset do not average to the score OpenCompass
    reported (a computed rule that is not OpenCompass's after all): said, not hidden."""
    rows = [r for r in (scores or {}).get("rows") or [] if r.get("dataset") == table["dataset"]]
    if len(rows) != 1 or table["total"] > len(table["items"]) or not table["items"]:
        return []
    found = []
    for m in table["models"]:
        values = [i["scores"].get(m) for i in table["items"]]
        official = (rows[0].get("scores") or {}).get(m)
        if None in values or not isinstance(official, int | float):
            continue
        mean = sum(values) / len(values)
        if abs(mean - official) > 0.01:
            found.append(f"{m}: the per-item scores average {mean:.2f}, OpenCompass reports "
                         f"{official:.2f}")
    return found


def metrics_of(options: dict[str, Any]) -> dict[str, str | None]:
    """Dataset name → its metric, from the evaluate stage's recorded options (a built-in
    dataset, written as a plain name, has none we know)."""
    found: dict[str, str | None] = {}
    for d in options.get("datasets") or []:
        if isinstance(d, dict) and d.get("path"):
            name = d.get("name") or Path(str(d["path"])).stem
            found[str(name)] = d.get("metric") or ("rouge" if d.get("type", "qa") == "qa"
                                                   else "option")
    return found


def tables(out: Path, models: list[str], options: dict[str, Any],
           scores: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One table per dataset that has predictions, each checked against the score table."""
    metrics = metrics_of(options)
    names = sorted({p.stem for m in models for p in (out / "predictions" / m).glob("*.json")})
    found: list[dict[str, Any]] = []
    left = BUDGET
    for name in names:
        table = dataset_table(out, name, models, metrics.get(name), min(LIMIT, left))
        if table is not None:
            table["mismatch"] = mismatches(table, scores)
            left -= len(table["items"])
            found.append(table)
    return found
