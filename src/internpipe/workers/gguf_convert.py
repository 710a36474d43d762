"""Turn a GGUF file into a Hugging Face model folder. Runs in the `transformers` tool env.

    python gguf_convert.py --gguf FILE --dest DIR [--dtype bfloat16] [--info JSON]

transformers reads a GGUF (`gguf_file=`) and dequantises its tensors, but a model loaded that
way refuses `save_pretrained` (it counts as quantized). Its state dict, though, is a plain
model's: it is loaded strictly into the same architecture built from the same config (so a
missing or extra tensor fails loudly) and that model is saved, with the tokenizer (and its
chat template) and the generation config the GGUF carries.
"""

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--dest", required=True)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--info", help="write how it was converted here (JSON)")
    args = parser.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    folder, name = os.path.split(os.path.abspath(args.gguf))
    started = time.monotonic()
    print(f"[gguf] reading {name} (dequantising every tensor)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    state = loaded.state_dict()
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    generation = loaded.generation_config
    del loaded
    dtype = getattr(torch, args.dtype)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = plain.load_state_dict(state, strict=False)
    tied = set(getattr(plain, "_tied_weights_keys", None) or [])
    if isinstance(getattr(plain, "_tied_weights_keys", None), dict):
        tied = set(plain._tied_weights_keys)
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        print(f"[gguf] the GGUF's tensors do not fit {type(plain).__name__}: "
              f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}",
              file=sys.stderr)
        return 1
    del state
    plain = plain.to(dtype)
    plain.config.dtype = dtype
    print(f"[gguf] {type(plain).__name__}: {sum(p.numel() for p in plain.parameters()):,} "
          f"parameters, saving as {args.dtype} safetensors", flush=True)
    plain.save_pretrained(args.dest, safe_serialization=True)
    tokenizer.save_pretrained(args.dest)
    if isinstance(generation, GenerationConfig):
        generation.save_pretrained(args.dest)
    if args.info:
        info = {"file": name, "dtype": args.dtype,
                "class": type(plain).__name__,
                "seconds": round(time.monotonic() - started, 1)}
        with open(args.info, "w") as f:
            json.dump(info, f, indent=1)
    print(f"[gguf] done in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
