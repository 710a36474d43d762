"""Test-only stage kinds, registered through INTERNPIPE_PLUGINS=support.teststages.

- source:    writes `text` into out/data.txt (a model-producing stage without inputs)
- transform: reads its input's data.txt, appends `suffix` (takes the nearest model)
- fail:      a step that exits with `code`
- slow:      writes out/partial.txt, then sleeps `seconds` (for signals), then finishes;
             its child writes its pid to work/child.pid so tests can check it is gone
- liar:      exits 0 without writing what collect() expects (exit codes lie upstream)
- env_probe: prints and records CUDA_VISIBLE_DEVICES, SLURM_JOB_ID, HF_HUB_OFFLINE
- echo_server: a service stage (like deploy) whose server answers every GET with "ok";
             `port` fixed or auto, refused at run time when the port is busy; `keep`
- client:    takes an endpoint; its step GETs the endpoint's health URL (fails if down)
- scorer:    a score table (like evaluate's) of `scores` {dataset: {model: score}}, for gates
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from internpipe import services, stages
from internpipe.errors import StageFailed, UserError
from internpipe.stages import MODEL, SCORES, InputSpec, StageContext, Step, base

PY = sys.executable


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _no_tool(options: Any, device: str) -> None:
    return None


def _no_files(options: Any, recipe_dir: Path) -> list[Path]:
    return []


def _check_data(ctx: StageContext) -> dict[str, Any]:
    data = ctx.out / "data.txt"
    if not data.exists():
        raise StageFailed(ctx.name, "data.txt was not written")
    return {"text": data.read_text()}


class _Kind:
    """A kind as one object; every member of the contract is set, optional ones from
    stages.base like the real kinds."""

    def __init__(self, name: str, options: type[BaseModel], plan: Any,
                 inputs: tuple[InputSpec, ...] = (), local_files: Any = _no_files,
                 collect: Any = _check_data, produces: str = MODEL, serve: Any = None,
                 keeps_serving: Any = base.never_keeps_serving, tool: Any = _no_tool) -> None:
        self.KIND = name
        self.PRODUCES = produces
        self.Options = options
        self.INPUTS = inputs
        self.VERSION = base.VERSION
        self.NOT_FINGERPRINTED = base.NOT_FINGERPRINTED
        self.SERVICE = serve is not None
        self.SLURM_NATIVE = base.SLURM_NATIVE
        self.serve = serve if serve is not None else base.serve
        self.tool = tool
        self.local_files = local_files
        self.check = base.no_checks
        self.plan = plan
        self.notes = base.no_notes
        self.parse_line = base.no_progress
        self.keeps_serving = keeps_serving
        self.collect = collect


class SourceOptions(_Base):
    text: str = "hello"
    file: str | None = None
    stamp: bool = False        # append the time: every run makes another output (as training)


def _source_plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    code = ("import sys, pathlib; text = sys.argv[2]\n"
            "if sys.argv[3]: text += pathlib.Path(sys.argv[3]).read_text()[:20]\n"
            "if sys.argv[4]: import time; text += str(time.time_ns())\n"
            "pathlib.Path(sys.argv[1], 'data.txt').write_text(text); print('wrote', text)")
    file = str(ctx.recipe_dir / opts.file) if opts.file else ""
    return [Step("write", [PY, "-c", code, str(ctx.out), opts.text, file,
                           "1" if opts.stamp else ""])]


def _source_files(options: Any, recipe_dir: Path) -> list[Path]:
    return [recipe_dir / options.file] if options.file else []


class TransformOptions(_Base):
    model: str | None = None
    suffix: str = "!"


def _transform_plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    src = ctx.input("model").path / "data.txt"
    code = ("import sys, pathlib\n"
            "t = pathlib.Path(sys.argv[1]).read_text() + sys.argv[3]\n"
            "pathlib.Path(sys.argv[2], 'data.txt').write_text(t); print('wrote', t)")
    return [Step("transform", [PY, "-c", code, str(src), str(ctx.out), opts.suffix])]


class FailOptions(_Base):
    code: int = 3


def _fail_plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    code = f"import sys; print('about to fail'); sys.exit({opts.code})"
    return [Step("fail", [PY, "-c", code])]


class SlowOptions(_Base):
    seconds: float = 30


def _slow_plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    code = ("import os, sys, time, pathlib, subprocess\n"
            "out, work, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])\n"
            "pathlib.Path(out, 'partial.txt').write_text('half')\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "pathlib.Path(work, 'child.pid').write_text(str(child.pid))\n"
            "print('started', flush=True)\n"
            "time.sleep(secs)\n"
            "child.kill()\n"
            "pathlib.Path(out, 'data.txt').write_text('slow done')\n")
    return [Step("sleep", [PY, "-c", code, str(ctx.out), str(ctx.work), str(opts.seconds)])]


def _liar_plan(ctx: StageContext) -> list[Step]:
    return [Step("lie", [PY, "-c", "print('all good, honest')"])]


class LiarOptions(_Base):
    pass


stages.register("source", _Kind("source", SourceOptions, _source_plan,  # type: ignore[arg-type]
                                 local_files=_source_files))
stages.register("transform", _Kind("transform", TransformOptions, _transform_plan,  # type: ignore[arg-type]
                                   inputs=(InputSpec("model", frozenset({MODEL})),)))
stages.register("fail", _Kind("fail", FailOptions, _fail_plan))  # type: ignore[arg-type]
stages.register("slow", _Kind("slow", SlowOptions, _slow_plan))  # type: ignore[arg-type]
stages.register("liar", _Kind("liar", LiarOptions, _liar_plan))  # type: ignore[arg-type]


class WaiterOptions(_Base):
    endpoint: str | None = None
    seconds: float = 30


def _waiter_plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    code = ("import sys, time, pathlib\n"
            "pathlib.Path(sys.argv[1], 'waiting').write_text('x'); print('waiting', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "pathlib.Path(sys.argv[3], 'data.txt').write_text('waited')\n")
    return [Step("wait", [PY, "-c", code, str(ctx.work), str(opts.seconds), str(ctx.out)])]


stages.register("waiter", _Kind("waiter", WaiterOptions, _waiter_plan,  # type: ignore[arg-type]
                                inputs=(InputSpec("endpoint", frozenset({stages.ENDPOINT})),)))


class EnvProbeOptions(_Base):
    pass


def _env_probe_plan(ctx: StageContext) -> list[Step]:
    code = ("import os, sys, pathlib\n"
            "seen = {k: os.environ.get(k, '') for k in ('CUDA_VISIBLE_DEVICES', 'SLURM_JOB_ID',"
            " 'HF_HUB_OFFLINE')}\n"
            "print('seen', seen, flush=True)\n"
            "pathlib.Path(sys.argv[1], 'data.txt').write_text(repr(seen))\n")
    return [Step("probe", [PY, "-c", code, str(ctx.out)], offline=True)]


stages.register("env_probe", _Kind("env_probe", EnvProbeOptions,  # type: ignore[arg-type]
                                   _env_probe_plan))


class EchoServerOptions(_Base):
    port: int | Literal["auto"] = "auto"
    keep: bool = False


ECHO_SERVER = ("import http.server, sys\n"
               "class H(http.server.BaseHTTPRequestHandler):\n"
               "    def do_GET(self):\n"
               "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
               "    def log_message(self, *args): pass\n"
               "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")


def _echo_plan(ctx: StageContext) -> list[Step]:
    return []


def _echo_serve(ctx: StageContext) -> services.ServiceSpec:
    opts: Any = ctx.options
    if opts.port == "auto":
        port = services.free_port()
    else:
        port = int(opts.port)
        if not services.port_free("127.0.0.1", port):     # like deploy: refused at run time
            raise UserError(f"stage {ctx.name!r}: port {port} on 127.0.0.1 is in use")
    base_url = f"http://127.0.0.1:{port}"
    return services.ServiceSpec(argv=[PY, "-c", ECHO_SERVER, str(port)], env=dict(os.environ),
                                health_url=f"{base_url}/health", base_url=f"{base_url}/v1",
                                model="echo", engine="echo", ready_timeout=30)


def _echo_collect(ctx: StageContext) -> dict[str, Any]:
    info = services.read_record(ctx.work)
    (ctx.out / "endpoint.json").write_text(repr(info))
    return {k: info[k] for k in ("base_url", "health_url", "model", "engine", "pid", "log")}


def _echo_keeps_serving(options: Any) -> bool:
    return bool(options.keep)


stages.register("echo_server", _Kind(  # type: ignore[arg-type]
    "echo_server", EchoServerOptions, _echo_plan, collect=_echo_collect,
    produces=stages.ENDPOINT, serve=_echo_serve, keeps_serving=_echo_keeps_serving))


class ClientOptions(_Base):
    endpoint: str | None = None


def _client_plan(ctx: StageContext) -> list[Step]:
    url = str(ctx.input("endpoint").endpoint().get("health_url") or "<not served yet>")
    code = ("import sys, pathlib, urllib.request\n"
            "reply = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()\n"
            "pathlib.Path(sys.argv[2], 'data.txt').write_text(reply); print('got', reply)\n")
    return [Step("call", [PY, "-c", code, url, str(ctx.out)])]


stages.register("client", _Kind("client", ClientOptions, _client_plan,  # type: ignore[arg-type]
                                inputs=(InputSpec("endpoint", frozenset({stages.ENDPOINT})),)))


class InEnvOptions(_Base):
    model: str | None = None
    remove_env: bool = False      # the step deletes its own interpreter (an `env remove`)


def _in_env_tool(options: Any, device: str) -> str:
    return "hfhub"      # any tool env; tests point it at an interpreter of their own


def _in_env_plan(ctx: StageContext) -> list[Step]:
    opts: Any = ctx.options
    code = ("import os, sys, pathlib\n"
            "pathlib.Path(sys.argv[1], 'data.txt').write_text('in env')\n"
            "if sys.argv[2] == '1': os.unlink(sys.argv[3])\n")
    return [Step("work", [str(ctx.python), "-c", code, str(ctx.out),
                          "1" if opts.remove_env else "0", str(ctx.python)], tool="hfhub")]


stages.register("in_env", _Kind("in_env", InEnvOptions, _in_env_plan,  # type: ignore[arg-type]
                                inputs=(InputSpec("model", frozenset({MODEL}),
                                                  default="none"),),
                                tool=_in_env_tool))


def _disk_full_collect(ctx: StageContext) -> dict[str, Any]:
    import errno

    raise OSError(errno.ENOSPC, "No space left on device", str(ctx.out / "data.txt"))


stages.register("disk_full", _Kind("disk_full", LiarOptions, _liar_plan,  # type: ignore[arg-type]
                                   collect=_disk_full_collect))


class ScorerOptions(_Base):
    scores: dict[str, dict[str, float]] = {"qa": {"base": 40.0, "tuned": 45.0}}


def _scorer_plan(ctx: StageContext) -> list[Step]:
    code = "import sys, pathlib; pathlib.Path(sys.argv[1], 'data.txt').write_text('scored')"
    return [Step("score", [PY, "-c", code, str(ctx.out)])]


def _scorer_collect(ctx: StageContext) -> dict[str, Any]:
    opts: Any = ctx.options
    models = sorted({m for row in opts.scores.values() for m in row})
    return {"models": models, "datasets": list(opts.scores),
            "scores": {"models": models, "base": models[0],
                       "rows": [{"dataset": d, "version": "x", "metric": "score",
                                 "mode": "gen", "scores": row, "deltas": {}}
                                for d, row in opts.scores.items()]}}


stages.register("scorer", _Kind("scorer", ScorerOptions, _scorer_plan,  # type: ignore[arg-type]
                                collect=_scorer_collect, produces=SCORES))
