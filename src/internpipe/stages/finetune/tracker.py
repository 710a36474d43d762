"""report_to: the experiment tracker of a fine-tune, an mmengine visualizer backend
(workers/xtuner_cfg.py adds it to the config). Trackers run offline: their run folders are
kept with the output, and nothing is sent anywhere."""

from __future__ import annotations

import shutil
from pathlib import Path

from internpipe.errors import StageFailed

OFFLINE = {"wandb": {"WANDB_MODE": "offline"}, "swanlab": {"SWANLAB_MODE": "local"}}


def keep(stage: str, train: Path, out: Path,
         report_to: str | None) -> dict[str, str] | None:
    """The tracker's run folders (mmengine's vis_data of each run: TensorBoard's event files,
    an offline W&B / SwanLab run) → the output's tracker/<timestamp>/."""
    if not report_to:
        return None
    runs = sorted(p for p in train.glob("*/vis_data") if p.is_dir())
    if not runs:
        raise StageFailed(stage, f"report_to {report_to}: no run folder under {train}")
    for run in runs:
        shutil.copytree(run, out / "tracker" / run.parent.name)
    return {"kind": report_to, "dir": "tracker"}
