# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 01 · Attention from scratch
#
# A language model reads a sequence of tokens and, at every position, has to decide which earlier
# tokens matter for what comes next. *Attention* is the operation that does this: each position sends
# out a **query**, compares it with a **key** from every position, turns the comparisons into weights,
# and collects a weighted average of the positions' **values**. Everything else in a Transformer
# (multi-head attention, masks, the KV cache, FlashAttention, quantized attention) is built around this
# one function, so in this module you write it from scratch in NumPy and measure why it looks the way
# it does.
#
# | section | you write | points |
# |---|---|---|
# | 1 | a numerically stable `softmax` | 2 |
# | 2 | `row_entropy`: how peaked is a distribution? | 2 |
# | 3 | `scaled_dot_product_attention` with batch dimensions and a mask | 3 |
# | 4 | `score_variance`: the experiment behind the $1/\sqrt{d_k}$ | 2 |
# | 5 | `attention_flops` and `score_matrix_bytes`: what attention costs | 2 + 1 |
# | 6 | two interview questions | 1 + 1 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code, then run the test cell
# under it. The visible check prints one line when your function passes a few hand-worked cases; when
# it fails it names the case and shows what it expected next to what you returned. The autograder runs
# more tests that you do not see: other shapes and seeds, properties every correct answer has, and the
# popular wrong answers named in the text. Do not edit the test cells.
#
# **Names used in the whole course.** `B` batch size, `T` sequence length (`T_q` queries, `T_k`
# keys), `d_k` width of queries and keys, `d_v` width of values, `q`, `k`, `v` the query, key and value
# arrays, `x` a generic input. Shapes are written like `(B, T_q, d_k)`; `...` stands for any number of
# leading batch dimensions.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("01_attention")

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np

from llmcourse import checks, env, plot, quiz
from llmcourse.data import CharTokenizer, load_corpus

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1 Softmax
#
# Attention turns a row of real-valued scores into weights that are positive and sum to one. The
# function that does it is the softmax:
#
# $$\operatorname{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}.$$
#
# Adding the same constant $c$ to every entry does not change the result: the factor $e^{c}$ appears
# above and below the fraction and cancels. That is the whole trick for computing it safely. `np.exp`
# overflows to `inf` once its argument passes about 709 in float64 (about 88 in float32), and then
# `inf / inf` is `nan`. Subtract the **maximum of each slice along the softmax axis** first: the
# largest exponent becomes $e^0 = 1$, nothing can overflow, and the denominator is at least 1.
#
# Popular wrong answers, each caught by a hidden test:
#
# * **No max shift.** Correct for small logits, `nan` for logits such as `[1000, 1001]`.
# * **One maximum for the whole array** (`x - x.max()`). Mathematically allowed, but if one row sits
#   2000 below another, every exponent of that row underflows to 0 and the row becomes `0 / 0`.
# * **The wrong axis**, or `x.max(axis=axis)` without `keepdims=True`. On a square matrix the
#   second mistake does not even raise: the row maxima silently broadcast along the columns.
# * **Changing the input in place** (`x -= x.max(...)`): the caller's array is overwritten.
#
# A logit of `-inf` stands for "not allowed" (that is how masks will work). Your softmax must give it
# weight exactly 0, as long as its slice has at least one finite entry.

