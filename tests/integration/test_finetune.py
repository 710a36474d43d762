"""The finetune stage with the real XTuner on the tiny model, on CPU."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import cli, popen
from internpipe import envs
from support.sft import recipe

pytestmark = pytest.mark.integration

GENERATE = """
import sys
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
ids = tok.apply_chat_template([{"role": "user", "content": "Who are you?"}],
                              add_generation_prompt=True, return_tensors="pt")
out = model.generate(ids, max_new_tokens=12, do_sample=False)
print("ANSWER:" + tok.decode(out[0][ids.shape[1]:], skip_special_tokens=True))
if len(sys.argv) > 2:     # the kept XTuner config, as XTuner's own tools load it
    import json
    from mmengine.config import Config
    cfg = Config.fromfile(sys.argv[2])
    print("CONFIG:" + json.dumps({"model": cfg.model.llm.pretrained_model_name_or_path,
                                  "data": list(cfg.train_dataloader.dataset.dataset.data_files),
                                  "type": cfg.model.type}))
"""


def generate(model_dir: Path, *config: Path) -> str:
    env = envs.ensure("xtuner", "cpu")           # transformers 4.48, as XTuner itself
    result = subprocess.run([str(env.python), "-c", GENERATE, str(model_dir), *map(str, config)],
                            capture_output=True, text=True, env=envs.step_environ(env),
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split("ANSWER:", 1)[1]


def state(r: Path, name: str = "ft") -> dict:
    return json.loads((r.parent / ".internpipe" / name / "state.json").read_text())


@pytest.mark.parametrize("method", ["lora", "full"])
def test_finetune_produces_a_model_that_generates(tmp_path: Path, method: str) -> None:
    tracker = "    report_to: tensorboard\n" if method == "lora" else ""
    r = recipe(tmp_path, f"    method: {method}\n    sample_prompts: ['Who are you?']\n{tracker}")
    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    artifact = state(r)["stages"]["finetune"]["artifact"]
    assert artifact["loss_last"] < artifact["loss_first"] - 0.5, artifact
    out = Path(artifact["path"])
    for name in ("config.json", "model.safetensors", "tokenizer.json", "loss.jsonl",
                 "xtuner_config.py", "manifest.json", "provenance.json"):
        assert (out / name).exists(), name
    assert list((out / "samples").glob("eval_outputs_iter_*.txt"))
    # The report's interface: lr and grad norm beside the loss; the sample generations.
    curve = [json.loads(x) for x in (out / "loss.jsonl").read_text().splitlines()]
    assert all({"iter", "loss", "lr", "grad_norm"} <= set(row) for row in curve), curve[0]
    samples = [json.loads(x) for x in (out / "generations.jsonl").read_text().splitlines()]
    assert samples and {s["prompt"] for s in samples} == {"Who are you?"}, samples
    assert all(isinstance(s["iter"], int) and s["output"] and "<|im_start|>" not in s["output"]
               for s in samples), samples
    assert (out / "adapter" / "adapter_config.json").exists() == (method == "lora")
    # report_to: TensorBoard's event files, the run folder kept with the model
    assert bool(list(out.glob("tracker/*/events.out.tfevents.*"))) == bool(tracker)
    events = [json.loads(x) for x in result.stdout.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and progress[-1]["current"] == progress[-1]["total"]
    answer = generate(out, out / "xtuner_config.py")
    assert "Bajie" in answer or "Baj" in answer or "assistant" in answer, answer
    # The kept config can be re-run by hand: a Python config mmengine (`xtuner train`)
    # loads, naming the model and data this run trained on.
    config = json.loads(answer.split("CONFIG:", 1)[1])
    assert config == {"model": str(tmp_path / ".internpipe/ft/stages/download/out"),
                      "data": [str(tmp_path / "data.jsonl")],
                      "type": "xtuner.model.SupervisedFinetune"}, config
    assert artifact["xtuner_config"] == "xtuner_config.py"


def test_sigkill_mid_training_resumes_from_the_checkpoint(tmp_path: Path) -> None:
    r = recipe(tmp_path, epochs=12, save_every=20)
    train = tmp_path / ".internpipe/ft/stages/finetune/work/train"
    run = popen("run", str(r), "--json")
    deadline = time.monotonic() + 300
    while not list(train.glob("iter_*.pth")):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read() if \
            run.stderr else ""
        time.sleep(0.2)
    time.sleep(1)
    run.kill()
    run.wait()
    done_before = max(int(p.stem.split("_")[1]) for p in train.glob("iter_*.pth"))
    plan = json.loads(cli("plan", str(r), "--json").stdout)
    reasons = plan["stages"][1]["reasons"]
    assert any(x.startswith("resumes from iter_") for x in reasons), reasons
    assert "--resume" in plan["stages"][1]["commands"][0]["argv"]

    result = cli("run", str(r), "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / ".internpipe/ft/stages/finetune/log.txt").read_text()
    assert "resuming from" in log
    curve = [json.loads(x) for x in
             Path(state(r)["stages"]["finetune"]["artifact"]["path"], "loss.jsonl")
             .read_text().splitlines()]
    iters = [row["iter"] for row in curve]
    restart = next(b for a, b in itertools.pairwise(iters) if b <= a)
    assert restart > done_before, (restart, done_before)   # continued, not started over
    print(f"killed after checkpoint iter_{done_before}; the re-run started at step {restart}")


def test_standalone_finetune(tmp_path: Path) -> None:
    from conftest import TINY_MODEL
    from support.sft import write_data

    write_data(tmp_path / "d.jsonl", "alpaca")
    result = cli("finetune", str(TINY_MODEL), "--data", "d.jsonl", "--format", "alpaca",
                 "--set", "stages.finetune.warmup_ratio=0", "--set",
                 "stages.finetune.max_length=256", "--device", "cpu", cwd=tmp_path,
                 timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / ".internpipe/finetune/stages/finetune/out"
    assert (out / "model.safetensors").exists() and (out / "adapter").is_dir()


def test_a_warmup_under_two_iterations_is_dropped(tmp_path: Path) -> None:
    # 100 samples: the plan cannot rule a warm-up out (0.03 × 100 ≥ 2), but packed into
    # 256 tokens they make a handful of iterations, and 0.03 of those rounds to 0.
    r = recipe(tmp_path, epochs=1, warmup=0.03, n=100)
    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / ".internpipe/ft/stages/finetune/log.txt").read_text()
    assert "internpipe: warm-up dropped: 0.03 epochs of" in log, log[-3000:]
    curve = [json.loads(x) for x in
             Path(state(r)["stages"]["finetune"]["artifact"]["path"], "loss.jsonl")
             .read_text().splitlines()]
    assert curve[0]["lr"] == pytest.approx(2.0e-3, rel=0.05), curve[0]  # not lr × 1e-5


def test_force_trains_again_from_scratch(tmp_path: Path) -> None:
    r = recipe(tmp_path, epochs=1)
    assert cli("run", str(r), timeout=600).returncode == 0
    train = tmp_path / ".internpipe/ft/stages/finetune/work/train"
    first = (train / "last_checkpoint").read_text()
    plan = json.loads(cli("plan", str(r), "--only", "finetune", "--force", "--json").stdout)
    assert "--fresh" in plan["stages"][1]["commands"][0]["argv"]
    result = cli("run", str(r), "--only", "finetune", "--force", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / ".internpipe/ft/stages/finetune/log.txt").read_text()
    assert "resuming from" not in log
    iters = [int(m) for m in re.findall(r"Iter\(train\) \[\s*(\d+)/", log)]
    assert iters and iters[0] == 1 and iters == sorted(iters), iters   # every iteration again
    curve = [json.loads(x) for x in
             Path(state(r)["stages"]["finetune"]["artifact"]["path"], "loss.jsonl")
             .read_text().splitlines()]
    assert [row["iter"] for row in curve] == list(range(1, len(curve) + 1))
    assert (train / "last_checkpoint").read_text() == first      # the same final iteration
