"""The pure parts of `internpipe chat`: the request it sends, the URL it posts to, the access
key of a page served beyond this machine, what a recipe target names."""

from __future__ import annotations

from pathlib import Path

import pytest

from internpipe.chat import targets, web
from internpipe.errors import UserError
from internpipe.workers import chat_stream


@pytest.mark.parametrize("base", ["http://h:1/v1", "http://h:1/v1/", "http://h:1",
                                  "http://h:1/v1/chat/completions", "http://h:1/v1/completions"])
def test_every_form_of_a_server_url_posts_to_chat_completions(base: str) -> None:
    assert chat_stream.chat_url(base) == "http://h:1/v1/chat/completions"


def test_the_request_carries_only_the_settings_a_server_knows() -> None:
    body = chat_stream.request_body("m", [{"role": "user", "content": "hi"}],
                                    {"temperature": 0.5, "top_p": None, "max_tokens": 9,
                                     "seed": 3})
    assert body == {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                    "stream": True, "temperature": 0.5, "max_tokens": 9}


def test_a_page_on_this_machine_needs_no_key_another_host_does() -> None:
    assert web.access_key("127.0.0.1", {}) == (None, [])
    made, lines = web.access_key("0.0.0.0", {})
    assert made and len(made) >= 20 and any(made in line for line in lines)
    assert lines[0].startswith("warning: the chat page listens on 0.0.0.0")
    chosen, lines = web.access_key("10.0.0.5", {web.KEY_VAR: "mine"})
    assert chosen == "mine" and not any("mine" in line for line in lines)


def test_a_recipe_target_with_or_without_a_stage(tmp_path: Path) -> None:
    r = tmp_path / "r.yaml"
    r.write_text("version: 1\n")
    assert targets.split_recipe(str(r)) == (r, None)
    assert targets.split_recipe(f"{r}:finetune") == (r, "finetune")
    assert targets.split_recipe(str(tmp_path)) is None
    assert targets.split_recipe("modelscope:o/n") is None
    with pytest.raises(UserError, match="no such recipe file"):
        targets.split_recipe(str(tmp_path / "gone.yaml"))


def test_the_pages_agent_mode_is_set_up_as_the_recipes_agent_stage(tmp_path: Path) -> None:
    from internpipe import pipeline
    from internpipe.cli.chat import _agent_spec

    r = tmp_path / "r.yaml"
    r.write_text("version: 1\nstages:\n  agent:\n    url: http://127.0.0.1:9/v1\n"
                 "    model_name: m\n    tools: [Calculator]\n    meta_prompt: Be Bajie.\n"
                 "    plugin_prompt: You can call the Calculator tool.\n"
                 "    tool_result_role: user\n    max_turns: 3\n    queries: [hi]\n")
    system, agent = targets.recipe_persona(pipeline.load(r, None))
    assert system == "Be Bajie."
    served = targets.Target("r:deploy", {"base_url": "http://127.0.0.1:5/v1", "model": "/m",
                                         "engine": "transformers"}, system, agent)
    spec = _agent_spec([served], None)
    assert spec["chat_url"] == "http://127.0.0.1:5/v1/chat/completions" and spec["model"] == "/m"
    assert (spec["tools"], spec["plugin_prompt"], spec["tool_result_role"],
            spec["max_turns"], spec["meta_prompt"]) == (
        ["Calculator"], "You can call the Calculator tool.", "user", 3, "Be Bajie.")
    assert spec["keep_special_tokens"] is False          # transformers serve rejects it
    plain = _agent_spec([targets.Target("m", {"base_url": "http://h:1/v1", "model": "m"})],
                        ["PythonInterpreter"])
    assert plain["tools"] == ["PythonInterpreter"] and plain["meta_prompt"] is None
