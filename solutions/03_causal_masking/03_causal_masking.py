# %% [markdown]
# # 03 · Masks: causal, padding and cross-attention
#
# In module 01 every query could look at every key. A language model that predicts the next token
# cannot work like that: while it is trained, all T positions of a sequence are computed at once, and
# position t must not peek at the tokens it is supposed to predict. A **mask** says, for each pair
# (query i, key j), whether query i may attend to key j. This module builds the masks every
# Transformer uses, puts them in the right place (before the softmax), and makes them robust to the
# cases that break real code: a batch of sequences of different lengths, queries with no key left to
# look at, and queries that come from a different sequence than the keys.
#
# **Convention used in the whole course.** A mask is a boolean array, `True` where attention is
# allowed, with queries along the rows and keys along the columns: shape `(T_q, T_k)`, or anything
# that broadcasts to `(B, n_head, T_q, T_k)`. PyTorch's `F.scaled_dot_product_attention` uses the same
# convention for a boolean `attn_mask`; `nn.MultiheadAttention` uses the *opposite* one (`True` means
# blocked). Mixing the two is a classic bug, so always read which one an API expects.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `causal_mask` | 1 |
# | 1.2 | `cached_causal_mask` (queries at the end of a longer sequence) | 2 |
# | 2.1 | `additive_mask` | 2 |
# | 2.2 | `masked_attention` | 3 |
# | 3.1 | `padding_mask` | 1 |
# | 3.2 | `padding_causal_mask` | 2 |
# | 4.1 | `safe_masked_attention` (queries with no allowed key) | 3 |
# | 5.1 | `cross_attention` | 3 |
# | 6.1 | `causal_self_attention` | 2 |
# | 6.2 | `leaks_future` (a property test) | 2 |
#
# Everything is NumPy. Replace each `raise NotImplementedError()` with your code and run the test cell
# under it: the visible self-check prints one line when your function passes, or names the case that
# failed. The grader also runs hidden tests with other shapes, seeds and the popular wrong answers.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("03_causal_masking")

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from llmcourse import checks, env, plot
from llmcourse.data import CharTokenizer

np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Which keys may a query see?
#
# In a decoder, the output at position i is used to predict token i + 1. It may therefore combine the
# tokens at positions 0, 1, ..., i — itself included — and nothing later. Drawn as a `(T, T)` grid with
# queries down the side and keys across the top, the allowed pairs form the lower triangle, diagonal
# included.
#
# Two popular wrong answers:
# - **the wrong triangle**: `np.triu` (or the transpose of the right mask) lets every query see the
#   future and hides the past;
# - **the wrong diagonal**: a strictly lower triangle (`np.tril(..., k=-1)`) hides each token from
#   itself, so position 0 has nothing at all to attend to.
#
# ### 1.1 Causal mask (1 point)

# %% nbgrader={"grade": false, "grade_id": "causal_mask", "locked": false, "solution": true, "schema_version": 3}
def causal_mask(T: int) -> np.ndarray:
    """(T, T) bool; mask[i, j] is True when query i may attend to key j, that is when j <= i.

    Hint: np.tril and np.triu keep one triangle of a matrix (which one, and is the diagonal kept?);
    comparing np.arange(T)[:, None] with np.arange(T)[None, :] works too.
    """
    ### BEGIN SOLUTION
    return np.tril(np.ones((T, T), dtype=bool))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_mask_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.masking.causal_mask(causal_mask)
### BEGIN HIDDEN TESTS
for _T in (2, 5, 8, 17):
    _m = causal_mask(_T)
    assert isinstance(_m, np.ndarray) and _m.shape == (_T, _T), f"T = {_T}: expected a ({_T}, {_T}) array"
    assert _m.dtype == bool, f"T = {_T}: expected dtype bool, got {_m.dtype}"
    _i, _j = np.indices((_T, _T))
    assert _m.diagonal().all(), f"T = {_T}: every token must see itself (the diagonal is allowed)"
    assert not _m[_j > _i].any(), f"T = {_T}: a query sees a later key (wrong triangle?)"
    assert np.array_equal(_m, _j <= _i), f"T = {_T}: mask[i, j] must be True exactly when j <= i"
    assert np.array_equal(_m.sum(axis=1), np.arange(1, _T + 1)), f"T = {_T}: row i has i + 1 allowed keys"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 Queries at the end of a longer sequence (2 points)
#
# When a model generates text it keeps the keys and values of the tokens it has already seen (the
# *KV cache*, module 05) and computes only the queries of the new tokens. Then `T_q` queries meet
# `T_k >= T_q` keys, and the queries are the **last** `T_q` positions: query i sits at absolute position
# `T_k - T_q + i` and may attend to keys `0 .. T_k - T_q + i`.
#
# The popular wrong answer is to take the top-left corner of a causal mask, `np.tril` of a `(T_q, T_k)`
# block: it places query 0 at position 0, so the first new token forgets almost everything in the cache.
# (PyTorch's `is_causal=True` is aligned to the top left too; its `causal_lower_right` bias is the one
# you want here.) Two special cases help you check your answer: `T_q == T_k` is the ordinary causal mask,
# and `T_q == 1`, a single decoding step, gives a row of all `True` — the newest token may see everything.

# %% nbgrader={"grade": false, "grade_id": "cached_causal_mask", "locked": false, "solution": true, "schema_version": 3}
def cached_causal_mask(T_q: int, T_k: int) -> np.ndarray:
    """(T_q, T_k) bool causal mask for T_q queries that are the LAST T_q of T_k positions (1 <= T_q <= T_k).

    Query i sits at absolute position T_k - T_q + i and may attend to keys 0 .. T_k - T_q + i.
    Hint: np.tril takes an offset k that shifts the diagonal.
    """
    ### BEGIN SOLUTION
    return np.tril(np.ones((T_q, T_k), dtype=bool), k=T_k - T_q)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cached_causal_mask_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.masking.cached_causal_mask(cached_causal_mask)
### BEGIN HIDDEN TESTS
for _T_q, _T_k in [(1, 1), (1, 7), (2, 9), (5, 5), (4, 13), (3, 4), (6, 8)]:
    _m = cached_causal_mask(_T_q, _T_k)
    assert isinstance(_m, np.ndarray) and _m.shape == (_T_q, _T_k), f"({_T_q}, {_T_k}): wrong shape"
    assert _m.dtype == bool, f"({_T_q}, {_T_k}): expected dtype bool, got {_m.dtype}"
    _i, _j = np.indices((_T_q, _T_k))
    assert _m[-1].all(), f"({_T_q}, {_T_k}): the last query is the newest token and sees every key"
    assert _m[0].sum() == _T_k - _T_q + 1, (
        f"({_T_q}, {_T_k}): query 0 sits at position {_T_k - _T_q} and sees {_T_k - _T_q + 1} keys, "
        f"got {_m[0].sum()} (top-left aligned mask?)")
    assert np.array_equal(_m, _j <= _T_k - _T_q + _i), f"({_T_q}, {_T_k}): mask[i, j] is j <= T_k - T_q + i"
