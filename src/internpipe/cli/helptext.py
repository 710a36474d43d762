"""One pass over the built click command tree that makes every command's help read the way
click programs' help does, whatever module defined it (commands added later included):

- examples verbatim: an indented paragraph of a docstring (an example command line) is
  marked so that click does not re-wrap it (its `\\b` marker);
- metavars: an option's value is named after the option (`--data DATA`) or lists its
  choices (`--method [lora|qlora|full]`), an argument by its name (`MODEL`, `[RECIPE]`),
  never a Python type (`<list[str]>`, `<str>`);
- a usage error names the option (`--method`), as click does."""

from __future__ import annotations

import re
from typing import Any

INDENTED = re.compile(r"^\s{2,}\S")


def verbatim_examples(text: str | None) -> str | None:
    """Prefix each paragraph whose lines are all indented with click's no-rewrap marker."""
    if not text:
        return text
    paragraphs = re.split(r"\n\s*\n", text)
    out: list[str] = []
    for para in paragraphs:
        lines = [line for line in para.split("\n") if line.strip()]
        first = next((i for i, line in enumerate(para.split("\n")) if line.strip()), 0)
        indented = lines and all(INDENTED.match(line) for line in lines[first > 0:])
        if indented and "\b" not in para and not _is_first_paragraph(out):
            para = "\b\n" + para
        out.append(para)
    return "\n\n".join(out)


def _is_first_paragraph(done: list[str]) -> bool:
    # The summary paragraph (the short help in command lists) is never an example.
    return not done


def _option_metavar(param: Any) -> str:
    choices = _choices(param)
    if choices:
        return "[" + "|".join(choices) + "]"
    name = str(max(param.opts, key=len)).lstrip("-")
    return name.upper().replace("-", "_")


def _choices(param: Any) -> list[str]:
    desc = getattr(param, "type_descriptor", None)
    if desc is None or not getattr(desc, "is_choice", False):
        return []
    return [str(getattr(c, "value", c)) for c in desc.choices or ()]


def _tidy_argument(param: Any) -> None:
    label = param.metavar or param.name.upper()
    many = "..." if param.nargs != 1 else ""
    bare = label.strip("[]")
    usage = (bare if param.required else f"[{bare}]") + many
    param._usage_display_name = lambda: usage
    param._rich_display_name = lambda: bare + many
    param.display_type_rich = lambda ctx: None


def tidy(command: Any) -> None:
    """Apply the pass to a command and everything under it, in place."""
    command.help = verbatim_examples(command.help)
    command.epilog = verbatim_examples(command.epilog)
    for param in command.params:
        if param.param_type_name == "argument":
            _tidy_argument(param)
        elif not getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = _option_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)


NOT_ONE_OF = re.compile(r"(?:Value error, )?'([^']*)' is not one of ((?:'[^']*'(?:, )?)+)\.")


def did_you_mean(message: str) -> str:
    """`'lorra' is not one of 'lora', 'qlora', 'full'.` + ` Did you mean 'lora'?`"""
    match = NOT_ONE_OF.search(message)
    if not match:
        return message
    import difflib

    choices = re.findall(r"'([^']*)'", match.group(2))
    close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return message.replace(match.group(0), match.group(0).removeprefix("Value error, ") + hint)
