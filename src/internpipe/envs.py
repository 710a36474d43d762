"""Tool environments: one isolated virtual environment per upstream tool and flavour, built
with uv from the pinned files in `envspecs/`, the way pre-commit builds hook environments.

An environment is keyed by its spec (the lock file, stubs, probe, Python version), lives at
`$INTERNPIPE_HOME/envs/<tool>-<flavour>-<id>/`, is built under a file lock with a re-check
after taking it, health-checked, and marked done last (`.internpipe-env.json`, written with
os.replace). A folder without the marker is half-built and is removed before a rebuild; an
interrupted or failed build removes itself. The build is in envbuild, the listing and removal
in envlist, the package-index settings in indexes, device detection in devices.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from internpipe import state
from internpipe.devices import FLAVOURS
from internpipe.errors import UserError
from internpipe.fingerprint import digest

SPECS = Path(__file__).parent / "envspecs"
PYTHON_VERSION = "3.11"
MARKER = ".internpipe-env.json"
STUB_SOURCE = SPECS / "stub_module.py"
SPEC_FORMAT = 3  # 3: bytecode is written on first import (see step_environ)

# Variables that would make a tool see the caller's Python instead of its own.
LEAKY_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV",
              "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__")
OFFLINE_VARS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "HF_EVALUATE_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1"}

class Progress(Protocol):
    """What a build says: a message, and while packages install the counts
    (`current`/`total` packages, `bytes` in the env so far)."""

    def __call__(self, message: str, /, **counts: int) -> None: ...


def print_progress(message: str, /, **counts: int) -> None:
    """A Progress for scripts and tests: each step of a build on a line (not the counts)."""
    if not counts:
        print(message, flush=True)


class EnvBuildError(Exception):
    """An environment could not be built or failed its health check (exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, log_path: Path | None = None,
                 log_tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log_path = log_path
        self.log_tail = log_tail or []


# --------------------------------------------------------------------------- specs


@functools.cache
def tool_table() -> dict[str, dict[str, Any]]:
    with open(SPECS / "tools.toml", "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class EnvSpec:
    tool: str
    flavour: str
    lock_text: str
    probe: tuple[str, ...]
    versions: tuple[str, ...]
    stubs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return digest({"format": SPEC_FORMAT, "tool": self.tool, "flavour": self.flavour,
                       "lock": self.lock_text, "probe": self.probe, "stubs": self.stubs,
                       "stub_source": STUB_SOURCE.read_text() if self.stubs else "",
                       "python": PYTHON_VERSION})[:12]

    @property
    def name(self) -> str:
        return f"{self.tool}-{self.flavour}-{self.id}"

    @property
    def lock_file(self) -> Path:
        return SPECS / self.tool / f"{self.flavour}.lock.txt"


def check_tool(tool: str) -> None:
    table = tool_table()
    if tool not in table:
        import difflib

        close = difflib.get_close_matches(tool, list(table), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown tool {tool!r}{hint} (tools: {', '.join(table)})")


@functools.cache
def spec(tool: str, flavour: str) -> EnvSpec:
    check_tool(tool)
    if flavour not in FLAVOURS:
        raise UserError(f"unknown flavour {flavour!r} (flavours: {', '.join(FLAVOURS)})")
    entry = tool_table()[tool]
    lock = SPECS / tool / f"{flavour}.lock.txt"
    try:
        lock_text = lock.read_text()
    except FileNotFoundError:
        raise UserError(f"no pinned requirements for {tool} ({flavour}): {lock} is missing; "
                        "run scripts/lock-envs.py") from None
    return EnvSpec(tool=tool, flavour=flavour, lock_text=lock_text,
                   probe=tuple(entry.get("probe", [tool])),
                   versions=tuple(entry.get("versions", [tool])),
                   stubs=tuple(entry.get("stubs", {}).get(flavour, [])))


# --------------------------------------------------------------------------- places


def home() -> Path:
    configured = os.environ.get("INTERNPIPE_HOME")
    if configured:
        return Path(configured).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "internpipe"


def envs_root() -> Path:
    return home() / "envs"


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise UserError("uv was not found: install internpipe with its dependencies "
                            "(pip install internpipe) or put uv on PATH") from None
        return found


# --------------------------------------------------------------------------- environments


@dataclass(frozen=True)
class Env:
    tool: str
    flavour: str
    id: str
    path: Path
    python: Path
    external: bool = False
    spec: EnvSpec | None = field(default=None, compare=False)

    @property
    def bin(self) -> Path:
        return self.python.parent

    @property
    def name(self) -> str:
        return f"{self.tool}-{self.flavour}-{self.id}"


def external_python(tool: str, configured: dict[str, str] | None = None) -> Path | None:
    """The escape hatch: an existing interpreter for a tool, from the recipe's `tools:` or
    INTERNPIPE_TOOL_<TOOL>=/path/to/python."""
    value = (configured or {}).get(tool) or os.environ.get(
        "INTERNPIPE_TOOL_" + tool.upper().replace("-", "_"))
    if not value:
        return None
    try:
        return Path(value).expanduser()
    except RuntimeError:        # ~nosuchuser: as written, found not executable
        return Path(value)


def env_for(tool: str, flavour: str, configured: dict[str, str] | None = None) -> Env:
    outside = external_python(tool, configured)
    if outside is not None:
        return Env(tool, flavour, "external", outside.parent.parent, outside, external=True)
    s = spec(tool, flavour)
    path = envs_root() / s.name
    return Env(tool, flavour, s.id, path, path / "bin" / "python", spec=s)


def read_marker(env: Env) -> dict[str, Any] | None:
    marker = state.read_json(env.path / MARKER, None)
    return marker if isinstance(marker, dict) else None


def site_packages(env: Env) -> Path:
    return env.path / "lib" / f"python{PYTHON_VERSION}" / "site-packages"


def dists(env: Env) -> list[str]:
    try:
        return sorted(n for n in os.listdir(site_packages(env)) if n.endswith(".dist-info"))
    except OSError:
        return []


def quick_check(env: Env) -> str | None:
    """Cheap check done on every use: None if the env looks whole, else what is wrong.
    (The import probe costs seconds to a minute for some tools: it runs at build time and in
    `env doctor`.)"""
    if env.external:
        return None if os.access(env.python, os.X_OK) else f"{env.python} is not executable"
    marker = read_marker(env)
    if marker is None:
        return "not built" if not env.path.exists() else "half-built (no done-marker)"
    if not os.access(env.python, os.X_OK):
        return f"its interpreter {env.python} is missing"
    if marker.get("dists") != dists(env):
        return "its installed packages differ from what was built"
    for stub in env.spec.stubs if env.spec else ():
        if not (site_packages(env) / stub / "__init__.py").exists():
            return f"its stand-in module {stub} is missing"
    return None


def probe(env: Env, timeout: float = 300) -> dict[str, str]:
    """Import the tool's modules inside the env and return the recorded versions."""
    modules = env.spec.probe if env.spec else tuple(tool_table()[env.tool].get("probe", []))
    versions = env.spec.versions if env.spec else tuple(
        tool_table()[env.tool].get("versions", []))
    code = ("import importlib, json, sys\n"
            "from importlib import metadata\n"
            f"for m in {list(modules)!r}: importlib.import_module(m)\n"
            "out = {}\n"
            f"for d in {list(versions)!r}:\n"
            "    try: out[d] = metadata.version(d)\n"
            "    except metadata.PackageNotFoundError: out[d] = None\n"
            "out['python'] = sys.version.split()[0]\n"
            "print('INTERNPIPE-PROBE ' + json.dumps(out))\n")
    try:
        proc = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True,
                              env=step_environ(env, offline=True), timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvBuildError(f"{env.tool}: health check could not run: {exc}") from None
    for line in proc.stdout.splitlines():
        if line.startswith("INTERNPIPE-PROBE "):
            result: dict[str, str] = json.loads(line.split(" ", 1)[1])
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    raise EnvBuildError(f"{env.tool}: health check failed (importing {', '.join(modules)})",
                        log_tail=tail)


def step_environ(env: Env | None, extra: dict[str, str] | None = None,
                 offline: bool = False) -> dict[str, str]:
    """The environment a tool step runs with: the caller's, minus what would leak another
    Python in, with the tool env's bin first on PATH."""
    environ = {k: v for k, v in os.environ.items() if k not in LEAKY_VARS}
    if env is not None:
        environ["PATH"] = str(env.bin) + os.pathsep + environ.get("PATH", "")
        if not env.external:
            environ["VIRTUAL_ENV"] = str(env.path)
            # Our own env: let each tool cache the bytecode of what it imports (compiling
            # every module at build time costs 10x the install; never caching costs every
            # run seconds of compiling, OpenCompass imports thousands of modules).
            environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ["PYTHONUNBUFFERED"] = "1"
    environ.setdefault("PYTHONNOUSERSITE", "1")
    if offline:
        environ.update(OFFLINE_VARS)
    environ.update(extra or {})
    return environ


def ensure(tool: str, flavour: str, configured: dict[str, str] | None = None,
           progress: Progress | None = None, deep: bool = False) -> Env:
    """The env for a tool, built if missing or broken. Safe to call from many processes.
    `deep` also runs the import probe on an existing env and rebuilds it if that fails."""
    env = env_for(tool, flavour, configured)
    if env.external:
        problem = quick_check(env)
        if problem:
            raise UserError(f"{tool}: the configured interpreter {env.python}: {problem}")
        return env
    if quick_check(env) is None and not deep:
        return env
    from internpipe import envbuild  # only when a build may be needed

    with envbuild.build_lock(env, progress):
        problem = quick_check(env)   # someone else may have built it while we waited
        if problem is None and deep:
            try:
                probe(env)
                return env
            except EnvBuildError as exc:
                problem = f"its health check failed: {exc.message}"
        if problem is None:
            return env
        if progress:
            progress(f"{tool}: building environment {env.name} ({problem})")
        envbuild.build(env, progress)
    return env