for _T in (3, 6):
    _i, _j = np.indices((_T, _T))
    assert np.array_equal(cached_causal_mask(_T, _T), _j <= _i), "T_q == T_k must give the causal mask"
### END HIDDEN TESTS

# %% [markdown]
# A picture of the right masks and of the two wrong ones from 1.1 (bright cells may attend). Each wrong
# mask is made from yours, by transposing it or by removing its diagonal.

# %%
T = 8
right = causal_mask(T)
fig = plot.mask_panels(
    [right, right.T, right & ~np.eye(T, dtype=bool)],
    ["causal_mask(8)", "wrong: transposed (np.triu)\nevery query sees the future",
     "wrong: strict (k = -1)\nno token sees itself"],
)
plt.show()

# %%
T_q, T_k = 3, 8
fig = plot.mask_panels(
    [cached_causal_mask(T_q, T_k), causal_mask(T_k)[:T_q]],
    ["right: the 3 queries are positions 5, 6, 7", "wrong: top-left corner of a causal mask"],
    row_labels=[[str(T_k - T_q + i) for i in range(T_q)], [str(i) for i in range(T_q)]],
)
plt.show()

# %% [markdown]
# Notice that the right rectangular mask is simply the **last** `T_q` rows of the square `(T_k, T_k)`
# causal mask, `causal_mask(T_k)[-T_q:]`: the new queries are the newest rows of the full picture.
#
# ## 2. Where the mask goes: before the softmax
#
# Attention turns the scores `q · k / sqrt(d_k)` of one query into weights with a softmax over its keys.
# To block a key, its weight must be exactly 0 *and* the remaining weights must still sum to 1. Both
# happen when the blocked **score** is replaced by `-inf` before the softmax: `exp(-inf) = 0`, so that key
# adds nothing to the numerator or to the normaliser (the sum in the denominator).
#
# Many implementations store the mask as an **additive mask**: a float array with 0 where attention is
# allowed and a huge negative number where it is not, simply added to the scores. Equally good choices
# for the huge negative number are `-inf`, `-1e9`, or `np.finfo(dtype).min` (the most negative finite
# value of the dtype); for a query that has at least one allowed key they all give the same weights,
# because `exp` of anything below about -745 is exactly 0 in float64 (about -104 in float32).
#
# Two popular wrong answers:
# - `(~mask) * -np.inf`: at an allowed position this is `0 * -inf`, which is **NaN**, not 0;
# - a 0/1 mask (`mask.astype(float)`): adding 1 to an allowed score changes nothing useful, and
#   adding 0 to a blocked one blocks nothing.
#
# Keep the dtype of the scores: adding a float64 mask to float32 scores silently turns the whole score
# matrix into float64 (twice the memory, slower).
#
# ### 2.1 Additive mask (2 points)

