"""The `--json` event stream: one JSON object a line on stdout, each with `event` (its name:
one meaning per name), `schema` (the stream's version) and `time` (Unix seconds).

Every event any command writes goes through `write`, and every name is declared in EVENTS
with the fields it always carries; `internpipe schema --events` prints the JSON Schema built
from it. `INTERNPIPE_EVENT_LOG=FILE` appends a copy of every event to FILE (CI keeps the
stream beside the human output; the test suite validates every event it causes).

Bump SCHEMA_VERSION when a field is removed or changes meaning (new events and new fields
are additions, same version)."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any

SCHEMA_VERSION = 1

_S = {"type": "string"}
_N = {"type": "number"}
_I = {"type": "integer"}
_B = {"type": "boolean"}
_OPT_S = {"type": ["string", "null"]}
_LIST_S = {"type": "array", "items": _S}
_OBJ = {"type": "object"}
_OBJS = {"type": "array", "items": _OBJ}
_STATUS = {"enum": ["ok", "cached", "skipped", "failed", "interrupted"]}

# name → (what it means, {field: schema} of the fields it always has). Fields not listed
# may be added (an artifact, tool figures like loss and lr on `progress`).
EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    # run, and every stage subcommand (download, finetune, evaluate, …)
    "plan": ("the plan: each stage's action, reasons, fingerprint, commands (also `plan --json`)",
             {"recipe": _S, "name": _S, "workdir": _S, "device": _S, "stages": _OBJS,
              "envs": _OBJS}),
    "waiting": ("another run holds the work dir; this one waits (--wait)", {"message": _S}),
    "env_build": ("a tool environment is being built: a step of the build, with counts once "
                  "packages install", {"tool": _S, "message": _S}),
    "env_ready": ("a tool environment is ready (`env setup`)",
                  {"tool": _S, "env": _S, "path": _S, "seconds": _N, "versions": _OBJ}),
    "stage_started": ("a stage starts", {"stage": _S, "kind": _S, "reasons": _LIST_S}),
    "step_started": ("a step of a stage starts: the exact command",
                     {"stage": _S, "step": _S, "argv": _LIST_S}),
    "progress": ("a stage's progress: `current` of `total` (null when the tool does not "
                 "say) in `unit` (`step`, `batch`, `B`, `layer`, `query`), with the tool's "
                 "own figures (loss, lr, task, files)", {"stage": _S}),
    "slurm_job": ("a Slurm job of a stage changed state",
                  {"stage": _S, "step": _S, "job_id": _S, "state": _S}),
    "server_started": ("a stage's server is up",
                       {"stage": _S, "base_url": _S, "pid": _I}),
    "server_stopped": ("a server stopped (at the end of a run, or a stage's previous one)",
                       {"pid": _I}),
    "stage_finished": ("a stage ended: ok, cached, skipped, failed (with `reason`) or "
                       "interrupted; `artifact` when it has one", {"stage": _S,
                                                                  "status": _STATUS}),
    "run_finished": ("the run ended, with the exit code the command exits with",
                     {"status": _S, "exit_code": _I, "seconds": _N}),
    "gate": ("a quality gate of the recipe evaluated (after the stages it reads, and at the "
             "end of a run; `gates`): its recipe line, the measured value, the threshold, "
             "passed (null: not measured yet)",
             {"name": _S, "line": {"type": ["integer", "null"]}, "stage": _OPT_S,
              "measured": {"type": ["number", "null"]}, "op": {"enum": [">=", "<=", ">", "<",
                                                                        "=="]},
              "threshold": {"type": ["number", "null"]}, "passed": {"type": ["boolean", "null"]},
              "message": _S}),
    "error": ("the command failed: the message, details and exit code (usage errors too)",
              {"message": _S, "details": _LIST_S, "exit_code": _I}),
    # one-shot commands
    "validate": ("`validate`: each recipe's problems", {"valid": _B, "recipes": _OBJS}),
    "status": ("`status`: each stage's state", {"recipe": _S, "stages": _OBJS}),
    "envs": ("`env list`: every environment", {"home": _S, "envs": _OBJS}),
    "doctor": ("`env doctor`: the index in use and each env's health", {}),
    "deploy_status": ("`deploy status`: the recipe's servers", {"stages": _OBJS}),
    "deploy_stop": ("`deploy stop`: the servers stopped", {"stages": _OBJS}),
    "deploy_logs": ("`deploy logs`: the last lines of each server's log", {"stages": _OBJS}),
    "serving": ("`deploy`: the endpoint being served", {"stage": _S}),
    "report": ("`report`: the files written", {"html": _S, "json": _S}),
    "recipes": ("`recipes list`: the bundled recipes (name, device, summary)",
                {"recipes": _OBJS}),
    "copied": ("`recipes copy`: the files written", {"files": _LIST_S}),
    "bench": ("`bench`: throughput and latency figures", {"base_url": _S}),
}


def schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one line of the stream."""
    rules = [{"if": {"properties": {"event": {"const": name}}},
              "then": {"description": meaning, "required": sorted(fields),
                       "properties": fields}}
             for name, (meaning, fields) in EVENTS.items()]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"internpipe-events-v{SCHEMA_VERSION}",
            "title": "internpipe --json event",
            "type": "object",
            "required": ["event", "schema", "time"],
            "properties": {"event": {"enum": list(EVENTS)},
                           "schema": {"const": SCHEMA_VERSION},
                           "time": _N},
            "allOf": rules}


def line(event: dict[str, Any]) -> str:
    """An event as its line: name first, then schema and time, then its fields."""
    return json.dumps({"event": event["event"], "schema": SCHEMA_VERSION,
                       "time": round(time.time(), 3), **event}, default=str)


def write(event: dict[str, Any], stream: IO[str] | None = None) -> None:
    text = line(event)
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()
    copy = os.environ.get("INTERNPIPE_EVENT_LOG")
    if copy:
        with open(copy, "a", encoding="utf-8") as f:
            f.write(text + "\n")
