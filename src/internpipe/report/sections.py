"""The report's sections as HTML: plan, training, scores and per-item outputs, drift, bench,
gates, endpoint. Pure: data (collect.py) in, HTML text out."""

from __future__ import annotations

import json
from typing import Any

from internpipe import scores
from internpipe.report.charts import Series, line_chart, number
from internpipe.report.text import esc, mark

STATE_CLASS = {"done": "ok", "never run": "dim", "not serving": "dim",
               "stopped by design": "ok"}
STATE_NOTE = {"stopped by design": "a run stops the servers it started when it ends "
                                   "(`keep: true` leaves it up); `internpipe deploy RECIPE` "
                                   "starts it again"}


def plan_table(data: dict[str, Any]) -> str:
    rows = []
    for s in data["stages"]:
        state = s["state"]
        took = f"{s['seconds']:.1f}s" if s["seconds"] is not None else ""
        why = STATE_NOTE.get(state) or ("" if state == "done" else "; ".join(s["reasons"]))
        if s.get("failure") and state == "failed":
            why = s["failure"][:400]
        rows.append(f"<tr data-stage='{esc(s['stage'])}'><td>{esc(s['stage'])}</td>"
                    f"<td>{esc(s['kind'])}</td><td class='{STATE_CLASS.get(state, 'bad')}'>"
                    f"{esc(state)}</td><td>{esc(s['finished'] or '')}</td>"
                    f"<td class=num>{took}</td><td><code title='stage fingerprint: hash of "
                    f"options, env, inputs'>{esc(s['fingerprint'][:16])}</code></td>"
                    f"<td>{esc(why)}</td></tr>")
    return ("<table><tr><th>stage</th><th>kind</th><th>state</th><th>finished</th>"
            "<th>took</th><th>stage fingerprint</th><th>why</th></tr>"
            + "".join(rows) + "</table>")


def training(stage: dict[str, Any]) -> str:
    c = stage.get("curves")
    if not c:
        return ""
    name = stage["stage"]
    charts = [line_chart(f"{name}: {key.replace('_', ' ')}", [Series(key, c["iter"], c[key])],
                         "iteration", key, chart_id=f"curve-{name}-{key}")
              for key in ("loss", "lr", "grad_norm") if key in c]
    art = stage["artifact"]
    summary = (f"<p>{esc(art.get('source', ''))}: loss {number(art.get('loss_first'))} → "
               f"{number(art.get('loss_last'))} over {esc(art.get('steps'))} iterations</p>")
    gens = stage.get("generations") or []
    rows = "".join(f"<tr><td class=num>{esc(g.get('iter'))}</td><td>{esc(g.get('prompt'))}"
                   f"</td><td class=pre>{esc(g.get('output'))}</td></tr>" for g in gens)
    table = (f"<h4>Sample generations during training</h4><table class=gens><tr>"
             f"<th>iter</th><th>prompt</th><th>output</th></tr>{rows}</table>") if gens else ""
    return f"<h3>{esc(name)}</h3>{summary}<div class=charts>{''.join(charts)}</div>{table}"