# %% nbgrader={"grade": false, "grade_id": "additive_mask", "locked": false, "solution": true, "schema_version": 3}
def additive_mask(mask: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Boolean mask (any shape) -> array of the same shape and the given dtype, to ADD to the scores.

    0.0 where mask is True (may attend); where it is False, -inf or a very negative finite number
    (-1e9 or np.finfo(dtype).min) so that the softmax gives that key a weight of exactly 0.
    Hint: np.where(condition, value_if_true, value_if_false), then .astype(dtype).
    """
    ### BEGIN SOLUTION
    return np.where(mask, 0.0, -np.inf).astype(dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "additive_mask_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.masking.additive_mask(additive_mask)
### BEGIN HIDDEN TESTS
import warnings as _warnings

_rng = np.random.default_rng(302)
for _shape in [(5,), (3, 4), (2, 3, 6, 6)]:
    _m = _rng.random(_shape) < 0.5
    _m_before = _m.copy()
    for _dt in (np.float32, np.float64):
        with _warnings.catch_warnings():
            _warnings.simplefilter("error")
            _a = additive_mask(_m, dtype=_dt)
        assert np.array_equal(_m, _m_before), "additive_mask must not modify its input"
        assert isinstance(_a, np.ndarray) and _a.shape == _shape, f"expected shape {_shape}"
        assert _a.dtype == np.dtype(_dt), f"asked for {np.dtype(_dt)}, got {_a.dtype}"
        assert not np.isnan(_a).any(), "NaN in the additive mask (0 * -inf?)"
        assert np.all(_a[_m] == 0), "allowed positions must be exactly 0"
        assert np.all(_a[~_m] <= -1e4), "blocked positions must be -inf or very negative"
assert additive_mask(np.array([True, False])).dtype == np.float32, "the default dtype is float32"
# the effect on a softmax: the blocked keys get weight 0 and the others renormalise
_s = 3 * _rng.standard_normal((4, 6))
_m = _rng.random((4, 6)) < 0.5
_m[:, 2] = True
_z = _s + additive_mask(_m, dtype=np.float64)
_e = np.exp(_z - _z.max(axis=-1, keepdims=True))
_w = _e / _e.sum(axis=-1, keepdims=True)
_e_ref = np.where(_m, np.exp(_s), 0.0)
assert np.allclose(_w, _e_ref / _e_ref.sum(axis=-1, keepdims=True), rtol=1e-12, atol=1e-15), \
    "scores + additive_mask(mask) must give the masked softmax"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 Masked attention (3 points)
#
# Now attention itself, with a mask. This is a warm-up that repeats module 01's scaled dot-product
# attention with one new argument, so write it again here from scratch:
#
# 1. scores `q @ k^T / sqrt(d_k)`, shape `(..., T_q, T_k)` (swap the last two axes of `k` with
#    `np.swapaxes(k, -1, -2)` so that batch and head axes stay in front);
# 2. block the masked scores **before** the softmax (`np.where(mask, scores, -np.inf)`, or add
#    `additive_mask(mask, scores.dtype)`); `mask=None` means nothing is blocked;
# 3. a stable softmax over the keys (the last axis): subtract each row's maximum before `np.exp`;
# 4. `weights @ v`.
#
# In this section every query has at least one allowed key. (Section 4 is about the queries that have
# none.)

# %% nbgrader={"grade": false, "grade_id": "masked_attention", "locked": false, "solution": true, "schema_version": 3}
def masked_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                     mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention with a boolean mask; returns (out, weights).

    q: (..., T_q, d_k), k: (..., T_k, d_k), v: (..., T_k, d_v); leading (batch, head) dims broadcast.
    mask: bool, broadcastable to (..., T_q, T_k), True where query i may attend to key j; None = no mask.
    Returns out (..., T_q, d_v) and weights (..., T_q, T_k); blocked weights are 0 and every row of
    weights sums to 1. You may assume that every query has at least one allowed key.
    """
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (..., T_q, T_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # blocked keys drop out of numerator and normaliser
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "masked_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.masking.masked_attention(masked_attention)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_attention(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, w


_rng = np.random.default_rng(303)
_configs = [((4,), 4, 4, 8, 3, "causal"), ((2, 3), 5, 9, 4, 4, "cached"), ((3, 2), 6, 6, 6, 5, "padding"),
            ((2,), 3, 7, 5, 2, "random"), ((), 5, 5, 16, 16, "causal")]
for _lead, _T_q, _T_k, _d_k, _d_v, _kind in _configs:
    _q = _rng.standard_normal(_lead + (_T_q, _d_k))
    _k = _rng.standard_normal(_lead + (_T_k, _d_k))
    _v = _rng.standard_normal(_lead + (_T_k, _d_v))
    _i, _j = np.indices((_T_q, _T_k))
    if _kind == "causal":
        _mask = _j <= _i
    elif _kind == "cached":
        _mask = _j <= _T_k - _T_q + _i
    elif _kind == "padding":
        _len = _rng.integers(1, _T_k + 1, size=_lead[0])
        _mask = (np.arange(_T_k) < _len[:, None])[:, None, None, :]  # (B, 1, 1, T_k)
    else:
        _mask = _rng.random(_lead + (_T_q, _T_k)) < 0.4
        _mask[..., 0] = True
    _mask_before = _mask.copy()
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        _out, _w = masked_attention(_q, _k, _v, _mask)
        _out_n, _w_n = masked_attention(_q, _k, _v)
    assert np.array_equal(_mask, _mask_before), "masked_attention must not modify the mask"
    _ro, _rw = _ref_attention(_q, _k, _v, _mask)
    _where = f"{_kind} mask, q {_q.shape}, k {_k.shape}"
    assert np.shape(_w) == _rw.shape and np.shape(_out) == _ro.shape, f"{_where}: wrong output shapes"
    assert np.all(np.isfinite(_w)), f"{_where}: weights are not finite"
    assert np.allclose(np.sum(_w, axis=-1), 1.0, atol=1e-9), \
        f"{_where}: rows of weights must sum to 1 (was the mask applied after the softmax?)"
    assert np.all(np.abs(np.asarray(_w)[~np.broadcast_to(_mask, _rw.shape)]) <= 1e-12), \
        f"{_where}: blocked keys must get weight 0"
    assert np.allclose(_w, _rw, rtol=1e-9, atol=1e-12), f"{_where}: wrong weights"
    assert np.allclose(_out, _ro, rtol=1e-9, atol=1e-12), f"{_where}: wrong output"
    _ro_n, _rw_n = _ref_attention(_q, _k, _v)
    assert np.allclose(_w_n, _rw_n, rtol=1e-9, atol=1e-12) and np.allclose(_out_n, _ro_n, rtol=1e-9), \
        f"{_where}: mask=None must attend to every key"
# a blocked key with a huge score, and with a huge value, must not change anything
_q = np.full((2, 4), 2.0)
_k = _rng.standard_normal((5, 4))
_k[3] = 50.0
_v = _rng.standard_normal((5, 3))
_mask = np.array([True, True, True, False, True])
_ro, _rw = _ref_attention(_q, _k, _v, _mask)
_out, _w = masked_attention(_q, _k, _v, _mask)
assert np.allclose(_w, _rw, atol=1e-12) and np.allclose(_out, _ro, atol=1e-12), \
    "a blocked key with a large score still changed the weights (it entered the softmax normaliser)"
_k2, _v2 = _k.copy(), _v.copy()
_k2[3], _v2[3] = -30.0, 1e6
_out2, _ = masked_attention(_q, _k2, _v2, _mask)
assert np.allclose(_out2, _out, atol=1e-9), "changing a blocked key or value changed the output"
# float32 inputs
_q, _k, _v = (_rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4), (2, 6, 4), (2, 6, 2)])
_mask = np.indices((3, 6))[1] <= 3 + np.indices((3, 6))[0]
_ro, _rw = _ref_attention(_q.astype(np.float64), _k.astype(np.float64), _v.astype(np.float64), _mask)
_out, _w = masked_attention(_q, _k, _v, _mask)
assert np.allclose(_w, _rw, rtol=1e-4, atol=1e-6) and np.allclose(_out, _ro, rtol=1e-4, atol=1e-5), \
    "float32 inputs give wrong results"
### END HIDDEN TESTS

# %% [markdown]
# ### The popular wrong answer: masking *after* the softmax
#
# A tempting shortcut is to run the ordinary softmax over all keys and then multiply the weights by the
# 0/1 mask. Let us build exactly that from your function (unmasked weights times the causal mask) and
# compare.

# %%
rng = np.random.default_rng(7)
T, d_k, d_v = 6, 8, 4
q = rng.standard_normal((T, d_k))  # (T, d_k)
k = rng.standard_normal((T, d_k))  # (T, d_k)
v = rng.standard_normal((T, d_v))  # (T, d_v)
mask = causal_mask(T)

out_ok, w_ok = masked_attention(q, k, v, mask)
_, w_all = masked_attention(q, k, v)  # no mask: every key enters the normaliser
w_bug = w_all * mask                  # the bug: block the future AFTER the softmax
out_bug = w_bug @ v                   # (T, d_v)

print("row sums, mask before softmax:", w_ok.sum(axis=-1))
print("row sums, mask after softmax: ", w_bug.sum(axis=-1))

# %% [markdown]
# The rows of the buggy weights no longer sum to 1: the output is shrunk towards zero by a factor that
# changes from row to row. Worse, that factor depends on the blocked keys, because their scores were
# part of the normaliser. So the future still **leaks** into the past. Change only the key of the last
# token and watch the output at position 0, which must not depend on it:

# %%
k_changed = k.copy()
k_changed[-1] = 3.0 * rng.standard_normal(d_k)  # only position 5 changes
out_ok2, _ = masked_attention(q, k_changed, v, mask)
_, w_all2 = masked_attention(q, k_changed, v)
out_bug2 = (w_all2 * mask) @ v
print("change of out[0] when the key at position 5 changes")
print("  mask before softmax:", np.abs(out_ok2[0] - out_ok[0]).max())
print("  mask after softmax: ", np.abs(out_bug2[0] - out_bug[0]).max())

# %%
fig = plot.weights_panels([w_ok, w_bug], ["mask before softmax (right)", "mask after softmax (bug)"],
                          suptitle="Causal attention weights; Σ is each row's sum")
plt.show()

# %% [markdown]
# With the bug, the early rows lose the most: they have the most future keys, and the softmax mass that
# sat on those keys is simply thrown away.
#
# Dividing the buggy weights by their row sums afterwards does give the right weights in exact
# arithmetic (the unwanted normaliser cancels), but it computes exponentials that are thrown away and it
# can fail numerically: when a blocked score is much larger than the allowed ones, the allowed weights
# underflow to 0 before the division and the row becomes 0 / 0.

