"""`validate` runs what each stage kind checks before it can run (its `check`), for every
stage, and reports every problem of a file at once: data files, what the device allows,
ports, templates, tool names, prompt columns. `plan` and `run` run the same checks once for
the stages they will run. Refusals that can only come later (a busy port, a key not set)
name the recipe line of their stage or option. `device: cuda` where no NVIDIA driver is
loaded is a warning for `validate` and `plan`, and `run` refuses it before building
anything."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import devices

pytestmark = pytest.mark.filterwarnings("ignore")


def line_of(path: Path, text: str) -> int:
    return path.read_text().split("\n").index(text) + 1


def many_problems(tmp: Path, port: str = "0") -> Path:
    write(tmp / "bad.jsonl", '{"messages": []}\n')
    write(tmp / "qa.jsonl", '{"question": "q", "answer": "a"}\n')
    return write(tmp / "r.yaml", f"""\
version: 1
name: many
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  finetune:
    data: bad.jsonl
    method: qlora
  evaluate:
    datasets: [{{path: qa.jsonl, prompt: "Q: {{questoin}}"}}]
  quantize:
    group_size: 96
  deploy:
    port: {port}
  agent:
    tools: [Calculater]
    queries: [hi]
""")


def test_validate_reports_every_problem_of_the_file_at_once(tmp_path: Path) -> None:
    r = many_problems(tmp_path)
    result = cli("validate", str(r), "--json")
    assert result.returncode == 2, result.stderr
    found = {(Path(p["file"]).name, p["line"], p["field"])
             for p in json.loads(result.stdout)["recipes"][0]["problems"]}
    assert found == {("r.yaml", line_of(r, "    port: 0"), "stages.deploy.port"),
                     ("r.yaml", line_of(r, "    tools: [Calculater]"), "stages.agent.tools"),
                     ("r.yaml", line_of(r, "    method: qlora"), "stages.finetune.method"),
                     ("bad.jsonl", 1, ""),
                     ("r.yaml", line_of(r, '    datasets: [{path: qa.jsonl, prompt: "Q: '
                                           '{questoin}"}]'),
                      "stages.evaluate.datasets[0].prompt"),
                     ("r.yaml", line_of(r, "    group_size: 96"), "stages.quantize.group_size")}


def test_plan_checks_every_stage_that_will_run_before_planning_any(tmp_path: Path) -> None:
    r = many_problems(tmp_path, port="23333")
    r.write_text(r.read_text().replace("[Calculater]", "[Calculator]"))
    result = cli("plan", str(r))
    assert result.returncode == 2
    for needle in ("r.yaml:9: stages.finetune.method: method qlora needs CUDA",
                   "bad.jsonl:1: openai format",
                   "r.yaml:11: stages.evaluate.datasets[0].prompt: {questoin}",
                   "r.yaml:13: stages.quantize.group_size: group_size 96 does not divide"):
        assert needle in result.stderr, result.stderr
    assert not (tmp_path / ".internpipe").exists()
    # --only what is fine plans; the others are not checked
    only = cli("plan", str(r), "--only", "download")
    assert only.returncode == 0, only.stderr


def test_refusals_when_planning_name_the_stage_or_option(tmp_path: Path) -> None:
    write(tmp_path / "qa.jsonl", '{"question": "q", "answer": "a"}\n')
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: refuse
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  evaluate:
    endpoints: [{{url: "http://127.0.0.1:9/v1", model: m, api_key_env: NO_SUCH_KEY_X}}]
    datasets: [{{path: qa.jsonl}}]
  agent:
    url: http://127.0.0.1:9/v1
    model_name: m
""")
    result = cli("plan", str(r), "--only", "evaluate")
    assert result.returncode == 2
    assert "r.yaml:7: stages.evaluate: the API key variable NO_SUCH_KEY_X is not set" in \
        result.stderr, result.stderr
    result = cli("plan", str(r), "--only", "agent")
    assert result.returncode == 2
    assert "r.yaml:10: stages.agent.queries: no `queries:` to run" in result.stderr, \
        result.stderr
    gone = write(tmp_path / "g.yaml", "version: 1\nname: g\nstages:\n  download:\n"
                                      "    source: ./nowhere\n")
    result = cli("plan", str(gone))
    assert result.returncode == 2 and "g.yaml:4: stages.download: " in result.stderr


def test_a_busy_port_found_at_run_time_names_its_line(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = write(tmp_path / "r.yaml", f"""\
version: 1
name: busy
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  deploy:
    port: {port}
interpreters: {{transformers: {sys.executable}}}
""")
        result = cli("run", str(r))
    assert result.returncode == 2, result.stderr
    assert f"r.yaml:8: stages.deploy.port: port {port} on 127.0.0.1 is in use" in \
        result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(devices.nvidia_driver() is not None,
                    reason="the check is for machines without an NVIDIA driver")
def test_cuda_without_a_driver_warns_and_run_refuses_before_building(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", f"version: 1\nname: gpu\ndevice: cuda\nstages:\n"
                                   f"  download:\n    source: {TINY_MODEL}\n")
    result = cli("validate", str(r))
    assert result.returncode == 0
    assert "warning: " in result.stderr and "r.yaml:3: device:" in result.stderr
    assert "no NVIDIA driver" in result.stderr
    plan = cli("plan", str(r), "--json")
    assert plan.returncode == 0, plan.stderr
    assert "no NVIDIA driver" in " ".join(json.loads(plan.stdout)["stages"][0]["reasons"])
    run = cli("run", str(r))
    assert run.returncode == 2 and "r.yaml:3: device:" in run.stderr, run.stderr
    assert not (tmp_path / ".internpipe").exists()
    flag = cli("run", str(r), "--device", "cuda")
    assert flag.returncode == 2 and "--device: cuda: CUDA, but" in flag.stderr
    # on a cluster the stages run on its nodes, which this machine cannot see
    r.write_text(r.read_text() + "resources: {launcher: slurm, slurm: {partition: gpu}}\n")
    result = cli("validate", str(r))
    assert result.returncode == 0 and "warning" not in result.stderr
