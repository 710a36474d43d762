"""The web chat's image upload in real headless Chromium: the tiny vision-language model
served for the page by the CPU engine, a generated picture attached in the chat box, the
question sent, the answer streamed into the page; no console error. The screenshot goes to
$INTERNPIPE_TEST_ARTIFACTS/web-chat/4-image.png."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from test_web_chat import _processes_using, web_chat

from conftest import TINY_VLM
from support.browser import ARTIFACTS, browser_kit
from support.pngs import write_png

pytestmark = pytest.mark.integration


def test_an_uploaded_image_is_asked_about_in_headless_chromium(tmp_path: Path) -> None:
    sync_playwright, chromium = browser_kit()
    shots = ARTIFACTS / "web-chat"
    shots.mkdir(parents=True, exist_ok=True)
    picture = write_png(tmp_path / "flag.png", "red", "yellow")
    problems: list[str] = []
    with web_chat(tmp_path, str(TINY_VLM), "--max-tokens", "12") as (chat, page_url, _), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(page_url)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=60_000)
        page.get_by_test_id("stChatInput").locator("input[type=file]").set_input_files(
            str(picture))
        page.get_by_text("flag.png").wait_for(timeout=30_000)     # attached in the box
        box.fill("What is in the picture?")
        box.press("Enter")
        user = page.get_by_test_id("stChatMessage").first
        user.get_by_role("img").wait_for(timeout=30_000)          # the question shows it
        answer = page.get_by_test_id("stChatMessage").nth(1) \
            .get_by_test_id("stMarkdownContainer")
        answer.wait_for(timeout=60_000)
        deadline = time.monotonic() + 60
        while not answer.inner_text().strip():
            assert time.monotonic() < deadline, "the model's answer stayed empty"
            time.sleep(0.5)
        print("answer:", answer.inner_text())
        assert page.get_by_test_id("stAlert").count() == 0, page.inner_text("body")
        page.screenshot(path=str(shots / "4-image.png"), full_page=True)
        browser.close()
        chat.send_signal(signal.SIGINT)
        assert chat.wait(60) == 0
    assert problems == [], problems
    assert _processes_using(tmp_path / ".internpipe") == []
