from __future__ import annotations

from pathlib import Path

import pytest

from internpipe import recipe
from internpipe.errors import UserError
from internpipe.fingerprint import HashCache
from internpipe.plan import Selection, make_plan
from internpipe.state import WorkDir
from support.chain import CHAIN


def setup(tmp_path: Path, text: str = CHAIN, overrides: list[str] | None = None):
    (tmp_path / "input.txt").write_text("data")
    path = tmp_path / "r.yaml"
    path.write_text(text)
    r = recipe.load(path, overrides)
    cache = HashCache(WorkDir(r.workdir).root / "hashes")
    return r, cache


def finish(plan, names=None) -> None:
    """Record stages as finished, the way the runner does, without running anything."""
    wd = plan.workdir
    for s in plan.stages:
        if names is None or s.name in names:
            wd.out(s.name).mkdir(parents=True, exist_ok=True)
            wd.write_entry(s.name, {"fingerprint": s.fingerprint, "components": s.components,
                                    "finished": "now", "artifact": {}})


def actions(plan) -> dict[str, tuple[str, list[str]]]:
    return {s.name: (s.action, s.reasons) for s in plan.stages}


def test_fresh_plan_runs_everything(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    plan = make_plan(r, cache.path_hash, "cpu")
    assert actions(plan) == {n: ("run", ["never run"]) for n in ("src", "up", "up2")}
    assert plan.stages[1].steps_preview[0].argv[-1] == "!"


def test_finished_plan_is_cached(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    finish(make_plan(r, cache.path_hash, "cpu"))
    plan = make_plan(r, cache.path_hash, "cpu")
    assert [s.action for s in plan.stages] == ["cached"] * 3
    assert plan.to_run() == []


def test_option_change_reruns_stage_and_downstream(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    finish(make_plan(r, cache.path_hash, "cpu"))
    r2 = recipe.load(tmp_path / "r.yaml", ["stages.up.suffix=?"])
    got = actions(make_plan(r2, cache.path_hash, "cpu"))
    assert got["src"][0] == "cached"
    assert got["up"] == ("run", ["options changed: suffix"])
    assert got["up2"] == ("run", ["input changed: model"])


def test_file_change_is_named(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    finish(make_plan(r, cache.path_hash, "cpu"))
    (tmp_path / "input.txt").write_text("other data")
    got = actions(make_plan(r, HashCache(tmp_path / "fresh.json").path_hash, "cpu"))
    assert got["src"] == ("run", ["file changed: input.txt"])


def test_missing_output_and_force(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    plan = make_plan(r, cache.path_hash, "cpu")
    finish(plan)
    plan.workdir.out("up2").rmdir()
    assert actions(make_plan(r, cache.path_hash, "cpu"))["up2"] == ("run", ["output missing"])
    forced = make_plan(r, cache.path_hash, "cpu", Selection(only=("src",), force=True))
    assert actions(forced)["src"] == ("run", ["forced (--force)"])
    assert actions(forced)["up"][0] == "skip"


def test_selection(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    plan = make_plan(r, cache.path_hash, "cpu", Selection(until="up"))
    assert [s.action for s in plan.stages] == ["run", "run", "skip"]
    # neither `up` nor `up2` runs: that `up` never ran is no problem for `up2`
    plan = make_plan(r, cache.path_hash, "cpu", Selection(until="src"))
    assert [s.action for s in plan.stages] == ["run", "skip", "skip"]
    with pytest.raises(UserError, match="needs 'src'"):
        make_plan(r, cache.path_hash, "cpu", Selection(start="up"))
    with pytest.raises(UserError, match="no such stage"):
        make_plan(r, cache.path_hash, "cpu", Selection(only=("nope",)))


def test_interrupted_marker_is_a_reason(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    wd = WorkDir(r.workdir)
    wd.stage_dir("src").mkdir(parents=True)
    wd.marker("src").write_text("{}")
    assert actions(make_plan(r, cache.path_hash, "cpu"))["src"] == (
        "run", ["interrupted last time", "never run"])


def test_missing_local_file_is_a_user_error(tmp_path: Path) -> None:
    r, cache = setup(tmp_path)
    (tmp_path / "input.txt").unlink()
    with pytest.raises(UserError, match=r"input\.txt does not exist"):
        make_plan(r, cache.path_hash, "cpu")


def test_only_an_interrupted_unforced_stage_may_resume(tmp_path: Path) -> None:
    from internpipe.plan import context

    r, cache = setup(tmp_path)
    finish(make_plan(r, cache.path_hash, "cpu"))
    wd = WorkDir(r.workdir)
    wd.marker("up").parent.mkdir(parents=True, exist_ok=True)
    wd.marker("up").write_text('{"token": "t"}')       # a run of `up` that died
    plan = make_plan(r, cache.path_hash, "cpu")
    by_name = {s.name: s for s in plan.stages}
    assert [by_name[n].resumable for n in ("src", "up", "up2")] == [False, True, False]
    assert context(r, wd, by_name["up"], by_name, "cpu", wd.tmp_out("up")).resumable
    forced = make_plan(r, cache.path_hash, "cpu", Selection(only=("up",), force=True))
    assert not any(s.resumable for s in forced.stages)
