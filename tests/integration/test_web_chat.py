"""`internpipe chat --web` in real headless Chromium (Debian's, driven by Playwright): the
page answers with a streamed reply and the persona, agent mode shows a real AgentLego
Calculator call and its result, compare mode puts a test server (deterministic text) beside
the tiny model served for the chat; the page logs no console error; Ctrl-C stops the page
and the server the chat started. Screenshots go to $INTERNPIPE_TEST_ARTIFACTS (default
test-artifacts/) as the tests' artifacts."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TESTS, TINY_MODEL, cli_env
from internpipe import services
from support.browser import ARTIFACTS, browser_kit

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def fake_llm(cwd: Path) -> Iterator[str]:
    port = services.free_port()
    server = subprocess.Popen([sys.executable, str(TESTS / "support" / "fake_llm.py"),
                               str(port)], cwd=cwd)
    try:
        deadline = time.monotonic() + 30
        while not services.healthy(f"http://127.0.0.1:{port}/health"):
            assert time.monotonic() < deadline, "the test server never answered"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.kill()
        server.wait()


@contextlib.contextmanager
def web_chat(cwd: Path, *args: str, **env: str) -> Iterator[tuple[subprocess.Popen[str], str,
                                                                  float]]:
    """`internpipe chat … --web --port auto`: (the process, the page's URL, seconds from the
    command to its URL line)."""
    t0 = time.monotonic()
    chat = subprocess.Popen([sys.executable, "-m", "internpipe", "chat", *args, "--web",
                             "--port", "auto"], cwd=cwd, env=cli_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert chat.stdout is not None
        line = chat.stdout.readline()
        assert line.startswith("open http://127.0.0.1:"), (line, chat.stderr and
                                                           chat.stderr.read()[-3000:])
        yield chat, line.split()[1], time.monotonic() - t0
    finally:
        if chat.poll() is None:
            chat.send_signal(signal.SIGINT)
            chat.wait(60)


def _processes_using(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and str(folder).encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
    return found


def test_chat_agent_and_compare_in_headless_chromium(tmp_path: Path) -> None:
    sync_playwright, chromium = browser_kit()
    shots = ARTIFACTS / "web-chat"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with fake_llm(tmp_path) as url, web_chat(
            tmp_path, url, "--model-name", "fake", "-S", "Zhu Bajie",
            "--compare", str(TINY_MODEL), "--max-tokens", "24") as (chat, page_url, up), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        t0 = time.monotonic()
        page.goto(page_url)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=60_000)
        usable = up + time.monotonic() - t0
        assert page.get_by_text("Deploy", exact=True).count() == 0   # Streamlit's own cloud

        t0 = time.monotonic()
        box.fill("who are you?")
        box.press("Enter")
        page.get_by_text("I am Zhu Bajie (model fake).").wait_for(timeout=30_000)
        answered = time.monotonic() - t0
        page.screenshot(path=str(shots / "1-chat.png"), full_page=True)

        box.fill("slow:40")                     # Streamlit's Stop ends an answer mid-way
        box.press("Enter")
        page.get_by_text("w3").wait_for(timeout=30_000)
        page.get_by_test_id("stStatusWidget").get_by_text("Stop").click()
        deadline = time.monotonic() + 10
        while not (tmp_path / "stopped.txt").exists():    # the server saw the stream closed
            assert time.monotonic() < deadline, "the stopped answer's stream stayed open"
            time.sleep(0.2)

        page.get_by_text("Agent (tools)").click()
        box.fill("calc:6 * 7")
        box.press("Enter")
        page.get_by_text("↳ 42").wait_for(timeout=60_000)       # the real Calculator's result
        page.get_by_text("The result is 42.").wait_for(timeout=30_000)
        assert page.get_by_text("⚙ Calculator").count() >= 1
        page.screenshot(path=str(shots / "2-agent.png"), full_page=True)

        page.get_by_text("Compare two models").click()
        box.fill("hello")
        box.press("Enter")
        page.get_by_text("Hello, I am a test model.").last.wait_for(timeout=30_000)
        tiny = page.get_by_test_id("stColumn").filter(has_text="tiny-internlm2").last
        tiny.wait_for(timeout=60_000)
        deadline = time.monotonic() + 60          # the tiny model's streamed answer
        while len(tiny.inner_text().strip()) <= len("tiny-internlm2"):
            assert time.monotonic() < deadline, "the tiny model's column stayed empty"
            time.sleep(0.5)
        page.screenshot(path=str(shots / "3-compare.png"), full_page=True)
        browser.close()
        (shots / "timings.json").write_text(json.dumps(
            {"command_to_usable_page_s": round(usable, 2),
             "question_to_answer_s": round(answered, 2)}) + "\n")
        print(f"page usable {usable:.1f}s after the command; answer in {answered:.2f}s")

        chat.send_signal(signal.SIGINT)              # Ctrl-C: page and tiny server stop
        assert chat.wait(60) == 0
    assert problems == [], problems
    assert _processes_using(tmp_path / ".internpipe") == []
    assert not services.alive(json.loads((tmp_path / ".internpipe/chat-compare/stages/deploy/"
                                           "work/service.json").read_text())["pid"])


def test_another_host_warns_and_asks_for_the_access_key(tmp_path: Path) -> None:
    sync_playwright, chromium = browser_kit()
    with fake_llm(tmp_path) as url, web_chat(tmp_path, url, "--model-name", "fake",
                                             "--host", "0.0.0.0",
                                             INTERNPIPE_CHAT_KEY="k3y-for-test") as (
            chat, page_url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_url)
        page.get_by_text("This chat needs its access key").wait_for(timeout=60_000)
        assert page.get_by_test_id("stChatInputTextArea").count() == 0
        page.goto(page_url + "?key=wrong")
        page.get_by_text("This chat needs its access key").wait_for(timeout=30_000)
        page.goto(page_url + "?key=k3y-for-test")
        page.get_by_test_id("stChatInputTextArea").wait_for(timeout=30_000)
        browser.close()
        chat.send_signal(signal.SIGINT)
        assert chat.wait(60) == 0
        assert chat.stderr is not None
        err = chat.stderr.read()
    assert "warning: the chat page listens on 0.0.0.0" in err
    assert "k3y-for-test" not in err                  # a chosen key is never printed
    log = (tmp_path / ".internpipe/chat-web/web.log").read_text()
    assert "k3y-for-test" not in log
