"""Malformed recipes: each one exits 2 from `internpipe validate` with FILE:LINE and a clear
message, and never a traceback. The expected line is where the mistake is."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import cli

H = "version: 1\nname: t\nstages:\n"          # stages start on line 4
DL = H + "  download:\n    source: ./m\n"   # a valid first stage (lines 4-5)

# (id, recipe text or bytes, expected line, expected words in the message)
CASES: list[tuple[str, str | bytes, int, str]] = [
    ("empty-file", "", 1, "empty"),
    ("only-comment", "# nothing here\n", 1, "empty"),
    ("top-level-list", "- version: 1\n- stages: {}\n", 1, "a list"),
    ("top-level-scalar", "hello\n", 1, "a string"),
    ("non-utf8", b"version: 1\nname: \xff\xfe\nstages: {}\n", 2, "UTF-8"),
    ("latin1-in-stage", b"version: 1\nstages:\n  download:\n    source: caf\xe9\n", 4, "UTF-8"),
    ("unclosed-flow-list", "version: 1\nstages: [\n", 3, "YAML syntax"),
    ("bad-indentation", DL + "   bad: 1\n", 6, "YAML syntax"),
    ("tab-indent", "version: 1\nstages:\n\tdownload: {}\n", 3, "YAML syntax"),
    ("unclosed-quote", H + '  download:\n    source: "./m\n', 5, "YAML syntax"),
    ("duplicate-top-key", "version: 1\nversion: 1\nstages:\n  download: {source: x}\n", 2,
     "duplicate key"),
    ("duplicate-stage", DL + "  download:\n    source: ./n\n", 6, "duplicate key"),
    ("duplicate-option", H + "  download:\n    source: a\n    source: b\n", 6, "duplicate key"),
    ("missing-version", "name: t\nstages:\n  download: {source: x}\n", 1, "version"),
    ("wrong-version", "version: 2\nstages:\n  download: {source: x}\n", 1, "version"),
    ("version-string", "version: one\nstages:\n  download: {source: x}\n", 1, "version"),
    ("name-with-space", "version: 1\nname: my recipe\nstages:\n  download: {source: x}\n", 2,
     "name"),
    ("name-uppercase", "version: 1\nname: Big\nstages:\n  download: {source: x}\n", 2, "name"),
    ("device-gpu", "version: 1\ndevice: gpu\nstages:\n  download: {source: x}\n", 2, "device"),
    ("missing-stages", "version: 1\nname: t\n", 1, "stages"),
    ("empty-stages", "version: 1\nname: t\nstages: {}\n", 3, "stages"),
    ("stages-null", "version: 1\nname: t\nstages:\n", 3, "stages"),
    ("stages-list", "version: 1\nstages:\n  - download\n  - finetune\n", 2, "stages"),
    ("stages-string", "version: 1\nstages: download\n", 2, "stages"),
    ("stage-is-list", H + "  download:\n    - source\n", 4, "mapping"),
    ("stage-is-string", H + "  download: ./model\n", 4, "mapping"),
    ("unknown-kind", H + "  downlod:\n    source: x\n", 4, "did you mean 'download'"),
    ("unknown-uses", DL + "  tune:\n    uses: finetun\n", 7, "did you mean 'finetune'"),
    ("unknown-top-key", "version: 1\nstagse: {}\nstages:\n  download: {source: x}\n", 2,
     "did you mean 'stages'"),
    ("unknown-option", H + "  download:\n    sorce: x\n", 5, "did you mean 'source'"),
    ("missing-source", H + "  download:\n    revision: main\n", 4, "source"),
    ("bad-hub", H + "  download:\n    source: modelscpe:o/n\n", 5, "unknown hub"),
    ("hub-without-owner", H + "  download:\n    source: hf:justname\n", 5, "OWNER/NAME"),
    ("bad-method", DL + "  finetune:\n    method: qlora2\n    data: d.jsonl\n", 7, "method"),
    ("epochs-string", DL + "  finetune:\n    data: d.jsonl\n    epochs: three\n", 8, "integer"),
    ("epochs-zero", DL + "  finetune:\n    data: d.jsonl\n    epochs: 0\n", 8, "greater"),
    ("lr-negative", DL + "  finetune:\n    data: d.jsonl\n    lr: -0.1\n", 8, "greater"),
    ("lora-r-string", DL + "  finetune:\n    data: d.jsonl\n    lora: {r: big}\n", 8, "integer"),
    ("lora-unknown-key", DL + "  finetune:\n    data: d.jsonl\n    lora:\n      rank: 8\n", 9,
     "unknown key 'rank'"),
    ("finetune-no-data", DL + "  finetune:\n    epochs: 1\n", 6, "data"),
    ("ref-missing", DL + "  finetune:\n    data: d.jsonl\n    model: downlaod\n", 8,
     "did you mean 'download'"),
    ("ref-self", DL + "  finetune:\n    data: d.jsonl\n    model: finetune\n", 8, "its own"),
    ("no-model-before", H + "  finetune:\n    data: d.jsonl\n", 4, "no stage before it"),
    ("ref-wrong-kind", DL + "  evaluate:\n    datasets: [ceval_gen]\n  deploy:\n"
                            "    model: evaluate\n", 9, "produces scores"),
    ("eval-ref-missing", DL + "  evaluate:\n    models: [download, nope]\n"
                              "    datasets: [ceval_gen]\n", 7, "no stage named 'nope'"),
    ("eval-no-datasets", DL + "  evaluate:\n    datasets: []\n", 7, "datasets"),
    ("eval-bad-type", DL + "  evaluate:\n    datasets:\n      - {path: e.jsonl, type: essay}\n",
     8, "type"),
    ("cycle", H + "  a:\n    uses: transform\n    model: b\n  b:\n    uses: transform\n"
              "    model: a\n", 4, "cycle"),
    ("quantize-bits", DL + "  quantize:\n    w_bits: 3\n", 7, "w_bits"),
    ("deploy-port", DL + "  deploy:\n    port: abc\n", 7, "port"),
    ("deploy-quant-policy", DL + "  deploy:\n    quant_policy: 2\n", 7, "quant_policy"),
    ("agent-turns", DL + "  deploy: {}\n  agent:\n    max_turns: -1\n", 8, "max_turns"),
    ("agent-no-endpoint", DL + "  agent:\n    queries: [hi]\n", 6, "endpoint"),
    ("launcher", DL + "resources:\n  launcher: k8s\n", 7, "launcher"),
    ("nodes-zero", DL + "resources:\n  nodes: 0\n", 7, "nodes"),
    ("stage-name-chars", H + "  Fine Tune:\n    uses: download\n    source: x\n", 4,
     "stage names"),
    ("numeric-key", "version: 1\n1: x\nstages:\n  download: {source: x}\n", 2, "strings"),
    ("merge-key", "version: 1\nbase: &b {source: x}\nstages:\n  download:\n    <<: *b\n", 5,
     "merge keys"),
    ("merge-key-and-unknown", "version: 1\nbase: &b {source: x}\nstages:\n  download:\n"
                              "    <<: *b\n", 2, "unknown key 'base'"),
    ("stage-resources", DL.replace("source: ./m\n", "source: ./m\n    resources: {gpu: 1}\n"),
     6, "unknown key 'gpu'"),
    ("tools-not-mapping", DL + "tools: [xtuner]\n", 6, "tools"),
]


def test_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "line", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_malformed_recipe(tmp_path: Path, text: str | bytes, line: int, words: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(text.encode() if isinstance(text, str) else text)
    result = cli("validate", str(recipe), cwd=tmp_path)
    err = result.stderr
    assert result.returncode == 2, err + result.stdout
    assert "Traceback" not in err + result.stdout
    assert f"r.yaml:{line}:" in err, err
    assert words.lower() in err.lower(), err
