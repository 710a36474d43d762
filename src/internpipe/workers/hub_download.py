"""Download a model snapshot with a hub's official client, into a shared cache folder.
Runs inside that hub's tool environment: stdlib + the client only.

    python hub_download.py --hub modelscope|openxlab|hf --repo OWNER/NAME --dest DIR
        [--revision R] [--include PATTERN]... [--exclude PATTERN]... [--endpoint URL]

- The endpoint is checked first (a TCP connection, 5 s): an unreachable hub fails in
  seconds with what to do, not after a minute of the client's retries.
- DEST is locked (flock) so two recipes downloading the same model wait for each other.
- After the client returns, every file it listed must be in DEST with the listed size (the
  OpenXLab client checks no hash and counts a partial file as cached). DEST/.complete.json
  records the listing. Tokens are read by the clients from their environment variables and
  never printed.

Exit codes: 0 ok, 1 the client failed, 3 incomplete download, 4 hub unreachable.
"""

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import socket
import sys
import threading
import time
from typing import Any, NoReturn
from urllib.parse import urlparse

Listing = list[dict[str, Any]]

UNREACHABLE, INCOMPLETE, CLIENT_FAILED = 4, 3, 1

HINT = ("what to do: point `endpoint:` (or {var}) at a mirror you can reach, use a local "
        "folder as `source:`, or run where the hub is reachable once so the model is cached "
        "under {cache}")


def say(message: str) -> None:
    print(f"[hub_download] {message}", flush=True)


def fail(code: int, message: str) -> NoReturn:
    print(f"internpipe-error: {message}", flush=True)
    sys.exit(code)


def reachable(endpoint: str, timeout: float = 5.0) -> str | None:
    url = urlparse(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def wanted(rel: str, include: list[str], exclude: list[str]) -> bool:
    if include and not any(fnmatch.fnmatch(rel, p) for p in include):
        return False
    return not any(fnmatch.fnmatch(rel, p) for p in exclude)


PROGRESS = "internpipe-progress: "   # read by internpipe's runner (stages/base.py)


def folder_bytes(dest: str) -> int:
    """Bytes under DEST, the clients' partial and temporary files included."""
    size = 0
    for folder, _, files in os.walk(dest):
        for name in files:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(folder, name)).st_size
    return size


class Watch:
    """While a client downloads, progress lines every `every` seconds: bytes so far of the
    listing's total and files complete. The bytes are the most of what DEST holds (partial
    files too) and what the client's own progress callback counted (ModelScope writes a
    file elsewhere and moves it into DEST when complete). The clients draw their bars with
    \r on a terminal only, and differently each."""

    def __init__(self, dest: str, listing: Listing, every: float = 0.5) -> None:
        self.dest, self.listing, self.every = dest, listing, every
        self.total = sum(item["size"] or 0 for item in listing)
        self.base = folder_bytes(dest)       # already there (a resumed download)
        self.counted = 0                     # bytes the client's callback reported
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> "Watch":
        self.report()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.report()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.report()

    def add(self, size: int) -> None:
        with self.lock:
            self.counted += size

    def report(self) -> None:
        done = sum(1 for item in self.listing if item["size"] is not None and
                   os.path.isfile(os.path.join(self.dest, item["path"])) and
                   os.path.getsize(os.path.join(self.dest, item["path"])) == item["size"])
        with self.lock:
            counted = self.base + self.counted
        got = min(max(folder_bytes(self.dest), counted), self.total) if self.total else 0
        print(PROGRESS + json.dumps({"current": got, "total": self.total, "unit": "B",
                                     "files": f"{done}/{len(self.listing)}"}), flush=True)


# ------------------------------------------------------------------ one function per hub
# Each returns the listing [{path, size}] of the files it was asked for.


def modelscope_endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return str(args.endpoint)
    from modelscope.hub.api import HubApi

    return str(HubApi().endpoint)


def modelscope_download(args: argparse.Namespace) -> Listing:
    from modelscope.hub.api import HubApi
    from modelscope.hub.callback import ProgressCallback
    from modelscope.hub.snapshot_download import snapshot_download

    api = HubApi(endpoint=args.endpoint) if args.endpoint else HubApi()
    files = api.get_model_files(args.repo, revision=args.revision or "master", recursive=True)
    listing = [{"path": f["Path"], "size": int(f["Size"])} for f in files
               if f.get("Type") != "tree" and wanted(f["Path"], args.include, args.exclude)]
    with Watch(args.dest, listing) as watch:

        class Counted(ProgressCallback):  # type: ignore[misc]  # one per file, by the client
            def update(self, size: int) -> None:
                watch.add(size)

        snapshot_download(args.repo, revision=args.revision, local_dir=args.dest,
                          allow_patterns=args.include or None,
                          ignore_patterns=args.exclude or None, endpoint=args.endpoint,
                          progress_callbacks=[Counted])
    return listing


