"""Whether a model is a text model or a vision-language model (VLM), so that stages which
cannot take a VLM say so before anything runs, and the artifact of every model stage says
which it is (`"modality"`).

From a model folder: its config.json (a `vision_config`, a known VLM `model_type`, or an
architecture of one). From a recipe, before anything is downloaded: the download's local
folder, else the hub name (InternVL, XComposer, LLaVA, *-VL… are VLMs; other names are taken
as text models, the tools' own default)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from internpipe.errors import Problem
    from internpipe.stages import Section

TEXT, VISION = "text", "vision-language"
# model_type values of VLMs: transformers' own and the hub repos' remote-code ones
VISION_MODEL_TYPES = frozenset({
    "llava", "llava_next", "llava_onevision", "internvl", "internvl_chat",
    "internlmxcomposer2", "internlm_xcomposer2", "qwen2_vl", "qwen2_5_vl", "minicpmv",
    "mllama", "idefics3", "paligemma", "gemma3"})
VISION_ARCHITECTURES = re.compile(r"(ForConditionalGeneration|ForImageTextToText|"
                                  r"^InternVLChatModel|^InternLMXComposer2)")
VISION_NAMES = re.compile(r"internvl|xcomposer|llava|minicpm-v|[-_]vl([-_]|$)|vision",
                          re.IGNORECASE)


def of_config(config: dict[str, Any]) -> str:
    if isinstance(config.get("vision_config"), dict) or \
            str(config.get("model_type", "")) in VISION_MODEL_TYPES:
        return VISION
    archs = config.get("architectures") or []
    if any(isinstance(a, str) and VISION_ARCHITECTURES.search(a) for a in archs) and \
            "text_config" in config:
        return VISION
    return TEXT


def of_folder(folder: Path) -> str | None:
    """The kind of a model folder; None when it has no readable config.json."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return of_config(config) if isinstance(config, dict) else None


def of_source(source: str, recipe_dir: Path) -> str:
    """The kind of a download's source: a local folder's config, else its name."""
    hub, _, repo = source.partition(":")
    local = Path(source).expanduser()
    if not repo or hub.startswith(("/", ".", "~")):
        folder = local if local.is_absolute() else recipe_dir / local
        found = of_folder(folder)
        if found is not None:
            return found
    return VISION if VISION_NAMES.search(repo or source) else TEXT


def of_section(section: Section, recipe_dir: Path) -> str | None:
    """The kind of the model a stage takes (followed back through `model` inputs to its
    download); None when the recipe does not say (a served URL, several models)."""
    seen = 0
    while section.kind != "download" and seen < 64:
        refs = section.inputs.get("model") or section.inputs.get("models") or []
        if len(refs) != 1:
            return None
        section, seen = refs[0], seen + 1
    if section.kind != "download":
        return None
    source = getattr(section.options, "source", None)
    gguf = str(getattr(section.options, "file", None) or source or "").lower().endswith(".gguf")
    return TEXT if gguf or not isinstance(source, str) else of_source(source, recipe_dir)


def is_internvl(section: Section, recipe_dir: Path) -> bool:
    """The model a stage takes is InternVL-Chat (what XTuner's InternVL path loads): its
    local config's model_type, else its hub name."""
    while section.kind != "download":
        refs = section.inputs.get("model") or []
        if len(refs) != 1:
            return False
        section = refs[0]
    source = str(getattr(section.options, "source", ""))
    hub, _, repo = source.partition(":")
    if not repo or hub.startswith(("/", ".", "~")):
        folder = Path(source).expanduser()
        try:
            config = json.loads(((folder if folder.is_absolute() else recipe_dir / folder)
                                 / "config.json").read_text())
            return isinstance(config, dict) and config.get("model_type") == "internvl_chat"
        except (OSError, ValueError):
            pass
    return "internvl" in source.lower()


def refused(section: Section, recipe_dir: Path, why: str) -> list[Problem]:
    """A problem at the stage's line when the model it takes is a vision-language model
    (`why`: what the stage cannot do with one, and what to do instead)."""
    if of_section(section, recipe_dir) != VISION:
        return []
    return [section.problem(f"the model is a vision-language model (from its "
                            f"{_evidence(section)}): {why}")]


def _evidence(section: Section) -> str:
    while section.kind != "download":
        refs = section.inputs.get("model") or section.inputs.get("models") or []
        section = refs[0]
    source = str(getattr(section.options, "source", ""))
    return f"name {source}" if ":" in source else f"config, {source}"