# %%
w_fixed = w_bug / w_bug.sum(axis=-1, keepdims=True)
print("renormalised weights equal the right ones here:", np.allclose(w_fixed, w_ok))
q1 = np.ones((1, 4))
k1 = np.array([[0.0] * 4, [0.0] * 4, [400.0] * 4])  # the blocked key scores 800
_, w1 = masked_attention(q1, k1, np.eye(3))
with np.errstate(invalid="ignore"):
    print("but with a large blocked score:", (w1 * [1, 1, 0]) / (w1 * [1, 1, 0]).sum(axis=-1, keepdims=True))

# %% [markdown]
# ## 3. Batches of different lengths: padding
#
# Sequences in a batch rarely have the same length. To stack them into one `(B, T)` array the short ones
# are **padded** with a filler token up to the longest length `T`. The filler is not text: no real token
# may attend to it. A **padding mask** records which positions are real: with `lengths` of shape `(B,)`,
# position j of sequence b is real when `j < lengths[b]` (padding at the end, "right padding").
#
# For a decoder the padding mask is combined with the causal mask by a logical AND: a query may see a
# key if the key is not in its future **and** the key is real. This course also blocks the **queries**
# at padded positions: a pad token attends to nothing, so its whole row of the mask is `False`. Its
# output is then defined to be zero (section 4 makes attention honour that), which keeps padded
# positions from carrying values that nobody asked for.
#
# The combined mask has shape `(B, T, T)`; for attention with heads, `mask[:, None]` has shape
# `(B, 1, T, T)` and broadcasts over the head axis.
#
# ### 3.1 Padding mask (1 point)

# %% nbgrader={"grade": false, "grade_id": "padding_mask", "locked": false, "solution": true, "schema_version": 3}
def padding_mask(lengths, T: int) -> np.ndarray:
    """(B, T) bool; True where position j of sequence b is a real token, that is when j < lengths[b].

    lengths: (B,) non-negative ints, a NumPy array or a list, each at most T.
    """
    ### BEGIN SOLUTION
    lengths = np.asarray(lengths)
    return np.arange(T)[None, :] < lengths[:, None]  # (B, T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "padding_mask_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.masking.padding_mask(padding_mask)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(304)
for _B, _T in [(1, 1), (3, 5), (6, 9), (2, 16)]:
    _len = _rng.integers(0, _T + 1, size=_B)
    _len[0] = _T
    for _lengths in (_len, list(_len), _len.astype(np.int32)):
        _m = padding_mask(_lengths, _T)
        assert isinstance(_m, np.ndarray) and _m.shape == (_B, _T), f"lengths {list(_len)}, T {_T}: shape (B, T)"
        assert _m.dtype == bool, f"expected dtype bool, got {_m.dtype}"
        assert np.array_equal(_m.sum(axis=1), _len), f"lengths {list(_len)}: row b has lengths[b] real tokens"
        assert np.array_equal(_m, np.arange(_T)[None, :] < _len[:, None]), f"lengths {list(_len)}: wrong mask"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.2 Padding and causal together (2 points)
#
# `mask[b, i, j]` is True exactly when `j <= i` (causal), `j < lengths[b]` (the key is real) and
# `i < lengths[b]` (the query is real). Popular wrong answers: combining with OR instead of AND, and
# forgetting either the padding or the causal part.

# %% nbgrader={"grade": false, "grade_id": "padding_causal_mask", "locked": false, "solution": true, "schema_version": 3}
def padding_causal_mask(lengths, T: int) -> np.ndarray:
    """(B, T, T) bool; mask[b, i, j] is True when j <= i, j < lengths[b] and i < lengths[b].

    A padded query (i >= lengths[b]) gets a row of all False. Build it from causal_mask and
    padding_mask with broadcasting: (1, T, T) & (B, 1, T) & (B, T, 1).
    """
    ### BEGIN SOLUTION
    real = padding_mask(lengths, T)  # (B, T)
    return causal_mask(T)[None, :, :] & real[:, None, :] & real[:, :, None]  # (B, T, T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "padding_causal_mask_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.masking.padding_causal_mask(padding_causal_mask)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(305)
for _B, _T in [(1, 1), (3, 5), (5, 8), (2, 12)]:
    _len = _rng.integers(0, _T + 1, size=_B)
    _len[-1] = _T
    _m = padding_causal_mask(list(_len) if _B == 3 else _len, _T)
    assert isinstance(_m, np.ndarray) and _m.shape == (_B, _T, _T), f"lengths {list(_len)}: shape (B, T, T)"
    assert _m.dtype == bool, f"expected dtype bool, got {_m.dtype}"
    _ref = np.zeros((_B, _T, _T), dtype=bool)
    for _b in range(_B):
        for _i in range(_len[_b]):
            _ref[_b, _i, : _i + 1] = True
    for _b in range(_B):
        assert not _m[_b, _len[_b]:].any(), f"lengths {list(_len)}: a padded query must attend to nothing"
        assert not _m[_b, :, _len[_b]:].any(), f"lengths {list(_len)}: no query may attend to a padded key"
        assert _m[_b, np.arange(_len[_b]), np.arange(_len[_b])].all(), "a real token must see itself"
    assert np.array_equal(_m, _ref), f"lengths {list(_len)}, T {_T}: wrong mask"
### END HIDDEN TESTS

# %% [markdown]
# Here is the mask for a real batch of three character sequences (the course tokenizer turns each
# character into one token). Padded positions are shown as `·`.

# %%
tok = CharTokenizer()
texts = ["the fox ran.", "a cat sat", "hi!"]
lengths = np.array([len(t) for t in texts])  # (B,)
T = int(lengths.max())
ids = np.zeros((len(texts), T), dtype=np.int64)  # (B, T), padded with token id 0
for b, text in enumerate(texts):
    ids[b, : len(text)] = tok.encode(text)
print("ids:\n", ids)

masks = padding_causal_mask(lengths, T)  # (B, T, T)
labels = [plot.token_labels(t) + ["·"] * (T - len(t)) for t in texts]
fig = plot.mask_panels(list(masks), [f"{t!r}, length {len(t)}" for t in texts],
                       suptitle="padding_causal_mask for a batch of 3", row_labels=labels, col_labels=labels)
plt.show()

# %% [markdown]
# ## 4. Queries with no allowed key
#
# A padded query has a row of the mask that is all `False`. The same happens with left padding, with
# masks that hide a whole segment, or with a sequence of length 0 in a batch. What does attention do
# with such a row? Look at the two usual answers (these use PyTorch's softmax, so you can see a library
# do it):

# %%
import torch

scores = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
print("all blocked with -inf       ->", torch.softmax(torch.full((3,), -torch.inf, dtype=torch.float64), dim=-1))
print("all replaced by -1e9        ->", torch.softmax(torch.full((3,), -1e9, dtype=torch.float64), dim=-1))
print("-1e9 added to every score   ->", torch.softmax(scores - 1e9, dim=-1))
print("softmax of the scores alone ->", torch.softmax(scores, dim=-1))

