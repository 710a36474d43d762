"""Recipes that used to crash `validate` or to pass it and fail later: YAML tags on garbage,
recursive aliases, alias bombs, deep nesting, numbers that are infinite, absurd or booleans,
ports outside 1-65535, empty lists, prompts with bad placeholders, unknown XTuner templates
and agent tools, control characters in strings that reach a command line or a script, and
what each stage kind's `check` finds (the device, data files, a local model's sizes). Each
exits 2 from `internpipe validate` with FILE:LINE and the words expected, never a traceback.

All recipes go through one `validate --json` call (it checks each file on its own), so the
cases cost one process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, write

H = "version: 1\nname: t\ndevice: cpu\nstages:\n"   # stages start on line 5
DL = H + "  download:\n    source: ./m\n"            # lines 5-6
FT = DL + "  finetune:\n    data: d.jsonl\n"         # lines 7-8
DEP = DL + "  deploy:\n"                             # line 7
AG = DEP + "  agent:\n    queries: [hi]\n"           # lines 8-9


def bomb() -> str:
    """A "billion laughs" recipe: 1.2 KB that would expand to 10^9 strings."""
    lines = ["version: 1", "name: t", "l0: &l0 [" + ", ".join(["lololololol"] * 10) + "]"]
    lines += [f"laughs{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
              for i in range(1, 9)]
    return "\n".join([*lines, "stages:", "  download:", "    source: ./m",
                      "    include: *l8", ""])


def nested(depth: int) -> str:
    return DL + "    include:\n" + "".join(
        "  " * (i + 3) + f"k{i}:\n" for i in range(depth)) + "  " * (depth + 3) + "x: 1\n"


def ctl(field: str, where: str = "") -> str:
    """`field: "a\\nb"` (a YAML escape: the value holds a real newline)."""
    return f'{where}{field}: "a\\nb"\n'


# (id, recipe, expected line (None: any), expected words)
CASES: list[tuple[str, str, int | None, str]] = [
    # YAML tags on garbage, aliases, nesting
    ("tag-int", FT + "    epochs: !!int abc\n", 9, "cannot be read as !!int"),
    ("tag-float", FT + "    lr: !!float x\n", 9, "cannot be read as !!float"),
    ("tag-bool", FT + "    pack: !!bool maybe\n", 9, "cannot be read as !!bool"),
    ("tag-timestamp", DL + "    revision: !!timestamp x\n", 7, "cannot be read as !!timestamp"),
    ("tag-binary", H + "  download:\n    source: !!binary aGVsbG8=\n", 6, "!!binary"),
    ("tag-set", AG + "    tools: !!set {Calculator: null}\n", 10, "!!set"),
    ("tag-python", H + "  download:\n    source: !!python/name:os.system x\n", 6,
     "not supported"),
    ("tag-custom", H + "  download:\n    source: !model ./m\n", 6, "!model"),
    ("huge-int", "version: " + "9" * 5000 + "\nstages: {download: {source: ./m}}\n", 1,
     "cannot be read as !!int"),
    ("recursive-alias", H + "  download: &d\n    source: ./m\n    include: [*d]\n", 7,
     "recursive alias"),
    ("recursive-alias-top", "version: 1\nstages: &s\n  download: *s\n", 3, "recursive alias"),
    ("alias-bomb", bomb(), None, "alias bomb"),
    ("deep-flow", DL + "    include: " + "[" * 60 + "]" * 60 + "\n", 7, "nested more than"),
    ("deep-block", nested(40), None, "nested more than"),
    ("too-many-stages", H + "".join(f"  s{i}: {{uses: download, source: ./m}}\n"
                                    for i in range(201)), 4, "more than 200"),
    # numbers
    ("port-0", DEP + "    port: 0\n", 8, "greater than or equal to 1"),
    ("port-65536", DEP + "    port: 65536\n", 8, "less than or equal to 65535"),
    ("port-true", DEP + "    port: true\n", 8, "valid integer"),
    ("lr-inf", FT + "    lr: .inf\n", 9, "finite"),
    ("lr-nan", FT + "    lr: .nan\n", 9, "finite"),
    ("epochs-1e38", FT + "    epochs: 1.0e+38\n", 9, "valid integer"),
    ("epochs-huge-int", FT + "    epochs: 100000000000000000000\n", 9, "less than"),
    ("epochs-true", FT + "    epochs: true\n", 9, "valid integer"),
    ("epochs-fraction", FT + "    epochs: 2.5\n", 9, "valid integer"),
    ("seed-negative", FT + "    seed: -1\n", 9, "greater than"),
    ("ready-timeout-inf", DEP + "    ready_timeout: .inf\n", 8, "finite"),
    ("request-timeout-absurd", AG + "    request_timeout: 1.0e+30\n", 10, "less than"),
    ("temperature-nan", AG + "    temperature: .nan\n", 10, "finite"),
    ("pack-one", FT + "    pack: 1\n", 9, "valid boolean"),
    ("nodes-true", DL + "resources:\n  nodes: true\n", 8, "valid integer"),
    ("version-float", "version: 1.0\nstages:\n  download: {source: ./m}\n", 1, "the number 1"),
    ("version-true", "version: true\nstages:\n  download: {source: ./m}\n", 1, "the number 1"),
    # empty lists and strings, prompts, names upstream tools must know
    ("data-empty-list", DL + "  finetune:\n    data: []\n", 8, "at least one data file"),
    ("data-empty-string", DL + "  finetune:\n    data: ''\n", 8, "at least one data file"),
    ("models-empty", DL + "  evaluate:\n    models: []\n    datasets: [e.jsonl]\n", 8,
     "at least 1 item"),
    ("prompt-empty-braces", DL + "  evaluate:\n    datasets: [{path: e.jsonl, prompt: 'Q: {}'}]"
                                 "\n", 8, "{} is not a placeholder"),
    ("prompt-conversion", DL + "  evaluate:\n    datasets:\n      - path: e.jsonl\n"
                               "        prompt: 'Q: {question!z}'\n", 10,
     "{question!z} is not a placeholder"),
    ("prompt-index", DL + "  evaluate:\n    datasets: [{path: e.jsonl, prompt: '{0}'}]\n", 8,
     "{0} is not a placeholder"),
    ("prompt-no-column", DL + "  evaluate:\n    datasets: [{path: e.jsonl, prompt: 'Answer'}]\n",
     8, "names no column"),
    ("prompt-unclosed", DL + "  evaluate:\n    datasets: [{path: e.jsonl, prompt: '{question'}]"
                             "\n", 8, "expected '}'"),
    ("xtuner-template", FT + "    template: internlm3_chat\n", 9, "not an XTuner 0.2.0"),
    ("agent-tool", AG + "    tools: [Calculater]\n", 10, "did you mean 'Calculator'"),
    ("agent-tool-url-port", AG + "    tools: ['http://h:99999/']\n", 10, "not a URL"),
    ("endpoint-url", DL + "  evaluate:\n    endpoints: [{url: 'ftp://h/v1', model: m}]\n"
                          "    datasets: [e.jsonl]\n", 8, "not an http(s) URL"),
    ("api-key-env", DEP + "    api_key_env: MY KEY\n", 8, "not an environment variable"),
    ("host", DEP + "    host: '127.0.0.1 --x'\n", 8, "not a host name"),
    ("mem-format", DL + "resources:\n  mem: 64 GB\n", 8, "should match pattern"),
    # control characters where a value reaches a command line or a script
    ("ctl-mem", DL + "resources:\n" + ctl("mem", "  "), 8, "control character"),
    ("ctl-time", DL + "resources:\n" + ctl("time", "  "), 8, "control character"),
    ("ctl-partition", DL + "resources:\n  slurm:\n" + ctl("partition", "    "), 9,
     "control character"),
    ("ctl-account", DL + "resources:\n  slurm:\n" + ctl("account", "    "), 9,
     "control character"),
    ("ctl-qos", DL + "resources:\n  slurm:\n" + ctl("qos", "    "), 9, "control character"),
    ("ctl-extra-args", DL + "resources:\n  slurm:\n    extra_args:\n      - \"--x\\nrm\"\n", 10,
     "control character"),
    ("ctl-stage-mem", DL + "    resources:\n" + ctl("mem", "      "), 8, "control character"),
    ("ctl-source", H + "  download:\n" + ctl("source", "    "), 6, "control character"),
    ("ctl-revision", DL + ctl("revision", "    "), 7, "control character"),
    ("ctl-include", DL + "    include: [\"a\\tb\"]\n", 7, "control character"),
    ("ctl-chat-template", DL + ctl("chat_template", "    "), 7, "control character"),
    ("ctl-data", DL + "  finetune:\n" + ctl("data", "    "), 8, "control character"),
    ("ctl-lora-targets", FT + "    lora: {targets: [\"q\\rproj\"]}\n", 9, "control character"),
    ("ctl-calib", DL + "  quantize:\n" + ctl("calib", "    "), 8, "control character"),
    ("ctl-model-name", DEP + ctl("model_name", "    "), 8, "control character"),
    ("ctl-deploy-model", DEP + ctl("model", "    "), 8, "control character"),
    ("ctl-endpoint-model", DL + "  evaluate:\n    endpoints: [{url: 'http://h:1', model: "
                                "\"a\\nb\"}]\n    datasets: [e.jsonl]\n", 8, "control character"),
    ("ctl-data-dir", DL + "  evaluate:\n    datasets: [e.jsonl]\n" + ctl("data_dir", "    "),
     9, "control character"),
    ("ctl-stage-name", H + '  "download\\n":\n    source: ./m\n', 5, "control character"),
    ("ctl-interpreters", DL + "interpreters:\n" + ctl("xtuner", "  "), 8, "control character"),
    ("ctl-query-nul", DEP + "  agent:\n    queries: [\"a\\0b\"]\n", 9, "control character"),
    ("ctl-meta-prompt-esc", AG + "    meta_prompt: \"\\e[31mred\"\n", 10, "control character"),
    # what the kinds' checks find (validate runs them; plan did, one at a time)
    ("qlora-on-cpu", FT + "    method: qlora\n", 9, "qlora needs CUDA"),
    ("deepspeed-on-cpu", FT + "    deepspeed: zero2\n", 9, "needs CUDA"),
    ("data-missing", DL + "  finetune:\n    data: gone.jsonl\n", 8, "no such data file"),
    ("eval-prompt-column", DL + "  evaluate:\n    datasets:\n      - path: e.jsonl\n"
                               "        prompt: 'Q: {questoin}'\n", 10,
     "{questoin} is not an input column"),
    ("eval-lmdeploy-on-cpu", DL + "  evaluate:\n    datasets: [e.jsonl]\n"
                                  "    backend: lmdeploy\n", 9, "needs CUDA"),
    ("deploy-lmdeploy-on-cpu", DEP + "    engine: lmdeploy\n", 8, "CUDA only"),
    ("agent-url-no-model", H + "  agent:\n    url: http://h:1/v1\n    queries: [hi]\n", 6,
     "needs `model_name:`"),
    ("group-size", DL + "  quantize:\n    group_size: 96\n", 8, "does not divide"),
    ("chat-template-no-xtuner", DL + "    chat_template: gemma3\n  finetune:\n"
                                     "    data: d.jsonl\n", 8, "no XTuner prompt template"),
    ("calib-missing", DL + "  quantize:\n    calib: gone.txt\n", 8, "no such data file"),
    ("local-source-missing", H + "  download:\n    source: ./nowhere\n", 6, "does not exist"),
    ("local-source-name-too-long", H + "  download:\n    source: ./" + "x" * 5000 + "\n", 6,
     "cannot be read (File name too long)"),
    ("local-source-no-such-user", H + "  download:\n    source: ~nosuchuser-x/m\n", 6,
     "does not exist"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], float]:
    d = tmp_path_factory.mktemp("values")
    write(d / "m" / "config.json", '{"hidden_size": 128, "intermediate_size": 256}')
    write(d / "d.jsonl", '{"messages": [{"role": "user", "content": "q"}, '
                         '{"role": "assistant", "content": "a"}]}\n')
    write(d / "e.jsonl", '{"question": "q", "answer": "a"}\n')
    paths = [write(d / f"{case[0]}.yaml", case[1]) for case in CASES]
    t0 = time.monotonic()
    done = cli("validate", "--json", *map(str, paths), cwd=d, timeout=300)
    took = time.monotonic() - t0
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    found = {Path(r["recipe"]).stem: r for r in json.loads(done.stdout)["recipes"]}
    return found, took


def test_every_case_is_one_recipe() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 75


@pytest.mark.parametrize(("name", "line", "words"), [(c[0], c[2], c[3]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refused_with_its_line(results: tuple[dict[str, Any], float], name: str,
                               line: int | None, words: str) -> None:
    result = results[0][name]
    assert not result["valid"]
    said = [p for p in result["problems"] if words in p["message"]]
    assert said, result
    assert all(p["file"].endswith(f"{name}.yaml") for p in said), said
    assert any(p["line"] == line for p in said) if line else said[0]["line"], said


def test_all_refused_in_bounded_time(results: tuple[dict[str, Any], float]) -> None:
    # One process for every case, the alias bomb and the deep nesting among them.
    assert results[1] < 60
