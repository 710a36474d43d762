"""The page: one self-contained HTML file (inline CSS, inline SVG charts, a few lines of
vanilla JS for hover values and the per-item filter; nothing fetched), written whole or not
at all beside report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from internpipe.report import agent, sections
from internpipe.report.text import esc

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:78rem;
color:#1f2328;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}.num{text-align:right}
.ok{color:#1a7f37}.bad{color:#cf222e}.dim{color:#656d76}.up{color:#1a7f37}.down{color:#cf222e}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.pre{white-space:pre-wrap}details{margin:.4rem 0}summary{cursor:pointer}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{margin:0;flex:1 1 30rem;max-width:42rem}
.chart svg{width:100%;height:auto;background:#fff;border:1px solid #d0d7de;border-radius:4px}
.chart text{font-size:11px;fill:#57606a}.chart .ct{font-size:13px;fill:#1f2328;font-weight:600}
.chart .yt{text-anchor:end}.chart .xt{text-anchor:middle}.chart .yl{text-anchor:middle}
.chart .grid{stroke:#eaeef2}.chart .pt{pointer-events:none}
.chart .col{fill:transparent;cursor:crosshair}.chart .col:hover{fill:rgba(9,105,218,.08)}
figcaption{font-size:.8rem}.key{margin-right:1rem}.key i{display:inline-block;width:.8rem;
height:.8rem;margin-right:.3rem;vertical-align:middle}
#tip{position:fixed;pointer-events:none;background:#1f2328;color:#fff;padding:.2rem .45rem;
border-radius:3px;font-size:.8rem;display:none;z-index:9}
.samples table{font-size:.85rem}.filtered tr.item[data-differ="0"]{display:none}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}
"""

# Hover: the point's data-tip in a floating label. Filter: a checkbox hides the items where
# every model answered alike.
JS = """
(function(){var tip=document.getElementById('tip');
document.addEventListener('mouseover',function(e){
 var t=e.target.closest&&e.target.closest('[data-tip]');
 if(!t){tip.style.display='none';return;}
 tip.textContent=t.getAttribute('data-tip');tip.style.display='block';});
document.addEventListener('mousemove',function(e){
 tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
document.querySelectorAll('.differ-filter').forEach(function(box){
 box.addEventListener('change',function(){
  box.closest('details').classList.toggle('filtered',box.checked);});});})();
"""


def section(title: str, anchor: str, body: str) -> str:
    return f"<h2 id={anchor}>{title}</h2>" + (body or "<p class=dim>nothing yet</p>")


def evaluated_answers(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every evaluated model's answer to each question: [{model, question, prediction}]."""
    return [{"model": m, "question": item["question"], "prediction": answer}
            for s in stages for t in s.get("samples") or [] for item in t["items"]
            for m, answer in item["answers"].items() if answer is not None]


def body(data: dict[str, Any]) -> str:
    stages = data["stages"]
    alone = evaluated_answers(stages)
    return "".join([
        f"<h1>internpipe report: {esc(data['name'])}</h1>",
        f"<p class=dim>recipe {esc(data['recipe'])} · device {esc(data['device'])} · "
        f"work dir {esc(data['workdir'])}</p>", sections.overrides(data["overrides"]),
        section("Plan", "plan", sections.plan_table(data)),
        section("Quality gates", "gates", sections.gates(data["gates"])),
        section("Training", "loss", "".join(sections.training(s) for s in stages)),
        section("Scores", "scores", "".join(sections.score_table(s) for s in stages)),
        section("Quantization drift", "drift", "".join(sections.drift(s) for s in stages)),
        section("Endpoint", "endpoint", "".join(sections.endpoint(s) for s in stages)),
        section("Load test", "bench", "".join(sections.bench(b, i)
                                               for i, b in enumerate(data["bench"]))),
        section("Agent transcripts", "agent", "".join(agent.section(s, alone)
                                                      for s in stages)),
        section("Lineage", "lineage", agent.lineage(data)),
    ])


def html_page(title: str, content: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width'><title>{esc(title)}</title><style>{CSS}</style>"
            f"</head><body>{content}<div id=tip></div><script>{JS}</script></body></html>\n")


def render(data: dict[str, Any]) -> str:
    return html_page(f"internpipe report: {data['name']}", body(data))


def write_page(dest: Path, name: str, text: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    page = dest / name
    tmp = page.with_name(f".{name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(page)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return page
