"""Small text helpers shared by the report's HTML modules. Pure."""

from __future__ import annotations

import html
from typing import Any


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def mark(passed: bool | None, none: str = "not measurable") -> str:
    """A pass/fail mark (None: nothing to judge, said as `none`)."""
    if passed is None:
        return f"<span class=dim>{esc(none)}</span>"
    return "<span class='ok mark'>✔ pass</span>" if passed else \
        "<span class='bad mark'>✘ fail</span>"
