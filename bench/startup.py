"""Start-up cost of the CLI: median wall time of `internpipe --help` and of `internpipe
validate` on the demo recipe, each as a ratio to `python -c pass` measured in the same run.
Target: --help ≤ 0.25 s."""

from __future__ import annotations

from _util import PY, ROOT, internpipe, median_seconds


def main() -> None:
    base = median_seconds([PY, "-c", "pass"], repeat=11)
    help_ = median_seconds([*internpipe(), "--help"], repeat=11)
    validate = median_seconds([*internpipe(), "validate", str(ROOT / "recipes/demo-cpu.yaml")],
                              repeat=11)
    print(f"python -c pass           {base * 1000:7.1f} ms   1.00x")
    print(f"internpipe --help        {help_ * 1000:7.1f} ms   {help_ / base:5.2f}x "
          f"(target ≤ 250 ms: {'ok' if help_ <= 0.25 else 'MISSED'})")
    print(f"internpipe validate      {validate * 1000:7.1f} ms   {validate / base:5.2f}x")


if __name__ == "__main__":
    main()
