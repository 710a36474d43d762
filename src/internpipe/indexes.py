"""Package indexes for uv: the index settings that tool environments are built (and locked)
with.

Users of internpipe configure their mirror, extra index or local wheel folder for pip
(pip.conf, PIP_INDEX_URL, ...), but uv reads none of pip's settings: left alone, an env build
would go to uv's default index and fail on a machine that only reaches a mirror. So when uv's
own UV_* index variables are unset, pip's configuration is read the way pip layers it and
translated into uv command-line arguments.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

# uv's own index settings: when any is set, uv is left to read them and pip's are ignored.
UV_INDEX_VARS = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL",
                 "UV_FIND_LINKS", "UV_NO_INDEX", "UV_OFFLINE", "UV_INDEX_STRATEGY")


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
