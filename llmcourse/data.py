"""The course corpus and its character tokenizer, generated here from a fixed seed (no downloads).

The corpus mixes short sentences from a small grammar (regular enough for a tiny model to learn,
varied enough that a bigram model is clearly worse) with lines holding exactly checkable tasks:

    story   the brave fox found a red apple near the river.
    add     add 47+38=85
    copy    copy kqzvt>kqzvt
    recall  recall b=4 x=9 q=2 ? x=9

A task line's prompt ends at its marker ('=', '>' or '?'); everything after it up to the newline is
the answer, so task accuracy can be measured exactly after any compression of the model.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Fixed vocabulary: every corpus character is here, and ids never depend on the corpus.
VOCAB = "\n !,.:;=>?+-0123456789abcdefghijklmnopqrstuvwxyz"

SPLIT_SEEDS = {"train": 20240611, "val": 20240612}
SPLIT_LINES = {"train": 24_000, "val": 2_400}
TASKS = ("add", "copy", "recall")

_NOUNS = ["cat", "dog", "fox", "bird", "girl", "boy", "king", "queen", "farmer", "robot", "teacher", "horse"]
_ADJECTIVES = ["small", "old", "red", "quiet", "happy", "brave", "tired", "clever", "green", "tall"]
_OBJECT_ADJECTIVES = ["small", "old", "red", "green", "heavy", "new", "broken", "shiny"]
_OBJECTS = ["apple", "book", "lamp", "key", "boat", "song", "letter", "stone", "map", "cake"]
_VERBS_T = ["saw", "found", "followed", "helped", "painted", "carried", "watched", "liked", "lost", "made"]
_VERBS_I = ["slept", "sang", "ran", "waited", "smiled", "danced", "laughed", "rested"]
_PLACES = ["in the garden", "near the river", "on the hill", "at the market", "under the bridge",
           "by the sea", "in the forest", "at school"]
_TIMES = ["at night", "in the morning", "after lunch", "before dawn", "every day", "on sunday"]
# Each character has a home it always returns to: a fact a model can learn and be tested on.
_HOMES = {noun: _PLACES[i % len(_PLACES)] for i, noun in enumerate(_NOUNS)}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PUNCTUATION = "".join(ch for ch in VOCAB if not (ch.isalnum() or ch.isspace()))


@dataclass(frozen=True)
class CharTokenizer:
    """Character-level tokenizer over the fixed course vocabulary."""

    vocab: str = VOCAB

    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids."""
        return len(self.vocab)

    def encode(self, text: str) -> np.ndarray:
        """Text -> (len(text),) int64 token ids; unknown characters raise ValueError naming them."""
        index = _index(self.vocab)
        try:
            return np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            pos = next(i for i, ch in enumerate(text) if ch not in index)
            raise ValueError(
                f"character {exc.args[0]!r} at position {pos} is not in the course vocabulary "
                f"(lower-case letters, digits, space, newline and {_PUNCTUATION!r})"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids -> text; ids outside the vocabulary raise ValueError."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.vocab):
                raise ValueError(f"token id {i} is outside the vocabulary (0..{len(self.vocab) - 1})")
            out.append(self.vocab[i])
        return "".join(out)


@lru_cache(maxsize=4)
def _index(vocab: str) -> dict[str, int]:
    return {ch: i for i, ch in enumerate(vocab)}


def _noun_phrase(rng: random.Random, nouns: list[str], adjectives: list[str] = _ADJECTIVES) -> str:
    det = rng.choice(["the", "the", "a"])
    if rng.random() < 0.5:
        return f"{det} {rng.choice(adjectives)} {rng.choice(nouns)}"
    return f"{det} {rng.choice(nouns)}"


def story_line(rng: random.Random) -> str:
    """One sentence from the course grammar (no trailing newline)."""
    kind = rng.random()
    subject = _noun_phrase(rng, _NOUNS)
    if kind < 0.4:
        text = f"{subject} {rng.choice(_VERBS_T)} {_noun_phrase(rng, _OBJECTS, _OBJECT_ADJECTIVES)}"
        if rng.random() < 0.6:
            text += f" {rng.choice(_PLACES)}"
    elif kind < 0.7:
        text = f"{subject} {rng.choice(_VERBS_I)}"
        if rng.random() < 0.5:
            text += f" {rng.choice(_PLACES)}"
        if rng.random() < 0.5:
            text += f" {rng.choice(_TIMES)}"
    elif kind < 0.85:
        noun = rng.choice(_NOUNS)
        text = f"the {noun} lives {_HOMES[noun]}"
    else:
        thing = _noun_phrase(rng, _OBJECTS, _OBJECT_ADJECTIVES)
        text = f"{subject} {rng.choice(_VERBS_T)} {thing}, then {rng.choice(_VERBS_I)}"
    return text + "."


def task_example(task: str, rng: random.Random) -> tuple[str, str]:
    """(prompt, answer) for one task line; prompt + answer + newline is the corpus line."""
    if task == "add":
        a, b = rng.randrange(10, 100), rng.randrange(10, 100)
        return f"add {a}+{b}=", str(a + b)
    if task == "copy":
        word = "".join(rng.choice(_LETTERS) for _ in range(rng.randrange(3, 8)))
        return f"copy {word}>", word
    if task == "recall":
        keys = rng.sample(_LETTERS, 3)
        pairs = [(k, rng.randrange(10)) for k in keys]
        key, value = rng.choice(pairs)
        listing = " ".join(f"{k}={v}" for k, v in pairs)
        return f"recall {listing} ? {key}=", str(value)
    raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")


def generate_lines(n_lines: int, seed: int) -> list[str]:
    """n_lines corpus lines (without newlines), deterministic in seed."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        r = rng.random()
        if r < 0.62:
            lines.append(story_line(rng))
        else:
            task = TASKS[0] if r < 0.75 else TASKS[1] if r < 0.88 else TASKS[2]
            prompt, answer = task_example(task, rng)
            lines.append(prompt + answer)
    return lines


@lru_cache(maxsize=4)
def load_corpus(split: str = "train") -> str:
    """The course corpus for 'train' or 'val' as one string of newline-terminated lines."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'val'")
    return "\n".join(generate_lines(SPLIT_LINES[split], SPLIT_SEEDS[split])) + "\n"


def task_examples(task: str, n: int, seed: int = 7) -> list[tuple[str, str]]:
    """n fresh (prompt, answer) pairs for one exact task, for measuring task accuracy."""
    rng = random.Random(seed * 1000 + TASKS.index(task) if task in TASKS else seed)
    return [task_example(task, rng) for _ in range(n)]
