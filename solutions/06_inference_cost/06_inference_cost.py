# %% [markdown]
# # 06 · What inference costs: FLOPs, bytes and the roofline
#
# Before optimising a model, an inference engineer asks two questions about one forward step: how many
# floating-point operations does it do, and how many bytes must it move from memory? Whichever of
# `FLOPs / peak FLOP/s` and `bytes / bandwidth` is larger sets a lower bound on the step's time. This is the
# analytic model of Pope et al., "Efficiently Scaling Transformer Inference" (2022), and it predicts a lot:
# why generating one token at a time is memory-bound, why batching is nearly free until a certain batch
# size, why the KV cache becomes the problem at long context, and why 8-bit weights make a chatbot faster.
#
# You will write the model as small functions, measure this machine's bandwidth and FLOP/s, predict a
# decode step's time and compare it with a measurement.
#
# | section | graded exercise | points |
# |---|---|---|
# | 1 | `param_count`: the weights a step reads | 2 |
# | 2 | `kv_cache_bytes`, and MHA vs GQA vs MQA at 32k context | 1 + 2 |
# | 3 | `step_flops`: FLOPs of a prefill or decode step | 2 |
# | 4 | `step_bytes`: bytes moved by a step, KV cache included | 2 |
# | 5 | `roofline`: intensity, time and the bound; `ridge_batch` | 2 + 2 |
# | 6 | why int8 weights speed up decoding (questions) | 2 |
# | 7 | measured bandwidth and FLOP/s; predicted vs measured decode step (ungraded) | 0 |
# | 8 | communication of 1D and 2D weight-stationary layouts (questions), and an explorer | 2 |
#
# Total: 17 points. Replace `raise NotImplementedError()` with your code and run the test cell under it.
# The visible check prints one line when it is happy; hidden tests (other configurations and the usual wrong
# answers) run when your work is graded. No test looks at a measured time: timings depend on the machine.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("06_inference_cost")

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from llmcourse import bench, checks, env, plot, quiz
from llmcourse.data import VOCAB
from llmcourse.model import GPTConfig, load_numpy

_ = torch.manual_seed(0)

# %% [markdown]
# ## 1. The weights one step reads
#
# We describe a decoder-only model by a dictionary `cfg` with the README's names: `n_layer`, `C` (model width),
# `n_head`, `n_kv_head` (key/value heads; equal to `n_head` for plain multi-head attention), `d_ff` (MLP width)
# and `V` (vocabulary). The width of one head is `d_head = C // n_head`.
#
# For the cost model we count only the **matrix weights**, because they are what a step multiplies by and
# what it must read from memory:
#
# * per layer: `Wq` (`C × C`), `Wk` and `Wv` (`C × n_kv_head·d_head` each), `Wo` (`C × C`), and the MLP's two
#   matrices (`C × d_ff` and `d_ff × C`);
# * once: the LM head (`C × V`).
#
# Biases and LayerNorm parameters are a fraction of a percent and we leave them out. So is the token embedding
# table: a step looks up one row per token, it does not read or multiply the whole table.
#
# ### 1.1 Parameter count (2 points)

# %% nbgrader={"grade": false, "grade_id": "param_count", "locked": false, "solution": true, "schema_version": 3}
def param_count(cfg: dict) -> int:
    """Matrix weights of the model: n_layer x (Wq, Wk, Wv, Wo, two MLP matrices) + the LM head (C x V).

    cfg has keys n_layer, C, n_head, n_kv_head, d_ff, V; d_head = C // n_head. Wk and Wv map C to
    n_kv_head * d_head features (fewer than C under GQA/MQA). No biases, norms or embeddings.
    """
    ### BEGIN SOLUTION
    C, d_head = cfg["C"], cfg["C"] // cfg["n_head"]
    attn = 2 * C * C + 2 * C * cfg["n_kv_head"] * d_head      # Wq, Wo; Wk, Wv
    mlp = 2 * C * cfg["d_ff"]                                  # C -> d_ff -> C
    return cfg["n_layer"] * (attn + mlp) + C * cfg["V"]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "param_count_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.param_count(param_count)
### BEGIN HIDDEN TESTS
def _ref_params(c):
    _dh = c["C"] // c["n_head"]
    return c["n_layer"] * (2 * c["C"] ** 2 + 2 * c["C"] * c["n_kv_head"] * _dh + 2 * c["C"] * c["d_ff"]) + c["C"] * c["V"]


for _c in [dict(n_layer=32, C=4096, n_head=32, n_kv_head=32, d_ff=16384, V=32000),
           dict(n_layer=80, C=8192, n_head=64, n_kv_head=8, d_ff=28672, V=128256),
           dict(n_layer=3, C=48, n_head=6, n_kv_head=1, d_ff=100, V=7),
           dict(n_layer=4, C=128, n_head=4, n_kv_head=4, d_ff=512, V=48)]:
    _got = param_count(dict(_c))
    assert math.isclose(float(_got), _ref_params(_c), rel_tol=1e-12), (
        f"param_count({_c}): expected {_ref_params(_c)}, got {_got} (Wk, Wv use n_kv_head; LM head counted once)")
### END HIDDEN TESTS

# %% [markdown]
# The shipped tiny GPT (4 layers, `C = 128`) and a model shaped like a 7-billion-parameter one (32 layers,
# `C = 4096`, a plain two-matrix MLP with `d_ff = 4C`) side by side. The tiny GPT's fp32 weights take about
# 3 MB: they fit in this CPU's caches, which will matter in section 7.

# %%
TINY = {"n_layer": 4, "C": 128, "n_head": 4, "n_kv_head": 4, "d_ff": 512, "V": len(VOCAB)}
PRESETS = {
    "tiny GPT (shipped)": TINY,
    "1B-class (16 layers, C 2048, GQA-8)": {"n_layer": 16, "C": 2048, "n_head": 32, "n_kv_head": 8,
                                            "d_ff": 8192, "V": 128256},
    "7B-class (32 layers, C 4096, MHA)": {"n_layer": 32, "C": 4096, "n_head": 32, "n_kv_head": 32,
                                          "d_ff": 16384, "V": 32000},
    "55B-class (80 layers, C 8192, GQA-8)": {"n_layer": 80, "C": 8192, "n_head": 64, "n_kv_head": 8,
                                             "d_ff": 32768, "V": 128256},
}
for name, cfg in PRESETS.items():
    n = param_count(cfg)
    print(f"{name:40s} {n / 1e6:12,.1f} M weights   {4 * n / 1e9:8.3f} GB in fp32   {2 * n / 1e9:8.3f} GB in bf16")

# %% [markdown]
# ## 2. The KV cache
#
# While generating, each layer keeps the keys and values of every token seen so far: per token and per layer,
# `n_kv_head × d_head` numbers for the keys and as many for the values. For a batch of `B` sequences of `T`
# tokens stored with `kv_bits` bits per number:
#
# `KV bytes = 2 × n_layer × n_kv_head × d_head × B × T × kv_bits / 8`
#
# You met this in module 02; here it takes a `cfg` and a number of bits, because the traps of this module are
# about units. **Bits are not bytes**: fp16 is 16 bits, which is 2 bytes. And **GiB are not GB**: a GiB is
# 2³⁰ = 1,073,741,824 bytes, a GB is 10⁹ bytes; the 7%<!--const: 2**30 / 1e9 = 1.074--> difference is larger than many of the effects you will
# try to measure. In this notebook bandwidths are in GB/s (10⁹ bytes per second), as vendors quote them, and
# memory sizes in GiB only where a question says so.
#
# ### 2.1 KV-cache bytes (1 point)

