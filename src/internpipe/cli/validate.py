from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from internpipe import events
from internpipe.cli.shared import FullCheckOpt, JsonOpt, SetOpt, os_error, say
from internpipe.errors import EXIT_USAGE, Problem, RecipeError, UserError


def command(
    recipes: Annotated[list[Path], typer.Argument(help="Recipe files.", show_default=False)],
    set_: SetOpt = None,
    full_data_check: FullCheckOpt = False,
    json_mode: JsonOpt = False,
) -> None:
    """Check recipes: syntax, keys, types, references between stages, and what each stage
    needs before it can run (data files row by row, names XTuner, OpenCompass and AgentLego
    must know, what the device allows). Every problem of a file is reported at once as
    FILE:LINE: FIELD: MESSAGE; exit 2 if there are any. Builds and runs nothing.

    Examples:

      internpipe validate recipes/*.yaml

      internpipe validate recipe.yaml --set stages.finetune.epochs=3 --json
    """
    from internpipe import preflight
    from internpipe import recipe as recipe_mod

    results: list[dict[str, Any]] = []
    for path in recipes:
        try:
            r = recipe_mod.load(path, set_ or [])
            problems = preflight.check(r)
            if problems:
                raise RecipeError(problems)
            warnings = preflight.machine_problems(r)
            results.append({"recipe": str(path), "valid": True, "name": r.name,
                            "stages": [{"stage": n, "kind": r.stages[n].kind,
                                        "inputs": r.stages[n].inputs} for n in r.order],
                            "problems": [], "warnings": [w.__dict__ for w in warnings]})
        except UserError as exc:
            problems = exc.problems or []
            if isinstance(exc, recipe_mod.InvalidRecipe) and exc.draft is not None:
                # What did validate is checked too: every problem of the file at once.
                problems = [*problems, *preflight.check(exc.draft)]
                exc.message = RecipeError(problems).message
            results.append({"recipe": str(path), "valid": False, "message": exc.message,
                            "problems": [p.__dict__ for p in problems]})
        except OSError as exc:      # the machine refused a read: what and where
            results.append({"recipe": str(path), "valid": False, "message": os_error(exc),
                            "problems": []})
    ok = all(r["valid"] for r in results)
    if json_mode:
        events.write({"event": "validate", "valid": ok, "recipes": results})
    else:
        for res in results:
            if res["valid"]:
                order = " → ".join(s["stage"] for s in res["stages"])
                say(("✔", "green"), f" {res['recipe']}: {order}")
                for w in res["warnings"]:
                    say("  ", ("warning:", "yellow"), f" {Problem(**w)}", stderr=True)
            else:
                say(("✘", "bold red"), f" {res['recipe']}: {res['message']}", stderr=True)
                for p in res["problems"]:
                    where = f"{p['file']}:{p['line']}" if p["line"] else p["file"]
                    field = f" {p['field']}:" if p["field"] else ""
                    say(f"  {where}:{field} {p['message']}", stderr=True)
    raise typer.Exit(0 if ok else EXIT_USAGE)
