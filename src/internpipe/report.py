"""The run report: one self-contained HTML file and report.json, from a recipe's work dir.

What it holds: the plan (what is done, stale or never run, and why), the loss curve (drawn
with matplotlib, embedded as a PNG), the score table with deltas, the drift figures, the
endpoint, the agent transcripts, and lineage: every artifact's fingerprint, its parents,
the tool versions and the exact upstream commands, so a run can be reproduced by hand.
Reads only: nothing is run.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from internpipe import artifacts, scores

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;
color:#1f2328;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}.num{text-align:right}
.ok{color:#1a7f37}.bad{color:#cf222e}.dim{color:#656d76}.up{color:#1a7f37}.down{color:#cf222e}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
details{margin:.4rem 0}summary{cursor:pointer}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def loss_curve(path: Path) -> tuple[list[int], list[float]]:
    steps: list[int] = []
    losses: list[float] = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if "loss" in row:
            steps.append(int(row.get("iter", row.get("step", len(steps) + 1))))
            losses.append(float(row["loss"]))
    return steps, losses


def plot_png(steps: list[int], losses: list[float], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.plot(steps, losses, color="#0969da", linewidth=1.6)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def collect(plan: Any) -> dict[str, Any]:
    """Everything the report shows, as JSON-able data (report.json)."""
    wd = plan.workdir
    stages = []
    for sp in plan.stages:
        entry = sp.entry or {}
        art = artifacts.of_entry(entry)
        out = Path(art["path"]) if art.get("path") else None
        provenance = _read_json(out / "provenance.json") if out else None
        stage: dict[str, Any] = {
            "stage": sp.name, "kind": sp.kind, "action": sp.action,
            "status": sp.status.value, "reasons": sp.reasons,
            "fingerprint": sp.fingerprint, "finished": entry.get("finished"),
            "seconds": entry.get("seconds"), "artifact": art,
            "artifact_fingerprint": art.get("fingerprint"),
            "commands": entry.get("steps") or [], "slurm_jobs": entry.get("slurm_jobs", []),
            "provenance": provenance, "log": str(wd.log(sp.name))}
        if out is not None and (out / "loss.jsonl").exists():
            steps, losses = loss_curve(out / "loss.jsonl")
            stage["loss"] = {"steps": steps, "losses": losses}
        if out is not None and art.get("transcripts"):
            stage["transcripts"] = _read_json(out / str(art["transcripts"])) or []
        if out is not None and art.get("predictions"):
            stage["predictions"] = predictions(out / str(art["predictions"]))
        stages.append(stage)
    return {"recipe": str(plan.recipe.path), "name": plan.recipe.name,
            "device": plan.device, "workdir": str(wd.root), "stages": stages}


def predictions(folder: Path, limit: int = 500) -> list[dict[str, Any]]:
    """OpenCompass's predictions (predictions/MODEL/DATASET.json): each item's question as
    sent, the model's answer and the reference, at most `limit` items per file."""
    rows = []
    for path in sorted(folder.glob("*/*.json")):
        items = _read_json(path)
        if not isinstance(items, dict):
            continue
        for item in list(items.values())[:limit]:
            prompt = item.get("origin_prompt") if isinstance(item, dict) else None
            if isinstance(prompt, list):       # chat: the last human turn is the question
                prompt = next((t.get("prompt") for t in reversed(prompt)
                               if isinstance(t, dict) and t.get("role") == "HUMAN"), "")
            rows.append({"model": path.parent.name, "dataset": path.stem,
                         "question": str(prompt or "").strip(),
                         "prediction": str(item.get("prediction", ""))[:400],
                         "gold": item.get("gold")})
    return rows


