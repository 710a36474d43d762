"""The same model served by the deploy stage vs by the bare server command, the same load on
both (workers/load_test.py, official openai client), throughput ratio. Target ≥ 0.98.

    python bench/serve_overhead.py [--engine transformers|lmdeploy] [-c 4] [-n 64]

transformers (CPU, runs here): bare `transformers serve MODEL`. lmdeploy (CUDA only): bare
`lmdeploy serve api_server MODEL --backend pytorch`. Alternating rounds, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _util import internpipe  # noqa: E402
from internpipe import envs, services  # noqa: E402

MODEL = ROOT / "recipes" / "models" / "tiny-internlm2"
WORKER = ROOT / "src" / "internpipe" / "workers" / "load_test.py"


def load(base_url: str, model: str, c: int, n: int) -> dict:  # type: ignore[type-arg]
    env = envs.ensure("transformers", "cpu")
    out = subprocess.run([str(env.python), str(WORKER), base_url, model, "--concurrency",
                          str(c), "--requests", str(n)], capture_output=True, text=True,
                         env=envs.step_environ(env), check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("INTERNPIPE-BENCH "))
    return dict(json.loads(line.split(" ", 1)[1]))


def bare(engine: str, port: int) -> tuple[subprocess.Popen[bytes], str, str]:
    device = "cuda" if engine == "lmdeploy" else "cpu"
    tool = "lmdeploy" if engine == "lmdeploy" else "transformers"
    env = envs.ensure(tool, device)
    if engine == "lmdeploy":
        argv = [str(env.bin / "lmdeploy"), "serve", "api_server", str(MODEL), "--backend",
                "pytorch", "--server-name", "127.0.0.1", "--server-port", str(port),
                "--model-name", "bench"]
        model = "bench"
    else:
        argv = [str(env.bin / "transformers"), "serve", str(MODEL), "--device", "cpu",
                "--host", "127.0.0.1", "--port", str(port)]
        model = str(MODEL)
    server = subprocess.Popen(argv, env=envs.step_environ(env, offline=True),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 600
    while not services.healthy(f"http://127.0.0.1:{port}/health"):
        assert server.poll() is None and time.monotonic() < deadline, "bare server failed"
        time.sleep(0.5)
    return server, f"http://127.0.0.1:{port}/v1", model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", default="transformers", choices=["transformers", "lmdeploy"])
    ap.add_argument("-c", "--concurrency", type=int, default=4)
    ap.add_argument("-n", "--requests", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="internpipe-servebench-"))
    device = "cuda" if args.engine == "lmdeploy" else "cpu"
    up = subprocess.run([*internpipe(), "deploy", str(MODEL), "--engine", args.engine,
                         "--port", "auto", "--detach", "--json", "--device", device],
                        cwd=work, capture_output=True, text=True, env=dict(os.environ))
    if up.returncode != 0:
        raise SystemExit(up.stderr)
    ours = json.loads(up.stdout.splitlines()[-1])
    server, bare_url, bare_model = bare(args.engine, services.free_port())
    stage_rps, bare_rps = [], []
    try:
        load(ours["base_url"], ours["model"], args.concurrency, 8)      # warm-up
        load(bare_url, bare_model, args.concurrency, 8)
        for _ in range(args.rounds):
            stage_rps.append(load(ours["base_url"], ours["model"], args.concurrency,
                                  args.requests)["requests_per_s"])
            bare_rps.append(load(bare_url, bare_model, args.concurrency,
                                 args.requests)["requests_per_s"])
    finally:
        services.stop(int(ours["pid"]))
        services.stop(server.pid)
    a, b = statistics.median(stage_rps), statistics.median(bare_rps)
    print(f"{args.engine}, tiny model, concurrency {args.concurrency}, {args.requests} "
          f"requests x {args.rounds} rounds")
    print(f"bare server command      {b:7.2f} req/s   1.00x")
    print(f"served by the stage      {a:7.2f} req/s   {a / b:5.3f}x "
          f"(target ≥ 0.98: {'ok' if a / b >= 0.98 else 'MISSED'})")


if __name__ == "__main__":
    main()
