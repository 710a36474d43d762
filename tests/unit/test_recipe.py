from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from internpipe import recipe
from internpipe.errors import RecipeError, UserError

GOOD = """\
version: 1
name: demo
stages:
  download:
    source: ./m
  finetune:
    data: d.jsonl
    epochs: 2
  evaluate:
    datasets: [ceval_gen]
  quantize: {}
  deploy:
    model: finetune
  agent:
    queries: ["What is 3.5 * 12?"]
"""


def parse(text: str, overrides: list[str] | None = None, name: str = "r.yaml") -> recipe.Recipe:
    return recipe.parse(text.encode(), Path("/tmp") / name, overrides or [])


def test_good_recipe_resolves_inputs_and_order() -> None:
    r = parse(GOOD)
    assert r.name == "demo"
    assert r.order == ["download", "finetune", "evaluate", "quantize", "deploy", "agent"]
    assert r.stages["finetune"].inputs == {"model": ["download"]}
    # evaluate defaults to the base model and the newest model before it
    assert r.stages["evaluate"].inputs == {"models": ["download", "finetune"]}
    assert r.stages["quantize"].inputs == {"model": ["finetune"]}
    assert r.stages["deploy"].inputs == {"model": ["finetune"]}
    assert r.stages["agent"].inputs == {"endpoint": ["deploy"]}
    assert r.workdir == Path("/tmp/.internpipe/demo")


def test_uses_gives_a_second_stage_of_a_kind() -> None:
    r = parse(GOOD + "  eval_served:\n    uses: evaluate\n    models: [deploy]\n"
                     "    datasets: [gsm8k_gen]\n")
    assert r.stages["eval_served"].kind == "evaluate"
    assert r.stages["eval_served"].inputs == {"models": ["deploy"]}


def test_forward_reference_reorders() -> None:
    text = ("version: 1\nstages:\n  a:\n    uses: transform\n    model: b\n"
            "  b:\n    uses: source\n")
    r = parse(text)
    assert r.order == ["b", "a"]


def test_agent_with_url_needs_no_deploy_stage() -> None:
    r = parse("version: 1\nstages:\n  agent:\n    url: http://127.0.0.1:1/v1\n")
    assert r.stages["agent"].inputs == {"endpoint": []}


def test_default_name_from_file() -> None:
    r = parse("version: 1\nstages:\n  source: {}\n", name="My Recipe.yaml")
    assert r.name == "my-recipe"


def test_set_overrides_types_and_new_keys() -> None:
    r = parse(GOOD, ["stages.finetune.epochs=5", "stages.finetune.lora.r=8",
                     "stages.evaluate.datasets=[a_gen, b_gen]", "device=cpu"])
    opts = r.stages["finetune"].options
    assert opts.epochs == 5  # type: ignore[attr-defined]
    assert opts.lora.r == 8  # type: ignore[attr-defined]
    assert r.stages["evaluate"].options.datasets == ["a_gen", "b_gen"]  # type: ignore[attr-defined]
    assert r.device == "cpu"


def test_set_errors_name_the_override() -> None:
    with pytest.raises(RecipeError) as info:
        parse(GOOD, ["stages.finetune.epochs=lots"])
    (problem,) = info.value.problems
    assert problem.file == "--set stages.finetune.epochs"
    assert "integer" in problem.message


@pytest.mark.parametrize("bad", ["noequals", "=3", "stages..x=1", "name.x=1"])
def test_set_malformed(bad: str) -> None:
    with pytest.raises(UserError):
        parse(GOOD, [bad])


def test_every_problem_reported_at_once() -> None:
    text = ("version: 3\nnmae: x\nstages:\n  download:\n    sorce: x\n"
            "  finetune:\n    data: d\n    epochs: -1\n  deploy:\n    model: nope\n")
    with pytest.raises(RecipeError) as info:
        parse(text)
    lines = sorted(p.line or 0 for p in info.value.problems)
    assert lines == [1, 2, 4, 5, 8, 10], info.value.problems  # 4: source is missing


def test_json_schema_has_every_kind() -> None:
    schema = recipe.json_schema()
    json.dumps(schema)
    stage_props = schema["properties"]["stages"]["properties"]
    for kind in ("download", "finetune", "evaluate", "quantize", "deploy", "agent"):
        assert kind in stage_props
        assert f"stage_{kind}" in schema["$defs"]
    assert schema["$defs"]["stage_finetune"]["additionalProperties"] is False


# ---------------------------------------------------------------- fuzz: never a crash

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
    st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.sampled_from(["version", "name", "stages", "download", "finetune",
                                     "source", "data", "uses", "model", "epochs", "lora", "r",
                                     "resources", "device", "x"]) | st.text(max_size=6),
                    children, max_size=5),
    max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=yaml_values)
def test_fuzz_structures_only_raise_user_errors(value: object) -> None:
    text = yaml.safe_dump(value, allow_unicode=True)
    try:
        parse(text)
    except UserError as exc:
        assert exc.problems or exc.message
        for p in exc.problems:
            assert p.file


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_bytes_only_raise_user_errors(data: bytes) -> None:
    try:
        recipe.parse(data, Path("/tmp/f.yaml"), [])
    except UserError as exc:
        assert exc.problems or exc.message


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(min_value=0, max_value=len(GOOD)),
       junk=st.sampled_from(["", ":", "- ", "[", "{", "\t", "'", '"', "&a", "*a", "!!x ", "\x00",
                             "  - 1\n", "\n  ", "key: [1, {a: b}"]))
def test_fuzz_mutated_good_recipe(cut: int, junk: str) -> None:
    try:
        parse(GOOD[:cut] + junk + GOOD[cut:])
    except UserError as exc:
        assert all(p.file for p in exc.problems)


def test_interpreters_and_its_old_name_tools() -> None:
    r = parse(GOOD + "interpreters: {xtuner: /opt/x/bin/python}\n")
    assert r.interpreters == {"xtuner": "/opt/x/bin/python"}
    old = parse(GOOD + "tools: {xtuner: /opt/x/bin/python}\n")
    assert old.interpreters == {"xtuner": "/opt/x/bin/python"}
    with pytest.raises(RecipeError) as exc:
        parse(GOOD + "tools: {xtuner: /a}\ninterpreters: {xtuner: /b}\n")
    assert "old name of `interpreters:`" in str(exc.value.problems[0])
