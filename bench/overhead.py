"""The CPU demo through internpipe vs the same upstream commands in a plain shell script,
wall and CPU time (each command's own and its children's, os.wait4), alternating rounds in
the same invocation, tool envs already built (their build is not counted). Target: ratio
≤ 1.05.

The shell script is made from what internpipe itself would run (`plan`'s exact commands,
their environment variables, working folders and generated files), plus what the deploy
stage does around its server: start it in the background, poll /health, stop it at the end.
What internpipe adds on top: planning and fingerprints, env checks, logs, progress, the
smoke request, manifests and provenance, the checks of every output.

    python bench/overhead.py [ROUNDS] [RECIPE]   (default: 2 rounds of demo-cpu.yaml, the
                                                 real model: ~10 minutes a round; demo-tiny.yaml
                                                 takes ~2)
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _util import internpipe, timed_run  # noqa: E402
from internpipe import envs, recipe  # noqa: E402
from internpipe.fingerprint import HashCache  # noqa: E402
from internpipe.plan import Selection, make_plan  # noqa: E402
from internpipe.state import WorkDir  # noqa: E402


def shell_script(demo: Path) -> str:
    """The demo's upstream commands, in order, as a user would type them."""
    r = recipe.load(demo)
    wd = WorkDir(r.workdir)
    plan = make_plan(r, HashCache(wd.root / "hashes").path_hash, "cpu", Selection(force=True))
    state = wd.entries()
    lines = ["#!/usr/bin/env bash", "set -euo pipefail"]
    server_pid = None
    for sp in plan.stages:
        work, tmp_out = wd.work(sp.name), wd.tmp_out(sp.name)
        lines += [f"# --- {sp.name}", f"rm -rf {tmp_out} && mkdir -p {tmp_out} {work}"]
        if sp.kind == "evaluate":
            lines.append(f"rm -rf {work / 'outputs'}")
        if sp.kind == "agent":
            # The agent's spec names the live server: keep the one of the warm-up run (its
            # port is the one the script's server uses) and put it back before each run.
            saved = work.parent / "bench-spec.json"
            shutil.copy2(work / "spec.json", saved)
            lines.append(f"cp {saved} {work / 'spec.json'}")
        for step in sp.steps_preview:
            if sp.kind != "agent":
                for rel, text in step.files.items():
                    (work / rel).write_text(text)
            env = {**(envs.OFFLINE_VARS if step.offline else {}), **step.env}
            prefix = f"PATH={sp.env.bin}:$PATH " if step.tool and sp.env else ""
            exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
            lines.append(f"(cd {step.cwd or work} && {prefix}{exports} "
                         f"{shlex.join(step.argv)})")
        if sp.kind == "deploy":
            spec = json.loads((wd.work("agent") / "spec.json").read_text())
            port = re.search(r":(\d+)/", spec["chat_url"]).group(1)  # type: ignore[union-attr]
            log = Path(state["deploy"]["artifact"]["log"]).read_text().splitlines()[0]
            argv = re.sub(r"--port \d+", f"--port {port}", log.removeprefix("$ "))
            lines += [f"HF_HUB_OFFLINE=1 {argv} > {work}/bench-server.log 2>&1 &",
                      "server=$!",
                      f"until curl -sf http://127.0.0.1:{port}/health > /dev/null; do "
                      "sleep 0.5; done"]
            server_pid = "server"
    if server_pid:
        lines.append("kill $server; wait $server 2>/dev/null || true")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 2
    name = args[1] if len(args) > 1 else "demo-cpu.yaml"
    tmp = Path(tempfile.mkdtemp(prefix="internpipe-overhead-"))
    try:
        shutil.copytree(ROOT / "recipes", tmp / "recipes",
                        ignore=shutil.ignore_patterns(".internpipe"))
        demo = tmp / "recipes" / name
        cmd = [*internpipe(), "run", str(demo), "--json"]
        print("warm-up: building what is missing and running the demo once …", flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        script = tmp / "by-hand.sh"
        script.write_text(shell_script(demo))
        ours, theirs = [], []
        for i in range(rounds):
            theirs.append(timed_run(["bash", str(script)]))
            ours.append(timed_run([*cmd, "--force"]))
            print(f"round {i + 1}: shell script {theirs[-1].wall:.1f}s wall "
                  f"{theirs[-1].cpu:.1f}s CPU, internpipe {ours[-1].wall:.1f}s wall "
                  f"{ours[-1].cpu:.1f}s CPU", flush=True)
        for what in ("wall", "cpu"):
            a = statistics.median(getattr(x, what) for x in ours)
            b = statistics.median(getattr(x, what) for x in theirs)
            print(f"{name}, all stages, {what}: internpipe {a:.1f}s vs plain shell {b:.1f}s "
                  f"→ ratio {a / b:.3f} (target ≤ 1.05)")
        print(f"the script: {script}" if "--keep" in sys.argv else "")
    finally:
        if "--keep" not in sys.argv:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
