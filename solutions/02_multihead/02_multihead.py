# %% [markdown]
# # 02 · Multi-head attention
#
# One attention head computes one set of weights per query: a single opinion about which tokens matter.
# A Transformer layer runs several heads side by side, each with its own queries, keys and values, and
# mixes their answers at the end. This notebook builds that layer in NumPy and then looks at it with an
# inference engineer's eyes: how many parameters it holds, and how much memory its keys and values take
# while a model generates text — the reason modern models share keys and values between heads
# (grouped-query and multi-query attention).
#
# | section | graded exercise | points |
# |---|---|---|
# | 1 | `attention`: one head, with batch dimensions (warm-up) | 1 |
# | 2 | `split_heads`, `merge_heads`, and a question on what one head sees | 2 + 2 + 1 |
# | 3 | `multi_head_attention` with Wq, Wk, Wv, Wo and biases | 3 |
# | 4 | `grouped_query_attention` (GQA and MQA) | 3 |
# | 5 | `attention_param_count` | 2 |
# | 6 | `kv_cache_bytes`, and two questions on the cache | 2 + 2 |
#
# Total: 18 points. Each exercise is a function with a docstring; replace `raise NotImplementedError()` with
# your code and run the test cell under it. The visible check prints one line when it is happy; hidden tests
# (other shapes and seeds, comparisons with PyTorch, the usual wrong answers) run when your work is graded.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("02_multihead")

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from llmcourse import checks, env, plot, quiz

np.set_printoptions(precision=3, suppress=True, linewidth=110)

# %% [markdown]
# ## 1. Warm-up: one head
#
# Module 01 built scaled dot-product attention. Multi-head attention calls it once per head, and NumPy lets us
# do all heads at once if the function accepts any number of leading batch dimensions: with `q` of shape
# `(B, n_head, T_q, d_k)` the matrix product `q @ k.swapaxes(-1, -2)` is computed for every `(b, h)` pair.
#
# Rewrite it here from memory (it is short): scores `q @ kᵀ / sqrt(d_k)`, a numerically stable softmax over
# the **keys** (the last axis), then the weighted sum of the values.
#
# ### 1.1 Attention with batch dimensions (1 point)