# %% [markdown]
# ### 1.1 Stable softmax (2 points)

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "solution": true, "schema_version": 3}
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax of x along `axis`.

    x: float array of any shape; entries may be -inf as long as every slice along `axis` has at least
    one finite entry. Returns a new float array of the same shape whose slices along `axis` are
    non-negative and sum to 1. Does not modify x and emits no warnings, even for logits like 1000.
    Hint: np.max(..., axis=axis, keepdims=True).
    """
    ### BEGIN SOLUTION
    shifted = x - np.max(x, axis=axis, keepdims=True)  # same shape as x; largest entry 0
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "softmax_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.attention.softmax(softmax)
### BEGIN HIDDEN TESTS
from llmcourse.checks import _core


def _ref_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_rng = np.random.default_rng(2024)
_cases = []
# Standard-normal logits: far from saturation, so a wrong answer cannot hide behind a one-hot output.
for _shape, _axis in [((7,), None), ((4, 6), None), ((4, 6), 0), ((5, 5), 0), ((5, 5), 1),
                      ((3, 4, 5), 1), ((2, 3, 4, 5), -2), ((2, 3, 4, 5), 0)]:
    _x = _rng.standard_normal(_shape)
    _kw = {} if _axis is None else {"axis": _axis}
    _label = "default axis" if _axis is None else f"axis={_axis}"
    _cases.append(_core.Case(f"normal logits {_shape}, {_label}", (_x,), _kw,
                             expected=_ref_softmax(_x, -1 if _axis is None else _axis)))
_x = _rng.standard_normal((4, 6))
_cases.append(_core.Case("logits near +1000 (overflow)", (_x + 1000.0,), expected=_ref_softmax(_x)))
_cases.append(_core.Case("logits near -1000 (underflow to 0 / 0)", (_x - 1000.0,), expected=_ref_softmax(_x)))
_cases.append(_core.Case("logits near +1000, axis=0", (_x + 1000.0,), {"axis": 0}, expected=_ref_softmax(_x, 0)))
_offsets = np.array([[0.0], [-2000.0], [3000.0], [40.0]])  # (4, 1): rows on very different scales
_cases.append(_core.Case("each row shifted by its own constant (max must be per row)", (_x + _offsets,),
                         expected=_ref_softmax(_x)))
_xm = _rng.standard_normal((5, 6))
_xm[_rng.random((5, 6)) < 0.4] = -np.inf
_xm[np.arange(5), _rng.integers(0, 6, size=5)] = _rng.standard_normal(5)  # one finite entry per row at least
_cases.append(_core.Case("-inf entries (masked logits)", (_xm,), expected=_ref_softmax(_xm), atol=1e-12))
_xmc = _xm.T.copy()  # (6, 5): softmax over axis 0 has a finite entry in every column
_cases.append(_core.Case("-inf entries, axis=0", (_xmc,), {"axis": 0}, expected=_ref_softmax(_xmc, 0), atol=1e-12))
_x32 = (_rng.standard_normal((3, 8)) + 500.0).astype(np.float32)
_cases.append(_core.Case("float32 logits near 500", (_x32,), expected=_ref_softmax(_x32), rtol=1e-4, atol=1e-6))
_xs = 3.0 * _rng.standard_normal((6, 9))


def _sums_to_one(got):
    got = np.asarray(got)
    if got.shape != (6, 9) or not np.allclose(got.sum(axis=-1), 1.0) or np.any(got < 0):
        return "rows must be non-negative and sum to 1"
    return None


_cases.append(_core.Case("rows sum to 1", (_xs,), prop=_sums_to_one))
_core.run("softmax (hidden)", softmax, _cases, quiet=True)
### END HIDDEN TESTS

# %% [markdown]
# See the difference on logits that a real model can produce:

# %%
big = np.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):  # silence the naive version's warnings
    naive = np.exp(big) / np.exp(big).sum()
print("naive  softmax:", naive)
print("stable softmax:", softmax(big))

# %% [markdown]
# ## 2 How peaked is a distribution? Entropy
#
# A row of attention weights is a probability distribution over the keys. To talk about whether a row
# is spread out or concentrated on one key we use its **entropy**, measured in *nats* (natural log):
#
# $$H(p) = -\sum_i p_i \log p_i, \qquad 0 \cdot \log 0 := 0.$$
#
# A uniform row over $n$ keys has $H = \log n$, the largest possible value; a one-hot row has $H = 0$.
# The convention $0 \log 0 = 0$ is the limit of $p \log p$ as $p \to 0$, and it matters here because
# masked attention weights are exactly zero.
#
# Popular wrong answers:
#
# * `-(p * np.log(p)).sum(...)`: a single zero gives `0 * -inf = nan`.
# * `np.where(p > 0, p * np.log(p), 0.0)`: the values are right, **but** `np.where` evaluates both
#   branches, so `np.log(0)` still runs and prints a divide-by-zero `RuntimeWarning`, and a numerical
#   warning fails the check (and goes to stderr, which plain nbgrader scores 0). `np.log` takes `where=` and `out=`
#   arguments that skip the zeros without computing them.
# * `np.log2`: that is bits, not nats.
# * Summing over the wrong axis.

# %% [markdown]
# ### 2.1 Entropy of each row (2 points)

# %% nbgrader={"grade": false, "grade_id": "row_entropy", "locked": false, "solution": true, "schema_version": 3}
def row_entropy(weights: np.ndarray, axis: int = -1) -> np.ndarray:
    """Entropy in nats of each distribution along `axis`, with 0 * log 0 taken as 0.

    weights: non-negative floats whose slices along `axis` sum to 1; may contain exact zeros.
    Returns an array with `axis` removed (a NumPy scalar for 1-D input). No NaN, no warnings, and the
    input is left unchanged.
    """
    ### BEGIN SOLUTION
    p = np.asarray(weights, dtype=np.float64)
    log_p = np.log(p, out=np.zeros_like(p), where=p > 0)  # same shape as p; 0 where p == 0
    return -np.sum(p * log_p, axis=axis)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "row_entropy_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.attention.row_entropy(row_entropy)
### BEGIN HIDDEN TESTS
from llmcourse.checks import _core


def _ref_entropy(p, axis=-1):
    p = np.asarray(p, dtype=np.float64)
    terms = np.zeros_like(p)
    nz = p > 0
    terms[nz] = p[nz] * np.log(p[nz])
    return -terms.sum(axis=axis)


def _with_zeros(rng, shape, axis, frac=0.35):
    p = rng.dirichlet(np.ones(shape[axis]), size=int(np.prod(shape)) // shape[axis])  # (m, n)
    p[rng.random(p.shape) < frac] = 0.0
    p[np.arange(p.shape[0]), rng.integers(0, p.shape[1], size=p.shape[0])] += 0.5  # never an all-zero row
    p /= p.sum(axis=1, keepdims=True)
    moved = [s for i, s in enumerate(shape) if i != axis % len(shape)] + [shape[axis]]
    return np.moveaxis(p.reshape(moved), -1, axis)


_rng = np.random.default_rng(77)
_cases = []
for _shape, _axis in [((4, 6), -1), ((5, 5), -1), ((5, 5), 0), ((2, 3, 7), 1), ((3, 4, 2, 5), -1)]:
    _p = _rng.dirichlet(np.ones(_shape[_axis]), size=int(np.prod(_shape)) // _shape[_axis])
    _p = np.moveaxis(_p.reshape([s for i, s in enumerate(_shape) if i != _axis % len(_shape)] + [_shape[_axis]]),
                     -1, _axis)
    _cases.append(_core.Case(f"dense distributions {_shape}, axis={_axis}", (_p,), {"axis": _axis},
                             expected=_ref_entropy(_p, _axis)))
    _pz = _with_zeros(_rng, _shape, _axis)
    _cases.append(_core.Case(f"distributions with exact zeros {_shape}, axis={_axis}", (_pz,), {"axis": _axis},
                             expected=_ref_entropy(_pz, _axis)))
_pz = _with_zeros(_rng, (6, 8), -1)
_cases.append(_core.Case("default axis is the last one", (_pz,), expected=_ref_entropy(_pz)))
_cases.append(_core.Case("one-hot rows have entropy 0", (np.eye(5)[[3, 0, 4, 4]],), expected=np.zeros(4), atol=1e-12))
_cases.append(_core.Case("uniform over 8 keys -> ln 8", (np.full((3, 8), 1 / 8),), expected=np.full(3, math.log(8))))
_p32 = _with_zeros(_rng, (4, 9), -1).astype(np.float32)
_cases.append(_core.Case("float32 input", (_p32,), expected=_ref_entropy(_p32), rtol=1e-5, atol=1e-6))
_pb = _with_zeros(_rng, (20, 16), -1)


def _bounds(got):
    got = np.asarray(got, dtype=np.float64)
    if got.shape != (20,) or np.any(got < -1e-12) or np.any(got > math.log(16) + 1e-9):
        return "entropy over 16 keys must lie between 0 and ln 16"
    return None


_cases.append(_core.Case("0 <= H <= ln n", (_pb,), prop=_bounds))
_core.run("row_entropy (hidden)", row_entropy, _cases, quiet=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 3 Scaled dot-product attention
#
# Given queries $Q$ of shape `(T_q, d_k)`, keys $K$ of shape `(T_k, d_k)` and values $V$ of shape
# `(T_k, d_v)`,
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V.$$
#
# Read it row by row. Query $i$ is compared with every key by a dot product, giving one row of the
# `(T_q, T_k)` **score** matrix. The softmax along that row (over the keys, the last axis) turns scores
# into **weights**. Output row $i$ is the weighted average of the value rows, a vector of width `d_v`.
# Think of a soft dictionary lookup: the query asks, the keys advertise, the values are what gets
# handed over, and instead of returning one entry the lookup blends all of them.
#
# Three practical details:
#
# * **Batch dimensions.** Real inputs have leading dimensions, for example `(B, n_head, T, d_k)`. The
#   `@` operator multiplies the last two axes and broadcasts the rest, so write the key transpose as
#   `np.swapaxes(k, -1, -2)`. `k.T` reverses *all* axes and is only right for 2-D arrays.
# * **The mask.** A boolean `mask` broadcastable to `(..., T_q, T_k)`, `True` where query $i$ may look at
#   key $j$. Disallowed scores are replaced by `-inf` (or a very negative number) **before** the
#   softmax, so they get weight 0 and the remaining weights still sum to 1. `np.where` handles the
#   broadcasting for you. In this module every query row has at least one allowed key; what to do
#   with a row that has none is a topic of module 03.
# * **The scale** is $1/\sqrt{d_k}$, the width of the vectors in the dot product. Section 4 shows why.
#
# Popular wrong answers, each caught by a hidden test:
#
# * no scale, or the wrong one: $1/d_k$, $1/\sqrt{d_v}$ (same value only when $d_v = d_k$), $1/\sqrt{T}$;
# * `q @ k` instead of `q @ k^T`: it raises on most shapes but runs silently when `k` is square;
# * the softmax over axis `-2` (over the queries) instead of `-1` (over the keys);
# * the mask ignored or inverted (`True` must mean *may attend*).

# %% [markdown]
# ### 3.1 Attention with batch dimensions and a mask (3 points)

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "solution": true, "schema_version": 3}
def scaled_dot_product_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                                 mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """softmax(q k^T / sqrt(d_k)) v, with any leading batch dimensions.

    q: (..., T_q, d_k)   k: (..., T_k, d_k)   v: (..., T_k, d_v); the leading dims broadcast.
    mask: None, or a bool array broadcastable to (..., T_q, T_k); True where the query may attend to
        the key. Every query row must have at least one allowed key.
    Returns (out, weights): out (..., T_q, d_v) and weights (..., T_q, T_k), each row of weights
    summing to 1 over the keys. Use your `softmax`; do not modify the inputs.
    """
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # (..., T_q, T_k)
    weights = softmax(scores, axis=-1)  # (..., T_q, T_k)
    out = weights @ v  # (..., T_q, d_v)
    return out, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "scaled_dot_product_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.attention.scaled_dot_product_attention(scaled_dot_product_attention)
### BEGIN HIDDEN TESTS
import warnings

from llmcourse.checks import _core


def _ref_attention(q, k, v, mask=None):
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, w


def _random_mask(rng, shape):
    m = rng.random(shape) < 0.6
    rows = m.reshape(-1, shape[-1])
    rows[np.arange(rows.shape[0]), rng.integers(0, shape[-1], size=rows.shape[0])] = True
    return rows.reshape(shape)


def _call(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = fn(*args, **kwargs)
    caught = [w for w in caught if issubclass(w.category, RuntimeWarning)]  # numerical ones only
    assert not caught, f"{fn.__name__} emitted a warning: {caught[0].message}"
    return got


_rng = np.random.default_rng(31)
_cases = []
# (batch of q, batch of k and v, T_q, T_k, d_k, d_v). Standard-normal inputs: the scaled scores have
# unit spread, far from a one-hot softmax, so scale and axis mistakes change every output.
for _bq, _bkv, _T_q, _T_k, _d_k, _d_v in [((), (), 3, 5, 4, 6),
                                         ((), (), 5, 5, 5, 5),            # square: q @ k runs without error
                                         ((2,), (2,), 4, 7, 16, 9),       # d_v != d_k, T != d_k
                                         ((2, 3), (3,), 5, 6, 8, 3),      # batch dims broadcast
                                         ((4,), (4,), 1, 10, 12, 12)]:    # one query (a decode step)
    _q = _rng.standard_normal((*_bq, _T_q, _d_k))
    _k = _rng.standard_normal((*_bkv, _T_k, _d_k))
    _v = _rng.standard_normal((*_bkv, _T_k, _d_v))
    _cases.append(_core.Case(f"q {_q.shape}, k {_k.shape}, v {_v.shape}", (_q, _k, _v),
                             expected=_ref_attention(_q, _k, _v)))
_q, _k, _v = _rng.standard_normal((2, 6, 8)), _rng.standard_normal((2, 9, 8)), _rng.standard_normal((2, 9, 5))
_m = _random_mask(_rng, (6, 9))
_cases.append(_core.Case("mask (T_q, T_k) broadcast over a batch", (_q, _k, _v), {"mask": _m},
                         expected=_ref_attention(_q, _k, _v, _m)))
_m3 = _random_mask(_rng, (2, 6, 9))
_cases.append(_core.Case("one mask per batch item", (_q, _k, _v), {"mask": _m3},
                         expected=_ref_attention(_q, _k, _v, _m3)))
_ms = _random_mask(_rng, (6, 6))
_cases.append(_core.Case("square mask, T_q = T_k = d_k", (_q[:, :, :6], _k[:, :6, :6], _v[:, :6]), {"mask": _ms},
                         expected=_ref_attention(_q[:, :, :6], _k[:, :6, :6], _v[:, :6], _ms)))
_q32, _k32, _v32 = (a.astype(np.float32) for a in (_q, _k, _v))
_cases.append(_core.Case("float32 inputs with a mask", (_q32, _k32, _v32), {"mask": _m},
                         expected=_ref_attention(_q32, _k32, _v32, _m), rtol=1e-4, atol=1e-5))
# Scores near +-1000 (an overflow test): the last feature of every key is L and that of query i is a_i * L,
# so row i of the scores gets its own offset a_i * L^2 / sqrt(d_k) = 1000 a_i (positive and negative, rows
# far apart) while the spread inside a row stays about 1. Exponentiating without the row max overflows or
# gives 0 / 0; shifting by one max for the whole array underflows the other rows.
_L = math.sqrt(1000.0 * math.sqrt(8))
_q, _k, _v = _rng.standard_normal((2, 5, 8)), _rng.standard_normal((2, 7, 8)), _rng.standard_normal((2, 7, 3))
_q[..., -1] = _L * np.array([1.0, -1.0, 1.2, -0.8, 0.3])
_k[..., -1] = _L
_cases.append(_core.Case("scores near +-1000, each row its own offset (overflow)", (_q, _k, _v),
                         expected=_ref_attention(_q, _k, _v), rtol=1e-7, atol=1e-9))
_m = _random_mask(_rng, (5, 7))
_cases.append(_core.Case("scores near +-1000 with a mask", (_q, _k, _v), {"mask": _m},
                         expected=_ref_attention(_q, _k, _v, _m), rtol=1e-7, atol=1e-9))
_core.run("scaled_dot_product_attention (hidden)", scaled_dot_product_attention, _cases, quiet=True)

# Masked keys get no weight at all, and the weights left sum to 1.
_out, _w = _call(scaled_dot_product_attention, _q, _k, _v, mask=_m)
_w = np.asarray(_w)
assert np.all(np.abs(_w[:, ~_m]) <= 1e-12), "keys where mask is False must get weight 0"
assert np.allclose(_w.sum(axis=-1), 1.0), "each row of weights must sum to 1 over the allowed keys"

# Permuting the keys together with their values leaves the outputs unchanged (attention is a set
# operation over keys), and permuting the queries permutes the outputs the same way.
_q, _k, _v = _rng.standard_normal((3, 5, 6)), _rng.standard_normal((3, 8, 6)), _rng.standard_normal((3, 8, 4))
_out, _w = (np.asarray(a) for a in _call(scaled_dot_product_attention, _q, _k, _v))
_perm = _rng.permutation(8)
_out_p, _w_p = (np.asarray(a) for a in _call(scaled_dot_product_attention, _q, _k[:, _perm], _v[:, _perm]))
assert np.allclose(_out_p, _out), "permuting keys and values together must not change the output"
assert np.allclose(_w_p, _w[..., _perm]), "permuting the keys must permute the columns of the weights"
_perm = _rng.permutation(5)
_out_p, _w_p = (np.asarray(a) for a in _call(scaled_dot_product_attention, _q[:, _perm], _k, _v))
assert np.allclose(_out_p, _out[:, _perm]), "permuting the queries must permute the output rows"
### END HIDDEN TESTS

# %% [markdown]
# A soft dictionary lookup by hand. Three keys point in three directions; a query close to the second
# key fetches (mostly) the second value. Make the query longer, and the lookup gets sharper.

# %%
k_demo = np.eye(3)                         # (T_k=3, d_k=3): three orthogonal keys
v_demo = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])  # (T_k=3, d_v=2)
for length in (1.0, 4.0, 16.0):
    q_demo = length * np.array([[0.1, 1.0, 0.0]])  # (T_q=1, d_k=3), pointing mostly at key 1
    out_demo, w_demo = scaled_dot_product_attention(q_demo, k_demo, v_demo)
    print(f"query length {length:4.0f}: weights {w_demo[0]}  ->  output {out_demo[0]}")

# %% [markdown]
# ### 3.2 Looking at attention maps (ungraded)
#
# An attention map draws the weight matrix: one row per query, one column per key, bright where a
# query looks. Below, three hand-built heads read one line of the course corpus, a *copy* task
# (`copy <word>><word>`), one character per token. Each head's queries and keys are one-hot vectors
# chosen so that a matching key scores 6 at temperature 1:
#
# * **same character** matches by content: every query looks at the positions holding its own character;
# * **previous character** matches by position: query $i$ looks at key $i-1$;
# * **copy source** looks back by the length of the word. Read the line "reads" under the picture:
#   at `>` this head fetches the first letter of the word, exactly the next character the model must
#   write, and so on letter by letter. A trained model learns heads like this one.
#
# Since the values are the one-hot characters, each output row is a distribution over characters: the
# line "reads" shows the character that holds more than half of it, or `·` when the row is too blurred.
#
# Move the **temperature** (it divides every score): near 0 each row becomes one-hot, large values blur
# every row toward uniform. The **causal** box hides future keys (module 03 is about masks). Outside
# JupyterLab the cell draws its default setting once.

# %%
import ipywidgets as widgets

tok = CharTokenizer()
text = next(line for line in load_corpus("train").splitlines() if line.startswith("copy ") and len(line) == 16)
ids = tok.encode(text)                          # (T,)
T = len(ids)
n_word = (T - len("copy >")) // 2               # length of the word to copy
chars = np.eye(tok.vocab_size)[ids]             # (T, vocab_size): one-hot characters
positions = np.eye(T)                           # (T, T): one-hot positions


def looking_back(offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries that match the key `offset` positions earlier; a zero query where there is none."""
    q = np.zeros((T, T))                        # (T, d_k=T)
    q[offset:] = positions[: T - offset]        # row i is the one-hot of position i - offset
    return q, positions


