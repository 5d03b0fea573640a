# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Low rank: SVD, randomized and iterative factorisation, kernel attention, LoRA
#
# A weight matrix `W` of shape `(m, n)` costs `m·n` numbers to store and `2·m·n` FLOPs per token to
# apply. If it is close to a product `A @ B` with `A` of shape `(m, r)` and `B` of shape `(r, n)`, the
# product costs `r·(m + n)` numbers and `2·r·(m + n)` FLOPs: fewer whenever `r` is well below
# `m·n / (m + n)`. This module asks four interview questions about that idea and answers each in code:
#
# * **How good can a rank-r approximation be?** The truncated SVD is the best one (Eckart–Young), and
#   its error is read off the singular values.
# * **How do you get it without a full SVD?** Random projections (randomized SVD), power iteration with
#   deflation, and alternating least squares.
# * **What should "good" mean for a layer of a network?** Not the error in the weights but in the
#   layer's outputs on real inputs: activation-aware factorisation, measured on the course GPT.
# * **Where else does low rank pay?** In attention (a low-rank kernel approximation gives a linear-time
#   causal form) and in fine-tuning (LoRA trains a low-rank update to frozen weights).
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `truncated_svd`: the rank-r factors A, B | 2 |
# | 1.2 | `eckart_young_error`: the error from the dropped singular values | 1 |
# | 1.3 | `energy_rank`: the smallest rank keeping a fraction of the energy | 2 |
# | 1.4 | `break_even_rank`: the largest rank that still saves parameters | 1 |
# | 2.1 | `randomized_svd`: range finder with oversampling and power iterations | 3 |
# | 3.1 | `power_svd`: power iteration with deflation | 3 |
# | 3.2 | `als_factorize`: alternating (ridge) least squares | 2 |
# | 4.1 | `activation_aware_svd`: factorise with calibration scales, then undo them | 3 |
# | 6.1 | `positive_random_features`: features whose dot product estimates exp(q·k) | 2 |
# | 6.2 | `causal_linear_attention`: running sums, linear in T | 3 |
# | 7.1 | `LoRALinear`: a frozen linear layer plus a scaled low-rank update | 3 |
# | 7.2 | `merge_lora`: fold the update into the weight for inference | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell
# under it. The visible check prints one line when your function passes a few hand-worked cases. The
# grader also runs hidden tests with other shapes, seeds and extreme values, and the popular wrong
# answers named in the text.
#
# **Names.** `W` a matrix `(m, n)`, `U, S, Vt` the thin SVD `W = U @ diag(S) @ Vt` with `U` `(m, k)`,
# `S` `(k,)` descending, `Vt` `(k, n)` and `k = min(m, n)`; `r` the rank kept; `A` `(m, r)` and `B`
# `(r, n)` the factors. Weights of the course GPT are stored `(in_features, out_features) = (K, N)` and
# used as `y = x @ W`. In attention, `T` tokens, `d` the head dimension, `m` random features.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("10_low_rank")

# %%
# %matplotlib inline
import math
import random
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from llmcourse import bench, checks, env, quiz
from llmcourse.data import TASKS, CharTokenizer, load_corpus, task_examples
from llmcourse.model import from_numpy, load_numpy, perplexity, task_accuracies

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # the tiny GPT is faster on one thread here, and it keeps torch's pool out of timings
config, params = load_numpy()
print(config)

# %% [markdown]
# ## 1. The truncated SVD and what it costs
#
# Every real matrix has a singular value decomposition `W = U @ diag(S) @ Vt`: the columns of `U` and
# the rows of `Vt` are orthonormal, and `S` holds the singular values in descending order. Keeping the
# first `r` of each gives the rank-r matrix `U[:, :r] @ diag(S[:r]) @ Vt[:r]`, and the
# **Eckart–Young theorem** says no rank-r matrix is closer to `W` in the Frobenius norm (or the spectral
# norm). Its Frobenius error is the root of the sum of the squares of the singular values it drops.
#
# Two slicing traps: `np.linalg.svd` returns `Vt` (the transpose of `V`), so the right singular
# vectors are its **rows** `Vt[:r]`, not its columns `Vt[:, :r]`; and `S` is sorted largest first, so
# the rank-r part is the **first** `r` entries. `S[-r:]` keeps the `r` least important directions.

# %% [markdown]
# ### 1.1 Truncated SVD factors (2 points)
#
# Write `truncated_svd(W, r)` returning `(A, B)` with `A @ B` the best rank-r approximation of `W`. Put
# the singular values into `A`: `A = U[:, :r] * S[:r]` (each column scaled), `B = Vt[:r]`. Use
# `np.linalg.svd(W, full_matrices=False)`. Raise `ValueError` unless `1 <= r <= min(m, n)`. (Any
# split with the same product is accepted, e.g. `sqrt(S)` on each side; the product is what is
# tested.)

