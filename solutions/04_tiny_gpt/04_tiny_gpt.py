# %% [markdown]
# # 04 · The tiny GPT, in NumPy
#
# Modules 01 to 03 built attention: scores, softmax, heads, masks. This module puts attention inside a
# whole language model and runs it. By the end you will have written, in plain NumPy, every line of a
# decoder-only GPT, loaded the course's trained checkpoint into it, checked that your logits equal the
# PyTorch reference up to float32 rounding, measured how well it predicts held-out text, and made it
# write, greedily and with the sampling tricks every LLM server offers (temperature, top-k, top-p).
#
# The model is small on purpose: 4 layers, 4 heads, width 128, a context of 128 characters, about
# 0.8 million parameters, trained by `make model` (the script is `llmcourse/train.py`) in 10 to 20
# minutes on a two-core CPU. It reads and writes characters of the course corpus: short sentences, and
# task lines whose answers can be checked exactly (`copy abc>abc`, `recall b=4 x=9 q=2 ? x=9`,
# `add 12+30=42`). The same checkpoint comes back in every later module, where we make it faster and
# smaller and watch those numbers move.
#
# | § | exercise | points |
# |---|---|---|
# | 0.1 | `softmax` (warm-up) | 1 |
# | 1.1 | `embed`: token plus position embeddings | 1 |
# | 2.1 | `layer_norm` | 2 |
# | 2.2 | `gelu` (tanh form) | 1 |
# | 2.3 | `mlp` | 1 |
# | 3.1 | `causal_self_attention` (warm-up: fused q/k/v, heads, mask) | 3 |
# | 3.2 | `transformer_block` (pre-norm, residual) | 2 |
# | 4.1 | `gpt_forward`: the whole model | 3 |
# | 4.2 | `count_params` | 2 |
# | 5.1 | `cross_entropy` from logits | 2 |
# | 6.1 | `top_k_filter` | 2 |
# | 6.2 | `top_p_filter` (nucleus) | 3 |
# | 6.3 | `sample_next` | 3 |
# | 6.4 | `generate` | 2 |
# | 7 | three short answers | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line when your function passes a few hand-worked cases, and names
# the case otherwise. The grader also runs hidden tests: other shapes and seeds, properties any correct
# answer has, and the popular wrong answers named in the text. Everything you write is NumPy; PyTorch
# appears only as the reference your results are compared with.
#
# **Names.** `B` batch, `T` sequence length, `C` model width (`d_model`), `V` vocabulary size,
# `n_head` and `d_head = C // n_head`, `x` activations `(B, T, C)`, `ids` token ids, `logits` and
# `probs` over the vocabulary. `...` in a shape means any leading batch dimensions.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("04_tiny_gpt")

# %%
# %matplotlib inline
import json

import matplotlib.pyplot as plt
import numpy as np

from llmcourse import checks, env, plot, quiz
from llmcourse.data import TASKS, CharTokenizer, load_corpus, task_examples
from llmcourse.model import REPORT, load_numpy

np.set_printoptions(precision=4, suppress=True)
tok = CharTokenizer()
config, params = load_numpy()  # the course checkpoint, as NumPy arrays (no torch needed)
report = json.loads(REPORT.read_text())  # what the training script measured
print(config)
print(f"{len(params)} arrays, {sum(a.size for a in params.values()):,} numbers in total")

# %% [markdown]
# ## 0. Warm-up: softmax
#
# The softmax turns logits into probabilities and appears three times in this notebook: inside
# attention, in the loss, and in sampling. You wrote it in module 01; write it once more here so this
# notebook stands on its own. Subtract the maximum along the axis before `np.exp` (the result does not
# change, and nothing can overflow); keep `-inf` entries at probability 0.

# %% [markdown]
# ### 0.1 Softmax (1 point)

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "solution": true, "schema_version": 3}
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along `axis`; same shape as x, slices sum to 1, -inf maps to 0."""
    ### BEGIN SOLUTION
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "softmax_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.tiny_gpt.softmax(softmax)
### BEGIN HIDDEN TESTS
from llmcourse.checks import _core


def _ref_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_rng = np.random.default_rng(40)
_x = _rng.standard_normal((3, 4, 5)) * 2
_cases = [_core.Case(f"(3, 4, 5) logits, axis={a}", (_x,), {"axis": a}, expected=_ref_softmax(_x, a))
          for a in (-1, 0, 1)]
_cases.append(_core.Case("rows near +-800", (np.stack([_x[0, 0] + 800, _x[0, 1] - 800]),),
                         expected=_ref_softmax(np.stack([_x[0, 0], _x[0, 1]]))))
_cases.append(_core.Case("float32 logits near 300", ((_x[1] + 300).astype(np.float32),),
                         expected=_ref_softmax(_x[1]), rtol=1e-4, atol=1e-6))
_core.run("softmax (hidden)", softmax, _cases, quiet=True)
### END HIDDEN TESTS

# %% [markdown]
# ## 1. The checkpoint, and where a token starts
#
# `load_numpy` returned `config` (the sizes) and `params`, a dictionary of float32 arrays with fixed
# names. Every matrix is stored **(in_features, out_features)** and used as `y = x @ W + b`:
#
# | name | shape | role |
# |---|---|---|
# | `tok_emb` | `(V, C)` | row `i` is the vector of token id `i` |
# | `pos_emb` | `(block_size, C)` | row `t` is the vector of position `t` |
# | `blocks.{i}.ln1.weight`, `.bias` | `(C,)` | LayerNorm before attention, block `i` |
# | `blocks.{i}.attn.w_qkv`, `b_qkv` | `(C, 3C)`, `(3C,)` | q, k and v in one matrix: columns `[q \| k \| v]` |
# | `blocks.{i}.attn.w_out`, `b_out` | `(C, C)`, `(C,)` | output projection after the heads are merged |
# | `blocks.{i}.ln2.weight`, `.bias` | `(C,)` | LayerNorm before the MLP |
# | `blocks.{i}.mlp.w_in`, `b_in` | `(C, d_ff)`, `(d_ff,)` | MLP up-projection (`d_ff = 4C`) |
# | `blocks.{i}.mlp.w_out`, `b_out` | `(d_ff, C)`, `(C,)` | MLP down-projection |
# | `ln_f.weight`, `ln_f.bias` | `(C,)` | final LayerNorm |
# | `head.w`, `head.b` | `(C, V)`, `(V,)` | the LM head: one logit per vocabulary entry |
#
# Inside `w_qkv`, head `h` owns columns `h*d_head … (h+1)*d_head - 1` of each of the three `C`-wide
# blocks. PyTorch's `nn.Linear` stores its weight the other way round, `(out, in)`; the checkpoint
# writer transposes it so that NumPy code never has to.

# %%
for name in list(params)[:14] + ["...", "ln_f.weight", "head.w"]:
    print(f"{name:24s}", params[name].shape if name in params else "")

# %% [markdown]
# The model's input is a sequence of token ids. Its first layer is two table look-ups added together:
# the token's own vector, `tok_emb[ids]`, and a vector for its **position**, `pos_emb[t]`.
#
# Why positions? Attention by itself ignores order: it compares a query with every key and averages
# the values, and shuffling the keys together with their values changes nothing. Without positions,
# *bidirectional* attention is permutation-equivariant: shuffle the input tokens and the outputs are
# shuffled the same way, so `dog bites man` and `man bites dog` give the same three vectors. The
# causal mask breaks that symmetry (token `t` sees exactly `t + 1` tokens), and a stack of causal
# layers can infer positions from it and recover order; position vectors make order easy to use and
# reliable. This GPT *learns* one vector per position (0 to `block_size - 1`), as GPT-2 does, and
# *adds* it to the token's vector, so the width stays `C`. The original Transformer added fixed sine
# waves instead; most recent models add nothing to the embedding and instead rotate each query and
# key by an angle proportional to its position (RoPE), so that their dot product depends on the
# distance between the two positions.
#
# Popular wrong answers: indexing the position table with the token ids (`pos_emb[ids]`), starting at
# position 1, and counting positions across the batch instead of within each sequence.

# %% [markdown]
# ### 1.1 Token plus position embeddings (1 point)

# %% nbgrader={"grade": false, "grade_id": "embed", "locked": false, "solution": true, "schema_version": 3}
def embed(ids: np.ndarray, tok_emb: np.ndarray, pos_emb: np.ndarray) -> np.ndarray:
    """Input vectors of the model: ids (..., T) ints -> (..., T, C), tok_emb[ids] + the vectors of positions 0..T-1.

    tok_emb: (V, C); pos_emb: (block_size, C) with T <= block_size. Every sequence of a batch starts at
    position 0.
    """
    ### BEGIN SOLUTION
    T = ids.shape[-1]
    return tok_emb[ids] + pos_emb[:T]  # (..., T, C) + (T, C) broadcasts over the batch dims
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "embed_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.tiny_gpt.embed(embed)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(41)
_tok, _pos = _rng.standard_normal((11, 6)), _rng.standard_normal((9, 6))
for _ids in (_rng.integers(0, 11, 9), _rng.integers(0, 11, (3, 4)), np.array([5]), _rng.integers(0, 11, (2, 2, 7))):
    _want = _tok[_ids] + _pos[: _ids.shape[-1]]
    _got = np.asarray(embed(_ids, _tok, _pos))
    assert _got.shape == _want.shape, f"ids {_ids.shape}: expected shape {_want.shape}, got {_got.shape}"
    np.testing.assert_allclose(_got, _want, rtol=0, atol=1e-12, err_msg=f"ids of shape {_ids.shape}")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The position-wise layers: LayerNorm and the MLP
#
# ### LayerNorm
#
# A Transformer adds the output of every sub-layer to a running vector, the *residual stream*. Before
# a sub-layer reads that stream, a LayerNorm rescales each token's vector to mean 0 and variance 1 and
# then applies a learned per-feature scale and shift:
#
# $$\operatorname{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} \odot w + b,\qquad
# \mu = \frac1C \sum_{c} x_c,\quad \sigma^2 = \frac1C \sum_c (x_c - \mu)^2 .$$
#
# Three details decide whether you match PyTorch's `nn.LayerNorm` (and so the checkpoint):
#
# * **Which axis.** The statistics are per token, over its `C` features: the last axis. Averaging over
#   the batch is BatchNorm; averaging over the sequence would mix tokens together, and a causal model
#   would see the future through the mean. On a square `(T, C)` input the wrong axis does not even
#   raise.
# * **Which variance.** The *biased* one: divide by `C`. `np.var` does that by default (`ddof=0`);
#   `ddof=1`, the sample variance, is a popular wrong answer that is off by a factor `C/(C-1)`.
# * **Where eps goes.** Inside the square root, added to the variance. It keeps a constant vector
#   (variance 0) from dividing 0 by 0, and `eps = 1e-5` is too small to matter for most tokens; but for
#   a vector with a tiny spread (variance `1e-6`), `1/(σ + ε)` and `1/sqrt(σ² + ε)` differ by a factor
#   of three.

# %% [markdown]
# ### 2.1 LayerNorm (2 points)

# %% nbgrader={"grade": false, "grade_id": "layer_norm", "locked": false, "solution": true, "schema_version": 3}
def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis: x (..., C), weight and bias (C,) -> (..., C).

    Biased variance (divide by C); eps is added to the variance inside the square root.
    """
    ### BEGIN SOLUTION
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # (..., 1), divides by C
    return (x - mu) / np.sqrt(var + eps) * weight + bias
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "layer_norm_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.layer_norm(layer_norm)
### BEGIN HIDDEN TESTS
from llmcourse.checks import _core


