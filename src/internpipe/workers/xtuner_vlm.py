"""Fine-tune a vision-language model with XTuner 0.2.0's InternVL path, as the course's camp4
does for InternVL2-2B on FoodieQA (run inside the xtuner env by the finetune stage):

    python xtuner_vlm.py config SPEC.json CONFIG.py        # the XTuner config only
    python xtuner_vlm.py train SPEC.json CONFIG.py WORK_DIR [--fresh | --resume PTH]
    python xtuner_vlm.py export CONFIG.py WORK_DIR OUT_DIR

The config is XTuner's internvl_v2_internlm2_2b_lora_finetune.py as data (every `type` a
dotted import path): InternVL_V1_5 with the LLM and the vision encoder frozen and LoRA on
the LLM, InternVL_V1_5_Dataset over LLaVA-style JSON. Training runs through xtuner_launch's
`train` (the real exit code, multi-GPU); export is XTuner's convert_to_official.py, which
merges the LoRA and writes an InternVL-Chat folder LMDeploy serves. Both need CUDA and the
model's own code (trust_remote_code: InternVLChatModel) in its folder.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from internpipe.workers import xtuner_cfg, xtuner_launch
else:  # run by path: the launcher of text fine-tunes and its config writer are beside it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import xtuner_cfg
    import xtuner_launch


def make_config(spec: dict[str, Any]) -> dict[str, Any]:
    from xtuner.utils import PROMPT_TEMPLATE

    lora = spec["lora"]
    path = spec["model"]
    model: dict[str, Any] = {"type": "xtuner.model.InternVL_V1_5", "model_path": path,
                             "freeze_llm": True, "freeze_visual_encoder": True}
    if spec["method"] != "full":
        model["llm_lora"] = {"type": "peft.LoraConfig", "r": lora["r"],
                             "lora_alpha": lora["alpha"], "lora_dropout": lora["dropout"],
                             "target_modules": lora.get("targets"), "task_type": "CAUSAL_LM"}
    else:
        model["freeze_llm"] = False
    if spec["method"] == "qlora":
        model["quantization_llm"] = True
    dataset = {"type": "xtuner.dataset.InternVL_V1_5_Dataset", "model_path": path,
               "data_paths": spec["data"], "image_folders": spec["image_folders"],
               "template": dict(PROMPT_TEMPLATE[spec["template"]]),
               "max_length": spec["max_length"]}
    epochs, warmup = spec["epochs"], spec["warmup_ratio"]
    tokenizer = {"type": "transformers.AutoTokenizer.from_pretrained",
                 "pretrained_model_name_or_path": path, "trust_remote_code": True}
    return {
        "model": model,
        "train_dataloader": {
            "batch_size": spec["batch_size"], "num_workers": 4, "dataset": dataset,
            "sampler": {"type": "xtuner.dataset.samplers.LengthGroupedSampler",
                        "length_property": "modality_length",
                        "per_device_batch_size": spec["batch_size"] * spec["grad_accum"]},
            "collate_fn": {"type": "xtuner.dataset.collate_fns.default_collate_fn"}},
        "optim_wrapper": {
            "type": "mmengine.optim.AmpOptimWrapper", "dtype": "float16",
            "loss_scale": "dynamic", "accumulative_counts": spec["grad_accum"],
            "optimizer": {"type": "torch.optim.AdamW", "lr": spec["lr"],
                          "betas": [0.9, 0.999], "weight_decay": 0.05},
            "clip_grad": {"max_norm": 1, "error_if_nonfinite": False}},
        "param_scheduler": [
            {"type": "mmengine.optim.LinearLR", "start_factor": 1e-5, "by_epoch": True,
             "begin": 0, "end": warmup * epochs, "convert_to_iter_based": True},
            {"type": "mmengine.optim.CosineAnnealingLR", "eta_min": 0.0, "by_epoch": True,
             "begin": warmup * epochs, "end": epochs, "convert_to_iter_based": True}],
        "train_cfg": {"type": "xtuner.engine.runner.TrainLoop", "max_epochs": epochs},
        "custom_hooks": [{"type": "xtuner.engine.hooks.DatasetInfoHook",
                          "tokenizer": tokenizer}],
        **xtuner_cfg.runtime(spec, "nccl", None, save_optimizer=False),
    }


def cmd_config(spec_path: str, out_path: str) -> int:
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    header = [f"XTuner InternVL config of internpipe's finetune stage ({spec['method']}, "
              f"model {spec['model']}); every value a literal, every `type` an import path.",
              "Repeat the run by hand in the XTuner env on a GPU machine:",
              "    xtuner train xtuner_config.py --work-dir WORK_DIR", ""]
    xtuner_cfg.write_atomic(out_path, xtuner_cfg.python_config(make_config(spec), header))
    print(f"wrote {out_path} (InternVL {spec['method']}, template {spec['template']})")
    return 0


def cmd_export(config: str, work_dir: str, out_dir: str) -> int:
    import xtuner

    pth = xtuner_launch.newest_checkpoint(work_dir)
    if pth is None:
        print(f"internpipe-error: no checkpoint in {work_dir} to convert", flush=True)
        return 3
    script = os.path.join(os.path.dirname(xtuner.__file__), "configs", "internvl", "v1_5",
                          "convert_to_official.py")
    sys.argv = [script, config, pth, out_dir]
    import runpy

    runpy.run_path(script, run_name="__main__")
    return 0


def main() -> int:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "config":
        return cmd_config(rest[0], rest[1])
    if command == "train":
        cmd_config(rest[0], rest[1])
        return xtuner_launch.cmd_train(rest[1], rest[2], rest[3:])
    if command == "export":
        return cmd_export(rest[0], rest[1], rest[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
