"""The escape hatches at the command line (nothing runs): `extra_args:` on the stages that
call an upstream command, `finetune.xtuner_config:` and `finetune.report_to:`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe.stages.extra_args import refused
from support.sft import write_data

ALL_STAGES = """\
version: 1
name: hatch
device: cpu
stages:
  download:
    source: {model}
  finetune:
    data: data.jsonl
{finetune}  evaluate:
    datasets: [{{path: qa.jsonl}}]
{evaluate}  quantize:
    samples: 0
{quantize}  deploy:
    port: 23999
{deploy}"""


def recipe(d: Path, **sections: str) -> Path:
    write_data(d / "data.jsonl", "openai", 8)
    write(d / "qa.jsonl", '{"question": "q", "answer": "a"}\n')
    parts = {k: sections.get(k, "") for k in ("finetune", "evaluate", "quantize", "deploy")}
    return write(d / "r.yaml", ALL_STAGES.format(model=TINY_MODEL, **parts))


def commands(plan: dict, stage: str) -> list[list[str]]:
    found = next(s for s in plan["stages"] if s["stage"] == stage)
    return [c["argv"] for c in found["commands"]]


def test_extra_args_reach_every_upstream_command(tmp_path: Path) -> None:
    r = recipe(tmp_path,
               finetune="    extra_args: ['--seed', '7']\n",
               evaluate="    extra_args: ['--max-out-len-x', '1']\n",
               quantize="    extra_args: ['--revision', 'main']\n",
               deploy="    extra_args: ['--log-level', 'info']\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    train = next(a for a in commands(plan, "finetune") if "train" in a)
    assert train[-2:] == ["--seed", "7"]
    assert commands(plan, "evaluate")[-1][-2:] == ["--max-out-len-x", "1"]
    assert next(a for a in commands(plan, "quantize") if "lite" in a)[-2:] == \
        ["--revision", "main"]
    # deploy's command is a server's: the plan says it beside the reasons
    served = next(s for s in plan["stages"] if s["stage"] == "deploy")
    assert any(x.startswith("serves with transformers") and " serve " in x and
               x.endswith("--log-level info") for x in served["reasons"]), served["reasons"]
    # part of the fingerprint: another argument, another fingerprint
    r2 = recipe(tmp_path / "b", finetune="    extra_args: ['--seed', '8']\n")
    plan2 = json.loads(cli("plan", str(r2), "--json").stdout)
    base = json.loads(cli("plan", str(recipe(tmp_path / "c")), "--json").stdout)
    fps = [next(s["fingerprint"] for s in p["stages"] if s["stage"] == "finetune")
           for p in (plan, plan2, base)]
    assert len(set(fps)) == 3, fps


REFUSED = [
    ("finetune", "['--work-dir', '/tmp/x']", "--work-dir is set by internpipe"),
    ("finetune", "['--deepspeed', 'deepspeed_zero2']", "deepspeed:"),
    ("evaluate", "['-w', 'elsewhere']", "-w is set by internpipe"),
    ("evaluate", "['--dry-run']", "--dry-run is set by internpipe"),
    ("quantize", "['--calib-samples=4']", "samples:"),
    ("deploy", "['--server-port', '80']", "port:"),
    ("deploy", "['--port=80']", "port:"),
    ("deploy", "['--api-keys', 'sk-1']", "api_key_env"),
    ("deploy", "['--model-n', 'x']", "--model-n abbreviates --model-name"),
]


@pytest.mark.parametrize(("stage", "args", "words"), REFUSED)
def test_arguments_internpipe_sets_are_refused_at_their_line(tmp_path: Path, stage: str,
                                                              args: str, words: str) -> None:
    r = recipe(tmp_path, **{stage: f"    extra_args: {args}\n"})
    result = cli("validate", str(r))
    assert result.returncode == 2, result.stderr
    line = r.read_text().splitlines().index(f"    extra_args: {args}") + 1
    assert f"r.yaml:{line}:" in result.stderr and words in result.stderr, result.stderr
    assert f"stages.{stage}.extra_args" in result.stderr
    assert "Traceback" not in result.stderr
    assert "sk-1" not in result.stdout


def test_refusal_rules() -> None:
    controlled = {"--work-dir": "x", "-w": "x"}
    assert refused(["--seed", "1", "--cfg-options", "a=1"], controlled) is None
    assert refused(["-wout"], controlled) == "-w is set by internpipe (x)"
    assert refused(["--work", "d"], controlled) == \
        "--work abbreviates --work-dir, which internpipe sets (x)"
    assert refused(["--lr", "-1"], controlled) is None        # a negative value is a value
    assert refused(["--", "--work-dir"], controlled) is not None


COPY = "# a copy of an XTuner config\nimport torch\nlr = 2e-4\n"


@pytest.mark.parametrize(("config", "text", "words"), [
    ("missing.py", None, "no such file"),
    ("cfg.json", "{}", "an XTuner config is a .py file"),
    ("cfg.py", "lr = (\n", "cfg.py:1: '(' was never closed"),
])
def test_a_bad_xtuner_config_is_refused_at_its_line(tmp_path: Path, config: str,
                                                    text: str | None, words: str) -> None:
    if text is not None:
        write(tmp_path / config, text)
    r = recipe(tmp_path, finetune=f"    xtuner_config: {config}\n")
    result = cli("plan", str(r))
    assert result.returncode == 2, result.stderr
    line = r.read_text().splitlines().index(f"    xtuner_config: {config}") + 1
    assert f"r.yaml:{line}: stages.finetune.xtuner_config" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_the_plan_says_what_is_patched_into_a_users_config(tmp_path: Path) -> None:
    write(tmp_path / "my.py", COPY)
    r = recipe(tmp_path, finetune="    xtuner_config: my.py\n    epochs: 2\n    lr: 1.0e-3\n"
                                   "    report_to: tensorboard\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    reasons = " | ".join(next(s for s in plan["stages"] if s["stage"] == "finetune")["reasons"])
    for words in ("xtuner_config my.py: patched through mmengine's Config", "the model path",
                  "the data", "from the recipe: epochs 2, lr 0.001", "visualizer: + tensorboard",
                  "on cpu, where the config has them: 4-bit quantization_config removed"):
        assert words in reasons, reasons
    steps = next(s for s in plan["stages"] if s["stage"] == "finetune")["commands"]
    assert [c["argv"][2] for c in steps] == ["config", "train-config", "export"]
    # the user's file is fingerprinted: an edit is a change
    before = next(s["fingerprint"] for s in plan["stages"] if s["stage"] == "finetune")
    write(tmp_path / "my.py", COPY + "lr = 1e-3\n")
    plan = json.loads(cli("plan", str(r), "--json").stdout)
    assert next(s["fingerprint"] for s in plan["stages"] if s["stage"] == "finetune") != before


def test_options_a_users_config_owns_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "my.py", COPY)
    r = recipe(tmp_path, finetune="    xtuner_config: my.py\n    method: full\n"
                                   "    lora: {r: 8}\n")
    result = cli("validate", str(r))
    assert result.returncode == 2
    for option in ("method", "lora"):
        assert f"stages.finetune.{option}: `{option}` is your XTuner config's to set" in \
            result.stderr, result.stderr


@pytest.mark.parametrize("tracker", ["wandb", "swanlab"])
def test_a_tracker_the_env_lacks_is_refused_with_the_way_to_add_it(tmp_path: Path,
                                                                   tracker: str) -> None:
    r = recipe(tmp_path, finetune=f"    report_to: {tracker}\n")
    result = cli("validate", str(r))
    assert result.returncode == 2, result.stderr
    line = r.read_text().splitlines().index(f"    report_to: {tracker}") + 1
    assert f"r.yaml:{line}: stages.finetune.report_to: report_to {tracker} needs the " \
           f"`{tracker}` package" in result.stderr, result.stderr
    assert "scripts/lock-envs.py xtuner" in result.stderr
    assert cli("validate", str(recipe(tmp_path / "tb", finetune="    report_to: tensorboard\n"
                                      ))).returncode == 0


def test_extra_args_end_lmdeploys_server_command(tmp_path: Path) -> None:
    from internpipe.stages import InputRef, StageContext
    from internpipe.stages.deploy.stage import Options, lmdeploy_argv

    model = write(tmp_path / "m" / "config.json", '{"model_type": "llama"}').parent
    ctx = StageContext(name="deploy", kind="deploy",
                       options=Options(extra_args=["--log-level", "INFO"]),
                       recipe_name="r", recipe_dir=tmp_path, work=tmp_path / "w",
                       out=tmp_path / "o",
                       inputs={"model": [InputRef("q", "model", model, {})]},
                       device="cuda", python=tmp_path / "env" / "bin" / "python")
    argv = lmdeploy_argv(ctx, 23333)
    assert argv[argv.index("api_server") - 1] == "serve"
    assert argv[-2:] == ["--log-level", "INFO"]
