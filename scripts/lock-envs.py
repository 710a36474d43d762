#!/usr/bin/env python3
"""Regenerate the pinned requirement files of the tool environments.

    python scripts/lock-envs.py                 # every tool, both flavours
    python scripts/lock-envs.py xtuner --flavour cpu

Each <tool>/<flavour>.lock.txt is `uv pip compile` of requirements.<flavour>.in with
overrides.<flavour>.txt, for Python 3.11 on x86-64 Linux. The index settings are the ones the
environments are built with (uv's own, else pip's configuration), so a CPU torch found in a
local wheel folder is pinned as such. Review the diff, commit it: env ids follow the files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from internpipe import devices, envs, indexes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tools", nargs="*", help="tools to lock (default: all)")
    parser.add_argument("--flavour", choices=devices.FLAVOURS, action="append")
    args = parser.parse_args()
    tools = args.tools or list(envs.tool_table())
    flavours = args.flavour or list(devices.FLAVOURS)
    uv = envs.uv_binary()
    index_args, _ = indexes.index_settings()
    failed = 0
    for tool in tools:
        for flavour in flavours:
            folder = envs.SPECS / tool
            cmd = [uv, "pip", "compile", str(folder / f"requirements.{flavour}.in"),
                   "--python-version", envs.PYTHON_VERSION,
                   "--python-platform", "x86_64-manylinux_2_28",
                   "--no-header", "--no-annotate", "-q",
                   "-o", str(folder / f"{flavour}.lock.txt"), *index_args]
            overrides = folder / f"overrides.{flavour}.txt"
            if overrides.exists():
                cmd += ["--overrides", str(overrides)]
            rc = subprocess.call(cmd)
            print(f"{tool:12} {flavour:5} {'ok' if rc == 0 else f'FAILED ({rc})'}")
            failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
