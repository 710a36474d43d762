"""The recipe's third validation pass: the references between stages. Each stage's inputs
are resolved (named, or the default its kind declares: the nearest or the first and nearest
stage producing an accepted artifact) and checked, and the stages are put in an execution
order where every stage comes after the stages it uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from internpipe import stages as registry
from internpipe import yamlsrc
from internpipe.errors import Problem
from internpipe.problems import suggest

if TYPE_CHECKING:
    from internpipe.recipe import StageSection


def resolve(sections: dict[str, StageSection], smap: yamlsrc.SourceMap,
                        problems: list[Problem]) -> list[str] | None:
    """Fill each section's `inputs` and return an execution order, or None on problems."""
    names = list(sections)
    produces = {n: registry.declaration(s.kind).PRODUCES for n, s in sections.items()}
    start = len(problems)
    for index, (name, section) in enumerate(sections.items()):
        for spec in registry.declaration(section.kind).INPUTS:
            value = getattr(section.options, spec.field, None)
            where = ("stages", name, spec.field)
            if value is None and spec.unless and getattr(section.options, spec.unless, None):
                section.inputs[spec.field] = []
                continue
            if value is None:
                earlier = [n for n in names[:index] if produces[n] in spec.accepts]
                chosen = default_inputs(spec.default, earlier)
                if chosen is None:
                    wanted = " or ".join(sorted(spec.accepts))
                    problems.append(smap.problem(
                        ("stages", name),
                        f"needs a {wanted} as `{spec.field}` but no stage before it produces "
                        f"one; add a stage that does (e.g. download) or name one with "
                        f"`{spec.field}:`"))
                    continue
                section.inputs[spec.field] = chosen
                continue
            refs = value if isinstance(value, list) else [value]
            resolved: list[str] = []
            for i, ref in enumerate(refs):
                at = (*where, i) if isinstance(value, list) else where
                if not isinstance(ref, str) or not ref:
                    problems.append(smap.problem(at, "expected a stage name"))
                elif ref not in sections:
                    problems.append(smap.problem(
                        at, f"no stage named {ref!r}{suggest(ref, names)}"))
                elif ref == name:
                    problems.append(smap.problem(at, "a stage cannot use its own output"))
                elif produces[ref] not in spec.accepts:
                    problems.append(smap.problem(
                        at, f"stage {ref!r} produces {produces[ref]}, but {spec.field!r} needs "
                            f"{' or '.join(sorted(spec.accepts))}"))
                else:
                    resolved.append(ref)
            section.inputs[spec.field] = resolved
    if len(problems) > start:
        return None
    return execution_order(sections, smap, problems)


def check_names(sections: dict[str, StageSection], all_names: list[str],
                           smap: yamlsrc.SourceMap, problems: list[Problem]) -> None:
    """When some stages are invalid, still report references to stages that do not exist."""
    for name, section in sections.items():
        for spec in registry.declaration(section.kind).INPUTS:
            value = getattr(section.options, spec.field, None)
            refs = value if isinstance(value, list) else [value] if value else []
            for i, ref in enumerate(refs):
                if isinstance(ref, str) and ref not in all_names:
                    at: yamlsrc.Path = ("stages", name, spec.field,
                                        *([i] if isinstance(value, list) else []))
                    problems.append(smap.problem(at, f"no stage named {ref!r}"
                                                     f"{suggest(ref, all_names)}"))


def default_inputs(rule: str, earlier: list[str]) -> list[str] | None:
    if rule == "none":
        return []
    if not earlier:
        return None
    if rule == "first_and_nearest":
        return list(dict.fromkeys([earlier[0], earlier[-1]]))
    return [earlier[-1]]


def execution_order(sections: dict[str, StageSection], smap: yamlsrc.SourceMap,
                     problems: list[Problem]) -> list[str] | None:
    """Recipe order, except that a stage waits for the stages it names (stable topological
    sort). A cycle is reported with its members."""
    deps = {n: {d for refs in s.inputs.values() for d in refs} for n, s in sections.items()}
    order: list[str] = []
    done: set[str] = set()
    pending = list(sections)
    while pending:
        ready = next((n for n in pending if deps[n] <= done), None)
        if ready is None:
            cycle = " → ".join([*pending, pending[0]])
            problems.append(smap.problem(("stages", pending[0]),
                                         f"stages depend on each other in a cycle: {cycle}"))
            return None
        order.append(ready)
        done.add(ready)
        pending.remove(ready)
    return order