# %% nbgrader={"grade": false, "grade_id": "attention", "locked": false, "solution": true, "schema_version": 3}
def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention over the last two axes, for any leading batch dimensions.

    q: (..., T_q, d_k)   k: (..., T_k, d_k)   v: (..., T_k, d_v)
    Returns (out, weights): out (..., T_q, d_v) and weights (..., T_q, T_k), each row of weights summing to 1.

    Hints: `np.swapaxes(k, -1, -2)` transposes the last two axes whatever comes before them; subtract the
    row maximum before `np.exp` (keepdims=True keeps the shapes broadcastable).
    """
    ### BEGIN SOLUTION
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)      # (..., T_q, T_k)
    scores = scores - scores.max(axis=-1, keepdims=True)    # largest score in each row becomes 0
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights                              # (..., T_q, d_v), (..., T_q, T_k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attention_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.multihead.attention(attention)
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

_rng = np.random.default_rng(101)
for _sq, _sk, _dv in [((3, 4), (5, 4), 2), ((2, 3, 6, 16), (2, 3, 9, 16), 8), ((4, 1, 32), (4, 7, 32), 32),
                      ((2, 2, 5, 9), (2, 2, 5, 9), 3)]:
    _q, _k = _rng.standard_normal(_sq), _rng.standard_normal(_sk)
    _v = _rng.standard_normal(_sk[:-1] + (_dv,))
    _out, _w = attention(_q.copy(), _k.copy(), _v.copy())
    _ref = F.scaled_dot_product_attention(torch.from_numpy(_q), torch.from_numpy(_k), torch.from_numpy(_v)).numpy()
    _s = _q @ np.swapaxes(_k, -1, -2) / math.sqrt(_sq[-1])
    _wref = np.exp(_s - _s.max(-1, keepdims=True))
    _wref /= _wref.sum(-1, keepdims=True)
    assert np.shape(_out) == _ref.shape and np.shape(_w) == _wref.shape, f"shapes for q {_sq}, k {_sk}"
    assert np.allclose(_out, _ref, atol=1e-10), f"out differs from torch's scaled_dot_product_attention for q {_sq}"
    assert np.allclose(_w, _wref, atol=1e-12), f"weights differ for q {_sq} (scale 1/sqrt(d_k), softmax over keys)"
# very large scores must not overflow (the max shift)
_q = np.array([[30.0, 0.0]])
_k = np.array([[50.0, 0.0], [50.0 + math.log(3.0) / 30 * math.sqrt(2.0), 0.0]])
_out, _w = attention(_q, _k, np.eye(2))
assert np.allclose(_w, [[0.25, 0.75]]), "scores near 1061 must still give weights [1/4, 3/4]"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Heads split the features, not the sequence
#
# A multi-head layer first projects every token to a query, a key and a value of width `C` (the model width),
# exactly as a single head of width `C` would. It then **cuts each of those vectors into `n_head` slices** of
# width `d_head = C // n_head`. Head `h` works on slice `h` of the queries, keys and values, and it does so for
# **every token of the sequence**: each head still compares every query with every key.
#
# A popular wrong answer — it appears in interview answers and even in some tutorials — is that "the heads
# split the input sequence into sub-sequences", as if head 0 read the first quarter of the text and head 1
# the second. Then no head could relate the first word to the last one, which is exactly what attention is
# for. The split is along the **feature axis**.
#
# In array terms, with `x` of shape `(B, T, C)`:
#
# 1. `reshape` to `(B, T, n_head, d_head)`: the last axis of length `C` is cut into `n_head` pieces of
#    `d_head` consecutive features. Nothing moves in memory; we only look at it differently.
# 2. `transpose` to `(B, n_head, T, d_head)`, so that each head is one batch item of the attention call
#    from section 1, holding a `(T, d_head)` matrix: all `T` positions, its `d_head` features.
#
# Merging undoes both steps in reverse order: transpose back to `(B, T, n_head, d_head)`, then reshape to
# `(B, T, C)`, so that token `t` gets the outputs of heads 0, 1, ... next to each other.
#
# The trap is to skip the transpose and reshape `(B, T, C)` straight to `(B, n_head, T, d_head)`. The shapes
# work out, NumPy raises no error, but the memory order is token-major, so the first "head" receives the
# first `T / n_head` tokens' features: the wrong answer above, produced by accident.
#
# ### 2.1 Split heads (2 points)

# %% nbgrader={"grade": false, "grade_id": "split_heads", "locked": false, "solution": true, "schema_version": 3}
def split_heads(x: np.ndarray, n_head: int) -> np.ndarray:
    """(B, T, C) -> (B, n_head, T, d_head) with d_head = C // n_head.

    out[b, h, t, :] is x[b, t, h*d_head:(h+1)*d_head]: head h holds its own slice of the features of every
    token. You may assume n_head divides C. Reshape first, then transpose (np.transpose or .transpose).
    """
    ### BEGIN SOLUTION
    B, T, C = x.shape
    d_head = C // n_head
    x = x.reshape(B, T, n_head, d_head)  # (B, T, n_head, d_head): cut the feature axis into heads
    return x.transpose(0, 2, 1, 3)       # (B, n_head, T, d_head)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "split_heads_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.multihead.split_heads(split_heads)
### BEGIN HIDDEN TESTS
import torch

_rng = np.random.default_rng(7)
# T == n_head in the first two cases, so a wrong reshape gives the right shape and only values can tell
for _B, _T, _C, _nh in [(2, 4, 8, 4), (3, 4, 12, 4), (2, 6, 6, 3), (1, 5, 10, 5), (2, 3, 12, 2), (1, 7, 12, 1)]:
    _x = _rng.standard_normal((_B, _T, _C))
    _keep = _x.copy()
    _got = np.asarray(split_heads(_x, _nh))
    _dh = _C // _nh
    assert np.array_equal(_x, _keep), "split_heads must not modify its input"
    assert _got.shape == (_B, _nh, _T, _dh), (
        f"x {(_B, _T, _C)}, n_head={_nh}: expected shape {(_B, _nh, _T, _dh)}, got {_got.shape}")
    for _h in range(_nh):
        assert np.array_equal(_got[:, _h], _x[:, :, _h * _dh:(_h + 1) * _dh]), (
            f"x {(_B, _T, _C)}, n_head={_nh}: head {_h} must hold features {_h * _dh}..{(_h + 1) * _dh - 1} "
            "of EVERY token (split the feature axis, then transpose)")
    _ref = torch.from_numpy(_x).view(_B, _T, _nh, _dh).transpose(1, 2).numpy()
    assert np.array_equal(_got, _ref)
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 Merge heads (2 points)

# %% nbgrader={"grade": false, "grade_id": "merge_heads", "locked": false, "solution": true, "schema_version": 3}
def merge_heads(h: np.ndarray) -> np.ndarray:
    """(B, n_head, T, d_head) -> (B, T, n_head * d_head), the inverse of split_heads.

    out[b, t, i*d_head:(i+1)*d_head] is h[b, i, t, :]: token t gets the outputs of heads 0, 1, ... side by side.
    Transpose first, then reshape.
    """
    ### BEGIN SOLUTION
    B, n_head, T, d_head = h.shape
    h = h.transpose(0, 2, 1, 3)                 # (B, T, n_head, d_head)
    return h.reshape(B, T, n_head * d_head)     # (B, T, C)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "merge_heads_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.multihead.merge_heads(merge_heads)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(8)
for _B, _nh, _T, _dh in [(2, 4, 4, 2), (3, 3, 5, 4), (1, 6, 2, 1), (2, 2, 7, 3), (1, 1, 3, 5), (2, 3, 3, 3)]:
    _hh = _rng.standard_normal((_B, _nh, _T, _dh))
    _got = np.asarray(merge_heads(_hh.copy()))
    assert _got.shape == (_B, _T, _nh * _dh), (
        f"heads {(_B, _nh, _T, _dh)}: expected shape {(_B, _T, _nh * _dh)}, got {_got.shape}")
    for _i in range(_nh):
        assert np.array_equal(_got[:, :, _i * _dh:(_i + 1) * _dh], _hh[:, _i]), (
            f"heads {(_B, _nh, _T, _dh)}: features {_i * _dh}..{(_i + 1) * _dh - 1} of token t must be head {_i}'s "
            "output for token t (transpose back before reshaping)")
    # round trip with a reference split written here
    _x = _rng.standard_normal((_B, _T, _nh * _dh))
    _split = _x.reshape(_B, _T, _nh, _dh).transpose(0, 2, 1, 3)
    assert np.array_equal(np.asarray(merge_heads(_split)), _x), "merge_heads(split(x)) must give x back"
### END HIDDEN TESTS

# %% [markdown]
# Look at what the two functions do to a tiny `x` whose entries spell out where they come from: token `t`,
# feature `c` holds `10 t + c`. With `n_head = 2`, head 1 gets features 4–7 of **all four** tokens. The cell
# also prints the tempting reshape without the transpose: its "head 1" is tokens 2 and 3, all eight features
# of each folded into two rows — half of the sequence, not half of the features.

# %%
T_demo, C_demo, n_head_demo = 4, 8, 2
x_demo = (10 * np.arange(T_demo)[:, None] + np.arange(C_demo)[None, :])[None]   # (1, T, C)
print("x[0] (token t, feature c holds 10 t + c):\n", x_demo[0])
print("\nsplit_heads(x, 2)[0, 1]  (head 1: every token, features 4..7):\n", split_heads(x_demo, n_head_demo)[0, 1])
wrong = x_demo.reshape(1, n_head_demo, T_demo, C_demo // n_head_demo)           # (1, n_head, T, d_head) - WRONG
print("\nreshape without transpose, 'head 1' (really tokens 2 and 3):\n", wrong[0, 1])
assert np.array_equal(merge_heads(split_heads(x_demo, n_head_demo)), x_demo)
print("\nmerge_heads(split_heads(x)) == x:", True)

# %% [markdown]
# ### 2.3 Question: what does one head see? (1 point)
#
# A model runs 4-head attention (no mask) over a sequence of `T = 12` tokens.
#
# * `keys_seen_by_one_head`: how many key positions can one query of head 2 attend to?
# * `heads_answer`: which statement is right?
#   * (a) head `h` receives a contiguous chunk of the sequence: tokens `h·T/n_head` to `(h+1)·T/n_head − 1`
#   * (b) head `h` receives every `n_head`-th token, starting with token `h`
#   * (c) head `h` receives every token, but only its own `d_head`-wide slice of the projected queries, keys
#     and values (columns `h·d_head` to `(h+1)·d_head − 1` of `x @ Wq`, `x @ Wk`, `x @ Wv`)
#   * (d) every head receives the same features of every token; the heads are copies that get averaged

# %% nbgrader={"grade": false, "grade_id": "heads_question", "locked": false, "solution": true, "schema_version": 3}
keys_seen_by_one_head = None   # a whole number
heads_answer = ""              # one of "a", "b", "c", "d"
### BEGIN SOLUTION
keys_seen_by_one_head = 12
heads_answer = "c"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "heads_question_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.multihead.heads_question(keys_seen_by_one_head, heads_answer)
### BEGIN HIDDEN TESTS
assert float(keys_seen_by_one_head) == 12, "every head attends over all T = 12 positions (12 // 4 = 3 is the trap)"
assert heads_answer.strip().lower() == "c", "heads split the feature axis: every token, one slice of features"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The multi-head attention layer
#
# **Weight layout used in this course.** Every projection is `y = x @ W + b` with `W` of shape
# `(C_in, C_out)` and `b` of shape `(C_out,)`. (PyTorch's `nn.Linear` stores the transpose, `(C_out, C_in)`,
# and computes `x @ weight.T + bias`.) A layer's parameters come as a dict:
#
# | key | shape | role |
# |---|---|---|
# | `Wq`, `bq` | `(C, C)`, `(C,)` | queries; columns `h·d_head … (h+1)·d_head − 1` belong to head `h` |
# | `Wk`, `bk` | `(C, C)`, `(C,)` | keys, same column layout |
# | `Wv`, `bv` | `(C, C)`, `(C,)` | values, same column layout |
# | `Wo`, `bo` | `(C, C)`, `(C,)` | output projection: rows `h·d_head …` read head `h`'s output |
#
# The forward pass, for `x` of shape `(B, T, C)`:
#
# 1. `q = x @ Wq + bq`, and the same for `k` and `v` — each `(B, T, C)`;
# 2. split each into heads — `(B, n_head, T, d_head)`;
# 3. attention in every head at once, with the scale `1 / sqrt(d_head)`;
# 4. merge the heads — `(B, T, C)` — and apply the output projection `@ Wo + bo`.
#
# Two popular mistakes. **Scaling by `1/sqrt(C)`**: the scale exists to keep the variance of one head's dot
# products near 1, and a head's dot product sums `d_head` terms, not `C`. **Dropping `Wo`**: without it,
# output feature `i` would only ever contain head `i // d_head`'s answer; `Wo` is where the heads' findings
# get combined, and it is a full `C × C` matrix of parameters.
#
# PyTorch's `nn.MultiheadAttention` stores `Wq`, `Wk`, `Wv` as one `(3C, C)` tensor, `in_proj_weight`, which in
# our layout is `np.concatenate([Wq.T, Wk.T, Wv.T])`; the hidden tests load your parameters into it that way.
#
# ### 3.1 Multi-head attention (3 points)

# %% nbgrader={"grade": false, "grade_id": "multi_head_attention", "locked": false, "solution": true, "schema_version": 3}
def multi_head_attention(x: np.ndarray, params: dict[str, np.ndarray],
                         n_head: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head self-attention (no mask) of x: (B, T, C) with the params layout of the table above.

    Returns (out, weights): out (B, T, C) and weights (B, n_head, T, T), the attention weights of each head.
    Use your attention, split_heads and merge_heads. Do not modify params.
    """
    ### BEGIN SOLUTION
    q = x @ params["Wq"] + params["bq"]      # (B, T, C)
    k = x @ params["Wk"] + params["bk"]      # (B, T, C)
    v = x @ params["Wv"] + params["bv"]      # (B, T, C)
    q = split_heads(q, n_head)               # (B, n_head, T, d_head)
    k = split_heads(k, n_head)               # (B, n_head, T, d_head)
    v = split_heads(v, n_head)               # (B, n_head, T, d_head)
    out, weights = attention(q, k, v)        # (B, n_head, T, d_head), (B, n_head, T, T); scale 1/sqrt(d_head)
    out = merge_heads(out)                   # (B, T, C)
    return out @ params["Wo"] + params["bo"], weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "multi_head_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.multihead.multi_head_attention(multi_head_attention)
