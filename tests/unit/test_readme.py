"""The README's recipe reference is generated from the schema and must be current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_recipe_reference_is_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "recipe_reference.py"),
                             "--check"], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items()
                                 if k != "INTERNPIPE_PLUGINS"})   # the real kinds only
    assert result.returncode == 0, result.stdout + result.stderr
