"""Why a finished stage is out of date: the parts of its fingerprint that changed since its
entry was written (kind or code, options by dotted key, tool env, device, inputs, files),
said the way `plan` shows them ("options changed: lr")."""

from __future__ import annotations

from typing import Any


def why_changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    reasons = []
    if old.get("kind") != new["kind"] or old.get("code") != new["code"]:
        reasons.append("stage kind or its code changed")
    changed = changed_keys(old.get("options", {}), new["options"])
    if changed:
        reasons.append("options changed: " + ", ".join(changed))
    if old.get("env") != new["env"]:
        reasons.append("tool environment changed")
    if old.get("device") != new["device"]:
        reasons.append(f"device changed: {old.get('device')} → {new['device']}")
    old_inputs = old.get("inputs", {})
    for field_name, fps in new["inputs"].items():
        if old_inputs.get(field_name) != fps:
            reasons.append(f"input changed: {field_name}")
    old_files = old.get("files", {})
    for path in sorted(set(old_files) | set(new["files"])):
        if old_files.get(path) != new["files"].get(path):
            reasons.append(f"file changed: {path}")
    return reasons


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [prefix.rstrip(".")] if old != new else []


def inputs_remade(read: Any, now: dict[str, str | None]) -> list[str]:
    """Why a stage whose fingerprint matches must run all the same: an input stage was run
    again since (e.g. forced) and made another output than the one this stage `read` (its
    entry's `consumed`), as a fine-tune does. Entries from before outputs were recorded
    say nothing; `now` None: nothing to compare."""
    if not isinstance(read, dict):
        return []
    return [f"input {up} was made again since (another output than it read)"
            for up, made in now.items() if made and up in read and read[up] != made]