HEADS = {"same character": (chars, chars),
         "previous character": looking_back(1),
         f"copy source ({n_word} back)": looking_back(n_word)}


def show_head(head: str = "same character", temperature: float = 1.0, causal: bool = False) -> None:
    """Draw one hand-built head's attention map on the copy line."""
    q, k = HEADS[head]
    d_k = q.shape[-1]
    q = q * (6.0 * math.sqrt(d_k) / temperature)   # (T, d_k): a matching key scores 6 / temperature
    mask = np.tril(np.ones((T, T), dtype=bool)) if causal else None   # (T, T)
    out, weights = scaled_dot_product_attention(q, k, chars, mask=mask)  # (T, vocab_size), (T, T)
    plot.attention_map(weights, text, title=f"{head}, temperature {temperature:.2g}")
    plt.show()
    best = tok.decode(out.argmax(axis=-1))      # the character each query reads most of
    clear = out.max(axis=-1) > 0.5              # (T,): more than half of one character
    print("query:", text)
    print("reads:", "".join(ch if ok else "·" for ch, ok in zip(best, clear, strict=True)), "  (· = no clear read)")


controls = widgets.interact(show_head, head=list(HEADS),
                            temperature=widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1.5, step=0.05),
                            causal=False)

# %% [markdown]
# Things to try: the copy head at temperature 0.1 and at 10; the same-character head on the spaces
# and on the repeated letters; the previous-character head with and without the causal mask (what does
# the first query, which has no previous character, do?).

