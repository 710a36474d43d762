"""How workers/vqa_eval.py scores an answer to an image question: exact match after
normalising case, spaces and end punctuation; the option a choice answer picks."""

from __future__ import annotations

import pytest

from internpipe.workers import vqa_eval

ROW = {"choices": ["red", "dark blue", "green"], "answer": "B"}


@pytest.mark.parametrize(("prediction", "right"), [
    ("yellow", True), (" Yellow.", True), ("YELLOW!", True), ("黄色", False),
    ("yellow square", False), ("", False)])
def test_exact_match(prediction: str, right: bool) -> None:
    assert vqa_eval.correct({"answer": "yellow"}, "exact", prediction) is right


@pytest.mark.parametrize(("prediction", "right"), [
    ("B", True), ("B. dark blue", True), ("(b) it is blue", True), ("dark blue", True),
    ("The answer is dark blue.", True), ("A", False), ("red or dark blue", False),
    ("blue-ish", False), ("D", False)])
def test_choice(prediction: str, right: bool) -> None:
    assert vqa_eval.correct(ROW, "choice", prediction) is right


def test_a_choice_answer_may_be_the_choice_text() -> None:
    assert vqa_eval.gold_letter({"choices": ["red", "green"], "answer": "Green"}) == "B"
    assert vqa_eval.correct({"choices": ["red", "green"], "answer": "green"}, "choice", "B")


def test_the_choice_prompt_lists_the_options() -> None:
    text = vqa_eval.prompt({"question": "Which?", **ROW}, "choice", None)
    assert text == "Which?\nA. red\nB. dark blue\nC. green\nAnswer with the option's letter."
    assert vqa_eval.prompt({"question": "Q", "x": 1}, "exact", "Look: {question}") == "Look: Q"