### BEGIN HIDDEN TESTS
import torch

_rng = np.random.default_rng(202)


def _random_params(C_in, C_kv, rng):
    """Moderate random weights (unit-variance projections) and non-zero biases."""
    return {"Wq": rng.standard_normal((C_in, C_in)) / math.sqrt(C_in), "bq": 0.5 * rng.standard_normal(C_in),
            "Wk": rng.standard_normal((C_in, C_kv)) / math.sqrt(C_in), "bk": 0.5 * rng.standard_normal(C_kv),
            "Wv": rng.standard_normal((C_in, C_kv)) / math.sqrt(C_in), "bv": 0.5 * rng.standard_normal(C_kv),
            "Wo": rng.standard_normal((C_in, C_in)) / math.sqrt(C_in), "bo": 0.5 * rng.standard_normal(C_in)}


for _B, _T, _C, _nh in [(2, 6, 12, 3), (1, 4, 16, 4), (3, 5, 8, 1), (2, 3, 6, 6), (2, 4, 32, 4), (1, 8, 24, 8)]:
    _x = _rng.standard_normal((_B, _T, _C))
    _p = _random_params(_C, _C, _rng)
    _mha = torch.nn.MultiheadAttention(_C, _nh, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():
        _mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([_p["Wq"].T, _p["Wk"].T, _p["Wv"].T])))
        _mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([_p["bq"], _p["bk"], _p["bv"]])))
        _mha.out_proj.weight.copy_(torch.from_numpy(_p["Wo"].T))
        _mha.out_proj.bias.copy_(torch.from_numpy(_p["bo"]))
        _xt = torch.from_numpy(_x)
        _ref_out, _ref_w = _mha(_xt, _xt, _xt, need_weights=True, average_attn_weights=False)
    _pcopy = {_n: _a.copy() for _n, _a in _p.items()}
    _out, _w = multi_head_attention(_x.copy(), _pcopy, _nh)
    assert all(np.array_equal(_pcopy[_n], _p[_n]) for _n in _p), "multi_head_attention must not modify params"
    assert np.shape(_out) == (_B, _T, _C), f"out shape for x {_x.shape}, n_head {_nh}: {np.shape(_out)}"
    assert np.shape(_w) == (_B, _nh, _T, _T), f"weights shape for x {_x.shape}, n_head {_nh}: {np.shape(_w)}"
    assert np.allclose(_w, _ref_w.numpy(), atol=1e-9), (
        f"x {_x.shape}, n_head={_nh}: per-head weights differ from torch.nn.MultiheadAttention "
        "(split along features, scale 1/sqrt(d_head), biases bq/bk)")
    assert np.allclose(_out, _ref_out.numpy(), atol=1e-9), (
        f"x {_x.shape}, n_head={_nh}: output differs from torch.nn.MultiheadAttention "
        "(biases bv/bo, output projection Wo)")
