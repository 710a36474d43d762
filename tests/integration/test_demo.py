"""The README's demo, as a new user runs it: the whole chain on the tiny model on CPU, then
the report, opened in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.integration
SECTIONS = ("plan", "loss", "scores", "drift", "endpoint", "agent", "lineage")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")
    if found is None:
        if os.environ.get("INTERNPIPE_CI"):
            pytest.fail("chromium is required here (INTERNPIPE_CI) but missing")
        pytest.skip("chromium is not installed (bash .ci/run installs it)")
    return found


def test_the_demo_chain_the_report_and_the_cached_rerun(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes",
                    ignore=shutil.ignore_patterns(".internpipe"))
    demo = tmp_path / "recipes" / "demo-tiny.yaml"
    t0 = time.monotonic()
    result = cli("run", str(demo), "--json", timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"demo run (envs ready): {time.monotonic() - t0:.1f}s")
    events = [json.loads(x) for x in result.stdout.splitlines()]
    done = {e["stage"]: e for e in events if e["event"] == "stage_finished"}
    assert [s for s, e in done.items() if e["status"] != "ok"] == []

    # The tuned model beats the base on the held-out questions.
    rows = {r["metric"]: r for r in done["evaluate"]["artifact"]["scores"]["rows"]}
    gain = rows["rouge1"]["deltas"]["finetune"]
    print(f"held-out rouge1: base {rows['rouge1']['scores']['download']:.2f}, "
          f"tuned {rows['rouge1']['scores']['finetune']:.2f} ({gain:+.2f})")
    assert gain > 30, rows
    # The agent answered through a real Calculator call whose result reached the answer.
    transcripts = json.loads(Path(done["agent"]["artifact"]["path"], "transcripts.json")
                             .read_text())
    calc = transcripts[0]
    assert calc["tool_calls"][0]["name"] == "Calculator"
    assert calc["tool_calls"][0]["result"] == "42.0" and "42" in calc["answer"]
    assert transcripts[1]["tool_calls"][0]["result"] == "1024"
    assert "Bajie" in transcripts[2]["answer"]

    t0 = time.monotonic()
    again = cli("run", str(demo), "--json")
    took = time.monotonic() - t0
    statuses = {json.loads(x).get("stage"): json.loads(x).get("status")
                for x in again.stdout.splitlines() if '"stage_finished"' in x}
    assert set(statuses.values()) == {"cached"}, statuses
    assert took < 5, took
    print(f"second run: {took:.2f}s, all cached")

    report = cli("report", str(demo), "--json")
    assert report.returncode == 0, report.stderr
    paths = json.loads(report.stdout)
    page, data = Path(paths["html"]), json.loads(Path(paths["json"]).read_text())
    assert [s["stage"] for s in data["stages"]] == list(done)
    finetune = next(s for s in data["stages"] if s["stage"] == "finetune")
    assert finetune["commands"] and finetune["provenance"]["tool_versions"]
    text = page.read_text()
    assert "<svg" in text and "Calculator" in text and "<script src" not in text

    chromium = _chromium()
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run([chromium, *flags, "--window-size=1200,2400", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    for section in SECTIONS:
        assert f'id="{section}"' in dom, section
    assert "<svg" in dom and "(+" in dom            # the loss curve and a positive delta
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1200, 2400)
    # A rendered page, not a blank one: a blank 1200x2400 page compresses to ~10 kB.
    assert len(png) > 100_000, len(png)
