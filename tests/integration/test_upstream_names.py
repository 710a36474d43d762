"""The names internpipe checks recipes against, shipped as data, are the installed tools'
own: XTuner 0.2.0's prompt templates, AgentLego 0.2.0's tools and the Lagent actions the
agent worker builds (read from the tool envs' files, not imported); and with OpenCompass's
env built, `validate` checks the built-in dataset names too, with the rest, at their line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe import envs
from internpipe.stages.agent.tools import AGENTLEGO_TOOLS, LAGENT_ACTIONS
from internpipe.stages.finetune.templates import FROM_CHAT_TEMPLATE, XTUNER_TEMPLATES

pytestmark = pytest.mark.integration


def _module(tool: str, *parts: str) -> ast.Module:
    path = envs.site_packages(envs.ensure(tool, "cpu")).joinpath(*parts)
    return ast.parse(path.read_text(encoding="utf-8"))


def _assigned(tree: ast.Module, name: str) -> ast.expr:
    return next(n.value for n in tree.body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == name for t in n.targets))


def test_xtuner_templates_are_xtuners_own() -> None:
    call = _assigned(_module("xtuner", "xtuner", "utils", "templates.py"), "PROMPT_TEMPLATE")
    assert isinstance(call, ast.Call)
    assert tuple(k.arg for k in call.keywords) == XTUNER_TEMPLATES
    assert set(FROM_CHAT_TEMPLATE.values()) <= set(XTUNER_TEMPLATES)


def test_agent_tools_are_agentlegos_and_lagents_own() -> None:
    exported = ast.literal_eval(_assigned(_module("agent", "agentlego", "tools",
                                                  "__init__.py"), "__all__"))
    assert set(AGENTLEGO_TOOLS) == set(exported) - {"BaseTool", "make_tool"}
    actions = ast.literal_eval(_assigned(_module("agent", "lagent", "actions", "__init__.py"),
                                         "__all__"))
    assert set(LAGENT_ACTIONS) <= set(actions)


def test_validate_checks_builtin_dataset_names_with_everything_else(tmp_path: Path) -> None:
    envs.ensure("opencompass", "cpu")
    write(tmp_path / "qa.jsonl", '{"question": "q", "answer": "a"}\n')
    r = write(tmp_path / "r.yaml", f"""\
version: 1
name: names
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  evaluate:
    datasets:
      - gsm8k_gne
      - {{path: qa.jsonl, prompt: "{{questoin}}"}}
  deploy:
    port: 0
""")
    result = cli("validate", str(r))
    assert result.returncode == 2, result.stderr
    assert "r.yaml:9: stages.evaluate.datasets[0]: 'gsm8k_gne' is neither a data file nor " \
           "an OpenCompass dataset config; did you mean gsm8k_gen" in result.stderr, \
        result.stderr
    assert "r.yaml:10: stages.evaluate.datasets[1].prompt: {questoin}" in result.stderr
    assert "r.yaml:12: stages.deploy.port:" in result.stderr
