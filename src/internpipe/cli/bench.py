from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from internpipe import events, pipeline
from internpipe.cli.shared import DeviceOpt, JsonOpt, console, guard


def command(
    endpoint: Annotated[str, typer.Argument(metavar="ENDPOINT", help="A base URL "
                                            "(http://HOST:PORT/v1) or a recipe whose deploy "
                                            "stage is serving.", show_default=False)],
    concurrency: Annotated[list[int] | None, typer.Option(
        "--concurrency", "-c", min=1, max=4096, help="Requests in flight; repeat for one "
        "run each (-c 1 -c 4).  [default: 1, 4]", show_default=False)] = None,
    requests: Annotated[int, typer.Option("--requests", "-n", min=1, max=1_000_000,
                                          help="Requests per run.")] = 16,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, max=1 << 20)] = 64,
    rate: Annotated[float | None, typer.Option(
        "--rate", min=0.001, help="Requests per second, sent at Poisson arrival times "
        "(seeded); default: as fast as the concurrency allows.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the prompt order and the "
                                                     "arrivals.")] = 0,
    warmup: Annotated[int, typer.Option("--warmup", min=0, max=10_000,
                                        help="Requests sent first and not counted.")] = 2,
    dataset: Annotated[Path | None, typer.Option(
        "--dataset", metavar="FILE", help="JSONL prompts: {\"messages\": [...]} or "
        "{\"prompt\": ...} a line (default: a bundled varied set).", show_default=False,
        exists=True, dir_okay=False)] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Also write the results (JSON) here.",
        show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", help="The served model name "
                                              "(taken from the recipe if given one).",
                                              show_default=False)] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", show_default=False)
                           ] = None,
    device: DeviceOpt = None,
    json_mode: JsonOpt = False,
) -> None:
    """Load-test an OpenAI-compatible endpoint (asyncio, streaming, the official openai
    client), measuring what `evalscope perf` does: requests/s, output tokens/s from the
    server's usage, TTFT, TPOT, ITL and latency p50/p90/p95/p99/mean, after a warm-up, one run
    per concurrency. With a recipe the results are kept in the work dir (bench/).

    Examples:

      internpipe bench recipes/demo-cpu.yaml -c 1 -c 4

      internpipe bench http://127.0.0.1:23333/v1 --model assistant -c 16 -n 256 --rate 8

      internpipe bench recipes/demo-cpu.yaml --dataset prompts.jsonl -o bench.json
    """
    from internpipe import devices, envs, loadtest, services, state
    from internpipe.errors import UserError

    with guard(json_mode):
        base_url, keep_in = endpoint, None
        if not endpoint.startswith(("http://", "https://")):
            r = pipeline.load(Path(endpoint), None)
            art = pipeline.endpoint_of(r, pipeline.need_stage_of_kind(r, "deploy"))
            if not services.is_serving(art):
                raise UserError(f"{endpoint}: its deploy stage is not serving; start it with "
                                f"internpipe deploy {endpoint} --detach")
            base_url, model = str(art["base_url"]), model or str(art["model"])
            api_key_env = api_key_env or art.get("api_key_env")
            keep_in = r.workdir / "bench"
        if not model:
            raise UserError("--model is needed with a URL (the served model's name)")
        env = envs.ensure("transformers", devices.resolve_device(device or "auto"))
        settings = loadtest.Settings(concurrency=concurrency or [1, 4], requests=requests,
                                     max_tokens=max_tokens, rate=rate, seed=seed,
                                     warmup=warmup, dataset=dataset and dataset.resolve())
        try:
            doc = loadtest.run(loadtest.argv(env.python, base_url, model, settings,
                                             api_key_env), envs.step_environ(env),
                               base_url, model)
        except loadtest.LoadTestFailed as exc:
            raise UserError(f"the load test failed: {exc.reason}", []) from None
        saved = []
        for target in ([keep_in / loadtest.timestamp_name()] if keep_in else []) + \
                ([output] if output else []):
            target.parent.mkdir(parents=True, exist_ok=True)
            state.write_json(target, doc)
            saved.append(str(target))
    if json_mode:
        events.write({"event": "bench", **{k: v for k, v in doc.items()
                                           if k not in ("schema", "tool")}, "files": saved})
    else:
        show(doc, saved)
    raise typer.Exit(0 if loadtest.failed(doc) == 0 else 1)


def show(doc: dict[str, Any], saved: list[str]) -> None:
    from rich.table import Table

    sources = sorted({run["token_source"] for run in doc["runs"]})
    rates = sorted({f"{run['rate']:g} req/s (Poisson)" for run in doc["runs"]
                    if run["rate"] is not None})
    table = Table(title=f"{doc['base_url']}  model {doc['model']}", show_edge=False,
                  pad_edge=False, caption=f"times in ms; tokens from {' and '.join(sources)}"
                  + (f"; sent at {rates[0]}" if rates else ""))
    for col in ("conc.", "ok/sent", "req/s", "tok/s", "TTFT p50/p99", "TPOT p50",
                "ITL p50", "latency p50/p95/p99"):
        table.add_column(col, justify="right")

    def ms(run: dict[str, Any], key: str, *qs: str) -> str:
        values = [run[key].get(q) for q in qs]
        return "/".join("-" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"
                        for v in values)

    for run in doc["runs"]:
        table.add_row(str(run["concurrency"]), f"{run['ok']}/{run['requests']}",
                      f"{run['requests_per_s']:.2f}", f"{run['output_tokens_per_s']:.1f}",
                      ms(run, "ttft_ms", "p50", "p99"), ms(run, "tpot_ms", "p50"),
                      ms(run, "itl_ms", "p50"), ms(run, "latency_ms", "p50", "p95", "p99"))
    out = console()
    out.print(table)
    for run in doc["runs"]:
        for error in run.get("errors", []):
            out.print(f"  c={run['concurrency']}: {error}", markup=False)
    for path in saved:
        out.print(f"saved {path}", markup=False)
