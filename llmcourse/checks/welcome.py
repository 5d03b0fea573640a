"""Visible self-checks for module 00_welcome.

Every expected value here is worked out by hand on a tiny input (the arithmetic is written next to
the case) or is a property that any correct answer has. Nothing here computes a bigram model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import Case, CheckFailed, run


def _integer_array(shape: tuple[int, ...]) -> Callable[[Any], str | None]:
    """Property: an integer NumPy array of the given shape."""

    def prop(got: Any) -> str | None:
        if not isinstance(got, np.ndarray):
            return f"expected a NumPy array, got {type(got).__name__} (wrap the result in np.array)"
        arr = got
        if arr.shape != shape:
            return f"wrong shape: expected {shape}, got {arr.shape}"
        if arr.dtype.kind not in "iu":
            return f"expected integer token ids or counts, got dtype {arr.dtype}"
        return None

    return prop


def _row_stochastic(got: Any) -> str | None:
    """Property: a float matrix whose entries are all positive and whose rows sum to 1."""
    arr = np.asarray(got)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        return f"expected a square (V, V) matrix, got shape {arr.shape}"
    if arr.dtype.kind != "f":
        return f"expected floating-point probabilities, got dtype {arr.dtype}"
    if not np.all(arr > 0):
        return "with alpha > 0 every probability must be strictly positive (smoothing removes the zeros)"
    sums = arr.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
        return f"each ROW (one previous token) must sum to 1; row sums are {np.round(sums, 4)}"
    return None


def pick_device(fn: Callable) -> None:
    """Check pick_device(report) -> 'cuda' | 'mps' | 'cpu' on hand-written hardware reports."""
    run("pick_device", fn, [
        Case("an NVIDIA GPU is visible", ({"torch": "2.x", "cuda": True, "mps": False},), expected="cuda"),
        Case("an Apple GPU only", ({"torch": "2.x", "cuda": False, "mps": True},), expected="mps"),
        Case("no accelerator", ({"torch": "2.x", "cuda": False, "mps": False},), expected="cpu"),
    ])


def bigram_counts(fn: Callable) -> None:
    """Check bigram_counts(ids, V) -> (V, V) integer counts of (previous, next) pairs."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5, size=200)
    run("bigram_counts", fn, [
        # pairs (0,1), (1,1), (1,2): one each
        Case("ids [0, 1, 1, 2], V=3", (np.array([0, 1, 1, 2]), 3),
             expected=np.array([[0, 1, 0], [0, 1, 1], [0, 0, 0]]), prop=_integer_array((3, 3))),
        # pairs (2,0), (0,2), (2,0), (0,2): the row is the PREVIOUS token, the column the NEXT one
        Case("ids [2, 0, 2, 0, 2], V=3", (np.array([2, 0, 2, 0, 2]), 3),
             expected=np.array([[0, 0, 2], [0, 0, 0], [2, 0, 0]]), prop=_integer_array((3, 3))),
        Case("one token has no pair", (np.array([1]), 2), expected=np.zeros((2, 2), dtype=int),
             prop=_integer_array((2, 2))),
        Case("200 random ids: 199 pairs in total", (ids, 5), prop=lambda got: None
             if int(np.asarray(got).sum()) == 199 else
             f"a sequence of T=200 tokens has T-1=199 (previous, next) pairs, your counts sum to "
             f"{np.asarray(got).sum()}"),
    ])


def bigram_probs(fn: Callable) -> None:
    """Check bigram_probs(counts, alpha) -> (V, V) add-alpha smoothed, row-stochastic probabilities."""
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 20, size=(6, 6))
    counts[2] = 0
    run("bigram_probs", fn, [
        # row 0: [1, 3] / 4; row 1 was never seen: uniform
        Case("alpha=0, one empty row", (np.array([[1, 3], [0, 0]]), 0.0),
             expected=np.array([[0.25, 0.75], [0.5, 0.5]])),
        # row 0: [1+1, 3+1] / (4+2); row 1: [2+1, 0+1] / (2+2)
        Case("alpha=1", (np.array([[1, 3], [2, 0]]), 1.0),
             expected=np.array([[2 / 6, 4 / 6], [3 / 4, 1 / 4]])),
        # row 0: [.5, .5, 4.5] / 5.5; row 1: [1.5, 1.5, .5] / 3.5; row 2: [.5, .5, .5] / 1.5
        Case("alpha=0.5, 3 tokens", (np.array([[0, 0, 4], [1, 1, 0], [0, 0, 0]]), 0.5),
             expected=np.array([[1 / 11, 1 / 11, 9 / 11], [3 / 7, 3 / 7, 1 / 7], [1 / 3, 1 / 3, 1 / 3]])),
        Case("random 6x6 counts, alpha=0.1: positive rows summing to 1", (counts, 0.1), prop=_row_stochastic),
    ])


