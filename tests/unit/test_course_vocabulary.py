"""The course's vocabulary: recipe keys under the lessons' names, the lesson's named
calibration sets, LMDeploy-only deploy options on CPU, and the hub probe for a named set."""

from __future__ import annotations

import http.server
import importlib.util
import json
import socket
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from conftest import TINY_MODEL, cli, write

WORKERS = Path(__file__).resolve().parents[2] / "src" / "internpipe" / "workers"
HEAD = f"version: 1\nname: v\ndevice: cpu\nstages:\n  download:\n    source: {TINY_MODEL}\n"


def plan_text(recipe: Path, **env: str) -> str:
    """Every planned command (argv joined by spaces) and every reason, one per line."""
    result = cli("plan", str(recipe), "--json", **env)
    assert result.returncode == 0, result.stderr
    lines = []
    for stage in json.loads(result.stdout)["stages"]:
        lines += [" ".join(c["argv"]) for c in stage["commands"]] + stage["reasons"]
    return "\n".join(lines)


def test_the_lessons_keys_are_accepted_and_located(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", HEAD + "  quantize:\n    calib_dataset: wikitext2\n"
          "    calib_samples: 16\n    calib_seqlen: 64\n    w_group_size: 64\n")
    out = plan_text(tmp_path / "r.yaml")
    assert "--calib-dataset wikitext2 --calib-samples 16 --calib-seqlen 64" in out
    assert "--w-group-size 64" in out
    write(tmp_path / "bad.yaml", HEAD + "  quantize:\n    calib_samples: -1\n"
          "    group_size: 64\n    w_group_size: 32\n")
    result = cli("validate", str(tmp_path / "bad.yaml"))
    assert result.returncode == 2
    assert "bad.yaml:8: stages.quantize.samples: Input should be greater than or equal to 0" \
        in result.stderr
    assert "bad.yaml:10: stages.quantize.w_group_size: `w_group_size` is the course's name " \
           "for `group_size`, which is given too" in result.stderr


def test_xtuner_names_in_finetune(tmp_path: Path) -> None:
    data = write(tmp_path / "d.jsonl", '{"messages": [{"role": "user", "content": "hi"}, '
                 '{"role": "assistant", "content": "yo"}]}\n')
    write(tmp_path / "r.yaml", HEAD + f"  finetune:\n    data: {data}\n    method: full\n"
          "    prompt_template: internlm2_chat\n    max_epochs: 3\n"
          "    accumulative_counts: 4\n")
    assert "xtuner_launch.py train" in plan_text(tmp_path / "r.yaml")
    from internpipe import recipe as recipe_mod

    opts = recipe_mod.load(tmp_path / "r.yaml").stages["finetune"].options
    assert (opts.template, opts.epochs, opts.grad_accum) == ("internlm2_chat", 3, 4)  # type: ignore[attr-defined]
    write(tmp_path / "ds.yaml", HEAD.replace("cpu", "cuda") +
          f"  finetune:\n    data: {data}\n    method: qlora\n    deepspeed: deepspeed_zero2\n")
    assert "--deepspeed deepspeed_zero2" in plan_text(tmp_path / "ds.yaml")


