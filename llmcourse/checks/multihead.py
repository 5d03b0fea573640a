"""Visible self-checks for module 02_multihead.

Every expected value below is worked out by hand on a tiny input (the derivation sits in a comment next
to the case), or is a property that any correct answer has. Nothing here computes attention, splits
heads or counts parameters for you.

The hand-worked multi-head cases share one trick: with d_head = 1 the scale 1/sqrt(d_head) is 1, a
feature column f in {0, 1} times a query weight ln 2 gives scores that are 0 or ln 2, and exp turns
those into the small integers 1 and 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._core import Case, CheckFailed, attention_output, run

LN2, LN3 = math.log(2.0), math.log(3.0)
THIRD, FIFTH = [1 / 3, 1 / 3, 1 / 3], [1 / 5, 2 / 5, 2 / 5]


# --- 1. attention warm-up -------------------------------------------------------------------------

def attention(fn: Callable) -> None:
    """Check attention(q, k, v) -> (out, weights) with the 1/sqrt(d_k) scale and leading batch dims."""
    e0, e1, z = np.array([1.0, 0, 0, 0]), np.array([0, 1.0, 0, 0]), np.zeros(4)
    # d_k = 4, scale 1/2: the query 2*e0 scores the key ln3*e0 at 2 * ln 3 / 2 = ln 3 and the zero key at 0
    q1, k1, v1 = (2 * e0)[None], np.stack([z, LN3 * e0]), np.array([[4.0, 0.0], [0.0, 4.0]])
    # query 2*e1 scores keys [ln2*e0, ln2*e1, 0] at [0, ln 2, 0] -> exp [1, 2, 1] -> [1/4, 1/2, 1/4]
    # query 2*e0 scores them at [ln 2, 0, 0] -> [1/2, 1/4, 1/4]
    q2, k2 = np.stack([2 * e1, 2 * e0]), np.stack([LN2 * e0, LN2 * e1, z])
    v2 = np.array([[4.0, 0.0], [0.0, 4.0], [8.0, 8.0]])
    w2 = np.array([[1 / 4, 1 / 2, 1 / 4], [1 / 2, 1 / 4, 1 / 4]])
    out2 = np.array([[3.0, 4.0], [4.0, 3.0]])  # [1 + 0 + 2, 0 + 2 + 2] and [2 + 0 + 2, 0 + 1 + 2]
    swap = [1, 0]
    # scores 40 * 50 / 2 = 1000 and 1000 + ln 3: exp(1000) overflows unless the row maximum is subtracted
    q_big, k_big = (40 * e0)[None], np.stack([50 * e0, (50 + LN3 / 20) * e0])
    rng = np.random.default_rng(0)
    qr, kr, vr = (rng.standard_normal((2, 3, 5, 8)), rng.standard_normal((2, 3, 7, 8)),
                  rng.standard_normal((2, 3, 7, 4)))
    cases = [
        Case("one query, two keys, d_k = 4: scaled scores [0, ln 3] -> weights [1/4, 3/4]", (q1, k1, v1),
             expected=(np.array([[1.0, 3.0]]), np.array([[1 / 4, 3 / 4]]))),
        Case("two queries, three keys (T_q != T_k), d_v = 2", (q2, k2, v2), expected=(out2, w2)),
        Case("4-D input (B=1, n_head=2, T, d): head 1 has its queries swapped",
             (np.stack([q2, q2[swap]])[None], np.stack([k2, k2])[None], np.stack([v2, v2])[None]),
             expected=(np.stack([out2, out2[swap]])[None], np.stack([w2, w2[swap]])[None])),
        Case("large scores [1000, 1000 + ln 3] (exp overflows without the max shift)", (q_big, k_big, v1),
             expected=(np.array([[1.0, 3.0]]), np.array([[1 / 4, 3 / 4]]))),
        Case("random q (2, 3, 5, 8), k (2, 3, 7, 8), v (2, 3, 7, 4): shapes and rows summing to 1",
             (qr, kr, vr), prop=attention_output((2, 3, 5, 4), (2, 3, 5, 7))),
    ]
    run("attention", fn, cases)


# --- 2. split and merge heads ---------------------------------------------------------------------

# x = np.arange(24).reshape(2, 3, 4), so x[b, t, c] = 12 b + 4 t + c. With n_head = 2 (d_head = 2),
# head h of token t holds features 2h, 2h + 1 of that token: split[b, h, t, d] = 12 b + 4 t + 2 h + d.
SPLIT_2_3_4 = np.array([
    [[[0, 1], [4, 5], [8, 9]], [[2, 3], [6, 7], [10, 11]]],
    [[[12, 13], [16, 17], [20, 21]], [[14, 15], [18, 19], [22, 23]]],
])
# x = np.arange(6).reshape(1, 2, 3) with n_head = 3 (d_head = 1): split[0, h, t, 0] = x[0, t, h] = 3 t + h
SPLIT_1_2_3 = np.array([[[[0], [3]], [[1], [4]], [[2], [5]]]])
# x = np.arange(8).reshape(1, 2, 4) with n_head = 2 = T: split[0, h, t, d] = 4 t + 2 h + d
SPLIT_1_2_4 = np.array([[[[0, 1], [4, 5]], [[2, 3], [6, 7]]]])


def split_heads(fn: Callable) -> None:
    """Check split_heads(x, n_head): (B, T, C) -> (B, n_head, T, d_head), head h = features of slice h."""
    cases = [
        Case("x = arange(24).reshape(2, 3, 4), n_head = 2: head h of token t = features 2h, 2h+1 of token t",
             (np.arange(24.0).reshape(2, 3, 4), 2), expected=SPLIT_2_3_4),
        Case("T = n_head = 2 (the shape alone cannot tell a wrong reshape): x = arange(8).reshape(1, 2, 4)",
             (np.arange(8.0).reshape(1, 2, 4), 2), expected=SPLIT_1_2_4),
        Case("n_head = C = 3 (d_head = 1): head h holds feature h of every token", (np.arange(6.0).reshape(1, 2, 3), 3),
             expected=SPLIT_1_2_3),
        Case("n_head = 1: a single head holding everything", (np.arange(6.0).reshape(1, 2, 3), 1),
             expected=np.arange(6.0).reshape(1, 1, 2, 3)),
    ]
    run("split_heads", fn, cases)


def merge_heads(fn: Callable) -> None:
    """Check merge_heads(h): (B, n_head, T, d_head) -> (B, T, n_head * d_head), the inverse of split_heads."""
    cases = [
        Case("the split of arange(24).reshape(2, 3, 4) into 2 heads merges back to it",
             (SPLIT_2_3_4.astype(np.float64),), expected=np.arange(24.0).reshape(2, 3, 4)),
        Case("T = n_head = 2: the split of arange(8).reshape(1, 2, 4) merges back to it",
             (SPLIT_1_2_4.astype(np.float64),), expected=np.arange(8.0).reshape(1, 2, 4)),
        Case("3 heads of width 1 merge back to arange(6).reshape(1, 2, 3)", (SPLIT_1_2_3.astype(np.float64),),
             expected=np.arange(6.0).reshape(1, 2, 3)),
    ]
    run("merge_heads", fn, cases)


def _whole_number(name: str, value: object) -> int:
    """value as an int when it is a whole number, else CheckFailed."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise CheckFailed(f"{name}: no answer yet; set it to a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise CheckFailed(f"{name}: expected a whole number, got {value!r}")
    return int(number)


