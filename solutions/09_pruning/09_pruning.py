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
# # 09 · Pruning: from magnitude to 2:4, with sparse kernels in Numba
#
# Quantization (module 07) stores every weight in fewer bits. Pruning removes weights: it sets some of
# them to zero and, if the zeros form a pattern a kernel can skip, reads and multiplies fewer of them.
# Both aim at the same limit that module 06 measured: a decode step reads every weight once, so fewer
# bytes per weight is speed.
#
# This module prunes the course GPT in the three ways used in practice and measures what each costs
# in quality and buys in speed:
#
# * **Unstructured** pruning zeroes single weights chosen by an importance score: magnitude, the
#   first-order Taylor score `|w · ∂L/∂w|`, or the activation-aware score of Wanda. It keeps quality
#   best, but the zeros are scattered: only a sparse format (CSR) can skip them.
# * **Structured** pruning removes whole attention heads and FFN neurons: the matrices really shrink and
#   every dense kernel gets faster at once.
# * **Semi-structured 2:4** sparsity keeps 2 of every 4 consecutive weights: a fixed pattern with a
#   compact index that hardware (NVIDIA's sparse tensor cores since Ampere) and our own kernel can use.
#
# Then it allocates sparsity per layer under a budget, writes Numba kernels for CSR and 2:4 matrix-vector
# products and finds where they beat dense NumPy, and ends with gradual pruning and fine-tuning.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `magnitude_mask`: keep the largest magnitudes, exact count | 2 |
# | 1.2 | `prune_model`: per-tensor or one global threshold | 3 |
# | 1.3 | `prunable_sparsity`: sparsity over the prunable weights | 1 |
# | 2.1 | `taylor_scores`: `|w · ∂L/∂w|` from a calibration batch | 2 |
# | 2.2 | `wanda_mask`: `|W| · ‖X‖` compared within each output | 2 |
# | 3.1 | `prune_heads`: remove attention heads, smaller matrices | 3 |
# | 3.2 | `prune_ffn`: remove FFN neurons | 2 |
# | 4.1 | `mask_24`: 2 of every 4 along the reduction axis | 2 |
# | 4.2 | `compress_24` / `decompress_24`: values and 2-bit indices | 2 |
# | 5.1 | `dense_to_csr`: values, column indices, row pointers | 2 |
# | 5.2 | `csr_matvec`: Numba CSR matrix-vector product | 2 |
# | 5.3 | `sparse24_matvec`: Numba 2:4 matrix-vector product | 3 |
# | 6.1 | `allocate_sparsity`: per-layer sparsity under a budget | 2 |
# | 7.1 | `masked_train_step`: fine-tune without regrowing pruned weights | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line when your function passes a few hand-worked cases; the grader
# also runs hidden tests with other shapes and seeds, extreme values and the popular wrong answers.
#
# **Names.** `w` a weight in the course layout **(in_features, out_features) = (K, N)**, used as
# `y = x @ w`; `w_t` the same weight transposed, `(N, K)`, as `nn.Linear.weight` stores it and as the
# kernels of module 07 read it (one output per row, the reduction axis last). A **mask** is a boolean
# array of the weight's shape, `True` where the weight is **kept**. **Sparsity** is the fraction of
# weights that are zero.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("09_pruning")

# %%
# %matplotlib inline
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange

from llmcourse import bench, checks, env, quiz
from llmcourse.data import TASKS, CharTokenizer, load_corpus
from llmcourse.model import forward_params, from_numpy, load_numpy, perplexity, task_accuracies, to_numpy

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # the tiny GPT is faster on one thread, and it keeps torch's pool out of the timings
config, params = load_numpy()
PRUNABLE = [f"blocks.{i}.{m}" for i in range(config["n_layer"])
            for m in ("attn.w_qkv", "attn.w_out", "mlp.w_in", "mlp.w_out")]
val_text = load_corpus("val")[: env.size(6000, 1500)]
n_task = env.size(100, 10)
print(config)
print(f"{len(PRUNABLE)} prunable matrices, {sum(params[n].size for n in PRUNABLE):,} weights "
      f"of {sum(p.size for p in params.values()):,} parameters")


def evaluate(p: dict) -> tuple[float, dict]:
    """(held-out perplexity, task accuracies) of the course GPT with parameters p (checkpoint layout)."""
    torch.set_num_threads(1)  # Numba's parallel kernels reset torch's thread count
    model = from_numpy(config, p)
    return perplexity(model, val_text), task_accuracies(model, n=n_task)


dense_ppl, dense_acc = evaluate(params)
print(f"dense model: perplexity {dense_ppl:.4f}, " + ", ".join(f"{t} {dense_acc[t]:.0%}" for t in TASKS))

# %% [markdown]
# ## 1. Magnitude pruning
#
# The oldest rule (LeCun's Optimal Brain Damage used a second-order score; Han et al., 2015 made plain
# magnitude work at scale): a weight close to zero contributes little, so zero the smallest `|w|`.
# Three decisions make it a method rather than a one-liner.
#
# * **What is prunable.** The linear weights of the blocks (`attn.w_qkv`, `attn.w_out`, `mlp.w_in`,
#   `mlp.w_out`): nearly all of the parameters (the first cell printed the count) and all of the blocks'
#   matrix-vector work. Biases and
#   LayerNorm gains are a handful of numbers each, and zeroing a LayerNorm gain switches a feature off
#   for every token. The embeddings and the LM head stay dense too (by default in this course, as in
#   Wanda and SparseGPT): they are lookups or a small last layer that every token's prediction uses.
# * **How many.** "50%<!--const: a sparsity level the text chooses--> sparsity" means exactly half of the prunable weights are zero afterwards, so the
#   count must be exact even when several weights share the threshold magnitude (ties are common: zeros
#   already present, or weights quantized to a grid).
# * **Which threshold.** One threshold per tensor prunes every layer to the same sparsity. One **global**
#   threshold over all prunable weights lets layers whose weights are small lose more; since the layers
#   of a network have different scales, the two are very different.

# %% [markdown]
# ### 1.1 The magnitude mask (2 points)
#
# Write `magnitude_mask(w, sparsity)`: a boolean mask of `w`'s shape, `True` where the weight is kept.
# Exactly `n_prune = round(sparsity * w.size)` weights (Python's `round`) are pruned, and they are the
# smallest in magnitude: every pruned `|w|` is ≤ every kept `|w|`. When several weights tie at the
# threshold, which of them are pruned is up to you; the count must still be exact.
#
# Hint: sort `|w|` once (`np.argsort(..., kind="stable")`), or find the `n_prune` smallest with
# `np.argpartition`. Traps: `|w| > np.quantile(|w|, sparsity)` prunes every weight tied at the
# threshold (a wrong count on a matrix with ties), pruning by the signed value `w` instead of `|w|`
# removes large negative weights, and `n_prune = 0` must keep everything.

# %% nbgrader={"grade": false, "grade_id": "magnitude_mask", "locked": false, "solution": true, "schema_version": 3}
def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Boolean mask of w's shape, True = kept; exactly round(sparsity * w.size) smallest-|w| entries pruned."""
    ### BEGIN SOLUTION
    n_prune = round(sparsity * w.size)
    order = np.argsort(np.abs(w), axis=None, kind="stable")  # (w.size,) flat indices, smallest |w| first
    keep = np.ones(w.size, dtype=bool)
    keep[order[:n_prune]] = False
    return keep.reshape(w.shape)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "magnitude_mask_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.magnitude_mask(magnitude_mask)
### BEGIN HIDDEN TESTS
def _mag_ok(w, m, s, what):
    m = np.asarray(m)
    assert m.dtype == bool and m.shape == w.shape, f"{what}: mask must be bool of shape {w.shape}, got {m.dtype} {m.shape}"
    n_prune = round(s * w.size)
    assert (~m).sum() == n_prune, f"{what}: {(~m).sum()} pruned, expected exactly {n_prune}"
    a = np.abs(w.astype(np.float64))
    if 0 < n_prune < w.size:
        assert a[~m].max() <= a[m].min(), f"{what}: a pruned |w| is larger than a kept |w|"


_rng = np.random.default_rng(91)
for _shape, _s in (((37, 11), 0.5), ((5, 7, 3), 0.3), ((64,), 0.9), ((13, 17), 0.0), ((6, 6), 1.0), ((3, 1), 0.34)):
    _w = (_rng.standard_normal(_shape) * np.exp(_rng.uniform(-30, 30, _shape))).astype(np.float32)
    _keep = _w.copy()
    _m = magnitude_mask(_w, _s)
    assert np.array_equal(_w, _keep), "magnitude_mask modified its input"
    _mag_ok(_w, _m, _s, f"shape {_shape}, sparsity {_s}")
# large negative weights are important: magnitude, not signed value
_w = np.array([[-9.0, 0.1], [3.0, -0.2]], dtype=np.float32)
assert np.array_equal(magnitude_mask(_w, 0.5), np.array([[True, False], [True, False]])), "prune by |w|, not w"
# ties at the threshold: 12 equal magnitudes (signs mixed), exact count all the same
_w = np.array([0.0] * 5 + [1.0, -1.0] * 6 + [2.0, -3.0, 4.0], dtype=np.float32).reshape(4, 5)
for _s in (0.25, 0.4, 0.55, 0.8):
    _mag_ok(_w, magnitude_mask(_w, _s), _s, f"ties, sparsity {_s}")
# an all-zero matrix: every magnitude ties
_mag_ok(np.zeros((7, 9), dtype=np.float32), magnitude_mask(np.zeros((7, 9), dtype=np.float32), 0.6), 0.6, "all zero")
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 Per-tensor or global (3 points)
#
# Write `prune_model(params, names, sparsity, scope)`. It returns `(pruned, masks)`: `pruned` is a **new**
# dict with every tensor in `names` multiplied by its mask and every other entry unchanged (the input
# must not change), and `masks` maps each name in `names` to its boolean mask.
#
# * `scope="layer"`: each tensor gets `magnitude_mask(w, sparsity)`.
# * `scope="global"`: one threshold over all of `names` together: exactly
#   `round(sparsity * total)` weights are pruned (`total` = the number of weights in `names`), the
#   smallest magnitudes of the whole set. Concatenate the flattened tensors, build one mask with your
#   `magnitude_mask`, and cut it back into the tensors' shapes.
#
# Traps: pruning biases or LayerNorm gains (anything not in `names`); computing the threshold per tensor
# when the global one is asked; modifying `params` in place.

# %% nbgrader={"grade": false, "grade_id": "prune_model", "locked": false, "solution": true, "schema_version": 3}
def prune_model(params: dict, names: list[str], sparsity: float, scope: str = "global") -> tuple[dict, dict]:
    """(new params with the tensors in `names` masked, {name: bool keep-mask}); scope 'layer' or 'global'."""
    ### BEGIN SOLUTION
    if scope == "layer":
        masks = {n: magnitude_mask(params[n], sparsity) for n in names}
    elif scope == "global":
        flat = np.concatenate([params[n].ravel() for n in names])  # (total,)
        keep = magnitude_mask(flat, sparsity)
        ends = np.cumsum([params[n].size for n in names])
        masks = {n: part.reshape(params[n].shape)
                 for n, part in zip(names, np.split(keep, ends[:-1]), strict=True)}
    else:
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    pruned = dict(params)
    for n in names:
        pruned[n] = params[n] * masks[n]
    return pruned, masks
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "prune_model_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.pruning.prune_model(prune_model)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(92)
_p = {"a.w": _rng.standard_normal((30, 20)).astype(np.float32) * 5.0,  # a layer with large weights
      "a.b": _rng.standard_normal(20).astype(np.float32) * 1e-4,         # a tiny bias: never pruned
      "ln.weight": np.full(20, 1e-6, dtype=np.float32),
      "b.w": _rng.standard_normal((20, 7)).astype(np.float32) * 0.01,    # a layer with small weights
      "c.w": np.zeros((3, 5), dtype=np.float32)}                          # all zero: ties
