"""Field types shared by the recipe's models, for values that reach a command line, a batch
script, a generated config or a request.

A recipe string is one line of plain text (`Line`) unless it is a text sent to a model
(`Text`: prompts, queries, system texts), which may hold newlines and tabs. Control
characters are refused in both: a newline in `resources.mem` would become a shell line of a
Slurm batch script, a NUL cannot be an argv item. Every string field of every Options model
uses one of these types (tests/unit/test_recipe_fields.py walks them).
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# In a text: the same but tab, newline and carriage return, and U+2028/U+2029 (text).
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOST = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _refuse_control(value: str, pattern: re.Pattern[str], what: str) -> str:
    found = pattern.search(value)
    if found:
        raise ValueError(f"contains the control character {found.group()!r} (character "
                         f"{found.start() + 1}); {what}")
    return value


def one_line(value: str) -> str:
    return _refuse_control(value, _CONTROL, "this value reaches a command line or a script, "
                                            "so it must be one line of plain text")


def text(value: str) -> str:
    return _refuse_control(value, _CONTROL_IN_TEXT, "a text may hold newlines and tabs, no "
                                                    "other control characters")


def env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits "
                         "and _, not starting with a digit)")
    return value


def host(value: str) -> str:
    if not _HOST.match(value):
        raise ValueError(f"{value!r} is not a host name or IP address")
    return value


def url(value: str) -> str:
    one_line(value)
    if any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a URL: it contains a space")
    try:
        parts = urlsplit(value)
        port = parts.port          # ValueError for a port outside 0-65535
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL (http://HOST:PORT/…)")
    if port == 0:
        raise ValueError(f"{value!r}: port 0 is not a port a server listens on")
    return value


Line = Annotated[str, AfterValidator(one_line)]
Text = Annotated[str, AfterValidator(text)]
EnvName = Annotated[str, AfterValidator(env_name)]
Host = Annotated[str, AfterValidator(host)]
Url = Annotated[str, AfterValidator(url)]
