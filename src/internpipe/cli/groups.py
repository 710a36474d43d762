"""A command group with a default subcommand: `internpipe deploy MODEL` is `internpipe
deploy serve MODEL`, while `deploy status|stop|logs` and `agent chat` are subcommands of
their own (each with its own `-h`)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup


def with_default(command: str) -> type[TyperGroup]:
    """A TyperGroup class whose first argument, when it names no subcommand (a recipe, a
    model folder, an option), goes to `command`."""

    class DefaultGroup(TyperGroup):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
                args = [command, *args]
            return super().parse_args(ctx, args)

    return DefaultGroup
