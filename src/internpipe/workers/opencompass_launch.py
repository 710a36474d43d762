"""Run OpenCompass's command line in this process, with its config dumps made literal.
stdlib + opencompass only; never imports internpipe.

    python opencompass_launch.py CONFIG.py -w OUTPUTS [any other opencompass option…]

Why: mmengine rewrites the text of a (non-lazy) config file before it reads it:
`{{$NAME:default}}` becomes the environment variable NAME, `{{ fileDirname }}` (and
fileBasename, fileBasenameNoExtension, fileExtname) the config's own path, `{{_base_.x}}` a
base config's value. The config internpipe writes is read literally (its strings carry
their braces as escapes), but OpenCompass dumps the loaded config and reads the dump again,
and each task of a non-debug run (the Slurm runner) reads a dumped copy in a fresh process:
a recipe string such as `{{$HF_TOKEN:x}}` would turn into the token in the prompts, the
predictions and the logs, and a quote in an environment value would break the config.
Here every string literal in a dumped config spells its braces `\\x7b` and `\\x7d`: no
pattern matches the text, and Python reads the same string.
"""

import io
import sys
import tokenize


def literal(value: str) -> str:
    """A Python string literal for `value` whose text holds no brace. (repr never writes a
    brace as part of an escape, so replacing every brace in it is safe.)"""
    return repr(value).replace("{", "\\x7b").replace("}", "\\x7d")


def without_braces(source: str) -> str:
    """The same Python source with every plain string literal that holds a brace rewritten
    by `literal`."""
    import ast

    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    edits = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING or not {"{", "}"} & set(tok.string):
            continue
        prefix = tok.string[:len(tok.string) - len(tok.string.lstrip("rRuUbBfF"))]
        if any(c in prefix for c in "bBfF"):
            continue      # bytes and f-strings: never in a dumped config
        value = ast.literal_eval(tok.string)
        begin = starts[tok.start[0] - 1] + tok.start[1]
        end = starts[tok.end[0] - 1] + tok.end[1]
        edits.append((begin, end, literal(value)))
    for begin, end, text in reversed(edits):
        source = source[:begin] + text + source[end:]
    return source


def patch_mmengine() -> None:
    from mmengine.config import Config

    dumped = Config.pretty_text

    def pretty_text(self: Config) -> str:
        return without_braces(dumped.fget(self))

    Config.pretty_text = property(pretty_text)


def main() -> int:
    patch_mmengine()
    from opencompass.cli.main import main as opencompass

    sys.argv = ["opencompass", *sys.argv[1:]]
    code = opencompass()
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
