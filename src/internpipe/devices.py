"""Which device a run targets: the `auto | cpu | cuda` a recipe or `--device` names, turned
into the flavour of tool environment to use (`cpu` or `cuda`) by looking for an NVIDIA driver.
Only reads /proc (or PATH); never loads CUDA, so `validate` and `plan` can call it freely."""

from __future__ import annotations

import shutil
from pathlib import Path

from internpipe.errors import UserError

FLAVOURS = ("cpu", "cuda")


def nvidia_driver() -> str | None:
    """The driver's version line, or None when no NVIDIA driver is loaded."""
    try:
        return Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "nvidia-smi found" if shutil.which("nvidia-smi") else None


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if nvidia_driver() else "cpu"
    if device not in FLAVOURS:
        raise UserError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device
