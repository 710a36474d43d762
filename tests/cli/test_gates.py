"""Quality gates (`gates:`) through the real CLI on the test-only kinds: a failed gate stops
the run with exit 1 naming the gate, its line, the measured value and the threshold."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_MODEL, cli, write

RECIPE = """\
version: 1
name: gated
stages:
  src: {uses: source, text: hello}
  score: {uses: scorer}
  up: {uses: transform, model: src}
gates:
  - name: tuned beats base by 10
    check: score.qa.tuned >= score.qa.base + 10
  - score.qa.tuned <= 100
"""


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_a_failed_gate_stops_the_run_with_exit_1(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", RECIPE)
    result = cli("run", str(r), "--json")
    assert result.returncode == 1, result.stderr
    evts = events(result.stdout)
    gate = next(e for e in evts if e["event"] == "gate")
    assert gate == {**gate, "name": "tuned beats base by 10", "line": 8, "stage": "score",
                    "measured": 45.0, "op": ">=", "threshold": 50.0, "passed": False}
    assert "45" in gate["message"] and "score.qa.base 40 + 10" in gate["message"]
    finished = {e["stage"]: e["status"] for e in evts if e["event"] == "stage_finished"}
    assert finished == {"src": "ok", "score": "ok"}          # `up` never ran
    done = next(e for e in evts if e["event"] == "run_finished")
    assert done["exit_code"] == 1 and done["status"] == "failed"
    assert evts[-1]["event"] == "error" and evts[-1]["message"].startswith("gate 'tuned")
    saved = json.loads((tmp_path / ".internpipe/gated/gates.json").read_text())
    assert saved["schema"] == 1 and [g["passed"] for g in saved["gates"]] == [False, True]
    # the terminal's message names the gate, its recipe line, the value and the threshold
    plain = cli("run", str(r))
    assert plain.returncode == 1
    assert (f"error: gate 'tuned beats base by 10' failed ({r}:8): measured 45, needs >= 50"
            in plain.stderr), plain.stderr


def test_passing_gates_and_the_gates_command(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", RECIPE.replace("base + 10", "base + 5"))
    result = cli("run", str(r), "--json")
    assert result.returncode == 0, result.stderr
    gates = [e for e in events(result.stdout) if e["event"] == "gate"]
    assert [(g["name"], g["passed"]) for g in gates] == [
        ("tuned beats base by 10", True), ("score.qa.tuned <= 100", True)]
    plain = cli("run", str(r))           # cached stages: their gates are judged again
    assert plain.returncode == 0
    assert "gate 'tuned beats base by 10' (line 8): pass: score.qa.tuned = 45, meets >= 45 " \
        "(score.qa.base 40 + 5)" in plain.stdout, plain.stdout
    again = cli("gates", str(r))
    assert again.returncode == 0 and "pass" in again.stdout
    # a stricter threshold, judged from what the run recorded: nothing runs again
    stricter = cli("gates", str(r), "--set", "gates=['score.qa.tuned > 45']", "--json")
    assert stricter.returncode == 1
    assert json.loads(stricter.stdout.splitlines()[0])["passed"] is False
    # gates taken out of the recipe: the next run leaves no verdict behind
    write(r, RECIPE.split("gates:")[0])
    assert cli("run", str(r)).returncode == 0
    assert not (tmp_path / ".internpipe/gated/gates.json").exists()


def test_a_gate_whose_stage_did_not_run_is_not_measured(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", RECIPE)
    result = cli("run", str(r), "--json", "--only", "src")
    assert result.returncode == 0, result.stderr
    gates = [e for e in events(result.stdout) if e["event"] == "gate"]
    assert [g["passed"] for g in gates] == [None, None]
    assert gates[0]["message"] == "not measured: stage 'score' has not finished"


def test_gates_are_checked_at_validate(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: g
stages:
  download:
    source: {TINY_MODEL}
  quantize:
    method: awq
  deploy:
    port: auto
  agent:
    queries: ["What is 2 + 2?"]
gates:
  - check: quantise.drift.top1_agreement >= 0.9
  - quantize.drift.top5 >= 0.9
  - deploy.bench.latency_ms.p99 <= 500
  - name: agent
    check: agent.failed = 0
  - agent.failed == 0
  - {{name: x, chekc: agent.failed == 0}}
""")
    result = cli("validate", str(r))
    assert result.returncode == 2
    err = result.stderr
    assert (f"{r}:13: gates[0].check: quantise.drift.top1_agreement: no stage 'quantise' in "
            "the recipe; did you mean 'quantize'?") in err, err
    assert f"{r}:14: gates[1]: quantize.drift.top5: drift.NAME is one of top1_agreement" in err
    assert (f"{r}:15: gates[2]: deploy.bench.latency_ms.p99: the deploy stage has no "
            "`bench:` option") in err
    assert f"{r}:17: gates[3].check: cannot read 'agent.failed = 0'" in err
    assert f"{r}:19: gates[5].chekc:" in err
    assert "gates[4]" not in err