# float32 inputs work too
_x = _rng.standard_normal((2, 5, 8)).astype(np.float32)
_p = {_n: _a.astype(np.float32) for _n, _a in _random_params(8, 8, _rng).items()}
_out32, _ = multi_head_attention(_x, _p, 2)
_out64, _ = multi_head_attention(_x.astype(np.float64), {_n: _a.astype(np.float64) for _n, _a in _p.items()}, 2)
assert np.allclose(_out32, _out64, atol=1e-4), "float32 input should give (nearly) the float64 result"
### END HIDDEN TESTS

# %% [markdown]
# ### Looking at several heads at once
#
# With random weights every head's map looks like noise. To see what "several opinions" means, the next cell
# builds weights by hand for a 4-head layer (`C = 64`, `d_head = 16`) over the characters of a short sentence.
# Each token's vector `x` holds three kinds of features:
#
# * features 0–15: a random unit code for the character (the same letter always gets the same code);
# * features 16–31: a code for the position — cosines and sines of the position at 8 frequencies;
# * feature 32: 1 for a space or a full stop, else 0.
#
# Each head reads different features through its own columns of `Wq` and `Wk`:
#
# * head 0 compares character codes: a query matches keys **with the same character**;
# * head 1 compares a query's position code, rotated back by one step, with the keys' position codes (a
#   rotation of the (cos, sin) pairs shifts a position): it looks at **the previous token**;
# * head 2 does the same with a rotation forward: **the next token**;
# * head 3 has a constant query (through its bias `bq`) and keys that only see feature 32: every token looks
#   at **the word boundaries**.
#
# All four heads receive all the tokens; they differ only in which features their projections read. A trained
# model learns such projections instead of having them written by hand, and real heads are rarely this clean.

# %%
sentence = "the fox saw the dog."
T_s, C_s, n_head_s, d_head_s = len(sentence), 64, 4, 16
rng = np.random.default_rng(0)
chars = sorted(set(sentence))
codes = rng.standard_normal((len(chars), 16))
codes /= np.linalg.norm(codes, axis=1, keepdims=True)                      # (n_chars, 16) unit vectors
freqs = np.geomspace(2.0, 0.15, 8)                                           # (8,) radians per position
angles = np.arange(T_s)[:, None] * freqs[None, :]                            # (T, 8)
x_s = np.zeros((1, T_s, C_s))                                                # (1, T, C)
x_s[0, :, 0:16] = codes[[chars.index(ch) for ch in sentence]]               # character code
x_s[0, :, 16:32] = np.concatenate([np.cos(angles), np.sin(angles)], axis=1) / np.sqrt(8)  # position code
x_s[0, :, 32] = [1.0 if ch in " ." else 0.0 for ch in sentence]              # word-boundary flag


def shift_rotation(steps: float) -> np.ndarray:
    """(16, 16) matrix R with pos_code(t) @ R = pos_code(t + steps) for the (cos, sin) code above."""
    c, s = np.cos(steps * freqs), np.sin(steps * freqs)
    R = np.zeros((16, 16))
    R[np.arange(8), np.arange(8)], R[np.arange(8) + 8, np.arange(8) + 8] = c, c
    R[np.arange(8), np.arange(8) + 8], R[np.arange(8) + 8, np.arange(8)] = s, -s
    return R


sharp = 7.0 * np.sqrt(d_head_s)        # undoes the 1/sqrt(d_head) scale and makes each match a sharp peak
hand = {name: np.zeros((C_s, C_s)) for name in ("Wq", "Wk", "Wv", "Wo")}
hand.update({name: np.zeros(C_s) for name in ("bq", "bk", "bv", "bo")})
cols = [slice(h * d_head_s, (h + 1) * d_head_s) for h in range(n_head_s)]   # each head's columns
hand["Wq"][0:16, cols[0]], hand["Wk"][0:16, cols[0]] = sharp * np.eye(16), np.eye(16)          # same character
hand["Wq"][16:32, cols[1]], hand["Wk"][16:32, cols[1]] = sharp * shift_rotation(-1), np.eye(16)  # previous
hand["Wq"][16:32, cols[2]], hand["Wk"][16:32, cols[2]] = sharp * shift_rotation(+1), np.eye(16)  # next
hand["bq"][cols[3].start], hand["Wk"][32, cols[3].start] = sharp, 1.0                           # boundaries
hand["Wv"], hand["Wo"] = np.eye(C_s), np.eye(C_s)

