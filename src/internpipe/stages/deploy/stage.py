"""deploy: an OpenAI-compatible server for the recipe's model. LMDeploy's api_server where
CUDA is (its engines serve on CUDA/Ascend-class devices only), `transformers serve` on CPU.

The stage's service is started by the runner from `serve(ctx)`, detached with a pidfile and
a log, and stopped at the end of the run unless `keep: true` or `--keep-serving`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from internpipe import envs, loadtest, services, state, template_lock
from internpipe.artifacts import EndpointArtifact
from internpipe.errors import StageFailed
from internpipe.stages import StageContext, Step, base
from internpipe.stages.base import WORKERS
from internpipe.stages.deploy.options import (
    CUDA_ONLY,
    INPUTS,
    KIND,
    PRODUCES,
    Options,
    check,
    engine,
)

__all__ = ["INPUTS", "KIND", "PRODUCES", "Options", "check"]

VERSION = base.VERSION
# How long a server lives or may take to start changes nothing it serves.
# model_format only asserts what the model is (the flag follows its quantization_config).
NOT_FINGERPRINTED = ("keep", "ready_timeout", "model_format")
SERVICE = True
SLURM_NATIVE = base.SLURM_NATIVE
LAUNCH = WORKERS / "lmdeploy_serve.py"
parse_line = base.no_progress


def local_files(options: Options, recipe_dir: Path) -> list[Path]:
    """The bench's prompts file: its content is part of what the bench measured."""
    if options.bench is not None and options.bench.dataset is not None:
        return [recipe_dir / options.bench.dataset]
    return []


def keeps_serving(options: Options) -> bool:
    """`keep: true` leaves the server up after the run."""
    return options.keep


def tool(options: Options, device: str) -> str | None:
    return "lmdeploy" if engine(options, device) == "lmdeploy" else "transformers"


def _checks(ctx: StageContext) -> None:
    """What the recipe's checks (deploy/checks.py) cannot know before the run: the key."""
    opts = ctx.options_as(Options)
    if opts.api_key_env and not os.environ.get(opts.api_key_env):
        raise ctx.refuse(f"api_key_env {opts.api_key_env!r} names an environment variable "
                         "that is not set", "api_key_env")
    template_lock.check_started(ctx, [ctx.input("model")], opts.chat_template,
                                ("chat_template",))
    config = ctx.input("model").path / "config.json"
    is_awq = _quantization_config(ctx.input("model").path).get("quant_method") == "awq"
    # Planned before the model exists (a quantize stage of the same run): checked at serve.
    if opts.model_format is not None and config.is_file() and \
            (opts.model_format == "awq") != is_awq:
        raise ctx.refuse(f"model_format {opts.model_format}, but the model "
                         f"{'is' if is_awq else 'is not'} AWQ-quantized (its config.json's "
                         "quantization_config); remove `model_format:` (it follows the model)",
                         "model_format")


def _chat_template(ctx: StageContext) -> str | None:
    """The template the server renders. A fine-tuned model's folder carries the template it
    was trained with, which LMDeploy renders as `hf` (its name for the folder's own)."""
    opts = ctx.options_as(Options)
    art = ctx.input("model").model()
    if art.get("template"):
        return template_lock.OWN
    return opts.chat_template or art.get("chat_template")