def _letter(name: str, value: object, letters: str = "abcd") -> str:
    """value as a lower-case letter among `letters`, else CheckFailed."""
    if value is None or value == "":
        raise CheckFailed(f"{name}: no answer yet; set it to one of {', '.join(repr(c) for c in letters)}")
    if not isinstance(value, str) or value.strip().lower() not in letters:
        raise CheckFailed(f"{name}: expected one of {', '.join(repr(c) for c in letters)}, got {value!r}")
    return value.strip().lower()


def heads_question(keys_seen_by_one_head: object, heads_answer: object) -> None:
    """Check that both answers of the heads question are well formed (a hidden test grades them)."""
    n = _whole_number("keys_seen_by_one_head", keys_seen_by_one_head)
    letter = _letter("heads_answer", heads_answer)
    print(f"✔ heads_question: answers {n} and {letter!r} recorded (a hidden test grades them)")


# --- 3. multi-head attention ----------------------------------------------------------------------

def _params(Wq, Wk, Wv, Wo, bq=None, bk=None, bv=None, bo=None) -> dict[str, np.ndarray]:
    """A parameter dict with zero biases where none are given."""
    Wq, Wk, Wv, Wo = (np.asarray(w, dtype=np.float64) for w in (Wq, Wk, Wv, Wo))

    def bias(b, width):
        return np.zeros(width) if b is None else np.asarray(b, dtype=np.float64)

    return {"Wq": Wq, "bq": bias(bq, Wq.shape[1]), "Wk": Wk, "bk": bias(bk, Wk.shape[1]),
            "Wv": Wv, "bv": bias(bv, Wv.shape[1]), "Wo": Wo, "bo": bias(bo, Wo.shape[1])}


