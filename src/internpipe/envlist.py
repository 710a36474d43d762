"""The tool environments: listing every one internpipe knows (each tool and flavour, built,
half-built or not built) and every env folder under the home (current spec or old) with its
size, and removing folders (`internpipe env list|remove`)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from internpipe import state
from internpipe.devices import FLAVOURS
from internpipe.envs import MARKER, envs_root, spec, tool_table
from internpipe.errors import UserError


def disk_usage(path: Path) -> int:
    seen: set[int] = set()
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_blocks * 512
    return total


def installed() -> list[dict[str, Any]]:
    """Every env folder under the home, current or old, with its state."""
    rows: list[dict[str, Any]] = []
    root = envs_root()
    if not root.exists():
        return rows
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = state.read_json(path / MARKER, None)
        tool, _, rest = path.name.rpartition("-")  # name = tool-flavour-id; tools may hold '-'
        tool, _, flavour = tool.rpartition("-")
        current = False
        with contextlib.suppress(UserError):
            current = spec(tool, flavour).id == rest
        rows.append({"tool": tool, "flavour": flavour, "id": rest, "name": path.name,
                     "path": str(path),
                     "state": "ready" if isinstance(marker, dict) else "half-built",
                     "current": current,
                     "versions": (marker or {}).get("versions", {}) if isinstance(
                         marker, dict) else {}})
    return rows


def every_env() -> list[dict[str, Any]]:
    """`installed()` and, for each tool and flavour whose current env has no folder, a row
    in state "not built" naming the env it would be; by tool, flavour, current first."""
    rows = installed()
    have = {row["name"] for row in rows}
    for tool in tool_table():
        for flavour in FLAVOURS:
            try:
                current = spec(tool, flavour)
            except UserError:           # no pinned requirements for this flavour
                continue
            if current.name not in have:
                rows.append({"tool": tool, "flavour": flavour, "id": current.id,
                             "name": current.name, "path": str(envs_root() / current.name),
                             "state": "not built", "current": True, "versions": {}})
    order = {tool: i for i, tool in enumerate(tool_table())}
    return sorted(rows, key=lambda r: (order.get(r["tool"], len(order)), r["tool"],
                                       r["flavour"], not r["current"], r["name"]))


def remove(paths: list[Path]) -> None:
    for path in paths:
        # The marker goes first, so an interrupted removal leaves a folder that is not "done".
        with contextlib.suppress(FileNotFoundError):
            (path / MARKER).unlink()
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (path.parent / f"{path.name}.log").unlink()