# %% [markdown]
# - With `-inf`, the row is `exp(-inf - (-inf))`, which is `NaN`, and PyTorch returns it without a word.
#   One NaN is enough to poison everything: it flows through the next matrix product into every feature
#   of that position, and even a loss that multiplies padded positions by 0 stays NaN, because
#   `0 * NaN` is NaN:

# %%
per_token_loss = np.array([2.1, 1.7, np.nan])  # the last position is padding and its value is NaN
is_real = np.array([1.0, 1.0, 0.0])
print("masked mean loss:", (per_token_loss * is_real).sum() / is_real.sum())

# %% [markdown]
# - With `-1e9` there is no NaN, but the answer is still wrong: if the blocked scores are *replaced* by
#   `-1e9`, all of them are equal and the query averages the values of keys it must not see (uniform
#   weights); if `-1e9` is *added*, float64 keeps the differences between the scores and the query
#   attends exactly as if there were no mask at all. Either way the output is built from padding or
#   from the future: a silent leak.
#
# So the behaviour has to be **defined**. In this course: a query with no allowed key gets weights that
# are all 0 and an output of exactly 0; every other query is unchanged (its weights sum to 1). No NaN and
# no warning may appear on the way. PyTorch's `F.scaled_dot_product_attention` makes the same choice in
# the version pinned for this course (below, the second query has no allowed key), but behaviour like
# this has differed between versions and kernels, so check the one you use.

# %%
import torch.nn.functional as F

q_t, k_t, v_t = torch.zeros(1, 2, 4), torch.zeros(1, 3, 4), torch.ones(1, 3, 2)
mask_t = torch.tensor([[[True, True, False], [False, False, False]]])  # (1, T_q, T_k), True = attend
print(F.scaled_dot_product_attention(q_t, k_t, v_t, attn_mask=mask_t))

# %% [markdown]
# ### 4.1 Safe masked attention (3 points)
#
# Hints: `has_key = mask.any(axis=-1, keepdims=True)` tells which rows have something to attend to.
# Either keep `-inf` and make sure no `-inf - (-inf)` or `0 / 0` is ever computed (replace the row
# maximum of an empty row by 0, divide by 1 instead of by an empty row's sum), or use a large finite
# negative number and set the weights of the empty rows to 0 afterwards. Use `np.broadcast_to` to give
# the mask the shape of the scores. NumPy prints a `RuntimeWarning` for `0 / 0` or `inf - inf`, and a
# warning is a failure here.