def lmdeploy_argv(ctx: StageContext, port: int) -> list[str]:
    """The exact `lmdeploy serve api_server` command, through workers/lmdeploy_serve.py: the
    API key is named by its variable, read inside the server's process and handed to
    LMDeploy there, so it is in no command line (`ps`), plan output, log or state."""
    opts = ctx.options_as(Options)
    model = ctx.input("model")
    launch = [str(ctx.python), str(LAUNCH),
              *(["--api-key-env", opts.api_key_env] if opts.api_key_env else []), "--"]
    argv = [*launch, "serve", "api_server", str(model.path),
            "--server-name", opts.host, "--server-port", str(port),
            "--backend", opts.backend, "--model-name", opts.model_name or ctx.recipe_name,
            "--tp", str(opts.tp), "--quant-policy", str(opts.quant_policy),
            "--cache-max-entry-count", str(opts.cache_max_entry_count)]
    template = _chat_template(ctx)
    if template:
        argv += ["--chat-template", template]
    is_awq = _quantization_config(model.path).get("quant_method") == "awq"
    model_format = opts.model_format or ("awq" if is_awq else None)
    if model_format:
        argv += ["--model-format", model_format]
    if opts.session_len:
        argv += ["--session-len", str(opts.session_len)]
    if opts.max_batch_size:
        argv += ["--max-batch-size", str(opts.max_batch_size)]
    return argv + opts.extra_args


def transformers_argv(ctx: StageContext, port: int) -> list[str]:
    opts = ctx.options_as(Options)
    argv = [str(Path(str(ctx.python)).parent / "transformers"), "serve",
            str(ctx.input("model").path), "--device", ctx.device, "--host", opts.host,
            "--port", str(port)]
    argv += CONTINUOUS_BATCHING if opts.continuous_batching else []
    return argv + opts.extra_args


# transformers sizes the paged KV cache of continuous batching from the memory it sees: on a
# CPU that is the machine's RAM (SmolLM2-135M's server grew to 13.7 GB and was OOM-killed on
# a 24 GB machine). A fixed cache, 64 pages of 256 tokens (16k tokens in flight: 0.4 GB for
# SmolLM2 in float16, 2 GB for a 7B), keeps it at 1.5 GB for the demo's model.
CB_PAGE_TOKENS, CB_PAGES = 256, 64
CONTINUOUS_BATCHING = ["--continuous-batching", "--cb-block-size", str(CB_PAGE_TOKENS),
                       "--cb-num-blocks", str(CB_PAGES)]


def _quantization_config(model_dir: Path) -> dict[str, Any]:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    qc = config.get("quantization_config")
    return qc if isinstance(qc, dict) else {}


def plan(ctx: StageContext) -> list[Step]:
    _checks(ctx)
    return []          # the server itself is started by the runner from serve()


def notes(ctx: StageContext) -> list[str]:
    opts = ctx.options_as(Options)
    port = "a free port" if opts.port == "auto" else str(opts.port)
    argv = (lmdeploy_argv if engine(opts, ctx.device) == "lmdeploy" else transformers_argv)(
        ctx, 0 if opts.port == "auto" else int(opts.port))
    if opts.port == "auto":
        argv = [("<free port>" if a == "0" and prev in ("--port", "--server-port") else a)
                for prev, a in zip(["", *argv[:-1]], argv, strict=True)]
    found = [f"serves with {engine(opts, ctx.device)} on {opts.host}:{port}: " + " ".join(argv)]
    if engine(opts, ctx.device) == "transformers":
        unused = [f"{name} {getattr(opts, name)}" for name, default in CUDA_ONLY.items()
                  if getattr(opts, name) != default]
        if unused:
            found.append(f"not used on {ctx.device} by the transformers engine: "
                         f"{', '.join(unused)} (LMDeploy's options: they apply where LMDeploy "
                         "serves, on CUDA)")
    if opts.bench is not None:
        b = opts.bench
        found.append(f"then a load test (bench.json): concurrency "
                     f"{', '.join(map(str, b.concurrency))}, {b.requests} requests each of "
                     f"{b.max_tokens} tokens at most, "
                     + (f"{b.rate:g} req/s (Poisson)" if b.rate else "as fast as it serves")
                     + f", after {b.warmup} warm-up requests")
    res = ctx.resources
    if res is not None and res.launcher == "slurm" and opts.host.startswith("127."):
        found.append(f"as a Slurm job bound to {opts.host}: reachable from its own node "
                     "only; set host: 0.0.0.0 on a cluster")
    return found


