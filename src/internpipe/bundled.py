"""The recipes that ship with internpipe: listed, and copied out with the files they need.

In a wheel they are package data (`internpipe/recipes/`, put there by setup.py); in a
checkout they are its `recipes/` folder. A recipe needs the local files its values name
(a model folder, data files, a calibration file) and the scripts its comments tell the user
to run (`python scripts/make_demo_data.py`); `copy` takes all of them, so the copy
validates and runs where it lands."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from internpipe.errors import UserError

PACKAGED = Path(__file__).resolve().parent / "recipes"
CHECKOUT = Path(__file__).resolve().parent.parent.parent / "recipes"
# `python scripts/NAME.py` (or a bare mention) in a recipe's comments: its data script.
SCRIPT_RE = re.compile(r"\bscripts/[\w.-]+\.py\b")


@dataclass(frozen=True)
class Bundled:
    name: str
    path: Path
    device: str
    summary: str


def recipes_dir() -> Path:
    """The wheel's copy where there is one, else the checkout's folder."""
    if PACKAGED.is_dir():
        return PACKAGED
    if CHECKOUT.is_dir():
        return CHECKOUT
    raise UserError("this installation has no bundled recipes (neither the package's "
                    f"{PACKAGED} nor a checkout's recipes/); reinstall internpipe")


def available() -> list[Bundled]:
    import yaml

    found = []
    for path in sorted(recipes_dir().glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        comments = []
        for line in text.splitlines():
            if not line.startswith("#") or not line[1:].strip():
                break                    # the first paragraph of the header comment
            comments.append(line[1:].strip())
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        device = str(raw.get("device", "auto")) if isinstance(raw, dict) else "auto"
        summary = " ".join(comments)
        found.append(Bundled(path.stem, path, device, summary.split(". ")[0].rstrip(".")))
    return found


def find(name: str) -> Bundled:
    from internpipe.problems import suggest

    stem = name.removesuffix(".yaml")
    recipes = available()
    for bundled in recipes:
        if bundled.name == stem:
            return bundled
    names = [b.name for b in recipes]
    raise UserError(f"no bundled recipe {name!r}{suggest(stem, names)}; "
                    f"bundled: {', '.join(names)} (`internpipe recipes list`)")


def needed_files(bundled: Bundled) -> list[Path]:
    """The recipe and every file or folder it needs, relative to the recipes folder."""
    import yaml

    root = bundled.path.parent
    text = bundled.path.read_text(encoding="utf-8")
    wanted: dict[Path, None] = {Path(bundled.path.name): None}
    for value in _strings(yaml.safe_load(text)):
        try:        # a prompt is no path: too long a name is an error of the file system
            candidate = (root / value).resolve() if not Path(value).is_absolute() else None
            found = candidate is not None and candidate != root and candidate.exists()
        except OSError:
            continue
        if found and candidate is not None and candidate.is_relative_to(root):
            wanted[candidate.relative_to(root)] = None
            for image in _data_images(candidate):
                if image.is_relative_to(root):
                    wanted[image.relative_to(root)] = None
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            for script in SCRIPT_RE.findall(line):
                wanted[Path(script)] = None
    return list(wanted)


def copy(name: str, dest: Path, force: bool = False) -> list[Path]:
    """Copy a bundled recipe and what it needs into `dest`; nothing is overwritten unless
    `force` (all conflicts are named before anything is copied). Returns what was written."""
    bundled = find(name)
    root = bundled.path.parent
    sources = {rel: _source(root, rel) for rel in needed_files(bundled)}
    missing = [str(rel) for rel, src in sources.items() if src is None]
    if missing:
        raise UserError(f"the bundled recipe {bundled.name} names files this installation "
                        f"lacks: {', '.join(missing)}")
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest} is not a folder")
    taken = [str(dest / rel) for rel in sources if (dest / rel).exists()]
    if taken and not force:
        raise UserError(f"would overwrite {', '.join(taken)}; use --force, or another DEST")
    written = []
    for rel, src in sources.items():
        assert src is not None
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".internpipe", "__pycache__"))
        else:
            shutil.copyfile(src, target)
        written.append(target)
    return written


def _source(root: Path, rel: Path) -> Path | None:
    """Where a needed file is: in the recipes folder, or (a checkout's data scripts) in the
    checkout's scripts/ beside it."""
    for base in (root, root.parent):
        if (base / rel).exists():
            return base / rel
    return None


def _data_images(data: Path) -> list[Path]:
    """The images an image-question or llava data file names (relative to the file), so that
    a copied recipe's data is whole. Small bundled files only."""
    if data.suffix not in (".json", ".jsonl") or not data.is_file() or \
            data.stat().st_size > 1 << 20:
        return []
    text = data.read_text(encoding="utf-8", errors="replace")
    try:
        rows = json.loads(text) if text.lstrip().startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return []
    names = [r.get("image") for r in rows if isinstance(r, dict)]
    found = [(data.parent / n).resolve() for n in names if isinstance(n, str) and n]
    return [p for p in dict.fromkeys(found) if p.is_file()]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node] if "\n" not in node and len(node) < 4096 else []
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []
