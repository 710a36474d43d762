"""Real-size inputs cost nothing on a re-plan.

1. A recipe whose fine-tuning data is a generated 1 GB JSONL file (openai messages): the
   first `plan` checks a sample of it (the default for files over 512 MiB), a first plan
   with --full-data-check parses every line (streaming: peak RSS ≤ 300 MB), and the second
   finds the check's result in the internpipe home (≤ 0.5 s CPU).
2. A fresh recipe whose model folder holds a 15 GB sparse file: the first `plan` hashes it,
   the second finds the hash in the home (≤ 0.5 s CPU).

Second plans are alternated with `python -c pass`; medians and ratios are printed. Each run
gets a fresh INTERNPIPE_HOME in a temporary folder (the bench never touches the real one).

    python bench/datascale.py [--repeat N] [--gb G] [--model-gb M]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from _util import HEADER, PY, ROOT, alternate, internpipe, row, timed_run

TINY = ROOT / "recipes" / "models" / "tiny-internlm2"


def write_jsonl(path: Path, size: int) -> int:
    """About `size` bytes of openai-format samples; the number written."""
    n, written = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        chunk = []
        while written < size:
            line = json.dumps({"messages": [
                {"role": "user", "content": f"问题 {n}: what is {n} * 7?"},
                {"role": "assistant", "content": f"{n} * 7 = {n * 7}. " + "答" * 64}]},
                ensure_ascii=False) + "\n"
            chunk.append(line)
            written += len(line.encode())
            n += 1
            if len(chunk) == 10_000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    return n


def recipe(folder: Path, name: str, model: Path, data: str | None = None) -> Path:
    text = f"version: 1\nname: {name}\ndevice: cpu\nstages:\n  download:\n    source: {model}\n"
    if data:
        text += f"  finetune:\n    data: {data}\n    method: full\n"
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def second_plans(label: str, r: Path, repeat: int, env: dict[str, str], limit: float) -> bool:
    base, runs = alternate([*internpipe(), "plan", str(r)], [PY, "-c", "pass"], repeat,
                           r.parent, env)
    cpu = statistics.median(s.cpu for s in runs)
    print(row(label, base, runs, f"cpu ≤ {limit * 1000:.0f} ms: "
                                 f"{'ok' if cpu <= limit else 'MISSED'}"))
    return cpu <= limit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gb", type=float, default=1.0, help="size of the JSONL data")
    ap.add_argument("--model-gb", type=float, default=15.0, help="size of the sparse file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="internpipe-datascale-"))
    env = {**os.environ, "INTERNPIPE_HOME": str(work / "home")}
    met = 0
    try:
        data = work / "big.jsonl"
        n = write_jsonl(data, int(args.gb * (1 << 30)))
        print(f"data: {data.stat().st_size / 1e9:.2f} GB, {n} samples; model: a "
              f"{args.model_gb:g} GB sparse file")
        r = recipe(work, "data", TINY, data.name)
        first = timed_run([*internpipe(), "plan", str(r)], work, env)
        print(f"first plan (a sampled check, the default over 512 MiB): {first.wall:.1f} s "
              f"wall, {first.cpu:.1f} s CPU, peak RSS {first.rss_mb:.0f} MB")
        first = timed_run([*internpipe(), "plan", str(r), "--full-data-check"], work, env)
        rss_ok = first.rss_mb <= 300
        print(f"first plan with --full-data-check (parses every line): {first.wall:.1f} s "
              f"wall, {first.cpu:.1f} s CPU, peak RSS {first.rss_mb:.0f} MB (target ≤ 300 MB: "
              f"{'ok' if rss_ok else 'MISSED'})")
        model = work / "model"
        shutil.copytree(TINY, model)
        with open(model / "big.safetensors", "wb") as f:
            f.truncate(int(args.model_gb * (1 << 30)))
        fresh = recipe(work, "model", model)
        first = timed_run([*internpipe(), "plan", str(fresh)], work, env)
        print(f"first plan of a fresh recipe (hashes the model): {first.wall:.1f} s wall, "
              f"{first.cpu:.1f} s CPU")
        print(f"median of {args.repeat} runs each, alternated with `python -c pass`")
        print(HEADER)
        met += second_plans("second plan, 1 GB data", r, args.repeat, env, 0.5)
        met += second_plans(f"second plan, {args.model_gb:g} GB model", fresh, args.repeat,
                            env, 0.5)
        print(f"{met + rss_ok} of 3 targets met")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
