"""Image-question sets (`type: vqa`) are checked before anything runs: a missing or broken
image, a missing field, a choice answer that is no option each at file:line; asked of a
model folder instead of a served model, or mixed with text sets, at the recipe's line. The
plan asks them through the served endpoint with internpipe's client, not OpenCompass."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_VLM, cli, write
from support.pngs import png


def vqa_recipe(tmp_path: Path, rows: list[dict], models: str = "[deploy]",
               extra: str = "") -> Path:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "ok.png").write_bytes(png("red", "yellow"))
    (tmp_path / "imgs" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    (tmp_path / "qs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return write(tmp_path / "r.yaml", f"""\
version: 1
name: vqa
device: cpu
stages:
  download:
    source: {TINY_VLM}
  deploy:
    port: auto
  evaluate:
    models: {models}
    datasets:
      - {{path: qs.jsonl, type: vqa, metric: choice}}{extra}
""")


GOOD = {"image": "imgs/ok.png", "question": "Colour?", "choices": ["red", "blue"],
        "answer": "A"}


def test_bad_rows_at_file_line(tmp_path: Path) -> None:
    r = vqa_recipe(tmp_path, [
        GOOD,
        {**GOOD, "image": "imgs/gone.png"},
        {**GOOD, "image": "imgs/bad.png"},
        {**GOOD, "answer": "C"},
        {k: v for k, v in GOOD.items() if k != "question"},
        {**GOOD, "choices": ["red"]},
    ])
    result = cli("validate", str(r), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "Traceback" not in err and "qs.jsonl:1:" not in err
    for line, words in [(2, "vqa: image 'imgs/gone.png' not found"),
                        (3, "vqa: image 'imgs/bad.png' cannot be opened: a cut-short or "
                            "damaged PNG"),
                        (4, 'vqa: "answer" must be one of the letters AB or one of the '
                            "choices"),
                        (5, 'vqa: "question" must be a non-empty string'),
                        (6, 'vqa: "choices" must be a list of 2 to 26 strings')]:
        assert f"qs.jsonl:{line}: {words}" in err, (line, err)


def test_a_model_folder_or_a_text_set_beside_is_refused_at_the_recipe_line(
        tmp_path: Path) -> None:
    r = vqa_recipe(tmp_path, [GOOD], models="[download]",
                   extra="\n      - {path: qs.jsonl, type: qa, name: text}")
    result = cli("validate", str(r), cwd=tmp_path)
    assert result.returncode == 2
    assert "r.yaml:10: stages.evaluate.models: image-question sets are asked through a " \
           "served model, and download is a model folder" in result.stderr, result.stderr
    assert "r.yaml:11: stages.evaluate.datasets: image-question sets (type vqa)" \
        in result.stderr


def test_the_plan_asks_through_the_endpoint_without_opencompass(tmp_path: Path) -> None:
    r = vqa_recipe(tmp_path, [GOOD, GOOD])
    result = cli("plan", str(r), cwd=tmp_path, COLUMNS="250")
    assert result.returncode == 0, result.stderr
    assert "2 image questions asked through the served model(s)" in result.stdout
    assert "workers/vqa_eval.py" in result.stdout
    assert "opencompass" not in result.stdout.lower()
