"""The deploy stage's plan-time checks and LMDeploy command lines (no server started)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from internpipe.stages import InputRef, StageContext
from internpipe.stages.deploy.stage import Options, lmdeploy_argv, transformers_argv


def recipe(d: Path, deploy: str) -> Path:
    return write(d / "r.yaml", f"version: 1\nname: dep\nstages:\n  download:\n"
                 f"    source: {TINY_MODEL}\n  deploy:\n{deploy}")


def test_api_key_refused_by_the_transformers_engine(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    api_key_env: MY_KEY\n")
    result = cli("plan", str(r), "--device", "cpu", MY_KEY="s3cret")
    assert result.returncode == 2
    assert "`api_key_env` is not supported by the transformers engine" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


def test_lmdeploy_needs_cuda(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    engine: lmdeploy\n")
    result = cli("plan", str(r), "--device", "cpu")
    assert result.returncode == 2 and "LMDeploy serves on CUDA only" in result.stderr


def ctx(tmp_path: Path, model_dir: Path, **options: object) -> StageContext:
    artifact = {"chat_template": "internlm2"}
    return StageContext(name="deploy", kind="deploy", options=Options(**options),
                        recipe_name="assistant", recipe_dir=tmp_path, work=tmp_path / "w",
                        out=tmp_path / "o",
                        inputs={"model": [InputRef("q", "model", model_dir, artifact)]},
                        device="cuda", python=tmp_path / "env" / "bin" / "python")


COMBOS = list(itertools.product(["turbomind", "pytorch"], [0, 4, 8], [1, 2],
                                [None, 4096], [None, 64], [None, "LMDEPLOY_KEY"],
                                ["hf", "awq"]))


@pytest.mark.parametrize(("backend", "qp", "tp", "session", "batch", "key", "fmt"), COMBOS)
def test_lmdeploy_command_lines(tmp_path: Path, backend: str, qp: int, tp: int,
                                session: int | None, batch: int | None, key: str | None,
                                fmt: str) -> None:
    model = tmp_path / "m"
    model.mkdir()
    config: dict[str, object] = {"model_type": "llama"}
    if fmt == "awq":
        config["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128}
    (model / "config.json").write_text(json.dumps(config))
    argv = lmdeploy_argv(ctx(tmp_path, model, backend=backend, quant_policy=qp, tp=tp,
                             session_len=session, max_batch_size=batch, api_key_env=key,
                             host="0.0.0.0"), 23333)
    # LMDeploy's CLI started in-process by the launcher, which reads the key from the env
    assert argv[0].endswith("/env/bin/python") and argv[1].endswith("workers/lmdeploy_serve.py")
    launcher = argv[2:argv.index("--")]
    assert launcher == (["--api-key-env", "LMDEPLOY_KEY"] if key else [])
    argv = argv[argv.index("--") + 1:]
    assert argv[:3] == ["serve", "api_server", str(model)]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert pairs["--server-name"] == "0.0.0.0" and pairs["--server-port"] == "23333"
    assert pairs["--backend"] == backend and pairs["--quant-policy"] == str(qp)
    assert pairs["--tp"] == str(tp) and pairs["--model-name"] == "assistant"
    assert pairs["--chat-template"] == "internlm2"      # always explicit
    assert pairs.get("--model-format") == ("awq" if fmt == "awq" else None)
    assert pairs.get("--session-len") == (str(session) if session else None)
    assert pairs.get("--max-batch-size") == (str(batch) if batch else None)
    assert "--api-keys" not in argv           # the launcher adds it inside the process


def test_default_host_is_loopback(tmp_path: Path) -> None:
    argv = transformers_argv(ctx(tmp_path, TINY_MODEL), 8000)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert Options().host == "127.0.0.1"


def test_the_server_runs_in_the_users_own_environment(tmp_path: Path) -> None:
    """The recipe's `tools:` reaches the server's command and its environment, not only the
    first word of its command line."""
    import os

    from internpipe import recipe as recipe_mod
    from internpipe.fingerprint import HashCache
    from internpipe.plan import context, make_plan
    from internpipe.stages.deploy import stage as deploy

    own = tmp_path / "own-env" / "bin" / "python"
    path = recipe(tmp_path, "    port: auto\n")
    path.write_text(path.read_text() + f"interpreters: {{transformers: {own}}}\n")
    r = recipe_mod.load(path)
    plan = make_plan(r, HashCache(tmp_path / "h.json").path_hash, "cpu")
    sp = plan.stages[1]
    ctx = context(r, plan.workdir, sp, {s.name: s for s in plan.stages}, "cpu", tmp_path / "o")
    spec = deploy.serve(ctx)
    assert spec.argv[0] == str(own.parent / "transformers")
    assert spec.env["PATH"].split(os.pathsep)[0] == str(own.parent)
    assert "envs" not in spec.env.get("VIRTUAL_ENV", "")     # no managed env slipped in


def test_plan_shows_the_launcher_command_and_never_the_key(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    engine: lmdeploy\n    api_key_env: MY_KEY\n")
    for args in ([], ["--json"]):
        result = cli("plan", str(r), "--device", "cuda", *args, MY_KEY="s3cret-key",
                     COLUMNS="1000")
        assert result.returncode == 0, result.stderr
        out = " ".join(result.stdout.split())
        assert "lmdeploy_serve.py --api-key-env MY_KEY -- serve api_server " in out, out
        assert "s3cret-key" not in result.stdout + result.stderr


def test_continuous_batching_on_the_transformers_engine(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    port: 23400\n")                  # on by default
    result = cli("plan", str(r), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "serve " in result.stdout and "--continuous-batching" in result.stdout
    batched = transformers_argv(ctx(tmp_path, TINY_MODEL), 1)
    assert "--continuous-batching" in batched
    # the paged KV cache is sized, not left to fill the machine's RAM (an OOM kill here)
    assert batched[batched.index("--cb-num-blocks") + 1] == "64"
    plain = transformers_argv(ctx(tmp_path, TINY_MODEL, continuous_batching=False), 1)
    assert "--continuous-batching" not in plain
    r = recipe(tmp_path, "    engine: lmdeploy\n    continuous_batching: true\n")
    result = cli("validate", str(r))
    assert result.returncode == 2, result.stdout
    assert "`continuous_batching` is for the transformers engine" in result.stderr


def test_bench_option_plans_and_checks_its_prompts(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    bench: true\n")
    plan = json.loads(cli("plan", str(r), "--device", "cpu", "--json").stdout)
    notes = plan["stages"][1]["reasons"]
    assert any(n.startswith("then a load test (bench.json): concurrency 1, 4, 16 requests")
               for n in notes), notes
    write(tmp_path / "prompts.jsonl", '{"prompt": "hi"}\n{"answer": "no prompt"}\n')
    r = recipe(tmp_path, "    bench:\n      concurrency: [2, 0]\n      dataset: prompts.jsonl\n"
                         "      rate: -1\n")
    result = cli("validate", str(r))
    assert result.returncode == 2
    assert f"{r}:8: stages.deploy.bench.concurrency[1]:" in result.stderr
    assert f"{r}:10: stages.deploy.bench.rate:" in result.stderr
    r = recipe(tmp_path, "    bench:\n      dataset: prompts.jsonl\n")
    result = cli("validate", str(r))
    assert result.returncode == 2
    assert f"{r}:8: stages.deploy.bench.dataset: bench prompts: " in result.stderr
    assert "prompts.jsonl:2: no `messages`" in result.stderr
    r = recipe(tmp_path, "    bench:\n      dataset: nowhere.jsonl\n")
    assert "no such file" in cli("validate", str(r)).stderr


def test_bench_options_are_fingerprinted(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    bench: {requests: 4}\n")
    first = json.loads(cli("plan", str(r), "--device", "cpu", "--json").stdout)
    again = json.loads(cli("plan", str(r), "--device", "cpu", "--json",
                           "--set", "stages.deploy.bench.requests=8").stdout)
    assert first["stages"][1]["fingerprint"] != again["stages"][1]["fingerprint"]
