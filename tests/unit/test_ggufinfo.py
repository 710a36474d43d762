"""The GGUF header reader: what a file says about itself, read in milliseconds; corrupt,
cut-short and unsupported files named as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from internpipe import ggufinfo
from internpipe.fingerprint import sha256_file
from support.ggufwrite import header, write


def test_a_llama_q4_1_file_is_described_and_loadable(tmp_path: Path) -> None:
    info = ggufinfo.read(write(tmp_path / "m.gguf"))
    assert info.version == 3 and info.architecture == "llama"
    assert info.quantization == "Q4_1"
    assert info.tensor_types == {"F32": 1, "Q4_1": 2}
    assert info.metadata["tokenizer.ggml.tokens"] == "<array of 3>"
    assert info.metadata["llama.block_count"] == 2
    assert info.problems() == []


def test_quantization_falls_back_to_the_commonest_tensor_type(tmp_path: Path) -> None:
    info = ggufinfo.read(write(tmp_path / "m.gguf", file_type=None, tensor_types=(12, 12, 0)))
    assert info.quantization == "Q4_K"


def test_an_unsupported_architecture_names_what_transformers_loads(tmp_path: Path) -> None:
    problems = ggufinfo.read(write(tmp_path / "m.gguf", architecture="internlm2")).problems()
    assert len(problems) == 1
    assert "'internlm2' is not one transformers loads" in problems[0]
    assert "llama" in problems[0] and "qwen2" in problems[0]


def test_a_tensor_type_transformers_cannot_dequantise(tmp_path: Path) -> None:
    problems = ggufinfo.read(write(tmp_path / "m.gguf", tensor_types=(9, 0))).problems()
    assert problems and "Q8_1 cannot be dequantised" in problems[0]


@pytest.mark.parametrize(("data", "message"), [
    (b"PK\x03\x04" + b"\0" * 60, "not a GGUF file"),
    (b"GGUF" + b"\x07\0\0\0" + b"\0" * 16, "GGUF version 7 is not supported"),
    (header()[:40], "cut short"),
    (b"GGUF\x03\0\0\0" + b"\xff" * 16, "impossible counts"),
])
def test_corrupt_files_are_named_not_crashed_on(tmp_path: Path, data: bytes,
                                               message: str) -> None:
    path = write(tmp_path / "bad.gguf", data)
    with pytest.raises(ggufinfo.GGUFError, match=message) as caught:
        ggufinfo.read(path)
    assert str(path) in str(caught.value)


def test_the_check_step_exits_2_on_a_wrong_sha256_and_writes_provenance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "m.gguf")
    info = tmp_path / "info.json"
    assert ggufinfo.main([str(path), "--info", str(info)]) == 0
    digest = sha256_file(path)
    assert f'"sha256": "{digest}"' in info.read_text()
    assert '"quantization": "Q4_1"' in info.read_text()
    assert ggufinfo.main([str(path), "--sha256", "0" * 64]) == 2
    out = capsys.readouterr().out
    assert "internpipe-error:" in out and f"sha256 is {digest}" in out
    assert ggufinfo.main([str(write(tmp_path / "x.gguf", architecture="gpt9"))]) == 2
