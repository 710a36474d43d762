"""The finetune stage through internpipe vs the same generated XTuner config run by hand,
wall time, medians of alternating runs in the same invocation. Target: ratio ≤ 1.05.

By hand means XTuner's own tool modules (train, pth_to_hf, merge) run in the same env on
the config internpipe generated, with the one-line CPU fix a user must apply by hand here
(torch 2.13 has no torch.cpu.is_bf16_supported, which XTuner calls).

    python bench/finetune_overhead.py [ROUNDS]      (default 3; needs the xtuner env)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _util import internpipe  # noqa: E402
from internpipe import envs  # noqa: E402

PATCH = "import torch; torch.cpu.is_bf16_supported = lambda *a, **k: False; "


def by_hand(python: str, config: Path, base: Path, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    env = envs.step_environ(envs.env_for("xtuner", "cpu"), offline=True)

    def tool(module: str, *args: str) -> None:
        code = (PATCH + "import runpy, sys; sys.argv = [sys.argv[1], *sys.argv[2:]]; "
                "runpy.run_module(sys.argv[0], run_name='__main__')")
        subprocess.run([python, "-c", code, module, *args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    tool("xtuner.tools.train", str(config), "--work-dir", str(work / "train"))
    pth = (work / "train" / "last_checkpoint").read_text().strip()
    tool("xtuner.tools.model_converters.pth_to_hf", str(config), pth, str(work / "adapter"),
         "--safe-serialization")
    tool("xtuner.tools.model_converters.merge", str(base), str(work / "adapter"),
         str(work / "merged"), "--device", "cpu", "--safe-serialization")
    assert (work / "merged" / "model.safetensors").exists()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    env = envs.ensure("xtuner", "cpu", progress=envs.print_progress)
    tmp = Path(tempfile.mkdtemp(prefix="internpipe-ftbench-"))
    try:
        rng = random.Random(0)
        with open(tmp / "data.jsonl", "w") as f:
            for _ in range(60):
                q = rng.choice(["Who are you?", "What is your name?", "你是谁？"])
                f.write(json.dumps({"messages": [
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": "I am Bajie, made by internpipe."}]},
                    ensure_ascii=False) + "\n")
        recipe = tmp / "r.yaml"
        recipe.write_text(f"""version: 1
name: bench
device: cpu
stages:
  download:
    source: {ROOT / 'recipes/models/tiny-internlm2'}
  finetune:
    data: data.jsonl
    epochs: 3
    lr: 2.0e-3
    warmup_ratio: 0
    max_length: 256
    lora: {{r: 8, alpha: 16, dropout: 0.0}}
""")
        cmd = [*internpipe(), "run", str(recipe), "--device", "cpu"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)   # download + a warm-up
        work = tmp / ".internpipe/bench/stages/finetune/work"
        config = tmp / "config.json"
        shutil.copy(work / "config.json", config)
        base = tmp / ".internpipe/bench/stages/download/out"
        ours, hand = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            subprocess.run([*cmd, "--only", "finetune", "--force"], check=True,
                           stdout=subprocess.DEVNULL, env=dict(os.environ))
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            by_hand(str(env.python), config, base, tmp / "hand")
            hand.append(time.perf_counter() - t0)
        a, b = statistics.median(ours), statistics.median(hand)
        print(f"finetune (LoRA, 3 epochs, tiny model), {rounds} alternating rounds")
        print(f"XTuner by hand (train, pth_to_hf, merge)  {b:6.1f} s   1.00x")
        print(f"internpipe run --only finetune          {a:6.1f} s   {a / b:5.3f}x "
              f"(target ≤ 1.05: {'ok' if a / b <= 1.05 else 'MISSED'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
