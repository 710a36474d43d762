"""Every string a recipe can give is typed to refuse control characters (internpipe.fields),
and every number is strict and finite: walked over the Options model of every registered
kind and the recipe's top level, so a field added later cannot slip past."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from internpipe import fields, recipe, stages

CHECKED = {fields.one_line, fields.text, fields.env_name, fields.host, fields.url}
REAL = ("download", "finetune", "evaluate", "quantize", "deploy", "agent")


def _validators(metadata: list[Any]) -> set[Any]:
    return {getattr(m, "func", None) for m in metadata}


def _bare_strings(tp: Any, metadata: list[Any], where: str) -> list[str]:
    """Places in a type where a `str` has none of the checked validators."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *extra = typing.get_args(tp)
        return _bare_strings(base, [*metadata, *extra], where)
    if tp is str:
        return [] if _validators(metadata) & CHECKED else [where]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return _model_bare_strings(tp, where)
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [b for a in args for b in _bare_strings(a, metadata, where)]
    return [b for a in args for b in _bare_strings(a, [], f"{where}[]")]


def _model_bare_strings(model: type[BaseModel], where: str) -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        out += _bare_strings(info.annotation, list(info.metadata), f"{where}.{name}")
    return out


@pytest.mark.parametrize("model", [*(stages.declaration(k).Options for k in REAL),
                                   recipe.TopLevel, recipe.Resources, recipe.SlurmResources],
                         ids=lambda m: m.__module__.rsplit(".", 2)[-2] + "." + m.__name__)
def test_every_string_field_refuses_control_characters(model: type[BaseModel]) -> None:
    assert _model_bare_strings(model, model.__name__) == []


def test_the_walk_sees_a_bare_string() -> None:
    class Loose(BaseModel):
        name: str
        names: list[fields.Line]

    assert _model_bare_strings(Loose, "Loose") == ["Loose.name"]


@pytest.mark.parametrize("model", [stages.declaration(k).Options for k in REAL],
                         ids=list(REAL))
def test_options_are_strict_and_finite(model: type[BaseModel]) -> None:
    assert model.model_config.get("strict") is True
    assert model.model_config.get("allow_inf_nan") is False


@pytest.mark.parametrize(("value", "ok"), [
    ("plain text", True), ("tab\there", False), ("new\nline", False), ("nul\0", False),
    ("del\x7f", False), ("nel\x85", False), ("ls\u2028", False), ("中文 ok", True)])
def test_one_line(value: str, ok: bool) -> None:
    if ok:
        assert fields.one_line(value) == value
    else:
        with pytest.raises(ValueError, match="control character"):
            fields.one_line(value)


@pytest.mark.parametrize(("value", "ok"), [
    ("two\nlines\tand a tab\r\n", True), ("ls\u2028is text", True), ("nul\0", False),
    ("bell\a", False), ("esc\x1b[31m", False)])
def test_text(value: str, ok: bool) -> None:
    if ok:
        assert fields.text(value) == value
    else:
        with pytest.raises(ValueError, match="control character"):
            fields.text(value)


@pytest.mark.parametrize("value", ["ftp://h/x", "http://", "http://h:99999/v1", "http://h:0/",
                                   "http://h /v1", "h:8000/v1", "http://h:x/"])
def test_bad_urls(value: str) -> None:
    with pytest.raises(ValueError):
        fields.url(value)


def test_good_urls() -> None:
    for value in ("http://127.0.0.1:23333/v1", "https://example.org/v1/chat/completions",
                  "http://[::1]:8000/v1"):
        assert fields.url(value) == value


def test_strict_numbers_in_a_model() -> None:
    finetune = stages.declaration("finetune").Options
    for bad in ({"epochs": True}, {"epochs": 2.0}, {"lr": float("inf")},
                {"lr": float("nan")}, {"pack": 1}, {"epochs": 10**40}, {"seed": -1}):
        with pytest.raises(ValidationError):
            finetune.model_validate({"data": "d.jsonl", **bad})
    assert finetune.model_validate({"data": "d.jsonl", "lr": 1}).lr == 1.0
