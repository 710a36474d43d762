"""workers/user_xtuner_cfg.py's patches, on a config as mmengine hands it over (dicts), without
the XTuner env: what changes, what is said, what is refused."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

WORKERS = Path(__file__).resolve().parents[2] / "src" / "internpipe" / "workers"


def worker() -> ModuleType:
    sys.path.insert(0, str(WORKERS))      # as when run by path: xtuner_cfg.py beside it
    try:
        import user_xtuner_cfg
    finally:
        sys.path.remove(str(WORKERS))
    return user_xtuner_cfg


def course_config() -> dict[str, Any]:
    """The shape of XTuner's internlm2_chat_1_8b_qlora_alpaca_e3, as loaded."""
    tok = {"type": "AutoTokenizer", "pretrained_model_name_or_path": "internlm/x"}
    dataset = {"type": "process_hf_dataset", "dataset": {"type": "load_dataset",
                                                         "path": "tatsu-lab/alpaca"},
               "tokenizer": dict(tok), "dataset_map_fn": "alpaca_map_fn", "max_length": 2048}
    return {"pretrained_model_name_or_path": "internlm/x", "max_epochs": 3, "lr": 2e-4,
            "tokenizer": dict(tok), "alpaca_en": dict(dataset),
            "model": {"type": "SupervisedFinetune", "lora": {"r": 64},
                      "llm": {"pretrained_model_name_or_path": "internlm/x",
                              "torch_dtype": "float16",
                              "quantization_config": {"load_in_4bit": True}}},
            "train_dataloader": {"batch_size": 1, "dataset": dict(dataset)},
            "optim_wrapper": {"type": "AmpOptimWrapper", "loss_scale": "dynamic",
                              "dtype": "float16", "optimizer": {"lr": 2e-4}},
            "param_scheduler": [{"type": "LinearLR", "begin": 0, "end": 0.09},
                                {"type": "CosineAnnealingLR", "begin": 0.09, "end": 3}],
            "train_cfg": {"max_epochs": 3},
            "custom_hooks": [{"type": "EvaluateChatHook", "tokenizer": dict(tok)}],
            "env_cfg": {"dist_cfg": {"backend": "nccl"}},
            "visualizer": {"type": "Visualizer",
                           "vis_backends": [{"type": "TensorboardVisBackend"}]}}


SPEC = {"model": "/m", "data": ["/d.jsonl"], "format": "openai", "map_num_proc": 1,
        "set": {"epochs": 1, "lr": 1e-3}}


def test_a_course_config_is_patched_for_the_recipe_and_the_cpu() -> None:
    w = worker()
    cfg = course_config()
    p = w.Patcher(cfg)
    w.patch_model_and_data(p, SPEC)
    w.patch_recipe_options(p, SPEC)
    w.patch_for_cpu(p)
    w.patch_tracker(p, "tensorboard")
    assert w.paths_of(cfg, "pretrained_model_name_or_path") and all(
        p.get(k) == "/m" for k in w.paths_of(cfg, "pretrained_model_name_or_path"))
    ds = cfg["train_dataloader"]["dataset"]
    assert ds["dataset"] == {"type": "datasets.load_dataset", "path": "json",
                             "data_files": ["/d.jsonl"]}
    assert ds["dataset_map_fn"] == "xtuner.dataset.map_fns.openai_map_fn"
    assert cfg["alpaca_en"] == ds                       # its alias follows
    assert cfg["train_cfg"]["max_epochs"] == cfg["max_epochs"] == 1
    assert [(s["begin"], s["end"]) for s in cfg["param_scheduler"]] == \
        [(0, pytest.approx(0.03)), (pytest.approx(0.03), 1)]
    assert cfg["optim_wrapper"] == {"type": "mmengine.optim.OptimWrapper",
                                    "optimizer": {"lr": 1e-3}}
    assert "quantization_config" not in cfg["model"]["llm"]
    assert cfg["model"]["llm"]["torch_dtype"] == "float32"
    assert cfg["env_cfg"]["dist_cfg"]["backend"] == "gloo"
    assert cfg["custom_hooks"][0]["max_new_tokens"] == 64
    # the stage's loss curve needs scalars.json: LocalVisBackend joins the config's own
    assert [b["type"] for b in cfg["visualizer"]["vis_backends"]] == \
        ["TensorboardVisBackend", "mmengine.visualization.LocalVisBackend"]
    said = "\n".join(p.changes)
    for words in ("model.llm.quantization_config: removed (4-bit bitsandbytes needs CUDA",
                  "train_cfg.max_epochs: 3 → 1 (the recipe's epochs)",
                  "optim_wrapper.optimizer.lr: 0.0002 → 0.001",
                  "train_dataloader.dataset.dataset: {'type': 'load_dataset', 'path': "
                  "'tatsu-lab/alpaca'} → {'type': 'datasets.load_dataset'"):
        assert words in said, said


def test_a_config_without_a_dataset_to_point_at_is_refused() -> None:
    w = worker()
    cfg = course_config()
    cfg["train_dataloader"]["dataset"] = {"type": "ConcatDataset", "datasets": []}
    with pytest.raises(w.ConfigRefused, match="has no `dataset` to point at"):
        w.patch_model_and_data(w.Patcher(cfg), SPEC)


def test_a_value_with_no_literal_is_refused() -> None:
    w = worker()
    with pytest.raises(w.ConfigRefused, match=r"model\.x: a object value cannot be kept"):
        w.to_literal({"x": object()}, "model")
