"""Kill campaign: SIGKILL and SIGINT at random moments in each stage of the CPU demo
(recipes/demo-tiny.yaml, the tiny model), each followed by a plain re-run of the recipe.

    python bench/kill_campaign.py [--trials 24] [--seed 1] [--max-seconds 900]
                                  [--workdir DIR] [--home DIR]

The recipes folder is copied to a temp folder (or DIR, kept and reused: a prepared one
skips the first full run) and the demo is run once whole. Then each trial forces one
stage again (`run --only STAGE --force --json`), sends SIGKILL or SIGINT to internpipe a
random time after that stage started (uniform over the stage's measured duration), and
runs again: the whole recipe (`run --json`: what the kill left must count as done or be
redone) or, half the time, that stage forced (it resumes from what the kill left).
Counted after every re-run:

- orphans: processes carrying the campaign's tag (every process internpipe starts inherits
  its environment, servers included) or the run token of a stage the kill left RUNNING
  (proc.TOKEN_VAR), still alive once the re-run has ended; and, after a SIGINT, what is
  still alive once the interrupted run has exited (a clean stop leaves nothing);
- published-but-unrecorded outputs: a stage's out/ whose manifest does not hash to the
  fingerprint its state entry records (or an out/ with no entry);
- re-runs that did not exit 0.

Each stage gets at least one trial; the rest go to stages in inverse proportion to their
duration (cheap stages are killed more often). Every command has a timeout and no trial
starts after --max-seconds, so the campaign ends by itself. Exit 0 when all counts are 0.
Tool envs come from INTERNPIPE_HOME (--home; none is built if they exist).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from internpipe import proc  # noqa: E402
from internpipe.fingerprint import digest  # noqa: E402

TAG_VAR = "INTERNPIPE_KILL_CAMPAIGN"
RECIPE = "demo-tiny.yaml"
RUN_TIMEOUT = 1800.0       # one whole demo run, slow machine


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "internpipe", *args]


def environ(home: Path, tag: str) -> dict[str, str]:
    env = dict(os.environ, INTERNPIPE_HOME=str(home), NO_COLOR="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env[TAG_VAR] = tag
    return env


def tagged(tag: str) -> set[int]:
    """Live processes whose environment carries the campaign's tag."""
    return set(proc.processes_with_env(TAG_VAR, tag))