def _ref_ln(x, w, b, eps=1e-5):
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


_rng = np.random.default_rng(42)
_x = _rng.standard_normal((2, 7, 16)) * 3 + 1
_w, _b = 1 + 0.3 * _rng.standard_normal(16), 0.3 * _rng.standard_normal(16)
_sq = _rng.standard_normal((6, 6)) * 2
_ws, _bs = 1 + 0.3 * _rng.standard_normal(6), 0.3 * _rng.standard_normal(6)
_tiny = _rng.standard_normal((4, 8)) * 2e-3
_cases = [
    _core.Case("(2, 7, 16), default eps", (_x, _w, _b), expected=_ref_ln(_x, _w, _b), rtol=1e-9, atol=1e-10),
    _core.Case("(2, 7, 16), eps=1e-2", (_x, _w, _b), {"eps": 1e-2}, expected=_ref_ln(_x, _w, _b, 1e-2),
               rtol=1e-9, atol=1e-10),
    _core.Case("square (6, 6): the last axis", (_sq, _ws, _bs), expected=_ref_ln(_sq, _ws, _bs), rtol=1e-9,
               atol=1e-10),
    _core.Case("rows with variance ~1e-6: eps inside the root", (_tiny, np.ones(8), np.zeros(8)),
               expected=_ref_ln(_tiny, 1, 0), rtol=1e-7, atol=1e-9),
    _core.Case("float32 input", (_x.astype(np.float32), _w.astype(np.float32), _b.astype(np.float32)),
               expected=_ref_ln(_x, _w, _b), rtol=1e-4, atol=1e-5),
]
# rows far from 0 (means +-1e4, spread about 1) and, below, an all-zero row and a constant row (variance
# 0: the output is the bias, with no 0 / 0)
_far = _rng.standard_normal((4, 16)) + np.array([[1e4], [-1e4], [3e3], [0.0]])
_flat = np.array([np.zeros(16), np.full(16, -5.0)])
_cases += [
    _core.Case("rows with means +-1e4 (large magnitudes)", (_far, _w, _b), expected=_ref_ln(_far, _w, _b),
               rtol=1e-6, atol=1e-6),
    _core.Case("an all-zero row and a constant row: the output is the bias", (_flat, _w, _b),
               expected=_ref_ln(_flat, _w, _b), rtol=1e-9, atol=1e-10),
]
_core.run("layer_norm (hidden)", layer_norm, _cases, quiet=True)
### END HIDDEN TESTS

# %% [markdown]
# ### GELU and the MLP
#
# After attention, each token goes through a two-layer MLP on its own: widen to `d_ff = 4C`, apply a
# smooth non-linearity, project back to `C`. GPT-2 and this checkpoint use the GELU, "x times the
# probability that a standard normal is below x", `x·Φ(x)`. It is usually computed with a tanh
# approximation, and **that is the form the checkpoint was trained with** (PyTorch's
# `nn.GELU(approximate="tanh")`):
#
# $$\operatorname{GELU}(x) \approx \tfrac12\, x \left(1 + \tanh\!\left(\sqrt{2/\pi}\,\bigl(x + 0.044715\,x^3\bigr)\right)\right).$$
#
# The exact form with `erf` differs from it by at most about `5e-4`: invisible in a plot, but after
# four layers it moves the checkpoint's logits by about `1e-2` (section 4.1 prints it), hundreds of
# times more than float32 rounding<!--? erf_vs_tanh > 100 * numpy_vs_torch and 3e-3 < erf_vs_tanh < 3e-2 -->.
# Write the tanh form. (A ReLU is a different function altogether: it is exactly 0 for negative
# inputs, while GELU dips slightly below.)

# %% [markdown]
# ### 2.2 GELU, tanh approximation (1 point)