# Three tokens with two features: column f0 = [0, 1, 1] and column f1 = [1, 0, 0].
X3 = np.array([[[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]])
# With Wq = ln2 * I, Wk = I, Wv = 15 * I and 2 heads of width 1, head h only sees feature h:
#   head 0: queries ln2 * f0, keys f0. Query 0 (f = 0) scores [0, 0, 0] -> uniform -> value mean 30/3 = 10.
#           Queries 1, 2 score [0, ln 2, ln 2] -> exp [1, 2, 2] -> [1/5, 2/5, 2/5] -> 2/5*15 + 2/5*15 = 12.
#   head 1: queries ln2 * f1, keys f1. Query 0 scores [ln 2, 0, 0] -> [1/2, 1/4, 1/4] -> 15/2 = 7.5.
#           Queries 1, 2 score 0 everywhere -> uniform -> 15/3 = 5.
W_A = np.array([THIRD, FIFTH, FIFTH])                        # head 0 weights
W_B = np.array([[1 / 2, 1 / 4, 1 / 4], THIRD, THIRD])        # head 1 weights
OUT_A = np.array([[10.0, 7.5], [12.0, 5.0], [12.0, 5.0]])


def _mha_random_props(fn: Callable, x: np.ndarray, params: dict, n_head: int) -> Callable:
    """Shapes and rows summing to 1, plus two properties every correct MHA has (asks fn again)."""
    B, T, C = x.shape
    base = attention_output((B, T, C), (B, n_head, T, T))

    def prop(got: object) -> str | None:
        problem = base(got)
        if problem:
            return problem
        out, w = np.asarray(got[0]), np.asarray(got[1])
        perm = np.array([3, 0, 4, 1, 2])[:T] if T == 5 else np.arange(T)[::-1]
        out_p, w_p = fn(x[:, perm].copy(), {k: v.copy() for k, v in params.items()}, n_head)
        if not np.allclose(np.asarray(out_p), out[:, perm], atol=1e-9):
            return ("shuffling the positions of x must shuffle the output rows the same way (attention has no "
                    "notion of order without positional information); it did not")
        if not np.allclose(np.asarray(w_p), w[:, :, perm][:, :, :, perm], atol=1e-9):
            return "shuffling the positions of x must shuffle the rows and columns of every head's weights"
        shifted = {k: v.copy() for k, v in params.items()}
        shifted["bo"] = shifted["bo"] + 1.0
        out_s = np.asarray(fn(x.copy(), shifted, n_head)[0])
        if not np.allclose(out_s, out + 1.0, atol=1e-9):
            return "adding 1 to the output bias bo must add exactly 1 to every output value; it did not"
        return None

    return prop


def multi_head_attention(fn: Callable) -> None:
    """Check multi_head_attention(x, params, n_head) -> (out, weights) on hand-worked 2-head cases."""
    eye, swap = np.eye(2), np.array([[0.0, 1.0], [1.0, 0.0]])
    p_a = _params(LN2 * eye, eye, 15 * eye, eye)
    w_a = np.stack([W_A, W_B])[None]                                   # (1, 2, 3, 3)
    # Wo swaps the two merged features, then bo = [1, -1] is added: [10, 7.5] -> [7.5 + 1, 10 - 1]
    p_b = _params(LN2 * eye, eye, 15 * eye, swap, bo=[1.0, -1.0])
    out_b = np.array([[8.5, 9.0], [6.0, 11.0], [6.0, 11.0]])
    # bq = [ln 2, 0] adds ln 2 to head 0's queries: query 0 -> ln 2, queries 1, 2 -> 2 ln 2.
    # bk = [5, 5] adds q * 5 to a whole row of scores, which the softmax ignores.
    # Head 0 then weighs [1/5, 2/5, 2/5] (query 0) and [1/9, 4/9, 4/9] (queries 1, 2); bv = [3, 0] makes
    # head 0's values [3, 18, 18]: 3/5 + 36/5 + 36/5 = 15 and 3/9 + 72/9 + 72/9 = 49/3. Head 1 is unchanged.
    p_d = _params(LN2 * eye, eye, 15 * eye, eye, bq=[LN2, 0.0], bk=[5.0, 5.0], bv=[3.0, 0.0])
    w_d = np.stack([np.array([FIFTH, [1 / 9, 4 / 9, 4 / 9], [1 / 9, 4 / 9, 4 / 9]]), W_B])[None]
    out_d = np.array([[15.0, 7.5], [49 / 3, 5.0], [49 / 3, 5.0]])
    # width-2 heads (C = 4): feature 0 is f0 and feature 2 is f1, features 1 and 3 are 0. Head 0 owns features
    # 0-1 and head 1 owns features 2-3, so with Wq = sqrt(2) ln2 * I (the sqrt(2) undoes the 1/sqrt(d_head)
    # scale) the heads see what they saw in the first case; the zero features give zero outputs.
    x_c = np.zeros((1, 3, 4))
    x_c[..., 0], x_c[..., 2] = X3[..., 0], X3[..., 1]
    eye4 = np.eye(4)
    p_c = _params(math.sqrt(2.0) * LN2 * eye4, eye4, 15 * eye4, eye4)
    out_c = np.array([[10.0, 0.0, 7.5, 0.0], [12.0, 0.0, 5.0, 0.0], [12.0, 0.0, 5.0, 0.0]])
    perm = [1, 0, 2]
    x_e = np.concatenate([X3, X3[:, perm]])
    out_e = np.stack([OUT_A, OUT_A[perm]])
    w_e = np.concatenate([w_a, w_a[:, :, perm][:, :, :, perm]])
    rng = np.random.default_rng(2)
    x_r = rng.standard_normal((2, 5, 8))
    p_r = _params(*(rng.standard_normal((8, 8)) / np.sqrt(8) for _ in range(4)),
                  *(0.1 * rng.standard_normal(8) for _ in range(4)))
    cases = [
        Case("2 heads of width 1, Wq = ln2*I, Wk = I, Wv = 15*I, Wo = I, no biases", (X3, p_a, 2),
             expected=(OUT_A[None], w_a)),
        Case("as above with Wo swapping the two features and bo = [1, -1]", (X3, p_b, 2),
             expected=(out_b[None], w_a)),
        Case("2 heads of width 2 (C = 4): head 0 owns features 0-1 and head 1 owns features 2-3", (x_c, p_c, 2),
             expected=(out_c[None], w_a)),
        Case("biases: bq = [ln 2, 0], bk = [5, 5] (cancels in the softmax), bv = [3, 0]", (X3, p_d, 2),
             expected=(out_d[None], w_d)),
        Case("batch of 2, the second with tokens 0 and 1 swapped", (x_e, p_a, 2), expected=(out_e, w_e)),
        Case("random x (2, 5, 8), 4 heads: shapes, rows summing to 1, shuffled positions, output bias",
             (x_r, p_r, 4), prop=_mha_random_props(fn, x_r, p_r, 4)),
    ]
    run("multi_head_attention", fn, cases)


# --- 4. grouped-query attention -------------------------------------------------------------------

def _expect_divide_error(label: str, fn: Callable) -> None:
    """fn must raise a ValueError whose message says that n_kv_head must divide n_head."""
    x = np.ones((1, 2, 4))
    params = _params(np.eye(4), np.ones((4, 3)), np.ones((4, 3)), np.eye(4))
    head = f"{label}, case 'n_head = 4, n_kv_head = 3 must raise ValueError'"
    try:
        fn(x, params, 4, 3)
    except NotImplementedError:
        raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` "
                          "with your code)") from None
    except ValueError as exc:
        if "divi" not in str(exc).lower():
            raise CheckFailed(f"{head}: got a ValueError, but its message {str(exc)!r} does not say that "
                              "n_kv_head must divide n_head") from None
        return
    except Exception as exc:
        raise CheckFailed(f"{head}: expected ValueError, got {type(exc).__name__}: {exc}") from None
    raise CheckFailed(f"{head}: expected a ValueError (3 does not divide 4), but nothing was raised")


def grouped_query_attention(fn: Callable) -> None:
    """Check grouped_query_attention(x, params, n_head, n_kv_head) -> (out, weights), contiguous groups."""
    label = "grouped_query_attention"
    eye = np.eye(2)
    # n_kv_head = n_head is plain multi-head attention: the same numbers as multi_head_attention's first case
    p_mha = _params(LN2 * eye, eye, 15 * eye, eye)
    # one shared key/value head: key f0 and value 15 * f0 for both query heads.
    # Query head 1 (queries ln2 * f1 = [ln 2, 0, 0]) against keys f0 = [0, 1, 1]: query 0 -> [1/5, 2/5, 2/5] -> 12,
    # queries 1 and 2 -> uniform -> 10.
    p_mqa = _params(LN2 * eye, [[1.0], [0.0]], [[15.0], [0.0]], eye)
    out_mqa = np.array([[10.0, 12.0], [12.0, 10.0], [12.0, 10.0]])
    w_mqa = np.stack([W_A, np.array([FIFTH, THIRD, THIRD])])[None]
    # 4 query heads of width 1, 2 kv heads. Query head h reads feature h; kv head 0 reads feature 0 and
    # kv head 1 reads feature 1. Columns of x: f0 = f2 = [0, 1, 1] and f1 = f3 = [1, 0, 0].
    # Heads 0, 1 share kv head 0 (key f0, value 15 f0); heads 2, 3 share kv head 1 (key f1, value 15 f1):
    #   head 0: [10, 12, 12]   head 1: [12, 10, 10]   head 2: [5, 7.5, 7.5]   head 3: [7.5, 5, 5]
    x4 = np.array([[[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]]])
    wk = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    p_gqa = _params(LN2 * np.eye(4), wk, 15 * wk, np.eye(4))
    out_gqa = np.array([[10.0, 12.0, 5.0, 7.5], [12.0, 10.0, 7.5, 5.0], [12.0, 10.0, 7.5, 5.0]])
    half = [1 / 2, 1 / 4, 1 / 4]
    w_gqa = np.stack([W_A, np.array([FIFTH, THIRD, THIRD]), np.array([THIRD, half, half]),
                      np.array([half, THIRD, THIRD])])[None]
    rng = np.random.default_rng(3)
    x_r = rng.standard_normal((2, 5, 8))
    p_r = _params(rng.standard_normal((8, 8)) / np.sqrt(8), rng.standard_normal((8, 4)) / np.sqrt(8),
                  rng.standard_normal((8, 4)) / np.sqrt(8), rng.standard_normal((8, 8)) / np.sqrt(8))
    cases = [
        Case("n_kv_head = n_head = 2 is multi-head attention (same numbers as its first case)", (X3, p_mha, 2, 2),
             expected=(OUT_A[None], np.stack([W_A, W_B])[None])),
        Case("n_kv_head = 1 (multi-query): both query heads share key f0 and value 15*f0", (X3, p_mqa, 2, 1),
             expected=(out_mqa[None], w_mqa)),
        Case("n_head = 4, n_kv_head = 2: query heads 0, 1 use kv head 0 and heads 2, 3 use kv head 1",
             (x4, p_gqa, 4, 2), expected=(out_gqa[None], w_gqa)),
        Case("random x (2, 5, 8), n_head = 4, n_kv_head = 2: shapes and rows summing to 1", (x_r, p_r, 4, 2),
             prop=attention_output((2, 5, 8), (2, 4, 5, 5))),
    ]
    run(label, fn, cases, quiet=True)
    _expect_divide_error(label, fn)
    print(f"✔ {label}: all {len(cases) + 1} visible cases passed")


# --- 5. parameter count ---------------------------------------------------------------------------

def attention_param_count(fn: Callable) -> None:
    """Check attention_param_count(C, n_head, n_kv_head=None, bias=True) on hand-counted layers."""
    cases = [
        # Wq, Wk, Wv, Wo are 4 x 4 (64 weights) and each bias has 4 entries (16)
        Case("C = 4, n_head = 2 with biases -> 4 * 16 + 4 * 4 = 80", (4, 2), expected=80),
        Case("C = 4, n_head = 2, bias=False -> 64", (4, 2), {"bias": False}, expected=64),
        # d_head = 2, so Wk and Wv are 4 x 2; bk and bv have 2 entries: 16 + 8 + 8 + 16 + 4 + 2 + 2 + 4
        Case("C = 4, n_head = 2, n_kv_head = 1 -> 48 weights + 12 biases = 60", (4, 2), {"n_kv_head": 1},
             expected=60),
        Case("C = 4096, n_head = 32, bias=False -> 4 * 4096^2 = 67108864", (4096, 32), {"bias": False},
             expected=67_108_864),
        Case("C = 4096, n_head = 8 with biases -> 67108864 + 4 * 4096 = 67125248 (the head count does not matter)",
             (4096, 8), expected=67_125_248),
        # Wk and Wv are 4096 x (8 * 128): 2 * 4096^2 + 2 * 4096 * 1024
        Case("C = 4096, n_head = 32, n_kv_head = 8, bias=False -> 41943040", (4096, 32),
             {"n_kv_head": 8, "bias": False}, expected=41_943_040),
    ]
    run("attention_param_count", fn, cases)


# --- 6. KV cache ----------------------------------------------------------------------------------

def kv_cache_bytes(fn: Callable) -> None:
    """Check kv_cache_bytes(n_layer, C, n_head, n_kv_head, n_tokens=1, B=1, bits=16) on hand-worked sizes."""
    cases = [
        # d_head = 4: one K row and one V row of 4 values, 2 bytes each
        Case("1 layer, C = 8, n_head = 2, n_kv_head = 1, one token, 16 bits -> 2 * 4 * 2 = 16 bytes",
             (1, 8, 2, 1), expected=16),
        Case("as above with n_kv_head = 2 -> 32 bytes", (1, 8, 2, 2), expected=32),
        Case("8 bits per value -> 8 bytes", (1, 8, 2, 1), {"bits": 8}, expected=8),
        Case("4 bits per value, 3 tokens -> 2 * 4 * 0.5 * 3 = 12 bytes", (1, 8, 2, 1), {"bits": 4, "n_tokens": 3},
             expected=12),
        Case("2 layers, 5 tokens, batch B = 3 -> 2 * 2 * 4 * 2 * 5 * 3 = 480 bytes", (2, 8, 2, 1),
             {"n_tokens": 5, "B": 3}, expected=480),
        # 2 (K and V) * 32 layers * 32 heads * 128 * 2 bytes
        Case("32 layers, C = 4096, 32 heads, one token in fp16 -> 524288 bytes (0.5 MiB)", (32, 4096, 32, 32),
             expected=524_288),
        Case("the same model with 8 kv heads, 32768 tokens -> 4 GiB", (32, 4096, 32, 8), {"n_tokens": 32768},
             expected=4 * 2**30),
    ]
    run("kv_cache_bytes", fn, cases)


def cache_questions(kv_head_of_query_13: object, kv_cache_gib_70b: object) -> None:
    """Check that both cache answers are well formed numbers (a hidden test grades them)."""
    head = _whole_number("kv_head_of_query_13", kv_head_of_query_13)
    if isinstance(kv_cache_gib_70b, (bool, np.bool_)) or kv_cache_gib_70b is None:
        raise CheckFailed("kv_cache_gib_70b: no answer yet; set it to a number of GiB")
    try:
        gib = float(kv_cache_gib_70b)
    except (TypeError, ValueError):
        raise CheckFailed(f"kv_cache_gib_70b: expected a number of GiB, got {kv_cache_gib_70b!r}") from None
    if not math.isfinite(gib) or gib <= 0:
        raise CheckFailed(f"kv_cache_gib_70b: expected a positive number of GiB, got {kv_cache_gib_70b!r}")
    print(f"✔ cache_questions: answers {head} and {gib:g} GiB recorded (a hidden test grades them)")


__all__ = ["attention", "split_heads", "merge_heads", "heads_question", "multi_head_attention",
           "grouped_query_attention", "attention_param_count", "kv_cache_bytes", "cache_questions"]
