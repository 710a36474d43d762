from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from internpipe import events, pipeline
from internpipe.cli.shared import DeviceOpt, JsonOpt, console, guard

WORKER = Path(__file__).resolve().parent.parent / "workers" / "load_test.py"


def command(
    endpoint: Annotated[str, typer.Argument(metavar="ENDPOINT", help="A base URL "
                                            "(http://HOST:PORT/v1) or a recipe whose deploy "
                                            "stage is serving.", show_default=False)],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 4,
    requests: Annotated[int, typer.Option("--requests", "-n", min=1)] = 32,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1)] = 32,
    model: Annotated[str | None, typer.Option("--model", help="The served model name "
                                              "(taken from the recipe if given one).",
                                              show_default=False)] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", show_default=False)
                           ] = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Load-test an OpenAI-compatible endpoint with the official openai client (asyncio,
    streaming): requests/s, output tokens/s, time to first token and latency p50/p95.

    Examples:

      internpipe bench recipes/demo-cpu.yaml --concurrency 4 --requests 32

      internpipe bench http://127.0.0.1:23333/v1 --model assistant -c 16 -n 256
    """
    from internpipe import devices, envs, services
    from internpipe.errors import UserError

    with guard(json_mode):
        base_url = endpoint
        if not endpoint.startswith(("http://", "https://")):
            r = pipeline.load(Path(endpoint), None)
            art = pipeline.endpoint_of(r, pipeline.need_stage_of_kind(r, "deploy"))
            if not services.is_serving(art):
                raise UserError(f"{endpoint}: its deploy stage is not serving; start it with "
                                f"internpipe deploy {endpoint} --detach")
            base_url, model = str(art["base_url"]), model or str(art["model"])
        if not model:
            raise UserError("--model is needed with a URL (the served model's name)")
        env = envs.ensure("transformers", devices.resolve_device(device or "auto"))
        argv = [str(env.python), str(WORKER), base_url, model, "--concurrency",
                str(concurrency), "--requests", str(requests), "--max-tokens", str(max_tokens)]
        if api_key_env:
            argv += ["--api-key-env", api_key_env]
        done = subprocess.run(argv, capture_output=True, text=True, env=envs.step_environ(env))
        line = next((x for x in done.stdout.splitlines() if x.startswith("INTERNPIPE-BENCH ")),
                    None)
        if line is None:
            raise UserError(f"the load test failed: {(done.stderr or done.stdout)[-800:]}")
        result = json.loads(line.split(" ", 1)[1])
    if json_mode:
        events.write({"event": "bench", "base_url": base_url, "model": model, **result})
    else:
        from rich.table import Table

        table = Table(title=f"{base_url}  model {model}", show_edge=False)
        for col in ("requests", "conc.", "ok", "failed", "req/s", "out tok/s", "TTFT p50",
                    "TTFT p95", "latency p50", "latency p95"):
            table.add_column(col, justify="right")

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.0f} ms"

        table.add_row(str(result["requests"]), str(result["concurrency"]), str(result["ok"]),
                      str(result["failed"]), f"{result['requests_per_s']:.2f}",
                      f"{result['output_tokens_per_s']:.1f}", ms(result["ttft_p50"]),
                      ms(result["ttft_p95"]), ms(result["latency_p50"]),
                      ms(result["latency_p95"]))
        console().print(table)
    raise typer.Exit(0 if result["failed"] == 0 else 1)
