"""Vision-language fine-tuning data in XTuner's LLaVA-style JSON (what XTuner's InternVL and
LLaVA datasets read, and the course's camp4 FoodieQA data is converted to):

  [{"id": "1", "image": "dishes/1.jpg",
    "conversations": [{"from": "human", "value": "<image>\\nWhat dish is this?"},
                      {"from": "gpt", "value": "Mapo tofu."}]}, ...]

Every record is checked before anything launches: the turns alternate human/gpt, each image
(a path, or a list of paths, under the stage's `image_folder`) exists and opens, and the
`<image>` tokens in the human turns match the images one for one. An image "opens" when its
bytes are a whole PNG, JPEG, GIF, WebP or BMP: the signature, and for PNG and JPEG their
first and last chunks, read without decoding pixels (internpipe's process imports no image
library; XTuner opens them with Pillow)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from internpipe.workers.chat_images import sniff

IMAGE_TOKEN = "<image>"
ROLES = ("human", "gpt")


def unreadable(path: Path) -> str | None:
    """Why the image cannot be opened, None when its bytes look whole."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            f.seek(max(0, os.fstat(f.fileno()).st_size - 12))
            tail = f.read(12)
    except OSError as exc:
        return exc.strerror or str(exc)
    kind = sniff(head[:12])
    if kind is None:
        return "not a PNG, JPEG, GIF, WebP or BMP image (by its first bytes)"
    if kind == "image/png" and (head[12:16] != b"IHDR" or not tail.endswith(b"IEND\xaeB`\x82")):
        return "a cut-short or damaged PNG (no IHDR first or no IEND last)"
    if kind == "image/jpeg" and not tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "a cut-short JPEG (no end-of-image marker)"
    return None


def _images(item: dict[str, Any]) -> list[str] | str:
    """The record's image paths, or why its "image" is malformed."""
    value = item.get("image")
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        return '"image" must be a path (a string) or a list of paths'
    return [str(v) for v in values]


def _turns(item: dict[str, Any]) -> list[str] | str:
    """The human turns' texts, or why "conversations" is malformed."""
    turns = item.get("conversations")
    if not isinstance(turns, list) or len(turns) < 2:
        return 'expected "conversations": a list of {"from": "human"|"gpt", "value"} turns'
    humans = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            return f'conversations[{i}] must be {{"from", "value": a string}}'
        want = ROLES[i % 2]
        if turn.get("from") != want:
            return f'conversations[{i}].from must be "{want}" (turns alternate human, gpt), ' \
                   f"got {turn.get('from')!r}"
        if want == "human":
            humans.append(turn["value"])
    return humans


def check_record(item: dict[str, Any], image_root: Path) -> str | None:
    """Why one record cannot train a vision-language model, None when it can."""
    humans, images = _turns(item), _images(item)
    if isinstance(humans, str):
        return humans
    if isinstance(images, str):
        return images
    tokens = sum(h.count(IMAGE_TOKEN) for h in humans)
    if images and tokens != len(images):
        return (f'{len(images)} image(s) but {tokens} "{IMAGE_TOKEN}" token(s) in the human '
                f'turns; put "{IMAGE_TOKEN}\\n" before the question, once per image')
    if not images and tokens:
        return f'"{IMAGE_TOKEN}" in a record without "image"'
    for name in images:
        path = image_root / name
        if not path.is_file():
            return f"image {name!r} not found (looked in {image_root})"
        why = unreadable(path)
        if why:
            return f"image {name!r} cannot be opened: {why}"
    return None