def serve(ctx: StageContext) -> services.ServiceSpec:
    opts = ctx.options_as(Options)
    _checks(ctx)
    if opts.port == "auto":
        port = services.free_port(opts.host)
    else:
        port = int(opts.port)
        if not services.port_free(opts.host, port):
            raise ctx.refuse(f"port {port} on {opts.host} is in use; stop what holds it, "
                             "choose another `port:`, or use `port: auto`", "port")
    eng = engine(opts, ctx.device)
    argv = (lmdeploy_argv if eng == "lmdeploy" else transformers_argv)(ctx, port)
    host = "127.0.0.1" if opts.host in ("0.0.0.0", "") else opts.host
    base = f"http://{host}:{port}"
    model = (opts.model_name or ctx.recipe_name) if eng == "lmdeploy" else \
        str(ctx.input("model").path)
    return services.ServiceSpec(argv=argv, env=envs.step_environ(ctx.env, offline=True),
                                health_url=f"{base}/health", base_url=f"{base}/v1",
                                model=model, engine=eng, ready_timeout=opts.ready_timeout)


def collect(ctx: StageContext) -> EndpointArtifact:
    """The server is up (the runner waited for health): one real request through the
    official openai client, then the endpoint as the artifact."""
    opts = ctx.options_as(Options)
    info = services.read_record(ctx.work)
    argv = [str(ctx.python), str(WORKERS / "openai_check.py"), info["base_url"], info["model"]]
    if opts.api_key_env:
        argv.append(opts.api_key_env)
    try:
        check = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                               env=envs.step_environ(ctx.env, offline=True))
    except subprocess.TimeoutExpired:
        raise StageFailed(ctx.name, f"the smoke request to {info['base_url']} got no answer "
                                    "within 300 s") from None
    lines = (check.stdout + check.stderr).strip().splitlines()
    if check.returncode != 0:
        reason = next((ln.removeprefix("internpipe-error: ") for ln in lines
                       if ln.startswith("internpipe-error: ")), "the smoke request failed")
        raise StageFailed(ctx.name, reason, lines[-10:])
    reply = json.loads(lines[-1])
    endpoint = {k: info[k] for k in ("base_url", "model", "engine", "pid", "log")}
    (ctx.out / "endpoint.json").write_text(json.dumps(endpoint, indent=1) + "\n")
    found = EndpointArtifact(
        base_url=info["base_url"], model=info["model"], engine=info["engine"], pid=info["pid"],
        log=info["log"], keep=opts.keep, health_url=info["health_url"],
        model_dir=str(ctx.input("model").path), api_key_env=opts.api_key_env,
        chat_template=_chat_template(ctx), smoke=reply)
    if opts.bench is not None:
        _bench(ctx, opts, info)
        found["bench"] = "bench.json"
    return found


def _bench(ctx: StageContext, opts: Options, info: dict[str, Any]) -> None:
    """The load test against the server just started: bench.json in the output. A run with
    failed requests fails the stage (the figures would measure errors)."""
    assert opts.bench is not None
    b = opts.bench
    settings = loadtest.Settings(
        concurrency=list(b.concurrency), requests=b.requests, max_tokens=b.max_tokens,
        rate=b.rate, seed=b.seed, warmup=b.warmup,
        dataset=ctx.recipe_dir / b.dataset if b.dataset else None)
    command = loadtest.argv(ctx.python or "python", info["base_url"], info["model"], settings,
                            opts.api_key_env)
    try:
        doc = loadtest.run(command, envs.step_environ(ctx.env, offline=True),
                           info["base_url"], info["model"])
    except loadtest.LoadTestFailed as exc:
        raise StageFailed(ctx.name, f"the bench: {exc.reason}", exc.tail[-10:]) from None
    failed = loadtest.failed(doc)
    if failed:
        errors = [e for run in doc["runs"] for e in run.get("errors", [])]
        raise StageFailed(ctx.name, f"the bench: {failed} requests failed", errors[:5])
    state.write_json(ctx.out / "bench.json", doc)
