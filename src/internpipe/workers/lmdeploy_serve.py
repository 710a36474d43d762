"""Start LMDeploy's command line in this process, with the API key read from the
environment. stdlib + lmdeploy only; never imports internpipe.

    python lmdeploy_serve.py [--api-key-env NAME] [--entry MODULE:FUNCTION] -- ARGS…

runs `lmdeploy ARGS… --api-keys $NAME` (LMDeploy's own entry point, `lmdeploy.cli:run`,
unless --entry names another).

Why: LMDeploy takes the key only as `--api-keys` on its command line, and a command line is
readable by every user of the machine (`ps`, /proc/PID/cmdline). Setting sys.argv inside
this process hands LMDeploy the key without it ever being part of an exec'd command line;
the key stays in the environment, which only its owner can read.
"""

import importlib
import os
import sys

DEFAULT_ENTRY = "lmdeploy.cli:run"
USAGE = "usage: lmdeploy_serve.py [--api-key-env NAME] [--entry MODULE:FUNCTION] -- ARGS..."


def parse(args: list[str]) -> tuple[str | None, str, list[str]]:
    """(the key's variable, the entry point, LMDeploy's arguments)."""
    key_env, entry = None, DEFAULT_ENTRY
    while args and args[0] != "--":
        flag, *rest = args
        if flag not in ("--api-key-env", "--entry") or not rest:
            raise SystemExit(USAGE)
        if flag == "--api-key-env":
            key_env = rest[0]
        else:
            entry = rest[0]
        args = rest[1:]
    return key_env, entry, args[1:]


def main() -> int:
    key_env, entry, args = parse(sys.argv[1:])
    if key_env is not None:
        key = os.environ.get(key_env)
        if not key:
            print(f"internpipe-error: the API key variable {key_env} is not set", flush=True)
            return 2
        args = [*args, "--api-keys", key]
    module, _, function = entry.partition(":")
    run = getattr(importlib.import_module(module), function)
    sys.argv = ["lmdeploy", *args]
    code = run()
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
