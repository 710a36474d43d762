"""The deploy stage with the real `transformers serve` engine on CPU, and its lifecycle."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, popen, write
from internpipe import services

pytestmark = pytest.mark.integration


def recipe(d: Path, deploy: str = "    port: auto\n", extra: str = "") -> Path:
    return write(d / "r.yaml", f"""version: 1
name: dep
device: cpu
stages:
  download:
    source: {TINY_MODEL}
  deploy:
{deploy}{extra}""")


def entry(r: Path, stage: str = "deploy") -> dict:
    return json.loads((r.parent / ".internpipe/dep/state.json").read_text())["stages"][stage]


def test_serve_answer_and_stop(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    port: auto\n    bench: {concurrency: [1, 4], requests: 4, "
                         "max_tokens: 8}\n",
               "gates:\n  - deploy.bench.latency_ms.p95 <= 600000\n"
               "  - deploy.bench.c4.output_tokens_per_s > 0\n")
    t0 = time.monotonic()
    result = cli("run", str(r), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    art = entry(r)["artifact"]
    print(f"deploy stage (start, health, one request, stop): {time.monotonic() - t0:.1f}s")
    assert art["engine"] == "transformers" and art["base_url"].startswith("http://127.0.0.1:")
    assert art["smoke"]["reply"] is not None and art["smoke"]["usage"]["completion_tokens"] > 0
    assert art["bench"] == "bench.json"
    bench = json.loads((Path(art["path"]) / "bench.json").read_text())
    assert [(run["concurrency"], run["ok"], run["token_source"], run["output_tokens"])
            for run in bench["runs"]] == [(1, 4, "usage", 32), (4, 4, "usage", 32)]
    judged = json.loads((tmp_path / ".internpipe/dep/gates.json").read_text())["gates"]
    assert [g["passed"] for g in judged] == [True, True], judged
    assert not services.alive(art["pid"]), "the server outlived its run"
    log = Path(art["log"]).read_text()
    assert "transformers serve" in log
    again = cli("run", str(r), "--json")
    statuses = [json.loads(x)["status"] for x in again.stdout.splitlines()
                if '"stage_finished"' in x]
    assert statuses == ["cached", "cached"]         # nothing needs the server: not restarted


def test_keep_serving_and_reuse(tmp_path: Path) -> None:
    r = recipe(tmp_path, "    port: auto\n    keep: true\n")
    result = cli("run", str(r), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    art = entry(r)["artifact"]
    try:
        assert services.alive(art["pid"]) and services.healthy(art["health_url"])
        plan = json.loads(cli("plan", str(r), "--json").stdout)
        assert plan["stages"][1]["action"] == "cached"
        assert plan["stages"][1]["reasons"][0].startswith("serving at http://127.0.0.1:")
    finally:
        services.stop(art["pid"])
    assert not services.alive(art["pid"])


def test_server_dying_at_start(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "no_such_architecture"}))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    r = write(tmp_path / "r.yaml", f"version: 1\nname: dep\ndevice: cpu\nstages:\n"
              f"  download:\n    source: {broken}\n  deploy:\n    port: auto\n")
    result = cli("run", str(r), timeout=600)
    assert result.returncode == 1
    assert "before it was healthy" in result.stderr or "not healthy" in result.stderr
    assert "last lines of the log" in result.stderr
    assert not (tmp_path / ".internpipe/dep/stages/deploy/out").exists()


def test_port_busy(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        r = recipe(tmp_path, f"    port: {port}\n")
        result = cli("run", str(r), timeout=120)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "port: auto" in result.stderr


def test_ctrl_c_while_serving_stops_the_server(tmp_path: Path) -> None:
    r = recipe(tmp_path, extra="  wait:\n    uses: waiter\n    seconds: 120\n")
    run = popen("run", str(r), "--json")
    marker = tmp_path / ".internpipe/dep/stages/wait/work/waiting"
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    pid = int((tmp_path / ".internpipe/dep/stages/deploy/work/server.pid").read_text())
    assert services.alive(pid)
    run.send_signal(signal.SIGINT)
    assert run.wait(60) == 130
    deadline = time.monotonic() + 20
    while services.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not services.alive(pid), "Ctrl-C left the server running"


def test_deploy_command_detach_status_bench_stop(tmp_path: Path) -> None:
    r = recipe(tmp_path)
    up = cli("deploy", str(r), "--detach", "--json", timeout=600)
    assert up.returncode == 0, up.stderr[-2000:]
    serving = json.loads(up.stdout.splitlines()[-1])
    try:
        status = json.loads(cli("deploy", "status", str(r), "--json").stdout)
        assert status["stages"][0]["serving"] is True
        t0 = time.monotonic()
        bench = cli("bench", str(r), "-c", "1", "-c", "4", "--requests", "8",
                    "--max-tokens", "16", "--json", timeout=300)
        seconds = time.monotonic() - t0
        assert bench.returncode == 0, bench.stderr
        doc = json.loads(bench.stdout)
        assert [run["concurrency"] for run in doc["runs"]] == [1, 4]
        for run in doc["runs"]:
            assert run["ok"] == 8 and run["failed"] == 0 and run["requests_per_s"] > 0
            # counted from the server's usage: every request asked for 16 tokens and the
            # random tiny model never stops early (content chunks would count fewer)
            assert run["token_source"] == "usage" and run["output_tokens"] == 8 * 16
            assert run["input_tokens"] > 8 * 5
            for key in ("ttft_ms", "tpot_ms", "itl_ms", "latency_ms"):
                assert run[key]["p50"] is not None
                assert run[key]["p99"] >= run[key]["p95"] >= run[key]["p50"]
            assert run["latency_ms"]["p50"] >= run["ttft_ms"]["p50"]
        saved = list((tmp_path / ".internpipe/dep/bench").glob("*.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text())["runs"] == doc["runs"]
        assert json.loads(saved[0].read_text())["tool"] == "internpipe-load-test"
        print(f"bench on the CPU engine ({seconds:.1f}s):", [
            {k: run[k] for k in ("concurrency", "requests_per_s", "output_tokens_per_s")} |
            {"ttft_p50_ms": run["ttft_ms"]["p50"], "latency_p50_ms": run["latency_ms"]["p50"]}
            for run in doc["runs"]])
        logs = cli("deploy", "logs", str(r), "-n", "5")
        assert logs.returncode == 0 and "server.log" in logs.stdout
    finally:
        stopped = json.loads(cli("deploy", "stop", str(r), "--json").stdout)
    assert stopped["stages"][0]["stopped"] is True
    assert not services.alive(serving["pid"])


def test_deploy_foreground_until_ctrl_c(tmp_path: Path) -> None:
    from conftest import popen as start

    run = start("deploy", str(TINY_MODEL), "--port", "auto", "--device", "cpu", cwd=tmp_path)
    pidfile = tmp_path / ".internpipe/deploy/stages/deploy/work/server.pid"
    state = tmp_path / ".internpipe/deploy/state.json"
    deadline = time.monotonic() + 300
    while not (state.exists() and "deploy" in json.loads(state.read_text())["stages"]):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read() if \
            run.stderr else ""
        time.sleep(0.3)
    pid = int(pidfile.read_text())
    time.sleep(1)
    assert services.alive(pid), "the foreground deploy did not keep its server up"
    run.send_signal(signal.SIGINT)
    assert run.wait(60) == 0
    assert not services.alive(pid)


def test_stop_and_status_take_the_model_folder_deploy_took(tmp_path: Path) -> None:
    up = cli("deploy", str(TINY_MODEL), "--port", "auto", "--device", "cpu", "--detach",
             "--json", cwd=tmp_path, timeout=600)
    assert up.returncode == 0, up.stderr[-2000:]
    serving = json.loads(up.stdout.splitlines()[-1])
    try:
        status = cli("deploy", "status", str(TINY_MODEL), "--json", cwd=tmp_path)
        assert json.loads(status.stdout)["stages"][0]["serving"] is True, status.stderr
        other = tmp_path / "other-model"
        other.mkdir()
        refused = cli("deploy", "stop", str(other), cwd=tmp_path)
        assert refused.returncode == 2 and "not" in refused.stderr
        assert services.alive(serving["pid"])
    finally:
        stopped = cli("deploy", "stop", str(TINY_MODEL), "--json", cwd=tmp_path)
    assert json.loads(stopped.stdout)["stages"][0]["stopped"] is True, stopped.stderr
    assert not services.alive(serving["pid"])


def test_bench_without_usage_counts_by_estimate_and_says_so(tmp_path: Path) -> None:
    """A server that streams no `usage` (support/fake_llm.py): the load test falls back to
    counting content chunks and marks the run `estimate`; varied prompts reach the server
    (warm-up first, not counted); --dataset and --output."""
    import subprocess
    import sys

    from conftest import TESTS

    port = services.free_port()
    server = subprocess.Popen([sys.executable, str(TESTS / "support" / "fake_llm.py"),
                               str(port), "--answer", "twelve characters"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not services.healthy(f"http://127.0.0.1:{port}/health"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        prompts = write(tmp_path / "p.jsonl", "".join(
            json.dumps({"messages": [{"role": "user", "content": f"question {i}"},
                                     {"role": "assistant", "content": "dropped"}]}) + "\n"
            for i in range(5)))
        out = tmp_path / "b.json"
        result = cli("bench", f"http://127.0.0.1:{port}/v1", "--model", "fake", "-c", "1",
                     "-c", "2", "-n", "3", "--warmup", "1", "--dataset", str(prompts),
                     "-o", str(out), "--device", "cpu", timeout=120)
        assert result.returncode == 0, result.stderr
        assert "tokens from estimate" in result.stdout and f"saved {out}" in result.stdout
        doc = json.loads(out.read_text())
        assert [(r["concurrency"], r["ok"], r["token_source"]) for r in doc["runs"]] == [
            (1, 3, "estimate"), (2, 3, "estimate")]
        assert all(r["output_tokens"] == 3 * 6 for r in doc["runs"])  # 6 chunks of 3 chars
        sent = [json.loads(x) for x in (tmp_path / "requests.jsonl").read_text().splitlines()]
        assert len(sent) == 1 + 6 and all(b["stream_options"] == {"include_usage": True}
                                          for b in sent)
        asked = [b["messages"][-1]["content"] for b in sent]
        assert sorted(set(asked)) == [f"question {i}" for i in range(5)]
        assert all(b["messages"][-1]["role"] == "user" for b in sent)
    finally:
        server.kill()
        server.wait()
