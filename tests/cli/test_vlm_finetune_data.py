"""Vision-language fine-tuning data (XTuner's LLaVA-style JSON) is checked before anything
launches: a missing image, an image that does not open, and a prompt without its `<image>`
token each at their file:line, exit 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_VLM, cli, write
from support.pngs import png


def record(n: int, image: str | None, question: str) -> dict:
    item: dict = {"id": str(n), "conversations": [{"from": "human", "value": question},
                                                  {"from": "gpt", "value": "Red."}]}
    if image is not None:
        item["image"] = image
    return item


def vlm_recipe(tmp_path: Path, records: list[dict]) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    (images / "red.png").write_bytes(png("red"))
    (images / "cut.png").write_bytes(png("blue")[:60])            # cut short
    (images / "text.jpg").write_text("not an image\n")
    (images / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # no end marker
    (tmp_path / "food.json").write_text(json.dumps(records, indent=2) + "\n")
    return write(tmp_path / "r.yaml", f"""\
version: 1
name: vlm
device: cuda
stages:
  download:
    source: {TINY_VLM}
  finetune:
    data: food.json
    image_folder: images
""")


def start_line(tmp_path: Path, n: int) -> int:
    """The line where record n's object opens (the line before its "id")."""
    lines = (tmp_path / "food.json").read_text().splitlines()
    return next(i for i, line in enumerate(lines) if f'"id": "{n}"' in line)


def test_missing_unreadable_images_and_missing_image_tokens_at_file_line(
        tmp_path: Path) -> None:
    ok = "<image>\nWhat colour is it?"
    r = vlm_recipe(tmp_path, [
        record(0, "red.png", ok),                           # fine
        record(1, "gone.png", ok),                          # missing
        record(2, "cut.png", ok),                           # cut-short PNG
        record(3, "text.jpg", ok),                          # not an image
        record(4, "red.png", "What colour is it?"),         # no <image>
        record(5, None, ok),                                # <image> without image
        record(6, "cut.jpg", ok),                           # JPEG without its end
    ])
    result = cli("validate", str(r), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr
    assert "Traceback" not in err
    for n, words in [
            (1, "image 'gone.png' not found (looked in"),
            (2, "image 'cut.png' cannot be opened: a cut-short or damaged PNG"),
            (3, "image 'text.jpg' cannot be opened: not a PNG, JPEG, GIF, WebP or BMP"),
            (4, '1 image(s) but 0 "<image>" token(s) in the human turns'),
            (5, '"<image>" in a record without "image"'),
            (6, "image 'cut.jpg' cannot be opened: a cut-short JPEG")]:
        line = start_line(tmp_path, n)
        assert f"food.json:{line}: llava format: {words}" in err, (line, err)
    assert f"food.json:{start_line(tmp_path, 0)}:" not in err


def test_a_good_image_set_passes_its_data_check(tmp_path: Path) -> None:
    r = vlm_recipe(tmp_path, [record(i, "red.png", "<image>\nWhat colour?") for i in range(3)])
    result = cli("validate", str(r), cwd=tmp_path)
    assert "food.json:" not in result.stderr, result.stderr