# %% nbgrader={"grade": false, "grade_id": "safe_masked_attention", "locked": false, "solution": true, "schema_version": 3}
def safe_masked_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                          mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masked attention that also handles queries with no allowed key; returns (out, weights).

    Shapes and mask convention as in masked_attention. A query whose row of the mask is all False gets
    weights that are all 0 and an output of exactly 0; every other row of weights sums to 1 and equals
    masked_attention's. No NaN, no inf and no warning, in float32 and float64.
    """
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (..., T_q, T_k)
    if mask is None:
        mask = np.ones(scores.shape, dtype=bool)
    scores = np.where(mask, scores, -np.inf)  # (..., T_q, T_k) after broadcasting with the mask
    mask = np.broadcast_to(mask, scores.shape)  # (..., T_q, T_k)
    has_key = mask.any(axis=-1, keepdims=True)  # (..., T_q, 1)
    row_max = np.where(has_key, scores.max(axis=-1, keepdims=True), 0.0)  # finite even for an empty row
    e = np.exp(scores - row_max)  # blocked entries: exp(-inf) = 0
    total = np.where(has_key, e.sum(axis=-1, keepdims=True), 1.0)  # an empty row divides 0 by 1
    weights = e / total
    return weights @ v, weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "safe_masked_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.masking.safe_masked_attention(safe_masked_attention)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_safe(q, k, v, mask):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    mask = np.broadcast_to(mask, s.shape)
    w = np.zeros(s.shape)
    for idx in np.ndindex(*s.shape[:-1]):
        row = mask[idx]
        if row.any():
            e = np.exp(s[idx][row] - s[idx][row].max())
            w[idx][row] = e / e.sum()
    return w @ v, w


def _call_safe(*args):
    with _warnings.catch_warnings():
        _warnings.simplefilter("error")
        out, w = safe_masked_attention(*args)
    out, w = np.asarray(out), np.asarray(w)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(w)), "NaN or inf in the output or the weights"
    return out, w


_rng = np.random.default_rng(306)
for _lead, _T_q, _T_k, _d, _dv in [((3,), 4, 6, 5, 3), ((2, 2), 5, 5, 8, 4), ((), 3, 7, 4, 2)]:
    _q = _rng.standard_normal(_lead + (_T_q, _d))
    _k = _rng.standard_normal(_lead + (_T_k, _d))
    _v = _rng.standard_normal(_lead + (_T_k, _dv))
    _mask = _rng.random(_lead + (_T_q, _T_k)) < 0.4
    _mask[..., 0, :] = False  # the first query of every item has no key
    _mask[..., -1, 1] = True  # the last one has at least one
    _out, _w = _call_safe(_q, _k, _v, _mask)
    _ro, _rw = _ref_safe(_q, _k, _v, _mask)
    _has = _mask.any(axis=-1)
    _where = f"q {_q.shape}, k {_k.shape}"
    assert _w.shape == _rw.shape and _out.shape == _ro.shape, f"{_where}: wrong output shapes"
    assert np.all(_w[~_has] == 0) and np.all(_out[~_has] == 0), \
        f"{_where}: a query with no allowed key must get zero weights and a zero output (not a uniform average)"
    assert np.allclose(_w.sum(axis=-1)[_has], 1.0, atol=1e-9), f"{_where}: rows with a key must sum to 1"
    assert np.allclose(_w, _rw, rtol=1e-9, atol=1e-12), f"{_where}: wrong weights"
    assert np.allclose(_out, _ro, rtol=1e-9, atol=1e-12), f"{_where}: wrong output"
# no mask at all, and a large blocked score in a row that has keys
_q, _k, _v = _rng.standard_normal((3, 4)), _rng.standard_normal((5, 4)), _rng.standard_normal((5, 2))
_ro, _rw = _ref_safe(_q, _k, _v, np.ones((3, 5), dtype=bool))
_out, _w = _call_safe(_q, _k, _v)
assert np.allclose(_w, _rw, atol=1e-12) and np.allclose(_out, _ro, atol=1e-12), "mask=None must attend everywhere"
_k[2] = 60.0
_mask = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)
_ro, _rw = _ref_safe(np.full((3, 4), 2.0), _k, _v, _mask)
_out, _w = _call_safe(np.full((3, 4), 2.0), _k, _v, _mask)
assert np.allclose(_w, _rw, atol=1e-12) and np.allclose(_out, _ro, atol=1e-12), \
    "a blocked key with a large score changed the result"
# float32 with empty rows
_q32, _k32, _v32 = (_rng.standard_normal(s).astype(np.float32) for s in [(2, 3, 4), (2, 5, 4), (2, 5, 3)])
_mask = _rng.random((2, 3, 5)) < 0.5
_mask[0, 1] = False
_mask[1, 2] = [True, False, False, False, False]
_ro, _rw = _ref_safe(_q32.astype(np.float64), _k32.astype(np.float64), _v32.astype(np.float64), _mask)
_out, _w = _call_safe(_q32, _k32, _v32, _mask)
assert np.allclose(_w, _rw, rtol=1e-4, atol=1e-6) and np.allclose(_out, _ro, rtol=1e-4, atol=1e-5), \
    "float32 inputs give wrong results"
# padding invariance: real positions equal the unpadded sequence alone, padded positions are 0
_B, _T, _C = 4, 7, 6
_x = _rng.standard_normal((_B, _T, _C))
_Wq, _Wk, _Wv = (_rng.standard_normal((_C, 4)) for _ in range(3))
_len = np.array([7, 4, 0, 1])
_i, _j = np.indices((_T, _T))
_pc = (_j <= _i)[None] & (_j[None] < _len[:, None, None]) & (_i[None] < _len[:, None, None])  # (B, T, T)
_out, _w = _call_safe((_x @ _Wq)[:, None], (_x @ _Wk)[:, None], (_x @ _Wv)[:, None], _pc[:, None])  # one head
assert _out.shape == (_B, 1, _T, 4) and _w.shape == (_B, 1, _T, _T), "q (B, 1, T, d), mask (B, 1, T, T): shapes"
_out = _out[:, 0]
for _b, _L in enumerate(_len):
    assert np.all(_out[_b, _L:] == 0), f"sequence {_b} (length {_L}): padded positions must output 0"
    if _L:
        _xb = _x[_b, :_L]
        _ro, _ = _ref_safe(_xb @ _Wq, _xb @ _Wk, _xb @ _Wv, np.tril(np.ones((_L, _L), dtype=bool)))
        assert np.allclose(_out[_b, :_L], _ro, atol=1e-12), \
            f"sequence {_b} (length {_L}): padding changed the outputs at real positions"
### END HIDDEN TESTS

# %% [markdown]
# Now the padded batch of section 3 goes through attention cleanly: the outputs at padded positions are
# zero, and the outputs at real positions are exactly what each sequence would give on its own, without
# any padding.

# %%
C, d_head = 16, 8
rng = np.random.default_rng(3)
emb = rng.standard_normal((tok.vocab_size, C))  # a random embedding table (V, C)
x = emb[ids]                                     # (B, T, C)
Wq, Wk, Wv = (rng.standard_normal((C, d_head)) / np.sqrt(C) for _ in range(3))
out, w = safe_masked_attention(x @ Wq, x @ Wk, x @ Wv, padding_causal_mask(lengths, T))  # out (B, T, d_head)
for b, L in enumerate(lengths):
    x_b = x[b, :L]                               # (L, C), no padding at all
    alone, _ = safe_masked_attention(x_b @ Wq, x_b @ Wk, x_b @ Wv, causal_mask(L))
    print(f"{texts[b]!r:15} real positions differ from the unpadded run by {np.abs(out[b, :L] - alone).max():.1e}; "
          f"padded outputs all zero: {bool(np.all(out[b, L:] == 0))}; NaN anywhere: {bool(np.isnan(out[b]).any())}")

# %% [markdown]
# ## 5. Cross-attention: queries and keys from different sequences
#
# In an encoder-decoder model (translation, speech recognition) and in many multimodal models, the
# decoder's tokens attend to a second sequence, the **memory**: the encoder's output for the source
# sentence, or the features of an image. The queries come from the decoder's sequence `x`
# (`T_q` positions), the keys and values from the memory (`T_k` positions), and `T_q != T_k` in general.
#
# Which mask? The memory exists in full before the decoder starts, so there is **no causal mask** between
# the two sequences: every query may see every memory position. (The causal mask lives in the decoder's
# *self*-attention.) What remains is padding in the memory: a key padding mask of shape `(B, 1, T_k)`,
# the same row for every query. Popular wrong answers: reusing the causal mask (a `(T_q, T_k)` triangle
# hides most of the source sentence from the first target tokens), applying the padding mask along the
# query axis, and taking keys or values from `x` instead of the memory.
#
# ### 5.1 Cross-attention (3 points)

# %% nbgrader={"grade": false, "grade_id": "cross_attention", "locked": false, "solution": true, "schema_version": 3}
def cross_attention(x: np.ndarray, memory: np.ndarray, memory_lengths, Wq: np.ndarray, Wk: np.ndarray,
                    Wv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-head cross-attention; returns (out, weights).

    x: (B, T_q, C) the sequence that asks (queries); memory: (B, T_k, C_mem) the sequence it reads
    (keys and values); memory_lengths: (B,) ints in 1..T_k, the real length of each memory;
    Wq: (C, d_k), Wk: (C_mem, d_k), Wv: (C_mem, d_v).
    out: (B, T_q, d_v); weights: (B, T_q, T_k), 0 on padded memory positions, no causal mask.
    Scores are scaled by 1 / sqrt(d_k) as usual. Your earlier functions are welcome here.
    """
    ### BEGIN SOLUTION
    q = x @ Wq                                                          # (B, T_q, d_k)
    k = memory @ Wk                                                     # (B, T_k, d_k)
    v = memory @ Wv                                                     # (B, T_k, d_v)
    key_ok = padding_mask(memory_lengths, memory.shape[1])[:, None, :]  # (B, 1, T_k): the same for every query
    return masked_attention(q, k, v, key_ok)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cross_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.masking.cross_attention(cross_attention)
