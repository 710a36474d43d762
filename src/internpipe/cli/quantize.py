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

BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def command(
    model: Annotated[str, typer.Argument(metavar="MODEL_DIR", help="A Hugging Face model "
                                         "folder (or a hub source).", show_default=False)],
    method: Annotated[Literal["awq", "smooth_quant"], typer.Option(
        "--method", help="AWQ (W4A16) or SmoothQuant (W8A8).")] = "awq",
    calib: Annotated[str | None, typer.Option(
        "--calib", "--calib-dataset", metavar="FILE|NAME", help="A local text/JSONL file, or "
        "a named set (wikitext2, c4, pileval, …; ptb from a local copy). Default: LMDeploy's "
        "wikitext2, from $INTERNPIPE_HOME/calib/wikitext2.txt where staged, else the hub.",
        show_default=False)] = None,
    samples: Annotated[int, typer.Option("--samples", "--calib-samples", help="Calibration "
                                         "samples; 0 = data-free AWQ.")] = 128,
    seqlen: Annotated[int, typer.Option("--seqlen", "--calib-seqlen",
                                        help="Tokens per calibration sample.")] = 2048,
    w_bits: Annotated[int, typer.Option("--w-bits", help="4 (awq) or 8 (smooth_quant).",
                                        show_default=False)] = 0,
    group_size: Annotated[int, typer.Option("--group-size", "--w-group-size",
                                            help="AWQ group size.")] = 128,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Calibration batch size.")
                          ] = 1,
    search_scale: Annotated[str, typer.Option("--search-scale", metavar="True|False",
                                              help="AWQ's scale search (slower), written "
                                              "as the LMDeploy lesson writes it.")] = "False",
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", metavar="DIR", help="Also put the quantized model here (hard links where "
        "the file system allows), as `lmdeploy lite` does.", show_default=False)] = None,
    name: Annotated[str, typer.Option("--name", help="Work dir name (.internpipe/NAME).")
                    ] = "quantize",
    set_: SetOpt = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Quantize a model with LMDeploy's `lite` tools and check how far it drifted: the same
    stages as a recipe's `download:` + `quantize:`, in .internpipe/NAME/ here. The flags of
    `lmdeploy lite auto_awq` work too. Without --calib it does what LMDeploy does: 128
    samples of wikitext2 (a staged local copy, else the hub; offline without a copy it stops
    in seconds and says what to do: --calib FILE, or --samples 0 for data-free).

    Examples:

      internpipe quantize ./merged --calib data/calib.jsonl

      internpipe quantize ./internlm2_5-1_8b-chat --calib-dataset ptb --calib-samples 128 \
          --calib-seqlen 2048 --w-bits 4 --w-group-size 128 --batch-size 1 --search-scale False \
          --work-dir ./internlm2_5-1_8b-chat-w4a16-4bit

      internpipe quantize ./merged --samples 0 --set stages.quantize.group_size=64
    """
    from internpipe.errors import UserError

    sigterm_as_interrupt()
    with guard(json_mode):
        if search_scale.lower() not in BOOLEANS:
            raise UserError(f"--search-scale {search_scale!r}: True or False")
        if work_dir is not None and work_dir.exists() and any(work_dir.iterdir()):
            raise UserError(f"--work-dir {work_dir}: not empty; name a new folder")
        cwd = Path.cwd()
        options: dict[str, object] = {"method": method, "samples": samples, "seqlen": seqlen,
                                      "group_size": group_size, "batch_size": batch_size,
                                      "search_scale": BOOLEANS[search_scale.lower()]}
        if w_bits:
            options["w_bits"] = w_bits
        if calib:
            local = Path(calib)
            options["calib"] = str(local if local.is_absolute() or not local.exists()
                                   else cwd / local)
        stages = {"download": {"source": model}, "quantize": options}
        r, code = run_from_arguments("quantize", name, stages, set_, device, json_mode)
        out = r.workdir / "stages" / "quantize" / "out"
        if code == 0 and work_dir is not None:
            _place(out, work_dir)
    if code == 0 and not json_mode:
        print(f"model: {work_dir or out}")
    raise typer.Exit(code)


def _place(out: Path, dest: Path) -> None:
    """The stage's output at `dest` too: hard links (the output's files are read-only and
    never change in place), copies across file systems; built beside `dest`, then renamed."""
    import os
    import shutil

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(out, tmp, copy_function=link)
    if dest.exists():
        dest.rmdir()                        # checked empty before the run
    os.replace(tmp, dest)
