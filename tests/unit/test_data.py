"""The course corpus and tokenizer: deterministic, self-consistent, and with checkable tasks."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from llmcourse import data


def test_corpus_is_deterministic_and_split():
    train, val = data.load_corpus("train"), data.load_corpus("val")
    assert train == "\n".join(data.generate_lines(data.SPLIT_LINES["train"], data.SPLIT_SEEDS["train"])) + "\n"
    assert len(train) > 500_000 and len(val) > 50_000
    assert train != val
    assert set(train) <= set(data.VOCAB) and set(val) <= set(data.VOCAB)


def test_generation_does_not_depend_on_global_random_state():
    random.seed(1)
    a = data.generate_lines(50, 3)
    random.seed(2)
    assert data.generate_lines(50, 3) == a


def test_tokenizer_round_trip_and_errors():
    tok = data.CharTokenizer()
    text = data.load_corpus("val")[:2000]
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (2000,)
    assert tok.decode(ids) == text
    assert tok.vocab_size == len(set(data.VOCAB)) == len(data.VOCAB)
    with pytest.raises(ValueError, match="'Q' at position 3"):
        tok.encode("abcQ")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([0, 999])


@pytest.mark.parametrize("task", data.TASKS)
def test_task_answers_are_correct(task):
    for prompt, answer in data.task_examples(task, 200):
        if task == "add":
            a, b = map(int, re.fullmatch(r"add (\d+)\+(\d+)=", prompt).groups())
            assert int(answer) == a + b
        elif task == "copy":
            assert prompt == f"copy {answer}>"
        else:
            listing, key = re.fullmatch(r"recall (.*) \? (\w)=", prompt).groups()
            assert dict(p.split("=") for p in listing.split())[key] == answer


def test_task_lines_appear_in_corpus_in_the_same_format():
    lines = data.load_corpus("val").splitlines()
    for prefix in ("add ", "copy ", "recall "):
        share = sum(line.startswith(prefix) for line in lines) / len(lines)
        assert 0.05 < share < 0.25, prefix
    assert all(line.endswith(".") for line in lines if not line.startswith(("add ", "copy ", "recall ")))


def test_unknown_split_and_task():
    with pytest.raises(ValueError):
        data.load_corpus("test")
    with pytest.raises(ValueError):
        data.task_example("sort", random.Random(0))