### BEGIN HIDDEN TESTS
def _ref_cross(x, memory, lengths, Wq, Wk, Wv):
    q, k, v = x @ Wq, memory @ Wk, memory @ Wv
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(Wq.shape[1])
    s = np.where((np.arange(memory.shape[1]) < np.asarray(lengths)[:, None])[:, None, :], s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, w


_rng = np.random.default_rng(307)
for _B, _T_q, _T_k, _C, _Cm, _dk, _dv in [(2, 4, 6, 5, 3, 4, 2), (3, 9, 3, 4, 4, 2, 3), (1, 1, 5, 2, 6, 3, 3),
                                          (2, 5, 5, 3, 3, 4, 4)]:
    _x = _rng.standard_normal((_B, _T_q, _C))
    _mem = _rng.standard_normal((_B, _T_k, _Cm))
    _len = _rng.integers(1, _T_k + 1, size=_B)
    _len[0] = _T_k
    _Wq, _Wk, _Wv = _rng.standard_normal((_C, _dk)), _rng.standard_normal((_Cm, _dk)), _rng.standard_normal((_Cm, _dv))
    _out, _w = cross_attention(_x, _mem, _len, _Wq, _Wk, _Wv)
    _ro, _rw = _ref_cross(_x, _mem, _len, _Wq, _Wk, _Wv)
    _where = f"B {_B}, T_q {_T_q}, T_k {_T_k}, lengths {list(_len)}"
    assert np.shape(_out) == _ro.shape and np.shape(_w) == _rw.shape, f"{_where}: wrong output shapes"
    for _b in range(_B):
        assert np.all(np.abs(np.asarray(_w)[_b, :, _len[_b]:]) <= 1e-12), f"{_where}: padded memory got weight"
    assert np.allclose(np.sum(_w, axis=-1), 1.0, atol=1e-9), f"{_where}: rows of weights must sum to 1"
    assert np.all(np.asarray(_w)[0, :, _T_k - 1] > 0), \
        f"{_where}: every query may see the last memory position (no causal mask in cross-attention)"
    assert np.allclose(_w, _rw, rtol=1e-9, atol=1e-12), f"{_where}: wrong weights"
    assert np.allclose(_out, _ro, rtol=1e-9, atol=1e-12), f"{_where}: wrong output"
    _mem2 = _mem.copy()
    for _b in range(_B):
        _mem2[_b, _len[_b]:] = 100 * _rng.standard_normal((_T_k - _len[_b], _Cm))
    _out2, _ = cross_attention(_x, _mem2, _len, _Wq, _Wk, _Wv)
    assert np.allclose(_out2, _out, atol=1e-9), f"{_where}: changing padded memory changed the output"
    if _T_q > 1:
        _x2 = _x.copy()
        _x2[:, 0] = _rng.standard_normal((_B, _C))
        _out3, _ = cross_attention(_x2, _mem, _len, _Wq, _Wk, _Wv)
        assert np.allclose(np.asarray(_out3)[:, 1:], np.asarray(_out)[:, 1:], atol=1e-12), \
            f"{_where}: queries are independent; changing query 0 changed other outputs"
### END HIDDEN TESTS

# %% [markdown]
# The weights of a batch of two memories of lengths 6 and 3, read by 4 queries: full rows, no triangle,
# and nothing on the padded memory positions.

# %%
rng = np.random.default_rng(5)
x_dec = rng.standard_normal((2, 4, 6))   # (B, T_q, C)
memory = rng.standard_normal((2, 6, 5))  # (B, T_k, C_mem)
Wq_x, Wk_x, Wv_x = rng.standard_normal((6, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
_, w_cross = cross_attention(x_dec, memory, np.array([6, 3]), Wq_x, Wk_x, Wv_x)  # (B, T_q, T_k)
fig = plot.weights_panels(list(w_cross), ["memory length 6", "memory length 3 (3 padded)"],
                          suptitle="Cross-attention weights: rows are decoder queries, columns memory keys")
plt.show()

# %% [markdown]
# ## 6. Proving that nothing leaks from the future
#
# Pictures and row sums are good evidence, but the property a causal model must have can be tested
# directly: **changing the inputs after position t must never change an output at a position <= t.**
# Tests of this kind, which check a property on many random inputs instead of comparing with stored
# answers, catch bugs that hand-picked examples miss (the post-softmax bug above has the right zeros and
# leaks anyway).
#
# ### 6.1 Causal self-attention (2 points)
#
# One head of self-attention over a sequence: queries, keys and values are all projections of the same
# `x`, and the causal mask keeps each position to its past.

# %% nbgrader={"grade": false, "grade_id": "causal_self_attention", "locked": false, "solution": true, "schema_version": 3}
def causal_self_attention(x: np.ndarray, Wq: np.ndarray, Wk: np.ndarray, Wv: np.ndarray) -> np.ndarray:
    """Single-head causal self-attention: x (B, T, C), Wq and Wk (C, d_k), Wv (C, d_v) -> out (B, T, d_v).

    q = x Wq, k = x Wk, v = x Wv; the output at position t uses positions 0..t only. Scale by 1 / sqrt(d_k).
    """
    ### BEGIN SOLUTION
    T = x.shape[-2]
    q, k, v = x @ Wq, x @ Wk, x @ Wv  # (B, T, d_k), (B, T, d_k), (B, T, d_v)
    out, _ = masked_attention(q, k, v, causal_mask(T))
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_self_attention_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.masking.causal_self_attention(causal_self_attention)
### BEGIN HIDDEN TESTS
def _ref_causal(x, Wq, Wk, Wv):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    T = x.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(Wq.shape[1])
    s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ v


for _seed, (_B, _T, _C, _dk, _dv) in enumerate([(1, 1, 3, 2, 2), (2, 5, 4, 3, 2), (3, 9, 6, 4, 5), (1, 16, 8, 8, 8),
                                                (2, 7, 3, 5, 1)]):
    _rng = np.random.default_rng(308 + _seed)
    _x = _rng.standard_normal((_B, _T, _C))
    _Wq, _Wk, _Wv = _rng.standard_normal((_C, _dk)), _rng.standard_normal((_C, _dk)), _rng.standard_normal((_C, _dv))
    _out = np.asarray(causal_self_attention(_x, _Wq, _Wk, _Wv))
    _where = f"B {_B}, T {_T}, C {_C}, seed {308 + _seed}"
    assert _out.shape == (_B, _T, _dv), f"{_where}: expected shape {(_B, _T, _dv)}, got {_out.shape}"
    assert np.all(np.isfinite(_out)), f"{_where}: NaN or inf in the output"
    assert np.allclose(_out, _ref_causal(_x, _Wq, _Wk, _Wv), rtol=1e-9, atol=1e-12), f"{_where}: wrong values"
    for _t in range(_T - 1):  # the property: the future never changes the past
        _x2 = _x.copy()
        _x2[:, _t + 1:] = 3 * _rng.standard_normal((_B, _T - _t - 1, _C))
        _out2 = np.asarray(causal_self_attention(_x2, _Wq, _Wk, _Wv))
        assert np.allclose(_out2[:, : _t + 1], _out[:, : _t + 1], rtol=0, atol=1e-12), \
            f"{_where}: changing inputs after position {_t} changed outputs at positions <= {_t}"
    _x3 = _x.copy()
    _x3[:, -1] += 1.0
    assert not np.allclose(np.asarray(causal_self_attention(_x3, _Wq, _Wk, _Wv))[:, -1], _out[:, -1]), \
        f"{_where}: the last position must depend on its own input"
### END HIDDEN TESTS

# %% [markdown]
# ### 6.2 A test that finds leaks (2 points)
#
# Now write the property test itself, for any sequence function `seq_fn` that maps `x` of shape
# `(B, T, C)` to outputs of shape `(B, T, ...)`. Draw a random `x` with `np.random.default_rng(seed)`.
# Then, for every `t` from 0 to `T - 2`, give every position **after** `t` fresh random values, run
# `seq_fn` again and compare the outputs at positions `0..t` with the first run (`np.allclose`). Any
# difference is a leak.
#
# Popular wrong answers: changing position `t` too (the output at `t` may of course depend on the input at
# `t`), comparing all positions instead of `0..t`, changing the past instead of the future, and trying a
# single split point (a leak from position 1 into position 0 only shows up when you split at `t = 0`).

# %% nbgrader={"grade": false, "grade_id": "leaks_future", "locked": false, "solution": true, "schema_version": 3}
def leaks_future(seq_fn, B: int = 2, T: int = 6, C: int = 4, seed: int = 0) -> bool:
    """True when some output of seq_fn at a position t depends on an input at a position after t.

    seq_fn: a function from x (B, T, C) to an array (B, T, ...). Use random inputs from
    np.random.default_rng(seed); return a Python or NumPy bool.
    """
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C))
    base = np.asarray(seq_fn(x.copy()))
    for t in range(T - 1):
        x2 = x.copy()
        x2[:, t + 1:] = rng.standard_normal((B, T - t - 1, C))  # new values after position t only
        out = np.asarray(seq_fn(x2))
        if not np.allclose(out[:, : t + 1], base[:, : t + 1]):
            return True
    return False
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "leaks_future_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.masking.leaks_future(leaks_future)
### BEGIN HIDDEN TESTS
def _attention_fn(kind):
    def fn(x):
        T, C = x.shape[1], x.shape[2]
        r = np.random.default_rng(99)
        Wq, Wk, Wv = r.standard_normal((C, 3)), r.standard_normal((C, 3)), r.standard_normal((C, 3))
        q, k, v = x @ Wq, x @ Wk, x @ Wv
        s = q @ np.swapaxes(k, -1, -2) / np.sqrt(3)
        m = np.tril(np.ones((T, T), dtype=bool))
        if kind == "none":
            m = np.ones((T, T), dtype=bool)
        elif kind == "diag_plus_one":
            m = np.tril(np.ones((T, T), dtype=bool), k=1)
        elif kind == "one_into_zero" and T > 1:
            m = m.copy()
            m[0, 1] = True
        elif kind == "last_into_two" and T > 3:
            m = m.copy()
            m[2, T - 1] = True
        if kind == "after_softmax":
            e = np.exp(s - s.max(axis=-1, keepdims=True))
            return (e / e.sum(axis=-1, keepdims=True) * m) @ v
        s = np.where(m, s, -1e9 if kind == "big_negative" else -np.inf)
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)) @ v
    return fn