def cross_entropy(fn: Callable) -> None:
    """Check cross_entropy(probs, ids) -> mean negative log-likelihood in nats."""
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    rng = np.random.default_rng(2)
    run("cross_entropy", fn, [
        # predictions: P(1 | 0) = 0.5 and P(1 | 1) = 0.75; mean of -ln of both
        Case("ids [0, 1, 1]", (probs, np.array([0, 1, 1])), expected=(math.log(2) + math.log(4 / 3)) / 2),
        # one prediction: P(0 | 1) = 0.25 -> ln 4
        Case("ids [1, 0]", (probs, np.array([1, 0])), expected=math.log(4)),
        # every prediction has probability 1/4 -> ln 4, whatever the ids
        Case("uniform model over 4 tokens, 50 random ids", (np.full((4, 4), 0.25), rng.integers(0, 4, 50)),
             expected=math.log(4)),
        # P(1 | 0) = 0: the model rules out what happened
        Case("a zero probability on the path (return inf, no warning)",
             (np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([0, 1])), expected=math.inf),
    ])


def perplexity(fn: Callable) -> None:
    """Check perplexity(ce_nats) -> exp(ce)."""
    run("perplexity", fn, [
        Case("a perfect model (ce = 0)", (0.0,), expected=1.0),
        Case("uniform over 4 tokens (ce = ln 4 nats)", (math.log(4),), expected=4.0),
        Case("uniform over 48 tokens (ce = ln 48 nats)", (math.log(48),), expected=48.0),
        Case("a model that rules out the truth (ce = inf)", (math.inf,), expected=math.inf),
    ])


_GREEDY_PROBS = np.array([[0.1, 0.6, 0.3],
                          [0.7, 0.1, 0.2],
                          [0.2, 0.2, 0.6]])


def greedy_continue(fn: Callable) -> None:
    """Check greedy_continue(probs, start_id, n) -> (n,) ids, each the most likely next token."""
    run("greedy_continue", fn, [
        # 0 -> argmax row 0 = 1 -> argmax row 1 = 0 -> 1 -> 0
        Case("start 0, n=4", (_GREEDY_PROBS, 0, 4), expected=np.array([1, 0, 1, 0]), prop=_integer_array((4,))),
        # row 2 is most likely to stay at 2
        Case("start 2, n=3", (_GREEDY_PROBS, 2, 3), expected=np.array([2, 2, 2]), prop=_integer_array((3,))),
        Case("n=0 gives an empty array", (_GREEDY_PROBS, 1, 0), prop=_integer_array((0,))),
    ])


def _transition_freqs(start: int, seq: np.ndarray, V: int) -> np.ndarray:
    """(V, V) observed transition frequencies along start, seq[0], seq[1], ..."""
    path = np.concatenate([[start], np.asarray(seq, dtype=np.int64)])
    freqs = np.zeros((V, V))
    np.add.at(freqs, (path[:-1], path[1:]), 1)
    rows = freqs.sum(axis=1, keepdims=True)
    return freqs / np.maximum(rows, 1)