# %% [markdown]
# ## 4 Why divide by $\sqrt{d_k}$?
#
# Suppose the entries of $q$ and $k$ are independent with mean 0 and variance 1, which is roughly what
# a well-initialised network produces. Each product $q_i k_i$ then has mean 0 and variance
# $\mathbb{E}[q_i^2]\,\mathbb{E}[k_i^2] = 1$, and the dot product is a sum of $d_k$ independent such
# terms, so
#
# $$\operatorname{Var}(q \cdot k) = d_k, \qquad \operatorname{Var}\!\left(\frac{q \cdot k}{\sqrt{d_k}}\right) = 1.$$
#
# Without the scale, a head with $d_k = 128$ produces scores with a standard deviation of about 11, and
# the softmax of such a row is nearly one-hot. That hurts training: the softmax's derivative is
# $\operatorname{diag}(p) - p p^\top$, which is close to zero when $p$ is one-hot, so almost no gradient
# reaches the queries and keys. With the scale, the scores keep unit spread whatever the width.
#
# You will check the first claim by experiment. Popular wrong answers:
#
# * returning the standard deviation instead of the variance;
# * dividing by $d_k$ instead of $\sqrt{d_k}$ (the variance then falls like $1/d_k$);
# * sampling with `rng.random`, which is uniform on $[0, 1)$: not zero-mean, not unit variance;
# * summing the products over the samples instead of over the $d_k$ features;
# * returning the theory (`d_k, 1.0`) without running the experiment.