# %% nbgrader={"grade": false, "grade_id": "truncated_svd", "locked": false, "solution": true, "schema_version": 3}
def truncated_svd(W: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """W (m, n) -> A (m, r), B (r, n) with A @ B the best rank-r approximation of W."""
    ### BEGIN SOLUTION
    m, n = W.shape
    if not 1 <= r <= min(m, n):
        raise ValueError(f"rank r={r} must be between 1 and min(m, n)={min(m, n)}")
    U, S, Vt = np.linalg.svd(W, full_matrices=False)  # U (m, k), S (k,), Vt (k, n)
    return U[:, :r] * S[:r], Vt[:r]  # (m, r) columns scaled by S, (r, n) rows of Vt
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "truncated_svd_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.low_rank.truncated_svd(truncated_svd)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_trunc(W, r):
    U, S, Vt = np.linalg.svd(W.astype(np.float64), full_matrices=False)
    return (U[:, :r] * S[:r]) @ Vt[:r]


def _planted(rng, m, n, s):
    """A matrix with exactly the singular values s (len(s) <= min(m, n)), random singular vectors."""
    u, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return (u * np.asarray(s, dtype=np.float64)) @ v.T


_rng = np.random.default_rng(1001)
for _m, _n, _r, _scale in ((9, 14, 3, 1.0), (31, 7, 5, 1.0), (12, 12, 4, 1e150), (12, 12, 4, 1e-150),
                           (6, 5, 5, 1.0), (40, 33, 1, 1.0)):
    _s = np.geomspace(10, 0.1, min(_m, _n)) * _scale
    _W = _planted(_rng, _m, _n, _s) * np.where(_rng.random((_m, 1)) < 0.3, -1, 1)  # some rows negated
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _A, _B = truncated_svd(_W.copy(), _r)
    assert np.shape(_A) == (_m, _r) and np.shape(_B) == (_r, _n), f"shapes {np.shape(_A)} {np.shape(_B)} for r={_r}"
    _P, _ref = np.asarray(_A) @ np.asarray(_B), _ref_trunc(_W, _r)
    assert np.all(np.isfinite(_P)), f"non-finite product at scale {_scale}"
    assert np.allclose(_P, _ref, rtol=1e-8, atol=1e-9 * _s[0]), (
        f"A @ B is not the best rank-{_r} approximation for shape {(_m, _n)} at scale {_scale} "
        "(rows vs columns of Vt? the first r singular values?)")
    _err = np.linalg.norm((_W - _P) / _scale)
    assert np.isclose(_err, np.sqrt(np.sum((_s[_r:] / _scale) ** 2)), rtol=1e-7, atol=1e-12), "Eckart-Young error"
# rank-deficient and all-zero matrices, a tie inside the kept part, and all-zero rows
_W = _planted(_rng, 10, 8, [5.0, 5.0, 2.0])  # rank 3, sigma_1 = sigma_2
for _r in (2, 3, 5):
    _A, _B = truncated_svd(_W, _r)
    assert np.allclose(np.asarray(_A) @ np.asarray(_B), _W if _r >= 3 else _ref_trunc(_W, _r), atol=1e-10), f"r={_r}"
_Z = np.zeros((4, 6))
_A, _B = truncated_svd(_Z, 2)
assert np.array_equal(np.asarray(_A) @ np.asarray(_B), _Z), "the zero matrix must factor to zero"
_W = _rng.standard_normal((7, 5))
_W[[1, 4]] = 0.0
_A, _B = truncated_svd(_W, 5)
assert np.allclose(np.asarray(_A) @ np.asarray(_B), _W, atol=1e-12), "full rank must reproduce W (zero rows too)"
for _bad in (0, 6, -1):
    try:
        truncated_svd(_W, _bad)
        raise AssertionError(f"r={_bad} must raise ValueError for a (7, 5) matrix")
    except ValueError:
        pass
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 The Eckart–Young error (1 point)
#
# Write `eckart_young_error(s, r)`: the Frobenius error of the best rank-r approximation of a matrix
# whose singular values are `s` (descending), i.e. `sqrt(sum(s[r:]**2))`, as a Python float; `r = 0`
# gives the norm of the whole matrix and `r = len(s)` gives 0. It must work for singular values as
# large as `1e200` and as small as `1e-200`, where squaring overflows to `inf` or underflows to `0`:
# divide by the largest value first and multiply back at the end (LAPACK's `dlassq`/`dnrm2` avoid the
# same overflow with a running scale). `math.hypot(*values)` is a correct alternative.

# %% nbgrader={"grade": false, "grade_id": "eckart_young_error", "locked": false, "solution": true, "schema_version": 3}
def eckart_young_error(s: np.ndarray, r: int) -> float:
    """Frobenius error sqrt(sum(s[r:]**2)) of the best rank-r approximation; s (k,) descending, 0 <= r <= k."""
    ### BEGIN SOLUTION
    tail = np.abs(np.asarray(s, dtype=np.float64)[r:])  # (k - r,) the dropped singular values
    if tail.size == 0 or tail.max() == 0:
        return 0.0
    big = tail.max()
    return float(big * np.sqrt(np.sum((tail / big) ** 2)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "eckart_young_error_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.low_rank.eckart_young_error(eckart_young_error)
### BEGIN HIDDEN TESTS
import warnings as _warnings

_rng = np.random.default_rng(1002)
for _k in (1, 7, 30):
    _s = np.sort(_rng.uniform(0, 5, _k))[::-1]
    for _r in range(_k + 1):
        _got = eckart_young_error(_s.copy(), _r)
        assert np.ndim(_got) == 0, "return one number"
        assert np.isclose(float(_got), math.sqrt(float(np.sum(_s[_r:] ** 2))), rtol=1e-12, atol=0), (
            f"k={_k}, r={_r}: {float(_got)} (the dropped values are s[r:], squared, summed, then the root)")
_W = _rng.standard_normal((11, 6))
_s = np.linalg.svd(_W, compute_uv=False)
_U, _S, _Vt = np.linalg.svd(_W, full_matrices=False)
assert np.isclose(eckart_young_error(_s, 2), np.linalg.norm(_W - (_U[:, :2] * _S[:2]) @ _Vt[:2]), rtol=1e-10)
with _warnings.catch_warnings():
    _warnings.simplefilter("error")
    for _f in (1e200, 1e-200, 1e-300):
        _got = float(eckart_young_error(np.array([12.0, 4.0, 3.0]) * _f, 1))
        assert np.isclose(_got, 5.0 * _f, rtol=1e-12), f"singular values near {_f}: got {_got} (squares overflow/underflow?)"
    assert float(eckart_young_error(np.zeros(4), 0)) == 0.0, "all-zero singular values"
    assert float(eckart_young_error(np.array([2.0, 1.0]), 2)) == 0.0, "r = len(s) drops nothing"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.3 How much rank does a given energy need? (2 points)
#
# The **energy** of a matrix is the sum of its squared singular values (its squared Frobenius norm).
# Write `energy_rank(s, frac)`: the smallest `r` such that the first `r` singular values hold at least
# the fraction `frac` of the energy, i.e. `sum(s[:r]**2) >= frac * sum(s**2)`; `0 < frac <= 1`. The
# details that make the answer unique:
#
# * compare with `>=`: a fraction reached exactly counts as reached;
# * compute the cumulative sums once, `c = np.cumsum((s / s.max())**2)` (the division keeps
#   `1e200` from overflowing), and take the total as `c[-1]`, so that `frac = 1` returns the index of the
#   last non-zero singular value, not a rounding accident;
# * all-zero `s` returns `0` (no rank is needed to represent the zero matrix).
#
# Return a Python int. Traps: counting from the wrong end (ascending order), returning the index
# `argmax` gives instead of a count (off by one), using `s` instead of `s**2`.

# %% nbgrader={"grade": false, "grade_id": "energy_rank", "locked": false, "solution": true, "schema_version": 3}
def energy_rank(s: np.ndarray, frac: float) -> int:
    """Smallest r with sum(s[:r]**2) >= frac * sum(s**2), s (k,) descending; 0 for all-zero s."""
    ### BEGIN SOLUTION
    s = np.abs(np.asarray(s, dtype=np.float64))
    if s.size == 0 or s.max() == 0:
        return 0
    c = np.cumsum((s / s.max()) ** 2)  # (k,) energy of the first 1, 2, ..., k values
    return int(np.searchsorted(c, frac * c[-1], side="left") + 1)  # first index with c >= frac * total
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "energy_rank_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.low_rank.energy_rank(energy_rank)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_energy(s, frac):
    s = np.asarray(s, dtype=np.float64)
    if s.max() == 0:
        return 0
    c = np.cumsum((s / s.max()) ** 2)
    return int(np.argmax(c >= frac * c[-1]) + 1)


_rng = np.random.default_rng(1003)
for _k in (1, 5, 40):
    _s = np.sort(_rng.exponential(1.0, _k))[::-1]
    for _frac in (0.01, 0.5, 0.9, 0.99, 1.0):
        _got = energy_rank(_s.copy(), _frac)
        assert isinstance(_got, (int, np.integer)), f"return an int, got {type(_got).__name__}"
        assert _got == _ref_energy(_s, _frac), f"k={_k}, frac={_frac}: got {_got}, expected {_ref_energy(_s, _frac)}"
with _warnings.catch_warnings():
    _warnings.simplefilter("error")
    # exact ties: four equal values, half the energy is reached exactly at r = 2
    assert energy_rank(np.ones(4), 0.5) == 2, "a fraction reached exactly counts (>=), got a different rank"
    assert energy_rank(np.ones(4), 0.75) == 3 and energy_rank(np.ones(4), 1.0) == 4
    # rank-deficient spectra: trailing exact zeros are never needed
    assert energy_rank(np.array([3.0, 1.0, 0.0, 0.0]), 1.0) == 2, "frac = 1 stops at the last non-zero value"
    assert energy_rank(np.zeros(5), 0.9) == 0, "all-zero singular values need rank 0"
    for _f in (1e200, 1e-200):
        _s = np.array([4.0, 2.0, 1.0, 1.0]) * _f  # energies 16, 4, 1, 1 of 22
        assert energy_rank(_s, 0.9) == 2 and energy_rank(_s, 0.95) == 3, f"scale {_f}: overflow or underflow?"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.4 The break-even rank (1 point)
#
# The factors of a rank-r approximation of an `(m, n)` matrix hold `r·(m + n)` numbers, against `m·n`
# for the dense matrix; the FLOPs per token are `2·r·(m + n)` against `2·m·n`. Write
# `break_even_rank(m, n)`: the **largest** integer `r` for which the factors are strictly smaller,
# `r·(m + n) < m·n` (0 when none is). Work in Python integers: sizes may be large (`2**31`), where
# float division rounds and `m * n // (m + n)` is one too many whenever `m + n` divides `m·n` exactly.

# %% nbgrader={"grade": false, "grade_id": "break_even_rank", "locked": false, "solution": true, "schema_version": 3}
def break_even_rank(m: int, n: int) -> int:
    """Largest integer r >= 0 with r * (m + n) < m * n."""
    ### BEGIN SOLUTION
    m, n = int(m), int(n)
    return (m * n - 1) // (m + n)  # r < mn / (m + n)  <=>  r <= (mn - 1) // (m + n) for integers
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "break_even_rank_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.low_rank.break_even_rank(break_even_rank)
### BEGIN HIDDEN TESTS
def _ref_break(m, n):
    r = 0
    while (r + 1) * (m + n) < m * n:
        r += 1
    return r


for _m in (1, 2, 3, 6, 7, 12, 100, 128):
    for _n in (1, 3, 6, 12, 384, 512):
        _got = break_even_rank(_m, _n)
        assert isinstance(_got, (int, np.integer)), f"return an int, got {type(_got).__name__}"
        assert int(_got) == _ref_break(_m, _n), f"({_m}, {_n}): got {_got}, expected {_ref_break(_m, _n)}"
for _m, _n in ((2**31, 2**31), (4096, 4096), (11008, 4096), (3 * 2**30, 3 * 2**30 * 2)):
    _want = (_m * _n - 1) // (_m + _n)
    assert int(break_even_rank(_m, _n)) == _want, f"({_m}, {_n}): got {break_even_rank(_m, _n)}, expected {_want}"
    assert _want * (_m + _n) < _m * _n <= (_want + 1) * (_m + _n)
### END HIDDEN TESTS

# %% [markdown]
# ### The spectra of the course GPT's weights
#
# How low-rank are real weights? The cell plots the normalised singular values of every linear layer of
# the course GPT and prints, for each kind of layer, the rank that keeps 90 %<!--const: a fraction the cell chooses--> and 99 %<!--const: a fraction the cell chooses--> of the energy
# next to its break-even rank. The numbers are computed here, from the checkpoint.

# %%
LINEAR = [k for k in params if k.endswith(("attn.w_qkv", "attn.w_out", "mlp.w_in", "mlp.w_out"))]
fig, ax = plt.subplots(figsize=(7, 3.5))
for name in LINEAR:
    s = np.linalg.svd(params[name], compute_uv=False)
    ax.semilogy(s / s[0], lw=1, label=name if name.startswith("blocks.0") else None)
ax.set_xlabel("index i")
ax.set_ylabel("s_i / s_0")
ax.set_title("singular values of the course GPT's linear layers (block 0 labelled)")
ax.legend(fontsize=7)
plt.show()
print(f"{'layer':<22}{'shape':>12}{'r(90%)':>8}{'r(99%)':>8}{'break-even':>12}")
ranks_at_90 = []
for name in LINEAR:
    s = np.linalg.svd(params[name], compute_uv=False)
    K, N = params[name].shape
    ranks_at_90.append(energy_rank(s, 0.9))
    print(f"{name:<22}{str((K, N)):>12}{energy_rank(s, 0.9):>8}{energy_rank(s, 0.99):>8}{break_even_rank(K, N):>12}")

# %% [markdown]
# ## 2. Randomized SVD
#
# A full SVD of an `(m, n)` matrix costs `O(m·n·min(m, n))` FLOPs, even when only the top `r` singular
# triplets are wanted. Halko, Martinsson and Tropp (2011) find them from a few matrix products:
#
# 1. **Range finder.** Multiply `W` by a random Gaussian matrix `Omega` `(n, l)` with `l = r + p`
#    columns (`p` extra columns, the **oversampling**, typically 5–10). The columns of `W @ Omega` are
#    random mixtures of `W`'s columns and so span, nearly, its dominant column space. Orthonormalise
#    them: `Q, _ = np.linalg.qr(W @ Omega)`, `Q` `(m, l)`.
# 2. **Power iterations.** When the singular values decay slowly, the mixtures still carry a lot of the
#    tail. Multiplying by `W @ W.T` again raises each singular value to a higher power and sharpens the
#    separation. In floating point the columns all turn toward the top singular vector after a few
#    products, and the smaller directions drown in rounding: **re-orthonormalise after every product**,
#    `Q = qr(W.T @ Q)`, then `Q = qr(W @ Q)`.
# 3. **Small SVD.** `Bm = Q.T @ W` is only `(l, n)`; its SVD `Ub, S, Vt` gives `U = Q @ Ub`. Keep the
#    first `r`.
#
# ### 2.1 Randomized SVD (3 points)
#
# Write `randomized_svd(W, r, oversample=10, n_power=2, seed=0)` returning `(U, S, Vt)` of shapes
# `(m, r)`, `(r,)`, `(r, n)`, `S` descending. Draw `Omega = np.random.default_rng(seed).standard_normal((n, l))`
# with `l = min(r + oversample, m, n)`. Traps the tests catch: skipping the re-orthonormalisation in the
# power iterations (on a matrix with a large gap at the top, the directions after the first are lost),
# returning `Q` instead of `Q @ Ub`, and returning `l` columns instead of `r`.

# %% nbgrader={"grade": false, "grade_id": "randomized_svd", "locked": false, "solution": true, "schema_version": 3}
def randomized_svd(W: np.ndarray, r: int, oversample: int = 10, n_power: int = 2,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approximate top-r SVD of W (m, n): U (m, r), S (r,) descending, Vt (r, n) (Halko et al., 2011)."""
    ### BEGIN SOLUTION
    m, n = W.shape
    l = min(r + oversample, m, n)
    omega = np.random.default_rng(seed).standard_normal((n, l))  # (n, l)
    Q, _ = np.linalg.qr(W @ omega)  # (m, l) orthonormal basis of the sampled range
    for _ in range(n_power):
        Z, _ = np.linalg.qr(W.T @ Q)  # (n, l) re-orthonormalised before the next product
        Q, _ = np.linalg.qr(W @ Z)  # (m, l)
    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)  # (l, l), (l,), (l, n)
    return (Q @ Ub)[:, :r], S[:r], Vt[:r]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "randomized_svd_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.low_rank.randomized_svd(randomized_svd)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _planted(rng, m, n, s):
    u, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return (u * np.asarray(s, dtype=np.float64)) @ v.T


def _check_rsvd(W, r, bound, **kw):
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        U, S, Vt = (np.asarray(a, dtype=np.float64) for a in randomized_svd(W.copy(), r, **kw))
    m, n = W.shape
    assert U.shape == (m, r) and S.shape == (r,) and Vt.shape == (r, n), f"shapes {U.shape} {S.shape} {Vt.shape}"
    s_true = np.linalg.svd(W, compute_uv=False)
    assert np.all(np.diff(S) <= 1e-12 * max(s_true[0], 1e-300)) and np.all(S >= 0), "S must be descending, >= 0"
    assert np.all(S <= s_true[:r] * (1 + 1e-9) + 1e-300), "S cannot exceed the true singular values"
    if s_true[0] > 0:
        assert np.allclose(U.T @ U, np.eye(r), atol=1e-8), "U's columns must be orthonormal"
        assert np.allclose(Vt @ Vt.T, np.eye(r), atol=1e-8), "Vt's rows must be orthonormal"
    err = np.linalg.norm(W - (U * S) @ Vt)
    opt = np.sqrt(np.sum(s_true[r:] ** 2))
    assert err <= bound * opt + 1e-9 * s_true[0] + 1e-300, (
        f"error {err:.4g} is {err / max(opt, 1e-300):.4g}x the optimal rank-{r} error {opt:.4g} "
        f"(re-orthonormalise in every power iteration? U = Q @ Ub?)")


_rng = np.random.default_rng(1004)
# slowly decaying spectrum: power iterations bring the error near the optimum
_check_rsvd(_planted(_rng, 150, 90, 1 / np.arange(1, 91) ** 0.7), 10, 1.05, n_power=3, seed=3)
# a huge gap at the top: without re-orthonormalisation the directions after the first are lost
_s = np.r_[1e6, np.linspace(1.0, 0.01, 79)]
_check_rsvd(_planted(_rng, 120, 80, _s), 10, 1.02, n_power=4, seed=1)
_check_rsvd(_planted(_rng, 120, 80, _s) * 1e-150, 10, 1.02, n_power=4, seed=2)
_check_rsvd(_planted(_rng, 80, 120, _s[:80] * 1e150), 10, 1.02, n_power=4, seed=2)
# ragged: r + oversample larger than the matrix; exactly low rank; a tie; negative entries
_check_rsvd(_rng.standard_normal((13, 9)), 6, 1.0 + 1e-9, oversample=10)
_W = _planted(_rng, 30, 20, [3.0, 3.0, 1.0])  # rank 3 with a tie at the top
_check_rsvd(_W, 3, 1.0, n_power=1)
_U, _S, _Vt = randomized_svd(_W, 2, n_power=2)
assert np.allclose(np.asarray(_S), [3.0, 3.0], rtol=1e-9), f"a tied top pair: {np.asarray(_S)}"
_check_rsvd(np.zeros((8, 6)), 2, 1.0)
_check_rsvd(-np.abs(_rng.standard_normal((25, 40))), 4, 1.2, n_power=2)
### END HIDDEN TESTS

# %% [markdown]
# ### Error and time against `np.linalg.svd`
#
# A `(n, n)` matrix with a spectrum like a trained layer's (a few large values, then a slow power-law
# tail), rank 64. The table prints the error against the optimal rank-64 error for 0 to 3 power
# iterations, and the time against NumPy's full SVD, measured round-robin in the same run (medians of
# per-round ratios; both use the same BLAS threads).

# %%
n_big = env.size(1024, 192)
r_big = env.size(64, 16)
rng = np.random.default_rng(0)
s_demo = np.r_[np.geomspace(40, 5, 8), 4.0 / np.arange(1, n_big - 7) ** 0.6]  # a few large, then a power-law tail
u_demo, _ = np.linalg.qr(rng.standard_normal((n_big, n_big)))
v_demo, _ = np.linalg.qr(rng.standard_normal((n_big, n_big)))
W_demo = ((u_demo * s_demo) @ v_demo.T).astype(np.float32)  # (n, n)
u_demo = v_demo = None
opt_err = eckart_young_error(np.linalg.svd(W_demo.astype(np.float64), compute_uv=False), r_big)
for q in range(4):
    U_, S_, Vt_ = randomized_svd(W_demo, r_big, n_power=q)
    print(f"n_power={q}: error / optimal rank-{r_big} error = {np.linalg.norm(W_demo - (U_ * S_) @ Vt_) / opt_err:.4f}")
cmp = bench.compare({"np.linalg.svd (full)": lambda: np.linalg.svd(W_demo, full_matrices=False),
                     "randomized_svd, n_power=2": lambda: randomized_svd(W_demo, r_big, n_power=2)},
                    rounds=env.size(5, 2), warmup=1)
print(cmp.table())

# %% [markdown]
# ## 3. Iterative methods: power iteration and alternating least squares
#
# ### 3.1 Power iteration with deflation (3 points)
#
# The top singular triplet `(u, s, v)` of `W` is the fixed point of `u = W v / |W v|`,
# `v = W.T u / |W.T u|`: each round multiplies the start vector's component along the top right
# singular vector by `s_1²` and the others by smaller `s_i²`, so it converges at the rate
# `(s_2 / s_1)²` per round. For the next triplet, **deflate**: subtract the found part,
# `R = R - s u vᵀ`, and iterate on the remainder.
#
# Write `power_svd(W, k, n_iter=200, seed=0)` returning `(U, S, Vt)` of shapes `(m, k)`, `(k,)`,
# `(k, n)`. The exact recipe:
#
# * `rng = np.random.default_rng(seed)`; `R = W` as float64 (a copy: `W` must not change);
# * for each of the `k` triplets: `v = rng.standard_normal(n)`, `v /= |v|`; then `n_iter` times:
#   `u = R @ v`, `u /= |u|`, `v = R.T @ u`, `s = |v|`, `v /= s`; store `(u, s, v)`, deflate
#   `R -= s * np.outer(u, v)`;
# * if a norm is exactly 0 (the remainder is the zero matrix), that triplet and all later ones are
#   `s = 0` with zero vectors `u` and `v`; no warning, no NaN.
#
# **Normalise after every product.** Iterating with `W.T @ W` (or without normalising) squares the
# magnitudes: at `|W| ~ 1e150` that overflows to `inf`, at `1e-150` it underflows to 0, and the tests
# use both. (`np.linalg.norm` of a vector computes `sqrt(x·x)`: fine for these magnitudes, which keep
# the squares of single entries inside the float64 range.)

# %% nbgrader={"grade": false, "grade_id": "power_svd", "locked": false, "solution": true, "schema_version": 3}
def power_svd(W: np.ndarray, k: int, n_iter: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k singular triplets of W (m, n) by power iteration with deflation: U (m, k), S (k,), Vt (k, n)."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    R = np.array(W, dtype=np.float64)  # (m, n) remainder, a copy
    m, n = R.shape
    U, S, Vt = np.zeros((m, k)), np.zeros(k), np.zeros((k, n))
    for i in range(k):
        v = rng.standard_normal(n)
        v /= np.linalg.norm(v)
        s = 0.0
        for _ in range(n_iter):
            u = R @ v  # (m,)
            nu = np.linalg.norm(u)
            if nu == 0:
                return U, S, Vt  # the remainder is zero: this and later triplets stay zero
            u /= nu
            v = R.T @ u  # (n,)
            s = np.linalg.norm(v)
            v /= s
        U[:, i], S[i], Vt[i] = u, s, v
        R -= s * np.outer(u, v)  # deflate
    return U, S, Vt
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "power_svd_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.low_rank.power_svd(power_svd)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _planted(rng, m, n, s):
    u, _ = np.linalg.qr(rng.standard_normal((m, len(s))))
    v, _ = np.linalg.qr(rng.standard_normal((n, len(s))))
    return (u * np.asarray(s, dtype=np.float64)) @ v.T


def _check_power(W, k, scale=1.0, **kw):
    keep = W.copy()
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        U, S, Vt = (np.asarray(a, dtype=np.float64) for a in power_svd(W, k, **kw))
    assert np.array_equal(W, keep), "power_svd modified W"
    m, n = W.shape
    assert U.shape == (m, k) and S.shape == (k,) and Vt.shape == (k, n), f"shapes {U.shape} {S.shape} {Vt.shape}"
    assert np.all(np.isfinite(U)) and np.all(np.isfinite(S)) and np.all(np.isfinite(Vt)), "NaN or inf"
    Wd = W / scale
    uu, ss, vt = np.linalg.svd(Wd, full_matrices=False)
    assert np.allclose(S / scale, ss[:k], rtol=1e-7, atol=1e-9 * ss[0]), f"singular values {S / scale} vs {ss[:k]}"
    want = (uu[:, :k] * ss[:k]) @ vt[:k]
    assert np.allclose((U * (S / scale)) @ Vt, want, atol=1e-7 * ss[0]), "U diag(S) Vt is not the top-k part of W"
    return U, S, Vt


_rng = np.random.default_rng(1005)
_s = np.array([9.0, 6.0, 4.0, 2.0, 1.0, 0.5])
_check_power(_planted(_rng, 12, 9, _s), 4)
_check_power(_planted(_rng, 7, 20, _s), 3, seed=5)
for _f in (1e150, 1e-150):  # W.T @ W squares the magnitudes: overflow / underflow
    _check_power(_planted(_rng, 10, 8, _s) * _f, 3, scale=_f)
# an exact tie inside the top k: the pair's product is still unique
_check_power(_planted(_rng, 10, 10, [5.0, 5.0, 2.0, 1.0]), 2)
# rank 2 asked for 4: the later singular values are (numerically) 0, nothing is NaN
_U, _S, _Vt = _check_power(_planted(_rng, 9, 6, [3.0, 2.0]), 4)
# the zero matrix, and a matrix with all-zero rows and negative entries
_U, _S, _Vt = _check_power(np.zeros((5, 4)), 2)
assert np.all(_S == 0), "the zero matrix has singular values 0"
_W = -np.abs(_planted(_rng, 8, 8, [4.0, 2.0, 1.0, 0.5]))
_W[3] = 0.0
_check_power(_W, 2, n_iter=400)
### END HIDDEN TESTS

# %% [markdown]
# ### 3.2 Alternating least squares (2 points)
#
# Minimising `|W - A @ B|²` over both factors at once is not convex, but over either one with the other
# fixed it is an ordinary least-squares problem with a closed form. ALS alternates the two, with a small
# ridge term `lam` that keeps the systems solvable when `W` has lower rank than `r`:
#
# * `A = W @ B.T @ inv(B @ B.T + lam·I)` — compute it as `np.linalg.solve(B @ B.T + lam·I, B @ W.T).T`;
# * `B = inv(A.T @ A + lam·I) @ A.T @ W` — as `np.linalg.solve(A.T @ A + lam·I, A.T @ W)`.
#
# Write `als_factorize(W, r, n_iter=50, lam=0.0, seed=0)` returning `(A, B)`: start from
# `B = np.random.default_rng(seed).standard_normal((r, n))`, then `n_iter` rounds of "update `A`, then
# update `B`", in float64. With `lam = 0` the caller must pass a `W` of rank at least `r`. Each update
# can only lower the (ridge-regularised) objective, and at convergence `A @ B` is the truncated SVD's product (ALS finds the
# same optimum from almost every start). Popular slips: dropping `lam` from one of the two updates;
# `inv(...) @` written on the wrong side, which only fails for non-square shapes.

# %% nbgrader={"grade": false, "grade_id": "als_factorize", "locked": false, "solution": true, "schema_version": 3}
def als_factorize(W: np.ndarray, r: int, n_iter: int = 50, lam: float = 0.0,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rank-r factors A (m, r), B (r, n) of W by alternating ridge least squares from a seeded random B."""
    ### BEGIN SOLUTION
    W = np.asarray(W, dtype=np.float64)
    B = np.random.default_rng(seed).standard_normal((r, W.shape[1]))  # (r, n)
    eye = lam * np.eye(r)
    A = np.zeros((W.shape[0], r))
    for _ in range(n_iter):
        A = np.linalg.solve(B @ B.T + eye, B @ W.T).T  # (m, r)
        B = np.linalg.solve(A.T @ A + eye, A.T @ W)  # (r, n)
    return A, B
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "als_factorize_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.low_rank.als_factorize(als_factorize)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_als(W, r, n_iter, lam, seed):
    B = np.random.default_rng(seed).standard_normal((r, W.shape[1]))
    for _ in range(n_iter):
        A = W @ B.T @ np.linalg.inv(B @ B.T + lam * np.eye(r))
        B = np.linalg.inv(A.T @ A + lam * np.eye(r)) @ A.T @ W
    return A, B


_rng = np.random.default_rng(1006)
for _m, _n, _r, _it, _lam, _seed in ((9, 14, 3, 4, 0.0, 0), (20, 6, 2, 7, 2.5, 4), (12, 12, 5, 3, 0.1, 9),
                                     (30, 11, 1, 10, 1.0, 2)):
    _W = _rng.standard_normal((_m, _n)) * np.where(_rng.random(_n) < 0.5, -3, 1)
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _A, _B = als_factorize(_W.copy(), _r, n_iter=_it, lam=_lam, seed=_seed)
    _Ar, _Br = _ref_als(_W, _r, _it, _lam, _seed)
    assert np.shape(_A) == (_m, _r) and np.shape(_B) == (_r, _n), f"shapes {np.shape(_A)} {np.shape(_B)}"
    assert np.allclose(_A, _Ar, rtol=1e-6, atol=1e-8) and np.allclose(_B, _Br, rtol=1e-6, atol=1e-8), (
        f"factors differ from the recipe for shape {(_m, _n)}, r={_r}, lam={_lam} (update order? lam in both?)")
# convergence: with a gap, ALS reaches the Eckart-Young error; scaling W by c scales A @ B by c (lam = 0)
_s = np.array([8.0, 5.0, 3.0, 0.3, 0.2, 0.1])
_u, _ = np.linalg.qr(_rng.standard_normal((15, 6)))
_v, _ = np.linalg.qr(_rng.standard_normal((10, 6)))
_W = (_u * _s) @ _v.T
for _c in (1.0, 1e80, 1e-80):
    _A, _B = als_factorize(_W * _c, 3, n_iter=60)
    _err = np.linalg.norm(_W - (np.asarray(_A) @ np.asarray(_B)) / _c)
    assert np.isclose(_err, np.sqrt(np.sum(_s[3:] ** 2)), rtol=1e-6), f"scale {_c}: error {_err} not optimal"
# rank-deficient W (rank 2 < r = 3) needs the ridge; the zero matrix gives zero factors
_W2 = (_u[:, :2] * _s[:2]) @ _v[:, :2].T
_A, _B = als_factorize(_W2, 3, n_iter=30, lam=1e-6)
assert np.allclose(np.asarray(_A) @ np.asarray(_B), _W2, atol=1e-4), "rank-deficient W with a small ridge"
_A, _B = als_factorize(np.zeros((4, 5)), 2, n_iter=3, lam=1.0)
assert np.array_equal(np.asarray(_A) @ np.asarray(_B), np.zeros((4, 5))), "the zero matrix"
### END HIDDEN TESTS

# %% [markdown]
# ### Convergence against iterations
#
# One weight matrix of the course GPT (`blocks.1.mlp.w_in`, `(128, 512)`), rank 16: the error of power
# iteration (top 16 triplets, `n_iter` rounds each) and of ALS (`n_iter` rounds) relative to the optimal
# rank-16 error, as `n_iter` grows.

# %%
W_gpt = params["blocks.1.mlp.w_in"].astype(np.float64)  # (128, 512)
r_it = 16
opt = eckart_young_error(np.linalg.svd(W_gpt, compute_uv=False), r_it)
iters = [1, 2, 4, 8, 16, 32, 64] if not env.small() else [1, 4, 16]
curve_power, curve_als = [], []
for it in iters:
    U_, S_, Vt_ = power_svd(W_gpt, r_it, n_iter=it)
    curve_power.append(np.linalg.norm(W_gpt - (U_ * S_) @ Vt_) / opt)
    A_, B_ = als_factorize(W_gpt, r_it, n_iter=it)
    curve_als.append(np.linalg.norm(W_gpt - A_ @ B_) / opt)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.semilogx(iters, curve_power, "o-", label="power iteration + deflation")
ax.semilogx(iters, curve_als, "s-", label="ALS")
ax.axhline(1.0, color="gray", ls=":", label="optimal (truncated SVD)")
ax.set_xlabel("n_iter")
ax.set_ylabel("error / optimal error")
ax.legend()
plt.show()
print("power:", [round(float(x), 4) for x in curve_power])
print("ALS:  ", [round(float(x), 4) for x in curve_als])

# %% [markdown]
# ## 4. Low rank for a trained network: activation-aware factorisation
#
# The truncated SVD minimises the error in the **weights**. What matters is the error in the layer's
# **outputs**, `|X @ W - X @ A @ B|` over the inputs `X` the layer really sees. Input features are not
# equally loud: some input features of a layer are often much larger than others, and an error in the
# weight row of a loud feature costs more. Activation-aware SVD (in the spirit of ASVD, Yuan et al. 2023) scales each input row of `W` by how loud its feature is, factorises
# the scaled matrix, and undoes the scaling:
#
# * `s_k = sqrt(mean_t X[t, k]**2)`, the root-mean-square of input feature `k` on calibration data
#   (`s_k = 1` where a feature is exactly zero on all of it);
# * `A', B = truncated_svd(diag(s) @ W, r)`, then `A = diag(1/s) @ A'`, so that
#   `X @ A @ B = (X / s) @ (A' @ B)` approximates `(X / s) @ (diag(s) @ W) = X @ W`.
#
# This is the exact optimum of `|diag(s) (W - A B)|` and a good proxy for the output error when the
# features are roughly uncorrelated. (SVD-LLM, Wang et al. 2024, whitens with the full Cholesky factor
# of `XᵀX` instead of its diagonal, and then minimises the output error exactly.)
#
# ### 4.1 Activation-aware SVD (3 points)
#
# Write `activation_aware_svd(W, X, r)` for `W` `(K, N)`, calibration inputs `X` `(T, K)`, returning
# `(A, B)` as above (use your `truncated_svd`). Traps: dividing where the recipe multiplies (that
# makes loud features *cheaper* to get wrong), forgetting to undo the scaling (`A'` instead of `A`),
# scaling the columns of `W` (the outputs) instead of its rows (the inputs), and the mean of `|x|` where
# the root-mean-square is asked (ASVD itself uses the mean of `|x|` raised to a power; this exercise
# fixes the RMS).

# %% nbgrader={"grade": false, "grade_id": "activation_aware_svd", "locked": false, "solution": true, "schema_version": 3}
def activation_aware_svd(W: np.ndarray, X: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """W (K, N), X (T, K) calibration inputs -> A (K, r), B (r, N) minimising |diag(s)(W - A B)|, s = RMS of X."""
    ### BEGIN SOLUTION
    s = np.sqrt(np.mean(np.square(np.asarray(X, dtype=np.float64)), axis=0))  # (K,) RMS of each input feature
    s = np.where(s > 0, s, 1.0)
    A_scaled, B = truncated_svd(s[:, None] * np.asarray(W, dtype=np.float64), r)  # (K, r), (r, N)
    return A_scaled / s[:, None], B
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "activation_aware_svd_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.low_rank.activation_aware_svd(activation_aware_svd)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_aware(W, X, r):
    s = np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=0))
    s = np.where(s > 0, s, 1.0)
    U, S, Vt = np.linalg.svd(s[:, None] * W, full_matrices=False)
    return ((U[:, :r] * S[:r]) / s[:, None]) @ Vt[:r]


_rng = np.random.default_rng(1007)
for _K, _N, _T, _r in ((12, 20, 50, 3), (16, 16, 40, 5), (30, 9, 7, 2), (6, 6, 100, 6)):
    _W = _rng.standard_normal((_K, _N))
    _X = _rng.standard_normal((_T, _K)) * np.exp(_rng.uniform(-2, 2, _K))  # features of very different loudness
    _X[:, 1] = 0.0  # a feature that is always zero
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _A, _B = activation_aware_svd(_W.copy(), _X.copy(), _r)
    assert np.shape(_A) == (_K, _r) and np.shape(_B) == (_r, _N), f"shapes {np.shape(_A)} {np.shape(_B)}"
    _P = np.asarray(_A, dtype=np.float64) @ np.asarray(_B, dtype=np.float64)
    assert np.allclose(_P, _ref_aware(_W, _X, _r), atol=1e-8 * np.abs(_W).max()), (
        f"A @ B wrong for K={_K}, N={_N}, r={_r} (scale rows by s, factorise, divide A's rows by s)")
    _Xs = _X.copy()
    _Xs[:, 1] = _rng.standard_normal(_T)  # no zero feature here: its guard value 1 does not scale with X
    _As, _Bs = activation_aware_svd(_W, _Xs, _r)
    _Ps = np.asarray(_As, dtype=np.float64) @ np.asarray(_Bs, dtype=np.float64)
    for _f in (1e100, 1e-100, -1.0):  # only the relative loudness of the features matters
        _Af, _Bf = activation_aware_svd(_W, _Xs * _f, _r)
        assert np.allclose(np.asarray(_Af) @ np.asarray(_Bf), _Ps, atol=1e-8 * np.abs(_W).max()), (
            f"scaling X by {_f} must not change A @ B")
# equal loudness everywhere: exactly the plain truncated SVD
_W = _rng.standard_normal((10, 7))
_A, _B = activation_aware_svd(_W, np.ones((5, 10)) * 3.0, 2)
_U, _S, _Vt = np.linalg.svd(_W, full_matrices=False)
assert np.allclose(np.asarray(_A) @ np.asarray(_B), (_U[:, :2] * _S[:2]) @ _Vt[:2], atol=1e-10), "uniform s"
# on inputs with loud features, the output error beats plain SVD's
_X = _rng.standard_normal((400, 10)) * np.array([20, 1, 1, 1, 1, 1, 1, 1, 1, 0.1])
_A, _B = activation_aware_svd(_W, _X, 2)
_out_aware = np.linalg.norm(_X @ (_W - np.asarray(_A) @ np.asarray(_B)))
_out_plain = np.linalg.norm(_X @ (_W - (_U[:, :2] * _S[:2]) @ _Vt[:2]))
assert _out_aware < 0.8 * _out_plain, f"output error {_out_aware:.3g} should beat plain SVD's {_out_plain:.3g}"
# an all-zero X (every s_k = 1) is plain SVD again
_A, _B = activation_aware_svd(_W, np.zeros((3, 10)), 2)
assert np.allclose(np.asarray(_A) @ np.asarray(_B), (_U[:, :2] * _S[:2]) @ _Vt[:2], atol=1e-10), "zero X"
### END HIDDEN TESTS

# %% [markdown]
# ### Low rank on the course GPT
#
# Every attention and MLP projection of the four blocks (`w_qkv`, `w_out`, `w_in`, `w_out`) is replaced
# by a rank-r product, once with the plain truncated SVD and once activation-aware, with calibration
# inputs recorded from the **training** text (forward pre-hooks on each `nn.Linear`). Perplexity is
# measured on held-out text and task accuracy on fresh task prompts, as in module 07. "bytes" counts the
# fp32 storage of those projections: the factors `r·(K + N)` where that is smaller than `K·N`, the dense
# matrix otherwise (a rank above the break-even rank saves nothing, so a sensible deployment keeps that
# matrix dense).

# %%
def torch_module_of(model: nn.Module, name: str) -> nn.Linear:
    """The nn.Linear of TinyGPT that holds the checkpoint matrix `name`."""
    block = model.blocks[int(name.split(".")[1])]
    return {"attn.w_qkv": block.attn.qkv, "attn.w_out": block.attn.out,
            "mlp.w_in": block.mlp.fc_in, "mlp.w_out": block.mlp.fc_out}[name.split(".", 2)[2]]


def calibration_inputs(params: dict, text: str) -> dict[str, np.ndarray]:
    """The inputs (T, K) each LINEAR matrix sees while the model reads `text`, by forward pre-hooks."""
    model = from_numpy(config, params)
    seen: dict[str, list] = {name: [] for name in LINEAR}
    hooks = [torch_module_of(model, name).register_forward_pre_hook(
        lambda mod, inp, name=name: seen[name].append(inp[0].reshape(-1, inp[0].shape[-1]).numpy().copy()))
        for name in LINEAR]
    ids = torch.as_tensor(CharTokenizer().encode(text))
    T = config["block_size"]
    with torch.no_grad():
        for start in range(0, len(ids) - T + 1, T):
            model(ids[start:start + T][None])
    for h in hooks:
        h.remove()
    return {name: np.concatenate(chunks) for name, chunks in seen.items()}


calib = calibration_inputs(params, load_corpus("train")[: env.size(16 * 128, 4 * 128)])
val_text = load_corpus("val")[: env.size(8000, 1500)]
n_task = env.size(100, 10)


def low_rank_params(params: dict, r: int, aware: bool) -> tuple[dict, int]:
    """A copy of params with every LINEAR matrix replaced by its rank-r product; and the bytes stored."""
    out, nbytes = dict(params), 0
    for name in LINEAR:
        W = params[name]
        K, N = W.shape
        if r >= min(K, N) or r > break_even_rank(K, N):
            nbytes += 4 * K * N  # kept dense: the factors would not be smaller
            continue
        A, B = activation_aware_svd(W, calib[name], r) if aware else truncated_svd(W, r)
        out[name] = (A @ B).astype(np.float32)
        nbytes += 4 * r * (K + N)
    return out, nbytes


rows = []
dense_bytes = sum(4 * params[n].size for n in LINEAR)
model = from_numpy(config, params)
rows.append(("fp32 dense", "-", dense_bytes, perplexity(model, val_text), task_accuracies(model, n=n_task)))
ranks = [96, 64, 32, 16] if not env.small() else [64, 16]
for r in tqdm(ranks, desc="ranks"):
    for aware in (False, True):
        p, nbytes = low_rank_params(params, r, aware)
        model = from_numpy(config, p)
        rows.append((f"rank {r}", "activation-aware" if aware else "plain SVD", nbytes, perplexity(model, val_text),
                     task_accuracies(model, n=n_task)))
print(f"{'model':<12}{'method':<18}{'bytes':>12}{'perplexity':>12}" + "".join(f"{t:>9}" for t in TASKS))
for label, method, nbytes, ppl, acc in rows:
    print(f"{label:<12}{method:<18}{nbytes:>12,}{ppl:>12.4f}" + "".join(f"{acc[t]:>9.0%}" for t in TASKS))
ppl_of = {(label, method): ppl for label, method, _, ppl, _ in rows}
wins = [r for r in ranks if ppl_of[f"rank {r}", "activation-aware"] < ppl_of[f"rank {r}", "plain SVD"]]
print(f"activation-aware has the lower perplexity at ranks {wins} of {ranks}")

# %% [markdown]
# How to read the table (every number is printed above):
#
# * At rank 96 only the MLP matrices are factored: 96 is above the break-even rank of `w_qkv` (95) and
#   of the square `w_out` (63), so those stay dense and the bytes barely move. Rank 64 factors `w_qkv`
#   and the MLP; `w_out` joins below 64.
# * The spectra in section 1 said it: a 90 %<!--const: the fraction chosen in section 1--> energy rank of 20 to 60<!--? 20 <= min(ranks_at_90) and max(ranks_at_90) <= 60 --> means the remaining 10 %<!--const: 100 % minus 90 %--> of the
#   energy is spread over many small singular values, and a language model uses them. Compare the
#   perplexity of each rank with the fp32 row, and the task columns: an exact-answer task fails as soon
#   as one character is wrong, so the task columns drop before the perplexity looks alarming.
# * The last line says at which ranks the activation-aware factors give the lower perplexity. Both
#   methods use the same bytes; the difference is only *which* error they minimise. Where the two are
#   close, the inputs of that layer are nearly equally loud in every feature, and the scaling changes
#   little.
# * Compare, bytes for bytes, the int4 row in section 7 (about one seventh of the fp32 bytes) with the
#   rank rows above: the table there prints its perplexity and task accuracy.
#   Weight low rank earns its place when a model has many near-redundant directions (large, over-wide
#   layers), combined with quantization, or for the update of fine-tuning (section 7).

# %% [markdown]
# ## 5. The speed lesson: is a low-rank GEMV faster?
#
# A decode step multiplies each weight matrix by one vector, and module 06 showed that this GEMV is
# bound by memory bandwidth: its time is the bytes read divided by the bandwidth. A rank-r product
# `(x @ A) @ B` reads `r·(m + n)` weights instead of `m·n`, so at `4096 × 4096` and `r = 256` it reads
# 8× fewer bytes and could be up to 8× faster. Two thin GEMVs are still memory-bound, so the ratio of
# bytes is the ratio to expect; the break-even rank is where both read the same.
#
# As in module 07, every variant cycles through several copies of its matrices, more bytes in total
# than the last-level cache (**cold weights**), the variants run round-robin, and each sample is a burst
# of calls after untimed priming calls. The limit beside the speed is this machine's read bandwidth,
# measured first (a parallel sum over a large array; the number varies with what else the machine runs).

# %%
from numba import njit, prange  # noqa: E402  (imported here: only this section needs it)


@njit(parallel=True, fastmath=True, cache=True)
def _read_all(a):
    """Sum of a 1-D float32 array: reads every byte once."""
    s = np.float32(0.0)
    for i in prange(a.size):
        s += a[i]
    return s


def rotating(fn, copies):
    """A no-argument function calling fn on the next copy each time (cold weights)."""
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % len(copies)
        return fn(*copies[state["i"]])
    return call


N_mv = env.size(4096, 512)
COLD = env.size(96, 8) * 2**20  # bytes each variant cycles through (more than the last-level cache)
rng = np.random.default_rng(2)
x_mv = rng.standard_normal(N_mv, dtype=np.float32)
dense = [(rng.standard_normal((N_mv, N_mv), dtype=np.float32),) for _ in range(max(2, -(-COLD // (4 * N_mv * N_mv))))]
flat = dense[0][0].reshape(-1)
bandwidth = flat.nbytes / bench.time_fn(lambda: _read_all(flat), repeat=9).median / 1e9
print(f"measured read bandwidth: {bandwidth:.1f} GB/s")


def factor_copies(r: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Enough random rank-r factor pairs A (N, r), B (r, N) to exceed COLD bytes (speed does not depend on values)."""
    n = max(2, -(-COLD // (8 * N_mv * r)))
    return [(rng.standard_normal((N_mv, r), dtype=np.float32), rng.standard_normal((r, N_mv), dtype=np.float32))
            for _ in range(n)]


def time_rank(r: int) -> tuple[float, float]:
    """(speed-up of the rank-r GEMV over the dense one, its GB/s), interleaved in one run."""
    fac = factor_copies(r)
    c = bench.compare({"dense": rotating(lambda W: x_mv @ W, dense),
                       "low rank": rotating(lambda A, B: (x_mv @ A) @ B, fac)},
                      rounds=env.size(9, 2), settle=0.1, prime=2, number=env.size(10, 2))
    return c.ratio("low rank"), 8 * N_mv * r / c.timings["low rank"].median / 1e9


r_main = env.size(256, 32)
ratio, gbs = time_rank(r_main)
dense_t = bench.time_fn(rotating(lambda W: x_mv @ W, dense), repeat=5, number=env.size(10, 2))
print(f"N = {N_mv}, rank {r_main}: {ratio:.2f}x faster than dense; bytes read are {N_mv / (2 * r_main):.1f}x fewer")
print(f"low rank reads {gbs:.1f} GB/s = {gbs / bandwidth:.0%} of the measured bandwidth; dense "
      f"{4 * N_mv * N_mv / dense_t.median / 1e9 / bandwidth:.0%}")
sweep = [N_mv // 16, N_mv // 8, N_mv // 4, 3 * N_mv // 8, N_mv // 2, 5 * N_mv // 8]
speedups = []
for r in tqdm(sweep, desc="ranks"):
    speedups.append(time_rank(r)[0])
# the smallest rank from which on every measured rank is slower than dense (one noisy dip does not count)
cross = next((r for i, r in enumerate(sweep) if all(s < 1.0 for s in speedups[i:])), None)
print("rank:    ", sweep)
print("speed-up:", [round(s, 2) for s in speedups])
print(f"break-even rank by bytes: {break_even_rank(N_mv, N_mv)}; measured: slower than dense from rank {cross} on")
dense = flat = None

# %% [markdown]
# How to read it. While both variants are memory-bound, the speed-up should follow the byte ratio
# `N / (2r)` printed beside it, and the first rank that is no longer faster should sit near the
# break-even rank `N / 2`, where both read the same bytes. Where the measured ratio falls short of the byte
# ratio, look at the bandwidth column: two thin GEMVs are short calls, and a call that reads 8 MiB
# spends a larger share of its time starting up (thread wake-up, the second call waiting for the first)
# than one that reads 64 MiB. On a machine shared with other programs all numbers wobble; rerun the cell
# and trust ratios measured in the same run. `make bench` records the same comparison at `4096 × 4096`
# (`lowrank_matvec_4096_r256`) with the CPU features of the machine it ran on.
#
# For prefill (many tokens at once) the GEMM is compute-bound and the saving is the FLOP ratio, the same
# `r·(m + n) / (m·n)`. What the table does not show is the cost in quality: section 4 measured it on the
# course GPT. That is why practical schemes choose a rank per layer, or apply low rank to the *update*
# (LoRA, section 7) instead of the weights.

# %% [markdown]
# ## 6. Low rank in attention: random features and the linear-time causal form
#
# Softmax attention computes `out_t = sum_j w_tj v_j` with `w_tj ∝ exp(q_t·k_j / sqrt(d))`, over all
# keys `j ≤ t`: a `T × T` matrix of scores, `O(T²)` time and memory. If the kernel
# `exp(q·k)` were a dot product of features, `exp(q·k) ≈ φ(q)·φ(k)` with `φ` mapping to `m`
# dimensions, the score matrix `φ(Q) φ(K)ᵀ` would have rank `m`, and the sums could be reordered:
#
# `out_t = φ(q_t)ᵀ (sum_{j≤t} φ(k_j) v_jᵀ) / φ(q_t)ᵀ (sum_{j≤t} φ(k_j))`
#
# Two running sums, an `(m, d_v)` matrix and an `(m,)` vector, updated once per token: `O(T·m·d_v)`
# time and no `T × T` matrix at all. This is the causal form of linear attention (Katharopoulos et al.,
# 2020), and with the features below it approximates softmax attention (Performer, Choromanski et al.,
# 2021).
#
# **Positive random features.** For `ω ~ N(0, I_d)`, `E[exp(ω·x - |x|²/2) · exp(ω·y - |y|²/2)] = exp(x·y)`.
# So with `m` draws `ω_1..ω_m` (the columns of `omega`, `(d, m)`):
#
# `φ(x)_i = exp(x·ω_i - |x|²/2) / sqrt(m)`, and `φ(x)·φ(y)` is an unbiased estimate of `exp(x·y)`.
#
# Every feature is positive, so every estimated attention weight is positive and the normaliser cannot
# be zero or negative. The older trigonometric features `sin(ω·x), cos(ω·x)` estimate the same kernel
# but can go negative, and a normaliser near zero then blows the output up: the trap the tests reject.
# To get `exp(q·k / sqrt(d))`, feed `q / d**0.25` and `k / d**0.25`.

# %% [markdown]
# ### 6.1 Positive random features (2 points)
#
# Write `positive_random_features(x, omega)` for `x` `(..., d)` and `omega` `(d, m)`, returning
# `(..., m)` with `φ(x)_i = exp(x·ω_i - |x|²/2) / sqrt(m)`. Traps: the `- |x|²/2` term left out (the
# estimate is then biased by `exp(|x|²/2)·exp(|y|²/2)`), `1/m` instead of `1/sqrt(m)` (each of the two
# vectors carries one square root), and features that can be negative.

# %% nbgrader={"grade": false, "grade_id": "positive_random_features", "locked": false, "solution": true, "schema_version": 3}
def positive_random_features(x: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """x (..., d), omega (d, m) -> (..., m) with phi(x)_i = exp(x . omega_i - |x|^2 / 2) / sqrt(m)."""
    ### BEGIN SOLUTION
    m = omega.shape[1]
    proj = x @ omega  # (..., m)
    half_sq = 0.5 * np.sum(x * x, axis=-1, keepdims=True)  # (..., 1)
    return np.exp(proj - half_sq) / np.sqrt(m)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "positive_random_features_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.low_rank.positive_random_features(positive_random_features)
### BEGIN HIDDEN TESTS
import warnings as _warnings

_rng = np.random.default_rng(1008)
for _shape, _m in (((7, 5), 12), ((2, 3, 4), 9), ((6,), 30), ((1, 1), 1)):
    _x = _rng.standard_normal(_shape) * 0.7 - 0.2
    _om = _rng.standard_normal((_shape[-1], _m))
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _phi = np.asarray(positive_random_features(_x.copy(), _om.copy()))
    _ref = np.exp(_x @ _om - 0.5 * np.sum(_x**2, axis=-1, keepdims=True)) / np.sqrt(_m)
    assert _phi.shape == _shape[:-1] + (_m,), f"shape {_phi.shape}, expected {_shape[:-1] + (_m,)}"
    assert np.all(_phi > 0), "positive random features must be positive"
    assert np.allclose(_phi, _ref, rtol=1e-10), f"values wrong for x of shape {_shape} (|x|^2 / 2? sqrt(m)?)"
# unbiased: with many features the dot product estimates exp(x . y), for negative dot products too
_d, _m = 4, 200_000
_om = _rng.standard_normal((_d, _m))
_x = np.array([[0.3, -0.5, 0.2, 0.1], [-0.4, 0.4, -0.3, 0.2]])
_y = np.array([[0.2, -0.1, 0.5, -0.3], [0.5, -0.2, 0.1, -0.4]])
_est = np.sum(np.asarray(positive_random_features(_x, _om)) * np.asarray(positive_random_features(_y, _om)), axis=-1)
assert np.allclose(_est, np.exp(np.sum(_x * _y, axis=-1)), rtol=0.02), f"estimate {_est} vs exp(x.y)"
# extremes: zero and tiny inputs give 1 / sqrt(m) for every feature; large negative projections stay >= 0
_om = _rng.standard_normal((3, 16))
for _x in (np.zeros((2, 3)), np.full((2, 3), 1e-30)):
    assert np.allclose(np.asarray(positive_random_features(_x, _om)), 0.25, rtol=1e-12), "phi(0) = 1 / sqrt(m)"
_phi = np.asarray(positive_random_features(np.array([[-6.0, 6.0, -6.0]]), _om))
assert np.all(np.isfinite(_phi)) and np.all(_phi >= 0), "large inputs: features must stay finite and non-negative"
### END HIDDEN TESTS

# %% [markdown]
# ### 6.2 Causal linear attention in linear time (3 points)
#
# Write `causal_linear_attention(phi_q, phi_k, v)` for feature maps `phi_q`, `phi_k` `(T, m)` (non-negative)
# and values `v` `(T, d_v)`, returning `(T, d_v)`:
#
# `out_t = phi_q[t] @ S_t / (phi_q[t] @ z_t)` with `S_t = sum_{j<=t} outer(phi_k[j], v[j])` and
# `z_t = sum_{j<=t} phi_k[j]`, the sums **including** `j = t`. A query whose denominator is exactly 0
# (all its features 0) gets output 0, without a warning.
#
# It must use memory linear in `T`: the tests run `T = 4096` and fail a solution whose peak allocation
# would hold a `T × T` matrix. A Python loop over `t` with the running sums is correct (and slow); the
# fast form processes **chunks** of `c` tokens: inside a chunk a small `c × c` masked product, across
# chunks the running sums carried from the chunk before. Traps: sums that exclude `j = t` (the first
# token then has nothing to attend to), sums over all `T` tokens (future leakage), and a normaliser
# summed over the wrong axis.

# %% nbgrader={"grade": false, "grade_id": "causal_linear_attention", "locked": false, "solution": true, "schema_version": 3}
def causal_linear_attention(phi_q: np.ndarray, phi_k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """phi_q, phi_k (T, m) >= 0, v (T, d_v) -> (T, d_v): causal attention with weights phi_q[t] . phi_k[j], j <= t."""
    ### BEGIN SOLUTION
    T, m = phi_q.shape
    d_v = v.shape[1]
    dtype = np.result_type(phi_q, phi_k, v)
    out = np.zeros((T, d_v), dtype=dtype)
    S = np.zeros((m, d_v), dtype=dtype)  # running sum of outer(phi_k[j], v[j]) over earlier chunks
    z = np.zeros(m, dtype=dtype)  # running sum of phi_k[j] over earlier chunks
    c = 64
    for a in range(0, T, c):
        q, k, vv = phi_q[a:a + c], phi_k[a:a + c], v[a:a + c]  # (c, m), (c, m), (c, d_v)
        w = np.tril(q @ k.T)  # (c, c) weights inside the chunk, j <= t
        num = q @ S + w @ vv  # (c, d_v)
        den = q @ z + w.sum(axis=1)  # (c,)
        np.divide(num, den[:, None], out=out[a:a + c], where=den[:, None] > 0)
        S += k.T @ vv  # (m, d_v)
        z += k.sum(axis=0)  # (m,)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_linear_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.low_rank.causal_linear_attention(causal_linear_attention)
### BEGIN HIDDEN TESTS
import tracemalloc as _tracemalloc
import warnings as _warnings


def _ref_lin(pq, pk, v):
    w = np.tril(pq.astype(np.float64) @ pk.T.astype(np.float64))
    den = w.sum(axis=1, keepdims=True)
    return np.where(den > 0, (w @ v) / np.where(den > 0, den, 1.0), 0.0)


_rng = np.random.default_rng(1009)
for _T, _m, _dv in ((1, 3, 2), (7, 5, 3), (130, 9, 4), (65, 1, 6), (200, 16, 1)):
    _pq = _rng.exponential(1.0, (_T, _m))
    _pk = _rng.exponential(1.0, (_T, _m))
    _v = _rng.standard_normal((_T, _dv)) * 5 - 1
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _out = np.asarray(causal_linear_attention(_pq.copy(), _pk.copy(), _v.copy()))
    assert _out.shape == (_T, _dv), f"shape {_out.shape}, expected {(_T, _dv)}"
    assert np.allclose(_out, _ref_lin(_pq, _pk, _v), rtol=1e-9, atol=1e-9), (
        f"T={_T}, m={_m}: differs from the quadratic form (j <= t inclusive? normaliser?)")
    # no future leakage: changing the last token changes only the last output
    if _T > 1:
        _pk2, _v2 = _pk.copy(), _v.copy()
        _pk2[-1] *= 7
        _v2[-1] += 100
        _out2 = np.asarray(causal_linear_attention(_pq, _pk2, _v2))
        assert np.allclose(_out2[:-1], _out[:-1], rtol=1e-12, atol=1e-12), "future tokens changed earlier outputs"
# extreme magnitudes: features scaled by 1e150 or 1e-150 leave the weights' ratios, so the output, unchanged
_pq, _pk, _v = _rng.exponential(1.0, (50, 4)), _rng.exponential(1.0, (50, 4)), _rng.standard_normal((50, 3))
_base = np.asarray(causal_linear_attention(_pq, _pk, _v))
for _f in (1e150, 1e-150):
    assert np.allclose(np.asarray(causal_linear_attention(_pq * _f, _pk, _v)), _base, rtol=1e-9), f"scale {_f}"
# all-zero query features get 0; zero key features before them give a zero denominator too
_pq[[3, 10]] = 0.0
_pk[:2] = 0.0
with _warnings.catch_warnings():
    _warnings.simplefilter("error")
    _out = np.asarray(causal_linear_attention(_pq, _pk, _v))
assert np.all(np.isfinite(_out)) and np.all(_out[[0, 1, 3, 10]] == 0), "a zero denominator must give output 0"
assert np.allclose(_out, _ref_lin(_pq, _pk, _v), rtol=1e-9, atol=1e-12)
# linear memory: T = 4096 must not allocate anything like a T x T matrix (134 MB in float64)
_T = 4096
_pq, _pk = _rng.exponential(1.0, (_T, 16)), _rng.exponential(1.0, (_T, 16))
_v = _rng.standard_normal((_T, 8))
_tracemalloc.start()
_out = causal_linear_attention(_pq, _pk, _v)
_peak = _tracemalloc.get_traced_memory()[1]
_tracemalloc.stop()
assert _peak < 24 * 2**20, f"peak allocation {_peak / 2**20:.0f} MiB at T = {_T}: that is a T x T matrix, not linear"
_i = np.array([0, 1, 2000, 4095])
_w = _pq[_i] @ _pk.T * (np.arange(_T)[None, :] <= _i[:, None])  # (4, T) the rows of the quadratic form
assert np.allclose(np.asarray(_out)[_i], (_w @ _v) / _w.sum(axis=1, keepdims=True), rtol=1e-9), "values at T=4096"
### END HIDDEN TESTS

# %% [markdown]
# ### How many features, and when does it pay?
#
# First the quality. Queries and keys of head size `d = 16` with standard-normal entries (their scaled
# dot products have a standard deviation of 1, so softmax is far from saturated), `T = 256`: the relative
# error of random-feature attention against exact causal softmax attention as the number of features
# `m` grows, the median over 5 draws of `omega`; then the same with queries and keys at half the size.
# The exact version is PyTorch's own `F.scaled_dot_product_attention(is_causal=True)`: the computation of
# modules 01–03 as a library call, and a well-optimised one, so the comparison below is against a strong baseline.

# %%
def exact_causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Exact causal softmax attention by torch's own kernel: q, k (T, d), v (T, d_v) -> (T, d_v) as NumPy."""
    q, k, v = (torch.from_numpy(np.ascontiguousarray(a))[None] for a in (q, k, v))
    with torch.no_grad():
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)[0].numpy()


def performer_attention(q, k, v, omega):
    """Random-feature causal attention approximating exact_causal_attention."""
    d = q.shape[1]
    return causal_linear_attention(positive_random_features(q / d**0.25, omega),
                                   positive_random_features(k / d**0.25, omega), v)


rng = np.random.default_rng(3)
d_att, T_err = 16, env.size(256, 64)
q_a, k_a, v_a = (rng.standard_normal((T_err, d_att)) for _ in range(3))
feature_counts = [4, 16, 64, 256, 1024, 4096] if not env.small() else [4, 64, 1024]
rel_err = {}
for scale in (1.0, 0.5):  # the queries and keys as drawn, and at half the size
    ref_att = exact_causal_attention(scale * q_a, scale * k_a, v_a)
    rel_err[scale] = []
    for m_ in feature_counts:
        errs = [np.linalg.norm(performer_attention(scale * q_a, scale * k_a, v_a, rng.standard_normal((d_att, m_)))
                               - ref_att) / np.linalg.norm(ref_att) for _ in range(5)]
        rel_err[scale].append(float(np.median(errs)))
fig, ax = plt.subplots(figsize=(6, 3.2))
for scale, errs in rel_err.items():
    ax.loglog(feature_counts, errs, "o-", label=f"q, k x {scale}")
ax.loglog(feature_counts, rel_err[0.5][0] * np.sqrt(feature_counts[0] / np.array(feature_counts)), ":",
          label="slope -1/2 (Monte Carlo)")
ax.set_xlabel("features m")
ax.set_ylabel("relative error")
ax.legend()
plt.show()
for scale, errs in rel_err.items():
    print(f"q, k x {scale}:", {m_: round(e, 4) for m_, e in zip(feature_counts, errs, strict=True)})

# %% [markdown]
# Read the two curves against the dotted `1/sqrt(m)` line, the Monte Carlo rate. The estimate of one
# kernel value from one feature has a relative variance of `exp(|x + y|²) - 1` (Choromanski et al., 2021,
# for positive features), with `x = q / d**0.25` and `y = k / d**0.25`: it grows **exponentially** with
# the sizes of the queries and keys. With standard-normal entries `|x|² ≈ sqrt(d) = 4`, so each feature is
# very noisy and the error stays large over the whole range of `m` printed above; at half the size the
# variance is far smaller and the error falls at close to the Monte Carlo rate. Each halving of the error
# then costs four times the features. This is why random-feature attention is hard to drop into a model
# trained with exact softmax, and why Performer draws orthogonal features, redraws them during training,
# and trains with them. Now the cost: time and peak memory of exact attention
# and of the linear form (your functions, `d = 64`, `m = 64`, `d_v = 64`) as `T` grows, measured in the
# same run; memory is the peak of NumPy's allocations (`tracemalloc`).

# %%
d_t, m_t = 64, 64
omega_t = np.random.default_rng(4).standard_normal((d_t, m_t))
lengths = [128, 256, 512, 1024, 2048, 4096] if not env.small() else [64, 256]
timing_rows = []
for T_ in tqdm(lengths, desc="lengths"):
    q_t, k_t, v_t = (np.random.default_rng(T_ + i).standard_normal((T_, d_t)) for i in range(3))
    c = bench.compare({"exact": lambda q=q_t, k=k_t, v=v_t: exact_causal_attention(q, k, v),
                       "linear": lambda q=q_t, k=k_t, v=v_t: performer_attention(q, k, v, omega_t)},
                      rounds=env.size(5, 2), warmup=1)
    peaks = {}
    for name, fn in (("exact", exact_causal_attention), ("linear", lambda a, b, cc: performer_attention(a, b, cc, omega_t))):
        tracemalloc.start()
        fn(q_t, k_t, v_t)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    timing_rows.append((T_, c.timings["exact"].median, c.timings["linear"].median, c.ratio("linear"),
                        peaks["exact"], peaks["linear"]))
print(f"{'T':>6}{'exact':>12}{'linear':>12}{'speed-up':>10}{'exact MiB':>11}{'linear MiB':>12}")
for T_, te, tl, ratio, pe, pl in timing_rows:
    print(f"{T_:>6}{te * 1e3:>10.2f}ms{tl * 1e3:>10.2f}ms{ratio:>9.2f}x{pe / 2**20:>11.1f}{pl / 2**20:>12.1f}")
faster = [row[0] for row in timing_rows if row[3] > 1]
print(f"shortest measured T where the linear form is faster: {faster[0] if faster else 'none'}")
T_last = lengths[-1]
print(f"FLOPs at T = {T_last}: exact {4 * T_last**2 * d_t:.3g} (2 T^2 d for the scores, 2 T^2 d_v for the values, "
      f"the full T x T as NumPy computes it), linear {4 * T_last * d_t * m_t + 4 * T_last * m_t * d_t:.3g} "
      f"(2 T d m per feature map, twice; about 4 T m d_v for the sums and outputs)")

# %% [markdown]
# Exact attention's time and memory grow as `T²` and the linear form's as `T`, so there is always a
# crossover length; the table shows where it lies for these shapes on this machine. The memory column
# is the other half of the story: the exact form holds `T × T` scores (and their exponentials), the
# linear form only its `(m, d_v)` running sum and a chunk. In a decoder, the same running sum **is** the
# cache: a linear-attention model decodes with a fixed-size state instead of a KV cache that grows with
# `T`, the idea that state-space and recurrent models (Mamba, RWKV) build on.

# %% [markdown]
# ## 7. LoRA: fine-tuning a low-rank update
#
# Fine-tuning all weights of a model for each new task stores a full copy per task and needs optimizer
# state for every weight (Adam keeps two more numbers per weight). LoRA (Hu et al., 2021) freezes the
# pretrained weight `W` and learns a low-rank **update**: a linear layer computes
#
# `y = x Wᵀ + b + (alpha / r) · x Aᵀ Bᵀ`, with `A` `(r, in)` and `B` `(out, r)` (PyTorch's `(out, in)` layout).
#
# * `B` starts at **zero** and `A` random, so at step 0 the model is exactly the pretrained one, while
#   the gradient of `B` (which is `x Aᵀ` times the output gradient) is not zero: training can start.
#   Both zero would give both gradients zero forever; `B` random would change the model before
#   training.
# * Hu et al. scale by `alpha / r` so that changing `r` needs less retuning of the learning rate
#   (rsLoRA, Kalajdzievski 2023, argues that `alpha / sqrt(r)` does this better).
# * For inference the update folds into the weight: `W' = W + (alpha / r) · B @ A`, one dense matrix,
#   no extra latency. Forgetting `alpha / r` in the merge gives a model that differs from the one you
#   trained.
#
# ### 7.1 The LoRA wrapper (3 points)
#
# Complete `LoRALinear(base, r, alpha)`: keep `base` (an `nn.Linear`) as `self.base` with every one of
# its parameters frozen (`requires_grad = False`); create `self.A` `(r, in_features)` and `self.B`
# `(out_features, r)` as `nn.Parameter`s, `A` initialised with `nn.init.kaiming_uniform_(A, a=math.sqrt(5))`
# (what PyTorch uses for `nn.Linear` and the PEFT library for LoRA's `A`), `B` with zeros; store
# `self.scale = alpha / r`. `forward(x)` takes `x` `(..., in_features)` and returns
# `base(x) + scale · (x @ A.T) @ B.T`. Multiply `x` by `A` first: `x @ (B @ A).T` builds a full
# `(out, in)` matrix on every call.

# %% nbgrader={"grade": false, "grade_id": "lora_linear", "locked": false, "solution": true, "schema_version": 3}
class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (alpha / r) * B @ A; x (..., in) -> (..., out)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features))  # (r, in)
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))  # (out, r)
        self.scale = alpha / r
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features)."""
        ### BEGIN SOLUTION
        return self.base(x) + (x @ self.A.T) @ self.B.T * self.scale  # (..., r) then (..., out)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "lora_linear_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.low_rank.lora_linear(LoRALinear)
### BEGIN HIDDEN TESTS
import warnings as _warnings

torch.manual_seed(1010)
for _in, _out, _r, _alpha, _bias in ((6, 10, 2, 8.0, True), (12, 12, 4, 1.0, False), (5, 3, 1, 16.0, True)):
    _base = nn.Linear(_in, _out, bias=_bias)
    _w0 = _base.weight.detach().clone()
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _layer = LoRALinear(_base, _r, _alpha)
    assert _layer.base is _base, "keep the wrapped layer as self.base"
    assert tuple(_layer.A.shape) == (_r, _in) and tuple(_layer.B.shape) == (_out, _r), (
        f"A must be (r, in) = {(_r, _in)} and B (out, r) = {(_out, _r)}, got {tuple(_layer.A.shape)} {tuple(_layer.B.shape)}")
    assert float(_layer.scale) == _alpha / _r, f"scale must be alpha / r = {_alpha / _r}"
    assert torch.count_nonzero(_layer.B) == 0, "B must start at zero (the model is unchanged at step 0)"
    assert torch.count_nonzero(_layer.A) == _layer.A.numel() and _layer.A.abs().max() < 1.5, "A: random, not zero"
    _train = {n for n, p in _layer.named_parameters() if p.requires_grad}
    assert _train == {"A", "B"}, f"only A and B may be trainable, got {sorted(_train)}"
    _x = torch.randn(3, 4, _in) * 100 - 20  # batch dims, large and negative values
    with torch.no_grad():
        assert torch.equal(_layer(_x), _base(_x)), "at initialisation LoRALinear must equal the base layer"
    # one step of SGD: B gets a gradient, the base gets none, the output moves
    _loss = (_layer(_x) ** 2).mean()
    _loss.backward()
    assert _base.weight.grad is None, "the base weight must be frozen"
    assert _layer.B.grad is not None and _layer.B.grad.abs().max() > 0, "B must receive a gradient at step 0"
    with torch.no_grad():
        _layer.B -= 1e-3 * _layer.B.grad
        _layer.B.add_(torch.randn_like(_layer.B))
        _want = _base(_x) + _alpha / _r * (_x @ _layer.A.T) @ _layer.B.T
        assert torch.allclose(_layer(_x), _want, rtol=1e-5, atol=1e-4 * _want.abs().max()), (
            "forward must be base(x) + (alpha / r) * (x @ A.T) @ B.T")
        assert torch.equal(_base.weight, _w0), "the base weight must not change"
        _z = torch.zeros(2, _in)
        assert torch.allclose(_layer(_z), _base(_z)), "a zero input gives the base output (the bias)"
### END HIDDEN TESTS

# %% [markdown]
# ### 7.2 Merging for inference (2 points)
#
# Write `merge_lora(layer)`: return a **new** `nn.Linear` (same `in_features`, `out_features`, bias if
# the base has one) whose weight is `W + scale · B @ A` and whose bias is the base's, such that
# `merged(x)` equals `layer(x)` up to float rounding. The layer you were given must not change. Traps:
# `scale` forgotten; `A @ B` or `(B @ A).T` (only a square layer accepts the shape, and then it is
# wrong); adding the update into `layer.base.weight` in place (the wrapper then adds it twice).

# %% nbgrader={"grade": false, "grade_id": "merge_lora", "locked": false, "solution": true, "schema_version": 3}
def merge_lora(layer: LoRALinear) -> nn.Linear:
    """A new nn.Linear equal to layer: weight W + scale * B @ A, the base's bias; layer is not modified."""
    ### BEGIN SOLUTION
    base = layer.base
    merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)
    with torch.no_grad():
        merged.weight.copy_(base.weight + layer.scale * layer.B @ layer.A)  # (out, in)
        if base.bias is not None:
            merged.bias.copy_(base.bias)
    return merged
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "merge_lora_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.low_rank.merge_lora(merge_lora, LoRALinear)
### BEGIN HIDDEN TESTS
torch.manual_seed(1011)
for _in, _out, _r, _alpha, _bias in ((7, 7, 3, 12.0, True), (9, 4, 2, 2.0, False), (4, 11, 4, 4.0, True)):
    _base = nn.Linear(_in, _out, bias=_bias)
    _layer = LoRALinear(_base, _r, _alpha)
    with torch.no_grad():
        _layer.B.normal_()
        _layer.A.mul_(3.0)
    _before = {k: v.clone() for k, v in _layer.state_dict().items()}
    _m = merge_lora(_layer)
    assert isinstance(_m, nn.Linear), f"return an nn.Linear, got {type(_m).__name__}"
    assert (_m.bias is None) == (not _bias), "keep a bias exactly when the base has one"
    assert all(torch.equal(_before[k], v) for k, v in _layer.state_dict().items()), "merge_lora changed the layer"
    _x = torch.randn(5, _in) * 50 - 10
    with torch.no_grad():
        _want = _layer(_x)
        assert torch.allclose(_m(_x), _want, rtol=1e-4, atol=1e-4 * _want.abs().max()), (
            f"merged output differs for in={_in}, out={_out}, alpha/r={_alpha / _r} (alpha / r? B @ A?)")
        _W = _base.weight + _alpha / _r * _layer.B @ _layer.A
        assert torch.allclose(_m.weight, _W, rtol=1e-5, atol=1e-6), "merged weight must be W + scale * B @ A"
# a freshly initialised adapter merges to the base weight exactly
_layer = LoRALinear(nn.Linear(6, 8), 2, 4.0)
assert torch.equal(merge_lora(_layer).weight, _layer.base.weight), "B = 0 merges to W"
### END HIDDEN TESTS

# %% [markdown]
# ### Fine-tuning the frozen course GPT on a new task
#
# The course GPT has never seen the task below: **reverse** a short string. A line reads
# `rev abcde>edcba`, with the answer after `>` (the corpus's `copy` task uses the same marker and
# copies forwards, so the model must learn to tell them apart by the word before). The examples are
# generated here in the notebook; the course corpus and checkpoint stay as they are.
#
# LoRA adapters of rank 4 go on every attention projection (`qkv` and `out` of the four blocks);
# everything else stays frozen. Each training example is a reversal line placed after a random stretch
# of course text (so that the new task is not tied to the start of a sequence), with the loss on the
# answer characters and the final newline only. Next to it, each step also trains on a few windows of
# the original corpus with the ordinary next-character loss (**replay**). The cell trains twice from the
# same start, with the same seed and steps: once as just described, and once with a few lines of the
# corpus's own tasks (copy, recall, add) mixed into every batch, with the same answer-only loss as the
# reversal lines (**task replay**). Before and after, it measures exact-answer accuracy on fresh
# reversal prompts, the held-out perplexity of the course text and the three corpus tasks.

# %%
LETTERS = "abcdefghijklmnopqrstuvwxyz"
tok = CharTokenizer()
NEWLINE = int(tok.encode("\n")[0])


def reverse_example(rng: random.Random) -> tuple[str, str]:
    """(prompt, answer) of the new task: 'rev abcd>' -> 'dcba' (3 to 6 letters)."""
    word = "".join(rng.choice(LETTERS) for _ in range(rng.randrange(3, 7)))
    return f"rev {word}>", word[::-1]


TRAIN_TEXT = load_corpus("train")
TRAIN_IDS = torch.as_tensor(tok.encode(TRAIN_TEXT))
REPLAY = 8  # corpus windows of 128 characters per step, trained with the ordinary loss
N_OLD = 16  # lines of the corpus tasks (copy, recall, add) per step in the second run, loss on answers


def old_task_example(rng: random.Random) -> tuple[str, str]:
    """(prompt, answer) of one of the corpus's own tasks (copy, recall, add), freshly generated."""
    return task_examples(rng.choice(TASKS), 1, rng.randrange(10**9))[0]


def reverse_batch(rng: random.Random, n: int, n_old: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, targets and a loss mask, each (n + n_old, L): n reversal lines, then n_old corpus-task lines.

    Each row is 0 to ~100 characters of course text (whole lines), then '\\n' + prompt + answer + '\\n'; the mask
    is True on the answer characters and the final newline.
    """
    seqs, starts = [], []
    for i in range(n + n_old):
        prompt, answer = reverse_example(rng) if i < n else old_task_example(rng)
        a = rng.randrange(0, len(TRAIN_TEXT) - 200)
        context = TRAIN_TEXT[a:a + rng.randrange(0, 100)]
        context = context[context.find("\n") + 1:] if "\n" in context else ""  # whole lines only
        seqs.append(tok.encode(context + "\n" + prompt + answer + "\n"))
        starts.append(len(context) + len(prompt))  # target index of the first answer character
    L = max(len(s) for s in seqs) - 1
    x, y = np.zeros((len(seqs), L), dtype=np.int64), np.zeros((len(seqs), L), dtype=np.int64)
    mask = np.zeros((len(seqs), L), dtype=bool)
    for i, (s, a) in enumerate(zip(seqs, starts, strict=True)):
        x[i, :len(s) - 1], y[i, :len(s) - 1] = s[:-1], s[1:]
        mask[i, a:len(s) - 1] = True
    return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask)


@torch.no_grad()
def reverse_accuracy(model: nn.Module, n: int, seed: int = 123) -> float:
    """Exact-answer accuracy on n fresh reversal prompts (greedy decoding, batched by prompt length)."""
    model.eval()
    rng = random.Random(seed)
    examples = [reverse_example(rng) for _ in range(n)]
    right = 0
    for length in sorted({len(p) for p, _ in examples}):
        group = [(p, a) for p, a in examples if len(p) == length]
        ids = torch.as_tensor(np.stack([tok.encode("\n" + p) for p, _ in group]))
        for _ in range(8):
            ids = torch.cat([ids, model(ids)[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
        for row, (_, answer) in zip(ids[:, length + 1:].numpy(), group, strict=True):
            text = tok.decode(row)
            right += "\n" in text and text.split("\n", 1)[0] == answer
    return right / n


def add_lora(model: nn.Module, r: int, alpha: float) -> nn.Module:
    """Freeze model and wrap every attention projection in a LoRALinear (in place); returns model."""
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.blocks:
        block.attn.qkv = LoRALinear(block.attn.qkv, r, alpha)
        block.attn.out = LoRALinear(block.attn.out, r, alpha)
    return model


def finetune(model: nn.Module, steps: int, batch: int = 32, lr: float = 3e-3, seed: int = 0,
             n_old: int = 0) -> list[float]:
    """AdamW on the trainable parameters only: masked loss on reversal (and n_old old-task) lines, REPLAY windows."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    bar = tqdm(range(steps), desc="LoRA fine-tuning", mininterval=1.0)
    for _ in bar:
        x, y, mask = reverse_batch(rng, batch, n_old)
        loss = nn.functional.cross_entropy(model(x)[mask], y[mask])  # answer characters only
        if REPLAY:
            starts = torch.randint(0, len(TRAIN_IDS) - 130, (REPLAY,), generator=gen)
            win = torch.stack([TRAIN_IDS[s:s + 129] for s in starts.tolist()])  # (REPLAY, 129)
            loss = loss + nn.functional.cross_entropy(model(win[:, :-1]).flatten(0, 1), win[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def report(model: nn.Module) -> dict:
    """Reversal accuracy, held-out perplexity and the corpus tasks' accuracy of a model."""
    return {"reverse": reverse_accuracy(model, n_task), "perplexity": perplexity(model, val_text),
            **task_accuracies(model, n=n_task)}


torch.set_num_threads(1)  # Numba's parallel runtime (section 5) resets torch's thread count
lora_steps = env.size(250, 12)
results = {"pretrained": report(from_numpy(config, params))}
lora_plain = add_lora(from_numpy(config, params), r=4, alpha=8.0)
n_total = sum(p.numel() for p in lora_plain.parameters())
n_train = sum(p.numel() for p in lora_plain.parameters() if p.requires_grad)
print(f"trainable parameters: {n_train:,} of {n_total:,} = {n_train / n_total:.2%}")
t0 = time.perf_counter()
losses_plain = finetune(lora_plain, lora_steps)
print(f"reversal + corpus windows: {lora_steps} steps in {time.perf_counter() - t0:.0f} s")
results["LoRA r=4"] = report(lora_plain)
lora_model = add_lora(from_numpy(config, params), r=4, alpha=8.0)  # same start, same seed, same steps
t0 = time.perf_counter()
losses = finetune(lora_model, lora_steps, n_old=N_OLD)
print(f"+ {N_OLD} old-task lines per step: {lora_steps} steps in {time.perf_counter() - t0:.0f} s")
results["+ old tasks"] = report(lora_model)

# %% [markdown]
# Merge the adapters (your `merge_lora`) into a plain `TinyGPT` and check that it computes the same
# logits as the wrapped model, then show both tables.

# %%
def merged_copy(lora_model: nn.Module) -> nn.Module:
    """A plain TinyGPT whose attention projections are the merged LoRA layers."""
    merged = from_numpy(config, params)
    for block, lb in zip(merged.blocks, lora_model.blocks, strict=True):
        block.attn.qkv = merge_lora(lb.attn.qkv)
        block.attn.out = merge_lora(lb.attn.out)
    return merged.eval()


merged_model = merged_copy(lora_model)
probe = torch.as_tensor(tok.encode("\nrev lowrank>knarwol\nthe cat sat near the river.\n"))[None]
with torch.no_grad():
    gap = (merged_model(probe) - lora_model(probe)).abs().max().item()
print(f"largest |merged - unmerged| logit difference: {gap:.2e}")
results["LoRA merged"] = report(merged_model)
print(f"{'model':<16}{'reverse':>9}{'perplexity':>12}" + "".join(f"{t:>9}" for t in TASKS))
for name, res in results.items():
    print(f"{name:<16}{res['reverse']:>9.0%}{res['perplexity']:>12.4f}" + "".join(f"{res[t]:>9.0%}" for t in TASKS))
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(losses_plain, label="reversal + corpus windows")
ax.semilogy(losses, label=f"+ {N_OLD} old-task lines per step")
ax.set_xlabel("step")
ax.set_ylabel("loss (answers + replay)")
ax.legend()
plt.show()

# %% [markdown]
# What to read in the table:
#
# * **The new task** goes from the pretrained row's reversal accuracy to the LoRA row's, with the
#   trainable share printed above (under 2 %<!--const: the budget the exercise sets--> of the model).
# * **Merged equals unmerged.** The logit difference printed above is float32 rounding (summing
#   `W x` and the update separately, or `(W + scale·B A) x` at once, rounds differently), and the merged
#   row repeats the `+ old tasks` row it was merged from. A merge that forgot `alpha / r` would not.
# * **Forgetting.** Compare the first LoRA row with the pretrained row: reversal is learnt, but the corpus
#   tasks drop, `copy` from 100<!--= 100 * results["pretrained"]["copy"] ~3% -->% to under
#   half<!--? results["LoRA r=4"]["copy"] < 0.5 --> at the default sizes, although every step replays 8<!--= REPLAY -->
#   windows of the corpus. This is not a bug in LoRA: it is what the loss asks for. The reversal loss sits on
#   answer characters only; the windows' loss is spread over 128<!--const: the window length--> characters of
#   mostly plain sentences, in which the answers of the corpus tasks are a handful of characters, so the
#   gradient says far more about "after `>`, write the word backwards" than about "after `copy ...>`,
#   write it forwards". `copy` shares the `>` marker with reversal and drops the most. 12 288 adapter
#   numbers on every attention projection are enough to change what the whole model does; LoRA's small
#   parameter count does not prevent it.
# * **Task replay fixes most of it.** The `+ old tasks` row trains on 16<!--= N_OLD --> corpus-task lines per
#   step next to the 32<!--const: the batch of reversal lines--> reversal lines. `copy` recovers by more than
#   30<!--? results["+ old tasks"]["copy"] - results["LoRA r=4"]["copy"] > 0.3 --> points, every corpus task
#   ends higher than without task replay<!--? all(results["+ old tasks"][t] > results["LoRA r=4"][t] for t in TASKS) -->
#   and the perplexity of the course text ends
#   lower<!--? results["+ old tasks"]["perplexity"] < results["LoRA r=4"]["perplexity"] -->, at the price of
#   a little reversal accuracy and half again as many rows per step. Other knobs trade the same way: fewer
#   steps, a smaller `alpha`, adapters on fewer layers. Try `lr=1e-3` in the first run and see whether a
#   smaller step alone protects the old tasks.

# %% [markdown]
# ### LoRA on an int4 base (the QLoRA idea, measured)
#
# QLoRA (Dettmers et al., 2023) fine-tunes adapters on top of a base model whose weights are stored in
# 4 bits: the adapters stay in higher precision, and the frozen base costs 4 bits per weight plus its
# scales, about a seventh of fp32 here (the cell prints the bytes). Here the base's
# attention and MLP weights are fake-quantized to int4 with one scale per group of 32 inputs (module 07's
# group-wise absmax), the same adapters are trained for the same steps, and the table compares. Bytes
# count int4 codes plus fp16 scales for the quantized matrices and fp32 adapters.

# %%
def fake_int4(W: np.ndarray, g: int = 32) -> np.ndarray:
    """Group-wise symmetric int4 round trip of W (K, N), groups of g consecutive input rows (module 07, 2.3)."""
    K, N = W.shape
    blocks = W.reshape(K // g, g, N)  # (K / g, g, N)
    a = np.abs(blocks).max(axis=1, keepdims=True)
    s = np.where(a > 0, a / 7, 1.0)
    return (np.clip(np.round(blocks / s), -7, 7) * s).reshape(K, N).astype(np.float32)


params_int4 = {k: (fake_int4(v) if k in LINEAR else v) for k, v in params.items()}
results_q = {"int4 base": report(from_numpy(config, params_int4))}
qlora_model = add_lora(from_numpy(config, params_int4), r=4, alpha=8.0)
finetune(qlora_model, lora_steps, n_old=N_OLD)
results_q["int4 base + LoRA"] = report(qlora_model)
int4_bytes = sum(params[n].size // 2 + 2 * params[n].size // 32 for n in LINEAR)
adapter_bytes = 4 * n_train
print(f"linear weights: fp32 {dense_bytes:,} bytes, int4 g32 {int4_bytes:,} bytes; adapters {adapter_bytes:,} bytes (fp32)")
print(f"{'model':<18}{'reverse':>9}{'perplexity':>12}" + "".join(f"{t:>9}" for t in TASKS))
for name, res in {**results, **results_q}.items():
    print(f"{name:<18}{res['reverse']:>9.0%}{res['perplexity']:>12.4f}" + "".join(f"{res[t]:>9.0%}" for t in TASKS))

# %% [markdown]
# The int4 base alone shows what 4-bit weights cost this model (module 07 measured the same); the adapters
# trained on it learn the new task with the frozen base read in 4 bits. QLoRA proper also keeps the base
# in 4 bits *during* training (dequantizing a block at a time for each matmul) and adds paged optimizers
# and a 4-bit float format (NF4); here the base is fake-quantized, which gives the same numbers at fp32
# speed and memory.

# %% [markdown]
# ## 8. Practice quiz

# %%
quiz.show("10_low_rank")

# %% [markdown]
# ## Summary
#
# * The truncated SVD `U[:, :r] · S[:r] · Vt[:r]` is the best rank-r approximation (Eckart–Young); its
#   Frobenius error is the root of the sum of the dropped squared singular values. Keep the **first** `r`
#   values and the **rows** of `Vt`.
# * A rank-r factorisation of an `(m, n)` matrix saves parameters and FLOPs only below
#   `r = m·n / (m + n)`: half the width for a square matrix.
# * Randomized SVD finds the top of the spectrum from a few products with a random matrix; power
#   iterations sharpen it, and they need re-orthonormalisation after every product.
# * Power iteration with deflation and ALS are the iterative answers: simple, matrix-free, with
#   convergence set by the gaps between singular values.
# * For a network, the error that matters is in the outputs: scaling the weight rows by the inputs'
#   loudness before the SVD (activation-aware) targets it. Low rank costs this small model accuracy
#   quickly; its payoff is clearer in the LoRA update than in the weights.
# * Positive random features turn softmax attention into a rank-m kernel with a linear-time causal form
#   (running sums); the error falls like `1/sqrt(m)`, and the crossover against exact attention is a
#   matter of `T`.
# * LoRA trains `B·A` next to a frozen weight: `B = 0` at the start, `alpha / r` in the forward pass and
#   in the merge, a merged model identical to the trained one, and it works on a 4-bit base too.
#
# ## Going further
#
# * SVD-LLM (Wang et al., 2024): whiten with the Cholesky factor of `XᵀX` instead of the diagonal, and
#   compare with section 4's table.
# * Nyström attention (Xiong et al., 2021): approximate the softmax matrix from a few landmark rows and
#   columns instead of random features.
# * DoRA, LoRA+ and rank allocation per layer (AdaLoRA); GaLore, which projects the *gradient* to low
#   rank during full training.
# * `benchmarks/bench_lowrank.py` in this repository: the three speed records of this module in
#   `make bench`.
