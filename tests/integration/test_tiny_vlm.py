"""The committed tiny vision-language model is what scripts/make_tiny_vlm.py writes, byte for
byte, with the transformers environment that serves it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, TINY_VLM
from internpipe import envs

pytestmark = pytest.mark.integration


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_the_script_rebuilds_the_committed_tiny_vlm_byte_for_byte(tmp_path: Path) -> None:
    env = envs.ensure("transformers", "cpu")
    out = subprocess.run([str(env.python), str(ROOT / "scripts" / "make_tiny_vlm.py"),
                          str(tmp_path / "vlm")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "4 image tokens, generate ok" in out.stdout
    assert digests(tmp_path / "vlm") == digests(TINY_VLM)
    assert sum(p.stat().st_size for p in TINY_VLM.iterdir()) < 2_000_000
