"""Helpers for the quantize stage, run inside the LMDeploy environment (stdlib + its packages).

    python quant_checks.py stage-calib FILE DIR
        Put a local calibration file where LMDeploy's `--calib-dataset wikitext2` finds it
        offline: DIR/wikitext/README.md (config wikitext-2-raw-v1 → the parquet file) and
        DIR/wikitext/wikitext-2-raw-v1/train-00000-of-00001.parquet with a `text` column.
        FILE: plain text (one sample per paragraph), or JSON lines or one JSON list of
        records with "text", or chat data ("messages" / "conversation" / alpaca), whose
        strings are joined.

    python quant_checks.py probe-hub NAME REPO LOCAL_COPY
        Whether the hub answers that LMDeploy fetches the named calibration set from
        ($HF_ENDPOINT); if not, what to do offline (exit 3).

    python quant_checks.py drift SOURCE QUANTIZED REPORT.json [--prompt TEXT]...
        How far the quantized model drifted: per linear layer, the relative error of the
        dequantized weights against the source weights; and on a few prompts, the source
        model's logits against those of the source model with the dequantized weights put
        in (top-1 agreement, relative error). AWQ (int4, packed) and SmoothQuant (int8 with
        per-channel scales) are read from their safetensors.
"""

import json
import os
import sys
from typing import Any

# AWQ packs 8 int4 columns in an int32, nibble i holding column [0, 2, 4, 6, 1, 3, 5, 7][i];
# so column c sits in nibble REVERSE[c].
AWQ_REVERSE = [0, 4, 1, 5, 2, 6, 3, 7]


