"""OpenCompass's built-in dataset configs, read from the installed package's files without
importing it: where a named config lives, which `*_datasets` lists it defines, and whether
the data it points at is staged.

OpenCompass looks a dataset's `path` up in DATASETS_MAPPING (utils/datasets_info.py) and
reads `$COMPASS_DATA_CACHE/<local path>`; when that is missing it tries to download the
data, which cannot work offline and hangs or fails late. internpipe runs the same lookup on
the same files before launch so the user gets one clear error instead.
"""

from __future__ import annotations

import ast
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Missing:
    path: str        # the dataset's `path` value in its config
    expected: Path   # where OpenCompass will look for it
    url: str | None  # OpenCompass's own download link for it, when it has one
    joined: str = ""  # the path as OpenCompass joins it (its URL table matches on it)
    modelscope: bool = False  # OpenCompass can load it from ModelScope (an ms_id)


def package_dir(python: Path | None) -> Path | None:
    """The opencompass package of an environment, found on disk (no import)."""
    if python is None:
        return None
    prefix = Path(python).parent.parent
    for candidate in sorted(prefix.glob("lib/python3*/site-packages/opencompass")):
        if (candidate / "configs" / "datasets").is_dir():
            return candidate
    return None


@functools.cache
def _configs(pkg: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((pkg / "configs" / "datasets").rglob("*.py")):
        if path.name != "__init__.py":
            found.setdefault(path.stem, path)
    return found


def config_names(pkg: Path) -> list[str]:
    return list(_configs(pkg))


def find_config(pkg: Path, name: str) -> Path | None:
    return _configs(pkg).get(name)


def module_name(pkg: Path, config: Path) -> str:
    """The import path of a config file, for `read_base()` in a generated config."""
    rel = config.relative_to(pkg.parent).with_suffix("")
    return ".".join(rel.parts)


def _tree(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def dataset_lists(config: Path) -> list[str]:
    """The module-level names ending in `_datasets`, which is what OpenCompass's own
    `--datasets NAME` collects from a config."""
    tree = _tree(config)
    if tree is None:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.ImportFrom):
            targets = [a.asname or a.name for a in node.names]
        names += [t for t in targets if t.endswith("_datasets") and t not in names]
    return names


def _imported_configs(config: Path, tree: ast.Module, pkg: Path) -> list[Path]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.level:
            base = config.parent
            for _ in range(node.level - 1):
                base = base.parent
            target = base.joinpath(*node.module.split("."))
        elif node.module.startswith("opencompass.configs."):
            target = pkg.parent.joinpath(*node.module.split("."))
        else:
            continue
        if target.with_suffix(".py").is_file():
            found.append(target.with_suffix(".py"))
    return found


def data_paths(config: Path, pkg: Path) -> list[str]:
    """Every literal `path=` / `'path':` value in a config and the configs it imports."""
    seen: set[Path] = set()
    paths: list[str] = []
    todo = [config]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = _tree(current)
        if tree is None:
            continue
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values = [k.value for k in node.keywords if k.arg == "path"]
            elif isinstance(node, ast.Dict):
                values = [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "path"]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str) \
                        and value.value not in paths:
                    paths.append(value.value)
        todo += _imported_configs(current, tree, pkg)
    return paths


def _literal(module: Path, name: str) -> Any:
    tree = _tree(module)
    for node in tree.body if tree else []:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return {}
    return {}


@functools.cache
def _mapping(pkg: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    info = pkg / "utils" / "datasets_info.py"
    return _literal(info, "DATASETS_MAPPING"), _literal(info, "DATASETS_URL")


def missing_data(pkg: Path, config: Path, data_dir: Path) -> list[Missing]:
    """The data a built-in config needs that is not under data_dir (COMPASS_DATA_CACHE)."""
    mapping, urls = _mapping(pkg)
    missing = []
    for path in data_paths(config, pkg):
        local = (mapping.get(path) or {}).get("local") or path
        # Joined as OpenCompass joins it: its URL table is keyed by parts like "/gsm8k/".
        joined = path if os.path.isabs(path) else os.path.join(str(data_dir), local)
        if os.path.exists(joined):
            continue
        # The last matching key wins, as in OpenCompass's download_dataset().
        url = ([v.get("url") for k, v in urls.items() if k in joined and isinstance(v, dict)]
               or [None])[-1]
        missing.append(Missing(path, Path(os.path.normpath(joined)), url, joined,
                               bool((mapping.get(path) or {}).get("ms_id"))))
    return missing
