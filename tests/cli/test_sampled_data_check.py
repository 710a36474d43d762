"""A very large fine-tuning file is checked at evenly spaced places by default (said in the
plan, with true line numbers for what it finds); --full-data-check parses every line. The
size above which a check samples is lowered here so a 4 MB file counts as very large."""

from __future__ import annotations

import io
import json
from pathlib import Path

from conftest import cli
from internpipe.workers import jsonstream
from support.sft import recipe

SAMPLED = {"INTERNPIPE_SAMPLE_DATA_ABOVE": str(1 << 20)}
N = 40_000


def sampled_lines(data: Path) -> set[int]:
    raw = data.read_bytes()
    return {n for n, *_ in jsonstream.sampled_json_lines(io.BytesIO(raw), len(raw),
                                                         jsonstream.Sample())}


def spoil(data: Path, line: int) -> None:
    """Line `line` made a sample in the wrong format, its length kept (so are the places)."""
    lines = data.read_bytes().split(b"\n")
    bad = b'{"messages": 5}'
    lines[line - 1] = bad + b" " * (len(lines[line - 1]) - len(bad))
    data.write_bytes(b"\n".join(lines))


def reasons(result_stdout: str) -> list[str]:
    return list(json.loads(result_stdout)["stages"][1]["reasons"])


def test_a_large_file_is_sampled_and_the_plan_says_so(tmp_path: Path) -> None:
    r = recipe(tmp_path, n=N)
    data = tmp_path / "data.jsonl"
    assert data.stat().st_size > 3 << 20
    plan = cli("plan", str(r), "--json", **SAMPLED)
    assert plan.returncode == 0, plan.stderr
    said = " ".join(reasons(plan.stdout))
    assert f"about {N} samples" in said and "sampled check" in said, said
    assert "--full-data-check" in said
    full = cli("plan", str(r), "--json", "--full-data-check", **SAMPLED)
    assert full.returncode == 0, full.stderr
    assert f"{N} samples (openai)" in reasons(full.stdout), full.stdout
    assert "sampled" not in " ".join(reasons(full.stdout))


def test_a_bad_sample_at_a_sampled_place_is_found_at_its_true_line(tmp_path: Path) -> None:
    r = recipe(tmp_path, n=N)
    data = tmp_path / "data.jsonl"
    far = sorted(n for n in sampled_lines(data) if n > N // 2)[3]
    spoil(data, far)
    result = cli("plan", str(r), **SAMPLED)
    assert result.returncode == 2, result.stderr
    assert f"data.jsonl:{far}: openai format" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_full_data_check_finds_what_sampling_passes_over(tmp_path: Path) -> None:
    r = recipe(tmp_path, n=N)
    data = tmp_path / "data.jsonl"
    seen = sampled_lines(data)
    between = next(n for n in range(N // 2, N) if n not in seen)
    spoil(data, between)
    assert cli("plan", str(r), **SAMPLED).returncode == 0
    result = cli("validate", str(r), "--full-data-check", **SAMPLED)
    assert result.returncode == 2, result.stderr
    assert f"data.jsonl:{between}: openai format" in result.stderr, result.stderr
    run = cli("run", str(r), "--full-data-check", **SAMPLED)
    assert run.returncode == 2 and f"data.jsonl:{between}:" in run.stderr, run.stderr
