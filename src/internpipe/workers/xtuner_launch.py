"""Run XTuner inside its environment: generate the config, train, convert, merge.
stdlib + xtuner only; never imports internpipe.

    python xtuner_launch.py config SPEC.json CONFIG.py
    python xtuner_launch.py train SPEC.json CONFIG.py WORK_DIR [--resume PTH | --fresh] [ARGS]
    python xtuner_launch.py train-config CONFIG.py WORK_DIR [--resume PTH | --fresh] [ARGS]
    python xtuner_launch.py export CONFIG.py WORK_DIR OUT_DIR (--full | --adapter DIR --base DIR)

`config` writes the config (xtuner_cfg.py: internpipe's own from the spec, or the user's
own patched; exit 2 when the user's cannot be used); `train` writes it, then trains;
`train-config` trains on a config written before; ARGS go to XTuner's train tool. `export`
runs pth_to_hf on the newest checkpoint, then merges the adapter into the base model (when
the config has LoRA: a config without one exports the whole model). Each is one process:
XTuner and torch are imported once per step, not once per tool.

Why a launcher: `xtuner train` runs a child and always exits 0, and calls `python` from PATH.
Here XTuner's own tool modules run in this process (their exit code is the real one), with
the fixes a CPU needs applied first (torch.cpu.is_bf16_supported → False: XTuner otherwise
picks bf16 on CPUs that claim it and fails). The config is Python of literals, every `type`
a dotted import path, so it can be re-run by hand with `xtuner train CONFIG.py --work-dir W`.
"""

import os
import runpy
import shutil
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # beside: xtuner_cfg.py

import xtuner_cfg  # type: ignore[import-not-found]


def cpu_fixes() -> None:
    import torch

    if not torch.cuda.is_available():
        torch.cpu.is_bf16_supported = lambda *a, **k: False


WARMUP = "mmengine.optim.LinearLR"
MIN_WARMUP_ITERS = 2


def drop_short_warmup() -> None:
    """A warm-up is a fraction of the epochs, turned into iterations by mmengine only once
    the data is packed: int(end × iterations per epoch). Under 2 iterations LinearLR refuses
    (0: "end should be larger than begin") or leaves the LR at lr × 1e-5 for the whole run
    (1). Such a warm-up is dropped where the count is known, and the log says so."""
    from mmengine.runner import Runner

    build = Runner.build_param_scheduler

    def build_without_short_warmup(self: Any, scheduler: Any) -> Any:
        if isinstance(scheduler, list) and len(scheduler) > 1 and \
                isinstance(scheduler[0], dict) and scheduler[0].get("type") == WARMUP:
            per_epoch = len(self.train_dataloader)
            iters = int(scheduler[0]["end"] * per_epoch)
            if iters < MIN_WARMUP_ITERS:
                print(f"internpipe: warm-up dropped: {scheduler[0]['end']:g} epochs of "
                      f"{per_epoch} iterations is {iters} iteration(s), under "
                      f"{MIN_WARMUP_ITERS}", flush=True)
                scheduler = [{**s, "begin": 0} for s in scheduler[1:]]
        return build(self, scheduler)

    Runner.build_param_scheduler = build_without_short_warmup


def run_module(module: str, argv: list[str]) -> int:
    """Run an XTuner tool as `python -m module argv…` in this process; return its code."""
    cpu_fixes()
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


# ------------------------------------------------------------------------------- steps


def newest_checkpoint(work_dir: str) -> str | None:
    marker = os.path.join(work_dir, "last_checkpoint")
    if not os.path.exists(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if path and os.path.exists(path) else None


def cmd_train(config: str, work_dir: str, rest: list[str]) -> int:
    # Under srun (`--launcher slurm`) every task comes here: only the first cleans up.
    first = "LOCAL_RANK" not in os.environ and os.environ.get("SLURM_PROCID", "0") == "0"
    if "--fresh" in rest:
        if first:
            shutil.rmtree(work_dir, ignore_errors=True)
        rest = [a for a in rest if a != "--fresh"]
    os.makedirs(work_dir, exist_ok=True)
    nproc = int(os.environ.get("NPROC_PER_NODE", "1"))
    distributed = "--launcher" in rest or "LOCAL_RANK" in os.environ
    if (nproc > 1 or int(os.environ.get("NNODES", "1")) > 1) and not distributed:
        # XTuner's own multi-GPU variables, turned into torchrun the way `xtuner train` does;
        # each worker process comes back here with LOCAL_RANK set.
        import subprocess

        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               f"--nnodes={os.environ.get('NNODES', '1')}",
               f"--node_rank={os.environ.get('NODE_RANK', '0')}",
               f"--master_addr={os.environ.get('ADDR', '127.0.0.1')}",
               f"--master_port={os.environ.get('PORT', '29500')}",
               os.path.abspath(__file__), "train-config", config, work_dir, *rest,
               "--launcher", "pytorch"]
        print("[xtuner_launch] " + " ".join(cmd), flush=True)
        return subprocess.call(cmd)
    if "--resume" in rest:
        # torch >= 2.6 loads checkpoints weights-only by default; mmengine's hold more.
        os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
        print(f"[xtuner_launch] resuming from {rest[rest.index('--resume') + 1]}", flush=True)
    drop_short_warmup()
    code = run_module("xtuner.tools.train", [config, "--work-dir", work_dir, *rest])
    if code == 0 and newest_checkpoint(work_dir) is None:
        print("internpipe-error: XTuner finished without writing a checkpoint", flush=True)
        return 3
    return code


def cmd_export(config: str, work_dir: str, out_dir: str, adapter: str | None,
               base: str | None) -> int:
    pth = newest_checkpoint(work_dir)
    if pth is None:
        print(f"internpipe-error: no checkpoint in {work_dir} to convert", flush=True)
        return 3
    if adapter is not None and not has_lora(config):
        adapter = None                    # a user's own config of a full fine-tune
    if adapter is None or base is None:   # full fine-tune: pth_to_hf writes the whole model
        return run_module("xtuner.tools.model_converters.pth_to_hf",
                          [config, pth, out_dir, "--safe-serialization", "--fp32"])
    code = run_module("xtuner.tools.model_converters.pth_to_hf",
                      [config, pth, adapter, "--safe-serialization"])
    if code != 0:
        return code
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return run_module("xtuner.tools.model_converters.merge",
                      [base, adapter, out_dir, "--device", device, "--safe-serialization"])


def has_lora(config: str) -> bool:
    from mmengine.config import Config

    return Config.fromfile(config).model.get("lora") is not None


def option(rest: list[str], flag: str) -> str | None:
    return rest[rest.index(flag) + 1] if flag in rest else None


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    command, rest = args[0], args[1:]
    if command == "config":
        return int(xtuner_cfg.cmd_config(rest[0], rest[1]))
    if command == "train":
        code = int(xtuner_cfg.cmd_config(rest[0], rest[1]))
        return code if code != 0 else cmd_train(rest[1], rest[2], rest[3:])
    if command == "train-config":
        return cmd_train(rest[0], rest[1], rest[2:])
    if command == "export":
        return cmd_export(rest[0], rest[1], rest[2], option(rest, "--adapter"),
                          option(rest, "--base"))
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
