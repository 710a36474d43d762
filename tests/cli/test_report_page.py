"""`internpipe report` opened in real headless Chromium (Debian's, driven by Playwright), on a
realistic work dir of the CPU demo built from small files (support/report_workdir.py): no
console error and no network request; the per-item table and its filter; the training
curves and the bench chart answer a hover with the value; a failed agent stage's transcripts
are there, their raw JSON folded away; the compare view of two runs. Screenshots go to
$INTERNPIPE_TEST_ARTIFACTS (default test-artifacts/) as the test's artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import cli
from support import report_workdir
from support.browser import ARTIFACTS, browser_kit


def _written(result: Any) -> Path:
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)["html"])


def _hover_tip(page: Any, selector: str) -> str:
    point = page.locator(selector).first
    point.scroll_into_view_if_needed()
    point.hover()
    tip = page.locator("#tip")
    tip.wait_for(state="visible", timeout=5000)
    return str(tip.text_content())


def test_the_report_in_headless_chromium(tmp_path: Path,
                                         record_property: Any) -> None:
    sync_playwright, chromium = browser_kit()
    recipe = report_workdir.build(tmp_path / "a")
    report = _written(cli("report", str(recipe), "--json"))
    # A second run to compare with: an archived copy of the work dir, trained for longer.
    other = tmp_path / "archive" / "demo-cpu"
    shutil.copytree(recipe.parent / ".internpipe" / "demo-cpu", other)
    curve = other / "stages" / "finetune" / "out" / "loss.jsonl"
    curve.write_text(curve.read_text() + json.dumps({"iter": 30, "loss": 0.09, "lr": 0.0,
                                                     "grad_norm": 0.2}) + "\n")
    compare = _written(cli("report", "--compare", str(recipe), str(other), "-o",
                           str(tmp_path / "cmp"), "--json"))
    text = report.read_text()
    assert "<script src" not in text and "<link" not in text and "matplotlib" not in text
    assert "OpenCompass reports" not in text     # the per-item scores add up
    shots = ARTIFACTS / "report"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: fetched.append(r.url)
                if not r.url.startswith("file://") else None)
        page.goto(report.as_uri())

        # Stages as a run leaves them: the stopped server by design, the agent failed.
        assert page.locator("tr[data-stage=deploy]").inner_text().count("stopped by design")
        assert "failed" in page.locator("tr[data-stage=agent]").inner_text()

        # The per-item table: question, reference, each model's answer and score; the filter
        # keeps the items where the models differ.
        table = page.locator("#samples-evaluate-persona_math")
        rows = table.locator("tr.item")
        assert rows.count() == 2
        first = rows.nth(0).inner_text()
        assert "What is 12 * 7?" in first and "84" in first and "12 * 7 = 90" in first
        table.locator("input.differ-filter").check()
        visible = [r for r in range(rows.count()) if rows.nth(r).is_visible()]
        assert visible == [0], visible            # "Say OK." was answered alike
        table.locator("input.differ-filter").uncheck()
        assert rows.nth(1).is_visible()

        # The curves (loss, lr, grad norm) and the bench chart show a value on hover.
        for key in ("loss", "lr", "grad_norm"):
            assert page.locator(f"#curve-finetune-{key} rect.col").count() == 5, key
        assert _hover_tip(page, "#curve-finetune-loss rect.col") == "iteration 5: loss 1.774"
        assert _hover_tip(page, "#curve-finetune-grad_norm rect.col >> nth=-1") == \
            "iteration 25: grad_norm 0.3321"
        assert page.locator("#bench-latency-0 polyline").count() == 6
        assert _hover_tip(page, "#bench-latency-0 rect.col") == (
            "run c=1: TTFT p50 118.4; TTFT p99 140.9; TPOT p50 15.2; ITL p50 15; "
            "latency p50 601.3; latency p99 662")
        assert _hover_tip(page, "#bench-tps-0 rect.col >> nth=1") == \
            "run c=4: output tokens/s 59.46"
        gates = page.locator("table.gates").inner_text()
        assert "✔ pass" in gates and "✘ fail" in gates and "not measurable" in gates

        # Drift against thresholds, in figures people read.
        drift = page.locator("table.drift").inner_text()
        assert "0.7436" in drift and "≥ 0.5 (recipe)" in drift and "0.7435897" not in drift
        assert "16 samples from data/persona.jsonl" in page.locator("#drift ~ p").first \
            .inner_text()

        # The failed agent stage's transcripts, readable; the raw record folded away.
        agent = page.locator("details.transcript")
        assert agent.count() == 2
        assert "the answer lacks '1776'" in agent.nth(1).inner_text()
        assert "calls Calculator" in agent.nth(0).locator("ol.msgs").text_content()
        assert not agent.nth(0).locator("pre").is_visible()
        assert '"openai": null' not in page.content() and "openai None" not in page.content()
        page.screenshot(path=str(shots / "report.png"), full_page=True)

        page.goto(compare.as_uri())
        lines = page.locator("#compare-finetune-loss polyline")
        assert lines.count() == 2
        assert _hover_tip(page, "#compare-finetune-loss rect.col >> nth=-2") == \
            "iteration 25: A: demo-cpu 0.1628; B: demo-cpu 0.1628"
        assert _hover_tip(page, "#compare-finetune-loss rect.col >> nth=-1") == \
            "iteration 30: B: demo-cpu 0.09"
        assert "same stage fingerprint" in page.locator("table.compare-lineage").inner_text()
        assert "persona_eval" in page.locator("table.compare-scores").inner_text()
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        browser.close()
    assert problems == [] and fetched == [], (problems, fetched)
    for name in ("report.png", "compare.png"):
        assert (shots / name).stat().st_size > 50_000
        record_property(f"screenshot {name}", str(shots / name))
        print(f"screenshot: {shots / name}")
