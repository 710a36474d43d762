"""The `internpipe` command. Sub-commands live one per module; heavy imports (pydantic,
YAML, rich tables) happen inside them so that `--help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from internpipe import __version__
from internpipe.cli import (
    agent,
    bench,
    deploy,
    download,
    env,
    evaluate,
    finetune,
    plan,
    quantize,
    report,
    run,
    schema,
    status,
    validate,
)

app = typer.Typer(
    name="internpipe",
    help="Carry an InternLM model through the InternLM toolchain with one recipe:\n\n"
         "download → finetune → evaluate → quantize → deploy → agent\n\n"
         "Each stage hands its work to the official tool (ModelScope / OpenXLab / Hugging "
         "Face clients, XTuner, OpenCompass, LMDeploy, Lagent + AgentLego), each in its own "
         "pinned environment.",
    epilog="Examples:\n\n"
           "  internpipe validate recipes/demo-cpu.yaml\n\n"
           "  internpipe plan recipes/demo-cpu.yaml\n\n"
           "  internpipe run recipes/demo-cpu.yaml --set stages.finetune.epochs=3\n\n"
           "  internpipe report recipes/demo-cpu.yaml\n\n"
           "  internpipe env setup xtuner\n\n"
           "Exit codes: 0 ok, 1 a stage failed, 2 bad recipe or usage, 130 interrupted.",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"internpipe {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    pass


app.command("run")(run.command)
app.command("plan")(plan.command)
app.command("validate")(validate.command)
app.command("status")(status.command)
app.command("schema")(schema.command)
app.add_typer(env.app, name="env")
app.command("download")(download.command)
app.command("finetune")(finetune.command)
app.command("evaluate")(evaluate.command)
app.command("quantize")(quantize.command)
app.command("deploy")(deploy.command)
app.command("agent")(agent.command)
app.command("report")(report.command)
app.command("bench")(bench.command)


def main() -> None:
    app()
