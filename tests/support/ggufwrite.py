"""Write small GGUF headers by hand (the format's own layout), for the header reader's tests:
any architecture, any tensor types, cut short anywhere."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def header(architecture: str = "llama", tensor_types: tuple[int, ...] = (0, 3, 3),
           file_type: int | None = 3, version: int = 3) -> bytes:
    kvs = [_string("general.architecture") + struct.pack("<I", 8) + _string(architecture),
           _string("general.name") + struct.pack("<I", 8) + _string("test model"),
           # an array of strings, as a vocabulary is stored
           _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3)
           + b"".join(_string(t) for t in ("<s>", "a", "b")),
           _string("llama.block_count") + struct.pack("<II", 4, 2)]
    if file_type is not None:
        kvs.append(_string("general.file_type") + struct.pack("<II", 4, file_type))
    tensors = [_string(f"blk.{i}.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 32, 32)
               + struct.pack("<IQ", t, i * 4096) for i, t in enumerate(tensor_types)]
    return (b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
            + b"".join(tensors))


def write(path: Path, data: bytes | None = None, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if data is not None else header(**kwargs) + b"\0" * 64)  # type: ignore[arg-type]
    return path
