"""Progress from tools: \\r redraws reach the parser as they happen, OpenCompass's batch bar
and LMDeploy's layers are read, and the live view lays out at a terminal's width."""

from __future__ import annotations

import io
import os
import re
import threading

from rich.console import Console

from internpipe import proc
from internpipe.live import LiveReporter
from internpipe.stages import base
from internpipe.stages.evaluate import stage as evaluate
from internpipe.stages.quantize import stage as quantize


def test_redraws_arrive_before_the_line_ends() -> None:
    read, write = os.pipe()
    got: list[tuple[bytes, bool]] = []
    first_redraw = threading.Event()

    def reader() -> None:
        for item in proc.read_lines(read):
            got.append(item)
            if item[1]:
                first_redraw.set()

    thread = threading.Thread(target=reader)
    thread.start()
    os.write(write, b"start\n 10%|#  | 1/10\r 50%|#####  | 5/10\r")
    assert first_redraw.wait(5), "a redraw waited for the end of its line"
    os.write(write, b"100%|##########| 10/10\nend\n")
    os.close(write)
    thread.join(5)
    assert got == [(b"start\n", False), (b" 10%|#  | 1/10", True), (b" 50%|#####  | 5/10", True),
                   (b"\r100%|##########| 10/10\n", False), (b"end\n", False)]


def test_worker_progress_lines() -> None:
    assert base.worker_progress('internpipe-progress: {"current": 5, "total": 9, "unit": "B"}'
                                ) == {"current": 5, "total": 9, "unit": "B"}
    assert base.worker_progress("internpipe-progress: not json") is None
    # after a tool's bar that has no newline yet (stdout and stderr share the pipe)
    assert base.worker_progress('model.safetensors:   7%|▋ | 160k/2.39M internpipe-progress: '
                                '{"current": 1}') == {"current": 1}
    assert base.worker_progress("other") is None


def test_opencompass_batches_and_tasks() -> None:
    # lines as OpenCompass 0.5.4 writes them (tqdm, then its logger on the same line)
    assert evaluate.parse_line(" 50%|█████     | 1/2 [00:00<00:00,  4.51it/s]11/29 10:38:15 "
                               "- OpenCompass - INFO - Generation Args of Huggingface: ") == \
        {"current": 1, "total": 2, "unit": "batch"}
    assert evaluate.parse_line("11/29 10:38:16 - OpenCompass - INFO - Start inferencing "
                               "[finetune/assistant_eval]")["task"] == "finetune/assistant_eval"
    assert evaluate.parse_line("Map: 100%|██████████| 10/10 [00:00<00:00, 3518.71 ex/s]") is None
    assert evaluate.parse_line("11/29 - INFO - The Progress of This Task --> Models: 1/1, "
                               "Datasets: 1/1") is None


def test_lmdeploy_layers() -> None:
    assert quantize.parse_line("model.layers.0, samples: 16, max gpu memory: 0.00 GB") == \
        {"current": 1, "total": None, "unit": "layer", "phase": "calibrate"}
    assert quantize.parse_line("model.layers.1 smooth weight done. max gpu memory: 0.00 GB"
                               )["phase"] == "smooth"
    assert quantize.parse_line("model.layers.11.mlp.down_proj weight packed.")["current"] == 12
    assert quantize.parse_line("Move model.layers.0 to CPU.") is None


def _screen(reporter: LiveReporter, width: int = 120) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, no_color=True).print(reporter._render())
    return out.getvalue().splitlines()


def _plan(*stages: str) -> dict:
    return {"event": "plan", "stages": [{"stage": s, "action": "run", "reasons": ["never run"]}
                                        for s in stages]}


def test_live_view_rows_notes_bars_and_tail() -> None:
    view = LiveReporter(Console(file=io.StringIO(), width=120))
    try:
        view.emit(_plan("download", "evaluate"))
        view.emit({"event": "env_build", "tool": "opencompass", "env": "opencompass-cpu-1",
                   "stages": ["evaluate"], "message": "opencompass: installing 3 pinned "
                   "packages", "current": 1, "total": 3, "bytes": 2_000_000})
        screen = _screen(view)
        assert any("evaluate" in r and "waits for env opencompass-cpu-1" in r for r in screen)
        assert any("env opencompass" in r and "1/3 packages" in r and "2.0 MB installed" in r
                   for r in screen), screen
        view.emit({"event": "stage_started", "stage": "download", "kind": "download",
                   "reasons": []})
        long = "x" * 300
        view.emit({"event": "log", "stage": "download", "line": long})
        tail = [r for r in _screen(view) if "│" in r]
        assert len(tail) == 1 and len(tail[0]) <= 120          # cut at the edge, one row
        view.emit({"event": "progress", "stage": "download", "current": 1_500_000,
                   "total": 3_000_000, "unit": "B", "files": "0/2"})
        screen = _screen(view)
        assert any(re.search(r"1\.5 MB/3\.0 MB.*files 0/2", r) for r in screen), screen
        assert not any("│" in r for r in screen)               # a bar replaces the tail
        view.emit({"event": "stage_finished", "stage": "download", "status": "ok",
                   "seconds": 0.2})
        row = next(r for r in _screen(view) if "download" in r)
        assert "ok" in row and "never run" not in row          # the plan note is gone
        reason = "/a/very/long/path/" + "folder/" * 30 + "log.txt: failed"
        view.emit({"event": "stage_finished", "stage": "evaluate", "status": "failed",
                   "reason": reason})
        assert reason in "".join(r.strip() for r in _screen(view, 80) if "download" not in r)
    finally:
        view.close()


def test_verbose_keeps_the_tail_under_the_bar() -> None:
    view = LiveReporter(Console(file=io.StringIO(), width=100), verbose=True)
    try:
        view.emit(_plan("ft"))
        view.emit({"event": "stage_started", "stage": "ft", "kind": "finetune", "reasons": []})
        for i in range(20):
            view.emit({"event": "log", "stage": "ft", "line": f"tool line {i}"})
        view.emit({"event": "progress", "stage": "ft", "current": 3, "total": 10,
                   "unit": "step", "loss": 0.5})
        screen = _screen(view)
        assert any("3/10 step" in r and "loss 0.5" in r for r in screen), screen
        assert sum("tool line" in r for r in screen) == 15
    finally:
        view.close()