def _plan_table(data: dict[str, Any]) -> str:
    rows = []
    for s in data["stages"]:
        state = s["status"]
        cls = {"done": "ok", "never run": "dim", "not serving": "dim"}.get(state, "bad")
        took = f"{s['seconds']:.1f}s" if s["seconds"] is not None else ""
        why = "" if state == "done" else "; ".join(s["reasons"])
        rows.append(f"<tr><td>{_esc(s['stage'])}</td><td>{_esc(s['kind'])}</td>"
                    f"<td class={cls}>{_esc(state)}</td><td>{_esc(s['finished'] or '')}</td>"
                    f"<td class=num>{took}</td><td><code>{_esc(s['fingerprint'][:16])}</code>"
                    f"</td><td>{_esc(why)}</td></tr>")
    return ("<table><tr><th>stage</th><th>kind</th><th>state</th><th>finished</th>"
            "<th>took</th><th>fingerprint</th><th>why it would run</th></tr>"
            + "".join(rows) + "</table>")


def _loss_section(stage: dict[str, Any]) -> str:
    loss = stage.get("loss")
    if not loss or not loss["losses"]:
        return ""
    png = plot_png(loss["steps"], loss["losses"], f"{stage['stage']}: training loss")
    art = stage["artifact"]
    return (f"<h3>{_esc(stage['stage'])}</h3><img alt='loss curve of {_esc(stage['stage'])}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<p>{_esc(art.get('source', ''))}: loss {art.get('loss_first', 0):.3f} → "
            f"{art.get('loss_last', 0):.3f} over {art.get('steps')} steps</p>")


def _scores_section(stage: dict[str, Any]) -> str:
    data = stage["artifact"].get("scores")
    if not isinstance(data, dict):
        return ""
    table = scores.from_json(data)
    base = table.models[0] if table.models else ""
    head = "".join(f"<th>{_esc(m)}{' (base)' if i == 0 else ''}</th>"
                   for i, m in enumerate(table.models))
    rows = []
    for r in table.rows:
        cells = []
        for m in table.models:
            value = r.scores.get(m)
            text = "-" if value is None else f"{value:.2f}"
            delta = r.delta(m, base) if m != base else None
            if delta is not None:
                cls = "up" if delta > 0 else "down" if delta < 0 else "dim"
                text += f" <span class={cls}>({delta:+.2f})</span>"
            cells.append(f"<td class=num>{text}</td>")
        rows.append(f"<tr><td>{_esc(r.dataset)}</td><td>{_esc(r.metric)}</td>"
                    + "".join(cells) + "</tr>")
    return (f"<h3>{_esc(stage['stage'])}</h3><table><tr><th>dataset</th><th>metric</th>{head}"
            "</tr>" + "".join(rows) + "</table>")


def _drift_section(stage: dict[str, Any]) -> str:
    art = stage["artifact"]
    drift = art.get("drift")
    if not isinstance(drift, dict):
        return ""
    rows = "".join(f"<tr><td>{_esc(k)}</td><td class=num>{_esc(v)}</td></tr>"
                   for k, v in drift.items())
    return (f"<h3>{_esc(stage['stage'])}: {_esc(art.get('method'))} "
            f"{_esc(art.get('bits'))}-bit, calibration {_esc(art.get('calibration', {}))}"
            f"</h3><table><tr><th>figure</th><th>value</th></tr>{rows}</table>")


def _endpoint_section(stage: dict[str, Any]) -> str:
    art = stage["artifact"]
    if "base_url" not in art:
        return ""
    smoke = art.get("smoke") or {}
    return (f"<h3>{_esc(stage['stage'])}</h3><table>"
            f"<tr><th>base URL</th><td><code>{_esc(art['base_url'])}</code></td></tr>"
            f"<tr><th>model</th><td><code>{_esc(art.get('model'))}</code></td></tr>"
            f"<tr><th>engine</th><td>{_esc(art.get('engine'))}</td></tr>"
            f"<tr><th>smoke request</th><td>{_esc(json.dumps(smoke)[:300])}</td></tr>"
            "</table>")


