from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
TINY_MODEL = ROOT / "recipes" / "models" / "tiny-internlm2"
TINY_VLM = ROOT / "recipes" / "models" / "tiny-vlm"
# Integration tests share one home so tool envs are built once per machine (uv's cache makes
# a rebuild cheap); unit tests get a fresh temp home each and must never touch this one.
SHARED_HOME = Path(os.environ.get("INTERNPIPE_TEST_HOME", ROOT / ".test-home"))

sys.path.insert(0, str(TESTS))
os.environ["INTERNPIPE_PLUGINS"] = "support.teststages"
# Set before any fixture runs, so session-scoped fixtures see it too.
os.environ["INTERNPIPE_HOME"] = str(SHARED_HOME)
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "internpipe"
_user_cache_existed = USER_CACHE.exists()


@pytest.fixture(scope="session", autouse=True)
def _never_touch_the_user_cache() -> object:
    yield
    assert _user_cache_existed or not USER_CACHE.exists(), \
        f"a test wrote to the real cache {USER_CACHE}"


@pytest.fixture(autouse=True)
def _isolated_home(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("integration"):
        monkeypatch.setenv("INTERNPIPE_HOME", str(SHARED_HOME))
    else:
        monkeypatch.setenv("INTERNPIPE_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(autouse=True)
def _every_event_validates(tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every `--json` event any command writes during a test (internpipe copies each to
    $INTERNPIPE_EVENT_LOG) must validate against the published schema of the stream: a new
    event or field is caught by whichever test first makes it, with no list to keep."""
    from internpipe import events
    from support.jsonschema_lite import errors

    log = tmp_path_factory.mktemp("events") / "events.jsonl"
    monkeypatch.setenv("INTERNPIPE_EVENT_LOG", str(log))
    yield
    if not log.exists():
        return
    schema = events.schema()
    bad = []
    for n, line in enumerate(log.read_text().splitlines(), 1):
        problems = errors(json.loads(line), schema)
        if problems:
            bad.append(f"event {n} ({line[:120]}): " + "; ".join(problems))
    assert not bad, "events that do not validate against `internpipe schema --events`:\n" \
                    + "\n".join(bad)


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT / "src")])
    env["INTERNPIPE_PLUGINS"] = "support.teststages"
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def cli(*args: str, cwd: Path | None = None, timeout: float = 120,
        **extra: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line as a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "internpipe", *args], cwd=cwd,
                          capture_output=True, text=True, env=cli_env(**extra),
                          timeout=timeout)


def popen(*args: str, cwd: Path | None = None, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "internpipe", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(**extra))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
