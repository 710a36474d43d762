from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from internpipe.cli.shared import (
    DeviceOpt,
    JsonOpt,
    SetOpt,
    guard,
    run_from_arguments,
    sigterm_as_interrupt,
)


def command(
    model: Annotated[str, typer.Argument(metavar="MODEL_DIR", help="A Hugging Face model "
                                         "folder (or a hub source).", show_default=False)],
    method: Annotated[Literal["awq", "smooth_quant"], typer.Option(
        "--method", help="AWQ (W4A16) or SmoothQuant (W8A8).")] = "awq",
    calib: Annotated[str | None, typer.Option("--calib", metavar="FILE|NAME", help="A local "
                                              "text/JSONL file, or a named set (needs the "
                                              "network).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Calibration samples; 0 = "
                                                "data-free. Default: 0 without --calib, "
                                                "else 128.", show_default=False)] = None,
    name: Annotated[str, typer.Option("--name", help="Work dir name (.internpipe/NAME).")
                    ] = "quantize",
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Quantize a model with LMDeploy's `lite` tools and check how far it drifted: the same
    stages as a recipe's `download:` + `quantize:`, in .internpipe/NAME/ here.

    Examples:

      internpipe quantize ./merged --method awq --calib data/calib.jsonl

      internpipe quantize ./merged --samples 0 --set stages.quantize.group_size=64
    """
    sigterm_as_interrupt()
    with guard(json_mode):
        cwd = Path.cwd()
        options: dict[str, object] = {"method": method,
                                      "samples": samples if samples is not None else
                                      (128 if calib else 0)}
        if calib:
            local = Path(calib)
            options["calib"] = str(local if local.is_absolute() or not local.exists()
                                   else cwd / local)
        stages = {"download": {"source": model}, "quantize": options}
        r, code = run_from_arguments("quantize", name, stages, set_, device, json_mode)
    if code == 0 and not json_mode:
        print(f"model: {r.workdir / 'stages' / 'quantize' / 'out'}")
    raise typer.Exit(code)
