"""Ships the recipes (and the scripts that make their data) inside the package: the wheel's
`internpipe/recipes/` is a copy of the checkout's `recipes/` (work dirs left out) plus
`scripts/make_demo_data.py` and `make_persona_data.py`, so `internpipe recipes copy NAME` works without the checkout.
Everything else is declared in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA_SCRIPTS = ("make_demo_data.py", "make_persona_data.py")


class BuildWithRecipes(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "internpipe" / "recipes"
        if dest.exists():
            shutil.rmtree(dest)
        # Work dirs and the course data a user made with recipes/scripts/ stay out.
        shutil.copytree(ROOT / "recipes", dest, ignore=shutil.ignore_patterns(
            ".internpipe", "__pycache__", "*.pyc", "assistant.json", "assistant_Tuner*.jsonl"))
        (dest / "scripts").mkdir(exist_ok=True)
        for name in DATA_SCRIPTS:
            shutil.copy2(ROOT / "scripts" / name, dest / "scripts" / name)


setup(cmdclass={"build_py": BuildWithRecipes})