# %% nbgrader={"grade": false, "grade_id": "gelu", "locked": false, "solution": true, "schema_version": 3}
def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation, elementwise: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."""
    ### BEGIN SOLUTION
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gelu_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.tiny_gpt.gelu(gelu)
### BEGIN HIDDEN TESTS
def _ref_gelu(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


_x = np.linspace(-8, 8, 161).reshape(7, 23)
np.testing.assert_allclose(gelu(_x), _ref_gelu(_x), rtol=1e-7, atol=1e-9, err_msg="tanh-form GELU on [-8, 8]")
_x32 = np.random.default_rng(43).standard_normal(50).astype(np.float32) * 3
np.testing.assert_allclose(gelu(_x32), _ref_gelu(_x32), rtol=1e-5, atol=1e-6, err_msg="float32 input")
assert np.asarray(gelu(_x)).shape == (7, 23)
# large magnitudes: tanh saturates, so gelu(x) is x far right and about 0 far left (no overflow, no NaN);
# left of -21 the sigmoid form x / (1 + exp(-2u)) overflows harmlessly to -0, so the left side stops at -20
import warnings as _warnings

_x = np.array([[10.0, -10.0, 20.0, -20.0], [30.0, 300.0, 1e4, -15.0]])
with _warnings.catch_warnings():
    _warnings.simplefilter("error", RuntimeWarning)
    _got = np.asarray(gelu(_x))
np.testing.assert_allclose(_got, _ref_gelu(_x), rtol=1e-12, atol=1e-12, err_msg="x from -20 to 1e4")
### END HIDDEN TESTS

# %% [markdown]
# ### 2.3 The MLP (1 point)
#
# `mlp(x) = gelu(x @ w_in + b_in) @ w_out + b_out`. It works on each position separately: the same
# weights for every token, and no token sees another. (Attention is the only place where tokens talk
# to each other.)

# %% nbgrader={"grade": false, "grade_id": "mlp", "locked": false, "solution": true, "schema_version": 3}
def mlp(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, w_out: np.ndarray, b_out: np.ndarray) -> np.ndarray:
    """Position-wise MLP: x (..., C), w_in (C, d_ff), b_in (d_ff,), w_out (d_ff, C), b_out (C,) -> (..., C)."""
    ### BEGIN SOLUTION
    h = gelu(x @ w_in + b_in)  # (..., d_ff)
    return h @ w_out + b_out  # (..., C)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mlp_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.tiny_gpt.mlp(mlp)
### BEGIN HIDDEN TESTS
def _ref_mlp(x, w1, b1, w2, b2):
    h = x @ w1 + b1
    return 0.5 * h * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h**3))) @ w2 + b2


_rng = np.random.default_rng(44)
_args = (_rng.standard_normal((2, 5, 8)), _rng.standard_normal((8, 20)) * 0.5, _rng.standard_normal(20) * 0.5,
         _rng.standard_normal((20, 8)) * 0.3, _rng.standard_normal(8))
np.testing.assert_allclose(mlp(*_args), _ref_mlp(*_args), rtol=1e-7, atol=1e-9, err_msg="random (2, 5, 8), d_ff=20")
_args1 = (_args[0][0, :1],) + _args[1:]
np.testing.assert_allclose(mlp(*_args1), _ref_mlp(*_args1), rtol=1e-7, atol=1e-9, err_msg="one token (1, 8)")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Attention inside the block, and the block
#
# ### Causal self-attention, once more
#
# Modules 02 and 03 built multi-head attention and the causal mask. Here is the version the checkpoint
# uses; write it in one function, your own way:
#
# 1. `qkv = x @ w_qkv + b_qkv`, shape `(..., T, 3C)`; `q, k, v` are its three `C`-wide column blocks,
#    in that order.
# 2. Split each into heads along the **features**: `(..., T, C) -> (..., T, n_head, d_head) ->
#    (..., n_head, T, d_head)`.
# 3. Scores `q @ kᵀ / sqrt(d_head)`, shape `(..., n_head, T, T)`; a query at position `i` may see keys
#    `0..i` only: set the scores above the diagonal to `-inf` **before** the softmax over the keys.
# 4. Weighted sum of `v`, merge the heads back to `(..., T, C)` (the reverse of step 2), then
#    `@ w_out + b_out`.
#
# The traps are the ones of modules 02 and 03: reshaping straight to `(n_head, T, d_head)` (which cuts
# the *sequence* into pieces), forgetting the mask or putting it on the wrong side of the diagonal,
# scaling by `sqrt(C)` instead of `sqrt(d_head)`, and swapping the order of `q`, `k`, `v`.

# %% [markdown]
# ### 3.1 Causal self-attention (3 points)

# %% nbgrader={"grade": false, "grade_id": "causal_self_attention", "locked": false, "solution": true, "schema_version": 3}
def causal_self_attention(x: np.ndarray, w_qkv: np.ndarray, b_qkv: np.ndarray, w_out: np.ndarray,
                          b_out: np.ndarray, n_head: int) -> np.ndarray:
    """Multi-head causal self-attention: x (..., T, C) -> (..., T, C).

    w_qkv (C, 3C) with columns [q | k | v], b_qkv (3C,), w_out (C, C), b_out (C,); head h owns features
    h*d_head .. (h+1)*d_head - 1 of q, k and v. Use your softmax from section 0.
    """
    ### BEGIN SOLUTION
    *lead, T, C = x.shape
    d_head = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)  # each (..., T, C)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d_head), -3, -2) for t in (q, k, v))  # (..., n_head, T, d_head)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_head)  # (..., n_head, T, T)
    future = np.triu(np.ones((T, T), dtype=bool), k=1)  # (T, T), True above the diagonal
    weights = softmax(np.where(future, -np.inf, scores), axis=-1)
    y = np.swapaxes(weights @ v, -3, -2).reshape(*lead, T, C)  # (..., T, n_head, d_head) -> (..., T, C)
    return y @ w_out + b_out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "causal_self_attention_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.tiny_gpt.causal_self_attention(causal_self_attention)
### BEGIN HIDDEN TESTS
def _ref_attn(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    qkv = x @ w_qkv + b_qkv
    q, k, v = (qkv[..., i * C:(i + 1) * C].reshape(*lead, T, n_head, d) for i in range(3))
    s = np.einsum("...ihd,...jhd->...hij", q, k) / np.sqrt(d)
    s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("...hij,...jhd->...ihd", w, v).reshape(*lead, T, C) @ w_out + b_out


def _rand_attn(rng, C):
    return (rng.standard_normal((C, 3 * C)) * 0.3, rng.standard_normal(3 * C) * 0.1,
            rng.standard_normal((C, C)) * 0.3, rng.standard_normal(C) * 0.1)


_rng = np.random.default_rng(45)
for _shape, _nh in (((2, 7, 12), 3), ((5, 8), 2), ((1, 12), 4), ((2, 2, 6, 8), 4), ((9, 8), 1)):
    _x = _rng.standard_normal(_shape)
    _p = _rand_attn(_rng, _shape[-1])
    _got = np.asarray(causal_self_attention(_x, *_p, _nh))
    assert _got.shape == _shape, f"x {_shape}, n_head={_nh}: expected shape {_shape}, got {_got.shape}"
    np.testing.assert_allclose(_got, _ref_attn(_x, *_p, _nh), rtol=1e-7, atol=1e-9,
                               err_msg=f"x {_shape}, n_head={_nh}")
# scores near +-1000 (an overflow test): feature h*d_head of q is a_h * L and of k is L for every token
# (zero weights, bias only), so head h's scores all gain a_h * L^2 / sqrt(d_head) = 1000 a_h
_x = _rng.standard_normal((2, 6, 12))
_wq, _bq, _wo, _bo = _rand_attn(_rng, 12)
_L = np.sqrt(1000.0 * np.sqrt(4))
for _h, _a in enumerate([1.0, -1.0, 1.2]):
    _wq[:, _h * 4] = 0.0
    _wq[:, 12 + _h * 4] = 0.0
    _bq[_h * 4], _bq[12 + _h * 4] = _a * _L, _L
np.testing.assert_allclose(causal_self_attention(_x, _wq, _bq, _wo, _bo, 3), _ref_attn(_x, _wq, _bq, _wo, _bo, 3),
                           rtol=1e-7, atol=1e-9, err_msg="scores near +1000 and -1000 (subtract the row maximum)")
# no future leakage: changing the last tokens leaves earlier outputs alone
_x = _rng.standard_normal((7, 12))
_p = _rand_attn(_rng, 12)
_x2 = _x.copy()
_x2[4:] = _rng.standard_normal((3, 12))
np.testing.assert_allclose(causal_self_attention(_x2, *_p, 3)[:4], causal_self_attention(_x, *_p, 3)[:4],
                           rtol=1e-10, atol=1e-12, err_msg="future tokens changed earlier outputs")
# the checkpoint's first block on real text
_s = tok.encode("\nthe fox ran.")
_h = params["tok_emb"][_s] + params["pos_emb"][: len(_s)]
_pa = [params[f"blocks.0.attn.{n}"].astype(np.float64) for n in ("w_qkv", "b_qkv", "w_out", "b_out")]
np.testing.assert_allclose(causal_self_attention(_h.astype(np.float64), *_pa, config["n_head"]),
                           _ref_attn(_h.astype(np.float64), *_pa, config["n_head"]), rtol=1e-7, atol=1e-9,
                           err_msg="checkpoint block 0 on real text")
### END HIDDEN TESTS

# %% [markdown]
# ### The pre-norm residual block
#
# A block reads from the residual stream and adds back to it, twice:
#
# ```
# x = x + attn(ln1(x))     # tokens exchange information
# x = x + mlp(ln2(x))      # each token thinks on its own
# ```
#
# This is the **pre-norm** arrangement (GPT-2 and nearly every LLM since): the LayerNorm sits on the
# branch, in front of the sub-layer, and the stream itself is never normalised, so the identity path
# from the input to the output stays clean and deep stacks train stably. The original Transformer was
# **post-norm**, `x = ln(x + attn(x))`; with pre-norm weights it gives different numbers. Other popular
# wrong answers: dropping a residual (`x = attn(ln1(x))`), reusing `ln1` for the MLP, or running both
# branches on the same input, `x + attn(ln1(x)) + mlp(ln2(x))` (that "parallel" block exists, in GPT-J,
# but it is not this model).
#
# The block's parameters come as a dictionary with the names of the table in section 1 without the
# `blocks.{i}.` prefix; `block_params(params, i)` below cuts them out of the checkpoint.

# %%
def block_params(params: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """The parameters of block i with the 'blocks.{i}.' prefix removed ('ln1.weight', 'attn.w_qkv', ...)."""
    prefix = f"blocks.{i}."
    return {name[len(prefix):]: a for name, a in params.items() if name.startswith(prefix)}


print(sorted(block_params(params, 0)))

# %% [markdown]
# ### 3.2 Transformer block (2 points)

# %% nbgrader={"grade": false, "grade_id": "transformer_block", "locked": false, "solution": true, "schema_version": 3}
def transformer_block(x: np.ndarray, p: dict[str, np.ndarray], n_head: int, eps: float = 1e-5) -> np.ndarray:
    """One pre-norm block: x (..., T, C) -> (..., T, C), with p as returned by block_params.

    x + attn(ln1(x)), then x + mlp(ln2(x)); both LayerNorms use eps.
    """
    ### BEGIN SOLUTION
    h = layer_norm(x, p["ln1.weight"], p["ln1.bias"], eps)
    x = x + causal_self_attention(h, p["attn.w_qkv"], p["attn.b_qkv"], p["attn.w_out"], p["attn.b_out"], n_head)
    h = layer_norm(x, p["ln2.weight"], p["ln2.bias"], eps)
    return x + mlp(h, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "transformer_block_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.transformer_block(transformer_block)
### BEGIN HIDDEN TESTS
import torch

from llmcourse.model import Block, GPTConfig


def _torch_block(x, p, n_head, eps):
    """The reference block in PyTorch (float64), loaded with the same parameters."""
    C, F = p["mlp.w_in"].shape
    blk = Block(GPTConfig(vocab_size=2, block_size=2, n_layer=1, n_head=n_head, d_model=C, d_ff=F, ln_eps=eps))
    names = {"ln1.weight": ("ln1.weight", False), "ln1.bias": ("ln1.bias", False),
             "attn.w_qkv": ("attn.qkv.weight", True), "attn.b_qkv": ("attn.qkv.bias", False),
             "attn.w_out": ("attn.out.weight", True), "attn.b_out": ("attn.out.bias", False),
             "ln2.weight": ("ln2.weight", False), "ln2.bias": ("ln2.bias", False),
             "mlp.w_in": ("mlp.fc_in.weight", True), "mlp.b_in": ("mlp.fc_in.bias", False),
             "mlp.w_out": ("mlp.fc_out.weight", True), "mlp.b_out": ("mlp.fc_out.bias", False)}
    state = {t: torch.as_tensor(np.asarray(p[k], dtype=np.float64).T if tr else np.asarray(p[k], dtype=np.float64))
             for k, (t, tr) in names.items()}
    blk = blk.double()
    blk.load_state_dict(state)
    x = np.asarray(x, dtype=np.float64)
    with torch.no_grad():
        out = blk(torch.as_tensor(x.reshape(-1, *x.shape[-2:]))).numpy()  # torch's Block wants (B, T, C)
    return out.reshape(x.shape)


_rng = np.random.default_rng(46)
_C, _F = 12, 20
_p = {"ln1.weight": 1 + 0.3 * _rng.standard_normal(_C), "ln1.bias": 0.3 * _rng.standard_normal(_C),
      "attn.w_qkv": 0.3 * _rng.standard_normal((_C, 3 * _C)), "attn.b_qkv": 0.1 * _rng.standard_normal(3 * _C),
      "attn.w_out": 0.3 * _rng.standard_normal((_C, _C)), "attn.b_out": 0.1 * _rng.standard_normal(_C),
      "ln2.weight": 1 + 0.3 * _rng.standard_normal(_C), "ln2.bias": 0.3 * _rng.standard_normal(_C),
      "mlp.w_in": 0.3 * _rng.standard_normal((_C, _F)), "mlp.b_in": 0.1 * _rng.standard_normal(_F),
      "mlp.w_out": 0.3 * _rng.standard_normal((_F, _C)), "mlp.b_out": 0.1 * _rng.standard_normal(_C)}
_x = _rng.standard_normal((2, 6, _C)) * 2
np.testing.assert_allclose(transformer_block(_x, _p, 3), _torch_block(_x, _p, 3, 1e-5), rtol=1e-6, atol=1e-8,
                           err_msg="random block, x (2, 6, 12), 3 heads")
np.testing.assert_allclose(transformer_block(_x[0], _p, 2, eps=1e-2), _torch_block(_x[0], _p, 2, 1e-2),
                           rtol=1e-6, atol=1e-8, err_msg="x (6, 12), 2 heads, eps=1e-2 (pass eps to both LayerNorms)")
_pb = {k: v.astype(np.float64) for k, v in block_params(params, 1).items()}
_h = (params["tok_emb"][tok.encode("\ncopy abc>abc")] + params["pos_emb"][:13]).astype(np.float64)
np.testing.assert_allclose(transformer_block(_h, _pb, config["n_head"]), _torch_block(_h, _pb, config["n_head"], 1e-5),
                           rtol=1e-6, atol=1e-7, err_msg="checkpoint block 1 on real text")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The whole model
#
# Now stack it up:
#
# ```
# x = embed(ids, tok_emb, pos_emb)                 # (..., T, C)
# for i in range(n_layer): x = transformer_block(x, block i, n_head, eps)
# logits = layer_norm(x, ln_f) @ head.w + head.b   # (..., T, V)
# ```
#
# Read `n_layer`, `n_head` and `ln_eps` from `config`. The output has one row of `V` logits **per
# position**: row `t` is the model's guess for token `t + 1` given tokens `0..t`. One forward pass over
# a training sequence therefore makes `T` predictions at once, and the causal mask is what keeps each
# of them honest.
#
# The hidden tests compare your logits with the PyTorch reference model (`llmcourse.model`, built on
# `torch.nn.functional.scaled_dot_product_attention`, `nn.LayerNorm` and `nn.GELU`), on the checkpoint
# and on other random configurations, so read every size from `config` and the arrays. The tolerance
# is `1e-4`: computing in float32 moves these logits (up to about 20 in size) by around
# `1e-5`<!--? 1e-7 < numpy_vs_torch < 1e-4 -->, float64 matches to about `1e-13`, and each mistake below moves
# them by `1e-2` or more.
# Popular wrong answers: forgetting the final LayerNorm, running the blocks in the wrong order,
# leaving out the position embeddings.

# %% [markdown]
# ### 4.1 Forward pass (3 points)

# %% nbgrader={"grade": false, "grade_id": "gpt_forward", "locked": false, "solution": true, "schema_version": 3}
def gpt_forward(ids: np.ndarray, config: dict, params: dict[str, np.ndarray]) -> np.ndarray:
    """Logits of the tiny GPT: ids (..., T) ints with T <= block_size -> (..., T, V).

    config: dict with n_layer, n_head, ln_eps (and the other sizes); params: arrays named as in section 1.
    """
    ### BEGIN SOLUTION
    x = embed(ids, params["tok_emb"], params["pos_emb"])  # (..., T, C)
    for i in range(config["n_layer"]):
        x = transformer_block(x, block_params(params, i), config["n_head"], config["ln_eps"])
    x = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], config["ln_eps"])
    return x @ params["head.w"] + params["head.b"]  # (..., T, V)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gpt_forward_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.tiny_gpt.gpt_forward(gpt_forward)
### BEGIN HIDDEN TESTS
import torch

from llmcourse.model import GPTConfig, TinyGPT, from_numpy, load_checkpoint, to_numpy

_ref = load_checkpoint().double()
_rng = np.random.default_rng(47)
for _ids in (_rng.integers(0, config["vocab_size"], config["block_size"]), np.array([7]),
             _rng.integers(0, config["vocab_size"], (3, 40))):
    with torch.no_grad():
        _want = _ref(torch.as_tensor(_ids)).numpy()
    _got = np.asarray(gpt_forward(_ids, config, params))
    assert _got.shape == _want.shape, f"ids {_ids.shape}: expected logits {_want.shape}, got {_got.shape}"
    np.testing.assert_allclose(_got, _want, rtol=1e-5, atol=1e-4, err_msg=f"checkpoint, ids of shape {_ids.shape}")
# another configuration with random weights: everything must be read from config and params
_cfg = {"vocab_size": 48, "block_size": 16, "n_layer": 2, "n_head": 2, "d_model": 16, "d_ff": 40, "ln_eps": 1e-3}
_rp = {k: (0.3 * _rng.standard_normal(v.shape) + (k.endswith("ln1.weight") or k.endswith("ln2.weight")
                                                   or k == "ln_f.weight")).astype(np.float32)
       for k, v in to_numpy(TinyGPT(GPTConfig(**_cfg)))[1].items()}
_net = from_numpy(_cfg, _rp).double()
_ids = _rng.integers(0, 48, (2, 16))
with torch.no_grad():
    _want = _net(torch.as_tensor(_ids)).numpy()
np.testing.assert_allclose(gpt_forward(_ids, _cfg, _rp), _want, rtol=1e-5, atol=1e-4,
                           err_msg="2 layers, 2 heads, C=16, d_ff=40, ln_eps=1e-3, random weights")
# causal: later tokens never change earlier logits
_a = _rng.integers(0, 48, 20)
_b = _a.copy()
_b[12:] = (_b[12:] + 1) % 48
np.testing.assert_allclose(gpt_forward(_b, config, params)[:12], gpt_forward(_a, config, params)[:12], rtol=1e-6,
                           atol=1e-6, err_msg="changing tokens 12.. changed the logits at positions 0..11")
### END HIDDEN TESTS

# %% [markdown]
# Your NumPy model against the PyTorch reference, and what it expects after a prompt:

# %%
import torch  # only to compare with the reference

from llmcourse.model import load_checkpoint

reference = load_checkpoint()
prompt = "\nthe fox lives "
ids = tok.encode(prompt)
logits = gpt_forward(ids, config, params)  # (T, V)
with torch.no_grad():
    ref_logits = reference(torch.as_tensor(ids)).numpy()
numpy_vs_torch = float(np.abs(logits - ref_logits).max())
print(f"largest |NumPy - PyTorch| over {logits.size} logits: {numpy_vs_torch:.2e} (largest |logit| "
      f"{np.abs(ref_logits).max():.1f})")
gelus = [m for m in reference.modules() if isinstance(m, torch.nn.GELU)]
for m in gelus:
    m.approximate = "none"  # the exact erf form, for one comparison
with torch.no_grad():
    erf_vs_tanh = float(np.abs(reference(torch.as_tensor(ids)).numpy() - ref_logits).max())
for m in gelus:
    m.approximate = "tanh"  # back to the form the checkpoint was trained with
print(f"the same model with the exact erf GELU moves these logits by up to {erf_vs_tanh:.1e}")
probs = softmax(logits[-1])
for i in np.argsort(-probs)[:3]:
    print(f"  after {prompt!r}: {tok.decode([i])!r} with probability {probs[i]:.3f}")

# %% [markdown]
# In this corpus every animal and person has one home (the fox always lives on the hill), and the
# model has learned it: a fact stored in the weights, read out by one forward pass.

# %% [markdown]
# ### 4.2 How many parameters? (2 points)
#
# A classic interview question: count the parameters of a GPT from its configuration. Count every
# array of the table in section 1: both embeddings, per block the two LayerNorms (a weight and a bias
# each), the fused `qkv` projection, the output projection, the two MLP matrices, every bias, then the
# final LayerNorm and the LM head (it has its own weight here; it is not tied to `tok_emb`). Use
# `config["d_ff"]`, which need not be `4C`.
#
# For large models the answer is close to `12 · n_layer · C²` (attention `4C²`, MLP `8C²`); for this
# tiny one the embeddings and the head are a visible share. Popular wrong answers: forgetting the
# biases or the LayerNorms, and sizing the position table by the vocabulary.

# %% nbgrader={"grade": false, "grade_id": "count_params", "locked": false, "solution": true, "schema_version": 3}
def count_params(config: dict) -> int:
    """Number of parameters of the tiny GPT with this config (vocab_size, block_size, n_layer, d_model, d_ff)."""
    ### BEGIN SOLUTION
    V, L, C, F = config["vocab_size"], config["n_layer"], config["d_model"], config["d_ff"]
    per_block = 2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C)
    return V * C + config["block_size"] * C + L * per_block + 2 * C + (C * V + V)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "count_params_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.count_params(count_params)
### BEGIN HIDDEN TESTS
from llmcourse.model import GPTConfig, TinyGPT

for _c in ({"vocab_size": 48, "block_size": 64, "n_layer": 3, "n_head": 2, "d_model": 32, "d_ff": 96, "ln_eps": 1e-5},
           {"vocab_size": 100, "block_size": 10, "n_layer": 1, "n_head": 1, "d_model": 8, "d_ff": 8, "ln_eps": 1e-5},
           {"vocab_size": 7, "block_size": 300, "n_layer": 6, "n_head": 4, "d_model": 64, "d_ff": 256, "ln_eps": 1e-5}):
    _want = TinyGPT(GPTConfig(**_c)).n_params()
    _got = count_params(dict(_c))
    assert int(_got) == _want and float(_got) == _want, f"config {_c}: expected {_want}, got {_got}"
### END HIDDEN TESTS

# %%
n = count_params(config)
print(f"{n:,} parameters, {4 * n / 2**20:.2f} MiB in float32")
print(f"embeddings and head: {(config['vocab_size'] * 2 + config['block_size']) * config['d_model']:,}")
print(f"12 * n_layer * C^2 = {12 * config['n_layer'] * config['d_model'] ** 2:,}")

# %% [markdown]
# ## 5. How good is it? Cross-entropy and perplexity
#
# Training minimised the average **cross-entropy**: the negative log-probability the model gave to the
# token that actually came next, in nats. From logits:
#
# $$\ell_t = -\log \operatorname{softmax}(z_t)_{y_t} = \log\sum_j e^{z_{t,j}} - z_{t,y_t}.$$
#
# Compute it in that second form, with a stable log-sum-exp (subtract the row maximum, as in the
# softmax). Taking `np.log(softmax(z))` works for the checkpoint's logits but breaks on large ones: a
# probability that underflows to 0 gives `log 0 = -inf` and a warning. Popular wrong answers: `np.log2`
# (bits, not nats), summing instead of averaging, and picking the target logit from the wrong axis.
#
# The **perplexity** is `exp(mean cross-entropy)`, the same base as the log: a model with perplexity
# 3 is as unsure as a fair choice among 3 tokens. Module 00 measured it for a bigram model.

# %% [markdown]
# ### 5.1 Cross-entropy from logits (2 points)

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": false, "solution": true, "schema_version": 3}
def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy in nats: logits (..., V), integer targets (...) -> float.

    Averages -log softmax(logits)[target] over every position; stable for large logits, no warnings.
    """
    ### BEGIN SOLUTION
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)  # (..., 1)
    lse = m[..., 0] + np.log(np.exp(z - m).sum(axis=-1))  # (...,)
    picked = np.take_along_axis(z, np.asarray(targets)[..., None], axis=-1)[..., 0]  # (...,)
    return float(np.mean(lse - picked))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cross_entropy_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.cross_entropy(cross_entropy)
