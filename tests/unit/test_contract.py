"""The stage contract, checked over every registered kind (the real ones and the test-only
kinds of support.teststages): every member assigned in the kind itself (no default reached
through getattr), of the right type, consistent with the declaration that `validate` reads,
and the declaration importable without the runtime."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from internpipe import stages
from internpipe.artifacts import KINDS as ARTIFACT_KINDS
from internpipe.stages import DECLARED, MEMBERS, StageKind, base

KIND_NAMES = stages.kind_names()
REAL = ("download", "finetune", "evaluate", "quantize", "deploy", "agent")
FUNCTIONS = ("tool", "local_files", "check", "plan", "notes", "parse_line", "keeps_serving",
             "collect")


def test_every_real_kind_and_the_test_kinds_are_registered() -> None:
    assert set(REAL) <= set(KIND_NAMES)
    assert {"source", "transform", "fail", "slow", "liar", "waiter", "env_probe"} <= \
        set(KIND_NAMES)


def _own(kind: object, member: str) -> bool:
    """Assigned on the module/object itself (not inherited from a class default)."""
    if inspect.ismodule(kind):
        return member in vars(kind)
    return member in vars(kind) or member in getattr(type(kind), "__dict__", {})


@pytest.mark.parametrize("name", KIND_NAMES)
def test_kind_assigns_every_member_of_the_contract(name: str) -> None:
    kind = stages.get_kind(name)
    missing = [m for m in MEMBERS if not _own(kind, m)]
    assert not missing, f"kind {name!r} does not assign {missing}"
    protocol_members = {m for m in vars(StageKind) if not m.startswith("_")} | \
        set(StageKind.__annotations__)
    assert protocol_members == set(MEMBERS), "MEMBERS and the StageKind protocol disagree"


@pytest.mark.parametrize("name", KIND_NAMES)
def test_members_have_the_declared_types(name: str) -> None:
    kind: StageKind = stages.get_kind(name)
    assert name == kind.KIND
    assert kind.PRODUCES in ARTIFACT_KINDS
    assert isinstance(kind.INPUTS, tuple)
    for spec in kind.INPUTS:
        assert isinstance(spec, stages.InputSpec)
        assert spec.accepts <= set(ARTIFACT_KINDS)
        assert spec.field in kind.Options.model_fields, f"{name}: input {spec.field!r}"
        assert spec.unless is None or spec.unless in kind.Options.model_fields
        assert spec.default in ("nearest", "first_and_nearest", "none")
    assert issubclass(kind.Options, BaseModel)
    assert kind.Options.model_config.get("extra") == "forbid"
    assert isinstance(kind.VERSION, int) and kind.VERSION >= 1
    assert isinstance(kind.NOT_FINGERPRINTED, tuple)
    # A typo here would silently put an option into (or leave it out of) the fingerprint.
    assert set(kind.NOT_FINGERPRINTED) <= set(kind.Options.model_fields), name
    assert isinstance(kind.SERVICE, bool) and isinstance(kind.SLURM_NATIVE, bool)
    assert (kind.serve is not None) == kind.SERVICE, f"{name}: SERVICE and serve disagree"
    for fn in FUNCTIONS:
        assert callable(getattr(kind, fn)), f"{name}.{fn}"
    # The defaults behave as declared.
    assert kind.parse_line("") is None
    assert isinstance(kind.keeps_serving(kind.Options.model_construct()), bool)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_declaration_is_the_one_the_stage_uses(name: str) -> None:
    declared = stages.declaration(name)
    kind = stages.get_kind(name)
    for member in DECLARED:
        assert getattr(declared, member) is getattr(kind, member), f"{name}.{member}"


def test_defaults_come_from_one_base() -> None:
    download = stages.get_kind("download")
    assert download.notes is base.no_notes
    assert download.parse_line is base.no_progress
    assert download.keeps_serving is base.never_keeps_serving
    assert download.serve is base.serve is None
    assert stages.get_kind("source").check is base.no_checks
    deploy = stages.get_kind("deploy")
    assert deploy.SERVICE and deploy.serve is not None
    assert deploy.keeps_serving(deploy.Options(keep=True)) is True
    assert set(deploy.NOT_FINGERPRINTED) == {"keep", "ready_timeout", "model_format"}
    assert stages.get_kind("evaluate").SLURM_NATIVE


def test_declarations_import_without_the_runtime() -> None:
    """What `validate` loads: the options modules, no stage module, no networking, no
    env building."""
    code = ("import sys\n"
            "from internpipe import stages\n"
            f"for k in {list(REAL)!r}: stages.declaration(k)\n"
            "bad = [m for m in sys.modules if m.startswith(('http.client', 'ssl', 'ctypes',"
            " 'urllib.request', 'internpipe.envbuild', 'internpipe.services',"
            " 'internpipe.runner')) or m.endswith('.stage')]\n"
            "print(sorted(bad))\n")
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, check=True)
    assert done.stdout.strip() == "[]"
