"""The evaluate stage with the real OpenCompass on CPU: the tiny base model against a LoRA
fine-tune of it, custom qa and mcq data plus a built-in dataset, a served endpoint, fast
failures before launch, and resuming an interrupted run."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, popen, write
from internpipe import services
from support.evalsets import stage_gsm8k, two_model_recipe, write_mcq, write_qa
from support.sft import recipe as sft_recipe

pytestmark = pytest.mark.integration


def events(stdout: str) -> list[dict]:
    return [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]


def finished(stdout: str, stage: str) -> dict:
    return next(e for e in events(stdout) if e["event"] == "stage_finished"
                and e["stage"] == stage)


def test_base_against_tuned_on_qa_mcq_and_a_builtin(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    write_mcq(tmp_path / "mcq.jsonl")
    stage_gsm8k(tmp_path / "compass")
    r = sft_recipe(tmp_path, name="ev", extra="""\
  evaluate:
    datasets:
      - {path: qa.jsonl, type: qa}
      - {path: mcq.jsonl, type: mcq}
      - gsm8k_gen
    data_dir: compass
    limit: 4
    max_out_len: 24
""")
    result = cli("run", str(r), "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    event = finished(result.stdout, "evaluate")
    print(f"evaluate stage, 2 models x 3 datasets: {event['seconds']:.1f}s")
    table = event["artifact"]["scores"]                      # --json carries the table
    assert table["models"] == ["download", "finetune"] and table["base"] == "download"
    rows = {(row["dataset"], row["metric"]): row for row in table["rows"]}
    assert {d for d, _ in rows} == {"qa", "mcq", "gsm8k"}
    rouge = rows[("qa", "rouge1")]
    # The fine-tune taught the answer the qa set asks for; the base model never saw it.
    assert rouge["scores"]["finetune"] > rouge["scores"]["download"], rouge
    assert rouge["deltas"]["finetune"] == pytest.approx(
        rouge["scores"]["finetune"] - rouge["scores"]["download"], abs=1e-3)

    out = Path(event["artifact"]["path"])
    for name in ("scores.json", "scores.csv", "opencompass_config.py", "manifest.json",
                 "predictions/download/qa.json", "predictions/finetune/mcq.json",
                 "predictions/finetune/gsm8k.json", "results/finetune/qa.json"):
        assert (out / name).exists(), name
    csv_head = (out / "scores.csv").read_text().splitlines()[0]
    assert csv_head == "dataset,metric,mode,download,finetune,finetune - download"
    predictions = json.loads((out / "predictions/finetune/qa.json").read_text())
    assert len(predictions) == 4                               # limit: 4
    work = tmp_path / ".internpipe/ev/stages/evaluate/work"
    assert (work / "config.py").read_text() == (out / "opencompass_config.py").read_text()
    assert not list((work / "outputs").glob("*"))               # nothing left to resume

    again = cli("run", str(r))                                 # plain output, all cached
    assert again.returncode == 0, again.stderr
    assert "evaluate: scores" in again.stdout and "download (base)" in again.stdout
    assert f"{rouge['deltas']['finetune']:+.2f}" in again.stdout


def test_a_served_endpoint(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: served
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  deploy:
    port: auto
  evaluate:
    models: [download, deploy]
    datasets: [{{path: qa.jsonl}}]
    limit: 2
    max_out_len: 16
""")
    result = cli("run", str(r), "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    table = finished(result.stdout, "evaluate")["artifact"]["scores"]
    assert table["models"] == ["download", "deploy"]
    assert all(row["scores"]["deploy"] is not None for row in table["rows"])
    config = (tmp_path / ".internpipe/served/stages/evaluate/out/opencompass_config.py"
              ).read_text()
    assert "type=OpenAISDKStreaming" in config and "tokenizer_path=" in config
    served = json.loads((tmp_path / ".internpipe/served/stages/evaluate/out/predictions/"
                                    "deploy/qa.json").read_text())
    assert len(served) == 2 and all(isinstance(p["prediction"], str) for p in served.values())
    deploy = finished(result.stdout, "deploy")["artifact"]
    assert not services.alive(deploy["pid"]), "the server outlived the run"


def test_missing_builtin_data_and_unknown_names_fail_before_launch(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    (tmp_path / "empty").mkdir()
    base = f"""\
version: 1
name: miss
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  evaluate:
    data_dir: empty
"""
    r = write(tmp_path / "r.yaml", base + "    datasets: [{path: qa.jsonl}, ceval_gen]\n")
    # OpenCompass's archive server does not answer (its URL table, overridden the way
    # OpenCompass reads overrides: ~/.OPENCOMPASS_INTERNAL_DATA_URL.json): the data is
    # fetched before launch, so the run fails in seconds saying how to stage it offline.
    home = tmp_path / "home"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    write(home / ".OPENCOMPASS_INTERNAL_DATA_URL.json", json.dumps(
        {"/ceval/": {"url": f"http://127.0.0.1:{closed}/ceval.zip", "md5": "0"}}))
    t0 = time.monotonic()
    result = cli("run", str(r), HOME=str(home))
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - t0 < 90
    err = " ".join(result.stderr.split())
    assert f"the data for {tmp_path}/empty/./data/ceval/formal_ceval is not staged" in err, err
    assert "ceval.zip did not answer" in err and "Stage it for offline use" in err
    assert f"unzip it into {tmp_path}/empty/data" in err
    assert "COMPASS_DATA_CACHE" in err and "Traceback" not in err
    assert not (tmp_path / ".internpipe/miss/stages/evaluate/work/outputs").exists()

    typo = write(tmp_path / "t.yaml", base + "    datasets: [gsm8k_gne]\n")
    result = cli("plan", str(typo))
    assert result.returncode == 2 and "did you mean gsm8k_gen" in result.stderr, result.stderr


def test_an_interrupted_evaluation_resumes_finished_tasks(tmp_path: Path) -> None:
    r = two_model_recipe(tmp_path, "resume")
    outputs = tmp_path / ".internpipe/resume/stages/evaluate/work/outputs"
    run = popen("run", str(r), "--json")
    deadline = time.monotonic() + 300
    while not list(outputs.glob("*/*/predictions/download/qa.json")):
        assert run.poll() is None and time.monotonic() < deadline, \
            run.stderr.read() if run.stderr else ""
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=60) == 130
    plan = json.loads(cli("plan", str(r), "--json").stdout)
    stage = plan["stages"][2]
    assert "resumes OpenCompass's finished tasks (-r)" in stage["reasons"], stage["reasons"]
    assert stage["commands"][0]["argv"][-2:] == ["-r", "latest"]
    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / ".internpipe/resume/stages/evaluate/log.txt").read_text()
    assert "Reusing experiements from" in log or "Reusing experiments from" in log, log[-2000:]