def test_ptb_needs_a_local_copy_and_uses_it(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", HEAD + "  quantize:\n    calib_dataset: ptb\n")
    calib = tmp_path / "calib"
    result = cli("validate", str(tmp_path / "r.yaml"), INTERNPIPE_CALIB_DIR=str(calib))
    assert result.returncode == 2
    assert "r.yaml:8: stages.quantize.calib: calibration set ptb: LMDeploy 0.18 no longer " \
           "fetches it" in result.stderr
    assert f"at {calib / 'ptb.txt'}" in result.stderr
    write(calib / "ptb.txt", "the market rose\n\nshares fell n percent\n")
    out = plan_text(tmp_path / "r.yaml", INTERNPIPE_CALIB_DIR=str(calib))
    assert f"stage-calib {calib / 'ptb.txt'}" in out
    assert "--calib-dataset wikitext2 --calib-samples 128" in out   # the reader ptb had
    assert "calibration set ptb: the local copy" in out
    assert "probe-hub" not in out
    # A name that is no file and no set: said so, with the sets.
    write(tmp_path / "typo.yaml", HEAD + "  quantize:\n    calib: wikitxt2\n")
    result = cli("validate", str(tmp_path / "typo.yaml"))
    assert "neither a local file nor a named calibration set; did you mean 'wikitext2'" \
        in result.stderr


def test_a_hub_set_is_probed_first_unless_a_copy_is_staged(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", HEAD + "  quantize:\n    calib: c4\n    samples: 4\n")
    calib = tmp_path / "calib"
    out = plan_text(tmp_path / "r.yaml", INTERNPIPE_CALIB_DIR=str(calib))
    assert f"probe-hub c4 allenai/c4 {calib / 'c4.txt'}" in out
    assert "--calib-dataset c4 --calib-samples 4" in out
    write(calib / "c4.jsonl", '{"text": "a web page"}\n')
    out = plan_text(tmp_path / "r.yaml", INTERNPIPE_CALIB_DIR=str(calib))
    assert "probe-hub" not in out and f"stage-calib {calib / 'c4.jsonl'}" in out
    # No --calib: LMDeploy's default (wikitext2, 128 samples), probed first.
    write(tmp_path / "d.yaml", HEAD + "  quantize: {}\n")
    out = plan_text(tmp_path / "d.yaml", INTERNPIPE_CALIB_DIR=str(calib))
    assert "probe-hub wikitext2" in out and "--calib-samples 128" in out


def test_lmdeploy_options_on_cpu(tmp_path: Path) -> None:
    write(tmp_path / "r.yaml", HEAD + "  deploy:\n    cache_max_entry_count: 0.4\n"
          "    session_len: 8192\n    server_port: 23339\n")
    out = plan_text(tmp_path / "r.yaml")
    assert "not used on cpu by the transformers engine: cache_max_entry_count 0.4, " \
           "session_len 8192" in out
    assert "--port 23339" in out
    write(tmp_path / "q.yaml", HEAD + "  deploy:\n    quant_policy: 4\n")
    result = cli("validate", str(tmp_path / "q.yaml"))
    assert result.returncode == 2
    assert "q.yaml:8: stages.deploy.quant_policy: quant_policy 4 (LMDeploy's int4 KV cache) " \
           "changes the answers" in result.stderr


def _worker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quant_checks", WORKERS / "quant_checks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_hub_probe(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                   ) -> None:
    worker = _worker()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert worker.probe_hub("c4", "allenai/c4", "/x/c4.txt") == 0    # a 404 is an answer
    finally:
        server.shutdown()
    with socket.socket() as s:                  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    started = time.monotonic()
    assert worker.probe_hub("c4", "allenai/c4", "/x/c4.txt") == 3
    assert time.monotonic() - started < 10
    said = capsys.readouterr().out
    assert "did not answer" in said and "put its text at /x/c4.txt" in said
    assert "`samples: 0`" in said


def test_stage_commands_take_the_lessons_flags(tmp_path: Path) -> None:
    """Each flag reaches the stage: shown by what the stage then says about its value."""
    model = str(TINY_MODEL)
    r = cli("deploy", model, "--device", "cpu", "--quant-policy", "4",
            "--cache-max-entry-count", "0.4", "--server-port", "23333", cwd=tmp_path)
    assert r.returncode == 2 and "quant_policy 4 (LMDeploy's int4 KV cache)" in r.stderr
    r = cli("quantize", model, "--device", "cpu", "--calib-dataset", "ptb", "--calib-samples",
            "128", "--calib-seqlen", "2048", "--w-bits", "4", "--w-group-size", "128",
            "--batch-size", "1", "--search-scale", "False", cwd=tmp_path,
            INTERNPIPE_CALIB_DIR=str(tmp_path / "calib"))
    assert r.returncode == 2 and "calibration set ptb" in r.stderr
    r = cli("quantize", model, "--device", "cpu", "--w-group-size", "96", "--samples", "0",
            cwd=tmp_path)
    assert r.returncode == 2 and "group_size 96 does not divide" in r.stderr
    data = write(tmp_path / "d.jsonl", '{"messages": [{"role": "user", "content": "hi"}, '
                 '{"role": "assistant", "content": "yo"}]}\n')
    r = cli("finetune", model, "--data", str(data), "--device", "cpu", "--prompt-template",
            "internlm2_chatt", cwd=tmp_path)
    assert r.returncode == 2 and "did you mean 'internlm2_chat'" in r.stderr
    r = cli("finetune", model, "--data", str(data), "--device", "cpu", "--deepspeed",
            "deepspeed_zero2", cwd=tmp_path)
    assert r.returncode == 2 and "deepspeed zero2 needs CUDA" in r.stderr
    r = cli("evaluate", model, "--datasets", "nosuch.jsonl", "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 2 and "nosuch.jsonl" in r.stderr
