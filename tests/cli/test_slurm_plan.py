"""Slurm command lines that cannot run here (they need CUDA or several nodes): checked as
`plan` prints them. A stand-in `sbatch` on PATH is enough for planning."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import TINY_MODEL, cli, write
from support.evalsets import write_qa
from support.sft import write_data


def _fake_sbatch(tmp: Path) -> dict[str, str]:
    bin_dir = tmp / "bin"
    write(bin_dir / "sbatch", "#!/bin/sh\necho 1\n").chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _plan(tmp: Path, stages: str, resources: str, device: str = "cpu") -> dict:
    r = write(tmp / "r.yaml", f"version: 1\nname: s\ndevice: {device}\n"
                              f"resources: {resources}\nstages:\n  download:\n"
                              f"    source: {TINY_MODEL}\n{stages}")
    result = cli("plan", str(r), "--json", **_fake_sbatch(tmp))
    assert result.returncode == 0, result.stderr
    return {s["stage"]: s for s in json.loads(result.stdout)["stages"]}


def test_multi_node_finetune_uses_xtuners_slurm_launcher(tmp_path: Path) -> None:
    write_data(tmp_path / "d.jsonl", "openai")
    plan = _plan(tmp_path, "  finetune:\n    data: d.jsonl\n",
                 "{launcher: slurm, nodes: 2, gpus_per_node: 8, slurm: {partition: gpu}}")
    train = plan["finetune"]["commands"][0]
    script, sbatch = train["script"], train["sbatch"]
    assert sbatch[:2] == ["sbatch", "--parsable"] and sbatch[-1].endswith("sbatch-train.sh")
    assert "--nodes=2" in sbatch and "--ntasks-per-node=8" in sbatch
    assert "--gres=gpu:8" in sbatch and "--partition=gpu" in sbatch
    assert "#SBATCH" not in script              # options travel as argv, not script lines
    last = script.strip().splitlines()[-1]
    assert last.startswith("exec srun --ntasks-per-node=8 --kill-on-bad-exit=1 ")
    assert last.endswith("--launcher slurm") and "xtuner_launch.py train" in last
    assert "NPROC_PER_NODE" not in script          # srun starts the workers, not torchrun
    assert any("on Slurm (sbatch, 2 nodes, 8 GPU/node)" in x
               for x in plan["finetune"]["reasons"])


def test_local_multi_gpu_finetune_uses_xtuners_torchrun_variables(tmp_path: Path) -> None:
    write_data(tmp_path / "d.jsonl", "openai")
    r = write(tmp_path / "r.yaml", f"version: 1\nname: s\ndevice: cpu\nstages:\n  download:\n"
                                   f"    source: {TINY_MODEL}\n  finetune:\n    data: d.jsonl\n"
                                   "    resources: {nodes: 2}\n")
    result = cli("plan", str(r))
    assert result.returncode == 2 and "nodes: 2 needs launcher: slurm" in result.stderr


def test_evaluate_uses_opencompass_own_slurm_runner(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    plan = _plan(tmp_path, "  evaluate:\n    datasets: [{path: qa.jsonl}]\n",
                 "{launcher: slurm, gpus_per_node: 2, slurm: {partition: p1, qos: high}}")
    cmd = plan["evaluate"]["commands"][0]
    assert "sbatch" not in cmd                     # OpenCompass submits its own tasks
    argv = cmd["argv"]
    assert argv[argv.index("--slurm"):] == ["--slurm", "-p", "p1", "--max-num-workers", "2",
                                            "--qos", "high"]
    assert "--debug" not in argv and "-q" not in argv
    assert any("its own runner" in x for x in plan["evaluate"]["reasons"])


def test_evaluate_on_slurm_needs_a_partition(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    r = write(tmp_path / "r.yaml", f"version: 1\nresources: {{launcher: slurm}}\nstages:\n"
                                   f"  download:\n    source: {TINY_MODEL}\n  evaluate:\n"
                                   "    datasets: [{path: qa.jsonl}]\n")
    result = cli("plan", str(r), **_fake_sbatch(tmp_path))
    assert result.returncode == 2 and "resources.slurm.partition" in result.stderr


def test_quantize_is_one_gpu_job_and_tp_must_fit_a_node(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "  quantize:\n    samples: 0\n",
                 "{launcher: slurm, gpus_per_node: 1, mem: 64G}", device="cuda")
    script = plan["quantize"]["commands"][0]["script"]
    sbatch = plan["quantize"]["commands"][0]["sbatch"]
    assert "--gres=gpu:1" in sbatch and "--mem=64G" in sbatch
    assert "lmdeploy lite auto_awq" in script.replace("/lmdeploy lite", "lmdeploy lite")
    r = write(tmp_path / "t.yaml", f"version: 1\ndevice: cuda\nresources: {{launcher: slurm, "
                                   f"gpus_per_node: 2}}\nstages:\n  download:\n    source: "
                                   f"{TINY_MODEL}\n  deploy:\n    tp: 4\n")
    result = cli("plan", str(r), **_fake_sbatch(tmp_path))
    assert result.returncode == 2 and "tp 4 does not fit the 2 GPUs" in result.stderr


def test_slurm_without_sbatch_is_a_clear_error(tmp_path: Path) -> None:
    r = write(tmp_path / "r.yaml", f"version: 1\nresources: {{launcher: slurm}}\nstages:\n"
                                   f"  download:\n    source: {TINY_MODEL}\n")
    (tmp_path / "empty").mkdir()
    result = cli("plan", str(r), PATH=str(tmp_path / "empty"))
    assert result.returncode == 2 and "sbatch is not on PATH" in result.stderr, result.stderr
