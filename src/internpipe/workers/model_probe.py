"""How a model folder loads in this env: the config values that decide the model, the
tokens of a probe text and the logits of its last position. Runs in any tool env.

    python model_probe.py DIR [--text TEXT]

Prints one JSON object. Comparing it across envs shows whether a folder is read alike by
every transformers version that consumes it (portable.py is why it should be).
"""

import argparse
import json
import sys

PROBE = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--text", default=PROBE)
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(args.folder, trust_remote_code=True)
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta") if isinstance(rope, dict) else None
    tokenizer = AutoTokenizer.from_pretrained(args.folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(args.folder, trust_remote_code=True,
                                                 torch_dtype=torch.float32)
    model.eval()
    ids = tokenizer(args.text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(ids).logits[0, -1].float()
    top = torch.topk(logits, 5)
    # the model as this transformers version actually runs it (rotary base included)
    rotary = getattr(getattr(model, "model", model), "rotary_emb", None)
    inv_freq = getattr(rotary, "inv_freq", None)
    print(json.dumps({
        "transformers": transformers.__version__,
        "rope_theta": getattr(config, "rope_theta", None) or theta,
        "inv_freq_1": float(inv_freq[1]) if inv_freq is not None and len(inv_freq) > 1
        else None,
        "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
        "tokenizer_class": type(tokenizer).__name__,
        "tokens": ids[0].tolist(),
        "model_inputs": sorted(tokenizer("probe").keys()),
        "eos_token": tokenizer.eos_token,
        "top5": top.indices.tolist(),
        "top5_logits": [round(float(v), 3) for v in top.values],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
