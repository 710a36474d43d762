"""The InternLM course's vocabulary: the names its lessons (and the upstream tools' own
configs and command lines) give to what internpipe calls otherwise. A recipe may use either
name; the stage sees internpipe's. Per-stage command-line flags under the lessons' names are
declared beside internpipe's own in each cli/ module."""

from __future__ import annotations

from typing import Any

from internpipe import yamlsrc
from internpipe.errors import Problem

# kind → {the lesson's / upstream's name: internpipe's name}
OPTION_ALIASES: dict[str, dict[str, str]] = {
    "finetune": {                       # XTuner config names (camp3/camp4 XTuner lessons)
        "prompt_template": "template",
        "max_epochs": "epochs",
        "accumulative_counts": "grad_accum",
        "pack_to_max_length": "pack",
        "save_steps": "save_every",
        "save_total_limit": "keep_checkpoints",
    },
    "quantize": {                       # `lmdeploy lite auto_awq` flags (LMDeploy lesson)
        "calib_dataset": "calib",
        "calib_samples": "samples",
        "calib_seqlen": "seqlen",
        "w_group_size": "group_size",
    },
    "deploy": {                         # `lmdeploy serve api_server` flags
        "server_port": "port",
        "server_name": "host",
    },
}


def apply(kind: str, options: dict[str, Any], where: yamlsrc.Path, smap: yamlsrc.SourceMap,
          problems: list[Problem]) -> None:
    """Rename the lesson's keys of one stage section to internpipe's, in place; the value
    keeps its line (so a problem with it is reported where it was written). Both names at
    once is a problem."""
    for alias, name in OPTION_ALIASES.get(kind, {}).items():
        if alias not in options:
            continue
        if name in options:
            problems.append(smap.problem((*where, alias), f"`{alias}` is the course's name "
                                         f"for `{name}`, which is given too: keep one"))
            del options[alias]
            continue
        options[name] = options.pop(alias)
        for path, at in list(smap.lines.items()):   # the value and what is inside it
            if path[:len(where) + 1] == (*where, alias):
                smap.lines[(*where, name, *path[len(where) + 1:])] = at
        origin = smap.overrides.get((*where, alias))
        if origin is not None:
            smap.overrides[(*where, name)] = origin


def aliases_of(kind: str, name: str) -> list[str]:
    """The course's names for one of a kind's options (for the reference tables)."""
    return [a for a, n in OPTION_ALIASES.get(kind, {}).items() if n == name]
