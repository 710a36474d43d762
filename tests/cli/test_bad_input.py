"""Inputs that blocked, ran away or crashed: FIFOs and endless devices as recipe or data,
oversized recipes, a CSV field over the csv module's limit, JSON nested too deeply or with
numbers too long, `--set` values with tags, aliases or deep nesting. Each is exit 2 with its
location in bounded time, and never a traceback. Valid data stays valid: a raw U+2028 in a
JSON string is legal JSON, and items of a JSON list are reported at their own line."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from support.sft import recipe as sft_recipe

ENDLESS = ["fifo", "/dev/zero", "/dev/urandom"]


def endless(tmp: Path, what: str, name: str) -> Path:
    path = tmp / name
    if what == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(what)
    return path


def line_of(path: Path, text: str) -> int:
    return path.read_text().split("\n").index(text) + 1


def refused(result: object, *words: str, took: float, limit: float = 20) -> None:
    out = getattr(result, "stderr", "") + getattr(result, "stdout", "")
    assert getattr(result, "returncode", None) == 2, out
    assert "Traceback" not in out, out
    for word in words:
        assert word in out, (word, out)
    assert took < limit


def timed(*args: str, **kw: object) -> tuple[object, float]:
    t0 = time.monotonic()
    result = cli(*args, timeout=60, **kw)  # type: ignore[arg-type]
    return result, time.monotonic() - t0


@pytest.mark.parametrize("what", ENDLESS)
@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_endless_recipe_is_refused_unread(tmp_path: Path, what: str, command: str) -> None:
    path = endless(tmp_path, what, "r.yaml")
    result, took = timed(command, str(path))
    refused(result, "r.yaml", "not a regular file", took=took)


def test_an_oversized_recipe_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "r.yaml", "version: 1\n" + "# padding\n" * 120_000)
    result, took = timed("validate", str(path))
    refused(result, "larger than 1 MiB", took=took)


@pytest.mark.parametrize("what", ENDLESS)
def test_endless_data_files_are_refused_at_their_option(tmp_path: Path, what: str) -> None:
    r = sft_recipe(tmp_path)
    (tmp_path / "data.jsonl").unlink()
    endless(tmp_path, what, "data.jsonl")
    endless(tmp_path, what, "qa.jsonl")
    endless(tmp_path, what, "calib.txt")
    r.write_text(r.read_text() + "  evaluate:\n    datasets: [{path: qa.jsonl}]\n"
                                 "  quantize:\n    calib: calib.txt\n")
    data, datasets, calib = (line_of(r, "    data: data.jsonl"),
                             line_of(r, "    datasets: [{path: qa.jsonl}]"),
                             line_of(r, "    calib: calib.txt"))
    result, took = timed("validate", str(r))
    refused(result, f"r.yaml:{data}: stages.finetune.data: data.jsonl: cannot read: not a "
                    "regular file", f"r.yaml:{datasets}: stages.evaluate.datasets[0].path: "
                    "qa.jsonl: cannot read: not a regular file",
            f"r.yaml:{calib}: stages.quantize.calib: calib.txt: cannot read: not a regular "
            "file", took=took)
    # plan hashes local files for the fingerprint before the checks: refused there too
    result, took = timed("plan", str(r))
    refused(result, f"r.yaml:{line_of(r, '  finetune:')}: stages.finetune", "not a regular "
                    "file", took=took)


def eval_recipe(tmp: Path, data: str, extra: str = "") -> Path:
    return write(tmp / "r.yaml", f"version: 1\nname: ev\ndevice: cpu\nstages:\n  download:\n"
                                 f"    source: {TINY_MODEL}\n  evaluate:\n"
                                 f"    datasets: [{{path: {data}}}]\n{extra}")


def test_a_csv_field_over_the_csv_limit_is_a_located_problem(tmp_path: Path) -> None:
    write(tmp_path / "e.csv", "question,answer\nq1,a1\nq2," + "x" * 200_000 + "\n")
    result, took = timed("validate", str(eval_recipe(tmp_path, "e.csv")))
    refused(result, "e.csv:3:", "the csv module", took=took)


def test_json_lines_too_deep_too_long_or_binary_are_located(tmp_path: Path) -> None:
    r = sft_recipe(tmp_path)
    good = (tmp_path / "data.jsonl").read_text().splitlines()
    bad = ["[" * 100_000 + "]" * 100_000, '{"messages": ' + "9" * 5000 + "}"]
    (tmp_path / "data.jsonl").write_bytes(
        "\n".join([good[0], *bad, good[1]]).encode() + b"\n\xff\xfe junk\n")
    write(tmp_path / "qa.jsonl", '{"question": "q", "answer": "a"}\n' + "[" * 50_000 + "\n")
    r.write_text(r.read_text() + "  evaluate:\n    datasets: [{path: qa.jsonl}]\n")
    result, took = timed("validate", str(r))
    refused(result, "data.jsonl:2: invalid JSON: nested too deeply",
            "data.jsonl:3: invalid JSON", "data.jsonl:5: not UTF-8",
            "qa.jsonl:2: invalid JSON: nested too deeply", took=took)


def openai_item(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text},
                         {"role": "assistant", "content": "ok"}]}


def test_items_of_a_json_list_are_reported_at_their_line(tmp_path: Path) -> None:
    r = sft_recipe(tmp_path)
    items: list[object] = [openai_item("a"), openai_item("b"), {"messages": "nope"},
                           openai_item("c")]
    text = json.dumps(items, indent=4)           # as the course's generate_data.py writes
    write(tmp_path / "data.json", text)
    r.write_text(r.read_text().replace("data: data.jsonl", "data: data.json"))
    bad_line = text.split("\n").index('        "messages": "nope"')  # its "{" line
    result, took = timed("validate", str(r))
    refused(result, f"data.json:{bad_line}: openai format", took=took)
    write(tmp_path / "data.json", text[:-2] + ",\n]")     # a trailing comma: the "]" line
    result, took = timed("validate", str(r))
    refused(result, f"data.json:{len(text.split(chr(10)))}: invalid JSON", took=took)


def test_a_raw_u2028_in_json_strings_and_in_a_recipe_text_is_valid(tmp_path: Path) -> None:
    ls = "\u2028"
    r = sft_recipe(tmp_path)
    lines = [json.dumps(openai_item(f"line{ls}separated {i}"), ensure_ascii=False)
             for i in range(5)]
    assert ls in lines[0]
    write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    write(tmp_path / "list.json", json.dumps([openai_item(f"a{ls}b")] * 3, ensure_ascii=False,
                                             indent=2))
    write(tmp_path / "qa.jsonl", json.dumps({"question": f"q{ls}?", "answer": "a"},
                                            ensure_ascii=False) + "\n")
    r.write_text(r.read_text().replace("data: data.jsonl", "data: [data.jsonl, list.json]") +
                 f"  evaluate:\n    datasets: [{{path: qa.jsonl}}]\n"
                 f"  deploy: {{}}\n  agent:\n    queries: [\"one{ls}query\"]\n")
    result = cli("plan", str(r), "--json")
    assert result.returncode == 0, result.stderr
    reasons = {s["stage"]: " ".join(s["reasons"]) for s in json.loads(result.stdout)["stages"]}
    assert "8 samples" in reasons["finetune"] and "1 custom items" in reasons["evaluate"]
    # and lines after a raw U+2028 in the recipe are counted as an editor counts them
    broken = r.read_text().replace("    queries:", f"    meta_prompt: \"x{ls}y\"\n    bogus: 1"
                                                   "\n    queries:")
    r.write_text(broken)
    line = line_of(r, "    bogus: 1")
    refused(cli("validate", str(r)), f"r.yaml:{line}: stages.agent.bogus: unknown key",
            took=0)


@pytest.mark.parametrize(("value", "words"), [
    ("!!int abc", "cannot be read as !!int"),
    (".inf", "valid integer (got inf)"),
    ("true", "valid integer (got True)"),
    ("[" * 3000 + "]" * 3000, "valid integer"),       # deeper than libyaml reads: text
    ("[" * 500 + "]" * 500, "nested more than"),
    ("[&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], "
     "&c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, "
     "*c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], [*e, *e, *e, *e, *e, *e]]", "alias bomb"),
])
def test_set_values_have_the_file_limits_and_name_the_set(tmp_path: Path, value: str,
                                                          words: str) -> None:
    r = sft_recipe(tmp_path)
    result, took = timed("validate", str(r), "--set", f"stages.finetune.epochs={value}")
    refused(result, "--set stages.finetune.epochs", words, took=took)
    result, took = timed("plan", str(r), "--set", f"stages.finetune.epochs={value}")
    refused(result, "--set stages.finetune.epochs", words, took=took)


def test_a_stage_subcommand_names_the_set_and_its_own_arguments(tmp_path: Path) -> None:
    write(tmp_path / "d.jsonl", '{"messages": []}\n')
    result, took = timed("finetune", str(TINY_MODEL), "--data", "d.jsonl", "--set",
                         "stages.finetune.epochs=!!int x", cwd=tmp_path)
    refused(result, "--set stages.finetune.epochs: stages.finetune.epochs: 'x' cannot be read "
                    "as !!int", took=took)
    result, took = timed("finetune", str(TINY_MODEL), "--data", "d.jsonl", cwd=tmp_path)
    refused(result, "d.jsonl:1: openai format", took=took)
    assert "internpipe-finetune.yaml" not in result.stderr     # a file the user never wrote


def test_agent_chat_with_a_bad_tool_is_a_message(tmp_path: Path) -> None:
    result, took = timed("agent", "chat", "--endpoint", "http://127.0.0.1:9/v1",
                         "--model-name", "m", "-t", "Calculater", cwd=tmp_path)
    refused(result, "internpipe agent chat: tools: 'Calculater' is not a tool; did you mean "
                    "'Calculator'?", took=took)


def test_an_interpreter_of_a_user_that_does_not_exist_is_no_crash(tmp_path: Path) -> None:
    r = eval_recipe(tmp_path, "qa.jsonl", "interpreters: {opencompass: ~nosuchuser-x/python}\n")
    write(tmp_path / "qa.jsonl", '{"question": "q", "answer": "a"}\n')
    r.write_text(r.read_text().replace("datasets: [{path: qa.jsonl}]",
                                       "datasets: [{path: qa.jsonl}, gsm8k_gen]"))
    result = cli("validate", str(r))
    assert result.returncode == 0, result.stderr
