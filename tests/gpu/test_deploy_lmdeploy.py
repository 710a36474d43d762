"""On a machine with CUDA (the lent device): the deploy stage serves the tiny model, and its
AWQ form, through LMDeploy's PyTorch engine. Deselected by default (`-m 'not gpu'`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import services

pytestmark = [pytest.mark.gpu, pytest.mark.integration]


@pytest.mark.parametrize("quantized", [False, True], ids=["hf", "awq"])
def test_lmdeploy_serves_through_the_stage(tmp_path: Path, quantized: bool) -> None:
    quant = ("  quantize:\n    samples: 0\n    group_size: 64\n    device: cuda\n"
             if quantized else "")
    r = write(tmp_path / "r.yaml", f"""version: 1
name: gpu
device: cuda
stages:
  download:
    source: {TINY_MODEL}
{quant}  deploy:
    engine: lmdeploy
    backend: pytorch
    quant_policy: 8
    port: auto
""")
    result = cli("run", str(r), "--json", timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((tmp_path / ".internpipe/gpu/state.json").read_text())
    art = state["stages"]["deploy"]["artifact"]
    assert art["engine"] == "lmdeploy" and art["smoke"]["reply"] is not None
    assert not services.alive(art["pid"])