_expect = {"causal": False, "big_negative": False, "none": True, "diag_plus_one": True, "after_softmax": True,
           "one_into_zero": True, "last_into_two": True}
for _kind, _leaks in _expect.items():
    for _kw in ({}, {"B": 1, "T": 5, "C": 3, "seed": 4}, {"B": 3, "T": 8, "C": 2, "seed": 11}):
        _got = leaks_future(_attention_fn(_kind), **_kw)
        assert isinstance(_got, (bool, np.bool_)), f"expected a bool, got {type(_got).__name__}"
        assert bool(_got) == _leaks, f"attention with a '{_kind}' mask, {_kw or 'defaults'}: expected {_leaks}"
assert not leaks_future(_attention_fn("none"), T=1), "with T = 1 there is no future to leak from"
assert leaks_future(_attention_fn("none"), T=2, B=1, C=1), "T = 2: an unmasked attention leaks"


def _shift_two(x):
    out = x.copy()
    out[:, :-2] = x[:, 2:]
    return out


assert leaks_future(_shift_two, T=7), "each position copying the one two steps ahead leaks"
assert not leaks_future(lambda x: np.cumsum(x, axis=1) ** 2, T=9, seed=3), "a running sum does not leak"
### END HIDDEN TESTS

# %% [markdown]
# Your test, pointed at three versions of attention built from your own functions:

# %%
rng = np.random.default_rng(11)
C, d = 4, 3
Wq, Wk, Wv = (rng.standard_normal((C, d)) for _ in range(3))


def ours(x):
    return causal_self_attention(x, Wq, Wk, Wv)


def no_mask(x):
    return masked_attention(x @ Wq, x @ Wk, x @ Wv)[0]


def mask_after_softmax(x):
    _, w_all = masked_attention(x @ Wq, x @ Wk, x @ Wv)  # (B, T, T), unmasked
    return (w_all * causal_mask(x.shape[1])) @ (x @ Wv)  # the popular bug


T_long = env.size(48, 8)
for name, fn in [("causal_self_attention", ours), ("no mask", no_mask), ("mask after softmax", mask_after_softmax)]:
    print(f"{name:22} leaks the future (T = {T_long}): {leaks_future(fn, B=2, T=T_long, C=C)}")

# %% [markdown]
# ## Summary
#
# - A mask is a boolean `(T_q, T_k)` array, `True` where a query may attend to a key, broadcast over batch
#   and heads. Check which convention an API uses before passing one.
# - The causal mask is the lower triangle **with** its diagonal. Queries at the end of a longer sequence
#   (decoding with a cache) use the bottom-right aligned triangle: query i sees keys `0..T_k - T_q + i`;
#   one decode step needs no mask at all.
# - A mask acts on the **scores**, before the softmax: `-inf`, `-1e9` or `np.finfo(dtype).min` all work for
#   rows with a key. Multiplying the weights by the mask after the softmax breaks the row sums and leaks
#   the blocked keys through the normaliser.
# - Padding and causal masks combine with AND. A row with no allowed key is a real case (padded queries,
#   empty sequences) and must be given a defined result; here it is zero weights and a zero output. The
#   naive answers give NaN (`-inf`) or a silent average over keys that must stay hidden (`-1e9`).
# - Cross-attention has no causal mask between the two sequences, only the memory's padding mask.
# - "The future never changes the past" is a property you can test on random inputs, and it catches bugs
#   that hand-made examples miss.
#
# ## Going further
#
# - **Cost.** A causal mask blocks almost half of the `T × T` scores, yet a plain implementation computes
#   them all and throws them away. Fused kernels such as FlashAttention work on tiles and skip the tiles
#   that are entirely above the diagonal, which saves about half of the work for long sequences.
# - **Packed sequences.** Training pipelines often concatenate several documents into one row to avoid
#   padding. The right mask is then block-diagonal (each document causal, and blind to the others);
#   with a plain causal mask, documents leak into each other.
# - **Other shapes of mask.** Sliding-window (local) attention keeps a band below the diagonal; a
#   prefix-LM lets the prompt attend both ways and the continuation causally; ALiBi adds a distance-based
#   bias to the scores, an additive mask with values other than 0 and `-inf`.
# - **Left padding for generation.** When a batch of prompts is extended token by token, padding on the
#   left keeps the newest token of every sequence in the same column; the mask and the position ids must
#   then skip the pads at the start.
# - **In PyTorch.** `torch.nn.functional.scaled_dot_product_attention` takes a boolean `attn_mask` (True =
#   attend) or a float one (added to the scores) and `is_causal=True` (top-left aligned);
#   `torch.nn.attention.bias.causal_lower_right` gives the bottom-right version used with a cache.
#
# ## Practice quiz

# %%
from llmcourse import quiz

quiz.show("03_causal_masking")
