"""quantize: LMDeploy's own `lite` tools (AWQ W4A16, SmoothQuant W8A8) and a drift check.

Steps, all in the LMDeploy env (its CPU flavour where there is no CUDA):
  calib    a local calibration file staged where LMDeploy reads it offline (optional)
  quantize `lmdeploy lite auto_awq|smooth_quant MODEL --work-dir OUT --device D …`
  drift    workers/quant_checks.py: per-layer weight error of the dequantized weights and
           logits agreement on a few prompts, source vs quantized (weights simulated)
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from internpipe.artifacts import ModelArtifact
from internpipe.errors import StageFailed
from internpipe.stages import StageContext, Step, base
from internpipe.stages.base import WORKERS, resolve
from internpipe.stages.quantize.checks import group_size_problem
from internpipe.stages.quantize.options import (
    DEFAULT_CALIB,
    INPUTS,
    KIND,
    NAMED_CALIB,
    PRODUCES,
    Drift,
    Options,
    calib_dir,
    check,
    is_named,
    local_copy,
)

__all__ = ["INPUTS", "KIND", "PRODUCES", "Drift", "Options", "check"]

VERSION = base.VERSION
NOT_FINGERPRINTED = base.NOT_FINGERPRINTED
SERVICE = base.SERVICE
SLURM_NATIVE = base.SLURM_NATIVE
serve = base.serve


def parse_line(line: str) -> dict[str, Any] | None:
    """LMDeploy's lite tools log each decoder layer as they calibrate, smooth and pack it:
    the layer they are at (the total is not in their log)."""
    match = LAYER.match(line)
    if not match:
        return None
    phase = "pack" if "packed" in line else "smooth" if "smooth" in line else "calibrate"
    return {"current": int(match.group(1)) + 1, "total": None, "unit": "layer",
            "phase": phase}


LAYER = re.compile(r"^model\.layers\.(\d+)(?:,| smooth|\.\S+ weight packed)")
keeps_serving = base.never_keeps_serving

# Stages calibration data and checks drift; run in the LMDeploy env.
CHECKS = WORKERS / "quant_checks.py"


def tool(options: Options, device: str) -> str | None:
    return "lmdeploy"


def _local_calib(options: Options, recipe_dir: Path) -> Path | None:
    """The calibration file staged for LMDeploy: the recipe's own, or a local copy of the
    named set (None: LMDeploy fetches the named set from the hub, or data-free)."""
    if not is_named(options.calib):
        return resolve(recipe_dir, str(options.calib))
    return local_copy(_set_name(options)) if options.samples > 0 else None


def _set_name(options: Options) -> str:
    return options.calib or DEFAULT_CALIB


def local_files(options: Options, recipe_dir: Path) -> list[Path]:
    calib = _local_calib(options, recipe_dir)
    return [calib] if calib else []


def _check_model(ctx: StageContext) -> None:
    """AWQ's group size against the input model as it is now (the recipe's checks saw it
    only when it came from a local folder)."""
    opts = ctx.options_as(Options)
    if opts.method == "awq":
        why = group_size_problem(opts.group_size, ctx.input("model").path / "config.json")
        if why:
            raise ctx.refuse(why, "group_size")


def _torch_dtype(model: Path) -> str | None:
    """The model's dtype as its config.json says (None before the model exists)."""
    try:
        config = json.loads((model / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = config.get("torch_dtype") or config.get("dtype") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def plan(ctx: StageContext) -> list[Step]:
    opts = ctx.options_as(Options)
    _check_model(ctx)
    device = ctx.device if opts.device == "auto" else opts.device
    py = str(ctx.python)
    lmdeploy = str(Path(py).parent / "lmdeploy")
    model = str(ctx.input("model").path)
    steps = []
    local = _local_calib(opts, ctx.recipe_dir)
    staging = ctx.work / "calib"
    argv = [lmdeploy, "lite", "auto_awq" if opts.method == "awq" else "smooth_quant", model,
            "--work-dir", str(ctx.out), "--device", device]
    if opts.method == "awq":
        argv += ["--w-bits", str(opts.w_bits), "--w-group-size", str(opts.group_size)]
    if device == "cpu" and _torch_dtype(ctx.input("model").path) == "bfloat16":
        # LMDeploy asks CUDA whether bf16 works and refuses a bf16 model on any other
        # device ("please set --dtype float16"): the CPU calibrates in float16 instead.
        argv += ["--dtype", "float16"]
    if opts.search_scale:
        argv.append("--search-scale")
    if opts.samples == 0:
        argv += ["--calib-samples", "0"]
    else:
        # A staged file is read by LMDeploy's wikitext2 reader (random windows of the text).
        name = _set_name(opts) if local is None else DEFAULT_CALIB
        argv += ["--calib-dataset", name,
                 "--calib-samples", str(opts.samples), "--calib-seqlen", str(opts.seqlen),
                 "--batch-size", str(opts.batch_size)]
    argv += opts.extra_args
    if local is not None:
        steps.append(Step("calib", [py, str(CHECKS), "stage-calib", str(local),
                                    str(staging)], tool="lmdeploy", offline=True))
    # Offline unless a named set must come from the hub: then first whether it answers.
    needs_hub = opts.samples > 0 and local is None
    if needs_hub:
        name = _set_name(opts)
        steps.append(Step("calib-hub", [py, str(CHECKS), "probe-hub", name, NAMED_CALIB[name],
                                        str(calib_dir() / f"{name}.txt")], tool="lmdeploy"))
    steps.append(Step("quantize", argv, tool="lmdeploy", offline=not needs_hub,
                      cwd=staging if local is not None else None))
    drift = [py, str(CHECKS), "drift", model, str(ctx.out), str(ctx.out / "drift.json")]
    for prompt in opts.drift.prompts:
        drift += ["--prompt", prompt]
    steps.append(Step("drift", drift, tool="lmdeploy", offline=True))
    return steps


def notes(ctx: StageContext) -> list[str]:
    opts = ctx.options_as(Options)
    if opts.samples == 0:
        return ["data-free"]
    local = _local_calib(opts, ctx.recipe_dir)
    name = _set_name(opts)
    reader = f"read by LMDeploy's wikitext2 reader ({opts.samples} random windows of " \
             f"{opts.seqlen} tokens of the joined text)"
    if local is None:
        return [f"calibration set {name} ({opts.samples} samples) from the hub "
                f"({NAMED_CALIB[name]}; needs the network; offline: put its text at "
                f"{calib_dir() / (name + '.txt')})"]
    if is_named(opts.calib):
        return [f"calibration set {name}: the local copy {local}, staged offline, {reader}"]
    return [f"calibration from {opts.calib}, staged offline, {reader}"]


def drift_violations(report: dict[str, Any], thresholds: Drift) -> list[str]:
    """What in a drift report breaks the recipe's thresholds (non-finite weights always do)."""
    found = []
    if report.get("non_finite_layers"):
        found.append("non-finite dequantized weights in " +
                     ", ".join(report["non_finite_layers"][:5]))
    mean = report.get("weight_error_mean")
    if thresholds.max_weight_error is not None and (mean is None or
                                                    mean > thresholds.max_weight_error):
        found.append(f"mean weight error {mean} > max_weight_error "
                     f"{thresholds.max_weight_error}")
    top1 = report.get("top1_agreement")
    if thresholds.min_top1_agreement is not None and (top1 is None or
                                                      top1 < thresholds.min_top1_agreement):
        found.append(f"top-1 agreement {top1} < min_top1_agreement "
                     f"{thresholds.min_top1_agreement}")
    return found


def collect(ctx: StageContext) -> ModelArtifact:
    opts = ctx.options_as(Options)
    out = ctx.out
    try:
        config = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        raise StageFailed(ctx.name, "LMDeploy wrote no readable config.json") from None
    qc = config.get("quantization_config") or {}
    if opts.method == "awq":
        expected = {"quant_method": "awq", "bits": opts.w_bits, "group_size": opts.group_size}
    else:
        expected = {"quant_method": "smooth_quant"}
    wrong = {k: qc.get(k) for k, v in expected.items() if qc.get(k) != v}
    if wrong:
        raise StageFailed(ctx.name, f"quantization_config is {qc}, expected {expected}")
    try:
        report = json.loads((out / "drift.json").read_text())
    except (OSError, ValueError):
        raise StageFailed(ctx.name, "the drift check wrote no report") from None
    violations = drift_violations(report, opts.drift)
    if violations:
        raise StageFailed(ctx.name, "the quantized model drifted too far: " +
                          "; ".join(violations))
    local = _local_calib(opts, ctx.recipe_dir)
    calib: dict[str, Any] = {"samples": opts.samples}
    if opts.samples == 0:
        calib["set"] = "data-free"
    elif local is not None:
        calib.update(set=_set_name(opts) if is_named(opts.calib) else str(opts.calib),
                     file=str(local), sha256=hashlib.sha256(local.read_bytes()).hexdigest())
    else:
        calib["set"] = _set_name(opts)
    upstream = ctx.input("model").model()
    source = upstream.get("source", ctx.input("model").stage)
    artifact: ModelArtifact = {
        "source": f"{opts.method} of {source}",
        "chat_template": upstream.get("chat_template"), "method": opts.method,
        "bits": qc.get("bits", 8), "group_size": qc.get("group_size"),
        "quantization_config": qc, "calibration": calib,
        "drift": {k: report.get(k) for k in ("weight_error_mean", "weight_error_max",
                                             "top1_agreement", "logits_relative_error")}}
    if "template" in upstream:      # the trained template its folder renders (finetune)
        artifact["template"] = upstream["template"]
    return artifact
