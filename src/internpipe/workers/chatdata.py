"""Fine-tuning data as evaluation data: each record's first question and the answer it was
taught, as OpenCompass's custom qa rows. Stdlib only; internpipe's evaluation check imports
it to check the rows the stage will write, and the evaluate stage runs it by path in the
OpenCompass env to write them:

    python chatdata.py SOURCE DEST.jsonl

SOURCE: JSON lines or one JSON list (read with jsonstream.py) of openai "messages", XTuner
"conversation" or alpaca records.
"""

import json
import os
import sys
from typing import Any

CHAT_KEYS = ("messages", "conversation", "instruction")


def is_chat(record: Any) -> bool:
    return isinstance(record, dict) and any(k in record for k in CHAT_KEYS)


def _openai(messages: list[Any]) -> dict[str, Any] | None:
    for i, m in enumerate(messages[:-1]):
        reply = messages[i + 1]
        if isinstance(m, dict) and isinstance(reply, dict) and m.get("role") == "user" and \
                reply.get("role") == "assistant":
            return {"question": m.get("content"), "answer": reply.get("content")}
    return None


def qa_row(record: Any) -> dict[str, Any] | None:
    """{"question", "answer"} of a chat record (its first user turn and the reply to it),
    None when it has none."""
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("messages"), list):
        return _openai(record["messages"])
    if isinstance(record.get("conversation"), list):
        turn = next(iter(record["conversation"]), None)
        return {"question": turn.get("input"), "answer": turn.get("output")} \
            if isinstance(turn, dict) else None
    if "instruction" in record:
        question = "\n".join(str(record[k]) for k in ("instruction", "input") if record.get(k))
        return {"question": question, "answer": record.get("output")}
    return None


def main(source: str, dest: str) -> int:
    from jsonstream import records  # type: ignore[import-not-found]  # a sibling, by path

    written = 0
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    with open(source, "rb") as f, open(dest + ".tmp", "w", encoding="utf-8") as out:
        for line, record, why in records(f):
            row = None if why else qa_row(record) if is_chat(record) else record
            if row is None:
                print(f"internpipe-error: {source}:{line}: {why or 'no question and answer'}",
                      flush=True)
                return 3
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    os.replace(dest + ".tmp", dest)
    print(f"wrote {written} questions from {source}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
