"""Ask served vision-language models an image-question set and score the answers (standard
library only; run by path with internpipe's Python, like any worker):

    python vqa_eval.py SPEC.json OUT_DIR

SPEC.json (written by the evaluate stage, stages/evaluate/vqa.py): {"models": [{"abbr",
"base_url", "model", "api_key_env"}], "datasets": [{"abbr", "path", "metric": "exact" |
"choice", "prompt": str | null}], "max_out_len": int, "limit": int | null}. Each row of a
data file: {"image": PATH (relative to the file), "question", "answer", "choices": [...]
(choice sets)}; the rows were checked before the stage ran.

OpenCompass's OpenAI models send text prompts only, so image parts go through this client
(the one the chat uses). It writes what the evaluate stage reads for text sets too:
summary.csv (dataset,version,metric,mode,<model…>) and predictions/<model>/<dataset>.json
({"0": {"origin_prompt", "prediction", "gold", "image", "correct"}, …}).
"""

from __future__ import annotations

import csv
import json
import os
import re
import string
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from internpipe.workers import chat_images, chat_stream
else:  # run by path: this folder is put first on sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import chat_images
    import chat_stream

LETTERS = string.ascii_uppercase


def rows(path: str, limit: int | None) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = json.loads(text) if text.lstrip().startswith("[") else \
        [json.loads(line) for line in text.splitlines() if line.strip()]
    return found[:limit] if limit else found


def prompt(row: dict[str, Any], metric: str, template: str | None) -> str:
    question = template.format(**row) if template else str(row["question"])
    if metric != "choice":
        return question
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(row["choices"]))
    return f"{question}\n{options}\nAnswer with the option's letter."


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(string.punctuation + "。，！？ ").lower()


def gold_letter(row: dict[str, Any]) -> str:
    answer = str(row["answer"]).strip()
    if len(answer) == 1 and answer.upper() in LETTERS[:len(row["choices"])]:
        return answer.upper()
    return LETTERS[[normal(c) for c in row["choices"]].index(normal(answer))]


def chosen(prediction: str, choices: list[str]) -> str | None:
    """The option a prediction picks: a leading letter, else the one choice it names."""
    head = re.match(r"\s*\(?([A-Za-z])[).:\s]|\s*([A-Za-z])\s*$", prediction)
    letter = (head.group(1) or head.group(2)).upper() if head else None
    if letter and letter in LETTERS[:len(choices)]:
        return letter
    named = [LETTERS[i] for i, c in enumerate(choices) if normal(c) and normal(c) in
             normal(prediction)]
    return named[0] if len(named) == 1 else None


def correct(row: dict[str, Any], metric: str, prediction: str) -> bool:
    if metric == "choice":
        return chosen(prediction, row["choices"]) == gold_letter(row)
    return normal(prediction) == normal(str(row["answer"]))


def ask(model: dict[str, Any], text: str, image: str, max_tokens: int) -> str:
    with open(image, "rb") as f:
        url = chat_images.data_url(f.read())
    messages = [{"role": "user", "content": chat_images.user_content(text, [url])}]
    pieces = chat_stream.stream(model, messages, {"temperature": 0.0,
                                                  "max_tokens": max_tokens}, 300.0)
    try:
        return "".join(pieces)
    finally:
        pieces.close()


def main(spec_path: str, out: str) -> int:
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    data = {d["abbr"]: rows(d["path"], spec.get("limit")) for d in spec["datasets"]}
    total = sum(len(r) for r in data.values()) * len(spec["models"])
    done = 0
    table: dict[tuple[str, str], float] = {}
    for model in spec["models"]:
        for d in spec["datasets"]:
            folder = os.path.dirname(os.path.abspath(d["path"]))
            predictions, right = {}, 0
            for i, row in enumerate(data[d["abbr"]]):
                text = prompt(row, d["metric"], d.get("prompt"))
                image = os.path.join(folder, row["image"])
                answer = ask(model, text, image, int(spec["max_out_len"]))
                ok = correct(row, d["metric"], answer)
                right += ok
                gold = gold_letter(row) if d["metric"] == "choice" else row["answer"]
                predictions[str(i)] = {"origin_prompt": text, "prediction": answer,
                                       "gold": gold, "image": row["image"], "correct": ok}
                done += 1
                print("internpipe-progress: " + json.dumps(
                    {"current": done, "total": total, "unit": "questions"}), flush=True)
            where = os.path.join(out, "predictions", model["abbr"])
            os.makedirs(where, exist_ok=True)
            with open(os.path.join(where, f"{d['abbr']}.json"), "w", encoding="utf-8") as f:
                json.dump(predictions, f, indent=1, ensure_ascii=False)
            count = len(data[d["abbr"]])
            table[(d["abbr"], model["abbr"])] = round(100.0 * right / count, 2) if count else 0
            print(f"{model['abbr']} on {d['abbr']}: {right}/{count} {d['metric']}", flush=True)
    with open(os.path.join(out, "summary.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "version", "metric", "mode",
                         *(m["abbr"] for m in spec["models"])])
        for d in spec["datasets"]:
            writer.writerow([d["abbr"], "vqa", "accuracy" if d["metric"] == "choice" else
                             "exact_match", "gen",
                             *(table[(d["abbr"], m["abbr"])] for m in spec["models"])])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except chat_stream.ChatFailed as exc:
        print(f"vqa_eval: the server failed: {exc}", file=sys.stderr)
        sys.exit(1)
