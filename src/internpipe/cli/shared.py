"""What every command shares: option types, the error guard, consoles, and the reporter
glue around pipeline.run. The workflow itself is in internpipe.pipeline."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from internpipe.cli import complete
from internpipe.errors import EXIT_INTERRUPTED, EXIT_USAGE, GateFailed, StageFailed, UserError

if TYPE_CHECKING:
    from rich.console import Console

    from internpipe.plan import Selection
    from internpipe.recipe import Recipe

RecipeArg = Annotated[Path, typer.Argument(help="The recipe file (YAML).", show_default=False,
                                           metavar="RECIPE",
                                           autocompletion=complete.recipe_files)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", "-s", metavar="KEY=VALUE", help="Override a recipe value: DOTTED.KEY=VALUE, e.g. "
                        "stages.finetune.epochs=3 (repeatable).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
DeviceOpt = Annotated[Literal["auto", "cpu", "cuda"] | None, typer.Option(
    "--device", help="Overrides the recipe's `device`.",
    show_default=False)]
FromOpt = Annotated[str | None, typer.Option("--from", metavar="STAGE",
                                             help="Start at this stage.", show_default=False,
                                             autocompletion=complete.stage_names)]
UntilOpt = Annotated[str | None, typer.Option("--until", metavar="STAGE",
                                              help="Stop after this stage.", show_default=False,
                                              autocompletion=complete.stage_names)]
OnlyOpt = Annotated[str | None, typer.Option(
    "--only", metavar="STAGES", help="Only these stages (comma-separated).",
    show_default=False, autocompletion=complete.stage_names)]


def _full_data_check(value: bool) -> bool:
    # An environment variable, so the checks a run makes in its own subprocesses (Slurm
    # jobs, stage subcommands) read every line too.
    if value:
        from internpipe import datafiles

        os.environ[datafiles.FULL_CHECK_ENV] = "1"
    return value


FullCheckOpt = Annotated[bool, typer.Option(
    "--full-data-check", callback=_full_data_check,
    help="Parse every line of very large data files (over 512 MiB a check samples them: the "
         "first 1000 lines and 50 at each of 64 places).")]
# -f is --force wherever a command has one (as in cp, rm, git): do it even though it looks
# done.
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Run the selected stages even "
                                                              "if they are up to date.")]


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, no_color=bool(os.environ.get("NO_COLOR")),
                   highlight=False, soft_wrap=True)


def say(*parts: str | tuple[str, str], stderr: bool = False) -> None:
    """One line of segments, plain text or (text, rich style). Rich is imported only when
    the stream is a terminal: piped output (CI, scripts) is plain text anyway, and importing
    rich costs more CPU than validating a recipe."""
    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and not os.environ.get("FORCE_COLOR"):
        print("".join(p if isinstance(p, str) else p[0] for p in parts), file=stream,
              flush=True)
        return
    from rich.text import Text

    text = Text()
    for part in parts:
        text.append(part) if isinstance(part, str) else text.append(*part)
    console(stderr).print(text)


def _print_error(message: str, lines: list[str], json_mode: bool, code: int,
                 extra: dict[str, Any] | None = None) -> None:
    if json_mode:
        print(json.dumps({"event": "error", "message": message, "details": lines,
                          "exit_code": code, **(extra or {})}), flush=True)
    err = console(stderr=True)
    err.print(f"[bold red]error:[/] {_escape(message)}")
    for line in lines:
        err.print(f"  {_escape(line)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextlib.contextmanager
def guard(json_mode: bool = False) -> Iterator[None]:
    """Turn our exceptions into a message and an exit code; never a traceback for them."""
    from internpipe.envs import EnvBuildError

    try:
        yield
    except UserError as exc:
        problems = [str(p) for p in exc.problems]
        _print_error(exc.message, problems, json_mode, EXIT_USAGE,
                     {"problems": [p.__dict__ for p in exc.problems]})
        raise typer.Exit(EXIT_USAGE) from None
    except StageFailed as exc:
        lines = []
        if exc.log_tail:
            lines.append("last lines of the log:")
            lines += ["│ " + line for line in exc.log_tail]
        if exc.log_path:
            lines.append(f"full log: {exc.log_path}")
        _print_error(str(exc), lines, json_mode, exc.exit_code)
        raise typer.Exit(exc.exit_code) from None
    except GateFailed as exc:
        _print_error(exc.message, exc.lines, json_mode, exc.exit_code)
        raise typer.Exit(exc.exit_code) from None
    except EnvBuildError as exc:
        lines = ["│ " + line for line in exc.log_tail]
        if exc.log_path:
            lines.append(f"full log: {exc.log_path}")
        _print_error(exc.message, lines, json_mode, exc.exit_code)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _print_error("interrupted", [], json_mode, EXIT_INTERRUPTED)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        # The machine refused a read or write of ours (a read-only work dir or home, a full
        # disk, a folder that cannot be made): what and where, not a traceback.
        _print_error(os_error(exc), [], json_mode, EXIT_USAGE)
        raise typer.Exit(EXIT_USAGE) from None


HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
         errno.EFBIG: "the file is larger than this process may write",
         errno.EROFS: "mounted read-only", errno.EACCES: "no permission"}


def os_error(exc: OSError) -> str:
    """`cannot write PATH: Read-only file system (mounted read-only)` for an OSError."""
    where = " → ".join(str(f) for f in (exc.filename, exc.filename2) if f) or "a file"
    verb = "write" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS) \
        else "read or write"
    hint = HINTS.get(exc.errno or 0)
    return f"cannot {verb} {where}: {exc.strerror or exc}" + (f" ({hint})" if hint else "")


def sigterm_as_interrupt() -> None:
    """SIGINT and SIGTERM (Ctrl-C, a CI job cancelled, `kill`) both give the clean stop.
    SIGINT is set explicitly: a shell starting us in the background leaves it ignored, and
    the promise of a clean stop holds for `kill -INT` there too."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, handler)


def run_recipe(r: Recipe, device: str | None, sel: Selection | None, json_mode: bool,
               wait: bool = False, keep_serving: bool = False, verbose: bool = False) -> int:
    """pipeline.run with the reporter the output calls for; the exit code."""
    from internpipe import pipeline
    from internpipe.progress import make_reporter

    reporter = make_reporter(json_mode, verbose)
    try:
        return pipeline.run(r, device, sel, reporter, wait=wait, keep_serving=keep_serving)
    finally:
        reporter.close()


def is_tty() -> bool:
    return sys.stdout.isatty()


def run_from_arguments(command: str, name: str, stages: dict[str, Any],
                       overrides: list[str] | None, device: str | None,
                       json_mode: bool, keep_serving: bool = False,
                       sel: Selection | None = None) -> tuple[Recipe, int]:
    """A stage subcommand's arguments as a recipe (pipeline.from_arguments), run."""
    from internpipe import pipeline

    r = pipeline.from_arguments(command, name, stages, overrides)
    return r, run_recipe(r, device, sel, json_mode, keep_serving=keep_serving)
