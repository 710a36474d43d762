"""`internpipe chat --image`: images go with the first question as OpenAI image parts (a
local file inside the request as a data: URL, a URL as it is), and a file that is no image is
a usage error before anything is served. Against the streaming test server; the served tiny
vision-language model: tests/integration/test_vlm_chat.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from test_chat_terminal import fake_llm, requests_seen  # noqa: F401  (the fixture)

from conftest import cli

PNG = base64.b64decode(  # a 1x1 red PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def test_images_go_with_the_first_question_as_image_parts(tmp_path: Path,
                                                          fake_llm: str) -> None:  # noqa: F811
    (tmp_path / "red.png").write_bytes(PNG)
    url = "http://127.0.0.1:9/cat.jpg"
    result = cli("chat", fake_llm, "--model-name", "fake", "--image", "red.png",
                 "--image", url, "-q", "What is it?", "-q", "what did I say?", "--json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = requests_seen(tmp_path)
    content = first["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is it?"}
    assert content[1]["image_url"]["url"] == \
        "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert content[2] == {"type": "image_url", "image_url": {"url": url}}
    # the next question is text only; the first turn keeps its images in the history
    assert second["messages"][-1]["content"] == "what did I say?"
    assert second["messages"][0]["content"] == content
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 2


@pytest.mark.parametrize(("name", "data", "why"), [
    ("notes.png", b"just text", "not a PNG, JPEG, GIF, WebP or BMP image"),
    ("missing.jpg", None, "no such file"),
])
def test_a_file_that_is_no_image_is_refused_before_serving(tmp_path: Path, name: str,
                                                           data: bytes | None,
                                                           why: str) -> None:
    if data is not None:
        (tmp_path / name).write_bytes(data)
    result = cli("chat", "http://127.0.0.1:9/v1", "--model-name", "x", "--image", name,
                 "-q", "hi", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"--image: {name}: {why}" in result.stderr
    assert "Traceback" not in result.stderr


def test_image_is_refused_with_the_web_page(tmp_path: Path) -> None:
    result = cli("chat", "http://127.0.0.1:9/v1", "--model-name", "x", "--image", "a.png",
                 "--web", cwd=tmp_path)
    assert result.returncode == 2
    assert "the web page uploads images" in result.stderr
