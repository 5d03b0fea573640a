"""Visible checks of 14_question_bank: they accept every well-formed answer and name what is malformed."""

from __future__ import annotations

import numpy as np
import pytest

from llmcourse.checks import CheckFailed, question_bank


@pytest.mark.parametrize("value", [3, 2.5e9, np.int64(7), np.float32(1.5), 2**40])
def test_number_accepts_numbers(value, capsys):
    assert question_bank.number("x", value) == float(value)
    assert capsys.readouterr().out.startswith("✔ x:")


@pytest.mark.parametrize("value, message", [
    ("12", "expected a number"), (True, "expected a number"), (None, "expected a number"),
    (float("nan"), "finite positive"), (float("inf"), "finite positive"), (-1, "finite positive"), (0, "positive"),
])
def test_number_rejects(value, message):
    with pytest.raises(CheckFailed, match=message):
        question_bank.number("x", value)


def test_choice_and_choices(capsys):
    assert question_bank.choice("h", " B ") == "b"
    assert question_bank.choices("s", "ca") == {"a", "c"}
    assert question_bank.choices("s", ["A", "c"]) == {"a", "c"}
    assert question_bank.choices("s", {"d"}) == {"d"}
    assert capsys.readouterr().out.count("✔") == 4


@pytest.mark.parametrize("fn, value, message", [
    (question_bank.choice, "ab", "exactly one letter"), (question_bank.choice, "", "exactly one letter"),
    (question_bank.choice, "e", "'e' is not one of"), (question_bank.choice, 2, "string of letters"),
    (question_bank.choices, "", "at least one"), (question_bank.choices, "aa", "twice"),
    (question_bank.choices, ["a", 3], "expected letters"),
])
def test_letters_rejected(fn, value, message):
    with pytest.raises(CheckFailed, match=message):
        fn("q", value, "abcd")


def test_line_number():
    assert question_bank.line_number("l", 6, 8) == 6
    assert question_bank.line_number("l", " 6", 8) == 6
    assert question_bank.line_number("l", np.int32(1), 8) == 1
    for bad, message in [(0, "1 to 8"), (9, "1 to 8"), (6.0, "whole line number"), (True, "line number"),
                         ("six", "whole line number")]:
        with pytest.raises(CheckFailed, match=message):
            question_bank.line_number("l", bad, 8)
