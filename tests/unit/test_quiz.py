"""The quiz hook: banks validate, grading gives feedback, option order is seeded."""

from __future__ import annotations

import json

import pytest

from llmcourse import quiz

GOOD = {
    "module": "99_demo",
    "questions": [
        {"id": "q1", "type": "single", "prompt": "Pick b", "options": [
            {"text": "a", "why": "tempting but wrong"},
            {"text": "b", "correct": True, "why": "right because"},
            {"text": "c", "why": "also wrong"}]},
        {"id": "q2", "type": "numeric", "prompt": "2+2?", "answer": 4, "rel_tol": 0.01, "unit": "apples",
         "why": "count them"},
        {"id": "q3", "type": "multiple", "prompt": "Pick a and c", "options": [
            {"text": "a", "correct": True, "why": "yes"}, {"text": "b", "why": "no"},
            {"text": "c", "correct": True, "why": "yes"}]},
    ],
}


@pytest.fixture
def bank_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(quiz, "BANK_DIR", tmp_path)
    quiz.load_bank.cache_clear()
    yield tmp_path
    quiz.load_bank.cache_clear()


def write(bank_dir, content):
    (bank_dir / "99_demo.json").write_text(json.dumps(content))


def test_grading(bank_dir):
    write(bank_dir, GOOD)
    q1, q2, q3 = quiz.load_bank("99_demo")
    ok, text = q1.grade(1)
    assert ok and "right because" in text
    ok, text = q1.grade(0)
    assert not ok and "tempting but wrong" in text and "right because" in text
    assert q2.grade("4.01")[0] and not q2.grade(5)[0] and not q2.grade("four")[0]
    assert "4 apples" in q2.grade(5)[1]
    assert q3.grade({0, 2})[0] and not q3.grade({0})[0]


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b["questions"][0]["options"][1].pop("correct"), "exactly the right number"),
    (lambda b: b["questions"][0]["options"][0].pop("why"), "'why'"),
    (lambda b: b["questions"][1].pop("answer"), "'answer'"),
    (lambda b: b["questions"].append(dict(b["questions"][0])), "duplicate"),
    (lambda b: b.update(module="00_other"), "'module'"),
    (lambda b: b["questions"][0].update(type="essay"), "type must be"),
])
def test_bad_banks_are_refused(bank_dir, mutate, message):
    bank = json.loads(json.dumps(GOOD))
    mutate(bank)
    write(bank_dir, bank)
    with pytest.raises(quiz.QuizError, match=message):
        quiz.load_bank("99_demo")


def test_missing_and_invalid_json(bank_dir):
    with pytest.raises(quiz.QuizError, match="no quiz bank"):
        quiz.load_bank("99_demo")
    (bank_dir / "99_demo.json").write_text("{not json")
    with pytest.raises(quiz.QuizError, match="not valid JSON"):
        quiz.load_bank("99_demo")


def test_shuffle_is_seeded_and_varies(bank_dir):
    write(bank_dir, GOOD)
    q1 = quiz.load_bank("99_demo")[0]
    assert quiz.shuffled_options(q1, 3) == quiz.shuffled_options(q1, 3)
    assert sorted(quiz.shuffled_options(q1, 3)) == [0, 1, 2]
    assert len({tuple(quiz.shuffled_options(q1, s)) for s in range(20)}) > 1


def test_text_fallback_outside_ipython(bank_dir, capsys):
    write(bank_dir, GOOD)
    quiz.show("99_demo")
    out = capsys.readouterr().out
    assert "1. Pick b" in out and "(a)" in out and "2. 2+2?" in out


def test_shipped_banks_are_valid():
    banks = sorted(quiz.BANK_DIR.glob("*.json"))
    assert banks, "no quiz banks shipped"
    for path in banks:
        questions = quiz.load_bank(path.stem)
        assert len(questions) >= 4, path.name
