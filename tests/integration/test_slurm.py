"""Stages as jobs of a real single-node Slurm (Debian's slurm-wlm, installed by .ci/run):
success, failure, time limit, Ctrl-C cancelling the job, a --gres GPU request, and the CPU
demo recipe with launcher: slurm."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, cli, popen, write
from support.slurm import LocalSlurm, available

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    if not available():
        if os.environ.get("INTERNPIPE_CI"):
            pytest.fail("slurm-wlm is required here (INTERNPIPE_CI) but missing")
        pytest.skip("slurm-wlm is not installed (bash .ci/run installs it)")
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        os.environ.pop("SLURM_CONF", None)
        cluster.stop()


def job(slurm: LocalSlurm, job_id: str) -> dict[str, str]:
    from internpipe import slurm as slurm_mod

    return slurm_mod.job_info(job_id, {**os.environ, **slurm.env})


def recipe(tmp: Path, stages: str, resources: str = "{launcher: slurm}") -> Path:
    return write(tmp / "r.yaml", f"version: 1\nname: sl\nresources: {resources}\n"
                                 f"stages:\n{stages}")


def entry(tmp: Path, stage: str) -> dict:
    return json.loads((tmp / ".internpipe/sl/state.json").read_text())["stages"][stage]


def test_a_chain_of_jobs_succeeds_and_plan_shows_the_script(tmp_path: Path,
                                                            slurm: LocalSlurm) -> None:
    write(tmp_path / "input.txt", "data")
    r = recipe(tmp_path, "  src:\n    uses: source\n    file: input.txt\n"
                         "  up:\n    uses: transform\n    suffix: '!'\n",
               "{launcher: slurm, cpus_per_task: 1, time: '5:00', "
               "slurm: {partition: debug, extra_args: ['--comment=internpipe-test']}}")
    plan = json.loads(cli("plan", str(r), "--json", **slurm.env).stdout)
    command = plan["stages"][0]["commands"][0]
    for option in ("--nodes=1", "--cpus-per-task=1", "--time=5:00", "--partition=debug",
                   "--comment=internpipe-test"):
        assert option in command["sbatch"], command
    assert "exec " in command["script"] and "#SBATCH" not in command["script"]
    assert any(x.startswith("on Slurm (sbatch, 1 node") for x in plan["stages"][0]["reasons"])
    result = cli("run", str(r), "--json", timeout=300, **slurm.env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(entry(tmp_path, "up")["artifact"]["path"], "data.txt").read_text() == \
        "hellodata!"
    jobs = entry(tmp_path, "src")["slurm_jobs"]
    assert jobs[0]["state"] == "COMPLETED" and job(slurm, jobs[0]["job_id"])["JobState"] == \
        "COMPLETED"
    assert any(e.get("event") == "slurm_job" for e in map(json.loads,
                                                          result.stdout.splitlines()))
    status = cli("status", str(r), **slurm.env)
    assert f"src: Slurm job {jobs[0]['job_id']} (write) COMPLETED" in status.stdout


def test_a_failing_job_fails_the_stage_with_its_exit_code(tmp_path: Path,
                                                          slurm: LocalSlurm) -> None:
    r = recipe(tmp_path, "  bad:\n    uses: fail\n    code: 3\n")
    result = cli("run", str(r), timeout=300, **slurm.env)
    assert result.returncode == 1, result.stderr
    assert "failed (exit code 3)" in result.stderr and "Slurm job" in result.stderr


def test_a_job_past_its_time_limit_is_a_timeout(tmp_path: Path, slurm: LocalSlurm) -> None:
    r = recipe(tmp_path, "  long:\n    uses: slow\n    seconds: 300\n",
               "{launcher: slurm, time: '0:02'}")
    t0 = time.monotonic()
    result = cli("run", str(r), timeout=300, **slurm.env)
    assert result.returncode == 1, result.stderr
    assert "hit its time limit" in result.stderr, result.stderr
    print(f"time limit of 2 s enforced after {time.monotonic() - t0:.0f}s")


def test_ctrl_c_cancels_the_running_job(tmp_path: Path, slurm: LocalSlurm) -> None:
    r = recipe(tmp_path, "  long:\n    uses: slow\n    seconds: 300\n")
    run = popen("run", str(r), "--json", **slurm.env)
    marker = tmp_path / ".internpipe/sl/stages/long/RUNNING"
    deadline = time.monotonic() + 120
    job_id = None
    while job_id is None or job(slurm, job_id).get("JobState") != "RUNNING":
        assert run.poll() is None and time.monotonic() < deadline
        if marker.exists():
            ids = json.loads(marker.read_text()).get("slurm_jobs") or []
            job_id = ids[0] if ids else None
        time.sleep(0.3)
    live = cli("status", str(r), **slurm.env)
    assert f"long: Slurm job {job_id} RUNNING" in live.stdout, live.stdout
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130
    deadline = time.monotonic() + 30
    while job(slurm, job_id).get("JobState") not in ("CANCELLED", "COMPLETED"):
        assert time.monotonic() < deadline, job(slurm, job_id)
        time.sleep(0.3)
    assert job(slurm, job_id)["JobState"] == "CANCELLED"


def test_a_gres_gpu_request(tmp_path: Path, slurm: LocalSlurm) -> None:
    r = recipe(tmp_path, "  probe:\n    uses: env_probe\n",
               "{launcher: slurm, gpus_per_node: 2}")
    result = cli("run", str(r), timeout=300, **slurm.env)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = Path(entry(tmp_path, "probe")["artifact"]["path"], "data.txt").read_text()
    assert "'CUDA_VISIBLE_DEVICES': '0,1'" in seen and "'HF_HUB_OFFLINE': '1'" in seen, seen
    script = (tmp_path / ".internpipe/sl/stages/probe/sbatch-probe.sh").read_text()
    assert "export HF_HUB_OFFLINE=1" in script
    assert "--gres=gpu:2" in entry(tmp_path, "probe")["slurm_jobs"][0]["sbatch"]


def test_the_cpu_demo_recipe_on_slurm(tmp_path: Path, slurm: LocalSlurm) -> None:
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes",
                    ignore=shutil.ignore_patterns(".internpipe"))
    demo = tmp_path / "recipes" / "demo-tiny.yaml"
    result = cli("run", str(demo), "--json", "--set", "resources.launcher=slurm",
                 "--set", "resources.slurm.partition=debug", timeout=1500, **slurm.env)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((tmp_path / "recipes/.internpipe/demo-tiny/state.json").read_text())
    for name, stage in state["stages"].items():
        if stage["kind"] in ("finetune", "quantize"):
            assert stage.get("slurm_jobs"), name
            assert all(j["state"] == "COMPLETED" for j in stage["slurm_jobs"]), stage
    assert "--slurm" in state["stages"]["evaluate"]["steps"][0]   # OpenCompass's runner
    assert "Calculator" in json.dumps(state["stages"]["agent"]["artifact"]["summary"])
    deploy = state["stages"]["deploy"]["artifact"]
    assert Path(deploy["log"]).read_text().startswith("$ srun ")   # the server was a job
    print("demo on slurm:", {n: s["seconds"] for n, s in state["stages"].items()})


EVIL = {"mem": "1G\ntouch {pwned}", "time": "5:00\ntouch {pwned}",
        "partition": "debug\ntouch {pwned}", "extra_args": "--comment=x\ntouch {pwned}"}


@pytest.mark.parametrize("field", list(EVIL))
def test_a_newline_in_a_slurm_option_never_runs_on_the_node(tmp_path: Path, slurm: LocalSlurm,
                                                           field: str) -> None:
    """Built past validation (which refuses control characters first): slurm.py itself
    refuses the value, and nothing is submitted."""
    from internpipe import pipeline
    from internpipe.errors import UserError
    from internpipe.progress import JsonReporter
    from internpipe.recipe import Resources, SlurmResources

    pwned = tmp_path / "PWNED"
    value = EVIL[field].format(pwned=pwned)
    r = pipeline.load(recipe(tmp_path, "  src:\n    uses: source\n"), None)
    if field in ("mem", "time"):
        r.resources = Resources.model_construct(launcher="slurm", **{field: value})
    else:
        r.resources = Resources.model_construct(launcher="slurm", slurm=(
            SlurmResources.model_construct(partition=value) if field == "partition" else
            SlurmResources.model_construct(extra_args=[value])))
    with pytest.raises(UserError, match=f"resources.*{field}.*control character"):
        pipeline.run(r, None, None, JsonReporter(io.StringIO()))
    assert not pwned.exists()
    assert not list(tmp_path.glob(".internpipe/sl/stages/src/sbatch-*.sh"))


def test_slurm_options_reach_sbatch_literally(tmp_path: Path, slurm: LocalSlurm) -> None:
    pwned = tmp_path / "PWNED"
    comment = f"two words; $(touch {pwned}) \"quoted\""
    r = recipe(tmp_path, "  src:\n    uses: source\n",
               "{launcher: slurm, slurm: {extra_args: [" + json.dumps(f"--comment={comment}")
               + "]}}")
    result = cli("run", str(r), timeout=300, **slurm.env)
    assert result.returncode == 0, result.stderr[-3000:]
    job_id = entry(tmp_path, "src")["slurm_jobs"][0]["job_id"]
    shown = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True,
                           text=True, env={**os.environ, **slurm.env}).stdout
    assert f"Comment={comment}" in [line.strip() for line in shown.splitlines()], shown
    assert not pwned.exists()
