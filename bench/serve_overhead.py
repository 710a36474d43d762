"""The same model served by the deploy stage vs by the bare server command, the same load on
both (workers/load_test.py, official openai client), throughput ratio. Target ≥ 0.98.

    python bench/serve_overhead.py [--engine transformers|lmdeploy] [-c 4] [-n 64]
    python bench/serve_overhead.py --scaling [--model DIR] [-n 16]

--scaling: the CPU engine (`transformers serve`) with and without continuous batching, each
under concurrency 1 and 4 in alternating rounds: medians of requests/s, the c=4 / c=1
throughput ratio (target ≥ 2), TTFT p50 at c=4, and the server's CPU seconds per request
(its /proc utime + stime around each load).

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

from _util import internpipe, this_checkout  # noqa: E402
from internpipe import envs, services  # noqa: E402
from internpipe.stages.deploy.stage import CONTINUOUS_BATCHING  # noqa: E402

MODEL = ROOT / "recipes" / "models" / "tiny-internlm2"
WORKER = ROOT / "src" / "internpipe" / "workers" / "load_test.py"


def load(base_url: str, model: str, c: int, n: int) -> dict:  # type: ignore[type-arg]
    env = envs.ensure("transformers", "cpu")
    out = subprocess.run([str(env.python), str(WORKER), base_url, model, "--concurrency",
                          str(c), "--requests", str(n), "--max-tokens", "32", "--warmup", "0"],
                         capture_output=True, text=True, env=envs.step_environ(env),
                         check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("INTERNPIPE-BENCH "))
    run = dict(json.loads(line.split(" ", 1)[1])["runs"][0])
    run["ttft_p50_ms"] = run["ttft_ms"]["p50"]
    return run


def bare(engine: str, port: int,
         extra: list[str] | None = None) -> tuple[subprocess.Popen[bytes], str, str]:
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
                "--host", "127.0.0.1", "--port", str(port),
                # as the deploy stage serves it, unless the caller says otherwise
                *(CONTINUOUS_BATCHING if extra is None else extra)]
        model = str(MODEL)
    server = subprocess.Popen(argv, env=envs.step_environ(env, offline=True),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 600
    while not services.healthy(f"http://127.0.0.1:{port}/health"):
        assert server.poll() is None and time.monotonic() < deadline, "bare server failed"
        time.sleep(0.5)
    return server, f"http://127.0.0.1:{port}/v1", model


def server_cpu(pid: int) -> float:
    """utime + stime of a process and its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def scaling(model: Path, n: int, rounds: int) -> None:
    global MODEL
    MODEL = model
    print(f"transformers serve on cpu, {model.name}, {n} requests per load, {rounds} rounds "
          "(c=1 and c=4 alternated), medians")
    print(f"{'':<22}{'c=1 req/s':>10}{'c=4 req/s':>10}{'c4/c1':>7}{'TTFT p50 c=4':>14}"
          f"{'cpu s/req c=1':>15}{'c=4':>7}   target c4/c1 ≥ 2")
    for label, extra in (("plain", []), ("continuous batching", CONTINUOUS_BATCHING)):
        server, url, name = bare("transformers", services.free_port(), extra)
        got: dict[int, list[dict]] = {1: [], 4: []}  # type: ignore[type-arg]
        try:
            load(url, name, 2, 4)                                           # warm-up
            for _ in range(rounds):
                for c in (1, 4):
                    cpu0 = server_cpu(server.pid)
                    result = load(url, name, c, n)
                    result["cpu_per_req"] = (server_cpu(server.pid) - cpu0) / n
                    got[c].append(result)
        finally:
            services.stop(server.pid)

        def med(c: int, key: str, got: dict[int, list[dict]] = got) -> float:  # type: ignore[type-arg]
            return statistics.median(float(r[key] or 0) for r in got[c])

        ratio = med(4, "requests_per_s") / med(1, "requests_per_s")
        print(f"{label:<22}{med(1, 'requests_per_s'):10.2f}{med(4, 'requests_per_s'):10.2f}"
              f"{ratio:6.2f}x{med(4, 'ttft_p50_ms'):11.0f} ms{med(1, 'cpu_per_req'):15.3f}"
              f"{med(4, 'cpu_per_req'):7.3f}   {'ok' if ratio >= 2 else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scaling", action="store_true", help="c=1 vs c=4 on the CPU engine")
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--engine", default="transformers", choices=["transformers", "lmdeploy"])
    ap.add_argument("-c", "--concurrency", type=int, default=4)
    ap.add_argument("-n", "--requests", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.scaling:
        scaling(args.model, args.requests if args.requests != 64 else 16, args.rounds)
        return
    work = Path(tempfile.mkdtemp(prefix="internpipe-servebench-"))
    device = "cuda" if args.engine == "lmdeploy" else "cpu"
    up = subprocess.run([*internpipe(), "deploy", str(MODEL), "--engine", args.engine,
                         "--port", "auto", "--detach", "--json", "--device", device],
                        cwd=work, capture_output=True, text=True, env=this_checkout())
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
