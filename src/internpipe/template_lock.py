"""The chat-template lock across stages: a fine-tuned model is served and evaluated with the
prompt it was trained on.

finetune trains with an XTuner template and writes the jinja equivalent into the folder it
publishes (chat_templates.py). A deploy stage's declared `chat_template` must render the
same text as that training template for the probe conversations (checked at plan time from
the names the recipe declares: a plan problem at the option's line); the model folder a
deploy or evaluate stage receives must still carry the trained template (checked when the
stage starts, from the folder itself: the training template may only be known then, e.g. a
hub model whose chat template is detected after download)."""

from __future__ import annotations

from pathlib import Path

from internpipe.chat_templates import (
    FROM_CHAT_TEMPLATE,
    folder_mismatch,
    mismatch,
    xtuner_name,
)
from internpipe.errors import Problem
from internpipe.stages import InputRef, Section, StageContext

# The template name with which LMDeploy renders the model folder's own jinja template.
OWN = "hf"


def trained_template(section: Section) -> tuple[str | None, Section | None]:
    """(the XTuner template, the finetune stage) the model `section` uses was trained with,
    as the recipe declares it: followed back through `model` inputs (quantize keeps it) to a
    finetune's `template:`, else its download's `chat_template:`. (None, None): no finetune;
    (None, stage): known only once that stage runs."""
    seen = 0
    while seen < 64:
        refs = section.inputs.get("model") or []
        if len(refs) != 1:
            return None, None
        section, seen = refs[0], seen + 1
        if section.kind == "finetune":
            template = getattr(section.options, "template", None)
            if isinstance(template, str):
                return template, section
            chat = declared_chat_template(section)
            return (FROM_CHAT_TEMPLATE.get(chat, chat) if chat else None), section
        if section.kind == "download":
            return None, None
    return None, None


def declared_chat_template(section: Section) -> str | None:
    """The chat template the recipe gives the model (a download's `chat_template:`), followed
    back through the stages it derives from; None: detected from the model's files at run
    time."""
    while section.kind != "download":
        refs = section.inputs.get("model") or []
        if len(refs) != 1:
            return None
        section = refs[0]
    value = getattr(section.options, "chat_template", None)
    return value if isinstance(value, str) else None


def served_mismatch(trained: str, declared: str, trainer: str) -> str | None:
    """Why a server told to render `declared` would not prompt as stage `trainer` trained
    with `trained`, or None."""
    if declared == OWN:
        return None
    other = xtuner_name(declared)
    if other is None:
        return (f"chat_template {declared!r} cannot be checked against the template the "
                f"model of stage {trainer!r} is trained with ({trained}): leave "
                "chat_template unset (the server then renders the model folder's own "
                f"template, which finetune writes for {trained}) or name the same template")
    why = mismatch(trained, other)
    if why is None:
        return None
    return (f"the served prompt differs from the trained one: the model of stage {trainer!r} "
            f"is trained with {trained}, and chat_template {declared!r} renders {other}: "
            f"{why}. Leave chat_template unset (the server renders the template finetune "
            f"writes into the model folder) or set it to {trained}")


def deploy_problems(section: Section, declared: str | None) -> list[Problem]:
    """Plan time: the deploy stage's `chat_template` against the training template."""
    trained, trainer = trained_template(section)
    if declared is None or trained is None or trainer is None:
        return []
    why = served_mismatch(trained, declared, trainer.name)
    return [section.problem(why, "chat_template")] if why else []


def check_started(ctx: StageContext, refs: list[InputRef], declared: str | None = None,
                  option: tuple[str | int, ...] = ()) -> None:
    """When the stage starts: every fine-tuned model it receives must still carry its
    trained template, and a declared `chat_template` must render the same text. Refuses
    (exit 2, at the recipe's line) otherwise."""
    for ref in refs:
        trained = ref.model().get("template")
        if not isinstance(trained, str) or xtuner_name(trained) is None:
            continue
        if Path(ref.path).is_dir():
            why = folder_mismatch(Path(ref.path), trained)
            if why is not None:
                raise ctx.refuse(f"the model of stage {ref.stage!r}: {why}")
        if declared is not None:
            why = served_mismatch(trained, declared, ref.stage)
            if why is not None:
                raise ctx.refuse(why, *option)
