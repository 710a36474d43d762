"""The tiny vision-language model served by the CPU engine (`transformers serve`, as deploy
serves it) and asked about generated images through the terminal chat (a pseudo-terminal):
`--image` for the first question, `/image` for a later one. `--image` with `--query`:
tests/cli/test_chat_images.py. The web page's upload:
test_web_chat.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import TINY_VLM, cli_env
from support.pngs import write_png

pytestmark = pytest.mark.integration


def test_the_served_tiny_vlm_sees_the_image(tmp_path: Path) -> None:
    import pexpect

    write_png(tmp_path / "red.png", "red", "yellow")
    write_png(tmp_path / "blue.png", "blue", "white")
    child = pexpect.spawn(sys.executable, ["-m", "internpipe", "chat", str(TINY_VLM),
                                           "--image", "red.png", "--max-tokens", "8"],
                          cwd=str(tmp_path), env=cli_env(), encoding="utf-8", timeout=300)
    answers = []
    try:
        child.expect("you> ")
        for image in ("red.png", "blue.png"):
            if image != "red.png":               # --image gave the first one
                child.sendline("/reset")
                child.sendline(f"/image {image}")
                child.expect(r"\(1 image\(s\) go with the next question\)")
            child.sendline("What colour is the picture?")
            child.expect("assistant> ")
            child.expect("you> ")
            answers.append(child.before.strip())
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    # random weights, greedy decoding: the answer is whatever the model makes of the image's
    # 4 tokens, so two different pictures give two different answers
    assert all(answers) and answers[0] != answers[1], answers

