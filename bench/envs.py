"""Building one tool environment: internpipe's warm rebuild (uv, its cache filled) against
`pip install` of the same pins into a fresh venv (pip's cache filled too), measured in the
same run. Target: uv ≥ 10x faster.

    python bench/envs.py [TOOL]      (default: agent, 146 packages)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from internpipe import envlist, envs


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def pip_install(lock: Path, where: Path) -> None:
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--no-deps", "--disable-pip-version-check", "-r", str(lock)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    tool = sys.argv[1] if len(sys.argv) > 1 else "agent"
    home = Path(tempfile.mkdtemp(prefix="internpipe-envbench-"))
    os.environ["INTERNPIPE_HOME"] = str(home)
    try:
        spec = envs.spec(tool, "cpu")
        envs.ensure(tool, "cpu")                        # fills uv's cache
        env = envs.env_for(tool, "cpu")

        def rebuild() -> None:
            envlist.remove([env.path])
            envs.ensure(tool, "cpu")

        uv_s = min(timed(rebuild) for _ in range(2))
        marker = envs.read_marker(env) or {}
        install_s = float(marker.get("install_seconds", uv_s))
        pip_dir = home / "pip-venv"
        pip_install(spec.lock_file, pip_dir)             # fills pip's cache
        pip_s = timed(lambda: pip_install(spec.lock_file, pip_dir))
        n = sum(1 for ln in spec.lock_text.splitlines() if ln and not ln.startswith("#"))
        print(f"{tool} ({n} pinned packages, cpu flavour)")
        print(f"pip install into a fresh venv   {pip_s:7.1f} s   1.00x")
        ratio = pip_s / install_s
        print(f"internpipe warm rebuild (uv)    {install_s:7.1f} s   {ratio:5.1f}x faster"
              f" (target ≥ 10x: {'ok' if ratio >= 10 else 'MISSED'})")
        print(f"  + its import health check     {uv_s:7.1f} s   {pip_s / uv_s:5.1f}x faster "
              "(pip does no such check)")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