### BEGIN HIDDEN TESTS
from llmcourse.checks import _core


def _ref_ce(z, y):
    z = np.asarray(z, dtype=np.float64)
    m = z.max(-1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
    return float(-np.take_along_axis(logp, np.asarray(y)[..., None], -1).mean())


_rng = np.random.default_rng(48)
_z = _rng.standard_normal((4, 9, 13)) * 2
_y = _rng.integers(0, 13, (4, 9))
_zs = _rng.standard_normal((13, 13))
_ys = _rng.permutation(13)
_cases = [
    _core.Case("(4, 9, 13) logits", (_z, _y), expected=_ref_ce(_z, _y), rtol=1e-9),
    _core.Case("square (13, 13) logits: targets index the last axis", (_zs, _ys), expected=_ref_ce(_zs, _ys),
               rtol=1e-9),
    _core.Case("logits spread over +-1000 (a probability underflows)", (_z[0] * 500, _y[0]),
               expected=_ref_ce(_z[0] * 500, _y[0]), rtol=1e-9),
    _core.Case("float32 logits", (_z.astype(np.float32), _y), expected=_ref_ce(_z.astype(np.float32), _y),
               rtol=1e-5),
]
_core.run("cross_entropy (hidden)", cross_entropy, _cases, quiet=True)
_v = cross_entropy(_z, _y)
assert np.ndim(_v) == 0, f"cross_entropy must return one number, got shape {np.shape(_v)}"
### END HIDDEN TESTS

# %% [markdown]
# Now the held-out text. The validation split was never seen in training. We cut it into windows of
# `block_size` inputs; each window predicts the next character at every position, so one forward pass
# scores `block_size` characters. (Windows start fresh: the first prediction of each sees one
# character of context. The plot below shows what that costs.)

# %%
def window_batch(text: str, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows of a text: inputs (n, T) and targets (n, T), the inputs shifted by one."""
    ids = tok.encode(text)
    n = (len(ids) - 1) // T
    return ids[: n * T].reshape(n, T), ids[1 : n * T + 1].reshape(n, T)


n_chars = env.size(12_000, 2_000)
X, Y = window_batch(load_corpus("val")[:n_chars], config["block_size"])
val_logits = np.concatenate([gpt_forward(X[i : i + 32], config, params) for i in range(0, len(X), 32)])
ce = cross_entropy(val_logits, Y)
print(f"{Y.size} held-out characters: cross-entropy {ce:.4f} nats, perplexity {np.exp(ce):.3f}")
print(f"training report (whole val split): perplexity {report['val_perplexity']:.3f}; "
      f"add-one bigram from module 00: {report['bigram_val_perplexity']:.3f}; uniform guess: {config['vocab_size']}")

# %% [markdown]
# The bigram knows one character of context; the GPT can look back up to 127. Where does the gain come
# from? Average the loss at each position of the window: position 0 has one character of context, just
# like the bigram, and later positions have more.

# %%
logp = val_logits - val_logits.max(-1, keepdims=True)
logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))  # (n, T, V) log-probabilities
token_loss = -np.take_along_axis(logp, Y[..., None], -1)[..., 0]  # (n, T)
fig = plot.loss_by_position(token_loss.mean(axis=0), bigram=np.log(report["bigram_val_perplexity"]),
                            title="held-out loss at each position of the context window")
plt.show()

# %% [markdown]
# At position 0 the GPT is about as good as the
# bigram<!--? abs(token_loss.mean(axis=0)[0] - np.log(report["bigram_val_perplexity"])) < 0.1 -->: one
# character of context is all either of them has. Within about ten characters the loss falls to a quarter
# of that<!--? token_loss.mean(axis=0)[10] < 0.3 * token_loss.mean(axis=0)[0] -->, and after that more
# context hardly helps on this corpus (its lines are short). That is why a quoted perplexity depends
# on how it was measured: with a sliding window every prediction would get a full context, and the
# number would be lower. The loss also differs from line to line: the random letters of a `copy`
# prompt are unpredictable for any model, while their copies are nearly free.

# %% [markdown]
# ## 6. Making it write: greedy decoding and sampling
#
# To generate, run the model on the text so far, take the logits of the **last** position, pick a
# token, append it, repeat. *Greedy* decoding picks the argmax. It is deterministic and good for
# exact tasks, but on open text it tends to loop. *Sampling* draws the next token from the predicted
# distribution, and three knobs reshape that distribution first, in this order:
#
# 1. **Temperature** `τ`: divide the logits by `τ` *before* the softmax. `τ < 1` sharpens (as `τ → 0`
#    it becomes greedy; `τ = 0` is defined as greedy), `τ > 1` flattens towards uniform. Dividing the
#    *probabilities* by `τ` after the softmax does nothing at all once you renormalise: a popular wrong
#    answer.
# 2. **Top-k**: keep the `k` largest logits, set the others to `-inf`.
# 3. **Top-p** (nucleus): sort the tokens by probability and keep the smallest set of top tokens whose
#    total probability reaches `p`.
#
# Then softmax what is left (the removed tokens get probability exactly 0, the kept ones are
# renormalised) and draw one token with the random generator you are given. Filtering works on logits
# and returns logits with removed entries set to `-inf`, so that the filters compose.

# %% [markdown]
# ### 6.1 Top-k (2 points)
#
# Keep every logit that is at least the `k`-th largest value. With ties at that value this can keep a
# few more than `k` (all of the tied tokens stay: there is no reason to prefer one of them), which is
# what Hugging Face transformers' top-k filter does (it compares every logit with the `k`-th largest). `k >= V` keeps everything. `np.partition` or `np.sort` gives the
# `k`-th largest value.

# %% nbgrader={"grade": false, "grade_id": "top_k_filter", "locked": false, "solution": true, "schema_version": 3}
def top_k_filter(logits: np.ndarray, k: int) -> np.ndarray:
    """Logits (V,) with every entry below the k-th largest value set to -inf; a new float array (k >= 1)."""
    ### BEGIN SOLUTION
    z = np.asarray(logits, dtype=np.float64)
    if k >= z.shape[-1]:
        return z.copy()
    kth = np.sort(z)[-k]  # the k-th largest value
    return np.where(z >= kth, z, -np.inf)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_k_filter_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.top_k_filter(top_k_filter)
### BEGIN HIDDEN TESTS
def _kept_mask(got):
    got = np.asarray(got, dtype=np.float64)
    assert not np.isnan(got).any(), "NaN in the filtered logits"
    return got > -1e8


_rng = np.random.default_rng(49)
_z = _rng.standard_normal(50) * 2
for _k in (1, 3, 17, 49, 50, 80):
    _got = top_k_filter(_z.copy(), _k)
    _want = _z >= np.sort(_z)[-min(_k, 50)]
    assert np.array_equal(_kept_mask(_got), _want), \
        f"k={_k}: kept {_kept_mask(_got).sum()} tokens, expected {_want.sum()}"
    np.testing.assert_array_equal(np.asarray(_got)[_want], _z[_want], err_msg=f"k={_k}: kept logits must not change")
_zt = np.array([0.5, 2.0, 1.0, 2.0, 1.0, -3.0, 1.0])
for _k, _keep in ((1, [1, 3]), (2, [1, 3]), (3, [1, 2, 3, 4, 6]), (6, [0, 1, 2, 3, 4, 6])):
    assert np.flatnonzero(_kept_mask(top_k_filter(_zt, _k))).tolist() == _keep, f"ties, k={_k}: expected {_keep}"
_z32 = _z.astype(np.float32)
assert _kept_mask(top_k_filter(_z32, 5)).sum() == 5, "float32 logits"
_zc = _z.copy()
top_k_filter(_zc, 3)
assert np.array_equal(_zc, _z), "top_k_filter must not modify its input"
### END HIDDEN TESTS

# %% [markdown]
# ### 6.2 Top-p, the nucleus (3 points)
#
# Turn the logits into probabilities, sort them from most to least likely and walk down the list,
# adding probabilities, until the total **reaches** `p`. The token that makes the total cross `p` is
# **kept**. With probabilities `[0.5, 0.3, 0.15, 0.05]` and `p = 0.6`, the nucleus is `{0.5, 0.3}`:
# `0.5` alone falls short of `0.6`. The popular wrong answer keeps only the tokens whose running total
# is at most `p` (here just `{0.5}`), which is too few, and for small `p` keeps nothing at all.
#
# An equivalent rule that needs no sorting order and handles ties: **keep a token when the total
# probability of the tokens strictly more likely than it is below `p`.** Tied tokens are then kept or
# dropped together. (With a sort, that means: find the smallest kept probability and keep every token
# at least that likely.) `p = 1` keeps everything; the most likely token is always kept.

# %% nbgrader={"grade": false, "grade_id": "top_p_filter", "locked": false, "solution": true, "schema_version": 3}
def top_p_filter(logits: np.ndarray, p: float) -> np.ndarray:
    """Logits (V,) with every token outside the nucleus set to -inf; a new float array (0 < p <= 1).

    Keeps the smallest set of most likely tokens whose total probability reaches p (the token that
    crosses p included), plus any token tied in probability with the least likely kept one.
    """
    ### BEGIN SOLUTION
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    order = np.argsort(-probs, kind="stable")  # most likely first
    mass_before = np.cumsum(probs[order]) - probs[order]  # probability of the tokens ranked above
    n_keep = int(np.sum(mass_before < p))  # >= 1: the first token has 0 before it
    threshold = probs[order[n_keep - 1]]  # the least likely kept probability
    return np.where(probs >= threshold, z, -np.inf)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "top_p_filter_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.tiny_gpt.top_p_filter(top_p_filter)
### BEGIN HIDDEN TESTS
def _ref_top_p(z, p):
    z = np.asarray(z, dtype=np.float64)
    pr = np.exp(z - z.max())
    pr /= pr.sum()
    above = (pr[None, :] > pr[:, None]) * pr[None, :]  # row i: the tokens strictly more likely than i
    return above.sum(axis=1) < p


def _kept_mask(got):
    got = np.asarray(got, dtype=np.float64)
    assert not np.isnan(got).any(), "NaN in the filtered logits"
    return got > -1e8


_rng = np.random.default_rng(50)
for _trial in range(6):
    _z = _rng.standard_normal(30) * (1 + _trial)
    for _p in (0.05, 0.3, 0.6, 0.9, 0.99, 1.0):
        _got = top_p_filter(_z.copy(), _p)
        _want = _ref_top_p(_z, _p)
        assert np.array_equal(_kept_mask(_got), _want), (
            f"30 logits (scale {1 + _trial}), p={_p}: kept {_kept_mask(_got).sum()} tokens, expected {_want.sum()}")
        np.testing.assert_allclose(np.asarray(_got)[_want], _z[_want], rtol=1e-12,
                                   err_msg="kept logits must not change")
# ties at the boundary, in an order that a stable sort would split
_zt = np.log(np.array([0.1, 0.3, 0.1, 0.1, 0.3, 0.1]))
for _p, _n in ((0.2, 2), (0.55, 2), (0.65, 6), (0.95, 6)):
    _m = _kept_mask(top_p_filter(_zt, _p))
    assert _m.sum() == _n, \
        f"tied probabilities [0.1, 0.3, 0.1, 0.1, 0.3, 0.1], p={_p}: expected {_n} kept, got {_m.sum()}"
# a peaked distribution: a small p keeps exactly the top token
_zp = np.array([5.0, 1.0, 0.0, -1.0])
assert _kept_mask(top_p_filter(_zp, 0.01)).tolist() == [True, False, False, False], "p=0.01 keeps the top token"
assert _kept_mask(top_p_filter(_zp.astype(np.float32), 0.995)).sum() == 3, "float32 logits, p=0.995"
# logits near +1000 and -1000 (an overflow test; the distribution itself is moderate)
_z = _rng.standard_normal(30) * 2
for _off in (1000.0, -1000.0):
    for _p in (0.3, 0.9):
        _got = top_p_filter(_z + _off, _p)
        assert np.array_equal(_kept_mask(_got), _ref_top_p(_z, _p)), (
            f"logits near {_off:+.0f}, p={_p}: kept {_kept_mask(_got).sum()} tokens, expected {_ref_top_p(_z, _p).sum()}")
### END HIDDEN TESTS

# %% [markdown]
# How big is the nucleus? It depends on how sure the model is. After `"\nthe "` many words can follow;
# in the middle of a `copy` answer only one character can. The plot counts the tokens top-p keeps as
# `p` goes from 0 to 1, for three contexts.

# %%
contexts = ["\nthe ", "\ncopy kqzvt>kq", "\nadd 47+38="]
ps = np.linspace(0.02, 1.0, 50)
sizes = {}
for text in contexts:
    last = gpt_forward(tok.encode(text), config, params)[-1]  # (V,)
    sizes[repr(text)] = np.array([np.sum(top_p_filter(last, p) > -np.inf) for p in ps])
fig = plot.nucleus_size(ps, sizes, title="tokens kept by top-p, for three contexts")
plt.show()

# %% [markdown]
# ### 6.3 Sampling one token (3 points)
#
# Put it together: temperature, then top-k (when `top_k` is not `None`), then top-p (when `top_p` is
# not `None`), then softmax and one draw from `rng`, a `np.random.Generator`. `temperature == 0`
# means greedy: return the argmax without drawing. Use only `rng` for randomness (not `np.random.*`),
# so that the same seed gives the same text. Any correct way of drawing is accepted: `rng.choice(V,
# p=probs)`, or the inverse CDF `np.searchsorted(np.cumsum(probs), rng.random())`; the tests compare
# the *distribution* of many seeded draws with the filtered probabilities, and check that a token
# with probability 0 is never drawn.

# %% nbgrader={"grade": false, "grade_id": "sample_next", "locked": false, "solution": true, "schema_version": 3}
def sample_next(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> int:
    """One token id drawn from logits (V,): temperature, then top-k, then top-p, then softmax; 0 = greedy."""
    ### BEGIN SOLUTION
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    probs = softmax(z)
    return int(rng.choice(len(probs), p=probs))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sample_next_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.tiny_gpt.sample_next(sample_next)
### BEGIN HIDDEN TESTS
def _ref_probs(z, t, k=None, p=None):
    z = np.asarray(z, dtype=np.float64) / t
    if k is not None:
        z = np.where(z >= np.sort(z)[-min(k, len(z))], z, -np.inf)
    if p is not None:
        pr = np.exp(z - z.max())
        pr /= pr.sum()
        above = ((pr[None, :] > pr[:, None]) * pr[None, :]).sum(axis=1)
        z = np.where(above < p, z, -np.inf)
    pr = np.exp(z - z.max())
    return pr / pr.sum()


def _freqs(z, n, seed, **kw):
    rng = np.random.default_rng(seed)
    draws = np.array([int(sample_next(z, rng, **kw)) for _ in range(n)])
    assert draws.min() >= 0 and draws.max() < len(z), f"drew an id outside 0..{len(z) - 1}"
    return np.bincount(draws, minlength=len(z)) / n


def _match(z, n, seed, label, **kw):
    want = _ref_probs(z, kw.get("temperature", 1.0), kw.get("top_k"), kw.get("top_p"))
    got = _freqs(z, n, seed, **kw)
    assert not np.any((want == 0) & (got > 0)), f"{label}: drew tokens that have probability 0: {got} vs {want}"
    tol = 5 * np.sqrt(want * (1 - want) / n) + 2e-3
    assert np.all(np.abs(got - want) <= tol), \
        f"{label}: frequencies {np.round(got, 3)} vs probabilities {np.round(want, 3)}"


_N = 4000
_z = np.log(np.array([0.45, 0.3, 0.15, 0.1]))
# temperature 0.5 first makes the probabilities [0.62, 0.28, 0.07, 0.03]: top_p=0.85 then keeps 2 tokens
# (applying top-p before the temperature would keep 3)
_match(_z, _N, 11, "temperature 0.5, then top_p=0.85", temperature=0.5, top_p=0.85)
_match(_z, _N, 12, "temperature 2 flattens", temperature=2.0)
_zr = np.random.default_rng(51).standard_normal(7)
_match(_zr, _N, 13, "temperature 0.8, top_k=4, top_p=0.7", temperature=0.8, top_k=4, top_p=0.7)
_match(_zr.astype(np.float32), _N, 14, "float32 logits, top_k=3", top_k=3)
_match(_zr + 1000.0, _N, 15, "logits near 1000 (overflow test), temperature 0.5", temperature=0.5)
# temperature -> 0 approaches greedy; temperature 0 is greedy
_zg = np.array([0.3, 1.2, 1.1, -2.0, 0.9])
assert all(int(sample_next(_zg, np.random.default_rng(s), temperature=1e-3)) == 1 for s in range(20)), \
    "temperature 1e-3 must (almost) always pick the argmax"
assert int(sample_next(_zg, np.random.default_rng(0), temperature=0.0, top_p=0.5)) == 1, "temperature 0"
# the generator decides: same seed, same draws; the global np.random state is left alone
_state = np.random.get_state()[1].copy()
_a = [int(sample_next(_zr, np.random.default_rng(99))) for _ in range(5)]
_g1, _g2 = np.random.default_rng(7), np.random.default_rng(7)
_s1 = [int(sample_next(_zr, _g1)) for _ in range(40)]
_s2 = [int(sample_next(_zr, _g2)) for _ in range(40)]
assert _s1 == _s2, "two generators with the same seed must give the same draws"
assert np.array_equal(_state, np.random.get_state()[1]), "use the rng argument, not np.random's global state"
_g3 = np.random.default_rng(8)
assert [int(sample_next(_zr, _g3)) for _ in range(40)] != _s1, "a different seed should give different draws"
### END HIDDEN TESTS

# %% [markdown]
# ### 6.4 Generating text (2 points)
#
# `generate` repeats: run `forward` on the last `block_size` tokens at most (the position table has no
# row beyond that), take the logits of the **last** position, `sample_next`, append. It returns the
# prompt followed by the `n_new` new ids. `forward` maps `(T,)` ids to `(T, V)` logits, so the same
# function can drive your NumPy model, the PyTorch reference, or a fake model in a test.
# Popular wrong answers: using the logits of position 0, cropping to the *first* `block_size` tokens,
# and not cropping at all (the model then fails once the text outgrows its context).

# %% nbgrader={"grade": false, "grade_id": "generate", "locked": false, "solution": true, "schema_version": 3}
def generate(forward, prompt_ids: np.ndarray, n_new: int, rng: np.random.Generator, block_size: int,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """prompt_ids (T,) -> (T + n_new,) ints: the prompt then n_new tokens, each from sample_next on the last logits.

    forward(ids (t,)) -> logits (t, V) is called on at most the last block_size tokens.
    """
    ### BEGIN SOLUTION
    ids = [int(i) for i in prompt_ids]
    for _ in range(n_new):
        logits = forward(np.array(ids[-block_size:]))  # (t, V), t <= block_size
        ids.append(sample_next(logits[-1], rng, temperature, top_k, top_p))
    return np.array(ids, dtype=np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "generate_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.generate(generate)
### BEGIN HIDDEN TESTS
import torch

from llmcourse.model import generate as _torch_generate
from llmcourse.model import load_checkpoint

_ref = load_checkpoint()


def _torch_forward(ids):
    with torch.no_grad():
        return _ref(torch.as_tensor(np.asarray(ids, dtype=np.int64))).double().numpy()


for _text, _n in (("\nthe king ", 25), ("\ncopy abcde>", 6), ("x" * 126, 6)):
    _p = tok.encode(_text)
    _want = _torch_generate(_ref, _p, _n)
    _got = np.asarray(generate(_torch_forward, _p, _n, np.random.default_rng(0), config["block_size"], temperature=0.0))
    assert np.array_equal(_got, _want), f"greedy from {_text[-20:]!r}: expected {tok.decode(_want[len(_p):])!r}, " \
                                        f"got {tok.decode(_got[len(_p):]) if _got.shape == _want.shape else _got}"
_calls = []


def _fixed(ids):
    """A fake model that always predicts the same distribution and records the context lengths."""
    ids = np.asarray(ids)
    assert ids.ndim == 1 and len(ids) <= 4, f"forward called with ids of shape {ids.shape} (block_size is 4)"
    _calls.append(len(ids))
    return np.tile(np.log(np.array([0.5, 0.3, 0.2, 1e-9])), (len(ids), 1))


_out = np.asarray(generate(_fixed, np.array([3, 3]), 2000, np.random.default_rng(5), 4, temperature=1.0, top_k=3))
assert _out.shape == (2002,) and list(_out[:2]) == [3, 3], "prompt then 2000 new tokens"
assert _calls[:4] == [2, 3, 4, 4], f"context lengths {_calls[:4]}: grow to block_size, then stay there"
_f = np.bincount(_out[2:], minlength=4) / 2000
assert _f[3] == 0 and np.allclose(_f[:3], [0.5, 0.3, 0.2], atol=0.06), f"sampled frequencies {_f}"
_again = np.asarray(generate(_fixed, np.array([3, 3]), 50, np.random.default_rng(5), 4, temperature=1.0, top_k=3))
assert np.array_equal(_again, _out[:52]), "the same seed must give the same text"
### END HIDDEN TESTS

# %% [markdown]
# Let the checkpoint write. Greedy first, then sampling at rising temperatures, all from the same
# seed: watch the text go from repetitive to varied to garbled.

# %%
def forward(ids: np.ndarray) -> np.ndarray:
    """Your NumPy model on one sequence: ids (T,) -> logits (T, V)."""
    return gpt_forward(ids, config, params)


n_new = env.size(100, 30)
start = tok.encode("\n")
for temperature in (0.0, 0.5, 1.0, 1.5):
    out = generate(forward, start, n_new, np.random.default_rng(0), config["block_size"], temperature=temperature)
    print(f"--- temperature {temperature} " + "-" * 60)
    print(tok.decode(out[1:]))

# %% [markdown]
# Top-k and top-p cut the long tail of unlikely characters, which is where the garble at high
# temperature comes from:

# %%
for kw in ({"top_k": 5}, {"top_p": 0.9}):
    out = generate(forward, start, n_new, np.random.default_rng(0), config["block_size"], temperature=1.5, **kw)
    print(f"--- temperature 1.5, {kw} " + "-" * 50)
    print(tok.decode(out[1:]))

# %% [markdown]
# ### Exact tasks
#
# Sentences can only be judged by eye; the task lines can be scored. Give the model a new line and a
# prompt it has never seen, decode greedily until the newline, and compare with the answer. The
# training report measured the same thing with the PyTorch model on 200 fresh examples per task. To
# save time, the helper below runs all prompts of the same length as one batch `(B, T)`: your
# `gpt_forward` takes batches, and greedy decoding needs no random generator.

# %%
def greedy_answers(prompts: list[str], max_new: int) -> list[str | None]:
    """Greedy continuation of each newline + prompt up to the next newline (None if none within max_new)."""
    answers: list[str | None] = [None] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, text in enumerate(prompts):
        by_length.setdefault(len(text), []).append(i)
    for rows in by_length.values():
        ids = np.stack([tok.encode("\n" + prompts[i]) for i in rows])  # (B, T): one batch per prompt length
        T = ids.shape[1]
        for _ in range(max_new):
            nxt = gpt_forward(ids, config, params)[:, -1].argmax(axis=-1)  # (B,)
            ids = np.concatenate([ids, nxt[:, None]], axis=1)  # (B, T + 1)
        for i, row in zip(rows, ids[:, T:], strict=True):
            text = tok.decode(row)
            answers[i] = text.split("\n")[0] if "\n" in text else None
    return answers


n_examples = env.size(60, 10)
for task in TASKS:
    examples = task_examples(task, n_examples)
    got = greedy_answers([prompt_text for prompt_text, _ in examples], max_new=8)
    right = sum(g == answer for g, (_, answer) in zip(got, examples, strict=True))
    print(f"{task:7s} your NumPy model: {right}/{n_examples} exact    "
          f"(training report: {report['task_accuracy'][task]:.0%} of {report['task_examples']})")
    print(f"        for example {examples[0][0]!r} -> {got[0]!r} (expected {examples[0][1]!r})")

# %% [markdown]
# The three tasks are not equally hard. **Copying** is what attention does best: after the first
# letter, each letter of the answer is the one that followed the previous letter in the prompt, so a
# head that matches the previous character and reads the one after it (an *induction head*) solves
# it, and the model is perfect or nearly so<!--? report["task_accuracy"]["copy"] > 0.97 -->. **Recall** (`recall a=1 b=2 c=3 ? b=`) needs a two-character
# match, the key letter *and* the `=` after it, before the digit can be read. The model learned it well:
# trained for 2000 steps it was right only about a fifth of the time, usually with one of the listed
# digits but the wrong one, and with 4000 steps (about a quarter of an hour on two cores) it is right
# almost always<!--? report["task_accuracy"]["recall"] > 0.95 -->. **Addition** needs carries, which no
# single lookup in the prompt provides, and it is the task this model still misses most
# often<!--? min(report["task_accuracy"], key=report["task_accuracy"].get) == "add" -->. Later modules compress this model, and these three
# numbers are how we will see what compression breaks first.

# %% [markdown]
# ## 7. Short answers (2 points)
#
# Set each variable to a number.
#
# 1. `answer_uniform_perplexity`: the perplexity (natural-log cross-entropy, exponentiated) of a model
#    that gives every one of this course's `V` characters the same probability, whatever the context.
# 2. `answer_top_p_kept`: next-token probabilities are `[0.4, 0.3, 0.2, 0.1]`. How many tokens does
#    top-p sampling with `p = 0.75` keep?
# 3. `answer_n_logits`: how many logits (single numbers) does one forward pass of this checkpoint
#    return for a batch of 4 sequences of 100 characters each?

# %% nbgrader={"grade": false, "grade_id": "answers", "locked": false, "solution": true, "schema_version": 3}
answer_uniform_perplexity = None
answer_top_p_kept = None
answer_n_logits = None
### BEGIN SOLUTION
answer_uniform_perplexity = config["vocab_size"]  # exp(ln V) = V = 48
answer_top_p_kept = 3  # 0.4 + 0.3 = 0.7 < 0.75, so 0.2 joins
answer_n_logits = 4 * 100 * config["vocab_size"]  # one row of V logits per position
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "answers_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.tiny_gpt.answers(answer_uniform_perplexity=answer_uniform_perplexity, answer_top_p_kept=answer_top_p_kept,
                        answer_n_logits=answer_n_logits)
### BEGIN HIDDEN TESTS
assert abs(float(answer_uniform_perplexity) - 48) < 1e-6, \
    "uniform over V = 48 characters: cross-entropy ln 48, perplexity 48"
assert float(answer_top_p_kept) == 3, "0.4 + 0.3 = 0.7 falls short of 0.75; the token that crosses p (0.2) is kept: 3"
assert float(answer_n_logits) == 4 * 100 * 48, "every position gets V = 48 logits: 4 * 100 * 48"
### END HIDDEN TESTS

# %% [markdown]
# ## Practice quiz
#
# Not graded: pick an answer, press Check, read why each option is right or wrong.

# %%
quiz.show("04_tiny_gpt")

# %% [markdown]
# ## Summary
#
# * A decoder-only GPT is: token plus position embeddings; `n_layer` pre-norm blocks, each
#   `x + attn(ln1(x))` then `x + mlp(ln2(x))`; a final LayerNorm; a linear head to `V` logits per
#   position. Attention is the only place where positions mix, and the causal mask keeps it from
#   looking ahead.
# * LayerNorm normalises each token over its features, with the biased variance and `eps` inside the
#   square root. The checkpoint's GELU is the tanh form; the exact `erf` form differs by up to `5e-4` per
#   activation and by about `1e-2` in the logits<!--? 3e-3 < erf_vs_tanh < 3e-2 -->.
# * Your NumPy forward pass reproduces the PyTorch model's logits up to float32 rounding: the checkpoint format
#   (`(in, out)` matrices, `[q | k | v]` columns) is all the two need to share.
# * Cross-entropy from logits goes through a stable log-sum-exp; perplexity is its exponential. The
#   GPT's held-out perplexity is well below the bigram's, and most of the gain comes after a few
#   characters of context.
# * Sampling: temperature divides the logits before the softmax; top-k keeps the `k` largest (ties
#   included); top-p keeps the smallest set that reaches `p`, including the token that crosses it. The
#   same seed must give the same text.
#
# ## Going further
#
# * Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2, 2019), for the
#   pre-norm layout used here; Xiong et al., "On Layer Normalization in the Transformer Architecture"
#   (2020), for why pre-norm trains without a warm-up trick.
# * Hendrycks and Gimpel, "Gaussian Error Linear Units" (2016), where the tanh approximation comes from.
# * Holtzman et al., "The Curious Case of Neural Text Degeneration" (2020) introduced nucleus sampling
#   and shows why greedy decoding repeats itself. Newer filters, such as min-p (keep tokens whose
#   probability is at least a fraction of the top one), are a small change to your `top_p_filter`: try.
# * Every call to `generate` above recomputes the whole context for each new token, so the cost of
#   each token grows with the text. Module 05 ports this model to PyTorch and adds the KV cache, which
#   keeps the keys and values of earlier positions; module 06 counts what each token costs.
# * Rewrite `causal_self_attention` so that it takes a `(T_q, C)` query block at the end of a longer
#   sequence: that is the shape of the problem the KV cache solves.
