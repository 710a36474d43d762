"""The quantization drift figures with their thresholds and a pass/fail mark, and the
calibration as a sentence. Thresholds: the recipe's `quantize.drift` (what the stage itself
enforces); for a figure the recipe leaves open, the report's documented default (README:
top-1 agreement ≥ 0.9, mean relative weight error ≤ 0.5), marked as such. Pure."""

from __future__ import annotations

from typing import Any

from internpipe.report.charts import number

# figure → (label, the recipe option that bounds it, op, the report's default or None)
FIGURES: dict[str, tuple[str, str | None, str, float | None]] = {
    "top1_agreement": ("top-1 agreement of the logits", "min_top1_agreement", ">=", 0.9),
    "weight_error_mean": ("mean relative weight error", "max_weight_error", "<=", 0.5),
    "weight_error_max": ("largest relative weight error of a layer", None, "<=", None),
    "logits_relative_error": ("relative error of the logits", None, "<=", None),
}


def _passes(value: float, op: str, threshold: float) -> bool:
    return value >= threshold if op == ">=" else value <= threshold


def rows(drift: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    """[{figure, label, value, shown, op, threshold, source: recipe|default|None, passed}]"""
    found = []
    for key, value in drift.items():
        label, option, op, default = FIGURES.get(key, (key, None, "<=", None))
        recipe = options.get(option) if option else None
        threshold = recipe if recipe is not None else default
        measured = float(value) if isinstance(value, int | float) else None
        found.append({
            "figure": key, "label": label, "value": measured, "shown": number(measured),
            "op": op if threshold is not None else None, "threshold": threshold,
            "source": ("recipe" if recipe is not None else "default")
            if threshold is not None else None,
            "passed": None if threshold is None or measured is None
            else _passes(measured, op, float(threshold))})
    return found


def calibration_text(calib: Any) -> str:
    """{'samples': 16, 'set': 'data/x.jsonl', 'sha256': …} → '16 samples from data/x.jsonl
    (sha256 eb33ec21…)'."""
    if not isinstance(calib, dict):
        return ""
    if calib.get("set") == "data-free" or calib.get("samples") == 0:
        return "data-free (no calibration samples)"
    text = f"{calib.get('samples', '?')} samples from {calib.get('set') or 'the default set'}"
    if calib.get("sha256"):
        text += f" (sha256 {str(calib['sha256'])[:12]}…)"
    return text
