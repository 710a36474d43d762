"""The evaluate stage's score table: models × datasets × metrics, read from OpenCompass's
summary CSV, with each model's delta against the first (the base). Pure."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEYS = ("dataset", "version", "metric", "mode")


@dataclass
class Row:
    dataset: str
    version: str
    metric: str
    mode: str
    scores: dict[str, float | None] = field(default_factory=dict)

    def delta(self, model: str, base: str) -> float | None:
        a, b = self.scores.get(model), self.scores.get(base)
        return None if a is None or b is None else round(a - b, 4)


@dataclass
class Table:
    models: list[str]
    rows: list[Row]

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(r.dataset for r in self.rows))

    def missing(self) -> list[str]:
        """`model/dataset metric` for every cell OpenCompass left as `-`."""
        return [f"{m}/{r.dataset} {r.metric}" for r in self.rows for m in self.models
                if r.scores.get(m) is None]

    def as_json(self) -> dict[str, Any]:
        base = self.models[0] if self.models else ""
        return {"models": self.models, "base": base,
                "rows": [{"dataset": r.dataset, "version": r.version, "metric": r.metric,
                          "mode": r.mode, "scores": r.scores,
                          "deltas": {m: r.delta(m, base) for m in self.models[1:]}}
                         for r in self.rows]}


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None          # OpenCompass writes "-" where a task produced nothing


def from_summary(rows: list[list[str]], models: list[str]) -> Table:
    """The table from OpenCompass's summary CSV (dataset,version,metric,mode,<model…>)."""
    if not rows or [c.strip() for c in rows[0][:4]] != list(KEYS):
        raise ValueError("not an OpenCompass summary: the header is "
                         f"{rows[0] if rows else 'missing'}")
    header = [c.strip() for c in rows[0]]
    index = {name: i for i, name in enumerate(header)}
    table = Table(models=list(models), rows=[])
    for cells in rows[1:]:
        if not cells or not any(c.strip() for c in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        row = Row(cells[0].strip(), cells[1].strip(), cells[2].strip(), cells[3].strip())
        for model in models:
            i = index.get(model)
            row.scores[model] = _number(cells[i]) if i is not None else None
        table.rows.append(row)
    return table


def from_json(data: dict[str, Any]) -> Table:
    return Table(models=list(data["models"]),
                 rows=[Row(r["dataset"], r["version"], r["metric"], r["mode"],
                           dict(r["scores"])) for r in data["rows"]])


def write(table: Table, json_path: Path, csv_path: Path) -> None:
    json_path.write_text(json.dumps(table.as_json(), indent=1) + "\n")
    base = table.models[0] if table.models else ""
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["dataset", "metric", "mode", *table.models,
                      *(f"{m} - {base}" for m in table.models[1:])])
        for r in table.rows:
            out.writerow([r.dataset, r.metric, r.mode,
                          *("" if r.scores[m] is None else r.scores[m] for m in table.models),
                          *("" if r.delta(m, base) is None else r.delta(m, base)
                            for m in table.models[1:])])


def render(table: Table, title: str) -> Any:
    """A rich table: one column per model, each tuned model's delta against the first."""
    from rich.table import Table as RichTable
    from rich.text import Text

    base = table.models[0] if table.models else ""
    out = RichTable(title=title, title_justify="left")
    out.add_column("dataset")
    out.add_column("metric")
    for i, model in enumerate(table.models):
        out.add_column(model + (" (base)" if i == 0 and len(table.models) > 1 else ""),
                       justify="right")
    for r in table.rows:
        cells: list[Any] = [r.dataset, r.metric]
        for model in table.models:
            value = r.scores.get(model)
            text = Text("-" if value is None else f"{value:.2f}")
            delta = r.delta(model, base) if model != base else None
            if delta is not None:
                style = "green" if delta > 0 else "red" if delta < 0 else "dim"
                text.append(f" {delta:+.2f}", style=style)
            cells.append(text)
        out.add_row(*cells)
    return out