# %%
out_s, weights_s = multi_head_attention(x_s, hand, n_head_s)               # (1, T, C), (1, n_head, T, T)
fig = plot.head_maps(weights_s[0], list(sentence),
                     titles=["head 0: same character", "head 1: previous token", "head 2: next token",
                             "head 3: word boundaries"],
                     suptitle="Four heads, one input: each row is a query, each column a key")
plt.show()

# %% [markdown]
# Two things to notice. Every map is a full `T × T` matrix: each head relates every position to every other.
# And the first token has no predecessor: head 1 settles on the nearest position it can find, the token itself
# (and head 2 does the same for the last token).
#
# A side fact that interviewers like: **the key bias `bk` does nothing.** It adds `q_i · bk` to every score in
# row `i`, the same constant for all keys, and the softmax ignores constants added to a whole row. Some models
# drop it for that reason; the value and output biases do change the result.
#
# Cost does not depend on the number of heads either. The four projections take `2 · 4 · B · T · C²` FLOPs
# (a multiply-add counted as 2) for any `n_head`, and the scores `q kᵀ` plus the weighted sum of the values take
# `2 · 2 · B · n_head · T² · d_head = 4 · B · T² · C`. More heads give more, narrower opinions for the same price.

# %% [markdown]
# ## 4. Sharing keys and values: grouped-query and multi-query attention
#
# When a model generates text one token at a time it keeps the keys and values of all earlier tokens (the
# **KV cache**, built in module 05) instead of recomputing them. With long contexts that cache, not the
# weights, fills the accelerator's memory, and every decoding step must read all of it. Section 6 puts
# numbers on this.
#
# The cure is to have fewer key/value heads than query heads:
#
# * **multi-query attention (MQA)**: one key head and one value head, shared by all `n_head` query heads;
# * **grouped-query attention (GQA)**: `n_kv_head` key/value heads; the query heads form `n_kv_head` groups of
#   `group = n_head // n_kv_head` and each group shares one key/value head. `n_kv_head = n_head` is ordinary
#   multi-head attention and `n_kv_head = 1` is MQA, so GQA covers all three.
#
# **Which query head uses which key/value head?** The standard (contiguous) mapping: query head `h` uses
# key/value head `h // group`. With `n_head = 8` and `n_kv_head = 2`, heads 0–3 share kv head 0 and heads
# 4–7 share kv head 1. This is what `np.repeat(k, group, axis=1)` (each kv head repeated `group` times in a
# row) produces, and what PyTorch's `scaled_dot_product_attention(..., enable_gqa=True)` and the published GQA
# checkpoints use. The trap is `np.tile(k, (1, group, 1, 1))`, which interleaves: query head `h` would use
# kv head `h % n_kv_head`. It runs without error and gives a different model, so a checkpoint loaded that way
# silently produces garbage.
#
# Layout: `Wq`, `bq`, `Wo`, `bo` as before; `Wk` and `Wv` now have shape `(C, n_kv_head · d_head)` and their
# biases `(n_kv_head · d_head,)`, with `d_head = C // n_head` still set by the query heads.
#
# ### 4.1 Grouped-query attention (3 points)

# %% nbgrader={"grade": false, "grade_id": "grouped_query_attention", "locked": false, "solution": true, "schema_version": 3}
def grouped_query_attention(x: np.ndarray, params: dict[str, np.ndarray], n_head: int,
                            n_kv_head: int) -> tuple[np.ndarray, np.ndarray]:
    """Grouped-query self-attention of x: (B, T, C); query head h uses key/value head h // (n_head // n_kv_head).

    params: Wq (C, C), bq (C,), Wk and Wv (C, n_kv_head * d_head), bk and bv (n_kv_head * d_head,),
    Wo (C, C), bo (C,), with d_head = C // n_head.
    Returns (out, weights): out (B, T, C) and weights (B, n_head, T, T).
    When n_kv_head does not divide n_head, raise ValueError(f"n_kv_head={n_kv_head} must divide n_head={n_head}")
    before doing anything else.
    """
    ### BEGIN SOLUTION
    if n_head % n_kv_head != 0:
        raise ValueError(f"n_kv_head={n_kv_head} must divide n_head={n_head}")
    group = n_head // n_kv_head
    q = split_heads(x @ params["Wq"] + params["bq"], n_head)       # (B, n_head, T, d_head)
    k = split_heads(x @ params["Wk"] + params["bk"], n_kv_head)    # (B, n_kv_head, T, d_head)
    v = split_heads(x @ params["Wv"] + params["bv"], n_kv_head)    # (B, n_kv_head, T, d_head)
    k = np.repeat(k, group, axis=1)     # (B, n_head, T, d_head): heads j*group .. (j+1)*group-1 get kv head j
    v = np.repeat(v, group, axis=1)     # (B, n_head, T, d_head)
    out, weights = attention(q, k, v)   # (B, n_head, T, d_head), (B, n_head, T, T)
    return merge_heads(out) @ params["Wo"] + params["bo"], weights
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "grouped_query_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.multihead.grouped_query_attention(grouped_query_attention)
### BEGIN HIDDEN TESTS
import torch
import torch.nn.functional as F

_rng = np.random.default_rng(303)


def _random_params(C_in, C_kv, rng):
    """Moderate random weights (unit-variance projections) and non-zero biases."""
    return {"Wq": rng.standard_normal((C_in, C_in)) / math.sqrt(C_in), "bq": 0.5 * rng.standard_normal(C_in),
            "Wk": rng.standard_normal((C_in, C_kv)) / math.sqrt(C_in), "bk": 0.5 * rng.standard_normal(C_kv),
            "Wv": rng.standard_normal((C_in, C_kv)) / math.sqrt(C_in), "bv": 0.5 * rng.standard_normal(C_kv),
            "Wo": rng.standard_normal((C_in, C_in)) / math.sqrt(C_in), "bo": 0.5 * rng.standard_normal(C_in)}