def sample_continue(fn: Callable) -> None:
    """Check sample_continue(probs, start_id, n, rng): follows the rows, reproducible for a seed."""

    def with_seed(probs: np.ndarray, start_id: int, n: int, seed: int) -> Any:
        return fn(probs, start_id, n, np.random.default_rng(seed))

    def twice(probs: np.ndarray, start_id: int, n: int, seeds: tuple[int, int]) -> Any:
        return (fn(probs, start_id, n, np.random.default_rng(seeds[0])),
                fn(probs, start_id, n, np.random.default_rng(seeds[1])))

    def same(got: Any) -> str | None:
        a, b = (np.asarray(g) for g in got)
        return None if np.array_equal(a, b) else (
            "two generators made with the same seed gave different tokens: sample with the `rng` you are "
            f"given (rng.choice, rng.random, ...), not with np.random.* ; got\n  {a}\n  {b}")

    def different(got: Any) -> str | None:
        a, b = (np.asarray(g) for g in got)
        return None if not np.array_equal(a, b) else (
            "generators with different seeds gave the same 40 tokens: is `rng` used at all?")

    two_state = np.array([[0.9, 0.1], [0.3, 0.7]])

    def follows(got: Any) -> str | None:
        seq = np.asarray(got)
        if seq.shape != (4000,) or seq.dtype.kind not in "iu":
            return f"expected 4000 integer ids, got shape {seq.shape} and dtype {seq.dtype}"
        freqs = _transition_freqs(0, seq, 2)
        if np.max(np.abs(freqs - two_state)) > 0.06:
            return (f"transition frequencies should be close to the probabilities:\n  expected {two_state.tolist()}"
                    f"\n  got      {np.round(freqs, 3).tolist()}  (is the row chosen by the CURRENT token?)")
        return None

    cycle = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    label = "sample_continue"
    if not callable(fn):
        raise CheckFailed(f"{label}: expected a function, got {type(fn).__name__}")
    run(label, with_seed, [
        # one-hot rows leave no choice: 0 -> 2 -> 1 -> 0 -> 2 -> 1
        Case("one-hot rows 0->2->1->0, start 0, n=5", (cycle, 0, 5, 0), expected=np.array([2, 1, 0, 2, 1]),
             prop=_integer_array((5,))),
        Case("n=0 gives an empty array", (cycle, 1, 0, 0), prop=_integer_array((0,))),
        Case("4000 tokens from a 2-token chain: frequencies match the rows", (two_state, 0, 4000, 0), prop=follows),
    ], quiet=True)
    run(label, twice, [
        Case("same seed twice gives the same tokens", (np.full((4, 4), 0.25), 0, 40, (7, 7)), prop=same),
        Case("different seeds give different tokens", (np.full((4, 4), 0.25), 0, 40, (1, 2)), prop=different),
    ], quiet=True)
    print(f"✔ {label}: all 5 visible cases passed")


def _number(name: str, value: Any) -> float:
    """The value as a float, or CheckFailed naming the variable."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CheckFailed(f"interview answers, case '{name}': expected a number, got {value!r}")
    if math.isnan(float(value)):
        raise CheckFailed(f"interview answers, case '{name}': got NaN")
    return float(value)


def interview_answers(uniform_perplexity: Any, uniform_cross_entropy: Any, perplexity_from_bits: Any,
                      perplexity_with_one_zero: Any) -> None:
    """Check that the graded answers are numbers with the properties every correct answer has."""
    ppl = _number("uniform_perplexity", uniform_perplexity)
    ce = _number("uniform_cross_entropy", uniform_cross_entropy)
    bits = _number("perplexity_from_bits", perplexity_from_bits)
    zero = _number("perplexity_with_one_zero", perplexity_with_one_zero)
    for name, value in (("uniform_perplexity", ppl), ("perplexity_from_bits", bits),
                        ("perplexity_with_one_zero", zero)):
        if value < 1:
            raise CheckFailed(f"interview answers, case '{name}': a perplexity is never below 1, got {value}")
    if ce < 0:
        raise CheckFailed("interview answers, case 'uniform_cross_entropy': a cross-entropy is never negative")
    if not math.isclose(math.exp(ce), ppl, rel_tol=2e-3):
        raise CheckFailed(
            "interview answers, case 'uniform cross-entropy and perplexity agree': perplexity is "
            f"exp(cross-entropy in nats), but exp({ce:.4g}) = {math.exp(ce):.4g} while your perplexity is {ppl:.4g}")
    print("✔ interview answers: all 4 are numbers with the right properties (the hidden tests check the values)")
