"""Visible self-checks for module 01_attention.

Every expected value below is worked out by hand on a tiny input (the derivation sits in the case
name or a comment), or is a property that any correct answer has. Nothing here computes attention.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._core import Case, CheckFailed, attention_output, compare, run

LN2, LN3, LN4 = math.log(2.0), math.log(3.0), math.log(4.0)


def softmax(fn: Callable) -> None:
    """Check softmax(x, axis=-1) on hand-worked inputs, including large and masked (-inf) logits."""
    m = np.array([[0.0, LN3], [LN4, 0.0]])
    cases = [
        # exp gives [1, 2, 3], whose sum is 6
        Case("[0, ln 2, ln 3] -> [1/6, 1/3, 1/2]", (np.array([0.0, LN2, LN3]),),
             expected=np.array([1 / 6, 1 / 3, 1 / 2])),
        Case("equal logits give a uniform row", (np.full(4, 5.0),), expected=np.full(4, 0.25)),
        # row 0: exp -> [1, 3]; row 1: exp -> [4, 1]
        Case("2-D input, default axis=-1: each row on its own", (m,),
             expected=np.array([[1 / 4, 3 / 4], [4 / 5, 1 / 5]])),
        # column 0: exp -> [1, 4]; column 1: exp -> [3, 1]
        Case("2-D input, axis=0: each column on its own", (m,), {"axis": 0},
             expected=np.array([[1 / 5, 3 / 4], [4 / 5, 1 / 4]])),
        Case("large logits [1000, 1000 + ln 3] (exp(1000) overflows without the max shift)",
             (np.array([1000.0, 1000.0 + LN3]),), expected=np.array([0.25, 0.75])),
        Case("float32 logits [100, 100 + ln 3] (exp(100) overflows float32)",
             (np.array([100.0, 100.0 + LN3], dtype=np.float32),), expected=np.array([0.25, 0.75]),
             rtol=1e-4, atol=1e-6),
        Case("a masked logit (-inf) gets weight 0", (np.array([0.0, -np.inf, LN3]),),
             expected=np.array([0.25, 0.0, 0.75]), atol=1e-12),
    ]
    run("softmax", fn, cases)


def row_entropy(fn: Callable) -> None:
    """Check row_entropy(weights, axis=-1) in nats, with 0 * log 0 taken as 0."""
    cases = [
        Case("uniform over 4 -> ln 4", (np.full(4, 0.25),), expected=np.float64(LN4)),
        Case("one-hot [0, 1, 0] -> 0 (no NaN from 0 * log 0)", (np.array([0.0, 1.0, 0.0]),),
             expected=np.float64(0.0)),
        Case("[1/2, 1/2, 0] -> ln 2", (np.array([0.5, 0.5, 0.0]),), expected=np.float64(LN2)),
        Case("2-D input, default axis=-1: one entropy per row", (np.array([[1.0, 0.0], [0.5, 0.5]]),),
             expected=np.array([0.0, LN2])),
        Case("2-D input, axis=0: one entropy per column", (np.array([[1.0, 0.5], [0.0, 0.5]]),),
             {"axis": 0}, expected=np.array([0.0, LN2])),
        # -(1/4 ln 1/4 + 3/4 ln 3/4) = ln 4 - (3/4) ln 3
        Case("[1/4, 3/4] -> ln 4 - (3/4) ln 3 (natural log, not log2)", (np.array([0.25, 0.75]),),
             expected=np.float64(LN4 - 0.75 * LN3)),
    ]
    run("row_entropy", fn, cases)


def scaled_dot_product_attention(fn: Callable) -> None:
    """Check scaled_dot_product_attention(q, k, v, mask=None) -> (out, weights) on crafted inputs."""
    # d_k = 4, so the scale is 1/2. With a = ln(3) / 2, the query [1, 1, 1, 1] scores the key
    # [a, a, a, a] at 4a / 2 = ln 3 and a zero key at 0; the zero query scores every key at 0.
    a = LN3 / 2
    one, zero, ka = np.ones(4), np.zeros(4), np.full(4, a)
    q1 = one[None, :]                                   # (1, 4)
    k2 = np.stack([zero, ka])                           # (2, 4)
    v2 = np.array([[4.0, 0.0], [0.0, 4.0]])             # (2, 2)
    q = np.stack([one, zero])                           # (2, 4)
    k = np.stack([zero, ka, zero])                      # (3, 4)
    v = np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])  # (3, 2)
    # exp of the scores [0, ln 3, 0] is [1, 3, 1] -> weights [1/5, 3/5, 1/5]; out = [2, 4]
    w = np.array([[1 / 5, 3 / 5, 1 / 5], [1 / 3, 1 / 3, 1 / 3]])
    out = np.array([[2.0, 4.0], [10 / 3, 10 / 3]])
    # key 1 hidden from query 0: the remaining scores [0, 0] give [1/2, 0, 1/2]; out = [5, 2.5]
    mask = np.array([[True, False, True], [True, True, True]])
    w_m = np.array([[1 / 2, 0.0, 1 / 2], [1 / 3, 1 / 3, 1 / 3]])
    out_m = np.array([[5.0, 2.5], [10 / 3, 10 / 3]])
    swap = [1, 0]
    rng = np.random.default_rng(0)
    qr, kr, vr = rng.standard_normal((2, 3, 5, 8)), rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((2, 3, 7, 4))
    cases = [
        Case("one query, two keys: scaled scores [0, ln 3] -> weights [1/4, 3/4]", (q1, k2, v2),
             expected=(np.array([[1.0, 3.0]]), np.array([[1 / 4, 3 / 4]]))),
        Case("two queries, three keys (T_q != T_k), d_v = 2", (q, k, v), expected=(out, w)),
        Case("mask: query 0 may not attend to key 1 (mask True = may attend)", (q, k, v), {"mask": mask},
             expected=(out_m, w_m)),
        Case("one (T_q, T_k) mask shared by a batch of 2 (broadcasting)", (np.stack([q, q]), np.stack([k, k]),
             np.stack([v, v])), {"mask": mask}, expected=(np.stack([out_m, out_m]), np.stack([w_m, w_m]))),
        Case("batch of 2 (second item has its queries swapped)",
             (np.stack([q, q[swap]]), np.stack([k, k]), np.stack([v, v])),
             expected=(np.stack([out, out[swap]]), np.stack([w, w[swap]]))),
        Case("q with a batch dim (2,), k and v without: leading dims broadcast",
             (np.stack([q, q[swap]]), k, v), expected=(np.stack([out, out[swap]]), np.stack([w, w[swap]]))),
        Case("random q (2, 3, 5, 8), k (2, 3, 7, 8), v (2, 3, 7, 4): shapes and rows summing to 1",
             (qr, kr, vr), prop=attention_output((2, 3, 5, 4), (2, 3, 5, 7))),
    ]
    run("scaled_dot_product_attention", fn, cases)


def _variance_props(d_k: int) -> Callable:
    """Property of score_variance(d_k, ...): about (d_k, 1), and scaled equals unscaled / d_k."""

    def prop(got: object) -> str | None:
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a tuple (var_unscaled, var_scaled), got {type(got).__name__}"
        try:
            raw, scaled = float(got[0]), float(got[1])
        except (TypeError, ValueError):
            return f"expected two numbers, got {got!r}"
        if not abs(raw - d_k) <= 0.1 * d_k:
            return f"variance of q.k should be close to d_k = {d_k} (within 10%), got {raw:.4g}"
        if not abs(scaled - 1.0) <= 0.1:
            return f"variance of q.k / sqrt(d_k) should be close to 1 (within 10%), got {scaled:.4g}"
        if not math.isclose(scaled, raw / d_k, rel_tol=1e-6):
            return (f"dividing the same dot products by sqrt(d_k) divides their variance by d_k exactly: "
                    f"expected {raw / d_k:.6g}, got {scaled:.6g}")
        return None

    return prop


def score_variance(fn: Callable) -> None:
    """Check score_variance(d_k, n, seed) -> (var_unscaled, var_scaled) statistically (10% tolerance)."""
    cases = [Case(f"d_k = {d}, n = 20000, seed = 0", (d, 20_000, 0), prop=_variance_props(d)) for d in (1, 16, 64)]
    run("score_variance", fn, cases, quiet=True)
    try:
        first, second = fn(16, 20_000, 5), fn(16, 20_000, 5)
    except Exception as exc:  # noqa: BLE001 - the learner's error, shown as a message with their line
        raise CheckFailed(f"score_variance, case 'same seed twice': your function raised "
                          f"{type(exc).__name__}: {exc}") from exc
    if compare(tuple(np.asarray(x, dtype=float) for x in first), second) is not None:
        raise CheckFailed("score_variance, case 'same seed twice': the result must depend only on the "
                          f"seed (use np.random.default_rng(seed)), got {first} then {second}")
    print(f"✔ score_variance: all {len(cases) + 1} visible cases passed")


def attention_flops(fn: Callable) -> None:
    """Check attention_flops(T_q, T_k, d_k, d_v) with a multiply-add counted as 2 FLOPs."""
    cases = [
        Case("T_q = T_k = d_k = d_v = 1: one multiply-add per product -> 2 + 2 = 4", (1, 1, 1, 1), expected=4),
        # q @ k^T: 2 * 3 * 4 = 24 multiply-adds; weights @ v: 2 * 3 * 5 = 30 multiply-adds
        Case("T_q = 2, T_k = 3, d_k = 4, d_v = 5 -> 2 * 24 + 2 * 30 = 108", (2, 3, 4, 5), expected=108),
        # a decode step: one query against 1024 cached keys
        Case("T_q = 1, T_k = 1024, d_k = d_v = 64 -> 2 * 65536 * 2 = 262144", (1, 1024, 64, 64),
             expected=262_144),
    ]
    run("attention_flops", fn, cases)


def score_matrix_bytes(fn: Callable) -> None:
    """Check score_matrix_bytes(B, n_head, T_q, T_k, dtype): bytes of a (B, n_head, T_q, T_k) array."""
    cases = [
        Case("B = 1, n_head = 1, 2 x 3 scores in float32 -> 6 * 4 = 24", (1, 1, 2, 3, np.float32), expected=24),
        Case("B = 2, n_head = 4, 8 x 8 scores in float16 -> 512 * 2 = 1024", (2, 4, 8, 8, np.float16),
             expected=1024),
        Case("dtype given as the string 'float64': 1 x 1 x 10 x 20 -> 200 * 8 = 1600", (1, 1, 10, 20, "float64"),
             expected=1600),
    ]
    run("score_matrix_bytes", fn, cases)


def choice(name: str, value: object, letters: str = "abcd") -> None:
    """Check that a multiple-choice answer is one of the letters (the hidden test grades it)."""
    if value is None or value == "":
        raise CheckFailed(f"{name}: no answer yet; set it to one of {', '.join(repr(c) for c in letters)}")
    if not isinstance(value, str) or len(value.strip()) != 1 or value.strip().lower() not in letters:
        raise CheckFailed(f"{name}: expected one of {', '.join(repr(c) for c in letters)}, got {value!r}")
    print(f"✔ {name}: answer {value.strip().lower()!r} recorded (a hidden test grades it)")