def lingering(pids: set[int], grace: float = 5.0) -> set[int]:
    """Those of `pids` still alive (not zombies) after `grace` seconds."""
    deadline = time.monotonic() + grace
    while True:
        alive = {p for p in pids if _alive(p)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def unrecorded(workdir: Path) -> list[str]:
    """Stages whose out/ is not the output their state entry describes."""
    state = json.loads((workdir / "state.json").read_text())
    entries = state.get("stages") if isinstance(state.get("stages"), dict) else {}
    bad = []
    for out in sorted(workdir.glob("stages/*/out")):
        entry = entries.get(out.parent.name)
        try:
            files = json.loads((out / "manifest.json").read_text())
        except (OSError, ValueError):
            files = None
        if not isinstance(entry, dict) or files is None or \
                digest(files) != entry.get("artifact", {}).get("fingerprint"):
            bad.append(out.parent.name)
    return bad


def tokens(workdir: Path) -> list[str]:
    """Run tokens in the RUNNING markers a killed run left."""
    found = []
    for marker in workdir.glob("stages/*/RUNNING"):
        try:
            token = json.loads(marker.read_text()).get("token")
        except (OSError, ValueError, AttributeError):
            continue
        if token:
            found.append(str(token))
    return found


def plain_run(recipe: Path, env: dict[str, str], *args: str) -> tuple[int, float]:
    t0 = time.monotonic()
    try:
        code = subprocess.run(command("run", str(recipe), "--json", *args), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=RUN_TIMEOUT, start_new_session=True).returncode
    except subprocess.TimeoutExpired:
        code = -1
    return code, time.monotonic() - t0


def signalled_run(recipe: Path, env: dict[str, str], stage: str, sig: int, delay: float,
                  timeout: float) -> dict[str, Any]:
    """`run --only STAGE --force`, the signal `delay` s after STAGE started."""
    run = subprocess.Popen(command("run", str(recipe), "--only", stage, "--force", "--json"),
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, start_new_session=True)
    started = threading.Event()
    result: dict[str, Any] = {"sent": False, "hung": False, "seconds": None}

    def watch() -> None:
        assert run.stdout is not None
        for line in run.stdout:
            if f'"stage": "{stage}"' not in line:
                continue
            event = json.loads(line)
            if event.get("event") == "stage_started":
                started.set()
            elif event.get("event") == "stage_finished" and event.get("status") == "ok":
                result["seconds"] = event.get("seconds")

    threading.Thread(target=watch, daemon=True).start()

    if started.wait(timeout) and not _wait(run, delay):
        run.send_signal(sig)
        result["sent"] = True
    if run.poll() is None and not _wait(run, 60):      # a clean stop takes seconds
        result["hung"] = run.poll() is None
        run.kill()
    result["code"] = run.wait()
    return result


def _wait(run: subprocess.Popen[str], seconds: float) -> bool:
    """True if the run exited within `seconds`."""
    try:
        run.wait(seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def pick_stages(durations: dict[str, float], trials: int, rng: random.Random) -> list[str]:
    order = list(durations)
    rng.shuffle(order)
    weights = [1.0 / (durations[s] + 5.0) for s in durations]
    extra = rng.choices(list(durations), weights=weights, k=max(0, trials - len(order)))
    return (order + extra)[:trials]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=900.0,
                    help="start no trial after this many seconds (the prep run excluded)")
    ap.add_argument("--workdir", type=Path, help="keep the recipes copy here (reused)")
    ap.add_argument("--home", type=Path, default=Path(os.environ.get(
        "INTERNPIPE_HOME", ROOT / ".test-home")), help="INTERNPIPE_HOME with the tool envs")
    args = ap.parse_args()
    if args.trials < 1:
        ap.error("--trials must be at least 1")
    rng = random.Random(args.seed)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="kill-campaign-"))
    if not (base / "recipes" / RECIPE).exists():
        shutil.copytree(ROOT / "recipes", base / "recipes",
                        ignore=shutil.ignore_patterns(".internpipe"))
    recipe = base / "recipes" / RECIPE
    workdir = base / "recipes" / ".internpipe" / "demo-tiny"
    tag = uuid.uuid4().hex
    env = environ(args.home, tag)

    code, seconds = plain_run(recipe, env)
    print(f"prep: the whole demo, exit {code}, {seconds:.0f}s ({workdir})", flush=True)
    if code != 0:
        print("the demo does not run; no campaign", file=sys.stderr)
        return 2
    entries = json.loads((workdir / "state.json").read_text())["stages"]
    durations = {s: float(e.get("seconds") or 1.0) for s, e in entries.items()}
    counts = {"orphans": 0, "unrecorded": 0, "rerun_failed": 0, "sigint_leftovers": 0,
              "hung": 0, "finished_before_signal": 0}
    t0, done = time.monotonic(), 0
    print(f"{'#':>3} {'stage':9} {'signal':7} {'delay':>6} {'exit':>5} {'re-run':6} "
          f"{'exit':>5} {'secs':>5}  findings", flush=True)
    for i, stage in enumerate(pick_stages(durations, args.trials, rng), 1):
        if time.monotonic() - t0 > args.max_seconds:
            print(f"--max-seconds reached: {done} of {args.trials} trials run")
            break
        sig = rng.choice([signal.SIGKILL, signal.SIGINT])
        delay = rng.uniform(0, durations[stage])
        killed = signalled_run(recipe, env, stage, sig, delay, timeout=600)
        findings = []
        if not killed["sent"]:
            counts["finished_before_signal"] += 1
            findings.append("finished before the signal")
        if killed["seconds"]:     # a forced run may take less than the first: aim anew
            durations[stage] = float(killed["seconds"])
        if killed["hung"]:
            counts["hung"] += 1
            findings.append("did not stop within 60 s of SIGINT")
        if sig == signal.SIGINT and killed["sent"]:
            left = lingering(tagged(tag))
            counts["sigint_leftovers"] += len(left)
            if left:
                findings.append(f"left after Ctrl-C: {sorted(left)}")
        marked = tokens(workdir)
        forced = rng.random() < 0.5
        if forced:          # the killed stage again, from what the kill left (resumes)
            rerun, secs = plain_run(recipe, env, "--only", stage, "--force")
        else:
            rerun, secs = plain_run(recipe, env)
        orphans = lingering(tagged(tag) | {p for t in marked
                                           for p in proc.processes_with_token(t)})
        bad = unrecorded(workdir)
        counts["orphans"] += len(orphans)
        counts["unrecorded"] += len(bad)
        counts["rerun_failed"] += rerun != 0
        if orphans:
            findings.append(f"orphans {sorted(orphans)}")
            for pid in orphans:                  # keep later trials clean
                os.kill(pid, signal.SIGKILL)
        if bad:
            findings.append(f"unrecorded out/: {bad}")
        print(f"{i:>3} {stage:9} {signal.Signals(sig).name:7} {delay:6.1f} "
              f"{killed['code']:>5} {'forced' if forced else 'plain':6} {rerun:>5} "
              f"{secs:5.0f}  {'; '.join(findings)}",
              flush=True)
        done += 1
    print(f"\nkill campaign: {done} trials (seed {args.seed}) in "
          f"{time.monotonic() - t0:.0f}s, work dir {workdir}")
    for name, value in counts.items():
        print(f"  {name.replace('_', ' ')}: {value}")
    clean = not any(counts[k] for k in ("orphans", "unrecorded", "rerun_failed",
                                        "sigint_leftovers", "hung"))
    if clean and args.workdir is None:      # a temp copy with findings is kept to look at
        shutil.rmtree(base, ignore_errors=True)
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