# %% [markdown]
# ### 4.1 The variance experiment (2 points)

# %% nbgrader={"grade": false, "grade_id": "score_variance", "locked": false, "solution": true, "schema_version": 3}
def score_variance(d_k: int, n: int = 20_000, seed: int = 0) -> tuple[float, float]:
    """Measure the variance of q . k for random standard-normal q and k of width d_k.

    Draw n independent pairs (q, k), each entry standard normal, from np.random.default_rng(seed).
    Compute the n dot products s = q . k. Return (variance of s, variance of s / sqrt(d_k)) as two
    floats; the same seed must give the same result.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, d_k))   # (n, d_k)
    k = rng.standard_normal((n, d_k))   # (n, d_k)
    s = np.sum(q * k, axis=-1)          # (n,)
    return float(np.var(s)), float(np.var(s / math.sqrt(d_k)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "score_variance_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.attention.score_variance(score_variance)
### BEGIN HIDDEN TESTS
import warnings


def _quiet(*args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = score_variance(*args)
    caught = [w for w in caught if issubclass(w.category, RuntimeWarning)]  # numerical ones only
    assert not caught, f"score_variance emitted a warning: {caught[0].message}"
    assert isinstance(got, (tuple, list)) and len(got) == 2, f"expected (var_unscaled, var_scaled), got {got!r}"
    return float(got[0]), float(got[1])


# Var(q.k) = d_k exactly in theory; with n = 20000 samples the estimate is within 10% by at least
# five standard errors for every d_k (the relative error is about sqrt((2 + 6 / d_k) / n)).
for _d_k, _seed in ((2, 3), (32, 11), (128, 29), (7, 101)):
    _raw, _scaled = _quiet(_d_k, 20_000, _seed)
    assert abs(_raw - _d_k) <= 0.1 * _d_k, f"d_k={_d_k}: variance of q.k should be about {_d_k}, got {_raw:.4g}"
    assert abs(_scaled - 1.0) <= 0.1, f"d_k={_d_k}: variance of the scaled scores should be about 1, got {_scaled:.4g}"
    assert math.isclose(_scaled, _raw / _d_k, rel_tol=1e-6), "the scaled variance must be the unscaled one / d_k"
_a, _b, _c = _quiet(8, 20_000, 1), _quiet(8, 20_000, 2), _quiet(8, 20_000, 1)
assert _a == _c, "the same seed must give the same result"
assert _a[0] != _b[0], "different seeds must give different estimates: run the experiment"
assert _quiet(8, 500, 1)[0] != _a[0], "n must set the number of sampled pairs"
_raw, _scaled = _quiet(16)
assert abs(_raw - 16) <= 1.6 and abs(_scaled - 1.0) <= 0.1, "defaults n=20000, seed=0 should work"
### END HIDDEN TESTS

# %% [markdown]
# Now the experiment across widths, and what the scale does to the softmax. For each $d_k$ we also
# draw 1000 queries against 64 random keys and look at two summaries of each attention row: its largest
# weight (1 means one-hot) and its entropy (the dashed line at $\ln 64$ is a uniform row).

# %%
d_ks = [2**i for i in range(env.size(10, 7))]   # 1 .. 512 (1 .. 64 in the quick test run)
n = env.size(20_000, 4_000)
variances = np.array([score_variance(d_k, n, seed=d_k) for d_k in d_ks])  # (len(d_ks), 2)

rng = np.random.default_rng(0)
T_q, T_k = 1000, 64
max_w = np.zeros((len(d_ks), 2))               # columns: unscaled, scaled
entropy = np.zeros((len(d_ks), 2))
for i, d_k in enumerate(d_ks):
    q = rng.standard_normal((T_q, d_k))        # (T_q, d_k)
    k = rng.standard_normal((T_k, d_k))        # (T_k, d_k)
    scores = q @ k.T                           # (T_q, T_k)
    for j, s in enumerate((scores, scores / math.sqrt(d_k))):
        w = softmax(s)                         # (T_q, T_k)
        max_w[i, j] = w.max(axis=-1).mean()
        entropy[i, j] = row_entropy(w).mean()

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
axes[0].loglog(d_ks, variances[:, 0], "o-", label="q·k")
axes[0].loglog(d_ks, variances[:, 1], "s-", label="q·k / √d_k")
axes[0].loglog(d_ks, d_ks, "k:", label="d_k (theory)")
axes[0].set(xlabel="d_k", ylabel="variance of the score", title="Score variance grows like d_k")
axes[1].semilogx(d_ks, max_w[:, 0], "o-", label="unscaled")
axes[1].semilogx(d_ks, max_w[:, 1], "s-", label="scaled by 1/√d_k")
axes[1].set(xlabel="d_k", ylabel="mean largest weight in a row", ylim=(0, 1.05),
            title="Without the scale, rows turn one-hot")
axes[2].semilogx(d_ks, entropy[:, 0], "o-", label="unscaled")
axes[2].semilogx(d_ks, entropy[:, 1], "s-", label="scaled by 1/√d_k")
axes[2].axhline(math.log(T_k), color="k", ls="--", lw=1, label=f"uniform (ln {T_k})")
axes[2].set(xlabel="d_k", ylabel="mean row entropy (nats)", ylim=(0, None), title="...and lose their entropy")
for ax in axes:
    ax.set_xticks(d_ks[::2], labels=[str(d) for d in d_ks[::2]])
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The gradient side of the story in two lines: the largest entry of the softmax Jacobian
# $\operatorname{diag}(p) - p p^\top$ for a row of moderate scores and for the same row ten times larger.

# %%
for s in (np.array([0.0, 1.0, 2.0]), np.array([0.0, 10.0, 20.0])):
    p = softmax(s)
    jacobian = np.diag(p) - np.outer(p, p)     # (3, 3)
    print(f"scores {s}: weights {p}, largest |d weight / d score| = {np.abs(jacobian).max():.2g}")

# %% [markdown]
# ## 5 What attention costs
#
# **FLOPs.** The two matrix products do almost all the arithmetic. $Q K^\top$ multiplies a
# `(T_q, d_k)` by a `(d_k, T_k)` matrix: $T_q T_k d_k$ multiply-adds. The weights times $V$ multiply a
# `(T_q, T_k)` by a `(T_k, d_v)` matrix: $T_q T_k d_v$ multiply-adds. The usual convention, also used by
# the FLOP/s figures of hardware, counts a multiply-add as **2 FLOPs**. The scale, mask and softmax
# touch each of the $T_q T_k$ scores a few times, which is small next to the products; leave them out.
#
# **Memory.** The weights of one layer form an array of shape `(B, n_head, T_q, T_k)`. Everything else
# in attention grows linearly with the sequence length, this array grows with its square: at
# `T_q = T_k = T`, doubling the context quadruples it.
#
# Popular wrong answers: one FLOP per multiply-add (half the right count), forgetting the second
# product, using $d_k$ for both products; for the memory, assuming 4 bytes whatever the dtype, counting
# elements instead of bytes, forgetting the heads or the batch.

# %% [markdown]
# ### 5.1 Attention FLOPs (2 points)

# %% nbgrader={"grade": false, "grade_id": "attention_flops", "locked": false, "solution": true, "schema_version": 3}
def attention_flops(T_q: int, T_k: int, d_k: int, d_v: int) -> int:
    """FLOPs of q @ k^T and weights @ v for one head and one sequence, a multiply-add counting as 2.

    Leave out the scale, the mask and the softmax. Return an int.
    """
    ### BEGIN SOLUTION
    qk = 2 * T_q * T_k * d_k    # (T_q, d_k) @ (d_k, T_k)
    wv = 2 * T_q * T_k * d_v    # (T_q, T_k) @ (T_k, d_v)
    return qk + wv
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attention_flops_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.attention.attention_flops(attention_flops)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(5)
_sizes = [(3, 7, 16, 9), (7, 3, 9, 16), (1, 4096, 128, 128), (4096, 4096, 64, 64), (32768, 32768, 128, 128)]
_sizes += [tuple(int(s) for s in _rng.integers(1, 3000, size=4)) for _ in range(5)]
for _T_q, _T_k, _d_k, _d_v in _sizes:
    _expected = 2 * _T_q * _T_k * _d_k + 2 * _T_q * _T_k * _d_v
    _got = attention_flops(_T_q, _T_k, _d_k, _d_v)
    assert float(_got).is_integer() and int(_got) == _expected, (
        f"attention_flops({_T_q}, {_T_k}, {_d_k}, {_d_v}) returned {_got!r}")
### END HIDDEN TESTS

# %% [markdown]
# ### 5.2 The score matrix in memory (1 point)

# %% nbgrader={"grade": false, "grade_id": "score_matrix_bytes", "locked": false, "solution": true, "schema_version": 3}
def score_matrix_bytes(B: int, n_head: int, T_q: int, T_k: int, dtype: object) -> int:
    """Bytes of one layer's attention weights, an array of shape (B, n_head, T_q, T_k) of `dtype`.

    dtype: anything np.dtype accepts (np.float16, "float32", ...). Hint: np.dtype(dtype).itemsize.
    Return an int; do not allocate the array.
    """
    ### BEGIN SOLUTION
    return B * n_head * T_q * T_k * np.dtype(dtype).itemsize
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "score_matrix_bytes_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.attention.score_matrix_bytes(score_matrix_bytes)
### BEGIN HIDDEN TESTS
for _args in [(1, 32, 32768, 32768, np.float16), (8, 12, 1, 2048, np.float32), (3, 5, 7, 11, "float64"),
              (2, 2, 64, 64, np.int8), (1, 1, 100, 100, np.dtype("float16")), (4, 16, 512, 300, "float32")]:
    _expected = _args[0] * _args[1] * _args[2] * _args[3] * np.dtype(_args[4]).itemsize
    _got = score_matrix_bytes(*_args)
    assert float(_got).is_integer() and int(_got) == _expected, f"score_matrix_bytes{_args} returned {_got!r}"
### END HIDDEN TESTS

# %% [markdown]
# What these two numbers mean at the sizes of a 7-billion-parameter model (32 heads of width 128,
# model width `C = 4096`, float16). On the left, the memory of one layer's weights for a single sequence; on
# the right, the FLOPs of the attention products for all heads against those of the four projection
# matrices $W_q, W_k, W_v, W_o$ ($2 T C^2$ FLOPs each, linear in $T$).

# %%
n_head, d_head = 32, 128
C = n_head * d_head                            # d_model, the model width
Ts = np.array([2**i for i in range(8, 18)])    # 256 .. 131072 tokens
mem_gib = np.array([score_matrix_bytes(1, n_head, t, t, np.float16) for t in Ts.tolist()]) / 2**30
attn = np.array([n_head * attention_flops(t, t, d_head, d_head) for t in Ts.tolist()], dtype=float)
proj = 4 * 2.0 * Ts * C**2                     # W_q, W_k, W_v, W_o: (T, C) @ (C, C) each

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].loglog(Ts, mem_gib, "o-", label="attention weights, one layer")
axes[0].axhline(80, color="r", ls="--", lw=1, label="80 GiB: a whole large accelerator")
axes[0].set(xlabel="sequence length T", ylabel="GiB", title="The (T, T) weights grow quadratically")
axes[1].loglog(Ts, attn, "o-", label="q k^T and weights v, all heads")
axes[1].loglog(Ts, proj, "s-", label="projections W_q, W_k, W_v, W_o")
axes[1].axvline(2 * C, color="k", ls=":", lw=1, label="T = 2 C")
axes[1].set(xlabel="sequence length T", ylabel="FLOPs per layer", title="Attention FLOPs overtake the projections")
for ax in axes:
    ax.legend()
fig.tight_layout()
plt.show()
t = 32_768
print(f"T = {t}: {score_matrix_bytes(1, n_head, t, t, np.float16) / 2**30:.0f} GiB of weights per layer")

# %% [markdown]
# The projections cost $8 T C^2$ FLOPs and the attention products $4 T^2 C$ (all heads together), so
# the products dominate once $T > 2C$. Long before that, the memory is the
# problem: at 32k tokens a single layer's weights would need 64 GiB. Fused kernels such as
# FlashAttention never store this array; they compute the softmax block by block with the same max
# shift you wrote in section 1.

# %% [markdown]
# ## 6 Interview questions (1 point each)
#
# Answer with one letter in a string, for example `answer_sqrt_dk = "a"`.
#
# **6.1** Why are the scores divided by $\sqrt{d_k}$?
#
# * (a) So that each row of attention weights sums to 1.
# * (b) To make the matrix product cheaper.
# * (c) For unit-variance queries and keys, $q \cdot k$ has variance $d_k$; the scale brings it back to 1,
#   so the softmax does not saturate and its gradients do not vanish as heads get wider.
# * (d) It turns the dot products into cosine similarities.

# %% nbgrader={"grade": false, "grade_id": "answer_sqrt_dk", "locked": false, "solution": true, "schema_version": 3}
# Set answer_sqrt_dk to "a", "b", "c" or "d".
### BEGIN SOLUTION
answer_sqrt_dk = "c"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "answer_sqrt_dk_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.attention.choice("answer_sqrt_dk", answer_sqrt_dk)
### BEGIN HIDDEN TESTS
assert answer_sqrt_dk.strip().lower() == "c", "answer_sqrt_dk: not this one; see section 4"
### END HIDDEN TESTS

# %% [markdown]
# **6.2** One query's scores are all increased by the same constant, 5 (the other rows are unchanged).
# What happens to that query's attention weights?
#
# * (a) Every weight is multiplied by $e^5$, so the row no longer sums to 1.
# * (b) Nothing: the softmax of a row does not change when the same constant is added to all its entries.
# * (c) The row gets sharper: the largest weight grows.
# * (d) The row gets flatter: the weights move toward uniform.

# %% nbgrader={"grade": false, "grade_id": "answer_shift", "locked": false, "solution": true, "schema_version": 3}
# Set answer_shift to "a", "b", "c" or "d".
### BEGIN SOLUTION
answer_shift = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "answer_shift_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.attention.choice("answer_shift", answer_shift)
### BEGIN HIDDEN TESTS
assert answer_shift.strip().lower() == "b", "answer_shift: not this one; see section 1"
### END HIDDEN TESTS

# %% [markdown]
# ## Quiz (self-study, not graded)
#
# Click an answer and *Check* to see why each option is right or wrong.

# %%
quiz.show("01_attention")

# %% [markdown]
# ## Summary
#
# * Attention is a soft lookup: `softmax(q k^T / sqrt(d_k)) v`, the softmax over the keys (last axis),
#   with any leading batch dimensions handled by broadcasting `@` and `np.swapaxes(k, -1, -2)`.
# * A stable softmax subtracts the per-slice maximum; a mask sets disallowed scores to `-inf` before it.
# * For unit-variance queries and keys the raw scores have variance $d_k$; dividing by $\sqrt{d_k}$ keeps
#   the softmax away from one-hot rows, whose gradients vanish. Entropy measures how peaked a row is.
# * The two products cost $2 T_q T_k (d_k + d_v)$ FLOPs, and the weights take
#   $B \cdot n_{head} \cdot T_q \cdot T_k$ elements: quadratic in the context length.
#
# ## Going further
#
# * **Module 02** splits the model width into several heads, each attending in its own subspace, and
#   shares keys and values between heads (grouped- and multi-query attention) to shrink the KV cache.
# * **Module 03** builds the causal and padding masks, and deals with rows in which every key is masked.
# * **Modules 05 and 06** cache the keys and values during generation (a decode step is the
#   `T_q = 1` case above) and turn the FLOP and byte counts of this module into predicted run times.
# * To read: the online softmax used by FlashAttention, which rescales partial sums whenever a new block
#   raises the running maximum, the same max shift as in section 1.
