"""The course's data as its generators write it, through the real tools: XTuner fine-tunes on
it, OpenCompass evaluates on it (its first question and answer per record, staged by
workers/chatdata.py) and LMDeploy calibrates AWQ with it (workers/quant_checks.py), with no
`format:` anywhere. One run of the tiny model on camp3's JSON list; camp2's and camp4's files
through the same workers in their envs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import envs
from internpipe.stages.base import WORKERS
from support import course

pytestmark = pytest.mark.integration


def test_camp3_list_through_finetune_evaluate_and_calibration(tmp_path: Path) -> None:
    course.camp3(tmp_path / "assistant.json", n=12)              # 26 records
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: course
device: cpu
stages:
  download: {{source: {TINY_MODEL}}}
  finetune:
    data: assistant.json
    method: full
    lr: 2.0e-3
    warmup_ratio: 0
    max_length: 128
  evaluate:
    datasets: [{{path: assistant.json, type: qa}}]
    limit: 2
    max_out_len: 16
  quantize: {{model: finetune, calib: assistant.json, samples: 4, seqlen: 32}}
""")
    result = cli("run", str(r), "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    work = tmp_path / ".internpipe/course/stages"
    staged = (work / "evaluate/work/data/assistant.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(x) for x in staged.splitlines()]
    assert len(rows) == 26 and rows[0]["question"] == "请介绍一下你自己", rows[0]
    state = json.loads((tmp_path / ".internpipe/course/state.json").read_text())["stages"]
    assert state["evaluate"]["artifact"]["path"]
    spec = json.loads((work / "finetune/work/spec.json").read_text())
    assert spec["format"] == "xtuner"                              # detected
    log = (work / "quantize/log.txt").read_text()
    assert "staged 26 calibration samples" in log, log[-2000:]


@pytest.mark.parametrize("camp", ["camp2", "camp4"])
def test_other_camps_through_the_staging_workers(tmp_path: Path, camp: str) -> None:
    data = course.GENERATORS[camp](tmp_path / f"a{course.SUFFIX[camp]}", 20)
    ours = {"opencompass": ["chatdata.py", str(data), str(tmp_path / "qa/q.jsonl")],
            "lmdeploy": ["quant_checks.py", "stage-calib", str(data), str(tmp_path / "calib")]}
    for tool, argv in ours.items():
        env = envs.ensure(tool, "cpu")
        done = subprocess.run([str(env.python), str(WORKERS / argv[0]), *argv[1:]],
                              capture_output=True, text=True, env=envs.step_environ(env),
                              timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    rows = (tmp_path / "qa/q.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == (21 if camp == "camp2" else 20)
    assert json.loads(rows[0])["answer"].startswith("我是")
    assert (tmp_path / "calib/wikitext/wikitext-2-raw-v1/train-00000-of-00001.parquet").exists()