def score_table(stage: dict[str, Any]) -> str:
    data = stage["artifact"].get("scores")
    if not isinstance(data, dict):
        return ""
    table = scores.from_json(data)
    base = table.models[0] if table.models else ""
    head = "".join(f"<th>{esc(m)}{' (base)' if i == 0 else ''}</th>"
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
        rows.append(f"<tr><td>{esc(r.dataset)}</td><td>{esc(r.metric)}</td>"
                    + "".join(cells) + "</tr>")
    return (f"<h3>{esc(stage['stage'])}</h3><table class=scores><tr><th>dataset</th>"
            f"<th>metric</th>{head}</tr>" + "".join(rows) + "</table>"
            + "".join(sample_table(stage["stage"], t) for t in stage.get("samples") or []))


SCORED_BY = {"opencompass": "per-item score: OpenCompass's own",
             "computed": "per-item score: computed here by the metric's rule (OpenCompass "
                         "kept none per item)",
             None: "no per-item score (this metric scores the whole set)"}


def sample_table(stage: str, t: dict[str, Any]) -> str:
    models = t["models"]
    head = "".join(f"<th>{esc(m)}</th><th class=num>score</th>" for m in models)
    rows = []
    for item in t["items"]:
        cells = "".join(f"<td class=pre>{esc(item['answers'].get(m) or '')}</td>"
                        f"<td class=num>{esc(number(item['scores'].get(m)))}</td>"
                        for m in models)
        rows.append(f"<tr class=item data-differ={int(item['differ'])}><td class=pre>"
                    f"{esc(item['question'])}</td><td>{esc(item['reference'])}</td>"
                    f"{cells}</tr>")
    differ = sum(1 for i in t["items"] if i["differ"])
    shown = len(t["items"])
    more = f" (first {shown} of {t['total']})" if t["total"] > shown else ""
    ident = f"samples-{stage}-{t['dataset']}"
    return (f"<details class=samples id='{esc(ident)}' open><summary>per-item outputs: "
            f"<b>{esc(t['dataset'])}</b> ({esc(t['metric'] or 'metric unknown')}), "
            f"{shown} items{more}, {differ} where the models differ</summary>"
            f"<p class=dim>{esc(SCORED_BY[t['scored_by']])}</p>"
            + "".join(f"<p class=bad>{esc(m)}</p>" for m in t.get("mismatch") or [])
            + "<label><input type=checkbox "
            "class=differ-filter> only items where the models' answers or scores differ"
            f"</label><table><tr><th>question</th><th>reference</th>{head}</tr>"
            + "".join(rows) + "</table></details>")


def drift(stage: dict[str, Any]) -> str:
    figures = stage.get("drift")
    if not figures:
        return ""
    art = stage["artifact"]
    rows = []
    for f in figures:
        bound = "" if f["threshold"] is None else \
            f"{'≥' if f['op'] == '>=' else '≤'} {number(f['threshold'])} ({f['source']})"
        rows.append(f"<tr><td>{esc(f['label'])}</td><td class=num>{esc(f['shown'])}</td>"
                    f"<td>{esc(bound)}</td><td>{mark(f['passed'], '')}</td></tr>")
    return (f"<h3>{esc(stage['stage'])}: {esc(art.get('method'))} {esc(art.get('bits'))}-bit"
            f"</h3><p>calibration: {esc(stage.get('calibration') or '-')}</p><table "
            f"class=drift><tr><th>figure</th><th>value</th><th>threshold</th><th></th></tr>"
            + "".join(rows) + "</table>")


def endpoint(stage: dict[str, Any]) -> str:
    art = stage["artifact"]
    if "base_url" not in art:
        return ""
    smoke = art.get("smoke") or {}
    reply = f"{smoke.get('reply', '')!s} ({number(smoke.get('seconds'))} s)" if smoke else "-"
    return (f"<h3>{esc(stage['stage'])} <span class=dim>({esc(stage['state'])})</span></h3>"
            f"<table><tr><th>base URL</th><td><code>{esc(art['base_url'])}</code></td></tr>"
            f"<tr><th>model</th><td><code>{esc(art.get('model'))}</code></td></tr>"
            f"<tr><th>engine</th><td>{esc(art.get('engine'))}</td></tr>"
            f"<tr><th>smoke request</th><td>{esc(reply)}</td></tr></table>")


def _pct(run: dict[str, Any], key: str, p: str) -> float | None:
    value = (run.get(key) or {}).get(p)
    return float(value) if isinstance(value, int | float) else None


FIGURE = {"ttft_ms": "TTFT", "tpot_ms": "TPOT", "itl_ms": "ITL", "latency_ms": "latency"}


def bench(result: dict[str, Any], index: int) -> str:
    runs = [r for r in result.get("runs") or [] if isinstance(r, dict)]
    if not runs:
        return ""
    names = [f"c={r.get('concurrency')}" + (f", {number(r['rate'])}/s" if r.get("rate")
                                            else "") for r in runs]
    xs = [float(i) for i in range(len(runs))]
    latency = [Series(f"{FIGURE[key]} {p}", xs, [_pct(r, key, p) for r in runs])
               for key, p in (("ttft_ms", "p50"), ("ttft_ms", "p99"), ("tpot_ms", "p50"),
                              ("itl_ms", "p50"), ("latency_ms", "p50"), ("latency_ms", "p99"))]
    rate = [Series("requests/s", xs, [r.get("requests_per_s") for r in runs])]
    tokens = [Series("output tokens/s", xs, [r.get("output_tokens_per_s") for r in runs])]
    rows = "".join(
        f"<tr><td>{esc(n)}</td><td class=num>{esc(r.get('ok'))}/{esc(r.get('requests'))}"
        f"</td><td class=num>{number(r.get('requests_per_s'))}</td><td class=num>"
        f"{number(r.get('output_tokens_per_s'))}</td><td class=num>"
        f"{number(_pct(r, 'ttft_ms', 'p50'))} / {number(_pct(r, 'ttft_ms', 'p99'))}</td>"
        f"<td class=num>{number(_pct(r, 'tpot_ms', 'p50'))}</td><td class=num>"
        f"{number(_pct(r, 'latency_ms', 'p50'))} / {number(_pct(r, 'latency_ms', 'p99'))}"
        f"</td><td>{esc(r.get('token_source'))}</td></tr>" for n, r in zip(names, runs,
                                                                          strict=True))
    return (f"<h3>{esc(result.get('source'))}: <code>{esc(result.get('model'))}</code> at "
            f"<code>{esc(result.get('base_url'))}</code> <span class=dim>"
            f"{esc(result.get('started'))}</span></h3><table class=bench><tr><th>run</th>"
            "<th>ok</th><th>req/s</th><th>out tok/s</th><th>TTFT p50 / p99 ms</th>"
            "<th>TPOT p50 ms</th><th>latency p50 / p99 ms</th><th>tokens from</th></tr>"
            f"{rows}</table><div class=charts>"
            + line_chart("latency (ms)", latency, "run", "ms", names, f"bench-latency-{index}")
            + line_chart("throughput: requests/s", rate, "run", "req/s", names,
                         f"bench-rps-{index}")
            + line_chart("throughput: output tokens/s", tokens, "run", "tok/s", names,
                         f"bench-tps-{index}") + "</div>")


def gates(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = "".join(
        f"<tr class=gate><td>{esc(g.get('name'))}</td><td class=num>{esc(g.get('line'))}</td>"
        f"<td>{esc(g.get('stage') or '')}</td><td class=num>{number(g.get('measured'))}</td>"
        f"<td>{esc(g.get('op'))} {number(g.get('threshold'))}</td><td>{mark(g.get('passed'))}"
        f"</td><td>{esc(g.get('message'))}</td></tr>" for g in items if isinstance(g, dict))
    return ("<table class=gates><tr><th>gate</th><th>recipe line</th><th>stage</th>"
            "<th>measured</th><th>threshold</th><th></th><th>message</th></tr>"
            f"{rows}</table>")


def overrides(values: list[str]) -> str:
    if not values:
        return ""
    return ("<p>overrides: " + " ".join(f"<code>--set {esc(v)}</code>" for v in values)
            + "</p>")


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)