def test_standalone_models_and_endpoint(tmp_path: Path) -> None:
    write_qa(tmp_path / "qa.jsonl")
    write_mcq(tmp_path / "mcq.jsonl")
    result = cli("evaluate", str(TINY_MODEL), str(TINY_MODEL), "-d", "qa.jsonl",
                 "-d", "mcq.jsonl:mcq", "--limit", "2", "--device", "cpu", "--json",
                 cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = finished(result.stdout, "evaluate")["artifact"]["scores"]
    assert table["models"] == ["tiny-internlm2", "tiny-internlm2_2"]
    assert {row["dataset"] for row in table["rows"]} == {"qa", "mcq"}
    # The same weights twice: OpenCompass must score them alike (greedy decoding).
    assert all(row["deltas"]["tiny-internlm2_2"] == 0 for row in table["rows"]), table

    served = cli("deploy", str(TINY_MODEL), "--port", "auto", "--detach", "--json",
                 "--device", "cpu", cwd=tmp_path, timeout=600)
    assert served.returncode == 0, served.stderr[-3000:]
    art = next(e for e in events(served.stdout) if e["event"] == "serving")
    try:
        result = cli("evaluate", "--endpoint", art["base_url"] + "/chat/completions",
                     "--model-name", art["model"], "--tokenizer", str(TINY_MODEL),
                     "-d", "qa.jsonl", "--limit", "2", "--name", "ep", cwd=tmp_path,
                     timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "endpoint" in result.stdout and "rouge1" in result.stdout, result.stdout
    finally:
        services.stop(int(art["pid"]))


def test_a_terminal_shows_evaluation_progress_per_item(tmp_path: Path) -> None:
    """OpenCompass's own inference bar (batches of items; one item a batch here) reaches the
    live view as it advances, labelled with the model/dataset task."""
    from support.screen import record

    write_qa(tmp_path / "qa.jsonl")
    code, chunks = record("evaluate", str(TINY_MODEL), "-d", "qa.jsonl", "--limit", "3",
                          "--device", "cpu", "--set", "stages.evaluate.batch_size=1",
                          # items slow enough (0.1 s+) that tqdm, which redraws at most
                          # every 0.1 s, writes each of them
                          "--set", "stages.evaluate.max_out_len=128", cwd=tmp_path)
    screen = "".join(chunks)
    assert code == 0, screen[-3000:]
    assert "evaluate tiny-internlm2/qa" in screen, screen[-3000:]       # the task
    counts = [int(n) for n in re.findall(r"\b([0-3])/3 batch", screen)]
    assert 3 in counts and {1, 2} & set(counts), screen[-3000:]   # drawn as it advances
