"""Model folders that load the same in every tool env.

A model folder crosses envs with different transformers versions (XTuner's 4.48,
OpenCompass's 4.57, the CPU engine's and LMDeploy's 5.x). transformers 5 writes some values
where 4.x does not look, and 4.x then silently uses its defaults: a SmolLM2 folder saved by
5.x loads in 4.48 with `rope_theta` 10000 instead of 100000 (a different model, no error)
and fails on `tokenizer_class: TokenizersBackend`. Every model folder a stage publishes is
given the values in both places here (JSON edits only, in internpipe's process); the values
themselves are never changed, only copied where older readers look.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# tokenizer classes of transformers 5 that 4.x does not know → their 4.x name
TOKENIZER_CLASSES = {"TokenizersBackend": "PreTrainedTokenizerFast"}
# What TokenizersBackend feeds a model; 4.x's PreTrainedTokenizerFast would add
# token_type_ids, which a Llama's generate() refuses (OpenCompass fails on it).
BACKEND_INPUT_NAMES = ["input_ids", "attention_mask"]


def normalise(folder: Path) -> list[str]:
    """Make the model folder readable alike by transformers 4.4x and 5.x; what was added."""
    changes: list[str] = []
    config = _read(folder / "config.json")
    if config is not None and _config_fixes(config, changes):
        _write(folder / "config.json", config)
    tok = _read(folder / "tokenizer_config.json")
    if tok is not None and _tokenizer_fixes(folder, tok, changes):
        _write(folder / "tokenizer_config.json", tok)
    return changes


def _config_fixes(config: dict[str, Any], changes: list[str]) -> bool:
    before = len(changes)
    for section in [config, *(v for v in config.values()
                              if isinstance(v, dict) and "model_type" in v)]:
        rope = section.get("rope_parameters")
        if isinstance(rope, dict) and "rope_theta" in rope and "rope_theta" not in section:
            section["rope_theta"] = rope["rope_theta"]
            changes.append(f"rope_theta {rope['rope_theta']}")
            if rope.get("rope_type", "default") != "default" and "rope_scaling" not in section:
                section["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
                changes.append("rope_scaling")
        if "dtype" in section and "torch_dtype" not in section:
            section["torch_dtype"] = section["dtype"]
            changes.append(f"torch_dtype {section['dtype']}")
        elif "dtype" in section and section["dtype"] != section["torch_dtype"]:
            # A 4.x writer kept a 5.x reader's `dtype` from the model it started from and
            # wrote the saved weights' dtype as `torch_dtype` (XTuner's merge: float16
            # weights under "dtype": "bfloat16"); 5.x would believe the stale one.
            if _major(config.get("transformers_version")) < 5:
                section["dtype"] = section["torch_dtype"]
            else:
                section["torch_dtype"] = section["dtype"]
            changes.append(f"dtype {section['dtype']}")
    return len(changes) > before


def _major(version: object) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 5


def _tokenizer_fixes(folder: Path, tok: dict[str, Any], changes: list[str]) -> bool:
    before = len(changes)
    cls = tok.get("tokenizer_class")
    if cls in TOKENIZER_CLASSES:
        tok["tokenizer_class"] = TOKENIZER_CLASSES[cls]
        changes.append(f"tokenizer_class {TOKENIZER_CLASSES[cls]}")
        if "model_input_names" not in tok:
            tok["model_input_names"] = BACKEND_INPUT_NAMES
            changes.append("model_input_names")
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        # 5.x reads the template from its own file first; 4.4x only from
        # tokenizer_config.json: both must hold the same one.
        text = jinja.read_text(encoding="utf-8")
        if tok.get("chat_template") != text:
            tok["chat_template"] = text
            changes.append("chat_template in tokenizer_config.json")
    return len(changes) > before


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write(path: Path, value: dict[str, Any]) -> None:
    # A new file renamed over the old: the old may be a hard link into the model cache,
    # which must not change.
    tmp = path.with_name(path.name + ".portable")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