for _B, _T, _C, _nh, _nkv in [(2, 5, 16, 4, 2), (1, 6, 24, 6, 3), (2, 4, 16, 8, 2), (2, 5, 12, 4, 1),
                              (1, 3, 12, 3, 3), (1, 7, 32, 8, 4)]:
    _dh = _C // _nh
    _x = _rng.standard_normal((_B, _T, _C))
    _p = _random_params(_C, _nkv * _dh, _rng)
    _xt = {_n: torch.from_numpy(_a) for _n, _a in _p.items()}
    _xx = torch.from_numpy(_x)
    _q = (_xx @ _xt["Wq"] + _xt["bq"]).view(_B, _T, _nh, _dh).transpose(1, 2)
    _k = (_xx @ _xt["Wk"] + _xt["bk"]).view(_B, _T, _nkv, _dh).transpose(1, 2)
    _v = (_xx @ _xt["Wv"] + _xt["bv"]).view(_B, _T, _nkv, _dh).transpose(1, 2)
    _o = F.scaled_dot_product_attention(_q, _k, _v, enable_gqa=True)
    _ref_out = ((_o.transpose(1, 2).reshape(_B, _T, _C)) @ _xt["Wo"] + _xt["bo"]).numpy()
    _qn, _kn = _q.numpy(), _k.numpy()
    _ref_w = np.empty((_B, _nh, _T, _T))
    for _h in range(_nh):
        _s = _qn[:, _h] @ np.swapaxes(_kn[:, _h // (_nh // _nkv)], -1, -2) / math.sqrt(_dh)
        _e = np.exp(_s - _s.max(-1, keepdims=True))
        _ref_w[:, _h] = _e / _e.sum(-1, keepdims=True)
    _pcopy = {_n: _a.copy() for _n, _a in _p.items()}
    _out, _w = grouped_query_attention(_x.copy(), _pcopy, _nh, _nkv)
    assert all(np.array_equal(_pcopy[_n], _p[_n]) for _n in _p), "grouped_query_attention must not modify params"
    assert np.shape(_out) == (_B, _T, _C), f"out shape, n_head={_nh}, n_kv_head={_nkv}: {np.shape(_out)}"
    assert np.shape(_w) == (_B, _nh, _T, _T), f"weights shape, n_head={_nh}, n_kv_head={_nkv}: {np.shape(_w)}"
    for _h in range(_nh):
        assert np.allclose(np.asarray(_w)[:, _h], _ref_w[:, _h], atol=1e-9), (
            f"n_head={_nh}, n_kv_head={_nkv}: query head {_h} must use kv head {_h // (_nh // _nkv)} "
            f"(contiguous groups, h // group; not h % n_kv_head), with scale 1/sqrt(d_head)")
    assert np.allclose(_out, _ref_out, atol=1e-9), (
        f"n_head={_nh}, n_kv_head={_nkv}: output differs from torch scaled_dot_product_attention(enable_gqa=True)")
# a clear error when n_kv_head does not divide n_head
for _nh, _nkv in [(4, 3), (6, 4), (2, 4), (8, 3)]:
    _dh = 24 // _nh
    _p = _random_params(24, _nkv * _dh, _rng)
    try:
        grouped_query_attention(_rng.standard_normal((1, 3, 24)), _p, _nh, _nkv)
    except ValueError as _exc:
        assert "divi" in str(_exc).lower(), f"n_head={_nh}, n_kv_head={_nkv}: the message should say it must divide"
    else:
        raise AssertionError(f"n_head={_nh}, n_kv_head={_nkv} must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# Two sanity checks on your function: with `n_kv_head = n_head` it must reproduce `multi_head_attention`
# exactly, and with `n_kv_head = 1` all eight query heads read one shared key/value head.

# %%
rng = np.random.default_rng(4)
B_r, T_r, C_r, n_head_r = 2, env.size(64, 8), 32, 8
d_head_r = C_r // n_head_r
x_r = rng.standard_normal((B_r, T_r, C_r))                                   # (B, T, C)
p_r = {name: rng.standard_normal((C_r, C_r)) / np.sqrt(C_r) for name in ("Wq", "Wk", "Wv", "Wo")}
p_r.update({name: 0.1 * rng.standard_normal(C_r) for name in ("bq", "bk", "bv", "bo")})
out_gqa, _ = grouped_query_attention(x_r, p_r, n_head_r, n_head_r)
out_mha, _ = multi_head_attention(x_r, p_r, n_head_r)
same = np.allclose(out_gqa, out_mha)
print("GQA with n_kv_head = n_head equals MHA:", same)
p_mqa = dict(p_r, Wk=p_r["Wk"][:, :d_head_r], bk=p_r["bk"][:d_head_r],    # keep kv head 0 only: (C, d_head)
             Wv=p_r["Wv"][:, :d_head_r], bv=p_r["bv"][:d_head_r])
out_mqa, w_mqa = grouped_query_attention(x_r, p_mqa, n_head_r, 1)
print("MQA: output", out_mqa.shape, "weights", w_mqa.shape, "(one key/value head, still 8 query heads)")

# %% [markdown]
# ## 5. Counting parameters
#
# Interviewers often ask how many parameters an attention layer has, and whether more heads mean more
# parameters. Count the entries of `Wq`, `Wk`, `Wv`, `Wo` and (when `bias=True`) of their biases, for the
# layout of section 4 (`n_kv_head=None` means `n_kv_head = n_head`, plain multi-head attention).
#
# Wrong answers to avoid: giving every head its own full `C × C` projections (`n_head` times too many);
# forgetting `Wo`; forgetting that with GQA `Wk` and `Wv` shrink to `C × (n_kv_head · d_head)`.
#
# ### 5.1 Parameter count (2 points)

# %% nbgrader={"grade": false, "grade_id": "attention_param_count", "locked": false, "solution": true, "schema_version": 3}
def attention_param_count(C: int, n_head: int, n_kv_head: int | None = None, bias: bool = True) -> int:
    """Number of parameters in one attention layer (Wq, Wk, Wv, Wo and, if bias, bq, bk, bv, bo).

    d_head = C // n_head; Wk and Wv are (C, n_kv_head * d_head); n_kv_head=None means n_kv_head = n_head.
    Returns an int.
    """
    ### BEGIN SOLUTION
    n_kv_head = n_head if n_kv_head is None else n_kv_head
    C_kv = n_kv_head * (C // n_head)              # width of the keys (and of the values)
    count = C * C + 2 * C * C_kv + C * C          # Wq, Wk + Wv, Wo
    if bias:
        count += C + 2 * C_kv + C                 # bq, bk + bv, bo
    return int(count)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attention_param_count_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.multihead.attention_param_count(attention_param_count)
### BEGIN HIDDEN TESTS
import torch


def _ref_count(C_, nh, nkv=None, bias=True):
    nkv = nh if nkv is None else nkv
    ckv = nkv * (C_ // nh)
    return 2 * C_ * C_ + 2 * C_ * ckv + ((2 * C_ + 2 * ckv) if bias else 0)


for _C, _nh, _nkv, _bias in [(12, 3, None, True), (12, 3, None, False), (12, 6, 2, True), (8192, 64, 8, False),
                             (8192, 64, 8, True), (2048, 16, 1, True), (768, 12, 12, True), (768, 12, 4, False)]:
    _got = attention_param_count(_C, _nh, n_kv_head=_nkv, bias=_bias)
    assert float(_got) == _ref_count(_C, _nh, _nkv, _bias), (
        f"C={_C}, n_head={_nh}, n_kv_head={_nkv}, bias={_bias}: "
        f"expected {_ref_count(_C, _nh, _nkv, _bias)}, got {_got}")
for _C, _nh, _bias in [(16, 4, True), (16, 4, False), (96, 1, True)]:
    _m = torch.nn.MultiheadAttention(_C, _nh, bias=_bias)
    _torch_count = sum(_t.numel() for _t in _m.parameters())
    assert float(attention_param_count(_C, _nh, bias=_bias)) == _torch_count, f"torch counts {_torch_count} for C={_C}"
assert float(attention_param_count(512, 1)) == float(attention_param_count(512, 64)), "the head count does not matter"
### END HIDDEN TESTS

# %% [markdown]
# For a layer shaped like Llama-2-7B's (`C = 4096`, 32 heads, no biases), switching to GQA with 8 kv heads
# shrinks `Wk` and `Wv` to a quarter, which removes 3/8 of the attention weights (and none of the MLP's, which
# are more numerous). The memory it saves in the **cache** is a different story: section 6.

# %%
C_big, n_head_big = 4096, 32
for name, n_kv in [("MHA (32 kv heads)", 32), ("GQA-8", 8), ("MQA (1 kv head)", 1)]:
    n = attention_param_count(C_big, n_head_big, n_kv, bias=False)
    print(f"{name:18s} {n / 1e6:6.1f} M parameters per attention layer")

# %% [markdown]
# ## 6. The KV cache: MHA vs GQA vs MQA
#
# During generation each layer stores, for every token seen so far, one key and one value vector per **kv
# head**, each of width `d_head`. So the cache takes, per token,
#
# `2 (K and V) × n_layer × n_kv_head × d_head × bytes per value`,
#
# times the number of tokens and the batch size. The usual mistakes: forgetting the factor 2 (there are keys
# **and** values); using `n_head` where the cache only holds `n_kv_head` heads; and mixing bits and bytes
# (fp16 is 16 bits = 2 bytes per value).
#
# ### 6.1 KV-cache size (2 points)

# %% nbgrader={"grade": false, "grade_id": "kv_cache_bytes", "locked": false, "solution": true, "schema_version": 3}
def kv_cache_bytes(n_layer: int, C: int, n_head: int, n_kv_head: int, n_tokens: int = 1, B: int = 1,
                   bits: int = 16) -> float:
    """Bytes of KV cache for B sequences of n_tokens tokens each, values stored with `bits` bits each.

    d_head = C // n_head. With the defaults (one token, batch 1, fp16) this is the cache size per token.
    """
    ### BEGIN SOLUTION
    d_head = C // n_head
    per_token = 2 * n_layer * n_kv_head * d_head * bits / 8    # K and V, every layer, every kv head
    return per_token * n_tokens * B
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "kv_cache_bytes_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.multihead.kv_cache_bytes(kv_cache_bytes)
### BEGIN HIDDEN TESTS
for _args, _kw in [((80, 8192, 64, 8), {}), ((80, 8192, 64, 8), {"n_tokens": 4096, "B": 8}),
                   ((24, 2048, 16, 16), {"bits": 32}), ((24, 2048, 16, 4), {"bits": 8, "n_tokens": 1000}),
                   ((32, 4096, 32, 1), {"n_tokens": 131072}), ((12, 768, 12, 12), {"bits": 4, "n_tokens": 7, "B": 5}),
                   ((2, 96, 6, 3), {"n_tokens": 3, "B": 2, "bits": 16})]:
    _nl, _C, _nh, _nkv = _args
    _expected = 2 * _nl * _nkv * (_C // _nh) * _kw.get("n_tokens", 1) * _kw.get("B", 1) * _kw.get("bits", 16) / 8
    _got = kv_cache_bytes(*_args, **_kw)
    assert math.isclose(float(_got), _expected, rel_tol=1e-12), (
        f"kv_cache_bytes{_args} {_kw}: expected {_expected:g}, got {_got}")
### END HIDDEN TESTS

# %% [markdown]
# Here is the named example: a model shaped like Llama-2-7B (32 layers, 32 heads, `C = 4096`, `d_head = 128`)
# holding a 32k-token context in fp16, with its original multi-head attention, with GQA-8 (the shape of
# Mistral-7B's attention) and with MQA. For scale, the fp16 weights of a 6.7-billion-parameter model take
# about 12.6 GiB.

# %%
n_layer_big, ctx = 32, 32_768
weights_bytes = 6.7e9 * 2
configs = {"MHA (32 kv heads)": 32, "GQA-8 (8 kv heads)": 8, "MQA (1 kv head)": 1}
print(f"{'':20s} {'per token':>12s} {'32k context':>12s}")
for name, n_kv in configs.items():
    per_token = kv_cache_bytes(n_layer_big, C_big, n_head_big, n_kv)
    full = kv_cache_bytes(n_layer_big, C_big, n_head_big, n_kv, n_tokens=ctx)
    print(f"{name:20s} {per_token / 2**10:8.0f} KiB {full / 2**30:8.2f} GiB")

contexts = 2 ** np.arange(10, 18)                                             # 1k .. 128k tokens
curves = {name: np.array([kv_cache_bytes(n_layer_big, C_big, n_head_big, n_kv, n_tokens=int(t)) for t in contexts])
          for name, n_kv in configs.items()}
fig = plot.kv_cache_curves(contexts, curves, reference=("fp16 weights of a 6.7B model", weights_bytes),
                           title="KV cache of one sequence: 32 layers, 32 query heads, d_head 128, fp16")
plt.show()

# %% [markdown]
# At 32k tokens the multi-head cache (16 GiB) is larger than the model itself, for a single sequence; a batch
# of 8 such sequences would need 128 GiB. GQA-8 divides that by 4 and MQA by 32. Because decoding reads the
# whole cache at every step, the same factors apply to the memory traffic per generated token (module 06
# turns this into time). The price is quality: sharing keys and values removes capacity, and GQA with a few
# kv heads keeps most of MHA's quality while MQA loses more — which is why GQA became the common choice.
#
# ### 6.2 Questions on the cache (2 points)
#
# * `kv_head_of_query_13`: a GQA layer has `n_head = 32` and `n_kv_head = 8` (standard grouping). Which kv head,
#   counting from 0, does query head 13 read?
# * `kv_cache_gib_70b`: a model shaped like Llama-2-70B has 80 layers, `C = 8192`, 64 query heads and 8 kv
#   heads, and keeps its cache in fp16. How many GiB (2³⁰ bytes) of KV cache does a batch of 8 sequences of
#   4096 tokens each need? (You may use your `kv_cache_bytes`.)

# %% nbgrader={"grade": false, "grade_id": "cache_questions", "locked": false, "solution": true, "schema_version": 3}
kv_head_of_query_13 = None   # a whole number
kv_cache_gib_70b = None      # a number of GiB
### BEGIN SOLUTION
kv_head_of_query_13 = 13 // (32 // 8)
kv_cache_gib_70b = kv_cache_bytes(80, 8192, 64, 8, n_tokens=4096, B=8) / 2**30
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "cache_questions_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.multihead.cache_questions(kv_head_of_query_13, kv_cache_gib_70b)
### BEGIN HIDDEN TESTS
assert float(kv_head_of_query_13) == 3, "contiguous groups of 32 // 8 = 4: head 13 is in group 13 // 4 = 3 (not 13 % 8)"
# 2 * 80 layers * 8 kv heads * 128 * 2 bytes = 327680 bytes per token, times 4096 * 8 tokens = 10 GiB
assert math.isclose(float(kv_cache_gib_70b), 10.0, rel_tol=0.01), "expected 10 GiB (K and V, 8 kv heads, 2 bytes, 2^30)"
### END HIDDEN TESTS

# %% [markdown]
# ## Practice quiz
#
# Not graded: pick an answer, press Check, and read why each option is right or wrong.

# %%
quiz.show("02_multihead")

# %% [markdown]
# ## Summary
#
# * A multi-head layer projects every token to queries, keys and values of width `C`, cuts the **feature axis**
#   into `n_head` slices of `d_head = C // n_head`, runs attention in each slice over **all** positions, merges
#   the slices back and mixes them with `Wo`. Heads never split the sequence.
# * In arrays: `reshape(B, T, n_head, d_head)` then `transpose(0, 2, 1, 3)`; merging is the reverse. Reshaping
#   straight to `(B, n_head, T, d_head)` has the right shape and the wrong contents.
# * The scale is `1 / sqrt(d_head)`. The key bias cancels in the softmax; the value and output biases do not.
# * Parameters: `4 C²` weights plus `4 C` biases, whatever `n_head` is; FLOPs do not depend on `n_head` either.
# * GQA shares each key/value head among `n_head // n_kv_head` consecutive query heads (head `h` uses kv head
#   `h // group`); MQA is `n_kv_head = 1`, MHA is `n_kv_head = n_head`.
# * KV cache per token: `2 × n_layer × n_kv_head × d_head × bytes`. At long contexts it outgrows the weights,
#   and GQA / MQA shrink it by `n_head / n_kv_head`.
#
# ## Going further
#
# * Vaswani et al., "Attention Is All You Need" (2017), section 3.2.2, introduced multi-head attention.
# * Shazeer, "Fast Transformer Decoding: One Write-Head is All You Need" (2019), introduced multi-query
#   attention and argued from memory bandwidth, as section 6 does.
# * Ainslie et al., "GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints"
#   (2023): grouped-query attention, and how to turn an MHA checkpoint into a GQA one by averaging the key and
#   value heads of each group, then training briefly. Try it: build GQA parameters from `p_r` above by
#   averaging `Wk`'s column blocks within each group, and measure how far the output moves.
# * Other ways to shrink the cache: storing it in 8 or 4 bits (module 07 quantizes), keeping only a sliding
#   window of recent tokens, or compressing keys and values into a small shared latent vector (DeepSeek-V2's
#   multi-head latent attention).
# * Module 03 adds masks (causal and padding) to this layer; module 04 stacks it into a whole GPT; module 05
#   builds the KV cache whose size you just computed.
