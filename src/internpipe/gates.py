"""Quality gates: the recipe's `gates:`, each a comparison of what a stage measured against
a number or against another measurement plus a margin:

    gates:
      - name: tuned beats base on persona
        check: evaluate.persona_eval.finetune >= evaluate.persona_eval.download + 10
      - quantize.drift.top1_agreement >= 0.9        # a bare check is its own name

Parsed and located (FILE:LINE) at load, with the stage and metric names checked
(gatemetrics.py); evaluated from the finished stages' artifacts after each stage and at the
end of a run. A failed gate stops the run with exit 1; every result goes to
<workdir>/gates.json and, with --json, to a `gate` event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from internpipe import gatemetrics
from internpipe.errors import Problem
from internpipe.fields import Line

if TYPE_CHECKING:
    from internpipe.recipe import Recipe

SCHEMA = 1
MAX_GATES = 200
OPS = {">=": float.__ge__, "<=": float.__le__, ">": float.__gt__, "<": float.__lt__,
       "==": float.__eq__}
_REF = r"[A-Za-z_][\w-]*(?:\.[\w-]+)+"
_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
CHECK_RE = re.compile(rf"\s*(?P<left>{_REF})\s*(?P<op>>=|<=|==|>|<)\s*(?:"
                      rf"(?P<number>{_NUM})|(?P<right>{_REF})(?:\s*(?P<sign>[+-])\s*"
                      rf"(?P<margin>\d+\.?\d*(?:[eE][+-]?\d+)?))?)\s*")


class GateSpec(BaseModel):
    """One gate as a mapping (a bare string is its `check`)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Line | None = Field(None, min_length=1, description="what the gate says (default: "
                              "its check)")
    check: Line = Field(description="METRIC OP NUMBER, or METRIC OP METRIC [+|- NUMBER]; "
                        "OP one of >= <= > < ==; METRIC is STAGE.… (see the README)")


@dataclass(frozen=True)
class Ref:
    stage: str
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.stage, *self.parts))


@dataclass(frozen=True)
class Gate:
    name: str
    line: int | None
    check: str
    left: Ref
    op: str
    right: Ref | None       # None: compared with `offset` alone
    offset: float

    @property
    def stages(self) -> list[str]:
        return list(dict.fromkeys(r.stage for r in (self.left, self.right) if r))


def parse(raw: Any, recipe: Recipe, problems: list[Problem]) -> list[Gate]:
    """The recipe's gates; what is wrong with each goes to `problems`, located."""
    from pydantic import ValidationError

    from internpipe.problems import pydantic_problems

    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(recipe.problem(("gates",), "a list of gates (`- name: …` / "
                                                   "`check: …`, or a bare check)"))
        return []
    if len(raw) > MAX_GATES:
        problems.append(recipe.problem(("gates",), f"more than {MAX_GATES} gates"))
        return []
    found = []
    for i, item in enumerate(raw):
        where: tuple[str | int, ...] = ("gates", i)
        try:
            spec = GateSpec.model_validate({"check": item} if isinstance(item, str) else item)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, recipe.smap, where, GateSpec, item))
            continue
        at = where if isinstance(item, str) else (*where, "check")
        gate = _gate(spec, recipe.smap.line_of(where), recipe, lambda m, at=at:
                     problems.append(recipe.problem(at, m)))
        if gate is not None:
            found.append(gate)
    return found


def _gate(spec: GateSpec, line: int | None, recipe: Recipe, bad: Any) -> Gate | None:
    m = CHECK_RE.fullmatch(spec.check)
    if m is None:
        bad(f"cannot read {spec.check!r}: a check is METRIC OP NUMBER or METRIC OP METRIC "
            "[+|- NUMBER] (OP one of >= <= > < ==), e.g. "
            "`evaluate.mydata.finetune >= evaluate.mydata.download + 10`")
        return None
    left = _ref(m["left"], recipe, bad)
    right = _ref(m["right"], recipe, bad) if m["right"] else None
    if left is None or (m["right"] and right is None):
        return None
    offset = float(m["number"]) if m["number"] is not None else \
        float(m["margin"] or 0) * (-1 if m["sign"] == "-" else 1)
    return Gate(name=spec.name or spec.check.strip(), line=line, check=spec.check.strip(),
                left=left, op=m["op"], right=right,
                offset=offset)


