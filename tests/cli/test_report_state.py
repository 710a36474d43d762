"""What the report and `status` say about a run as it left the work dir: a run made with
--set reads as done afterwards (its --set values are remembered), a server the run stopped
when it ended is "stopped by design" with its command in the lineage, and `report --compare`
puts two runs side by side."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, write
from support.chain import CHAIN

SERVED = """\
version: 1
name: served
stages:
  srv:
    uses: echo_server
  cl:
    uses: client
"""


def _report(recipe: Path, *args: str) -> dict:
    result = cli("report", str(recipe), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(Path(json.loads(result.stdout)["json"]).read_text())


def _states(recipe: Path) -> dict[str, str]:
    result = cli("status", str(recipe), "--json")
    assert result.returncode == 0, result.stderr
    return {s["stage"]: s["state"] for s in json.loads(result.stdout)["stages"]}


def test_a_run_with_set_reads_as_done_afterwards(tmp_path: Path) -> None:
    write(tmp_path / "input.txt", "DATA")
    recipe = write(tmp_path / "r.yaml", CHAIN)
    ran = cli("run", str(recipe), "--json", "--set", "stages.up.suffix=#")
    assert ran.returncode == 0, ran.stderr
    assert _states(recipe) == {"src": "done", "up": "done", "up2": "done"}
    data = _report(recipe)
    assert data["overrides"] == ["stages.up.suffix=#"]
    assert {s["stage"]: s["state"] for s in data["stages"]} == {
        "src": "done", "up": "done", "up2": "done"}
    # Asked about other values, they are what is said; a plain run forgets the old ones.
    assert _states(recipe)["up"] == "done"
    other = json.loads(cli("status", str(recipe), "--json", "--set",
                           "stages.up.suffix=%").stdout)
    assert {s["stage"]: s["state"] for s in other["stages"]}["up"] == "stale"
    plan = cli("plan", str(recipe))
    assert "the last run used: --set stages.up.suffix=#" in plan.stdout, plan.stdout
    assert "the last run used" not in cli("plan", str(recipe), "--set",
                                          "stages.up.suffix=#").stdout
    assert cli("run", str(recipe), "--json").returncode == 0
    assert _report(recipe)["overrides"] == []
    assert _states(recipe) == {"src": "done", "up": "done", "up2": "done"}


def test_a_server_the_run_stopped_is_stopped_by_design(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", SERVED)
    ran = cli("run", str(recipe), "--json")
    assert ran.returncode == 0, ran.stderr
    data = _report(recipe)
    srv = next(s for s in data["stages"] if s["stage"] == "srv")
    assert srv["status"] == "not serving" and srv["state"] == "stopped by design"
    assert srv["commands"] and "http.server" in " ".join(srv["commands"][-1])
    entry = json.loads(Path(data["workdir"], "state.json").read_text())["stages"]["srv"]
    assert "http.server" in " ".join(entry["steps"][-1])      # recorded by the run itself
    page = Path(data["workdir"], "report", "report.html").read_text()
    assert "stopped by design" in page and "(none" not in page


def test_compare_two_runs_scores_curves_and_lineage(tmp_path: Path) -> None:
    runs = []
    for name, suffix in (("a", "!"), ("b", "?")):
        write(tmp_path / name / "input.txt", "DATA")
        recipe = write(tmp_path / name / "r.yaml", CHAIN.replace('suffix: "!"',
                                                                 f'suffix: "{suffix}"'))
        assert cli("run", str(recipe), "--json").returncode == 0
        runs.append(recipe)
    out = tmp_path / "cmp"
    result = cli("report", "--compare", str(runs[0]),
                 str(runs[1].parent / ".internpipe" / "chain"), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "compare.json").read_text())
    assert [s["stage"] for s in data["a"]["stages"]] == ["src", "up", "up2"]
    page = (out / "compare.html").read_text()
    assert "options changed: suffix" in page and "same stage fingerprint" in page
    bad = cli("report", "--compare", str(runs[0]), str(tmp_path))
    assert bad.returncode == 2 and "not a work dir" in bad.stderr
