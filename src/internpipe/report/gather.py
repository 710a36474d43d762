"""What the report shows, gathered from a work dir as JSON-able data (report.json). Reads
only. Files are read from the work dir's own layout (stages/NAME/out, …), not from the
absolute paths recorded in the state, so a copied or archived work dir reports the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from internpipe import artifacts
from internpipe.report import drift as drift_figures
from internpipe.report import samples
from internpipe.state import StageStatus, WorkDir

CURVE_KEYS = ("loss", "lr", "grad_norm")
MAX_TRANSCRIPTS = 200


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_jsonl(path: Path, limit: int = 100_000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if len(rows) >= limit:
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        pass
    return rows


def curves(path: Path) -> dict[str, list[Any]]:
    """loss.jsonl → {"iter": [...], "loss": [...], "lr": [...], "grad_norm": [...]} (None
    where an iteration did not log that figure)."""
    rows = [r for r in read_jsonl(path) if any(k in r for k in CURVE_KEYS)]
    found: dict[str, list[Any]] = {"iter": [int(r.get("iter", r.get("step", i + 1)))
                                            for i, r in enumerate(rows)]}
    for key in CURVE_KEYS:
        values = [r.get(key) for r in rows]
        if any(isinstance(v, int | float) for v in values):
            found[key] = [float(v) if isinstance(v, int | float) else None for v in values]
    return found


def transcripts(wd: WorkDir, name: str, art: dict[str, Any]) -> list[Any]:
    """The agent's transcripts: the published ones, or, for a stage that failed or was
    interrupted, the per-query files its run left in work/transcripts/."""
    if art.get("transcripts"):
        found = read_json(wd.out(name) / str(art["transcripts"]))
        if isinstance(found, list):
            return found[:MAX_TRANSCRIPTS]
    left = sorted((wd.work(name) / "transcripts").glob("*.json"))[:MAX_TRANSCRIPTS]
    return [r for r in (read_json(p) for p in left) if isinstance(r, dict)]


def served_command(art: dict[str, Any]) -> list[str] | None:
    """The server's command of a service stage whose entry predates recording it: the last
    `$ …` line services.launch wrote to the server log."""
    log = art.get("log")
    if not log:
        return None
    try:
        lines = Path(str(log)).read_text(errors="replace").splitlines()
    except OSError:
        return None
    last = next((x for x in reversed(lines) if x.startswith("$ ")), None)
    return last[2:].split(" ") if last else None


def shown_state(sp: Any, entry: dict[str, Any] | None) -> str:
    """The state as the report names it. A service stage whose server a run stopped when it
    ended (as runs do unless `keep: true`) is "stopped by design", not out of date."""
    status = sp.status.value
    if sp.status == StageStatus.NOT_SERVING and entry is not None and \
            entry.get("fingerprint") == sp.fingerprint and \
            not artifacts.of_entry(entry).get("keep"):
        return "stopped by design"
    return str(status)


def bench_files(wd: WorkDir, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Load-test results: the deploy stage's (its artifact's `bench` file), then those
    `internpipe bench` saved under <workdir>/bench/, newest last."""
    found = []
    for s in stages:
        name = s["artifact"].get("bench")
        if name:
            data = read_json(wd.out(s["stage"]) / str(name))
            if isinstance(data, dict) and isinstance(data.get("runs"), list):
                found.append({"source": f"stage {s['stage']}", **data})
    for path in sorted((wd.root / "bench").glob("*.json"))[-10:]:
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("runs"), list):
            found.append({"source": f"internpipe bench ({path.name})", **data})
    return found


def stage_data(wd: WorkDir, sp: Any) -> dict[str, Any]:
    entry = sp.entry or {}
    art = artifacts.of_entry(entry)
    out = wd.out(sp.name)
    commands = [list(map(str, c)) for c in entry.get("steps") or []]
    if not commands and art.get("base_url"):
        commands = [c for c in [served_command(art)] if c]
    provenance = read_json(out / "provenance.json") if entry else None
    if isinstance(provenance, dict):
        versions = provenance.get("tool_versions") or {}
        provenance["tool_versions"] = {k: v for k, v in versions.items() if v is not None}
    stage: dict[str, Any] = {
        "stage": sp.name, "kind": sp.kind, "action": sp.action,
        "status": sp.status.value, "state": shown_state(sp, sp.entry),
        "reasons": sp.reasons, "fingerprint": sp.fingerprint,
        "recorded_fingerprint": entry.get("fingerprint"),
        "finished": entry.get("finished"), "seconds": entry.get("seconds"),
        "artifact": art, "artifact_fingerprint": art.get("fingerprint"),
        "commands": commands, "slurm_jobs": entry.get("slurm_jobs", []),
        "provenance": provenance, "log": str(wd.log(sp.name)), "failure": wd.failure(sp.name)}
    if (out / "loss.jsonl").is_file():
        stage["curves"] = curves(out / "loss.jsonl")
    if (out / "generations.jsonl").is_file():
        stage["generations"] = read_jsonl(out / "generations.jsonl", 500)
    if sp.kind == "agent":
        stage["transcripts"] = transcripts(wd, sp.name, art)
    if art.get("predictions"):
        options = (entry.get("components") or {}).get("options") or {}
        stage["samples"] = samples.tables(out, list(art.get("models") or []), options,
                                          art.get("scores"))
    if isinstance(art.get("drift"), dict):
        options = (entry.get("components") or {}).get("options") or {}
        stage["drift"] = drift_figures.rows(art["drift"], options.get("drift") or {})
        stage["calibration"] = drift_figures.calibration_text(art.get("calibration"))
    return stage


def collect(plan: Any, overrides: list[str] | None = None) -> dict[str, Any]:
    """Everything the report shows. `overrides`: the --set values the plan was made with
    (the last run's, remembered, when the command was given none)."""
    wd = plan.workdir
    stages = [stage_data(wd, sp) for sp in plan.stages]
    gates = read_json(wd.root / "gates.json")
    return {"recipe": str(plan.recipe.path), "name": plan.recipe.name,
            "device": plan.device, "workdir": str(wd.root), "overrides": overrides or [],
            "stages": stages, "bench": bench_files(wd, stages),
            "gates": gates.get("gates", []) if isinstance(gates, dict) else []}