def _ref(text: str, recipe: Recipe, bad: Any) -> Ref | None:
    from internpipe import stages as registry
    from internpipe.problems import suggest

    stage, *parts = text.split(".")
    section = recipe.stages.get(stage)
    if section is None:
        bad(f"{text}: no stage {stage!r} in the recipe{suggest(stage, list(recipe.stages))}")
        return None
    fam = gatemetrics.family(section.kind, registry.declaration(section.kind).PRODUCES)
    if fam is None:
        bad(f"{text}: a {section.kind} stage measures nothing a gate can check")
        return None
    wrong = fam.names(section, parts)
    if wrong is not None:
        bad(f"{text}: {wrong}")
        return None
    return Ref(stage, tuple(parts))


# --------------------------------------------------------------------------- evaluation


def evaluate(gate: Gate, recipe: Recipe, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The gate's result (the gates.json record): passed None when a stage it reads has not
    finished or did not record the number."""
    worse_high = gate.op in ("<", "<=")
    result: dict[str, Any] = {"name": gate.name, "line": gate.line, "stage": gate.left.stage,
                              "check": gate.check, "measured": None, "op": gate.op,
                              "threshold": gate.offset if gate.right is None else None,
                              "passed": None}
    try:
        measured = _measure(gate.left, recipe, entries, worse_high)
        base = 0.0 if gate.right is None else _measure(gate.right, recipe, entries,
                                                       not worse_high)
    except gatemetrics.Unmeasured as exc:
        result["message"] = f"not measured: {exc}"
        return result
    threshold = round(base + gate.offset, 10)
    passed = OPS[gate.op](measured, threshold)
    how = f" ({gate.right} {base:g} {'+' if gate.offset >= 0 else '-'} {abs(gate.offset):g})" \
        if gate.right is not None else ""
    result.update(measured=measured, threshold=threshold, passed=passed,
                  message=f"{gate.left} = {measured:g}, "
                          f"{'meets' if passed else 'fails'} {gate.op} {threshold:g}{how}")
    return result


def _measure(ref: Ref, recipe: Recipe, entries: dict[str, dict[str, Any]],
             worse_high: bool) -> float:
    from internpipe import stages as registry

    entry = entries.get(ref.stage) or {}
    artifact = entry.get("artifact")
    if entry.get("outcome") != "finished" or not isinstance(artifact, dict):
        raise gatemetrics.Unmeasured(f"stage {ref.stage!r} has not finished")
    kind = recipe.stages[ref.stage].kind
    fam = gatemetrics.family(kind, registry.declaration(kind).PRODUCES)
    assert fam is not None         # parse() accepted the reference
    return fam.measure(artifact, list(ref.parts), worse_high)


def write(recipe: Recipe, results: list[dict[str, Any]]) -> Path:
    from internpipe import state

    path = recipe.workdir / "gates.json"
    state.write_json(path, {"schema": SCHEMA, "gates": results})
    return path


def failure_message(recipe: Recipe, failed: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The error for failed gates: each named, with its recipe line, measured value and
    threshold."""
    first = failed[0]
    where = f"{recipe.path}:{first['line']}" if first["line"] else str(recipe.path)
    message = (f"gate {first['name']!r} failed ({where}): measured {first['measured']:g}, "
               f"needs {first['op']} {first['threshold']:g}")
    lines = [f"{recipe.path}:{g['line']}: gate {g['name']!r}: {g['message']}" for g in failed]
    return message, lines


class Watch:
    """A run's gates: after each stage, every gate whose stages have all finished is
    evaluated (once, as soon as it can be) and a failed one stops the run; at the end the
    rest are recorded as not measured. gates.json is rewritten after each."""

    def __init__(self, recipe: Recipe, emit: Any) -> None:
        self.recipe, self.emit = recipe, emit
        self.results: dict[int, dict[str, Any]] = {}

    def after_stage(self, stage: str) -> None:
        self._evaluate(lambda gate, entries: stage in gate.stages and all(
            (entries.get(s) or {}).get("outcome") == "finished" for s in gate.stages))

    def finish(self) -> None:
        if not self.recipe.gates:      # gates removed from the recipe: no stale verdicts
            (self.recipe.workdir / "gates.json").unlink(missing_ok=True)
        self._evaluate(lambda gate, entries: True)

    def _evaluate(self, ready: Any) -> None:
        from internpipe.errors import GateFailed
        from internpipe.state import WorkDir

        entries = WorkDir(self.recipe.workdir).entries()
        fresh = []
        for i, gate in enumerate(self.recipe.gates):
            if i not in self.results and ready(gate, entries):
                self.results[i] = evaluate(gate, self.recipe, entries)
                fresh.append(self.results[i])
        if not fresh:
            return
        write(self.recipe, [self.results[i] for i in sorted(self.results)])
        for result in fresh:
            self.emit({"event": "gate", **result})
        failed = [r for r in fresh if r["passed"] is False]
        if failed:
            raise GateFailed(*failure_message(self.recipe, failed))
