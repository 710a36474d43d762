"""The --json event stream: a published JSON Schema (`internpipe schema --events`), a version
on every event, one meaning per name, every name documented in the README. (Every event the
test suite causes is validated against the schema by conftest's `_every_event_validates`.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, cli, write
from internpipe import events
from support.jsonschema_lite import errors


def test_schema_events_prints_the_published_schema(tmp_path: Path) -> None:
    done = cli("schema", "--events")
    assert done.returncode == 0
    assert json.loads(done.stdout) == events.schema()
    assert cli("schema", "--events", "-o", str(tmp_path / "e.json")).returncode == 0
    assert json.loads((tmp_path / "e.json").read_text()) == events.schema()


def test_the_validator_catches_what_the_schema_forbids() -> None:
    schema = events.schema()
    good = json.loads(events.line({"event": "waiting", "message": "x"}))
    assert errors(good, schema) == []
    assert errors({**good, "schema": 0}, schema)                  # another version
    assert errors({**good, "event": "wating"}, schema)            # an undeclared name
    assert errors({k: v for k, v in good.items() if k != "message"}, schema)
    assert errors({**good, "message": 3}, schema)
    with pytest.raises(ValueError, match="does not know"):
        errors(good, {"oneOf": []})        # a keyword it cannot check is refused, not passed


def _names_in_source() -> set[str]:
    names = set()
    for path in (ROOT / "src" / "internpipe").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"[\"']event[\"']: [\"']([a-z_]+)[\"']", text))
        names |= {f"deploy_{a}" for a in re.findall(r"_action\(\"(\w+)\"", text)}
    return names


def test_every_event_name_written_anywhere_is_declared_and_documented() -> None:
    names = _names_in_source()
    assert {"plan", "stage_finished", "env_build", "server_stopped", "deploy_stop"} <= names
    # `log` goes to the terminal's views only; the stream leaves it out (progress.JsonReporter)
    assert names - {"log"} <= set(events.EVENTS), names - set(events.EVENTS)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Events"):]
    missing = [n for n in events.EVENTS if f"`{n}`" not in section]
    assert not missing, f"events not documented in README's Events section: {missing}"


def test_a_run_stream_carries_the_version_and_validates(tmp_path: Path) -> None:
    recipe = write(tmp_path / "r.yaml", "version: 1\nname: ev\nstages:\n"
                                        "  src: {uses: source}\n")
    done = cli("run", str(recipe), "--json")
    assert done.returncode == 0, done.stderr
    stream = [json.loads(line) for line in done.stdout.splitlines()]
    assert stream[0]["event"] == "plan"
    assert all(e["schema"] == events.SCHEMA_VERSION for e in stream)
    assert all(errors(e, events.schema()) == [] for e in stream)