def _agent_section(stage: dict[str, Any], evaluated: list[dict[str, Any]]) -> str:
    records = stage.get("transcripts") or []
    if not records:
        return ""
    parts = [f"<h3>{_esc(stage['stage'])}</h3>"]
    for r in records:
        mark = "<span class=ok>ok</span>" if r.get("status") == "ok" else \
            f"<span class=bad>failed: {_esc(r.get('reason'))}</span>"
        calls = "".join(f"<li>tool call <b>{_esc(c['name'])}</b> <code>"
                        f"{_esc(json.dumps(c['args'], ensure_ascii=False))}</code> → "
                        f"<code>{_esc(c['result'] if c['error'] is None else c['error'])}"
                        f"</code> ({c['seconds']:.2f}s)</li>" for c in r.get("tool_calls", []))
        # The same question asked by evaluate, answered by each model without tools.
        alone = "".join(f"<li class=alone>without tools, <b>{_esc(p['model'])}</b>: "
                        f"{_esc(p['prediction'][:200])}</li>" for p in evaluated
                        if p["question"] == str(r.get("query", "")).strip())
        parts.append(f"<details open><summary>#{r['index']} {mark} <b>{_esc(r['query'])}"
                     f"</b></summary><ul>{calls}<li>answer: {_esc(r.get('answer'))}</li>"
                     f"{alone}"
                     f"<li class=dim>{r.get('model_calls')} model calls, "
                     f"{r.get('seconds')}s</li></ul><pre>"
                     f"{_esc(json.dumps(r.get('messages'), ensure_ascii=False, indent=1))}"
                     "</pre></details>")
    return "".join(parts)


def _lineage_section(data: dict[str, Any]) -> str:
    parts = []
    for s in data["stages"]:
        prov = s.get("provenance") or {}
        commands = "\n".join(" ".join(map(str, c)) for c in s["commands"]) or "(none)"
        versions = prov.get("tool_versions") or prov.get("versions") or {}
        parents = prov.get("parents") or {}
        parts.append(
            f"<details><summary><b>{_esc(s['stage'])}</b> <code>"
            f"{_esc((s.get('artifact_fingerprint') or s['fingerprint'])[:16])}</code></summary>"
            f"<p>stage fingerprint <code>{_esc(s['fingerprint'])}</code>; artifact "
            f"<code>{_esc(s['artifact'].get('path', ''))}</code> fingerprint <code>"
            f"{_esc(s.get('artifact_fingerprint') or '')}</code></p>"
            f"<p>parents: <code>{_esc(json.dumps(parents))}</code></p>"
            f"<p>tool versions: <code>{_esc(json.dumps(versions))}</code></p>"
            f"<p>commands (log: <code>{_esc(s['log'])}</code>):</p><pre>{_esc(commands)}</pre>"
            + (f"<p>Slurm jobs: {_esc(s['slurm_jobs'])}</p>" if s["slurm_jobs"] else "")
            + "</details>")
    return "".join(parts)


def render(data: dict[str, Any]) -> str:
    stages = data["stages"]

    def section(title: str, anchor: str, body: str) -> str:
        return f"<h2 id={anchor}>{title}</h2>" + (body or "<p class=dim>nothing yet</p>")

    body = "".join([
        f"<h1>internpipe report: {_esc(data['name'])}</h1>",
        f"<p class=dim>recipe {_esc(data['recipe'])} · device {_esc(data['device'])} · "
        f"work dir {_esc(data['workdir'])}</p>",
        section("Plan", "plan", _plan_table(data)),
        section("Training loss", "loss", "".join(_loss_section(s) for s in stages)),
        section("Scores", "scores", "".join(_scores_section(s) for s in stages)),
        section("Quantization drift", "drift", "".join(_drift_section(s) for s in stages)),
        section("Endpoint", "endpoint", "".join(_endpoint_section(s) for s in stages)),
        section("Agent transcripts", "agent", "".join(
            _agent_section(s, [p for e in stages for p in e.get("predictions", [])])
            for s in stages)),
        section("Lineage", "lineage", _lineage_section(data)),
    ])
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>internpipe report:"
            f" {_esc(data['name'])}</title><style>{CSS}</style></head><body>{body}</body>"
            "</html>\n")


def write(plan: Any, dest: Path) -> tuple[Path, Path]:
    """report.html and report.json in dest, each written whole or not at all."""
    from internpipe.state import write_json

    data = collect(plan)
    dest.mkdir(parents=True, exist_ok=True)
    page = dest / "report.html"
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(page)
    write_json(dest / "report.json", data)
    return page, dest / "report.json"