_p["a.w"][0, :4] = [-80.0, 80.0, 0.0, -0.0]
_before = {k: v.copy() for k, v in _p.items()}
_names = ["a.w", "b.w", "c.w"]
_total = sum(_p[n].size for n in _names)
for _s in (0.2, 0.5, 0.85):
    for _scope in ("layer", "global"):
        _out, _masks = prune_model(_p, _names, _s, _scope)
        for _k in _p:
            assert np.array_equal(_p[_k], _before[_k]), f"input {_k} was modified"
        assert set(_masks) == set(_names), f"masks must cover exactly {_names}"
        for _k in ("a.b", "ln.weight"):
            assert np.array_equal(_out[_k], _before[_k]), f"{_k} is not prunable and must not change"
        for _n in _names:
            _m = np.asarray(_masks[_n])
            assert _m.dtype == bool and _m.shape == _p[_n].shape, f"mask of {_n}: bool {_p[_n].shape}"
            assert np.array_equal(_out[_n], _p[_n] * _m), f"{_n}: pruned tensor must be params * mask"
        _a = {n: np.abs(_p[n].astype(np.float64)) for n in _names}
        if _scope == "layer":
            for _n in _names:
                assert (~_masks[_n]).sum() == round(_s * _p[_n].size), f"layer scope: {_n} has the wrong count"
        else:
            _pruned_n = sum((~_masks[n]).sum() for n in _names)
            assert _pruned_n == round(_s * _total), f"global: {_pruned_n} pruned, expected {round(_s * _total)}"
            _kept_min = min(_a[n][_masks[n]].min() for n in _names if _masks[n].any())
            _pr_max = max(_a[n][~_masks[n]].max() for n in _names if (~_masks[n]).any())
            assert _pr_max <= _kept_min, "global: one threshold for all tensors (a per-tensor threshold?)"
# with one global threshold the small-weight layer is pruned far more than the large one
_out, _masks = prune_model(_p, _names, 0.5, "global")
assert (~_masks["b.w"]).mean() == 1.0 and (~_masks["a.w"]).mean() < 0.5, "global threshold: b.w is the smallest"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.3 Counting sparsity honestly (1 point)
#
# A paper that says "50%<!--const: a sparsity level the text chooses--> sparse" means 50%<!--const: a sparsity level the text chooses--> of the prunable weights. Counted over all parameters
# (embeddings, biases, LayerNorm) the same model looks less sparse; averaged per tensor it gives a small
# matrix the same vote as a large one. Write `prunable_sparsity(params, names)`: the fraction of
# entries that are exactly zero among all weights of the tensors in `names`, as a Python float. A weight
# of `1e-30` is not zero.

# %% nbgrader={"grade": false, "grade_id": "prunable_sparsity", "locked": false, "solution": true, "schema_version": 3}
def prunable_sparsity(params: dict, names: list[str]) -> float:
    """Fraction of exactly-zero entries over all weights of the tensors in `names`."""
    ### BEGIN SOLUTION
    zeros = sum(int(np.count_nonzero(params[n] == 0)) for n in names)
    return zeros / sum(params[n].size for n in names)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "prunable_sparsity_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.pruning.prunable_sparsity(prunable_sparsity)
### BEGIN HIDDEN TESTS
_p = {"x.w": np.zeros((40, 10), dtype=np.float32), "y.w": np.full((2, 3), 1e-30, dtype=np.float32),
      "emb": np.zeros((50, 4), dtype=np.float32), "z.w": np.array([[0.0, -0.0, -1e30, 5.0]], dtype=np.float32)}
_p["x.w"][::2] = -7.0
_got = prunable_sparsity(_p, ["x.w", "y.w", "z.w"])
assert isinstance(_got, (float, np.floating)), f"return a float, got {type(_got).__name__}"
assert abs(float(_got) - (200 + 0 + 2) / (400 + 6 + 4)) < 1e-12, f"got {_got}: count zeros over the named tensors only"
assert float(prunable_sparsity(_p, ["y.w"])) == 0.0, "1e-30 is not zero"
assert float(prunable_sparsity(_p, ["emb"])) == 1.0
### END HIDDEN TESTS

# %% [markdown]
# Now prune the course GPT both ways and look at where the global threshold puts the zeros.

# %%
print(f"{'sparsity':>9} {'scope':>7} {'perplexity':>11} " + " ".join(f"{t:>7}" for t in TASKS) + "   per-matrix sparsity (block 0: qkv, out, in, out)")
magnitude_results = {}
for s in (0.5, 0.7):
    for scope in ("layer", "global"):
        pruned, masks = prune_model(params, PRUNABLE, s, scope)
        ppl, acc = evaluate(pruned)
        magnitude_results[s, scope] = (ppl, acc)
        per = [1 - masks[n].mean() for n in PRUNABLE[:4]]
        print(f"{s:>9.0%} {scope:>7} {ppl:>11.4f} " + " ".join(f"{acc[t]:>7.0%}" for t in TASKS)
              + "   " + " ".join(f"{v:.2f}" for v in per)
              + f"   (check: {prunable_sparsity(pruned, PRUNABLE):.3f} of the prunable weights,"
              f" {prunable_sparsity(pruned, list(pruned)):.3f} of all parameters)")
_, gmasks = prune_model(params, PRUNABLE, 0.7, "global")
fig, ax = plt.subplots(figsize=(9, 3))
ax.bar(range(len(PRUNABLE)), [1 - gmasks[n].mean() for n in PRUNABLE])
ax.axhline(0.7, color="k", ls="--", lw=1, label="uniform 70%")
ax.set_xticks(range(len(PRUNABLE)), [n.replace("blocks.", "b").replace("attn.", "").replace("mlp.", "mlp.")
                                     for n in PRUNABLE], rotation=60, fontsize=8)
ax.set_ylabel("sparsity")
ax.set_title("one global magnitude threshold at 70%: sparsity per matrix")
ax.legend()
fig.tight_layout()
by_sparsity = sorted(PRUNABLE, key=lambda n: gmasks[n].mean())
print("global 70%: pruned hardest", [(n, f"{1 - gmasks[n].mean():.2f}") for n in by_sparsity[:3]])
print("            pruned least  ", [(n, f"{1 - gmasks[n].mean():.2f}") for n in by_sparsity[-3:]])
print("median |w| of those:", {n: float(np.median(np.abs(params[n]))) for n in by_sparsity[:1] + by_sparsity[-1:]})

# %% [markdown]
# The table is computed above, on this checkpoint: read the rows, not a memory of a paper. The bar plot
# and the lines under it show why the two scopes differ: one global threshold prunes the matrices whose
# weights are small in magnitude far beyond 70%<!--const: a sparsity level the text chooses--> and spares those with large weights, because the
# matrices of a trained network have different scales. Whether that helps depends on whether small
# weights really matter less *across* layers, which magnitude alone cannot know: a layer's inputs may be
# large where its weights are small. Compare the perplexity of the two scopes in the table. The next
# section adds the inputs to the score.

# %% [markdown]
# ## 2. Importance beyond magnitude
#
# **First-order Taylor.** Setting weight `w` to zero changes the loss by about `-w · ∂L/∂w` (a first-order
# expansion around the trained weights), so `|w · ∂L/∂w|` on a calibration batch estimates the damage of
# removing it (Molchanov et al., 2017/2019). It needs one backward pass. Its weakness: at a minimum the
# average gradient is near zero, and a batch's gradient is noisy.
#
# **Wanda** (Sun et al., 2023, "A Simple and Effective Pruning Approach for Large Language Models"):
# the output of a linear layer is `y_n = Σ_k x_k w_kn`, so the damage of zeroing `w_kn` scales with
# `|w_kn|` **and** with how large input feature `k` is. Wanda scores `|W_kn| · ‖X_k‖₂`, where `‖X_k‖₂` is
# the L2 norm of input feature `k` over all calibration tokens, and compares scores **within each
# output** (each column `n` in our layout loses the same number of weights), without retraining or any
# weight update.
#
# The model's parameters in torch have other names and the transposed layout (`nn.Linear.weight` is
# `(out, in)`). `torch_param` below maps a checkpoint name to the torch parameter, and `input_norms`
# collects `‖X_k‖₂` for every prunable matrix with forward hooks.

# %%
TORCH_NAMES = {"attn.w_qkv": "attn.qkv", "attn.w_out": "attn.out", "mlp.w_in": "mlp.fc_in", "mlp.w_out": "mlp.fc_out"}


def torch_module(model: torch.nn.Module, name: str) -> torch.nn.Linear:
    """The nn.Linear of a checkpoint weight name such as 'blocks.2.mlp.w_in'."""
    block, i, rest = name.split(".", 2)
    return model.get_submodule(f"{block}.{i}.{TORCH_NAMES[rest]}")


def torch_param(model: torch.nn.Module, name: str) -> torch.nn.Parameter:
    """The torch weight (out, in) of a checkpoint weight name; the checkpoint stores its transpose (in, out)."""
    return torch_module(model, name).weight


def calibration_ids(n_seq: int, seed: int = 0, split: str = "train") -> np.ndarray:
    """(n_seq, block_size + 1) int64 windows of the corpus: inputs [:, :-1], targets [:, 1:]."""
    data = CharTokenizer().encode(load_corpus(split))
    starts = np.random.default_rng(seed).integers(0, len(data) - config["block_size"] - 1, n_seq)
    return np.stack([data[s:s + config["block_size"] + 1] for s in starts])


