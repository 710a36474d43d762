"""Fine-tuning data is checked before anything launches: exit 2 with file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli
from support.sft import recipe

BAD = {
    "openai": [
        ('{"messages": [{"role": "user", "content": "hi"}]}', "one user and one assistant"),
        ('{"messages": [{"role": "bot", "content": "hi"}]}', "role"),
        ('{"conversation": []}', '"messages"'),
        ('{"messages": [{"role": "user", "content": 3}]}', "content must be a string"),
    ],
    "alpaca": [
        ('{"instruction": "q"}', '"output"'),
        ('{"instruction": "q", "output": "a", "input": 5}', '"input" must be a string'),
    ],
    "xtuner": [
        ('{"conversation": [{"input": "q"}]}', "output must be a string"),
        ('{"messages": []}', '"conversation"'),
    ],
}
CASES = [(fmt, line, words) for fmt, cases in BAD.items() for line, words in cases]


@pytest.mark.parametrize(("fmt", "line", "words"), CASES)
def test_malformed_sample_line(tmp_path: Path, fmt: str, line: str, words: str) -> None:
    r = recipe(tmp_path, fmt=fmt)
    data = tmp_path / "data.jsonl"
    lines = data.read_text().splitlines()
    lines.insert(4, line)                        # the bad sample is on line 5
    data.write_text("\n".join(lines) + "\n")
    result = cli("plan", str(r))
    assert result.returncode == 2, result.stderr
    assert "data.jsonl:5:" in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("fmt", ["openai", "alpaca", "xtuner"])
def test_invalid_json_and_good_counts(tmp_path: Path, fmt: str) -> None:
    r = recipe(tmp_path, fmt=fmt)
    plan = cli("plan", str(r), "--json")
    assert plan.returncode == 0, plan.stderr
    reasons = json.loads(plan.stdout)["stages"][1]["reasons"]
    assert f"60 samples ({fmt})" in reasons
    with open(tmp_path / "data.jsonl", "a") as f:
        f.write('{"broken": \n')
    result = cli("run", str(r))
    assert result.returncode == 2
    assert "data.jsonl:61: invalid JSON" in result.stderr


def test_missing_data_file(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    (tmp_path / "data.jsonl").unlink()
    result = cli("plan", str(r))
    assert result.returncode == 2 and "data.jsonl does not exist" in result.stderr


def test_qlora_and_deepspeed_need_cuda(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    method: qlora\n")
    result = cli("plan", str(r))
    assert result.returncode == 2 and "qlora needs CUDA" in result.stderr
    r = recipe(tmp_path, "    deepspeed: zero2\n")
    result = cli("plan", str(r))
    assert result.returncode == 2 and "deepspeed zero2 needs CUDA" in result.stderr


def test_plan_shows_xtuner_commands(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    plan = json.loads(cli("plan", str(r), "--json").stdout)
    steps = [c["step"] for c in plan["stages"][1]["commands"]]
    assert steps == ["train", "export"]
    assert "--adapter" in plan["stages"][1]["commands"][1]["argv"]
    full = recipe(tmp_path, "    method: full\n")
    plan = json.loads(cli("plan", str(full), "--json").stdout)
    export = plan["stages"][1]["commands"][1]["argv"]
    assert "--full" in export and "--adapter" not in export


def test_multi_gpu_uses_xtuner_variables(tmp_path: Path) -> None:
    from internpipe import recipe as recipe_mod
    from internpipe.fingerprint import HashCache
    from internpipe.plan import make_plan

    r = recipe(tmp_path, "    resources: {gpus_per_node: 4}\n")
    loaded = recipe_mod.load(r)
    loaded.stages["finetune"].options.method = "lora"  # type: ignore[attr-defined]
    plan = make_plan(loaded, HashCache(tmp_path / "h.json").path_hash, "cuda")
    train = next(s for s in plan.stages[1].steps_preview if s.name == "train")
    assert train.env == {"NPROC_PER_NODE": "4", "NNODES": "1"}


def test_plan_says_when_the_warmup_is_dropped(tmp_path: Path) -> None:
    def reasons(warmup: float, n: int = 60) -> list[str]:
        plan = cli("plan", str(recipe(tmp_path, epochs=1, warmup=warmup, n=n)), "--json")
        assert plan.returncode == 0, plan.stderr
        return list(json.loads(plan.stdout)["stages"][1]["reasons"])

    assert "no warm-up: warmup_ratio 0.03 of at most 60 iterations is under 2" in \
        reasons(warmup=0.03)
    assert "warm-up: warmup_ratio 0.03 of the packed iterations, none if under 2 (the train " \
        "log says)" in reasons(warmup=0.03, n=100)
    assert not [x for x in reasons(warmup=0) if "warm-up" in x]
