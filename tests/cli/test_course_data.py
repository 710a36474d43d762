"""The course's data files as its generators write them (tests/support/course.py), without
`format:`: detected, counted and said in the plan; the same file is the quantize stage's
calibration data; a wrong `format:` is one collapsed problem with a hint, at validate and plan
alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from support import course


def course_recipe(tmp_path: Path, camp: str, fmt: str = "") -> tuple[Path, Path]:
    data = course.GENERATORS[camp](tmp_path / f"assistant{course.SUFFIX[camp]}")
    recipe = write(tmp_path / "r.yaml", f"""\
version: 1
name: course
device: cpu
stages:
  download: {{source: {TINY_MODEL}}}
  finetune:
    data: {data.name}
{fmt}    method: full
  evaluate: {{datasets: [{{path: {data.name}, type: qa}}], limit: 4}}
  quantize: {{model: finetune, calib: {data.name}, samples: 8, seqlen: 32}}
""")
    return recipe, data


@pytest.mark.parametrize("camp", sorted(course.GENERATORS))
def test_course_data_is_detected_and_is_calibration_data(tmp_path: Path, camp: str) -> None:
    r, _ = course_recipe(tmp_path, camp)
    valid = cli("validate", str(r))
    assert valid.returncode == 0 and "✔" in valid.stdout, valid.stderr
    plan = cli("plan", str(r), "--json")
    assert plan.returncode == 0, plan.stderr
    stages = {s["stage"]: s for s in json.loads(plan.stdout)["stages"]}
    assert course.DETECTED[camp] in stages["finetune"]["reasons"], stages["finetune"]
    samples = course.DETECTED[camp].split()[0]
    assert f"{samples} custom items (first 4 each)" in stages["evaluate"]["reasons"]
    text = cli("plan", str(r)).stdout                   # the course file becomes qa rows
    assert "chatdata.py" in text and "stage-calib" in text, text


def test_a_wrong_format_is_one_problem_with_a_hint(tmp_path: Path) -> None:
    r, data = course_recipe(tmp_path, "camp3", fmt="    format: openai\n")
    first = data.read_text(encoding="utf-8").split("\n").index("    {") + 1
    for command in ("validate", "plan"):
        result = cli(command, str(r))
        assert result.returncode == 2, result.stdout
        lines = [x for x in result.stderr.splitlines() if "assistant.json:" in x]
        assert len(lines) == 1, result.stderr                 # not 20 identical lines
        assert f"assistant.json:{first}: lines {first}–" in lines[0], lines
        assert "(16002 records): openai format" in lines[0], lines
        assert "set `format: xtuner`" in lines[0], lines


def test_a_bad_record_inside_a_course_list_is_at_its_line(tmp_path: Path) -> None:
    r, data = course_recipe(tmp_path, "camp2")
    text = data.read_text(encoding="utf-8").split("\n")
    at = max(i for i, line in enumerate(text) if '"assistant"' in line)   # the last record
    text[at] = text[at].replace('"role": "assistant"', '"role": "bot"')
    assert '"bot"' in text[at]
    data.write_text("\n".join(text), encoding="utf-8")
    start = max(i for i in range(at) if text[i] == "    {") + 1
    for command in ("validate", "plan"):
        result = cli(command, str(r))
        assert result.returncode == 2
        assert f"assistant.json:{start}: openai format: messages[1].role" in result.stderr, \
            result.stderr


def test_a_data_file_is_parsed_once_across_commands(tmp_path: Path) -> None:
    """Three stages read the file (finetune, evaluate, quantize's calibration): the first
    plan parses it once for each; validate, run, plan and status after it never again."""
    r, data = course_recipe(tmp_path, "camp3")
    parses = tmp_path / "parses.txt"
    counted = {"INTERNPIPE_PLUGINS": "support.teststages,support.countparses",
               "INTERNPIPE_TEST_PARSES": str(parses)}

    def parsed() -> int:
        return parses.read_text().splitlines().count(f"parse {data}") if parses.exists() else 0

    for command, total in ((["plan"], 3), (["validate"], 3),
                           (["run", "--until", "download"], 3), (["plan"], 3),
                           (["status"], 3)):
        result = cli(*command, str(r), **counted)
        assert result.returncode == 0, (command, result.stderr)
        assert parsed() == total, (command, parses.read_text())
    data.write_text(data.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert cli("plan", str(r), **counted).returncode == 0
    assert parsed() == 6                                  # changed: checked again


def test_a_fresh_recipe_over_the_same_model_hashes_nothing_again(tmp_path: Path) -> None:
    """The hash cache lives in the internpipe home: a second recipe (a fresh work dir) over
    the same local model folder reads none of its files."""
    log = tmp_path / "log.txt"
    counted = {"INTERNPIPE_PLUGINS": "support.teststages,support.countparses",
               "INTERNPIPE_TEST_PARSES": str(log)}
    model = tmp_path / "model"
    model.mkdir()
    for i in range(3):
        (model / f"w{i}.bin").write_bytes(bytes([i]) * 1000)
    for name in ("one", "two"):
        r = write(tmp_path / name / "r.yaml", f"version: 1\nname: {name}\nstages:\n"
                                              f"  download: {{source: {model}}}\n")
        assert cli("plan", str(r), **counted).returncode == 0
    hashed = [x for x in log.read_text().splitlines() if x.startswith("hash ")]
    assert sorted(hashed) == [f"hash {model}/w{i}.bin" for i in range(3)], hashed


def test_the_finetune_command_detects_the_format_too(tmp_path: Path) -> None:
    data = course.camp3(tmp_path / "assistant.json", n=3)
    text = data.read_text(encoding="utf-8")
    data.write_text(text.replace('"output": "我在', '"output": 7, "x": "', 1), encoding="utf-8")
    result = cli("finetune", str(TINY_MODEL), "--data", str(data), "--device", "cpu",
                 cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "xtuner format: conversation[0].output must be a string" in result.stderr
    forced = cli("finetune", str(TINY_MODEL), "--data", str(data), "--format", "alpaca",
                 "--device", "cpu", cwd=tmp_path)
    assert forced.returncode == 2 and "set `format: xtuner`" in forced.stderr, forced.stderr
