"""The LMDeploy lesson's quantize command as the lesson writes it, through the real LMDeploy
on the tiny model: `--calib-dataset ptb` from a staged local copy; and the command without
--calib (LMDeploy's default set) where the hub does not answer: it stops in seconds saying
what to do."""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli

pytestmark = pytest.mark.integration


def test_the_lessons_ptb_command_runs_on_a_local_copy(tmp_path: Path) -> None:
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = random.Random(0)
    words = ["the", "market", "rose", "n", "percent", "in", "trading", "shares", "said"]
    (calib / "ptb.txt").write_text("\n\n".join(" ".join(rng.choice(words) for _ in range(30))
                                             for _ in range(200)))
    result = cli("quantize", str(TINY_MODEL), "--calib-dataset", "ptb", "--calib-samples",
                 "8", "--calib-seqlen", "64", "--w-bits", "4", "--w-group-size", "128",
                 "--batch-size", "1", "--search-scale", "False", "--work-dir", "tiny-w4a16-4bit",
                 "--device", "cpu", "--json", cwd=tmp_path, timeout=900,
                 INTERNPIPE_CALIB_DIR=str(calib))
    assert result.returncode == 0, result.stderr[-3000:]
    placed = json.loads((tmp_path / "tiny-w4a16-4bit" / "config.json").read_text())
    assert placed["quantization_config"]["quant_method"] == "awq"     # as lmdeploy lite does
    state = json.loads((tmp_path / ".internpipe/quantize/state.json").read_text())
    art = state["stages"]["quantize"]["artifact"]
    assert art["calibration"]["set"] == "ptb"
    assert art["calibration"]["file"] == str(calib / "ptb.txt")
    assert art["quantization_config"]["quant_method"] == "awq"
    log = (tmp_path / ".internpipe/quantize/stages/quantize/log.txt").read_text()
    assert "staged 200 calibration samples" in log


def test_default_calibration_offline_stops_in_seconds(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    started = time.monotonic()
    result = cli("quantize", str(TINY_MODEL), "--device", "cpu", cwd=tmp_path, timeout=300,
                 HF_ENDPOINT=f"http://127.0.0.1:{closed}",
                 INTERNPIPE_CALIB_DIR=str(tmp_path / "calib"))
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "calibration set wikitext2 comes from the hub" in result.stderr
    assert f"put its text at {tmp_path / 'calib' / 'wikitext2.txt'}" in result.stderr
    assert "--samples 0" in result.stderr
    assert took < 120, took
