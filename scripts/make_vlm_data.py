#!/usr/bin/env python3
"""Write the image-question data of the tiny VLM recipe (recipes/tiny-vlm-cpu.yaml),
standard library only, deterministically:

    python scripts/make_vlm_data.py recipes/data/vlm

images/<back>-<square>.png (48 x 40, a square of one colour on another), colours.jsonl
(open questions, exact match) and colours_choice.jsonl (the same as choice questions), and
train.json: XTuner's LLaVA-style records of the same images (for a vision-language
fine-tune; recipes/internvl2-2b-foodieqa.yaml shows the camp4 flow on CUDA).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.pngs import png

PAIRS = [("red", "yellow"), ("blue", "white"), ("green", "black"), ("black", "red"),
         ("white", "blue"), ("yellow", "green")]
NAMES = ["red", "green", "blue", "yellow", "black", "white"]


def main(dest: str) -> None:
    out = Path(dest)
    (out / "images").mkdir(parents=True, exist_ok=True)
    open_rows, choice_rows, train = [], [], []
    for i, (back, square) in enumerate(PAIRS):
        name = f"images/{back}-{square}.png"
        (out / name).write_bytes(png(back, square))
        open_rows.append({"image": name, "question": "What colour is the square in the "
                          "middle? Answer with one word.", "answer": square})
        choices = [square, back, NAMES[(NAMES.index(square) + 2) % len(NAMES)]]
        choices = choices[i % 3:] + choices[:i % 3]          # the answer moves around
        choice_rows.append({"image": name, "question": "What colour is the background?",
                            "choices": choices, "answer": "ABC"[choices.index(back)]})
        train.append({"id": str(i), "image": name, "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the square in the middle?"},
            {"from": "gpt", "value": f"The square is {square}."}]})
    for file, rows in (("colours.jsonl", open_rows), ("colours_choice.jsonl", choice_rows)):
        (out / file).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "train.json").write_text(json.dumps(train, indent=2) + "\n")
    print(f"wrote {out}: {len(PAIRS)} images, {len(open_rows)} + {len(choice_rows)} questions")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recipes/data/vlm")
