"""`extra_args:` — arguments a recipe appends to a stage's upstream command (xtuner train,
opencompass, lmdeploy lite, the server), for the options internpipe has no key for.

The arguments internpipe itself sets are refused, with the key that sets them where there
is one: the hand-offs between stages (output folders, ports, the served model's name, API
keys) stay internpipe's. argparse also takes an unambiguous prefix of a long option
(`--work` for `--work-dir`), so a prefix of a refused option is refused too."""

from __future__ import annotations

DESCRIPTION = ("arguments appended to the upstream command (shown in the plan; part of "
               "the fingerprint); those internpipe sets are refused")


def flag_of(arg: str) -> str | None:
    """The option an argument names (`--x=1` → `--x`, `-wDIR` → `-w`), None for a value."""
    if not arg.startswith("-") or arg == "-" or arg[1:2].isdigit():
        return None
    if arg.startswith("--"):
        return arg.split("=", 1)[0]
    return arg[:2]


def refused(args: list[str], controlled: dict[str, str]) -> str | None:
    """Why `args` cannot be used (None: they can). `controlled`: option → what sets it."""
    for arg in args:
        flag = flag_of(arg)
        if flag is None or flag == "--":
            continue
        if flag in controlled:
            return f"{flag} is set by internpipe ({controlled[flag]})"
        if flag.startswith("--") and len(flag) > 3:
            taken = [c for c in controlled if c.startswith(flag)]
            if taken:
                return (f"{flag} abbreviates {taken[0]}, which internpipe sets "
                        f"({controlled[taken[0]]})")
    return None


def check(args: list[str], controlled: dict[str, str]) -> list[str]:
    """For a field validator: raise ValueError naming the first refused argument."""
    why = refused(args, controlled)
    if why:
        raise ValueError(why)
    return args
