"""A local HTTP server that serves model folders the way the ModelScope hub does, for the
real ModelScope client to download from in tests (the endpoints are in the upstream notes):

    GET /api/v1/models/{owner}/{name}/repo/files?Revision=R&Recursive=true
    GET /api/v1/repos/internalAccelerationInfo                    (404)
    GET /api/v1/models/{owner}/{name}/repo?Revision=R&FilePath=P   (bytes, honours Range)

Models: {"owner/name": {"revision": folder}}; the revision "master" is the default.
Failure switches for tests: `drop_once` (path → cut the connection after half of that file,
once), `corrupt` (paths whose listed sha256 is wrong); `bytes_per_second` sends file bodies
at that rate (a slow link: a file is seen while it is being written).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeModelScope:
    def __init__(self, models: dict[str, dict[str, Path]]) -> None:
        self.models = models
        self.drop_once: set[str] = set()
        self.corrupt: set[str] = set()
        self.bytes_per_second: int | None = None
        self.requests: list[str] = []
        self.served: dict[str, int] = {}
        self.ranges: list[tuple[str, str]] = []
        handler = _handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeModelScope:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def folder(self, repo: str, revision: str | None) -> Path | None:
        revisions = self.models.get(repo)
        if not revisions:
            return None
        return revisions.get(revision or "master")

    def listing(self, folder: Path) -> list[dict[str, Any]]:
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = str(path.relative_to(folder))
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if rel in self.corrupt:
                sha = "0" * 64
            files.append({"Name": path.name, "Path": rel, "Type": "blob",
                          "Size": path.stat().st_size, "Sha256": sha, "Revision": "r1",
                          "IsLFS": False, "Mode": "100644"})
        return files


def _handler(hub: FakeModelScope) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self) -> None:
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            hub.requests.append(self.path)
            parts = url.path.strip("/").split("/")
            if url.path.endswith("/internalAccelerationInfo"):
                return self._json(404, {"Code": 404, "Message": "not found"})
            if len(parts) >= 5 and parts[:3] == ["api", "v1", "models"]:
                repo = f"{parts[3]}/{parts[4]}"
                folder = hub.folder(repo, query.get("Revision"))
                if folder is None:
                    return self._json(404, {"Code": 10010205001, "Success": False,
                                            "Message": f"model {repo} not found"})
                tail = parts[5:]
                if tail == ["repo", "files"]:
                    return self._json(200, {"Code": 200, "Success": True,
                                            "Data": {"Files": hub.listing(folder)}})
                if tail == ["repo"] and "FilePath" in query:
                    return self._file(folder, query["FilePath"], head)
                if tail == [] or tail == ["revisions"]:
                    return self._json(200, {"Code": 200, "Success": True,
                                            "Data": {"Name": parts[4], "Path": parts[3],
                                                     "RevisionMap": {"Branches": [
                                                         {"Revision": r} for r in
                                                         hub.models[repo]]}}})
            return self._json(404, {"Code": 404, "Message": f"no route {url.path}"})

        def _file(self, folder: Path, rel: str, head: bool) -> None:
            path = folder / rel
            if not path.is_file():
                return self._json(404, {"Code": 404, "Message": "no such file"})
            data = path.read_bytes()
            start = 0
            rng = self.headers.get("Range")
            if rng:
                hub.ranges.append((rel, rng))
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0] or 0)
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if head:
                return
            hub.served[rel] = hub.served.get(rel, 0) + 1
            if rel in hub.drop_once and len(body) > 2:
                hub.drop_once.discard(rel)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if hub.bytes_per_second is None:
                self.wfile.write(body)
                return
            chunk = max(1, hub.bytes_per_second // 10)
            for at in range(0, len(body), chunk):
                self.wfile.write(body[at:at + chunk])
                self.wfile.flush()
                time.sleep(0.1)

    return Handler