# %% nbgrader={"grade": false, "grade_id": "kv_cache_bytes", "locked": false, "solution": true, "schema_version": 3}
def kv_cache_bytes(cfg: dict, B: int, T: int, kv_bits: int = 16) -> float:
    """Bytes of keys and values for B sequences of T tokens, every layer, each number stored in kv_bits bits."""
    ### BEGIN SOLUTION
    d_head = cfg["C"] // cfg["n_head"]
    per_token = 2 * cfg["n_layer"] * cfg["n_kv_head"] * d_head * kv_bits / 8    # K and V, every layer
    return per_token * B * T
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "kv_cache_bytes_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.inference_cost.kv_cache_bytes(kv_cache_bytes)
### BEGIN HIDDEN TESTS
for _c, _B, _T, _bits in [(dict(n_layer=32, C=4096, n_head=32, n_kv_head=8, d_ff=1, V=1), 1, 32768, 16),
                          (dict(n_layer=80, C=8192, n_head=64, n_kv_head=8, d_ff=1, V=1), 8, 4096, 8),
                          (dict(n_layer=3, C=48, n_head=6, n_kv_head=2, d_ff=1, V=1), 5, 7, 32),
                          (dict(n_layer=12, C=768, n_head=12, n_kv_head=1, d_ff=1, V=1), 2, 1000, 4)]:
    _exp = 2 * _c["n_layer"] * _c["n_kv_head"] * (_c["C"] // _c["n_head"]) * _B * _T * _bits / 8
    _got = kv_cache_bytes(dict(_c), _B, _T, kv_bits=_bits)
    assert math.isclose(float(_got), _exp, rel_tol=1e-12), (
        f"kv_cache_bytes({_c}, B={_B}, T={_T}, kv_bits={_bits}): expected {_exp:g}, got {_got}")
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 MHA vs GQA vs MQA at 32k context (2 points)
#
# A model shaped like a 13-billion-parameter one has 40 layers, `C = 5120` and 40 query heads. Give the KV
# cache of **one** sequence of 32,768 tokens in fp16, **in GiB** (2³⁰ bytes), for three versions of it:
#
# * `kv_gib_mha`: multi-head attention (40 kv heads);
# * `kv_gib_gqa`: grouped-query attention with 8 kv heads;
# * `kv_gib_mqa`: multi-query attention (1 kv head).
#
# A popular wrong answer divides by 10⁹ (that gives GB); another forgets that the cache holds values as well
# as keys.

# %% nbgrader={"grade": false, "grade_id": "kv_questions", "locked": false, "solution": true, "schema_version": 3}
kv_gib_mha = None   # GiB
kv_gib_gqa = None   # GiB
kv_gib_mqa = None   # GiB
### BEGIN SOLUTION
_cfg13 = {"n_layer": 40, "C": 5120, "n_head": 40, "n_kv_head": 40, "d_ff": 13824, "V": 32000}
kv_gib_mha = kv_cache_bytes(_cfg13, 1, 32768) / 2**30
kv_gib_gqa = kv_cache_bytes({**_cfg13, "n_kv_head": 8}, 1, 32768) / 2**30
kv_gib_mqa = kv_cache_bytes({**_cfg13, "n_kv_head": 1}, 1, 32768) / 2**30
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "kv_questions_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.kv_questions(kv_gib_mha, kv_gib_gqa, kv_gib_mqa)
### BEGIN HIDDEN TESTS
# 2 * 40 layers * 40 kv heads * 128 * 2 bytes = 819,200 bytes per token; * 32768 tokens = 25 GiB exactly
for _name, _got, _exp in [("kv_gib_mha", kv_gib_mha, 25.0), ("kv_gib_gqa", kv_gib_gqa, 5.0),
                          ("kv_gib_mqa", kv_gib_mqa, 0.625)]:
    assert math.isclose(float(_got), _exp, rel_tol=0.005), (
        f"{_name}: expected {_exp} GiB, got {_got} (GiB = 2**30 bytes; K and V; fp16 = 2 bytes)")
### END HIDDEN TESTS

# %% [markdown]
# At 32k tokens the multi-head cache of **one** conversation (25 GiB) is as large as the whole fp16 model
# (about 24 GiB for 13B parameters). Every decode step reads all of it, so at long context the cache, not the
# weights, sets the speed. GQA-8 divides it by 5 here and MQA by 40.
#
# ## 3. FLOPs of a step
#
# A step processes `T_new` new tokens for each of `B` sequences that already have `T_past` tokens in their
# cache. **Prefill** is `T_past = 0` and `T_new` = the prompt length; **decode** is `T_new = 1`.
#
# * **Matrix multiplies.** Each new token is multiplied by every weight once: one multiply and one add per
#   weight, that is **2 FLOPs per multiply-add**. A popular wrong answer counts a multiply-add as one FLOP and
#   is off by a factor of 2 (vendors quote peak FLOP/s with the factor 2, so you must count the same way).
#   Total: `2 × param_count × B × T_new`.
# * **Attention.** In every layer, a new token compares its query with each key it may see (`n_head × d_head
#   = C` multiply-adds per key) and takes the weighted sum of as many values (`C` more): `4 × C` FLOPs per key,
#   per layer. Under GQA the kv heads are shared but every **query** head still does its own dot products, so it
#   is `C`, not `n_kv_head × d_head`. With a causal mask, new token `i` (counting from 0) sees
#   `T_past + i + 1` keys.
#
# We ignore the softmax, LayerNorms, GELUs and residual adds: a few FLOPs per number, negligible next to the
# matrices.
#
# ### 3.1 FLOPs of a step (2 points)

# %% nbgrader={"grade": false, "grade_id": "step_flops", "locked": false, "solution": true, "schema_version": 3}
def step_flops(cfg: dict, B: int, T_new: int, T_past: int) -> float:
    """FLOPs of one step: B sequences, each adding T_new tokens to a cache of T_past tokens.

    2 FLOPs per weight per new token (use your param_count), plus attention: 4 * C FLOPs per layer for each
    (new token, visible key) pair, where new token i (0-based) sees T_past + i + 1 keys (causal).
    """
    ### BEGIN SOLUTION
    matmul = 2 * param_count(cfg) * B * T_new
    keys_seen = T_new * T_past + T_new * (T_new + 1) // 2       # sum over i of (T_past + i + 1)
    attn = 4 * cfg["n_layer"] * cfg["C"] * B * keys_seen
    return float(matmul + attn)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "step_flops_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.step_flops(step_flops)
### BEGIN HIDDEN TESTS
def _ref_flops(c, B, T_new, T_past):
    _dh = c["C"] // c["n_head"]
    _n = c["n_layer"] * (2 * c["C"] ** 2 + 2 * c["C"] * c["n_kv_head"] * _dh + 2 * c["C"] * c["d_ff"]) + c["C"] * c["V"]
    _keys = sum(T_past + i + 1 for i in range(T_new))
    return 2 * _n * B * T_new + 4 * c["n_layer"] * c["C"] * B * _keys


for _c, _args in [(dict(n_layer=32, C=4096, n_head=32, n_kv_head=8, d_ff=14336, V=128256), (1, 1, 32767)),
                  (dict(n_layer=32, C=4096, n_head=32, n_kv_head=8, d_ff=14336, V=128256), (4, 2048, 0)),
                  (dict(n_layer=2, C=12, n_head=3, n_kv_head=1, d_ff=20, V=5), (3, 7, 11)),
                  (dict(n_layer=4, C=128, n_head=4, n_kv_head=4, d_ff=512, V=48), (16, 1, 100))]:
    _exp = _ref_flops(_c, *_args)
    _got = step_flops(dict(_c), *_args)
    assert math.isclose(float(_got), _exp, rel_tol=1e-9), (
        f"step_flops({_c}, B, T_new, T_past={_args}): expected {_exp:g}, got {_got}")
### END HIDDEN TESTS

# %% [markdown]
# The rule of thumb that falls out: away from very long contexts, **a token costs about `2 × N` FLOPs**, where
# `N` is the number of weights. Attention's share grows with the context:

# %%
cfg7 = PRESETS["7B-class (32 layers, C 4096, MHA)"]
for T_past in [0, 2048, 32768]:
    total = step_flops(cfg7, 1, 1, T_past)
    print(f"7B-class decode with {T_past:6d} cached tokens: {total / 1e9:7.2f} GFLOP per token, "
          f"{1 - 2 * param_count(cfg7) / total:5.1%} of it attention")

# %% [markdown]
# ## 4. Bytes moved by a step
#
# The other half of the model: what must come from memory. During a step every weight is read once (however
# large the batch: the same weight serves all `B × T_new` tokens while it is in the cache or in registers), and
# the attention reads the whole KV cache of every sequence. We count
#
# `bytes = param_count × w_bits / 8  +  KV bytes of the cache after the step (B sequences, T_past + T_new tokens)`
#
# and ignore the activations, which are small next to both when `B × T_new` is modest. The trap: **forgetting
# the KV cache in decode**. At short context it hardly matters; at 32k tokens it can be more than the weights.
#
# ### 4.1 Bytes of a step (2 points)

# %% nbgrader={"grade": false, "grade_id": "step_bytes", "locked": false, "solution": true, "schema_version": 3}
def step_bytes(cfg: dict, B: int, T_new: int, T_past: int, w_bits: int = 16, kv_bits: int = 16) -> float:
    """Bytes read by one step: every weight once (w_bits each) plus the KV cache of B sequences holding
    T_past + T_new tokens (kv_bits per number). Activations are ignored.
    """
    ### BEGIN SOLUTION
    weights = param_count(cfg) * w_bits / 8
    return float(weights + kv_cache_bytes(cfg, B, T_past + T_new, kv_bits))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "step_bytes_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.step_bytes(step_bytes)
### BEGIN HIDDEN TESTS
def _ref_bytes(c, B, T_new, T_past, w_bits=16, kv_bits=16):
    _dh = c["C"] // c["n_head"]
    _n = c["n_layer"] * (2 * c["C"] ** 2 + 2 * c["C"] * c["n_kv_head"] * _dh + 2 * c["C"] * c["d_ff"]) + c["C"] * c["V"]
    return _n * w_bits / 8 + 2 * c["n_layer"] * c["n_kv_head"] * _dh * B * (T_past + T_new) * kv_bits / 8


for _c, _args, _kw in [(dict(n_layer=32, C=4096, n_head=32, n_kv_head=8, d_ff=14336, V=128256), (1, 1, 32767), {}),
                       (dict(n_layer=80, C=8192, n_head=64, n_kv_head=8, d_ff=28672, V=128256), (64, 1, 4095),
                        {"w_bits": 8, "kv_bits": 8}),
                       (dict(n_layer=2, C=12, n_head=3, n_kv_head=1, d_ff=20, V=5), (3, 7, 11),
                        {"w_bits": 4, "kv_bits": 32}),
                       (dict(n_layer=4, C=128, n_head=4, n_kv_head=4, d_ff=512, V=48), (1, 1, 127),
                        {"w_bits": 32, "kv_bits": 32})]:
    _exp = _ref_bytes(_c, *_args, **_kw)
    _got = step_bytes(dict(_c), *_args, **_kw)
    assert math.isclose(float(_got), _exp, rel_tol=1e-9), (
        f"step_bytes({_c}, {_args}, {_kw}): expected {_exp:g}, got {_got} (weights once + whole KV cache, bits / 8)")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Arithmetic intensity and the roofline
#
# The **arithmetic intensity** of a step is `FLOPs / bytes`: how much work it does per byte it reads. A chip
# has a peak FLOP/s and a memory bandwidth (bytes/s); their ratio `peak / bandwidth` is its **ridge point**.
# The step takes at least `max(FLOPs / peak, bytes / bandwidth)` seconds (assuming compute and memory traffic
# overlap perfectly). If the intensity is below the ridge point the memory term wins: the step is
# **memory-bound**; above it, **compute-bound**. Plotted with intensity on the x axis and attainable FLOP/s on
# the y axis (both logarithmic) this gives a roof: a slope `bandwidth × intensity`, then a flat ceiling.
#
# A popular mistake swaps the axis, computing `bytes / FLOPs`: then a bigger batch looks *less* efficient.
#
# ### 5.1 Roofline (2 points)

# %% nbgrader={"grade": false, "grade_id": "roofline", "locked": false, "solution": true, "schema_version": 3}
def roofline(flops: float, n_bytes: float, peak_flops: float, bandwidth: float) -> tuple[float, float, str]:
    """(intensity in FLOPs/byte, lower-bound seconds, "compute" or "memory") for one step.

    peak_flops in FLOP/s, bandwidth in bytes/s. The bound is the term that sets the time.
    """
    ### BEGIN SOLUTION
    intensity = flops / n_bytes
    t_compute, t_memory = flops / peak_flops, n_bytes / bandwidth
    return intensity, max(t_compute, t_memory), "compute" if t_compute >= t_memory else "memory"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "roofline_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.roofline(roofline)
### BEGIN HIDDEN TESTS
for _f, _b, _p, _bw in [(2.6e10, 1.3e10, 1e15, 3e12), (3.3e15, 1.4e11, 1e15, 3e12), (7e6, 3.3e6, 2e11, 3.5e10),
                        (5e12, 1e9, 2e11, 3.5e10), (1.0, 3.0, 2.0, 1.0)]:
    _got = roofline(_f, _b, _p, _bw)
    assert isinstance(_got, (tuple, list)) and len(_got) == 3, f"roofline must return 3 values, got {_got!r}"
    _tc, _tm = _f / _p, _b / _bw
    assert math.isclose(float(_got[0]), _f / _b, rel_tol=1e-9), (
        f"roofline({_f}, {_b}, ...): intensity should be FLOPs / bytes = {_f / _b:g}, got {_got[0]}")
    assert math.isclose(float(_got[1]), max(_tc, _tm), rel_tol=1e-9), (
        f"roofline({_f}, {_b}, {_p}, {_bw}): time should be max(FLOPs/peak, bytes/bandwidth) = {max(_tc, _tm):g}, "
        f"got {_got[1]}")
    _exp_bound = "compute" if _tc > _tm else "memory"
    assert _got[2] == _exp_bound, f"roofline({_f}, {_b}, {_p}, {_bw}): bound should be {_exp_bound!r}, got {_got[2]!r}"
### END HIDDEN TESTS

# %% [markdown]
# ### 5.2 The batch size at the ridge point (2 points)
#
# In a decode step at short context (KV cache negligible) with batch `B`, the FLOPs are `2 × N × B` and the
# bytes are `N × w_bits / 8`. So the intensity is `2 × B / (w_bits / 8)`: it grows linearly with the batch,
# while the time stays flat (the weights are read once whatever `B` is). Solve for the batch at which the
# intensity reaches the ridge point `peak / bandwidth`. Below it, extra sequences in the batch are almost free;
# above it, the step time grows with `B`.

# %% nbgrader={"grade": false, "grade_id": "ridge_batch", "locked": false, "solution": true, "schema_version": 3}
def ridge_batch(peak_flops: float, bandwidth: float, w_bits: int = 16) -> float:
    """Decode batch size whose intensity 2 B / (w_bits / 8) equals peak_flops / bandwidth (a float)."""
    ### BEGIN SOLUTION
    return peak_flops / bandwidth * (w_bits / 8) / 2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ridge_batch_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.ridge_batch(ridge_batch)
### BEGIN HIDDEN TESTS
for _p, _bw, _bits in [(989e12, 3.35e12, 16), (989e12, 3.35e12, 8), (2e11, 3.5e10, 32), (312e12, 2.0e12, 4)]:
    _exp = _p / _bw * (_bits / 8) / 2
    _got = ridge_batch(_p, _bw, _bits)
    assert math.isclose(float(_got), _exp, rel_tol=1e-9), (
        f"ridge_batch({_p:g}, {_bw:g}, {_bits}): expected {_exp:g}, got {_got} "
        "(2 FLOPs per multiply-add; w_bits / 8 bytes per weight; intensity = FLOPs / bytes)")
### END HIDDEN TESTS

# %% [markdown]
# For an accelerator with about 989 TFLOP/s of dense bf16 and 3.35 TB/s of memory bandwidth (the spec sheet of
# an H100 SXM), the ridge point is near 295 FLOPs per byte, and the ridge batch near 295 sequences in bf16.
# The picture below is the roofline of that chip with a 7B-class model decoding at several batch sizes (2k
# tokens of context each): the points climb the slope as `B` grows.

# %%
H100 = {"peak": 989e12, "bandwidth": 3.35e12}
print(f"ridge batch, bf16 weights: {ridge_batch(H100['peak'], H100['bandwidth'], 16):.0f}")
points = {}
for B in [1, 16, 128, 1024]:
    fl, by = step_flops(cfg7, B, 1, 2048), step_bytes(cfg7, B, 1, 2048)
    intensity, seconds, bound = roofline(fl, by, H100["peak"], H100["bandwidth"])
    points[f"B={B}: {seconds * 1e3:.1f} ms/step, {bound}-bound"] = (intensity, fl / seconds)
fig = plot.roofline(H100["peak"], H100["bandwidth"], points,
                    title="7B-class decode, 2k context, bf16, on an H100-like chip")
plt.show()

# %% [markdown]
# Notice that at `B = 1024` the point is *not* on the flat roof: with 2k tokens each, the KV cache of 1024
# sequences (over 1 TB!) dwarfs the weights, and its bytes grow with the batch just like the FLOPs do, so the
# intensity stops growing. The KV cache caps the useful batch size, which is why GQA, MQA and cache
# quantization matter so much for serving.
#
# ## 6. Why int8 weights make small-batch decoding faster
#
# Storing weights in 8 bits halves the bytes a step reads. At small batch the step is memory-bound, so it
# takes about half the time, even if the arithmetic is done in bf16 after converting each weight back
# (weight-only quantization; module 07 builds it). At a large batch the step is compute-bound, and halving the
# bytes changes nothing unless the matrix units also compute in int8.
#
# ### 6.1 Questions on int8 (2 points)
#
# A 7B-class model decodes at short context (ignore the KV cache) on the H100-like chip above. Its weights go
# from bf16 to int8 (weight-only: the multiplications still run in bf16, at the same peak).
#
# * `int8_speedup_batch1`: at batch 1, by what factor does the step time shrink (old time / new time)?
# * `int8_speedup_compute_bound`: at batch 2048, far beyond the ridge batch, by what factor?

# %% nbgrader={"grade": false, "grade_id": "int8_questions", "locked": false, "solution": true, "schema_version": 3}
int8_speedup_batch1 = None          # a ratio of times
int8_speedup_compute_bound = None   # a ratio of times
### BEGIN SOLUTION
_n7 = param_count(cfg7)
int8_speedup_batch1 = roofline(2 * _n7, _n7 * 2, 989e12, 3.35e12)[1] / roofline(2 * _n7, _n7 * 1, 989e12, 3.35e12)[1]
int8_speedup_compute_bound = (roofline(2 * _n7 * 2048, _n7 * 2, 989e12, 3.35e12)[1]
                              / roofline(2 * _n7 * 2048, _n7 * 1, 989e12, 3.35e12)[1])
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "int8_questions_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.int8_questions(int8_speedup_batch1, int8_speedup_compute_bound)
### BEGIN HIDDEN TESTS
assert math.isclose(float(int8_speedup_batch1), 2.0, rel_tol=0.02), (
    f"int8_speedup_batch1: batch 1 is memory-bound, half the bytes -> 2x; got {int8_speedup_batch1}")
assert math.isclose(float(int8_speedup_compute_bound), 1.0, rel_tol=0.02), (
    f"int8_speedup_compute_bound: compute-bound, same bf16 FLOPs -> 1x; got {int8_speedup_compute_bound}")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. This machine: measure, predict, compare
#
# The model needs two numbers for the machine it runs on, and we measure them rather than copying a spec
# sheet, taking the **median** of repeats (module 05 explains why: warm-up, noise, other programs).
#
# * **Read bandwidth**: read a large fp32 array once (256 MiB, far larger than the 32 MiB last-level cache of
#   the course machine, so it streams from DRAM), three ways. NumPy's `sum` runs on one thread, and one core
#   usually cannot saturate the memory bus; `torch.sum` uses every core. The third is a matrix-vector product
#   `u @ A` through OpenBLAS on every core: it does 2 FLOPs per 4-byte number, so its time is pure memory
#   traffic, and it is the library and the threads the decode step below uses for its weights. We use that one
#   for the predictions. (Run the cell twice: the spread between runs is part of the answer.)
# * **Peak FLOP/s**: multiply two large fp32 square matrices (`2 n³` FLOPs). This is what the BLAS achieves,
#   usually close to the chip's true peak.
#
# On a shared or laptop machine these numbers move by 10-30%<!--const: an observation over many runs--> between runs; that is the size of the error bar
# on every prediction below.

# %%
def read_bandwidth(n_bytes: int, repeat: int) -> dict[str, float]:
    """Bytes/s of three ways to read an fp32 array of n_bytes once: torch.sum (all threads), NumPy's sum
    (one thread), and a NumPy matrix-vector product u @ A with A of shape (n_bytes / 16 KiB, 4096)."""
    a = np.ones((n_bytes // 4 // 4096, 4096), dtype=np.float32)   # (rows, 4096) fp32
    u = np.ones(a.shape[0], dtype=np.float32)
    t = torch.from_numpy(a)                                        # the same memory, no copy
    return {"torch.sum (all threads)": n_bytes / bench.time_fn(lambda: t.sum(), repeat=repeat).median,
            "numpy sum (one thread)": n_bytes / bench.time_fn(lambda: a.sum(), repeat=repeat).median,
            "numpy u @ A (OpenBLAS, all threads)": n_bytes / bench.time_fn(lambda: u @ a, repeat=repeat).median}


def matmul_flops(n: int, repeat: int) -> float:
    """FLOP/s of an (n, n) @ (n, n) fp32 product: 2 n^3 FLOPs over the median time."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / bench.time_fn(lambda: a @ b, repeat=repeat, warmup=1).median


bw_bytes = env.size(256, 64) * 2**20                          # 256 MiB (64 MiB in the quick test mode)
reads = read_bandwidth(bw_bytes, repeat=env.size(11, 3))
bandwidth = reads["numpy u @ A (OpenBLAS, all threads)"]
peak = matmul_flops(env.size(2048, 1024), repeat=env.size(7, 3))
for how, bw in reads.items():
    print(f"read bandwidth, {how:36s} over {bw_bytes / 2**20:.0f} MiB: {bw / 1e9:6.1f} GB/s")
print(f"fp32 matmul: {peak / 1e9:6.1f} GFLOP/s")
print(f"ridge point of this machine: {peak / bandwidth:.1f} FLOPs/byte")

# %% [markdown]
# ### A decode step, predicted and measured
#
# The measured step: one token (batch 1) through every block and the LM head of a model with the tiny GPT's
# architecture, in fp32, attending over a KV cache of `T_past` random keys and values in every layer. The
# matrix products run in **NumPy** (OpenBLAS): on the course machine its matrix-vector product streams the
# weights at the full read bandwidth, while PyTorch's CPU one reached only 50-75%<!--const: a make bench record on the quiet course machine--> of it. LayerNorm, GELU and
# attention over the cache are PyTorch library calls on the same memory (module 04 asks you to write them
# yourself). This is a timing harness, not a generator: the cache is not updated and the output is thrown
# away (module 05 builds the real cached decoder); the work and the bytes are those of a real decode step.
# The step is timed round-robin with the 256 MiB sum of the bandwidth measurement, and the prediction uses the
# bandwidth of those same rounds, so that a busy moment of the machine hits both alike.
#
# Two models:
#
# * **scaled up**: same architecture, random weights, `C = 1024` and 6 layers (about 300 MB of fp32 weights,
#   ten times the 32 MiB last-level cache), so that every step streams its weights from DRAM. This is the
#   regime the cost model describes; we aim for agreement within ±30%<!--const: the goal-->.
# * **the shipped tiny GPT**: 3 MB of weights, which stay in the CPU caches between steps. The DRAM model
#   does not apply.

# %%
def random_params(cfg: GPTConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Random fp32 weights in the checkpoint format of llmcourse.model (matrices stored (in, out))."""
    rng = np.random.default_rng(seed)
    C, d_ff = cfg.d_model, cfg.d_ff
    shapes = {"ln_f.weight": (C,), "ln_f.bias": (C,), "head.w": (C, cfg.vocab_size), "head.b": (cfg.vocab_size,)}
    for i in range(cfg.n_layer):
        b = f"blocks.{i}"
        shapes |= {f"{b}.ln1.weight": (C,), f"{b}.ln1.bias": (C,), f"{b}.attn.w_qkv": (C, 3 * C),
                   f"{b}.attn.b_qkv": (3 * C,), f"{b}.attn.w_out": (C, C), f"{b}.attn.b_out": (C,),
                   f"{b}.ln2.weight": (C,), f"{b}.ln2.bias": (C,), f"{b}.mlp.w_in": (C, d_ff),
                   f"{b}.mlp.b_in": (d_ff,), f"{b}.mlp.w_out": (d_ff, C), f"{b}.mlp.b_out": (C,)}
    return {name: rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02) for name, shape in shapes.items()}


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """torch's LayerNorm on NumPy arrays (no copies): (1, C) -> (1, C)."""
    return F.layer_norm(torch.from_numpy(x), w.shape, torch.from_numpy(w), torch.from_numpy(b)).numpy()


@torch.inference_mode()
def decode_step(p: dict[str, np.ndarray], n_layer: int, n_head: int, x: np.ndarray,
                caches: list[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
    """One new token x (1, C) through every block, attending over fixed caches, then the LM head -> (1, V)."""
    C = x.shape[-1]
    for i, (K, V) in enumerate(caches):                                   # K, V: (1, n_head, T_past, d_head)
        b = f"blocks.{i}"
        h = layer_norm(x, p[f"{b}.ln1.weight"], p[f"{b}.ln1.bias"])
        qkv = h @ p[f"{b}.attn.w_qkv"] + p[f"{b}.attn.b_qkv"]            # (1, 3C); k, v would be appended
        q = torch.from_numpy(qkv[:, :C]).view(1, 1, n_head, C // n_head).transpose(1, 2)  # (1, n_head, 1, d_head)
        y = F.scaled_dot_product_attention(q, K, V)                       # (1, n_head, 1, d_head)
        y = y.transpose(1, 2).reshape(1, C).numpy()                       # (1, C)
        x = x + y @ p[f"{b}.attn.w_out"] + p[f"{b}.attn.b_out"]
        h = layer_norm(x, p[f"{b}.ln2.weight"], p[f"{b}.ln2.bias"])
        h = h @ p[f"{b}.mlp.w_in"] + p[f"{b}.mlp.b_in"]                   # (1, d_ff)
        h = F.gelu(torch.from_numpy(h), approximate="tanh").numpy()
        x = x + h @ p[f"{b}.mlp.w_out"] + p[f"{b}.mlp.b_out"]
    return layer_norm(x, p["ln_f.weight"], p["ln_f.bias"]) @ p["head.w"] + p["head.b"]


def random_caches(c: GPTConfig, T_past: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random keys and values of T_past cached tokens for every layer."""
    return [(torch.randn(1, c.n_head, T_past, c.d_head), torch.randn(1, c.n_head, T_past, c.d_head))
            for _ in range(c.n_layer)]                                     # (1, n_head, T_past, d_head) each


def compare_with_read(variants: dict, rounds: int, warmup: int) -> bench.Comparison:
    """bench.compare of the variants and the 256 MiB u @ A read (key "read"), round-robin, PyTorch on one thread
    so that its pool does not fight OpenBLAS's."""
    a = np.ones((bw_bytes // 4 // 4096, 4096), dtype=np.float32)
    u = np.ones(a.shape[0], dtype=np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return bench.compare({**variants, "read": lambda: u @ a}, rounds=rounds, warmup=warmup)
    finally:
        torch.set_num_threads(threads)


def measure_decode(p: dict[str, np.ndarray], c: GPTConfig, T_past: int, rounds: int) -> tuple[float, float]:
    """(median seconds of decode_step at batch 1 with T_past random cached tokens, bytes/s of the u @ A read),
    timed round-robin so that both see the same state of the machine."""
    caches = random_caches(c, T_past)
    x = np.random.default_rng(1).standard_normal((1, c.d_model), dtype=np.float32)
    result = compare_with_read({"decode": lambda: decode_step(p, c.n_layer, c.n_head, x, caches)}, rounds, warmup=3)
    return result.timings["decode"].median, bw_bytes / result.timings["read"].median


def cost_cfg(c: GPTConfig) -> dict:
    """The cost-model description of a GPTConfig."""
    return {"n_layer": c.n_layer, "C": c.d_model, "n_head": c.n_head, "n_kv_head": c.n_head, "d_ff": c.d_ff,
            "V": c.vocab_size}


tiny_config, tiny_params = load_numpy()
models = {
    "scaled up": (GPTConfig(d_model=env.size(1024, 512), n_layer=env.size(6, 4), n_head=8, block_size=8), None),
    "tiny GPT (shipped)": (GPTConfig(**tiny_config), tiny_params),
}
T_past = 512
rows = {}
for label, (c, p) in models.items():
    p = random_params(c) if p is None else p
    cfg = cost_cfg(c)
    fl, by = step_flops(cfg, 1, 1, T_past - 1), step_bytes(cfg, 1, 1, T_past - 1, w_bits=32, kv_bits=32)
    measured, bw_now = measure_decode(p, c, T_past, rounds=env.size(20, 4))
    intensity, predicted, bound = roofline(fl, by, peak, bw_now)
    label = f"{label} (C {c.d_model}, {c.n_layer} layers)"
    rows[label] = (predicted, measured)
    print(f"{label:36s} {by / 1e6:6.1f} MB/step, {intensity:.2f} FLOPs/byte ({bound}-bound), "
          f"bandwidth {bw_now / 1e9:4.1f} GB/s: predicted {predicted * 1e3:7.3f} ms, measured {measured * 1e3:7.3f} ms, "
          f"error {(measured - predicted) / predicted:+6.1%}")
    del p

# %% [markdown]
# The floor under a small model: every operation costs a few microseconds of call overhead, whatever its
# size. A model with the same depth but `C = 16` reads almost nothing, so its step time is that floor alone.
# Adding it to the roofline gives a two-term model, `max(compute, memory) + n_ops × overhead`, in which both
# terms are measured on something other than the step they predict.

# %%
floor_cfg = GPTConfig(d_model=16, n_layer=tiny_config["n_layer"], n_head=4, block_size=8)
floor, _ = measure_decode(random_params(floor_cfg), floor_cfg, T_past, rounds=env.size(20, 4))
print(f"overhead floor (same depth, C = 16): {floor * 1e3:.3f} ms per step\n")
print(f"{'model':36s} {'roofline':>10s} {'+ floor':>10s} {'measured':>10s}   error: roofline, roofline + floor")
for label, (predicted, measured) in rows.items():
    with_floor = predicted + floor
    print(f"{label:36s} {predicted * 1e3:7.3f} ms {with_floor * 1e3:7.3f} ms {measured * 1e3:7.3f} ms   "
          f"{(measured - predicted) / predicted:+7.1%}, {(measured - with_floor) / with_floor:+7.1%}")
fig = plot.predicted_vs_measured(list(rows), [p for p, _ in rows.values()], [m for _, m in rows.values()],
                                 title="Decode step at batch 1, fp32, NumPy matmuls on this CPU",
                                 with_overhead=[p + floor for p, _ in rows.values()])
plt.show()

# %% [markdown]
# Before trusting a gap between a model and a measurement, time the pieces. The next cell times, round-robin
# with the same 256 MiB read, the scaled-up step, its matrix products alone (the weights), and its attention
# over the caches alone (the KV cache). For each it prints the bytes read, the achieved GB/s and the roofline
# time of those bytes.

# %%
def time_pieces(c: GPTConfig, T_past: int, rounds: int) -> dict[str, tuple[float, float]]:
    """{piece: (median seconds, bytes it reads)} for the step, its matrix products, its attention and the read."""
    p = random_params(c)
    caches = random_caches(c, T_past)
    mats = [p[f"blocks.{i}.{name}"] for i in range(c.n_layer)
            for name in ("attn.w_qkv", "attn.w_out", "mlp.w_in", "mlp.w_out")] + [p["head.w"]]
    rows_in = {m.shape[0]: np.ones((1, m.shape[0]), np.float32) for m in mats}    # (1, in) for each width
    q = torch.randn(1, c.n_head, 1, c.d_head)                              # one query per head
    x = np.random.default_rng(1).standard_normal((1, c.d_model), dtype=np.float32)

    def products():
        for m in mats:
            rows_in[m.shape[0]] @ m

    @torch.inference_mode()
    def attention():
        for K, V in caches:
            F.scaled_dot_product_attention(q, K, V)

    r = compare_with_read({"whole step": lambda: decode_step(p, c.n_layer, c.n_head, x, caches),
                           "matrix products": products, "attention over the cache": attention}, rounds, warmup=2)
    kv = sum(K.numel() + V.numel() for K, V in caches) * 4
    w = sum(m.nbytes for m in mats)
    nbytes = {"whole step": w + kv, "matrix products": w, "attention over the cache": kv, "read": bw_bytes}
    return {name: (t.median, nbytes[name]) for name, t in r.timings.items()}


pieces = time_pieces(models["scaled up"][0], T_past, rounds=env.size(10, 3))
bw_pieces = bw_bytes / pieces["read"][0]
print(f"{'piece':26s} {'time':>9s} {'bytes':>9s} {'GB/s':>7s} {'of bandwidth':>13s} {'roofline':>10s}")
for name, (sec, nbytes) in pieces.items():
    print(f"{name:26s} {sec * 1e3:6.2f} ms {nbytes / 1e6:6.1f} MB {nbytes / sec / 1e9:7.1f} "
          f"{nbytes / sec / bw_pieces:12.0%} {nbytes / bw_pieces * 1e3:7.2f} ms")

# %% [markdown]
# What to read in these numbers (they depend on your machine and on what else it is doing):
#
# * **Scaled-up model: memory-bound, the regime the model is for.** Its intensity is about 0.5 FLOPs/byte
#   (2 FLOPs per 4-byte weight), far below the ridge point, so the roofline says `bytes / bandwidth`. The step
#   is slower than that, for two reasons you can see in the numbers. Its ~90 calls (about 15 per layer) cost
#   the overhead floor, which the second column adds back. And a matrix of one layer (4 to 16 MiB) streams
#   less well than one 256 MiB read: each call starts cold and waits for its threads at the end. On the course
#   machine, when it was quiet, `make bench` measured the roofline alone 21-40%<!--const: a make bench record on the quiet course machine--> under the step. With the floor
#   added, the error was 15-30%<!--const: a make bench record on the quiet course machine-->, within the ±30%<!--const: the goal--> we aim for. On a busy machine (other programs using the
#   cores) the error can be several times larger. A multi-threaded matrix product waits for all its threads at
#   every one of the step's dozens of calls, while the single long read waits once. That is noise in the
#   machine, not in the model: run the cell again when the machine is quiet.
# * **Tiny GPT: the DRAM model does not apply.** Its 3 MB of weights stay in the L2/L3 caches from one step to
#   the next, so they are not read from DRAM at all; the cache bandwidth is several times higher. What is
#   left is mostly the fixed cost of calling some 60 small operations: compare its time with the overhead
#   floor. For it, the floor is most of the answer; for a real-size model the floor vanishes next to the
#   weight traffic.
# * **The pieces.** On the course machine the matrix products streamed their 300 MB at 85-90%<!--const: a make bench record on the quiet course machine--> of the read
#   bandwidth, close to the model. The attention did not: PyTorch's CPU attention (`scaled_dot_product_attention`,
#   one thread) read the 25 MB of keys and values at about 6 GB/s<!--const: a make bench record on the quiet course machine-->, a fifth of the bandwidth. That took 4 of the
#   step's ~19 ms<!--const: a make bench record on the quiet course machine-->, for bytes the roofline prices at under 1 ms<!--const: a make bench record on the quiet course machine-->. Its kernel is built for many queries at once
#   (prefill); with one query per head it does little work per byte and never gets the memory system busy.
#   That one kernel is most of the notebook's remaining gap. `make bench` runs the same step in NumPy, with
#   `einsum` for the attention (about 15 GB/s<!--const: a make bench record on the quiet course machine--> there), and its error with the floor is +15%<!--const: a make bench record on the quiet course machine--> to +27%<!--const: a make bench record on the quiet course machine-->. The fix on
#   GPUs, where the same problem appears, is a decode-specific attention kernel that splits the cache across
#   many cores ("flash-decoding").
# * A trap we fell into while building this: NumPy's `x**3` on float32 calls `pow` element by element, and
#   took 244 µs<!--const: a make bench record on the quiet course machine--> for a GELU input of 4096 numbers on the course machine, 17 times the rest of the GELU. `x * x * x`
#   is the same number for a fraction of the time. This is why you time the pieces before trusting a gap
#   between a model and a measurement.
#
# ## 8. Many chips: weight-stationary partitioning
#
# A model too big or too slow for one chip is split over `n` chips. In a **weight-stationary** layout each chip
# keeps a fixed slice of every weight matrix, and the *activations* travel. Pope et al. compare two ways to
# slice the feed-forward layer; counted per layer and per token in units of the activation width `C`
# (with `B` tokens in flight), the communication each chip does is about
#
# * **1D** (each matrix split along one axis, the same as Megatron's tensor parallelism): an all-gather and a
#   reduce-scatter of the full activations, `2 × B × C` per chip, **whatever `n` is**;
# * **2D** (split along both axes, chips arranged in an `X × Y` grid with `X × Y = n`): the two all-gathers
#   and reduce-scatters move about `2 × B × C / X + 2 × B × d_ff / Y` per chip. With Pope et al.'s
#   feed-forward width `d_ff = 4 × C` this is smallest on their non-square grid `X = ½√n`, `Y = 2√n`, where
#   it is `8 × B × C / √n` per chip, which shrinks as chips are added. (A square `√n × √n` grid would move
#   `10 × B × C / √n`.)
#
# Communication time is that volume over the interconnect bandwidth, so as the number of chips grows, 1D
# stops getting faster (its communication time is constant while the compute per chip shrinks), and 2D keeps
# scaling.
#
# ### 8.1 Questions on communication (2 points)
#
# * `ws_crossover_chips`: at how many chips do the 1D and 2D layouts move the same number of bytes per chip?
# * `ws_1d_over_2d_at_64`: on 64 chips, how many times more does the 1D layout move per chip than the 2D one?

# %% nbgrader={"grade": false, "grade_id": "comm_questions", "locked": false, "solution": true, "schema_version": 3}
ws_crossover_chips = None   # a number of chips
ws_1d_over_2d_at_64 = None  # a ratio
### BEGIN SOLUTION
ws_crossover_chips = (8 / 2) ** 2        # 2 B C = 8 B C / sqrt(n)  ->  sqrt(n) = 4
ws_1d_over_2d_at_64 = 2 / (8 / math.sqrt(64))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "comm_questions_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.inference_cost.comm_questions(ws_crossover_chips, ws_1d_over_2d_at_64)
### BEGIN HIDDEN TESTS
assert math.isclose(float(ws_crossover_chips), 16, rel_tol=0.01), (
    f"ws_crossover_chips: 2 B C = 8 B C / sqrt(n) at sqrt(n) = 4, n = 16; got {ws_crossover_chips}")
assert math.isclose(float(ws_1d_over_2d_at_64), 2.0, rel_tol=0.01), (
    f"ws_1d_over_2d_at_64: 2 / (8 / sqrt(64)) = 2; got {ws_1d_over_2d_at_64}")
### END HIDDEN TESTS

# %% [markdown]
# ## An explorer
#
# Choose a model, a batch, a context, a data type and a number of chips; the explorer uses **your** functions
# to predict the time of one decode step, the tokens per second of the whole batch, the model FLOPs
# utilisation (MFU: useful FLOPs per second over the peak of all chips) and which bound applies, and places
# the step on the roofline. Chips split the weights, the cache and the FLOPs evenly; the communication of
# section 8 is left out, so the numbers for many chips are optimistic. "this machine" uses the bandwidth and
# FLOP/s you measured in section 7 (for every data type: this CPU has no faster low-precision units).

# %%
HARDWARE = {"H100-like (989 TFLOP/s bf16, 3.35 TB/s)": H100,
            "this machine (measured)": {"peak": peak, "bandwidth": bandwidth}}
DTYPE_BITS = {"fp32": 32, "bf16": 16, "int8 weights": 8, "int4 weights": 4}


def predict_step(model: str, hardware: str, batch: int, context: int, dtype: str, chips: int = 1) -> dict:
    """The predicted decode step for one choice: FLOPs, bytes, KV bytes, seconds, tokens/s, MFU, bound."""
    cfg, hw = PRESETS[model], HARDWARE[hardware]
    w_bits = DTYPE_BITS[dtype]
    kv_bits = 32 if dtype == "fp32" else 16
    fl, by = step_flops(cfg, batch, 1, context - 1), step_bytes(cfg, batch, 1, context - 1, w_bits, kv_bits)
    intensity, seconds, bound = roofline(fl / chips, by / chips, hw["peak"], hw["bandwidth"])
    return {"flops": fl, "bytes": by, "kv_bytes": kv_cache_bytes(cfg, batch, context, kv_bits),
            "weight_bytes": param_count(cfg) * w_bits / 8, "intensity": intensity, "seconds": seconds,
            "tokens_per_s": batch / seconds, "mfu": fl / seconds / (chips * hw["peak"]), "bound": bound}


def explore(model: str = "7B-class (32 layers, C 4096, MHA)", hardware: str = "H100-like (989 TFLOP/s bf16, 3.35 TB/s)",
            batch: int = 1, context: int = 2048, dtype: str = "bf16", chips: int = 1) -> None:
    """Print and plot the predicted decode step for one choice."""
    hw, r = HARDWARE[hardware], predict_step(model, hardware, batch, context, dtype, chips)
    print(f"{model}, batch {batch}, context {context}, {dtype}, {chips} chip(s) on {hardware}")
    print(f"  per step: {r['flops'] / 1e9:,.1f} GFLOP, {r['bytes'] / 1e9:,.2f} GB "
          f"(KV cache {r['kv_bytes'] / 1e9:,.2f} GB)")
    print(f"  {r['seconds'] * 1e3:,.3f} ms per step, {r['tokens_per_s']:,.0f} tokens/s, MFU {r['mfu']:.1%}, "
          f"{r['bound']}-bound")
    plot.roofline(hw["peak"], hw["bandwidth"], {"this step (per chip)": (r["intensity"], r["flops"] / chips / r["seconds"])},
                  title=f"{dtype}, batch {batch}, context {context}")
    plt.show()


try:
    import ipywidgets as widgets

    widgets.interact(explore, model=list(PRESETS), hardware=list(HARDWARE),
                     batch=widgets.IntText(value=1), context=widgets.IntText(value=2048),
                     dtype=list(DTYPE_BITS), chips=widgets.Dropdown(options=[1, 2, 4, 8, 16, 64], value=1))
except ImportError:
    explore()

# %% [markdown]
# Things to try, with what the model above predicts for them (the cell below prints it):
#
# * **Batch 1 vs 256** for the 7B-class model on the H100-like chip. At context 128 the cache is small and the
#   weights dominate: the step takes only 2.3<!--= try_b256_short -->× longer while the tokens per second
#   jump. At the default context 2048 the 256 caches (275<!--= _tries[256, 2048, "bf16"]["kv_bytes"] / 1e9 --> GB)
#   dwarf the 13<!--= _tries[256, 2048, "bf16"]["weight_bytes"] / 1e9 --> GB of weights: the step takes
#   20<!--= try_b256_long -->× longer, and batching buys far less.
# * **bf16 vs int8 weights** at context 2048: at batch 1, int8 weights make the step
#   1.86<!--= try_int8_b1 -->× faster (the weights are most of the bytes); at batch 256 the cache is most of
#   the bytes and the gain shrinks to 1.02<!--= try_int8_b256 -->×. Quantizing the cache, not the weights, is
#   what helps there.
# * **The 55B-class model at context 32768 and batch 64**: the cache is 6.1<!--= try_55b_kv_ratio -->× the
#   weights, so the cache decides.
# * **The tiny GPT on this machine**: it predicts a fraction of a millisecond; section 7 showed why reality
#   disagrees.

# %%
_h = "H100-like (989 TFLOP/s bf16, 3.35 TB/s)"
_m7, _m55 = "7B-class (32 layers, C 4096, MHA)", "55B-class (80 layers, C 8192, GQA-8)"
_tries = {(b, t, d): predict_step(_m7, _h, b, t, d) for b in (1, 256) for t in (128, 2048) for d in ("bf16", "int8 weights")}
print(f"{'batch':>5} {'context':>7} {'weights':>13} {'ms/step':>8} {'tokens/s':>9} {'KV GB':>7} {'weights GB':>10}")
for (b, t, d), r in _tries.items():
    print(f"{b:5d} {t:7d} {d:>13} {r['seconds'] * 1e3:8.2f} {r['tokens_per_s']:9,.0f} {r['kv_bytes'] / 1e9:7.1f} "
          f"{r['weight_bytes'] / 1e9:10.1f}")
try_b256_short = _tries[256, 128, "bf16"]["seconds"] / _tries[1, 128, "bf16"]["seconds"]
try_b256_long = _tries[256, 2048, "bf16"]["seconds"] / _tries[1, 2048, "bf16"]["seconds"]
try_int8_b1 = _tries[1, 2048, "bf16"]["seconds"] / _tries[1, 2048, "int8 weights"]["seconds"]
try_int8_b256 = _tries[256, 2048, "bf16"]["seconds"] / _tries[256, 2048, "int8 weights"]["seconds"]
_r55 = predict_step(_m55, _h, 64, 32768, "bf16")
try_55b_kv_ratio = _r55["kv_bytes"] / _r55["weight_bytes"]
print(f"batch 256 vs 1: {try_b256_short:.1f}x the time at context 128, {try_b256_long:.0f}x at context 2048; "
      f"int8 weights vs bf16: {try_int8_b1:.2f}x faster at batch 1, {try_int8_b256:.2f}x at batch 256 "
      f"(context 2048); 55B-class, batch 64, context 32768: KV cache {try_55b_kv_ratio:.1f}x the weights")
#
# ## Practice quiz
#
# Not graded: pick an answer, press Check, and read why each option is right or wrong.

# %%
quiz.show("06_inference_cost")

# %% [markdown]
# ## Summary
#
# * A step's time is at least `max(FLOPs / peak, bytes / bandwidth)`. Intensity is `FLOPs / bytes`, compared
#   with the ridge point `peak / bandwidth`.
# * FLOPs: `2 × N` per token for the matrices (a multiply-add is **2** FLOPs), plus `4 × C` per layer per key
#   for attention, which grows with the context.
# * Bytes: the weights once per step, plus the whole KV cache, `2 × n_layer × n_kv_head × d_head × B × T ×
#   bits / 8`. Bits are not bytes, and GiB (2³⁰) are not GB (10⁹).
# * Decode at small batch has intensity about `2 / bytes-per-weight`: deeply memory-bound. Batching is nearly
#   free up to the ridge batch `peak / bandwidth × bytes-per-weight / 2`, unless the KV cache grows first.
# * Quantizing weights speeds up memory-bound decoding in proportion to the bytes saved; compute-bound steps
#   only gain if the arithmetic itself gets faster.
# * On this CPU, a model whose weights are far larger than the cache runs close to the prediction; a tiny model
#   lives in the caches and is limited by per-operation overhead instead.
# * On many chips, 1D weight-stationary communication per chip does not shrink with `n`; 2D shrinks like
#   `1 / √n` and wins beyond 16 chips in this counting.
#
# ## Going further
#
# * Pope et al., "Efficiently Scaling Transformer Inference" (2022): the full model, with the attention
#   layouts, the weight-gathered layouts for prefill, and measurements on TPU v4.
# * Williams, Waterman and Patterson, "Roofline: An Insightful Visual Performance Model for Multicore
#   Architectures" (2009), where the roofline plot comes from.
# * Kaplan et al., "Scaling Laws for Neural Language Models" (2020), section 2.1: the `2 N` FLOPs per token
#   estimate and the attention term.
# * Measure more: the decode step of the scaled-up model at batch 1, 4, 16 and 64 (replace the `(1, 1, C)`
#   input with `(B, 1, C)` and give the caches a batch axis). Where does the measured time start to grow, and
#   does that match `ridge_batch(peak, bandwidth, 32)`?
# * Module 07 quantizes weights to 8 and 4 bits and measures the speed-up this notebook predicts; module 12
#   measures the communication of tensor parallelism.
