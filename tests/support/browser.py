"""What the browser tests share: Debian's Chromium driven by Playwright (a dev extra), and
where their screenshots go ($INTERNPIPE_TEST_ARTIFACTS, default test-artifacts/)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

ARTIFACTS = Path(os.environ.get("INTERNPIPE_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def browser_kit() -> tuple[Any, str]:
    """Playwright and the system's Chromium; skipped (failed under INTERNPIPE_CI) without."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        missing = "chromium" if chromium is None else "playwright (pip install -e .[dev])"
        if os.environ.get("INTERNPIPE_CI"):
            pytest.fail(f"{missing} is required here (INTERNPIPE_CI) but missing")
        pytest.skip(f"{missing} is not installed")
    return sync_playwright, chromium
