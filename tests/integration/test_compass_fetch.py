"""A named OpenCompass dataset whose data is not staged is fetched before the evaluation
from OpenCompass's archive (here a local server standing in for it, named the way
OpenCompass takes overrides of its URL table: ~/.OPENCOMPASS_INTERNAL_DATA_URL.json), with
OpenCompass's own download (md5 checked, unpacked into data_dir), then evaluated offline."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import TINY_MODEL, cli, write
from support.evalsets import GSM8K

pytestmark = pytest.mark.integration


def test_a_named_dataset_is_fetched_from_its_archive(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "gsm8k.zip", "w") as z:       # OpenCompass's archive layout
        for split in ("train", "test"):
            z.writestr(f"gsm8k/{split}.jsonl", "".join(json.dumps(r) + "\n" for r in GSM8K))
    md5 = hashlib.md5((site / "gsm8k.zip").read_bytes()).hexdigest()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path / "home"
    write(home / ".OPENCOMPASS_INTERNAL_DATA_URL.json", json.dumps(
        {"/gsm8k/": {"url": f"http://127.0.0.1:{server.server_port}/gsm8k.zip", "md5": md5}}))
    try:
        result = cli("evaluate", str(TINY_MODEL), "-d", "gsm8k_gen", "--limit", "2",
                     "--max-out-len", "8", "--data-dir", str(tmp_path / "compass"), "--device",
                     "cpu", cwd=tmp_path, timeout=900, HOME=str(home))
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "compass" / "data" / "gsm8k" / "test.jsonl").is_file()
    log = (tmp_path / ".internpipe/evaluate/stages/evaluate/log.txt").read_text()
    assert "fetching http://127.0.0.1" in log and "staged " in log
    assert "gsm8k" in result.stdout
