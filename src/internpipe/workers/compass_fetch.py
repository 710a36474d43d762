"""Fetch the data of OpenCompass's built-in datasets before an evaluation, run inside the
OpenCompass environment (stdlib + opencompass):

    python compass_fetch.py DATA_DIR PATH...

Each PATH is a dataset's data path as OpenCompass joins it ($COMPASS_DATA_CACHE/<local>).
The archive and its md5 come from OpenCompass's own table (DATASETS_URL, with
~/.OPENCOMPASS_INTERNAL_DATA_URL.json over it, as OpenCompass reads them); the archive's
server is asked first, so an unreachable one fails in seconds and says how to stage the
data for offline use; then OpenCompass's own download_dataset() fetches, checks and unpacks
it into DATA_DIR/data. Exit 3 when a dataset could not be fetched.
"""

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any


def url_table() -> dict[str, Any]:
    from opencompass.utils.datasets_info import DATASETS_URL

    table = dict(DATASETS_URL)
    internal = os.path.join(os.path.expanduser("~"), ".OPENCOMPASS_INTERNAL_DATA_URL.json")
    if os.path.exists(internal):
        with open(internal) as f:
            table.update(json.load(f))
    return table


def archive_for(table: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The last key found in the path wins, as in OpenCompass's download_dataset()."""
    found: dict[str, Any] | None = None
    for key, info in table.items():
        if key in path:
            found = info
    return found


def answers(url: str) -> str | None:
    """None if the server answers (any HTTP status), else why not."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10)
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    data_dir, paths = sys.argv[1], sys.argv[2:]
    table = url_table()
    for path in paths:
        if os.path.exists(path):
            continue
        info = archive_for(table, path)
        if info is None:
            print(f"internpipe-error: OpenCompass has no archive for {path}: copy the data "
                  "there", flush=True)
            return 3
        why = answers(info["url"])
        if why is not None:
            print(f"internpipe-error: the data for {path} is not staged, and OpenCompass's "
                  f"archive {info['url']} did not answer ({why}). Stage it for offline use: "
                  f"download that archive where the network reaches it and unzip it into "
                  f"{os.path.join(data_dir, 'data')} (or point data_dir / $COMPASS_DATA_CACHE "
                  "at a folder that has it); or set DATASET_SOURCE=ModelScope to load it "
                  "from ModelScope", flush=True)
            return 3
        print(f"fetching {info['url']} → {os.path.join(data_dir, 'data')}", flush=True)
        from opencompass.utils.datasets import download_dataset

        download_dataset(path, data_dir)
        if not os.path.exists(path):
            print(f"internpipe-error: {info['url']} did not hold {path}", flush=True)
            return 3
        print(f"staged {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
