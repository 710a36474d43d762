"""Tool environments: one isolated virtual environment per upstream tool and flavour, built
with uv from the pinned files in `envspecs/`, the way pre-commit builds hook environments.

An environment is keyed by its spec (the lock file, stubs, probe, Python version), lives at
`$INTERNPIPE_HOME/envs/<tool>-<flavour>-<id>/`, is built under a file lock with a re-check
after taking it, health-checked, and marked done last (`.internpipe-env.json`, written with
os.replace). A folder without the marker is half-built and is removed before a rebuild; an
interrupted or failed build removes itself.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from internpipe import state
from internpipe.errors import UserError
from internpipe.fingerprint import digest

SPECS = Path(__file__).parent / "envspecs"
FLAVOURS = ("cpu", "cuda")
PYTHON_VERSION = "3.11"
MARKER = ".internpipe-env.json"
STUB_SOURCE = SPECS / "stub_module.py"
SPEC_FORMAT = 3  # 3: bytecode is written on first import (see step_environ)

# Variables that would make a tool see the caller's Python instead of its own.
LEAKY_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV",
              "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__")
OFFLINE_VARS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "HF_EVALUATE_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1"}
UV_INDEX_VARS = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL",
                 "UV_FIND_LINKS", "UV_NO_INDEX", "UV_OFFLINE", "UV_INDEX_STRATEGY")

Progress = Callable[[str], None]


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


def nvidia_driver() -> str | None:
    """The driver's version line, or None when no NVIDIA driver is loaded."""
    try:
        return Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "nvidia-smi found" if shutil.which("nvidia-smi") else None


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if nvidia_driver() else "cpu"
    if device not in FLAVOURS:
        raise UserError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


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


# --------------------------------------------------------------------------- indexes


def _pip_config() -> dict[str, str]:
    """pip's global/install settings from its config files and PIP_* variables, the way pip
    layers them (later wins). uv reads none of these."""
    files = [Path("/etc/xdg/pip/pip.conf"), Path("/etc/pip.conf"),
             Path.home() / ".pip" / "pip.conf",
             Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "pip" /
             "pip.conf"]
    if os.environ.get("VIRTUAL_ENV"):
        files.append(Path(os.environ["VIRTUAL_ENV"]) / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    settings: dict[str, str] = {}
    for path in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                settings.update({k.replace("_", "-"): v for k, v in parser.items(section)})
    for key in ("index-url", "extra-index-url", "find-links", "no-index"):
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    return settings


def index_settings() -> tuple[list[str], str]:
    """uv arguments for package indexes, and a sentence saying where they came from."""
    given = [v for v in UV_INDEX_VARS if os.environ.get(v)]
    if given:
        return [], "uv's own settings: " + ", ".join(f"{v}={os.environ[v]}" for v in given)
    pip = _pip_config()
    args: list[str] = []
    said: list[str] = []
    if pip.get("index-url"):
        args += ["--index-url", pip["index-url"]]
        said.append(f"index-url {pip['index-url']}")
    for url in pip.get("extra-index-url", "").split():
        args += ["--extra-index-url", url]
        said.append(f"extra-index-url {url}")
    for link in pip.get("find-links", "").split():
        args += ["--find-links", link]
        said.append(f"find-links {link}")
    if pip.get("no-index", "").lower() in ("1", "true", "yes"):
        args.append("--no-index")
        said.append("no-index")
    if not args:
        return [], "uv's default index (no uv or pip index settings found)"
    # pip merges every index it is given; uv's default takes the first index that knows a
    # package, which breaks on partial mirrors. Best-match is what pip users expect.
    args += ["--index-strategy", "unsafe-best-match"]
    return args, "from pip's configuration: " + "; ".join(said)


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
    return Path(value).expanduser() if value else None


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


def _site_packages(env: Env) -> Path:
    return env.path / "lib" / f"python{PYTHON_VERSION}" / "site-packages"


def _dists(env: Env) -> list[str]:
    try:
        return sorted(n for n in os.listdir(_site_packages(env)) if n.endswith(".dist-info"))
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
    if marker.get("dists") != _dists(env):
        return "its installed packages differ from what was built"
    for stub in env.spec.stubs if env.spec else ():
        if not (_site_packages(env) / stub / "__init__.py").exists():
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


@contextlib.contextmanager
def _build_lock(env: Env, progress: Progress | None) -> Iterator[None]:
    lock_path = envs_root() / ".locks" / f"{env.name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if progress:
                progress(f"{env.tool}: another process is building this environment; waiting")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
    with _build_lock(env, progress):
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
        _build(env, progress)
    return env


def _build(env: Env, progress: Progress | None) -> None:
    assert env.spec is not None
    if env.path.exists():
        shutil.rmtree(env.path)
    log_path = envs_root() / f"{env.name}.log"
    uv = uv_binary()
    index_args, _ = index_settings()
    started = time.monotonic()
    try:
        with open(log_path, "w") as log:
            _uv(log, progress, env.tool, "creating the virtual environment",
                [uv, "venv", "--quiet", "--python", _base_python(), str(env.path)])
            _uv(log, progress, env.tool, f"installing {_count(env.spec.lock_text)} pinned packages",
                [uv, "pip", "sync", "--python", str(env.python), str(env.spec.lock_file),
                 *index_args])
        for stub in env.spec.stubs:
            stub_dir = _site_packages(env) / stub
            stub_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(STUB_SOURCE, stub_dir / "__init__.py")
        installed_at = time.monotonic()
        if progress:
            progress(f"{env.tool}: health check (importing {env.spec.probe[0]})")
        versions = probe(env)
        done = time.monotonic()
        marker = {"tool": env.tool, "flavour": env.flavour, "id": env.id,
                  "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "build_seconds": round(done - started, 2),
                  "install_seconds": round(installed_at - started, 2),
                  "probe_seconds": round(done - installed_at, 2),
                  "versions": versions, "dists": _dists(env)}
        state.write_json(env.path / MARKER, marker)  # last: the env now counts as done
    except BaseException as exc:
        shutil.rmtree(env.path, ignore_errors=True)
        if isinstance(exc, EnvBuildError):
            exc.log_path = exc.log_path or log_path
            raise
        if isinstance(exc, subprocess.CalledProcessError):
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise EnvBuildError(f"{env.tool}: building the environment failed",
                                log_path, tail) from None
        raise


def _count(lock_text: str) -> int:
    return sum(1 for line in lock_text.splitlines() if line and not line.startswith("#"))


def _uv(log: Any, progress: Progress | None, tool: str, what: str, cmd: list[str]) -> None:
    if progress:
        progress(f"{tool}: {what}")
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    environ = {k: v for k, v in os.environ.items() if k not in LEAKY_VARS}
    from internpipe.proc import die_with_parent

    subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=environ, check=True,
                   preexec_fn=die_with_parent)


def _base_python() -> str:
    """A Python 3.11 for new envs: ours when it is 3.11, else whatever uv finds."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
        return getattr(sys, "_base_executable", sys.executable)
    return PYTHON_VERSION


# --------------------------------------------------------------------------- listing


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
        rows.append({"tool": tool, "flavour": flavour, "id": rest, "path": str(path),
                     "state": "ready" if isinstance(marker, dict) else "half-built",
                     "current": current,
                     "versions": (marker or {}).get("versions", {}) if isinstance(
                         marker, dict) else {}})
    return rows


def remove(paths: list[Path]) -> None:
    for path in paths:
        # The marker goes first, so an interrupted removal leaves a folder that is not "done".
        with contextlib.suppress(FileNotFoundError):
            (path / MARKER).unlink()
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (path.parent / f"{path.name}.log").unlink()