def texts_of(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        if isinstance(item.get("text"), str):
            return [item["text"]]
        if isinstance(item.get("messages"), list):
            return ["\n".join(str(m.get("content", "")) for m in item["messages"])]
        if isinstance(item.get("conversation"), list):
            return ["\n".join(f"{t.get('input', '')}\n{t.get('output', '')}"
                              for t in item["conversation"])]
        if "instruction" in item:
            return ["\n".join(str(item.get(k, "")) for k in ("instruction", "input", "output"))]
    return []


def stage_calib(path: str, dest: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    samples: list[str] = []
    if path.endswith((".jsonl", ".json")):
        # JSON lines or one JSON list, read as internpipe's check read it (jsonstream.py)
        from jsonstream import records  # type: ignore[import-not-found]  # a sibling, by path

        with open(path, "rb") as f:
            for line, value, why in records(f):
                if why is not None:
                    print(f"internpipe-error: {path}:{line}: {why}", flush=True)
                    return 3
                samples += texts_of(value)
    else:
        with open(path, encoding="utf-8") as f:
            samples = [p.strip() for p in f.read().split("\n\n") if p.strip()]
    if not samples:
        print(f"internpipe-error: {path} holds no calibration text", flush=True)
        return 3
    root = os.path.join(dest, "wikitext")
    os.makedirs(os.path.join(root, "wikitext-2-raw-v1"), exist_ok=True)
    pq.write_table(pa.table({"text": samples}),
                   os.path.join(root, "wikitext-2-raw-v1", "train-00000-of-00001.parquet"))
    with open(os.path.join(root, "README.md"), "w") as f:
        f.write("---\nconfigs:\n- config_name: wikitext-2-raw-v1\n  data_files:\n"
                "  - split: train\n    path: wikitext-2-raw-v1/train-*.parquet\n---\n"
                f"Calibration text staged by internpipe from {os.path.basename(path)}.\n")
    print(f"staged {len(samples)} calibration samples from {path}", flush=True)
    return 0


def probe_hub(name: str, repo: str, local_copy: str) -> int:
    """Whether the hub LMDeploy fetches the named calibration set from answers (any HTTP
    answer counts), within seconds; if not, say what to do instead of letting `datasets`
    retry for minutes."""
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    url = f"{endpoint}/api/datasets/{repo}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10)
    except urllib.error.HTTPError:
        pass                                   # it answered
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"internpipe-error: calibration set {name} comes from the hub at {endpoint} "
              f"({repo}), which did not answer ({reason}). Offline: put its text at "
              f"{local_copy} (internpipe stages it), or give a local file (`calib: FILE`, "
              "`--calib FILE`), or quantize data-free (`samples: 0`, `--samples 0`); or set "
              "HF_ENDPOINT to a mirror that answers", flush=True)
        return 3
    print(f"the hub at {endpoint} answers: LMDeploy fetches {name} ({repo})", flush=True)
    return 0


# ------------------------------------------------------------------------------- drift


def unpack_awq(qweight: Any, bits: int = 4) -> Any:
    import torch

    shifts = torch.tensor([AWQ_REVERSE[c] * bits for c in range(32 // bits)], dtype=torch.int32)
    values = (qweight.unsqueeze(-1) >> shifts) & ((1 << bits) - 1)
    return values.reshape(qweight.shape[0], -1)


def dequant_awq(tensors: dict[str, Any], prefix: str, group: int, bits: int) -> Any:
    """(in, out) int4 packed → the (out, in) float weight a Linear holds."""
    q = unpack_awq(tensors[prefix + ".qweight"], bits).float()
    z = unpack_awq(tensors[prefix + ".qzeros"], bits).float()
    s = tensors[prefix + ".scales"].float()
    z = z.repeat_interleave(group, dim=0)
    s = s.repeat_interleave(group, dim=0)
    return ((q - z) * s).t().contiguous()


def dequant_int8(tensors: dict[str, Any], prefix: str) -> Any:
    w = tensors[prefix + ".weight"].float()
    scale = next((tensors[prefix + k] for k in (".scale", ".weight_scale", ".scales")
                  if prefix + k in tensors), None)
    if scale is None:
        return w
    return w * scale.float().reshape(-1, 1)


def load_tensors(folder: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    out: dict[str, Any] = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            out.update(load_file(os.path.join(folder, name)))
    return out


def drift(source: str, quantized: str, report: str, prompts: list[str]) -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with open(os.path.join(quantized, "config.json")) as f:
        qcfg = json.load(f).get("quantization_config") or {}
    method = qcfg.get("quant_method", "")
    q = load_tensors(quantized)
    model = AutoModelForCausalLM.from_pretrained(source, torch_dtype=torch.float32)
    model.eval()
    layers: list[dict[str, Any]] = []
    replaced: dict[str, Any] = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        if method == "awq" and name + ".qweight" in q:
            w = dequant_awq(q, name, int(qcfg.get("group_size", 128)), int(qcfg.get("bits", 4)))
        elif name + ".weight" in q and q[name + ".weight"].dtype == torch.int8:
            w = dequant_int8(q, name)
        else:
            continue
        ref = module.weight.detach().float()
        if w.shape != ref.shape:
            print(f"internpipe-error: {name}: quantized shape {tuple(w.shape)} does not match "
                  f"the source {tuple(ref.shape)}", flush=True)
            return 3
        err = float((w - ref).norm() / ref.norm().clamp_min(1e-12))
        finite = bool(torch.isfinite(w).all())
        layers.append({"layer": name, "relative_error": err if finite else None,
                       "finite": finite})
        replaced[name] = w
    if not layers:
        print("internpipe-error: no quantized linear layer found in the output", flush=True)
        return 3
    # The fake-quantized model: the source model with every float tensor of the quantized
    # output (the methods rescale norms) and the dequantized linear weights.
    floats = {k: v for k, v in q.items() if v.is_floating_point() and not
              k.endswith((".scales", ".scale", ".weight_scale"))}
    tok = AutoTokenizer.from_pretrained(source)
    prompts = prompts or ["Hello, who are you?", "1 + 1 = 2, 2 + 2 =", "你好，请介绍一下你自己"]
    src_logits = []
    with torch.no_grad():
        for p in prompts:
            ids = tok(p, return_tensors="pt").input_ids
            src_logits.append(model(ids).logits[0])
        model.load_state_dict({k: v.float() for k, v in floats.items()}, strict=False)
        mods = dict(model.named_modules())
        for name, w in replaced.items():
            mods[name].weight.copy_(torch.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0))
        agree = total = 0
        rel = []
        for p, ref in zip(prompts, src_logits, strict=True):
            ids = tok(p, return_tensors="pt").input_ids
            got = model(ids).logits[0]
            agree += int((got.argmax(-1) == ref.argmax(-1)).sum())
            total += ref.shape[0]
            rel.append(float((got - ref).norm() / ref.norm().clamp_min(1e-12)))
    errors = [entry["relative_error"] for entry in layers if entry["relative_error"] is not None]
    result = {
        "method": method or "int8", "layers": layers,
        "weight_error_mean": sum(errors) / len(errors) if errors else None,
        "weight_error_max": max(errors) if errors else None,
        "non_finite_layers": [entry["layer"] for entry in layers if not entry["finite"]],
        "top1_agreement": agree / total if total else None,
        "logits_relative_error": sum(rel) / len(rel), "prompts": prompts,
    }
    with open(report, "w") as f:
        json.dump(result, f, indent=1)
    print(f"drift: {len(layers)} layers, weight error mean {result['weight_error_mean']:.4f} "
          f"max {result['weight_error_max']:.4f}; top-1 agreement "
          f"{result['top1_agreement']:.3f}, logits error {result['logits_relative_error']:.4f}",
          flush=True)
    return 0


def main() -> int:
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "stage-calib":
        return stage_calib(args[1], args[2])
    if len(args) == 4 and args[0] == "probe-hub":
        return probe_hub(args[1], args[2], args[3])
    if len(args) >= 4 and args[0] == "drift":
        prompts = [args[i + 1] for i, a in enumerate(args) if a == "--prompt"]
        return drift(args[1], args[2], args[3], prompts)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