@torch.no_grad()
def input_norms(model: torch.nn.Module, ids: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """{name: (K,) float64 L2 norm of each input feature of that linear layer over all tokens of ids[:, :-1]}."""
    sums, hooks = {}, []
    for n in names:
        def hook(module, inputs, output, n=n):
            x = inputs[0].reshape(-1, inputs[0].shape[-1]).double()  # (B*T, K)
            sums[n] = sums.get(n, 0) + (x * x).sum(0)
        hooks.append(torch_module(model, n).register_forward_hook(hook))
    try:
        model(torch.as_tensor(ids[:, :-1]))
    finally:
        for h in hooks:
            h.remove()
    return {n: sums[n].sqrt().numpy() for n in names}


calib = calibration_ids(env.size(32, 8))
print("calibration batch:", calib.shape, "->", repr(CharTokenizer().decode(calib[0, :60])))

# %% [markdown]
# ### 2.1 The Taylor score (2 points)
#
# Write `taylor_scores(model, ids, names)`: run the model on `ids[:, :-1]`, take the **mean**
# cross-entropy against `ids[:, 1:]`, backpropagate, and return `{name: |w · ∂L/∂w|}` as float64 NumPy
# arrays in the **checkpoint layout** `(K, N)` for every name in `names`. Use `torch_param`. Leave the
# model's weights unchanged, and make two calls give the same answer.
#
# Traps: returning the torch layout `(N, K)` (for the square `attn.w_out` the shape even looks right);
# `|∂L/∂w|` alone; gradients that **accumulate** from one call to the next because nothing zeroes them;
# a summed loss instead of the mean.

# %% nbgrader={"grade": false, "grade_id": "taylor_scores", "locked": false, "solution": true, "schema_version": 3}
def taylor_scores(model: torch.nn.Module, ids: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """{name: (K, N) float64 |w * dL/dw|} for mean next-token cross-entropy on ids (B, T+1)."""
    ### BEGIN SOLUTION
    ids = torch.as_tensor(ids)
    model.zero_grad(set_to_none=True)
    logits = model(ids[:, :-1])  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    out = {}
    for n in names:
        p = torch_param(model, n)  # (N, K)
        out[n] = (p.detach() * p.grad).abs().T.double().numpy()  # (K, N)
    model.zero_grad(set_to_none=True)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "taylor_scores_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.taylor_scores(taylor_scores, torch_param)
### BEGIN HIDDEN TESTS
def _ref_taylor(model, ids, names):
    m = from_numpy(config, {k: v.copy() for k, v in _hp.items()})
    ids = torch.as_tensor(ids)
    loss = F.cross_entropy(m(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    return {n: (torch_param(m, n).detach().double() * torch_param(m, n).grad.double()).abs().T.numpy() for n in names}


_hp = {k: v.copy() for k, v in params.items()}
_rng = np.random.default_rng(93)
_hp["blocks.1.mlp.w_in"][:, :3] = 0.0  # zero weights score exactly 0
_model = from_numpy(config, _hp)
_ids = calibration_ids(3, seed=93)
_names = ["blocks.0.attn.w_out", "blocks.1.mlp.w_in", "blocks.3.attn.w_qkv"]
_ref = _ref_taylor(_model, _ids, _names)
for _call in range(2):  # a second call must not see the first call's gradients
    _got = taylor_scores(_model, _ids, _names)
    assert set(_got) == set(_names), f"keys must be {_names}"
    for _n in _names:
        _g = np.asarray(_got[_n])
        assert _g.shape == _hp[_n].shape, f"{_n}: shape {_g.shape}, expected the checkpoint layout {_hp[_n].shape}"
        assert np.allclose(_g, _ref[_n], rtol=1e-4, atol=1e-6 * np.abs(_ref[_n]).max()), (
            f"{_n} (call {_call + 1}): scores differ from |w * dL/dw| with the mean loss (layout? accumulation?)")
        assert np.all(_g >= 0), f"{_n}: scores are magnitudes"
    assert np.all(np.asarray(_got["blocks.1.mlp.w_in"])[:, :3] == 0), "a zero weight has Taylor score 0"
for _n in _names:
    assert np.array_equal(torch_param(_model, _n).detach().T.numpy(), _hp[_n]), "the model's weights changed"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 The Wanda mask (2 points)
#
# Write `wanda_mask(w, x_norm, sparsity)` for `w` `(K, N)` and `x_norm` `(K,)`: score
# `|w[k, n]| · x_norm[k]`, and in **each column** `n` (one output) prune exactly
# `round(sparsity * K)` entries with the smallest scores (ties: your choice, exact count). Return the
# boolean keep-mask `(K, N)`.
#
# Traps: comparing within each **row** (an input feature) instead of each output; broadcasting
# `x_norm` along the wrong axis (`x_norm[None, :]` scales outputs, and only runs when `K == N`); one
# threshold for the whole matrix, which is magnitude pruning with a twist but not Wanda.

# %% nbgrader={"grade": false, "grade_id": "wanda_mask", "locked": false, "solution": true, "schema_version": 3}
def wanda_mask(w: np.ndarray, x_norm: np.ndarray, sparsity: float) -> np.ndarray:
    """(K, N) bool keep-mask: per output column, prune round(sparsity * K) smallest |w[k, n]| * x_norm[k]."""
    ### BEGIN SOLUTION
    K, N = w.shape
    score = np.abs(w.astype(np.float64)) * np.asarray(x_norm, dtype=np.float64)[:, None]  # (K, N)
    n_prune = round(sparsity * K)
    order = np.argsort(score, axis=0, kind="stable")[:n_prune]  # (n_prune, N) row indices per column
    keep = np.ones((K, N), dtype=bool)
    np.put_along_axis(keep, order, False, axis=0)
    return keep
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "wanda_mask_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.wanda_mask(wanda_mask)
### BEGIN HIDDEN TESTS
def _wanda_ok(w, xn, s, m, what):
    m = np.asarray(m)
    K, N = w.shape
    assert m.dtype == bool and m.shape == (K, N), f"{what}: bool mask of shape {(K, N)}"
    sc = np.abs(w.astype(np.float64)) * xn.astype(np.float64)[:, None]
    n_prune = round(s * K)
    assert np.all((~m).sum(axis=0) == n_prune), f"{what}: each column must lose exactly {n_prune}"
    for n in range(N):
        if 0 < n_prune < K:
            assert sc[~m[:, n], n].max() <= sc[m[:, n], n].min(), f"{what}: column {n} pruned a higher score"


_rng = np.random.default_rng(94)
for _K, _N, _s in ((24, 24, 0.5), (30, 7, 0.7), (9, 40, 0.34), (16, 5, 0.0), (5, 3, 1.0)):
    _w = (_rng.standard_normal((_K, _N)) * np.exp(_rng.uniform(-20, 20, (1, _N)))).astype(np.float32)
    _xn = np.exp(_rng.uniform(-10, 10, _K)).astype(np.float32)
    _xn[0] = 0.0  # a dead input feature: all its scores are 0
    _wk, _xk = _w.copy(), _xn.copy()
    _m = wanda_mask(_w, _xn, _s)
    assert np.array_equal(_w, _wk) and np.array_equal(_xn, _xk), "inputs modified"
    _wanda_ok(_w, _xn, _s, _m, f"K={_K}, N={_N}, sparsity {_s}")
# ties: every score equal (x_norm 1, |w| 1), and an all-zero column
_w = np.ones((8, 3), dtype=np.float32)
_w[:, 1] = -1.0
_w[:, 2] = 0.0
_wanda_ok(_w, np.ones(8, dtype=np.float32), 0.5, wanda_mask(_w, np.ones(8, dtype=np.float32), 0.5), "ties")
### END HIDDEN TESTS

# %% [markdown]
# ### Which score keeps the model best?
#
# Prune all 16 matrices at 50%<!--const: a sparsity level the text chooses--> and 70%<!--const: a sparsity level the text chooses--> with four rules: magnitude per tensor, magnitude with the scores
# compared within each output column (the same comparison group as Wanda, so the difference is only the
# activation factor), Taylor per tensor, and Wanda. Each row is one measurement on this checkpoint.

# %%
torch.set_num_threads(1)
calib_model = from_numpy(config, params)
norms = input_norms(calib_model, calib, PRUNABLE)
taylor = taylor_scores(calib_model, calib, PRUNABLE)


def mask_from_scores(score: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep-mask pruning the round(sparsity * size) smallest scores of the whole tensor."""
    return magnitude_mask(score, sparsity)  # scores are non-negative: their magnitude is the score


rules = {
    "magnitude, per tensor": lambda n, s: magnitude_mask(params[n], s),
    "magnitude, per output": lambda n, s: wanda_mask(params[n], np.ones(params[n].shape[0]), s),
    "Taylor, per tensor": lambda n, s: mask_from_scores(taylor[n], s),
    "Wanda": lambda n, s: wanda_mask(params[n], norms[n], s),
}
score_table = {}
for s in (0.5, 0.7):
    for rule, make in rules.items():
        pruned = dict(params)
        for n in PRUNABLE:
            pruned[n] = params[n] * make(n, s)
        score_table[rule, s] = evaluate(pruned)
print(f"dense: perplexity {dense_ppl:.4f}  " + "  ".join(f"{t} {dense_acc[t]:.0%}" for t in TASKS))
print(f"{'rule':<24}{'sparsity':>9}{'perplexity':>12}" + "".join(f"{t:>8}" for t in TASKS))
for (rule, s), (ppl, acc) in score_table.items():
    print(f"{rule:<24}{s:>9.0%}{ppl:>12.4f}" + "".join(f"{acc[t]:>8.0%}" for t in TASKS))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for j, s in enumerate((0.5, 0.7)):
    names_ = list(rules)
    axes[0].bar(np.arange(len(names_)) + 0.4 * j, [score_table[r, s][0] for r in names_], width=0.4, label=f"{s:.0%}")
    axes[1].bar(np.arange(len(names_)) + 0.4 * j, [np.mean(list(score_table[r, s][1].values())) for r in names_],
                width=0.4, label=f"{s:.0%}")
for ax, label in zip(axes, ("perplexity (lower is better)", "mean task accuracy"), strict=True):
    ax.set_xticks(np.arange(len(rules)) + 0.2, [r.replace(", ", "\n") for r in rules], fontsize=8)
    ax.set_title(label)
    ax.legend()
axes[0].axhline(dense_ppl, color="k", lw=1, ls="--")
fig.tight_layout()
best = {s: min(rules, key=lambda r, s=s: score_table[r, s][0]) for s in (0.5, 0.7)}
print("lowest perplexity:", {f"{s:.0%}": r for s, r in best.items()})
for s in (0.5, 0.7):
    print(f"the activation factor alone at {s:.0%} (same per-output comparison): perplexity "
          f"{score_table['magnitude, per output', s][0]:.4f} -> {score_table['Wanda', s][0]:.4f} with Wanda")
spread = {n: float(norms[n].max() / np.median(norms[n])) for n in ("blocks.1.attn.w_qkv", "blocks.1.mlp.w_out")}
print("largest / median input-feature norm:", {n: round(v, 1) for n, v in spread.items()})

# %% [markdown]
# Read the printed table and the lines under it (they are measured here, so they are the facts; a
# different checkpoint or calibration batch moves them). What the scores do differently:
#
# * The damage grows much faster than the sparsity: compare each rule's 50%<!--const: a sparsity level the text chooses--> and 70%<!--const: a sparsity level the text chooses--> rows.
# * Comparing **within each output** forces every output to lose the same share of its inputs. Wanda adds
#   the input feature norm to that comparison, so that a small weight on a loud feature can stay: the
#   "largest / median" line shows how unequal the features of this model's layer inputs are. The
#   "activation factor alone" lines isolate that factor: same comparison group, with and without it.
#   Whether per-output Wanda also beats plain per-tensor magnitude on a model this small is in the table
#   (Wanda was designed for, and measured on, large LLMs with a few very large features).
# * The Taylor score is measured on one small calibration batch at a trained minimum: its gradients are
#   noisy, and a weight whose gradient happens to be near zero on this batch looks unimportant however
#   large it is. More calibration data, or the second-order term (Optimal Brain Surgeon, SparseGPT),
#   fixes much of that. Look at its rows before trusting a gradient-based score.

# %% [markdown]
# ## 3. Structured pruning: smaller matrices
#
# Zeros scattered through a matrix do not make a dense kernel faster. Removing whole **heads** and whole
# **FFN neurons** does: the matrices get narrower, and every kernel, dense or not, does less work.
#
# In the course layout (module 02): `w_qkv` is `(C, 3C)` with columns `[q | k | v]`, and inside each of
# q, k and v head `h` owns the `d_head` columns `h·d_head … (h+1)·d_head − 1`. The merged heads enter
# `w_out` `(C, C)` in the same order, so head `h` owns **rows** `h·d_head … (h+1)·d_head − 1` of `w_out`.
# An FFN neuron `j` is column `j` of `w_in`, entry `j` of `b_in` and row `j` of `w_out`.
#
# The proof that a structural cut is right: the **masked** full model (the removed head's rows of
# `attn.w_out` set to zero, or the removed neuron's row of `mlp.w_out` set to zero) computes exactly the
# function the smaller model computes. `forward_np` below runs the GPT from a dict of NumPy arrays and
# reads the number of heads and FFN neurons of each layer from the shapes, so it runs shrunken models too
# (it calls `llmcourse.model.forward_params`, the reference forward on PyTorch's library calls).

# %%
def forward_np(p: dict, ids: np.ndarray, d_head: int = config["d_model"] // config["n_head"]) -> np.ndarray:
    """Logits (B, T, V) for ids (B, T) with parameters p; heads per layer = w_out rows // d_head.

    The reference forward of llmcourse.model on library calls (module 04 builds it by hand), taking the
    widths of each layer from its matrices.
    """
    return forward_params(config, p, ids, d_head)


def perplexity_np(p: dict, text: str = val_text) -> float:
    """Held-out perplexity with forward_np, scoring the same targets in the same windows as torch's perplexity.

    Consecutive block_size windows, the last one shorter: every character after the first is predicted once,
    from the characters before it in its window (llmcourse.model.perplexity does exactly this).
    """
    ids = CharTokenizer().encode(text)
    T = config["block_size"]
    n = (len(ids) - 1) // T  # full windows
    pieces = [(ids[: n * T].reshape(n, T), ids[1: n * T + 1].reshape(n, T))]  # (n, T) inputs and targets
    if n * T < len(ids) - 1:
        pieces.append((ids[n * T: -1][None], ids[n * T + 1:][None]))  # the shorter last window, (1, T_last)
    nll = []
    for x, y in pieces:
        if not x.size:
            continue
        logits = forward_np(p, x).astype(np.float64)  # (B, T, V)
        m = logits.max(-1, keepdims=True)
        logp = logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))
        nll.append(-np.take_along_axis(logp, y[..., None], -1).ravel())
    return float(np.exp(np.concatenate(nll).mean()))


D_HEAD = config["d_model"] // config["n_head"]
_ids_check = calib[:2, :-1]
print("forward_np matches the torch reference:",
      np.allclose(forward_np(params, _ids_check), from_numpy(config, params)(torch.as_tensor(_ids_check)).detach().numpy(),
                  atol=1e-4))

# %% [markdown]
# ### 3.1 Removing attention heads (3 points)
#
# Write `prune_heads(params, layer, keep, d_head)`: return a **new** dict in which layer `layer` keeps
# only the heads listed in `keep` (sorted head indices of the heads the layer has now, which is
# `w_out.shape[0] // d_head`): `attn.w_qkv` becomes `(C, 3·len(keep)·d_head)`, `attn.b_qkv`
# `(3·len(keep)·d_head,)` and `attn.w_out` `(len(keep)·d_head, C)`, in the same `[q | k | v]`, head-major
# layout. Everything else is unchanged, including `attn.b_out` (it is added after the heads are merged).
#
# Traps: taking the head's columns from the q block only (k and v keep the wrong heads); assuming the
# heads are interleaved (`3·d_head` consecutive columns per head); cutting `w_out`'s columns instead of
# its rows; forgetting `b_qkv`.

# %% nbgrader={"grade": false, "grade_id": "prune_heads", "locked": false, "solution": true, "schema_version": 3}
def prune_heads(params: dict, layer: int, keep: list[int], d_head: int) -> dict:
    """New params where block `layer` keeps only heads `keep`: w_qkv (C, 3*h*d), b_qkv (3*h*d,), w_out (h*d, C)."""
    ### BEGIN SOLUTION
    b = f"blocks.{layer}.attn."
    width = params[b + "w_out"].shape[0]  # H * d_head, the current q (or k, or v) width
    cols = np.array([h * d_head + i for h in keep for i in range(d_head)], dtype=np.int64)  # (len(keep) * d_head,)
    qkv_cols = np.concatenate([cols, width + cols, 2 * width + cols])  # the same heads in q, k and v
    out = dict(params)
    out[b + "w_qkv"] = params[b + "w_qkv"][:, qkv_cols]  # (C, 3 * len(keep) * d_head)
    out[b + "b_qkv"] = params[b + "b_qkv"][qkv_cols]
    out[b + "w_out"] = params[b + "w_out"][cols, :]  # (len(keep) * d_head, C)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "prune_heads_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.pruning.prune_heads(prune_heads, forward_np, params, D_HEAD)
### BEGIN HIDDEN TESTS
def _masked_heads(p, layer, removed, d):
    q = dict(p)
    wo = p[f"blocks.{layer}.attn.w_out"].copy()
    for h in removed:
        wo[h * d:(h + 1) * d] = 0.0
    q[f"blocks.{layer}.attn.w_out"] = wo
    return q


_rng = np.random.default_rng(95)
_hp = {k: v.copy() for k, v in params.items()}
_hp["blocks.2.attn.b_qkv"] += _rng.standard_normal(_hp["blocks.2.attn.b_qkv"].shape).astype(np.float32)  # biases matter
_before = {k: v.copy() for k, v in _hp.items()}
_ids = calibration_ids(2, seed=95)[:, :37]


def _check_heads(full, layer, keep, what):
    H = full[f"blocks.{layer}.attn.w_out"].shape[0] // D_HEAD
    small = prune_heads(full, layer, list(keep), D_HEAD)
    b = f"blocks.{layer}.attn."
    assert small[b + "w_qkv"].shape == (128, 3 * len(keep) * D_HEAD), f"{what}: w_qkv shape {small[b + 'w_qkv'].shape}"
    assert small[b + "w_out"].shape == (len(keep) * D_HEAD, 128), f"{what}: w_out shape {small[b + 'w_out'].shape}"
    assert np.asarray(small[b + "b_qkv"]).shape == (3 * len(keep) * D_HEAD,), f"{what}: b_qkv shape"
    assert np.array_equal(small[b + "b_out"], full[b + "b_out"]), f"{what}: b_out is added after merging: keep it"
    want = forward_np(_masked_heads(full, layer, [h for h in range(H) if h not in keep], D_HEAD), _ids)
    assert np.allclose(forward_np(small, _ids), want, rtol=1e-4, atol=1e-4), f"{what}: logits differ from the masked model"
    W = H * D_HEAD
    for j, h in enumerate(keep):  # q, k and v of kept head h sit in slot j of each block, in order
        for part in range(3):
            got_cols = small[b + "w_qkv"][:, part * len(keep) * D_HEAD + j * D_HEAD:][:, :D_HEAD]
            assert np.array_equal(got_cols, full[b + "w_qkv"][:, part * W + h * D_HEAD:][:, :D_HEAD]), (
                f"{what}: columns of head {h} in the {'qkv'[part]} block are not where they belong")
    return small


for _layer, _keep in ((2, [0, 3]), (0, [1]), (3, [0, 1, 2, 3]), (1, []), (0, [2, 3])):
    _check_heads(_hp, _layer, _keep, f"layer {_layer}, keep {_keep}")
_two = _check_heads(_hp, 2, [1, 2, 3], "layer 2, keep [1, 2, 3]")
_check_heads(_two, 2, [0, 2], "layer 2 pruned twice (heads counted from its new shape)")
for _k in _hp:
    assert np.array_equal(_hp[_k], _before[_k]), f"input {_k} was modified"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.2 Removing FFN neurons (2 points)
#
# Write `prune_ffn(params, layer, keep)`: a new dict in which block `layer`'s MLP keeps only the neurons
# whose indices are in `keep` (a 1-D integer array, any order): `mlp.w_in` `(C, len(keep))`, `mlp.b_in`
# `(len(keep),)`, `mlp.w_out` `(len(keep), C)`; `mlp.b_out` and everything else unchanged. Traps: cutting
# rows of `w_in` (input features) instead of columns; forgetting `b_in` (a removed neuron's bias still
# passes through GELU and `w_out`, unless you remove it too).

# %% nbgrader={"grade": false, "grade_id": "prune_ffn", "locked": false, "solution": true, "schema_version": 3}
def prune_ffn(params: dict, layer: int, keep: np.ndarray) -> dict:
    """New params where block `layer` keeps FFN neurons `keep`: w_in (C, k), b_in (k,), w_out (k, C)."""
    ### BEGIN SOLUTION
    b = f"blocks.{layer}.mlp."
    keep = np.asarray(keep, dtype=np.int64)
    out = dict(params)
    out[b + "w_in"] = params[b + "w_in"][:, keep]  # (C, k)
    out[b + "b_in"] = params[b + "b_in"][keep]  # (k,)
    out[b + "w_out"] = params[b + "w_out"][keep, :]  # (k, C)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "prune_ffn_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.prune_ffn(prune_ffn, forward_np, params)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(96)
_hp = {k: v.copy() for k, v in params.items()}
_before = {k: v.copy() for k, v in _hp.items()}
_ids = calibration_ids(2, seed=96)[:, :29]
for _layer, _keep in ((1, _rng.permutation(512)[:301]), (3, np.array([5])), (0, np.arange(512)), (2, np.array([], dtype=np.int64))):
    _small = prune_ffn(_hp, _layer, _keep)
    _b = f"blocks.{_layer}.mlp."
    assert _small[_b + "w_in"].shape == (128, len(_keep)) and _small[_b + "w_out"].shape == (len(_keep), 128), "shapes"
    assert np.asarray(_small[_b + "b_in"]).shape == (len(_keep),), "b_in must shrink with the neurons"
    assert np.array_equal(_small[_b + "b_out"], _hp[_b + "b_out"]), "b_out stays"
    _masked = dict(_hp)
    _wo = _hp[_b + "w_out"].copy()
    _wo[np.setdiff1d(np.arange(512), _keep)] = 0.0
    _masked[_b + "w_out"] = _wo
    assert np.allclose(forward_np(_small, _ids), forward_np(_masked, _ids), rtol=1e-4, atol=1e-4), (
        f"layer {_layer}, {len(_keep)} neurons: logits differ from the masked model")
for _k in _hp:
    assert np.array_equal(_hp[_k], _before[_k]), f"input {_k} was modified"
### END HIDDEN TESTS

# %% [markdown]
# Now shrink the real model. Score each head by the norm of its rows of `w_out` times the norm of its
# input, the attention output the head produces on the calibration batch (the input norm of
# `attn.w_out`, collected above), and each FFN neuron by `‖w_in[:, j]‖ · ‖w_out[j, :]‖ · ‖u_j‖`,
# its weights times how large its GELU output `u_j` is on the calibration batch (the input norm of
# `mlp.w_out`, collected above). Remove half of the neurons of every layer, and one head of four per
# layer, then compare with the masked model, count parameters and FLOPs per token, and measure.

# %%
def ffn_scores(p: dict, layer: int) -> np.ndarray:
    """(d_ff,) importance of each FFN neuron of a layer: weight norms times the neuron's output norm."""
    b = f"blocks.{layer}.mlp."
    return (np.linalg.norm(p[b + "w_in"], axis=0) * np.linalg.norm(p[b + "w_out"], axis=1)
            * norms[b + "w_out"])


def head_scores(p: dict, layer: int) -> np.ndarray:
    """(H,) importance of each head: norm of its w_out rows times the norm of its attention output."""
    b = f"blocks.{layer}.attn.w_out"
    H = p[b].shape[0] // D_HEAD
    return np.array([np.linalg.norm(p[b][h * D_HEAD:(h + 1) * D_HEAD]) * np.linalg.norm(norms[b][h * D_HEAD:(h + 1) * D_HEAD])
                     for h in range(H)])


def param_and_flops(p: dict) -> tuple[int, int]:
    """(parameters, FLOPs per token of the matrix products) of the prunable matrices."""
    n = sum(p[k].size for k in PRUNABLE)
    return n, 2 * n  # one multiply-add per weight per token


ffn_half = dict(params)
ffn_half_masked = dict(params)
for i in range(config["n_layer"]):
    keep = np.sort(np.argsort(ffn_scores(params, i))[len(ffn_scores(params, i)) // 2:])  # top half
    ffn_half = prune_ffn(ffn_half, i, keep)
    wo = params[f"blocks.{i}.mlp.w_out"].copy()
    wo[np.setdiff1d(np.arange(wo.shape[0]), keep)] = 0.0
    ffn_half_masked[f"blocks.{i}.mlp.w_out"] = wo
heads_3 = dict(params)
for i in range(config["n_layer"]):
    heads_3 = prune_heads(heads_3, i, sorted(np.argsort(head_scores(params, i))[1:].tolist()), D_HEAD)
ids_eq = calib[:4, :-1]
print("FFN/2: max |logit difference| smaller vs masked model:",
      float(np.abs(forward_np(ffn_half, ids_eq) - forward_np(ffn_half_masked, ids_eq)).max()))
torch.set_num_threads(1)
small_model = from_numpy({**config, "d_ff": config["d_ff"] // 2}, ffn_half)  # torch runs it: every layer has d_ff / 2
rows = [("dense", params, evaluate(params)),
        ("FFN neurons / 2 (torch)", ffn_half, (perplexity(small_model, val_text), task_accuracies(small_model, n=n_task)))]
print(f"{'model':<26}{'prunable params':>16}{'FLOPs/token':>13}{'perplexity':>12}" + "".join(f"{t:>8}" for t in TASKS))
for name, p, (ppl, acc) in rows:
    n, fl = param_and_flops(p)
    print(f"{name:<26}{n:>16,}{fl:>13,}{ppl:>12.4f}" + "".join(f"{acc[t]:>8.0%}" for t in TASKS))
for name, p in (("dense (NumPy forward)", params), ("FFN neurons / 2", ffn_half), ("3 of 4 heads per layer", heads_3)):
    n, fl = param_and_flops(p)
    print(f"{name:<26}{n:>16,}{fl:>13,}{perplexity_np(p):>12.4f}   (perplexity from forward_np)")

# %%
n_all = param_and_flops(params)[0]
ppl_np_dense = perplexity_np(params)
print(f"dense perplexity: torch {dense_ppl:.6f}, forward_np {ppl_np_dense:.6f} (same characters, same windows)")
assert abs(ppl_np_dense / dense_ppl - 1) < 1e-4, "the two forwards should agree to float32 rounding"
costs = (("FFN neurons / 2", n_all - param_and_flops(ffn_half)[0], perplexity_np(ffn_half) - ppl_np_dense),
         ("3 of 4 heads per layer", n_all - param_and_flops(heads_3)[0], perplexity_np(heads_3) - ppl_np_dense),
         ("unstructured Wanda 50%", n_all // 2, score_table["Wanda", 0.5][0] - dense_ppl))
for name, removed, delta in costs:
    print(f"{name:<24} removes {removed:>7,} weights: perplexity +{delta:.4f}, "
          f"+{delta / removed * 1e5:.4f} per 100k weights removed")

# %% [markdown]
# The NumPy forward scores the same characters in the same windows as torch's `perplexity`, so its dense
# row repeats the torch dense row up to float32 rounding (the line above checks it), and the rows from either
# forward can be compared with each other.
#
# The smaller model and the masked model agree to float rounding (the difference printed for the FFN cut;
# §3.1's tests check the head cut the same way), so the cut is
# right; its cost in quality is the masked model's. The FLOPs column counts the matrix products only
# (two FLOPs per weight per token); attention over the context is unchanged by FFN pruning and shrinks
# with the heads. The last lines put the three on one scale, perplexity lost per weight removed:
# structured pruning cannot pick the unimportant weights one by one, so it usually pays more per weight
# than unstructured pruning, and buys speed with any dense kernel in return. Real systems recover much
# of the loss by fine-tuning afterwards (section 7) or by distillation (module 11).

# %% [markdown]
# ## 4. 2:4 semi-structured sparsity
#
# NVIDIA's sparse tensor cores (Ampere and later) multiply a matrix in which every group of 4 consecutive
# weights **along the reduction axis** holds at most 2 non-zeros, stored as the 2 values plus a 2-bit
# position for each: half the values, and a fixed, branch-free access pattern. The reduction axis is the
# one summed over in `y[n] = Σ_k w_t[n, k] · x[k]`: the groups run along a row of `w_t` `(N, K)` (along
# a column of our `(K, N)` layout). Groups taken along the output axis have the right count of zeros
# and are useless to the hardware, which is a common mistake.
#
# In this section weights are in the kernel layout `w_t` `(N, K)`, so the groups are 4 consecutive
# entries of a row.

# %% [markdown]
# ### 4.1 The 2:4 mask (2 points)
#
# Write `mask_24(w_t)`: `(N, K)` bool keep-mask keeping the 2 largest `|w|` in each group
# `w_t[n, 4g:4g+4]`. Ties: your choice, but exactly 2 kept per group, and no pruned `|w|` above a kept
# one in its group. Raise `ValueError` when `K` is not a multiple of 4. Traps: groups along the output
# axis (down a column of `w_t`); strided groups (`w_t.reshape(N, 4, K // 4)` puts entries `g, g + K/4,
# ...` together); keeping the 2 largest signed values.

# %% nbgrader={"grade": false, "grade_id": "mask_24", "locked": false, "solution": true, "schema_version": 3}
def mask_24(w_t: np.ndarray) -> np.ndarray:
    """(N, K) bool keep-mask with the 2 largest |w| of every 4 consecutive entries of each row; K % 4 == 0."""
    ### BEGIN SOLUTION
    N, K = w_t.shape
    if K % 4:
        raise ValueError(f"K={K} is not a multiple of 4")
    groups = np.abs(w_t).reshape(N, K // 4, 4)  # (N, G, 4) consecutive entries
    order = np.argsort(-groups, axis=-1, kind="stable")[..., :2]  # (N, G, 2) the two largest
    keep = np.zeros((N, K // 4, 4), dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return keep.reshape(N, K)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "mask_24_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.mask_24(mask_24)
### BEGIN HIDDEN TESTS
def _m24_ok(w, m, what):
    m = np.asarray(m)
    N, K = w.shape
    assert m.dtype == bool and m.shape == (N, K), f"{what}: bool (N, K) mask"
    g = m.reshape(N, K // 4, 4)
    assert np.all(g.sum(-1) == 2), f"{what}: every group of 4 consecutive entries of a row must keep exactly 2"
    a = np.abs(w.astype(np.float64)).reshape(N, K // 4, 4)
    lo_kept = np.where(g, a, np.inf).min(-1)
    hi_pruned = np.where(~g, a, -np.inf).max(-1)
    assert np.all(hi_pruned <= lo_kept), f"{what}: a pruned |w| is larger than a kept one in its group"


_rng = np.random.default_rng(97)
for _N, _K in ((5, 36), (1, 4), (17, 64)):
    _w = (_rng.standard_normal((_N, _K)) * np.exp(_rng.uniform(-30, 30, (_N, _K)))).astype(np.float32)
    _wk = _w.copy()
    _m24_ok(_w, mask_24(_w), f"({_N}, {_K})")
    assert np.array_equal(_w, _wk), "input modified"
_w = np.array([[-5.0, 1.0, 2.0, -3.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, -2.0, 2.0, -2.0, 1.0]], dtype=np.float32)
_m24_ok(_w, mask_24(_w), "negatives, all-zero group and ties")
assert mask_24(_w)[0, 0] and mask_24(_w)[0, 3], "-5 and -3 are the largest magnitudes"
for _bad in ((3, 6), (2, 10)):
    try:
        mask_24(np.ones(_bad, dtype=np.float32))
        raise AssertionError(f"K={_bad[1]} is not a multiple of 4: raise ValueError")
    except ValueError:
        pass
### END HIDDEN TESTS

# %% [markdown]
# ### 4.2 Compressed storage (2 points)
#
# The compressed form of a 2:4 matrix `(N, K)`:
#
# * `values` `(N, K // 2)` float32: for group `g` of row `n`, `values[n, 2g]` and `values[n, 2g + 1]`
#   are the two kept weights in increasing position order;
# * `meta` `(N, K // 4)` uint8: one byte per group holding the two positions `i0 < i1` (each 0..3, 2 bits)
#   as `i0 | (i1 << 2)`. (Hardware packs the 4 bits of two groups into one byte; one byte per group keeps
#   the indexing simple here, at 2 bits per weight of metadata instead of 1.)
#
# Write `compress_24(w_t, mask)` with `mask` from `mask_24` (exactly 2 kept per group; a kept weight may
# be 0) and `decompress_24(values, meta)` returning the dense `(N, K)` float32 matrix with zeros in the
# pruned places, so that `decompress_24(*compress_24(w_t, m)) == w_t * m`. Traps: the second position
# shifted by 4 instead of 2; positions stored in decreasing order; decompressing group `g` into columns
# `2g…` instead of `4g…`.

# %% nbgrader={"grade": false, "grade_id": "compress_24", "locked": false, "solution": true, "schema_version": 3}
def compress_24(w_t: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values (N, K//2) float32, meta (N, K//4) uint8 = i0 | i1 << 2 with i0 < i1) of a 2:4-masked w_t."""
    ### BEGIN SOLUTION
    N, K = w_t.shape
    pos = np.nonzero(mask.reshape(N, K // 4, 4))[2].reshape(N, K // 4, 2)  # (N, G, 2) kept positions, ascending
    groups = w_t.reshape(N, K // 4, 4)
    values = np.take_along_axis(groups, pos, axis=-1).reshape(N, K // 2).astype(np.float32)
    meta = (pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint8)  # (N, G)
    return values, meta
    ### END SOLUTION


def decompress_24(values: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """Dense (N, K) float32 from values (N, K//2) and meta (N, K//4); zeros where pruned."""
    ### BEGIN SOLUTION
    N, G = meta.shape
    out = np.zeros((N, G, 4), dtype=np.float32)
    pos = np.stack([meta & 3, (meta >> 2) & 3], axis=-1).astype(np.int64)  # (N, G, 2)
    np.put_along_axis(out, pos, values.reshape(N, G, 2), axis=-1)
    return out.reshape(N, 4 * G)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "compress_24_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.compress_24(compress_24, decompress_24)
### BEGIN HIDDEN TESTS
def _ref_mask24(w):
    N, K = w.shape
    o = np.argsort(-np.abs(w).reshape(N, K // 4, 4), axis=-1, kind="stable")[..., :2]
    m = np.zeros((N, K // 4, 4), dtype=bool)
    np.put_along_axis(m, o, True, axis=-1)
    return m.reshape(N, K)


_rng = np.random.default_rng(98)
for _N, _K in ((7, 20), (1, 4), (12, 128)):
    _w = (_rng.standard_normal((_N, _K)) * np.exp(_rng.uniform(-20, 20, (_N, 1)))).astype(np.float32)
    _w[0] = 0.0  # an all-zero row: two zeros kept per group
    _m = _ref_mask24(_w)
    _v, _meta = compress_24(_w.copy(), _m.copy())
    assert np.asarray(_v).shape == (_N, _K // 2) and np.asarray(_v).dtype == np.float32, "values (N, K//2) float32"
    assert np.asarray(_meta).shape == (_N, _K // 4) and np.asarray(_meta).dtype == np.uint8, "meta (N, K//4) uint8"
    _pos = np.nonzero(_m.reshape(_N, _K // 4, 4))[2].reshape(_N, _K // 4, 2)
    assert np.array_equal(_meta, (_pos[..., 0] | (_pos[..., 1] << 2)).astype(np.uint8)), "meta bits wrong"
    assert np.array_equal(_v, np.take_along_axis(_w.reshape(_N, -1, 4), _pos, -1).reshape(_N, -1)), "values wrong"
    _d = decompress_24(_v, _meta)
    assert np.asarray(_d).dtype == np.float32 and np.array_equal(_d, _w * _m), "decompress(compress(w)) != w * mask"
# every one of the 6 position pairs decodes to the right place
_pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
_meta = np.array([[a | (b << 2) for a, b in _pairs]], dtype=np.uint8)
_v = np.arange(1, 13, dtype=np.float32)[None]
_d = decompress_24(_v, _meta)
for _g, (_a, _b) in enumerate(_pairs):
    assert _d[0, 4 * _g + _a] == _v[0, 2 * _g] and _d[0, 4 * _g + _b] == _v[0, 2 * _g + 1], f"pair {(_a, _b)} decoded wrong"
assert np.count_nonzero(_d) == 12
### END HIDDEN TESTS

# %% [markdown]
# What 2:4 costs in quality: apply it to every prunable matrix of the course GPT (groups along each
# weight's input axis), by magnitude and by the Wanda score, and compare with unstructured pruning at the
# same 50%<!--const: a sparsity level the text chooses-->.

# %%
def mask_24_scores(score: np.ndarray) -> np.ndarray:
    """2:4 keep-mask for a (K, N) course-layout score: groups along K (the reduction axis)."""
    return mask_24(np.ascontiguousarray(score.T)).T  # (N, K) groups along a row <-> (K, N) along a column


rows24 = {}
for label, score_of in (("2:4 magnitude", lambda n: params[n]), ("2:4 Wanda", lambda n: params[n] * norms[n][:, None])):
    pruned = {**params, **{n: params[n] * mask_24_scores(score_of(n)) for n in PRUNABLE}}
    rows24[label] = evaluate(pruned)
rows24["unstructured Wanda 50%"] = score_table["Wanda", 0.5]
rows24["unstructured magnitude 50%"] = score_table["magnitude, per tensor", 0.5]
for label, (ppl, acc) in rows24.items():
    print(f"{label:<28}perplexity {ppl:.4f}  " + "  ".join(f"{t} {acc[t]:.0%}" for t in TASKS))

# %% [markdown]
# 2:4 is a constraint on top of 50%<!--const: a sparsity level the text chooses-->: each group of four must lose exactly two, even where all four
# matter. The printed rows show what that constraint costs on this model against unstructured pruning at
# the same sparsity, and what the activation-aware score changes under it.

# %% [markdown]
# ## 5. Sparse kernels in Numba
#
# A sparse format pays off only if a kernel reads less. **CSR** (compressed sparse row) stores the
# non-zeros of each row one after the other:
#
# * `data` `(nnz,)` float32: the non-zero values, row by row, in increasing column order within a row;
# * `indices` `(nnz,)` int32: the column of each value;
# * `indptr` `(N + 1,)` int64: row `n`'s values are `data[indptr[n]:indptr[n + 1]]`; `indptr[0] = 0` and
#   `indptr[N] = nnz`. An all-zero row has `indptr[n] == indptr[n + 1]`.
#
# Per non-zero, CSR reads 4 bytes of value and 4 of index, and gathers `x[indices[j]]` from a scattered
# place: at 50%<!--const: a sparsity level the text chooses--> sparsity it reads as many bytes as dense fp32. The 2:4 format reads half the values
# plus 1 byte of metadata per 4 weights, and its `x` reads stay within a group of 4.

# %% [markdown]
# ### 5.1 Dense to CSR (2 points)
#
# Write `dense_to_csr(w_t)` for `w_t` `(N, K)`: return `(data, indices, indptr)` as above, with every
# entry that is not exactly 0 stored (a `1e-30` is stored). NumPy is fine here (`np.nonzero` returns
# row-major order). Traps: `indptr` without the leading 0 (length `N`), or shifted by one; column indices
# taken in column-major order (from `w_t.T`); dropping rows with no non-zeros.

# %% nbgrader={"grade": false, "grade_id": "dense_to_csr", "locked": false, "solution": true, "schema_version": 3}
def dense_to_csr(w_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data (nnz,) float32, indices (nnz,) int32, indptr (N+1,) int64) of the non-zeros of w_t (N, K)."""
    ### BEGIN SOLUTION
    N = w_t.shape[0]
    rows, cols = np.nonzero(w_t)  # row-major order
    indptr = np.zeros(N + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(rows, minlength=N))
    return w_t[rows, cols].astype(np.float32), cols.astype(np.int32), indptr
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dense_to_csr_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.dense_to_csr(dense_to_csr)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(99)
for _N, _K, _dens in ((13, 29, 0.3), (1, 7, 1.0), (9, 9, 0.0), (40, 3, 0.5)):
    _w = (_rng.standard_normal((_N, _K)) * np.exp(_rng.uniform(-30, 30, (_N, _K)))).astype(np.float32)
    _w *= _rng.random((_N, _K)) < _dens
    if _N > 3:
        _w[2] = 0.0   # empty rows, in the middle and at the end
        _w[-1] = 0.0
    _d, _i, _p = dense_to_csr(_w.copy())
    _nz = np.count_nonzero(_w)
    assert np.asarray(_p).shape == (_N + 1,) and _p[0] == 0 and _p[-1] == _nz, (
        f"indptr must have N+1 = {_N + 1} entries from 0 to nnz = {_nz}; got shape {np.shape(_p)}")
    assert np.all(np.diff(_p) == np.count_nonzero(_w, axis=1)), "indptr: row lengths wrong"
    assert np.asarray(_d).dtype == np.float32 and np.asarray(_i).dtype == np.int32, "data float32, indices int32"
    _back = np.zeros_like(_w)
    for _n in range(_N):
        _cols = _i[_p[_n]:_p[_n + 1]]
        assert np.all(np.diff(_cols) > 0), f"row {_n}: columns must increase"
        _back[_n, _cols] = _d[_p[_n]:_p[_n + 1]]
    assert np.array_equal(_back, _w), f"({_N}, {_K}): CSR does not rebuild the matrix"
### END HIDDEN TESTS

# %% [markdown]
# ### 5.2 CSR matrix-vector product (2 points)
#
# Write `csr_matvec(data, indices, indptr, x)` as a Numba kernel (`@njit(parallel=True, fastmath=True,
# cache=True)`, `prange` over the rows): `y[n] = Σ_j data[j] · x[indices[j]]` over row `n`'s entries,
# float32 accumulation, `(N,)` float32 out with `N = len(indptr) - 1`. An empty row gives 0. Traps: the
# loop to `indptr[n + 1] + 1` (one entry of the next row), `x[n]` instead of `x[indices[j]]`.

# %% nbgrader={"grade": false, "grade_id": "csr_matvec", "locked": false, "solution": true, "schema_version": 3}
@njit(parallel=True, fastmath=True, cache=True)
def csr_matvec(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y (N,) float32 = CSR matrix (data, indices, indptr with N+1 entries) times x (K,)."""
    ### BEGIN SOLUTION
    N = indptr.shape[0] - 1
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        acc = np.float32(0.0)
        for j in range(indptr[n], indptr[n + 1]):
            acc += data[j] * x[indices[j]]
        y[n] = acc
    return y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "csr_matvec_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.csr_matvec(csr_matvec)
### BEGIN HIDDEN TESTS
def _ref_csr(w):
    r, c = np.nonzero(w)
    p = np.zeros(w.shape[0] + 1, dtype=np.int64)
    p[1:] = np.cumsum(np.bincount(r, minlength=w.shape[0]))
    return w[r, c].astype(np.float32), c.astype(np.int32), p


_rng = np.random.default_rng(100)
for _N, _K, _dens in ((31, 50, 0.2), (6, 5, 1.0), (5, 8, 0.0), (200, 77, 0.1)):
    _w = (_rng.standard_normal((_N, _K)) * (_rng.random((_N, _K)) < _dens)).astype(np.float32)
    if _N > 4:
        _w[0] = 0.0
        _w[-1] = 0.0
        _w[3, -1] = -1e4  # the last column
    _x = (_rng.standard_normal(_K) * 10.0 ** _rng.integers(-3, 4, _K)).astype(np.float32)
    _y = np.asarray(csr_matvec(*_ref_csr(_w), _x))
    _want = _w.astype(np.float64) @ _x.astype(np.float64)
    assert _y.shape == (_N,), f"shape {_y.shape}"
    assert np.allclose(_y, _want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(_want).max())), f"({_N}, {_K}) values wrong"
    if _N > 4:
        assert _y[0] == 0 and _y[-1] == 0, "empty rows give 0"
### END HIDDEN TESTS

# %% [markdown]
# ### 5.3 2:4 matrix-vector product (3 points)
#
# Write `sparse24_matvec(values, meta, x)` as a Numba kernel over the compressed form of 4.2:
# `y[n] = Σ_g values[n, 2g] · x[4g + i0] + values[n, 2g + 1] · x[4g + i1]` with `i0 = meta[n, g] & 3`,
# `i1 = (meta[n, g] >> 2) & 3`. `(N,)` float32 out. Do not decompress: the point is to read half the values.

# %% nbgrader={"grade": false, "grade_id": "sparse24_matvec", "locked": false, "solution": true, "schema_version": 3}
@njit(parallel=True, fastmath=True, cache=True)
def sparse24_matvec(values: np.ndarray, meta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y (N,) float32 = 2:4 matrix (values (N, K//2), meta (N, K//4) uint8) times x (K,)."""
    ### BEGIN SOLUTION
    N, G = meta.shape
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        vr = values[n]  # (K // 2,)
        mr = meta[n]  # (G,)
        acc = np.float32(0.0)
        for g in range(G):
            m = np.int32(mr[g])
            acc += vr[2 * g] * x[4 * g + (m & 3)] + vr[2 * g + 1] * x[4 * g + ((m >> 2) & 3)]
        y[n] = acc
    return y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sparse24_matvec_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.pruning.sparse24_matvec(sparse24_matvec)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(101)
_pairs = np.array([(a, b) for a in range(4) for b in range(a + 1, 4)])
for _N, _K in ((9, 44), (1, 4), (130, 256)):
    _pi = _pairs[_rng.integers(0, 6, (_N, _K // 4))]  # (N, G, 2) random position pairs
    _meta = (_pi[..., 0] | (_pi[..., 1] << 2)).astype(np.uint8)
    _v = (_rng.standard_normal((_N, _K // 2)) * np.exp(_rng.uniform(-10, 10, (_N, 1)))).astype(np.float32)
    _v[0] = 0.0
    _dense = np.zeros((_N, _K // 4, 4))
    np.put_along_axis(_dense, _pi, _v.reshape(_N, -1, 2).astype(np.float64), -1)
    _x = _rng.standard_normal(_K).astype(np.float32)
    _x[-1] = -500.0
    _want = _dense.reshape(_N, _K) @ _x.astype(np.float64)
    _y = np.asarray(sparse24_matvec(_v, _meta, _x))
    assert _y.shape == (_N,), f"shape {_y.shape}"
    assert np.allclose(_y, _want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(_want).max())), f"({_N}, {_K}) values wrong"
    assert _y[0] == 0, "an all-zero row gives 0"
### END HIDDEN TESTS

# %% [markdown]
# ## 5.4 The speed lesson: when does sparse beat dense?
#
# A `4096 × 4096` fp32 matrix is 64 MiB, more than the last-level cache of the course machines (the cell
# prints this machine's), so a GEMV streams it
# from DRAM. As in module 07 each variant rotates through copies larger than the cache (**cold weights**,
# as in a decode step where the other layers evict them), variants are timed round-robin in bursts after
# untimed priming calls, and speed-ups are medians of per-round ratios against NumPy's dense fp32 GEMV
# (OpenBLAS) in the same rounds. First the physical limit, the read bandwidth, and the CPU's features
# (read from the operating system: the lesson below must hold with and without them):

# %%
@njit(parallel=True, fastmath=True, cache=True)
def _read_all(a):
    """Sum of a 1-D float32 array: reads every byte once."""
    s = np.float32(0.0)
    for i in prange(a.size):
        s += a[i]
    return s


print(env.describe_cpu_features())
try:
    print("last-level cache:", open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip())
except OSError:
    print("last-level cache: not readable on this system")
N_big = env.size(4096, 256)
COLD = env.size(192, 4) * 2**20  # bytes of copies per variant (more than the last-level cache at default size)
rng = np.random.default_rng(1)
x_big = rng.standard_normal(N_big, dtype=np.float32)
n_dense = max(2, -(-COLD // (4 * N_big * N_big)))
dense_copies = [rng.standard_normal((N_big, N_big), dtype=np.float32) for _ in range(n_dense)]  # (N, K) each


def read_bandwidth(arrays: list[np.ndarray]) -> float:
    """GB/s of a parallel read of each array in turn (median of 9)."""
    flats = [a.reshape(-1) for a in arrays]
    state = {"i": 0}

    def read_next():
        state["i"] = (state["i"] + 1) % len(flats)
        _read_all(flats[state["i"]])
    return flats[0].nbytes / bench.time_fn(read_next, repeat=9).median / 1e9


# At the test size a matrix is 256 KiB: it sits in cache and a kernel call costs mostly Numba's thread
# start-up, so timings there would be nonsense (sparse ~1000x "slower"). Check the kernels, skip the clock.
MEASURE = not env.small()
if MEASURE:
    bandwidth = read_bandwidth(dense_copies)
    print(f"measured read bandwidth: {bandwidth:.1f} GB/s over {n_dense} x {dense_copies[0].nbytes / 2**20:.0f} MiB")
else:
    print(f"test size: GEMV {N_big}x{N_big} ({4 * N_big * N_big / 1024:.0f} KiB per matrix) fits in cache and each call "
          "is dominated by Numba's thread start-up; the kernels are checked for correctness, the timings, the table "
          "and the plot are skipped (they need the default size)")


def rotating(fn, copies: list):
    """A no-argument function calling fn on the next copy each time (cold weights)."""
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % len(copies)
        return fn(*copies[state["i"]])
    return call


def copies_of(arrays: tuple, nbytes: int) -> list[tuple]:
    """Enough separate copies of a tuple of arrays to exceed COLD bytes in total."""
    return [arrays] + [tuple(a.copy() for a in arrays) for _ in range(max(1, -(-COLD // nbytes)) - 1)]


dense_fn = rotating(lambda m: m @ x_big, [(m,) for m in dense_copies])
speed = {}  # label -> (sparsity, speed-up over dense, GB/s)
for s in env.size([0.5, 0.7, 0.8, 0.9, 0.95], [0.5, 0.9]):
    w_sp = rng.standard_normal((N_big, N_big), dtype=np.float32)
    w_sp *= rng.random((N_big, N_big), dtype=np.float32) >= s  # unstructured: each weight kept with prob. 1 - s
    csr = dense_to_csr(w_sp)
    assert np.allclose(csr_matvec(*csr, x_big), w_sp @ x_big, rtol=1e-3, atol=1e-3)
    nbytes = sum(a.nbytes for a in csr)
    w_sp = None
    if MEASURE:
        cmp = bench.compare({"dense": dense_fn,
                             "csr": rotating(lambda d, i, p: csr_matvec(d, i, p, x_big), copies_of(csr, nbytes))},
                            rounds=7, settle=0.1, prime=2, number=5)
        speed[f"CSR {s:.0%}"] = (s, cmp.ratio("csr"), nbytes / cmp.timings["csr"].median / 1e9)
w24 = rng.standard_normal((N_big, N_big), dtype=np.float32)
packed = compress_24(w24, mask_24(w24))
assert np.allclose(sparse24_matvec(*packed, x_big), decompress_24(*packed) @ x_big, rtol=1e-3, atol=1e-3)
w24 = None
nbytes = sum(a.nbytes for a in packed)
if MEASURE:
    cmp = bench.compare({"dense": dense_fn, "2:4": rotating(lambda v, m: sparse24_matvec(v, m, x_big), copies_of(packed, nbytes))},
                        rounds=7, settle=0.1, prime=2, number=5)
    speed["2:4"] = (0.5, cmp.ratio("2:4"), nbytes / cmp.timings["2:4"].median / 1e9)
    dense_gbs = 4 * N_big * N_big / cmp.timings["dense"].median / 1e9
    print(f"{'kernel':<10}{'sparsity':>9}{'speed-up':>10}{'bytes bound':>12}{'GB/s':>8}{'of bandwidth':>14}")
    print(f"{'dense':<10}{0:>9.0%}{1:>9.2f}x{1:>11.2f}x{dense_gbs:>8.1f}{dense_gbs / bandwidth:>14.0%}")
    for label, (s, r, gbs) in speed.items():
        bound = 4.0 / (8 * (1 - s)) if label.startswith("CSR") else 4.0 / (2 + 0.25)  # dense bytes / sparse bytes per weight
        print(f"{label.split()[0]:<10}{s:>9.0%}{r:>9.2f}x{bound:>11.2f}x{gbs:>8.1f}{gbs / bandwidth:>14.0%}")
    csr_pts = sorted((s, r) for label, (s, r, _) in speed.items() if label.startswith("CSR"))
    crossover = next((s0 + (1 - r0) * (s1 - s0) / (r1 - r0) for (s0, r0), (s1, r1) in zip(csr_pts, csr_pts[1:], strict=False)
                      if r0 < 1 <= r1), None)
    print("CSR crossover sparsity (linear interpolation between measured points):",
          "not inside the measured range" if crossover is None else f"{crossover:.0%}")

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ss = np.linspace(0.5, 0.97, 50)
    ax.plot([p[0] for p in csr_pts], [p[1] for p in csr_pts], "o-", label="CSR (your kernel), measured")
    ax.plot(ss, 4.0 / (8 * (1 - ss)), ":", color="C0", label="CSR, bytes bound (8 B per non-zero)")
    ax.plot([0.5], [speed["2:4"][1]], "s", color="C1", label="2:4 (your kernel), measured")
    ax.plot([0.5], [4.0 / 2.25], "x", color="C1", label="2:4, bytes bound")
    ax.axhline(1.0, color="k", lw=1, label="dense fp32 (numpy)")
    ax.set_xlabel("sparsity")
    ax.set_ylabel("speed-up over dense")
    ax.set_yscale("log")
    ax.set_title(f"GEMV {N_big}x{N_big}, cold weights")
    ax.legend(fontsize=7)
    fig.tight_layout()

# %% [markdown]
# How to read it (the numbers are this run's; rerun the cell if other programs share the machine):
#
# * **The bytes bound.** Dense fp32 reads 4 bytes per weight. CSR reads 8 per non-zero (value and int32
#   index) plus the row pointers, so it can only win above 50%<!--const: a sparsity level the text chooses--> sparsity and can at best be
#   `4 / (8 (1 − s))` times faster: 5× at 90%<!--const: a sparsity level the text chooses-->. 2:4 reads 2 bytes of values and 0.25 of metadata per
#   weight: at best 1.8×.
# * **CSR falls short of its bound** (compare the speed-up and bytes-bound columns, and the measured
#   crossover with the 50%<!--const: a sparsity level the text chooses--> that bytes alone would give) because of the gather: each `x[indices[j]]` is a
#   load from a data-dependent address. A compiler can vectorise it only with gather instructions (AVX2
#   has them, AVX-512 has wider ones), and a gather fetches one element per lane from scattered places,
#   slower than a contiguous load; without them it is one scalar load per non-zero. Either way the kernel
#   does more work per byte than the dense one. One detail decides whether Numba emits gathers at all:
#   it checks every signed index for a negative value (Python's wrap-around), and that branch keeps LLVM
#   from vectorising the loop. Column indices read as unsigned integers (`uint16` covers `K ≤ 65536`, and
#   a signed array can be viewed as unsigned without a copy) remove the check; in `make bench`'s
#   reference kernels (benchmarks/bench_prune.py) that, and not several rows per pass, moved the
#   crossover down.
# * **2:4's gather is local**: both positions lie within a group of 4, so the `x` values come from one
#   16-byte span that is already in cache. What remains is decoding 2-bit positions per pair of weights.
#   NVIDIA's sparse tensor cores (Ampere and later) decode the metadata in hardware, which is why 2:4 pays there at only 50%<!--const: a sparsity level the text chooses--> sparsity.
# * **Structured pruning needs no special kernel**: a matrix with half the rows is simply half the bytes.

# %%
dense_copies = dense_fn = cmp = csr = packed = None  # free the copies

# %% [markdown]
# ## 6. How sparse should each layer be?
#
# Layers differ in how much they suffer. A **sensitivity scan** prunes one matrix at a time to several
# sparsities and measures the damage (here: the increase in held-out perplexity), keeping everything else
# dense. Then the sparsities are chosen per layer so that the total number of pruned weights meets a
# budget while the summed damage stays small, assuming the damages of different layers add up (roughly
# true for small damages, and the reason to check the result on the real model).

# %%
LEVELS = np.array([0.0, 0.3, 0.5, 0.7, 0.8, 0.9])
sizes = np.array([params[n].size for n in PRUNABLE])
damage = np.zeros((len(PRUNABLE), len(LEVELS)))
torch.set_num_threads(1)
scan_text = val_text[: env.size(3000, 800)]  # a shorter text: the scan ranks layers, 80 evaluations
scan_ppl = perplexity(from_numpy(config, params), scan_text)
for li, n in enumerate(PRUNABLE):
    for j, s in enumerate(LEVELS[1:], start=1):
        model = from_numpy(config, {**params, n: params[n] * wanda_mask(params[n], norms[n], s)})
        damage[li, j] = perplexity(model, scan_text) - scan_ppl
fig, ax = plt.subplots(figsize=(7, 3.4))
for li, n in enumerate(PRUNABLE):
    ax.plot(LEVELS, damage[li], "o-", ms=3, color=f"C{li % 4}", alpha=0.4 + 0.15 * int(n.split(".")[1]),
            label=n.split(".", 2)[2] if li < 4 else None)
ax.set_xlabel("sparsity of this one matrix (Wanda)")
ax.set_ylabel("perplexity increase")
ax.set_title("sensitivity scan: one matrix pruned at a time (darker = later block)")
ax.legend(fontsize=8)
fig.tight_layout()
print("most sensitive at 90%:", [PRUNABLE[i] for i in np.argsort(-damage[:, -1])[:3]],
      " least:", [PRUNABLE[i] for i in np.argsort(damage[:, -1])[:3]])

# %% [markdown]
# ### 6.1 Greedy allocation under a budget (2 points)
#
# Write `allocate_sparsity(damage, sizes, levels, budget)`. `damage` is `(L, J)`: `damage[l, j]` the
# damage of layer `l` alone at sparsity `levels[j]` (`levels` increasing, `levels[0] = 0`), `sizes` the
# `L` weight counts, `budget` the fraction of all `sizes.sum()` weights that must be pruned. Return an
# `(L,)` integer array of level indices, by this greedy rule:
#
# 1. Every layer starts at level 0.
# 2. While `Σ_l sizes[l] · levels[j_l] < budget · Σ_l sizes[l]` (compare with a tolerance of `1e-9`
#    times the total): among the layers not yet at the last level, raise the one with the smallest
#    **marginal damage per pruned weight**,
#    `(damage[l, j+1] − damage[l, j]) / (sizes[l] · (levels[j+1] − levels[j]))`, by one level. On a tie
#    the lowest `l` wins.
# 3. If every layer is at the last level and the budget is still not met, raise `ValueError`.
#
# Damages may be negative (a measurement can show a tiny improvement). Traps: comparing the damage itself
# instead of the increase; forgetting to divide by the number of weights the step prunes (a big layer's
# step prunes more weights and naturally costs more); stopping one step early or late.

# %% nbgrader={"grade": false, "grade_id": "allocate_sparsity", "locked": false, "solution": true, "schema_version": 3}
def allocate_sparsity(damage: np.ndarray, sizes: np.ndarray, levels: np.ndarray, budget: float) -> np.ndarray:
    """(L,) level indices chosen greedily by marginal damage per pruned weight until the budget is met."""
    ### BEGIN SOLUTION
    damage = np.asarray(damage, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    L, J = damage.shape
    j = np.zeros(L, dtype=np.int64)
    target = budget * sizes.sum()
    while (sizes * levels[j]).sum() < target - 1e-9 * sizes.sum():
        best, best_cost = -1, np.inf
        for layer in range(L):
            if j[layer] + 1 < J:
                a, b = j[layer], j[layer] + 1
                cost = (damage[layer, b] - damage[layer, a]) / (sizes[layer] * (levels[b] - levels[a]))
                if cost < best_cost:
                    best, best_cost = layer, cost
        if best < 0:
            raise ValueError("budget cannot be met even at the last level everywhere")
        j[best] += 1
    return j
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "allocate_sparsity_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.allocate_sparsity(allocate_sparsity)
### BEGIN HIDDEN TESTS
def _ref_alloc(d, n, lv, b):
    d, n, lv = np.asarray(d, float), np.asarray(n, float), np.asarray(lv, float)
    j = np.zeros(len(n), dtype=int)
    while (n * lv[j]).sum() < b * n.sum() - 1e-9 * n.sum():
        c = [(d[i, j[i] + 1] - d[i, j[i]]) / (n[i] * (lv[j[i] + 1] - lv[j[i]])) if j[i] + 1 < len(lv) else np.inf
             for i in range(len(n))]
        if not np.isfinite(min(c)):
            raise ValueError
        j[int(np.argmin(c))] += 1
    return j


_rng = np.random.default_rng(102)
for _L, _J, _b in ((7, 5, 0.6), (3, 4, 0.0), (12, 6, 0.85), (5, 3, 1.0), (9, 7, 0.33)):
    _lv = np.concatenate([[0.0], np.sort(_rng.uniform(0.05, 1.0, _J - 1))])
    _lv[-1] = 1.0
    _d = np.cumsum(_rng.exponential(1.0, (_L, _J)) * np.exp(_rng.uniform(-5, 5, (_L, 1))), axis=1)
    _d[:, 0] = 0.0
    _d[0, 1] = -0.3  # a measured improvement
    _n = _rng.integers(1, 10**6, _L)
    _dk = _d.copy()
    _got = np.asarray(allocate_sparsity(_d, _n, _lv, _b))
    assert np.array_equal(_d, _dk), "damage modified"
    _want = _ref_alloc(_d, _n, _lv, _b)
    assert _got.shape == (_L,) and np.issubdtype(_got.dtype, np.integer), "an (L,) integer array of level indices"
    assert np.array_equal(_got, _want), f"L={_L}, budget {_b}: got {_got.tolist()}, greedy gives {_want.tolist()}"
    assert (_n * _lv[_got]).sum() >= _b * _n.sum() * (1 - 1e-9), "budget not met"
# ties: identical layers; the lowest index goes first
assert np.array_equal(allocate_sparsity(np.array([[0.0, 1.0, 3.0]] * 3), [10, 10, 10], [0.0, 0.5, 1.0], 0.5),
                      [1, 1, 1]), "ties: the lowest layer index first, one step at a time"
assert np.array_equal(allocate_sparsity(np.array([[0.0, 1.0, 3.0]] * 3), [10, 10, 10], [0.0, 0.5, 1.0], 1 / 6),
                      [1, 0, 0]), "stop as soon as the budget is met"
try:
    allocate_sparsity(np.zeros((2, 2)), [5, 5], [0.0, 0.5], 0.8)
    raise AssertionError("an unreachable budget must raise ValueError")
except ValueError:
    pass
### END HIDDEN TESTS

# %% [markdown]
# Allocate 70%<!--const: a sparsity level the text chooses--> of the prunable weights from the scan and compare with uniform 70%<!--const: a sparsity level the text chooses--> (every matrix pruned
# with Wanda in both cases): the prediction from adding the scan's damages, and the measurement.

# %%
alloc = allocate_sparsity(damage, sizes, LEVELS, 0.7)
allocated = {**params, **{n: params[n] * wanda_mask(params[n], norms[n], LEVELS[alloc[i]]) for i, n in enumerate(PRUNABLE)}}
uniform = {**params, **{n: params[n] * wanda_mask(params[n], norms[n], 0.7) for n in PRUNABLE}}
j70 = int(np.flatnonzero(LEVELS == 0.7)[0])
print("allocated sparsity per matrix:", {n.removeprefix("blocks."): float(LEVELS[alloc[i]]) for i, n in enumerate(PRUNABLE)})
print(f"pruned fraction: allocated {prunable_sparsity(allocated, PRUNABLE):.3f}, uniform {prunable_sparsity(uniform, PRUNABLE):.3f}")
for label, p, predicted in (("uniform 70%", uniform, damage[:, j70].sum()),
                            ("allocated 70%", allocated, damage[np.arange(len(PRUNABLE)), alloc].sum())):
    ppl, acc = evaluate(p)
    print(f"{label:<14} predicted perplexity {scan_ppl + predicted:.4f} (scan text)  "
          f"measured {perplexity(from_numpy(config, p), scan_text):.4f} (scan text), {ppl:.4f} (validation text)  "
          + "  ".join(f"{t} {acc[t]:.0%}" for t in TASKS))

# %% [markdown]
# The additive prediction is a sum of single-layer measurements; the measured line is the truth. Where
# the two disagree, the damages of different layers interact (pruning one layer changes what the next
# one sees). The allocation shifts sparsity from the sensitive matrices to the tolerant ones, at the same
# total.

# %% [markdown]
# ## 7. Prune, then recover: gradual pruning with fine-tuning
#
# One-shot pruning at high sparsity removes weights the network needed. Gradual pruning (Zhu & Gupta,
# 2017, "To prune, or not to prune") raises the sparsity in small steps while training continues, so the
# remaining weights can take over. Its **cubic schedule** prunes fast at first and slowly at the end:
#
# `s(t) = s_final + (s_init − s_final) · (1 − (t − t_start) / (t_end − t_start))³` for `t_start ≤ t ≤ t_end`.
#
# The trap in the training loop: the optimizer must not **regrow** pruned weights. Masking only the
# gradients is not enough: Adam's moment estimates (and SGD's momentum buffer) still move a weight
# whose current gradient is zero, so the mask must be applied to the weights after every optimizer step.

# %%
def cubic_schedule(t: int, s_final: float, t_start: int, t_end: int, s_init: float = 0.0) -> float:
    """Sparsity at step t under Zhu & Gupta's cubic schedule (constant outside [t_start, t_end])."""
    frac = min(max((t - t_start) / max(t_end - t_start, 1), 0.0), 1.0)
    return s_final + (s_init - s_final) * (1.0 - frac) ** 3


print([round(cubic_schedule(t, 0.7, 0, 100), 3) for t in range(0, 101, 10)])

# %% [markdown]
# ### 7.1 A masked training step (2 points)
#
# Write `masked_train_step(model, optimizer, masks, x, y)`: zero the gradients, compute the mean
# cross-entropy of `model(x)` `(B, T, V)` against `y` `(B, T)`, backpropagate, take the optimizer step,
# then multiply every parameter in `masks` (a dict `{parameter: float 0/1 tensor of its shape}`) by its
# mask in place, without recording it for autograd. Return the loss as a Python float.
#
# Traps: masking the gradients but not the weights after the step (Adam regrows them); masking before
# the step; forgetting to zero the gradients (they accumulate across steps).

# %% nbgrader={"grade": false, "grade_id": "masked_train_step", "locked": false, "solution": true, "schema_version": 3}
def masked_train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, masks: dict,
                      x: torch.Tensor, y: torch.Tensor) -> float:
    """One optimizer step on mean cross-entropy; afterwards every masked parameter is zero where its mask is 0."""
    ### BEGIN SOLUTION
    optimizer.zero_grad(set_to_none=True)
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for p, m in masks.items():
            p.mul_(m)
    return float(loss.item())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "masked_train_step_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pruning.masked_train_step(masked_train_step)
### BEGIN HIDDEN TESTS
def _setup(seed):
    torch.manual_seed(seed)
    m = from_numpy(config, params).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    ids = torch.as_tensor(calibration_ids(4, seed=seed)[:, :33])
    for _ in range(3):  # build up Adam's moments before pruning, as in a real run
        opt.zero_grad()
        F.cross_entropy(m(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten()).backward()
        opt.step()
    masks = {}
    for n in ("blocks.0.mlp.w_in", "blocks.3.attn.w_out"):
        p = torch_param(m, n)
        masks[p] = torch.as_tensor(magnitude_mask(p.detach().numpy(), 0.6), dtype=torch.float32)
        with torch.no_grad():
            p.mul_(masks[p])
    return m, opt, masks, ids


_m1, _o1, _k1, _ids = _setup(103)
_m2, _o2, _k2, _ = _setup(103)
_losses = []
for _step in range(3):
    _losses.append(masked_train_step(_m1, _o1, _k1, _ids[:, :-1], _ids[:, 1:]))
    _o2.zero_grad()
    _l2 = F.cross_entropy(_m2(_ids[:, :-1]).flatten(0, 1), _ids[:, 1:].flatten())
    _l2.backward()
    _o2.step()
    with torch.no_grad():
        for _p, _mk in _k2.items():
            _p.mul_(_mk)
    assert isinstance(_losses[-1], float) and abs(_losses[-1] - _l2.item()) < 1e-4, f"step {_step}: loss {_losses[-1]} != {_l2.item()}"
    for (_p, _mk), (_q, _) in zip(_k1.items(), _k2.items(), strict=True):
        assert torch.all(_p.detach()[_mk == 0] == 0), f"step {_step}: pruned weights regrew (mask the weights after the step)"
        assert torch.allclose(_p.detach(), _q.detach(), atol=1e-6), f"step {_step}: kept weights differ from one plain step"
    for (_pa, _qa) in zip(_m1.parameters(), _m2.parameters(), strict=True):
        assert torch.allclose(_pa.detach(), _qa.detach(), atol=1e-6), f"step {_step}: parameters differ (zero_grad?)"
assert _losses[-1] < _losses[0], "the loss should fall over three steps on one batch"
### END HIDDEN TESTS

# %% [markdown]
# The recovery experiment: prune to 70%<!--const: a sparsity level the text chooses--> (magnitude, per matrix) in one shot and measure; then start from
# the dense model again and prune **gradually** along the cubic schedule, recomputing the magnitude masks
# every few steps while fine-tuning with AdamW on the training text, and measure again. A third run
# fine-tunes the one-shot model for the same number of steps, to separate "gradual" from "fine-tuned".
# The runs are short (each step sees 8 windows of 64 characters) so that the cell takes seconds on a CPU;
# raise `steps` to see how far the recovery goes.

# %%
def finetune(p: dict, steps: int, s_final: float, gradual: bool, seed: int = 0) -> tuple[dict, list[float]]:
    """Fine-tune the course GPT while pruning to s_final (gradually, or fixed from the start); new params, losses."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = from_numpy(config, p).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    data = torch.as_tensor(CharTokenizer().encode(load_corpus("train")))
    gen = torch.Generator().manual_seed(seed)
    every = max(1, steps // 10)
    t_end = int(0.75 * steps)  # last quarter: fine-tune at the final sparsity
    masks, losses = {}, []
    for t in range(steps):
        if t % every == 0 and (gradual or not masks):
            s_now = cubic_schedule(t, s_final, 0, t_end) if gradual else s_final
            for n in PRUNABLE:
                w = torch_param(model, n)
                masks[w] = torch.as_tensor(magnitude_mask(w.detach().numpy(), s_now), dtype=torch.float32)
                with torch.no_grad():
                    w.mul_(masks[w])
        starts = torch.randint(0, len(data) - 65, (8,), generator=gen)
        batch = torch.stack([data[s:s + 65] for s in starts.tolist()])  # (8, 65): 8 windows of 64 inputs
        losses.append(masked_train_step(model, opt, masks, batch[:, :-1], batch[:, 1:]))
    return to_numpy(model.eval())[1], losses  # every parameter: biases and LayerNorms were fine-tuned too


steps = env.size(80, 4)
t0 = time.perf_counter()
one_shot, _ = prune_model(params, PRUNABLE, 0.7, "layer")
one_shot_ft, losses_os = finetune(one_shot, steps, 0.7, gradual=False)
gradual_ft, losses_gr = finetune(params, steps, 0.7, gradual=True)
print(f"two fine-tuning runs of {steps} steps took {time.perf_counter() - t0:.0f} s")
print(f"{'model':<34}{'sparsity':>9}{'perplexity':>12}" + "".join(f"{t:>8}" for t in TASKS))
for label, p in (("dense", params), ("one-shot 70%", one_shot), (f"one-shot 70% + {steps} steps", one_shot_ft),
                 (f"gradual to 70% over {steps} steps", gradual_ft)):
    ppl, acc = evaluate(p)
    print(f"{label:<34}{prunable_sparsity(p, PRUNABLE):>9.3f}{ppl:>12.4f}" + "".join(f"{acc[t]:>8.0%}" for t in TASKS))
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(losses_os, label="one-shot, then fine-tune")
ax.plot(losses_gr, label="gradual (cubic)")
ax.set_xlabel("step")
ax.set_ylabel("training loss")
ax.legend()
fig.tight_layout()

# %% [markdown]
# The sparsity column confirms that no pruned weight came back during training. How much fine-tuning
# recovers, and whether gradual beats one-shot-then-fine-tune at this budget, is in the printed rows: this
# is a very short run, and gradual schedules were designed for, and evaluated with, training runs of
# thousands of steps (Zhu & Gupta, 2017).

# %% [markdown]
# ## 8. Practice quiz

# %%
quiz.show("09_pruning")

# %% [markdown]
# ## Summary
#
# * Prune the linear weights only; count sparsity over them; make the count exact even with ties.
# * One global magnitude threshold and one per tensor give different models: the global one prunes
#   small-scale layers hardest.
# * Importance beyond magnitude: `|w · ∂L/∂w|` (one backward pass, noisy at a minimum) and Wanda's
#   `|W| · ‖X‖` compared within each output (no gradients, no retraining).
# * Structured pruning shrinks the matrices (heads: columns of q, k and v and rows of `w_out`; neurons:
#   columns of `w_in`, entries of `b_in`, rows of `w_out`) and is proved right by comparing with the
#   masked model.
# * 2:4 keeps 2 of every 4 consecutive weights along the reduction axis: half the values plus 2-bit
#   positions.
# * CSR beats a dense GEMV only at high sparsity, because of its index bytes and gathers; the crossover
#   and the 2:4 speed-up are measured above, with the bytes bound beside them.
# * Per-layer sparsity from a sensitivity scan under a budget; gradual pruning with the mask re-applied
#   after every optimizer step.
#
# ## Going further
#
# * SparseGPT (Frantar & Alistarh, 2023): prune and update the remaining weights with second-order
#   information, one layer at a time.
# * `benchmarks/bench_prune.py` in this repository: 2:4 with int8 values and per-row scales (pruning and
#   quantization together), and a decode step with half the FFN neurons removed; `make bench` runs it.
# * Movement pruning (Sanh et al., 2020) scores weights by how they move during fine-tuning.
# * Module 11 distils a pruned student from the dense teacher.