def hf_endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return str(args.endpoint)
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def hf_download(args: argparse.Namespace) -> Listing:
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi(endpoint=args.endpoint)
    info = api.model_info(args.repo, revision=args.revision, files_metadata=True)
    listing = [{"path": s.rfilename, "size": int(s.size or 0)} for s in info.siblings or []
               if wanted(s.rfilename, args.include, args.exclude)]
    with Watch(args.dest, listing):
        snapshot_download(args.repo, revision=args.revision, local_dir=args.dest,
                          allow_patterns=args.include or None,
                          ignore_patterns=args.exclude or None, endpoint=args.endpoint)
    return listing


def openxlab_endpoint(args: argparse.Namespace) -> str:
    if args.endpoint:
        return str(args.endpoint)
    from openxlab.model.common import constants

    return str(constants.endpoint)


def openxlab_download(args: argparse.Namespace) -> Listing:
    from openxlab.model.clients.openapi_client import OpenapiClient
    from openxlab.model.handler import download_file

    if args.endpoint:  # the client hard-codes its endpoint; a mirror replaces it
        download_file.endpoint = args.endpoint
    owner, name = args.repo.split("/", 1)
    client = OpenapiClient(download_file.endpoint, download_file.token)
    models, files = client.get_download_url(owner, name, None, None, args.exclude or None)
    listing = []
    for entry in list((models or {}).values()) + list((files or {}).values()):
        rel = entry["fileName"]
        if wanted(rel, args.include, args.exclude):
            size = entry.get("size") or entry.get("fileSize") or entry.get("rawSize")
            listing.append({"path": rel, "size": int(size) if size is not None else None})
    # A partial file would count as cached: drop files whose size is wrong before the client
    # looks (it keeps its own copies under ~/.cache/model and links them).
    for item in listing:
        path = os.path.join(args.dest, item["path"])
        if item["size"] is not None and os.path.exists(path) and \
                os.path.getsize(path) != item["size"]:
            os.remove(path)
    with Watch(args.dest, listing):
        result = download_file.download(args.repo, output=args.dest,
                                        ignore=args.exclude or None)
    if result is None:  # it prints errors and returns None
        fail(CLIENT_FAILED, "the OpenXLab client gave up (see the lines above)")
    return listing


HUBS = {
    "modelscope": (modelscope_endpoint, modelscope_download, "MODELSCOPE_ENDPOINT"),
    "hf": (hf_endpoint, hf_download, "HF_ENDPOINT"),
    "openxlab": (openxlab_endpoint, openxlab_download, "the recipe's `endpoint:`"),
}


def verify(dest: str, listing: Listing) -> list[str]:
    """Every listed file present with its listed size; returns the problems."""
    problems = []
    for item in listing:
        path = os.path.join(dest, item["path"])
        if not os.path.isfile(path):
            problems.append(f"{item['path']}: missing")
        elif item["size"] is not None and os.path.getsize(path) != item["size"]:
            problems.append(f"{item['path']}: {os.path.getsize(path)} bytes, "
                            f"the hub lists {item['size']}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hub", required=True, choices=sorted(HUBS))
    ap.add_argument("--repo", required=True)
    ap.add_argument("--dest", required=True)
    ap.add_argument("--revision")
    ap.add_argument("--endpoint")
    ap.add_argument("--include", action="append", default=[])
    ap.add_argument("--exclude", action="append", default=[])
    args = ap.parse_args()
    endpoint_of, download, var = HUBS[args.hub]
    endpoint = endpoint_of(args)
    problem = reachable(endpoint)
    if problem:
        fail(UNREACHABLE, f"cannot reach {args.hub} at {endpoint} ({problem}) for "
                          f"{args.repo}. " + HINT.format(var=var, cache=args.dest))
    os.makedirs(args.dest, exist_ok=True)
    with open(os.path.join(args.dest, ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another download of this model is in progress; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        t0 = time.monotonic()
        say(f"downloading {args.repo} from {endpoint} into {args.dest}")
        try:
            listing = download(args)
        except SystemExit:
            raise
        except Exception as exc:  # the client's own error, stated plainly
            detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            fail(CLIENT_FAILED, f"{args.hub} download of {args.repo} failed: "
                                f"{type(exc).__name__}: {detail}")
        problems = verify(args.dest, listing)
        if problems:
            fail(INCOMPLETE, "the download is incomplete: " + "; ".join(problems[:10]))
        with open(os.path.join(args.dest, ".complete.json"), "w") as f:
            json.dump({"repo": args.repo, "revision": args.revision, "files": listing}, f)
        total = sum(item["size"] or 0 for item in listing)
        say(f"done: {len(listing)} files, {total} bytes in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
