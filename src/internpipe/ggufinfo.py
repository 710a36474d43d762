"""What a GGUF file says about itself, read from its header with the standard library.

internpipe's own process never imports an upstream package, and checking a GGUF before any
work (is it a GGUF at all, whole, of an architecture and quantisation transformers can
dequantise?) must cost milliseconds at plan time: the header holds the metadata key/values
and the tensor table; the tensor data after it is never read.
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (versions 2 and 3).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
# Bounds that no real file comes near: a corrupt header must not make us read gigabytes.
MAX_ITEMS = 1 << 24
MAX_STRING = 1 << 26

# value type → struct format of a scalar (8: string, 9: array are read separately)
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9

# ggml tensor types (ggml.h enum ggml_type) by number.
TENSOR_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0",
                9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K",
                15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
                20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
                26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
                35: "TQ2_0", 39: "MXFP4"}

# llama.cpp's enum llama_ftype: the file's quantisation as a name ("Q4_K_M").
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
              10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
              15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS",
              20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
              25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS",
              31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4"}

# What transformers 5.x (the `transformers` tool env) loads with `gguf_file=`: the
# architectures of transformers.modeling_gguf_pytorch_utils.GGUF_SUPPORTED_ARCHITECTURES and the
# tensor types gguf-py dequantises. A test compares both with the env's own lists.
SUPPORTED_ARCHITECTURES = (
    "bloom", "deci", "falcon", "gemma2", "gemma3", "gemma4", "gpt2", "gpt_oss", "lfm2",
    "llama", "mamba", "minimax_m2", "mistral", "nemotron", "phi3", "qwen2", "qwen2_moe",
    "qwen3", "qwen3_moe", "stablelm", "starcoder2", "t5", "umt5")
SUPPORTED_TENSOR_TYPES = (
    "F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
    "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS",
    "IQ3_S", "IQ1_S", "IQ1_M", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4")


class GGUFError(ValueError):
    """The file is not a readable GGUF (the message says what is wrong)."""


@dataclass
class GGUFInfo:
    version: int
    metadata: dict[str, object]          # scalar and string values; arrays by length only
    tensor_types: dict[str, int] = field(default_factory=dict)   # type name → tensor count

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def quantization(self) -> str:
        """The file's quantisation: its declared file type, else its commonest tensor type."""
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int) and file_type in FILE_TYPES:
            return FILE_TYPES[file_type]
        if not self.tensor_types:
            return "unknown"
        return max(self.tensor_types, key=lambda t: self.tensor_types[t])

    def problems(self) -> list[str]:
        """Why transformers could not turn this file into a model (empty when it can)."""
        out = []
        if self.architecture not in SUPPORTED_ARCHITECTURES:
            out.append(f"architecture {self.architecture or '(none)'!r} is not one transformers "
                       f"loads from GGUF (it loads: {', '.join(SUPPORTED_ARCHITECTURES)})")
        odd = sorted(t for t in self.tensor_types if t not in SUPPORTED_TENSOR_TYPES)
        if odd:
            out.append(f"tensor type(s) {', '.join(odd)} cannot be dequantised by transformers "
                       f"(it reads: {', '.join(SUPPORTED_TENSOR_TYPES)})")
        return out


def read(path: Path) -> GGUFInfo:
    """The header of the GGUF file at `path`; GGUFError when it is not one or is cut short."""
    try:
        with open(path, "rb") as f:
            return _read(f)
    except struct.error:
        raise GGUFError(f"{path}: the GGUF header is cut short (a partial download?)") from None
    except GGUFError as exc:
        raise GGUFError(f"{path}: {exc}") from None


def _read(f: BinaryIO) -> GGUFInfo:
    if f.read(4) != MAGIC:
        raise GGUFError("not a GGUF file (it does not start with 'GGUF')")
    (version,) = _unpack(f, "<I")
    if version not in (2, 3):
        raise GGUFError(f"GGUF version {version} is not supported (2 and 3 are)")
    tensors, kvs = _unpack(f, "<QQ")
    if tensors > MAX_ITEMS or kvs > MAX_ITEMS:
        raise GGUFError("the GGUF header is corrupt (impossible counts)")
    metadata: dict[str, object] = {}
    for _ in range(kvs):
        key = _string(f)
        (kind,) = _unpack(f, "<I")
        metadata[key] = _value(f, kind)
    info = GGUFInfo(version=version, metadata=metadata)
    for _ in range(tensors):
        _string(f)
        (dims,) = _unpack(f, "<I")
        if dims > 8:
            raise GGUFError("the GGUF tensor table is corrupt")
        f.read(8 * dims)
        type_id, _offset = _unpack(f, "<IQ")
        name = TENSOR_TYPES.get(type_id, f"type {type_id}")
        info.tensor_types[name] = info.tensor_types.get(name, 0) + 1
    return info


def _unpack(f: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) < size:
        raise struct.error("short read")
    return struct.unpack(fmt, data)


def _string(f: BinaryIO) -> str:
    (length,) = _unpack(f, "<Q")
    if length > MAX_STRING:
        raise GGUFError("the GGUF header is corrupt (a string longer than 64 MiB)")
    data = f.read(length)
    if len(data) < length:
        raise struct.error("short read")
    return data.decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> object:
    if kind in SCALARS:
        return _unpack(f, SCALARS[kind])[0]
    if kind == STRING:
        return _string(f)
    if kind == ARRAY:
        item_kind, count = _unpack(f, "<IQ")
        if count > MAX_ITEMS * 4:
            raise GGUFError("the GGUF header is corrupt (an impossible array length)")
        if item_kind in SCALARS:      # skipped, not kept: a vocabulary is 100k+ items
            f.seek(struct.calcsize(SCALARS[item_kind]) * count, 1)
        else:
            for _ in range(count):
                _value(f, item_kind)
        return f"<array of {count}>"
    raise GGUFError(f"the GGUF header is corrupt (unknown value type {kind})")


def main(argv: list[str] | None = None) -> int:
    """The download stage's check before converting: exit 2 with what is wrong (not a
    GGUF, cut short, a sha256 other than the recipe's, an architecture or quantisation
    transformers cannot load), else the file's provenance written to --info."""
    parser = argparse.ArgumentParser(prog="python -m internpipe.ggufinfo")
    parser.add_argument("file", type=Path)
    parser.add_argument("--sha256", help="the sha256 the file must have")
    parser.add_argument("--info", type=Path, help="write file, sha256, architecture, "
                        "quantization here (JSON)")
    args = parser.parse_args(argv)
    try:
        info = read(args.file)
    except (GGUFError, OSError) as exc:
        print(f"internpipe-error: {exc}", flush=True)
        return 2
    problems = info.problems()
    from internpipe.fingerprint import sha256_file  # only the check step hashes

    digest = sha256_file(args.file)
    if args.sha256 and digest != args.sha256:
        problems.append(f"sha256 is {digest}, the recipe expects {args.sha256}")
    if problems:
        print(f"internpipe-error: {args.file.name}: " + "; ".join(problems), flush=True)
        return 2
    summary = {"file": args.file.name, "sha256": digest, "bytes": args.file.stat().st_size,
               "architecture": info.architecture, "quantization": info.quantization,
               "tensor_types": info.tensor_types,
               "name": info.metadata.get("general.name")}
    print(f"[gguf] {args.file.name}: {info.architecture}, {info.quantization}, "
          f"sha256 {digest[:16]}…", flush=True)
    if args.info:
        args.info.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
