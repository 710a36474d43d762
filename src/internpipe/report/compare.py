"""`internpipe report --compare A B`: two runs side by side (two recipes, or two work dirs:
a folder holding a state.json, e.g. an archived copy): their scores, training curves and
lineage. Reads the finished stages' entries only: nothing is planned or run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from internpipe import artifacts, staleness
from internpipe.errors import UserError
from internpipe.report.charts import Series, line_chart, number
from internpipe.report.gather import curves as read_curves
from internpipe.report.gather import read_json
from internpipe.report.page import section
from internpipe.report.text import esc
from internpipe.state import WorkDir


def open_run(path: Path) -> tuple[str, WorkDir]:
    """(a name, the work dir) of a recipe file or a work dir."""
    if path.is_dir():
        if not (path / "state.json").is_file():
            raise UserError(f"{path}: not a work dir (no state.json); give a recipe file or "
                            "a folder like .internpipe/NAME/")
        return path.name, WorkDir(path.resolve())
    from internpipe import pipeline

    r = pipeline.load(path, None)
    return r.name, WorkDir(r.workdir)


def run_data(path: Path) -> dict[str, Any]:
    name, wd = open_run(path)
    stages = []
    # in the order they ran (state.json keeps them by name)
    entries = sorted(wd.entries().items(), key=lambda kv: str(kv[1].get("started") or ""))
    for stage, entry in entries:
        art = artifacts.of_entry(entry)
        out = wd.out(stage)
        prov = read_json(out / "provenance.json")
        versions = (prov or {}).get("tool_versions") or {} if isinstance(prov, dict) else {}
        item: dict[str, Any] = {
            "stage": stage, "kind": entry.get("kind"), "fingerprint": entry.get("fingerprint"),
            "artifact_fingerprint": art.get("fingerprint"), "finished": entry.get("finished"),
            "components": entry.get("components") or {},
            "tool_versions": {k: v for k, v in versions.items() if v is not None},
            "commands": [" ".join(map(str, c)) for c in entry.get("steps") or []]}
        if isinstance(art.get("scores"), dict):
            item["scores"] = art["scores"]
        if (out / "loss.jsonl").is_file():
            item["curves"] = read_curves(out / "loss.jsonl")
        stages.append(item)
    return {"name": name, "path": str(path), "workdir": str(wd.root), "stages": stages}


def compare_data(a: Path, b: Path) -> dict[str, Any]:
    return {"a": run_data(a), "b": run_data(b)}


def _by_stage(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["stage"]: s for s in run["stages"]}


def _score_cells(scores: dict[str, Any] | None) -> dict[tuple[str, str, str], float | None]:
    cells: dict[tuple[str, str, str], float | None] = {}
    for row in (scores or {}).get("rows") or []:
        for model, value in (row.get("scores") or {}).items():
            cells[(str(row.get("dataset")), str(row.get("metric")), str(model))] = value
    return cells


def scores(data: dict[str, Any]) -> str:
    a, b = _by_stage(data["a"]), _by_stage(data["b"])
    parts = []
    for name in [n for n in {**a, **b} if "scores" in a.get(n, {}) or "scores" in
                 b.get(n, {})]:
        ca = _score_cells(a.get(name, {}).get("scores"))
        cb = _score_cells(b.get(name, {}).get("scores"))
        rows = []
        for key in sorted(set(ca) | set(cb)):
            va, vb = ca.get(key), cb.get(key)
            delta = None if va is None or vb is None else vb - va
            cls = "dim" if not delta else ("up" if delta > 0 else "down")
            rows.append(f"<tr><td>{esc(key[0])}</td><td>{esc(key[1])}</td><td>{esc(key[2])}"
                        f"</td><td class=num>{number(va)}</td><td class=num>{number(vb)}</td>"
                        f"<td class='num {cls}'>{'' if delta is None else f'{delta:+.2f}'}"
                        "</td></tr>")
        parts.append(f"<h3>{esc(name)}</h3><table class=compare-scores><tr><th>dataset</th>"
                     f"<th>metric</th><th>model</th><th>A: {esc(data['a']['name'])}</th>"
                     f"<th>B: {esc(data['b']['name'])}</th><th>B − A</th></tr>"
                     + "".join(rows) + "</table>")
    return "".join(parts)


def curves(data: dict[str, Any]) -> str:
    a, b = _by_stage(data["a"]), _by_stage(data["b"])
    parts = []
    for name in [n for n in {**a, **b} if "curves" in a.get(n, {}) or "curves" in
                 b.get(n, {})]:
        charts = []
        for key in ("loss", "lr", "grad_norm"):
            series = [Series(f"{side}: {run['name']}", c["iter"], c[key])
                      for side, run, stages in (("A", data["a"], a), ("B", data["b"], b))
                      for c in [stages.get(name, {}).get("curves") or {}] if key in c]
            if series:
                charts.append(line_chart(f"{name}: {key.replace('_', ' ')}", series,
                                         "iteration", key, chart_id=f"compare-{name}-{key}"))
        parts.append(f"<h3>{esc(name)}</h3><div class=charts>{''.join(charts)}</div>")
    return "".join(parts)


def lineage(data: dict[str, Any]) -> str:
    a, b = _by_stage(data["a"]), _by_stage(data["b"])
    rows = []
    for name in {**a, **b}:
        sa, sb = a.get(name), b.get(name)
        if sa is None or sb is None:
            why = "only in " + ("B" if sa is None else "A")
        elif sa["fingerprint"] == sb["fingerprint"]:
            why = "same stage fingerprint"
        else:
            why = "; ".join(staleness.why_changed(sa["components"], {
                "kind": None, "code": None, "options": {}, "env": None, "device": None,
                "inputs": {}, "files": {}, **sb["components"]})) or "fingerprint differs"
        versions = ""
        if sa and sb and sa["tool_versions"] != sb["tool_versions"]:
            keys = sorted(set(sa["tool_versions"]) | set(sb["tool_versions"]))
            versions = ", ".join(f"{k} {sa['tool_versions'].get(k, '-')} → "
                                 f"{sb['tool_versions'].get(k, '-')}" for k in keys
                                 if sa["tool_versions"].get(k) != sb["tool_versions"].get(k))
        cells = "".join(
            f"<td><code>{esc((s or {}).get('fingerprint', '-') or '-')[:16]}</code> / "
            f"<code>{esc(((s or {}).get('artifact_fingerprint') or '-')[:16])}</code></td>"
            for s in (sa, sb))
        rows.append(f"<tr class=lineage-row><td>{esc(name)}</td>{cells}<td>{esc(why)}</td>"
                    f"<td>{esc(versions or '-')}</td></tr>")
    commands = "".join(
        f"<details><summary>commands of {side}: {esc(run['name'])}</summary><pre>"
        + esc("\n".join(f"[{s['stage']}] {c}" for s in run["stages"] for c in s["commands"]))
        + "</pre></details>" for side, run in (("A", data["a"]), ("B", data["b"])))
    return ("<table class=compare-lineage><tr><th>stage</th><th>A: stage / artifact "
            "fingerprint</th><th>B: stage / artifact fingerprint</th><th>what differs</th>"
            "<th>tool versions</th></tr>" + "".join(rows) + "</table>" + commands)


def render(data: dict[str, Any]) -> str:
    from internpipe.report.page import html_page

    head = "".join(f"<p><b>{side}</b>: {esc(run['name'])} <span class=dim>({esc(run['path'])}"
                   f", work dir {esc(run['workdir'])})</span></p>"
                   for side, run in (("A", data["a"]), ("B", data["b"])))
    body = (f"<h1>internpipe compare: {esc(data['a']['name'])} vs {esc(data['b']['name'])}"
            f"</h1>{head}" + section("Scores", "scores", scores(data))
            + section("Training curves", "loss", curves(data))
            + section("Lineage", "lineage", lineage(data)))
    return html_page(f"internpipe compare: {data['a']['name']} vs {data['b']['name']}", body)


def write(a: Path, b: Path, dest: Path) -> tuple[Path, Path]:
    from internpipe.report.page import write_page
    from internpipe.state import write_json

    data = compare_data(a, b)
    page = write_page(dest, "compare.html", render(data))
    write_json(dest / "compare.json", json.loads(json.dumps(data, default=str)))
    return page, dest / "compare.json"
