"""Start-up and latency of `internpipe chat` on a model folder (default the tiny model),
served for the chat by the CPU engine:

    terminal   `chat MODEL -q Q --json`: the first token's and the whole answer's seconds,
               as the chat measured them, and the command's wall time (serving included)
    web        `chat MODEL --web`: seconds from the command to a usable page (the chat box
               shown in headless Chromium), then from Enter to the first text of the answer
               on the page and to the whole answer

    python bench/chat_web.py [--model DIR] [--question Q]

Needs Playwright and the system's Chromium (as the browser tests do) and the tool envs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def terminal(model: str, question: str, cwd: Path) -> None:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "internpipe", "chat", model, "-q", question,
                          "--json", "--max-tokens", "32"], cwd=cwd, env=ENV,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    answer = json.loads(out.splitlines()[-1])
    print(f"terminal: command {time.monotonic() - t0:.1f}s (serving included); first token "
          f"{answer['first_token_seconds']}s, answer {answer['seconds']}s")


def web(model: str, question: str, cwd: Path) -> None:
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    chat = subprocess.Popen([sys.executable, "-m", "internpipe", "chat", model, "--web",
                             "--port", "auto", "--max-tokens", "32"], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert chat.stdout is not None
        url = chat.stdout.readline().split()[1]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"),
                                         args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(url)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=120_000)
            usable = time.monotonic() - t0
            box.fill(question)
            t1 = time.monotonic()
            box.press("Enter")
            answer = page.get_by_test_id("stChatMessage").nth(1)
            answer.wait_for(timeout=60_000)
            while not answer.inner_text().strip():
                time.sleep(0.01)
            first = time.monotonic() - t1
            page.wait_for_function("() => !document.querySelector("
                                   "'[data-testid=stStatusWidget]')", timeout=60_000)
            whole = time.monotonic() - t1
            browser.close()
        print(f"web: usable page {usable:.1f}s after the command (serving included); "
              f"first text {first:.2f}s, answer {whole:.2f}s after Enter")
    finally:
        chat.send_signal(signal.SIGINT)
        chat.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "recipes/models/tiny-internlm2"))
    parser.add_argument("--question", default="Who are you?")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        terminal(args.model, args.question, Path(tmp))
        web(args.model, args.question, Path(tmp))


if __name__ == "__main__":
    main()
