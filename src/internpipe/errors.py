"""Errors that reach the user. The CLI turns them into messages and exit codes; nothing
else in the package prints or exits."""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_STAGE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a user's input, located as precisely as we can."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class UserError(Exception):
    """Bad recipe, bad argument, busy work dir: exit code 2, never a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class RecipeError(UserError):
    """All problems found in one recipe, reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        n = len(problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the recipe", problems)


class StageFailed(Exception):
    """A stage ran and did not produce what it should: exit code 1."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, stage: str, reason: str, log_tail: list[str] | None = None,
                 log_path: str | None = None) -> None:
        super().__init__(f"stage {stage!r} failed: {reason}")
        self.stage = stage
        self.reason = reason
        self.log_tail = log_tail or []
        self.log_path = log_path


class GateFailed(Exception):
    """A quality gate of the recipe failed: exit code 1, the run stops."""

    exit_code = EXIT_STAGE_FAILED

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.lines = lines
