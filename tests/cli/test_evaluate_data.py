"""The evaluate stage's checks before anything launches: custom data files (file:line,
exit 2), options, and the OpenCompass config and command it plans. No tool env needed."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from support.evalsets import write_mcq, write_qa


def recipe(tmp: Path, datasets: str, extra: str = "") -> Path:
    write_qa(tmp / "qa.jsonl")
    write_mcq(tmp / "mcq.jsonl")
    return write(tmp / "r.yaml", f"""\
version: 1
name: ev
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  evaluate:
    datasets: {datasets}
{extra}""")


BAD = [
    ("qa", '{"question": "Who?"}', 'missing \'answer\''),
    ("qa", '{"question": "", "answer": "x"}', '"question" must be a non-empty string'),
    ("qa", "not json", "invalid JSON"),
    ("qa", "", "blank line"),
    ("mcq", '{"question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "E"}',
     '"answer" must be one of A, B, C, D'),
    ("mcq", '{"question": "q", "A": "a", "C": "c", "D": "d", "answer": "A"}', "missing 'B'"),
    ("mcq", '["q", "a"]', "expected a JSON object"),
]


@pytest.mark.parametrize(("kind", "line", "words"), BAD)
def test_malformed_eval_file_is_reported_with_its_line(tmp_path: Path, kind: str, line: str,
                                                        words: str) -> None:
    r = recipe(tmp_path, f"[{{path: {kind}.jsonl, type: {kind}}}]")
    data = tmp_path / f"{kind}.jsonl"
    rows = data.read_text().splitlines()
    rows.insert(1, line)                          # the bad row is on line 2
    data.write_text("\n".join(rows) + "\n")
    for command in ("plan", "run"):
        result = cli(command, str(r))
        assert result.returncode == 2, result.stderr
        assert f"{kind}.jsonl:2:" in result.stderr and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / ".internpipe/ev/stages/evaluate").exists()


def test_every_problem_at_once_and_the_prompt_is_checked(tmp_path: Path) -> None:
    r = recipe(tmp_path, "[{path: qa.jsonl, prompt: 'Q: {questoin}'}, "
                         "{path: mcq.jsonl, type: mcq}]")
    (tmp_path / "mcq.jsonl").write_text('{"question": "q", "A": "a", "answer": "A"}\n')
    result = cli("plan", str(r))
    assert result.returncode == 2
    assert "{questoin} is not an input column" in result.stderr
    assert "mcq.jsonl:1:" in result.stderr and "at least two" in result.stderr
    gone = recipe(tmp_path, "[{path: gone.jsonl}]")
    result = cli("plan", str(gone))
    assert result.returncode == 2 and "gone.jsonl does not exist" in result.stderr


@pytest.mark.parametrize(("options", "words"), [
    ("datasets: [{path: qa.jsonl, type: qa, metric: option}]", "not one for qa data"),
    ("datasets: []", "at least 1"),
    ("datasets: [qa.jsonl]\n    backend: turbo", "backend"),
    ("datasets: [{path: qa.jsonl}]\n    limit: 0", "limit"),
])
def test_bad_options(tmp_path: Path, options: str, words: str) -> None:
    write_qa(tmp_path / "qa.jsonl")
    r = write(tmp_path / "r.yaml", f"version: 1\nname: ev\nstages:\n  download:\n    "
                                   f"source: {TINY_MODEL}\n  evaluate:\n    {options}\n")
    result = cli("validate", str(r))
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "r.yaml:" in result.stderr


def test_lmdeploy_backend_needs_cuda(tmp_path: Path) -> None:
    r = recipe(tmp_path, "[{path: qa.jsonl}]", "    backend: lmdeploy\n")
    result = cli("plan", str(r))
    assert result.returncode == 2 and "needs CUDA" in result.stderr


def test_plan_generates_a_literal_config_and_the_opencompass_command(tmp_path: Path) -> None:
    r = recipe(tmp_path, "[{path: qa.jsonl, prompt: 'Answer: {question}'}, "
                         "{path: mcq.jsonl, type: mcq, name: quiz}]",
               "    limit: 2\n    endpoints: [{url: 'http://127.0.0.1:9/v1/chat/completions', "
               "model: m, tokenizer: " + str(TINY_MODEL) + "}]\n    models: [download]\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stderr
    stage = json.loads(result.stdout)["stages"][1]
    argv = stage["commands"][0]["argv"]
    assert argv[1].endswith("/opencompass_launch.py") and "--debug" in argv and "-r" not in argv
    assert "9 custom items" in " ".join(stage["reasons"])

    # The config the run will write, rendered the same way: literal values and classes.
    from internpipe import recipe as recipe_mod
    from internpipe.plan import make_plan
    from internpipe.stages.evaluate import config as evaluate

    rec = recipe_mod.load(r, [])
    plan = make_plan(rec, lambda p: "h", "cpu")
    text = plan.stages[1].steps_preview[0].files["config.py"]
    tree = ast.parse(text)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    assert imported == {"HuggingFacewithChatTemplate", "OpenAISDKStreaming", "RougeEvaluator"}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)}
    assert calls == {"dict"}
    assert "openai_api_base='http://127.0.0.1:9/v1'" in text
    assert f"tokenizer_path='{TINY_MODEL}'" in text
    # Braces in strings are escapes, which mmengine's `{{…}}` substitutions cannot match.
    assert "test_range='[0:2]'" in text and "human_prompt='Answer: \\x7bquestion\\x7d'" in text
    prompts = [ast.literal_eval(n.value) for n in ast.walk(tree)
               if isinstance(n, ast.keyword) and n.arg == "human_prompt"]
    assert prompts == ["Answer: {question}"]
    assert "abbr='quiz'" in text and "num_gpus=0" in text
    assert evaluate.base_url("http://h:1") == "http://h:1/v1"
    assert evaluate.base_url("http://h:1/v1/completions") == "http://h:1/v1"
