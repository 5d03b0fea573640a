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
# # 13 · Capstone: the smallest course GPT that still does its job
#
# Modules 07 to 11 each made the course GPT smaller one way. Here you put them together: write one
# function that turns the fp32 checkpoint into a **compressed model** in the course's format, and the
# forward pass that runs it, then defend your choices with numbers you measured. This is the piece of
# work you show an interviewer: one model, its size, its quality and its speed, all measured.
#
# **The budget** (held-out text and task prompts you never see; graded runs use other seeds again):
# perplexity at most 1.10<!--= capstone.PPL_BUDGET -->× the fp32 checkpoint's, and mean exact task accuracy (copy, recall, add) at
# most 5<!--= 100 * capstone.TASK_BUDGET --> points below fp32's.
#
# | § | exercise | points |
# |---|---|---|
# | 3 | `compress(config, params)`: the budget is met (2), stored bytes ≤ 50<!--= 100 * capstone.BYTE_TIERS[0] --> %, ≤ 25<!--= 100 * capstone.BYTE_TIERS[1] --> %, ≤ 15<!--= 100 * capstone.BYTE_TIERS[2] --> % of fp32 (1 each) | 5 |
# | 4 | `forward(compressed, ids)`: runs from the compressed dict alone (1), speed ≥ 0.4<!--= capstone.SPEED_TIERS[0] -->, ≥ 0.55<!--= capstone.SPEED_TIERS[1] -->, ≥ 0.7<!--= capstone.SPEED_TIERS[2] --> × the fp32 reference's (1 each) | 4 |
# | 5 | `justification`: a short text that states your measured numbers and explains your choices | 2 |
#
# The tiers are partial credit: a test cell that passes shows the points it gives. A model over the
# budget gets no size, speed or justification points, however small or fast it is.
#
# **Names.** `B` batch, `T` sequence length, `C` model width, `V` vocabulary size, `ids` token ids,
# `K`, `N` the input and output widths of a weight matrix stored `(K, N)` and applied as `x @ W`.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("13_capstone")

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np

from llmcourse import capstone, checks, env, quiz
from llmcourse.data import CharTokenizer

config, params = capstone.load()
tok = CharTokenizer()
capstone.blas_threads(1)  # small matrices: one BLAS thread is as fast, and steadier on a shared machine
N_CHARS = env.size(8000, 2000)   # held-out characters for perplexity
N_TASKS = env.size(100, 60)      # prompts per task
SEED = checks.capstone.VISIBLE_SEED
FP32_BYTES = capstone.fp32_bytes(config, params)
print(f"fp32 checkpoint: {sum(a.size for a in params.values()):,} parameters, {FP32_BYTES:,} bytes")

# %% [markdown]
# ## 1. The format, and counting every byte
#
# A compressed model is a `dict` from names to NumPy arrays and nothing else (the full specification is
# the docstring of `llmcourse.capstone`). One array, `"manifest"`, holds UTF-8 JSON with the model's
# config and whatever your forward pass needs to know (bit widths, group sizes, which blocks are
# shared); `capstone.make_manifest(config, **extra)` builds it. Every other entry is an array of codes,
# scales, zero points, sparse indices, low-rank factors, shared blocks, biases or LayerNorm parameters.
# Python objects and float64 arrays are refused, so that everything the forward pass reads is counted.
#
# `capstone.stored_bytes` counts **every** array's bytes plus every name. The classic way to flatter a
# compression ratio is to count only the codes: int4 codes of a matrix are an eighth of its fp32 bytes,
# but the scales (one per output channel or per group of 32 or 64 weights), the zero points, the sparse
# indices and the small fp32 tensors (biases, LayerNorms, embeddings) are real bytes a deployment must
# ship. The cell below shows the gap on plain int8.

# %%
def _w8(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) float32 -> int8 codes (K, N) and one float32 scale per output column (N,)."""
    s = np.abs(a).max(0) / 127  # (N,)
    s[s == 0] = 1.0
    return np.clip(np.round(a / s), -127, 127).astype(np.int8), s.astype(np.float32)


MATRICES = [n for n, a in params.items() if a.ndim == 2 and n not in ("tok_emb", "pos_emb")]
codes_only = sum(params[n].size for n in MATRICES)  # one byte per int8 code, nothing else
print(f"int8 codes of the {len(MATRICES)} weight matrices alone: {codes_only:,} bytes = "
      f"{codes_only / FP32_BYTES:.1%} of fp32 (the flattering count)")

# %% [markdown]
# ## 2. The honest baseline: W8 per output channel
#
# The simplest model that passes: every weight matrix (the blocks' four and the head) in int8 with one
# float32 scale per output column, everything else (embeddings, biases, LayerNorms) left in fp32. Its
# forward pass dequantizes each matrix **inside every call** (`codes * scale`) and hands the float32
# matrices to the course's fp32 reference forward (`capstone.fp32_forward`, below), so it never keeps an
# fp32 copy between calls. It is the baseline your
# model is compared with: it meets the budget and reaches the lowest size tier only<!--? not baseline["problems"] and capstone.BYTE_TIERS[1] < baseline["bytes_ratio"] <= capstone.BYTE_TIERS[0] -->.

# %%
def w8_compress(config: dict, params: dict) -> dict:
    """Baseline: int8 weight matrices with per-output-column float32 scales, the rest fp32."""
    out = {"manifest": capstone.make_manifest(config, scheme="w8-per-channel")}
    for name, a in params.items():
        if name in MATRICES:
            out[name + ".q8"], out[name + ".s"] = _w8(a)
        else:
            out[name] = a.astype(np.float32)
    return out


def w8_forward(compressed: dict, ids: np.ndarray) -> np.ndarray:
    """ids (B, T) -> logits (B, T, V), dequantizing every matrix on every call."""
    cfg = capstone.read_manifest(compressed)["config"]
    p = {}
    for name, a in compressed.items():
        if name.endswith(".q8"):
            p[name[:-3]] = a.astype(np.float32) * compressed[name[:-3] + ".s"]  # (K, N) dequantized now
        elif not name.endswith(".s") and name != "manifest":
            p[name] = a
    return capstone.fp32_forward(cfg, p, ids)


baseline = capstone.measure(w8_compress, w8_forward, config, params, SEED, N_CHARS, N_TASKS)
baseline_speed = capstone.speed(w8_forward, baseline["compressed"], config, params, SEED,
                                pairs=env.size(15, 5), attempts=1)
w8_bytes_pct = 100 * baseline["bytes_ratio"]
print(f"W8 baseline: {baseline['bytes']:,} bytes = {w8_bytes_pct:.1f} % of fp32 (scales and fp32 tensors "
      f"included), perplexity {baseline['model']['perplexity']:.4f} = {baseline['ppl_ratio']:.4f}x fp32, "
      f"tasks {baseline['model']['tasks']} (fp32 {baseline['fp32']['tasks']}), speed {baseline_speed:.2f}x fp32")

# %% [markdown]
# The baseline stores 28.3<!--= w8_bytes_pct ~2% --> % of fp32's bytes, a little more than the quarter
# that int8 suggests: the scales, the fp32 embeddings, biases and LayerNorms count too.
#
# **The fp32 reference.** `capstone.fp32_forward(config, params, ids)` is the course's PyTorch model
# (`llmcourse.model.TinyGPT`, built on `F.scaled_dot_product_attention` and `nn.LayerNorm`) run on the
# CPU in inference mode with **one torch thread**, as your NumPy forward runs with one BLAS thread,
# returning float32 NumPy logits. It gives the fp32 perplexity and task accuracy of the budget and it is
# the speed baseline.
#
# **How speed is measured.** `capstone.speed` runs your forward and the fp32 reference on the same
# 64-token window, in pairs whose order alternates, and takes the median of the per-pair ratios (fp32
# time / your time); graded runs take the best of three such medians so that a burst of load on a shared
# machine does not cost a tier. It is never an absolute time. The W8 baseline pays for its dequantization
# on top of the reference's own forward, so its ratio stays below 1<!--? baseline_speed < 1 -->.
#
# Expect a ratio **near or below 1** from weight compression alone. The whole fp32 model is 3.3 MB, which
# fits in the last-level cache of most current CPUs (the cell below prints this machine's), and a NumPy
# forward must turn codes back into float32 before its matmul: that extra pass over the weights costs
# time that reading fewer bytes does not win back while the weights come from cache.
# Weight-only quantization speeds up decoding when the weights stream from DRAM on every token
# (module 06's roofline) and the kernel decodes codes in registers (module 07's Numba GEMV); what
# speeds up a small NumPy forward is less arithmetic (fewer heads, neurons or layers, lower rank) and
# fewer passes over the weights. The speed tiers reward a forward that stays near the reference's speed
# while reading compressed weights on every call, and cost points to one that is a few times slower
# (Python loops over tokens or weights, float64 arithmetic, many passes to unpack codes).

# %%
from pathlib import Path

_caches = {}  # level -> size as Linux reports it for CPU 0 (e.g. "32768K"); empty elsewhere
for _d in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
    try:
        _caches[int((_d / "level").read_text())] = (_d / "size").read_text().strip()
    except (OSError, ValueError):
        pass
print(f"fp32 checkpoint {FP32_BYTES / 1e6:.1f} MB; this machine's largest cache: "
      + (f"L{max(_caches)} {_caches[max(_caches)]}" if _caches else "not reported by the OS"))

# %% [markdown]
# ## 3. Your compressed model (5 points)
#
# Write `compress(config, params)`: take the fp32 checkpoint (the documented layout of
# `llmcourse.model`: `config` a dict, `params` a dict of float32 arrays) and return a compressed model
# in the course format. Any mix of modules 07 to 11 is allowed: int8 or int4 codes (per channel or per
# group), pruning (unstructured with indices, 2:4, or structured so that matrices shrink), low-rank
# factors, shared blocks, or a distilled student (train it inside `compress`; the test cell's run time
# is limited, so keep it to seconds).
#
# The rules the tests check:
# * Return a dict of NumPy arrays with a manifest; **do not modify** `params`.
# * Everything `forward` needs is in the dict. A scale kept in a global, a closure or a cache is a byte
#   nobody counted: the tests compress a second checkpoint after yours and check that your first model's
#   logits do not change.
# * Calibrate (if you do) on the training or validation text of `llmcourse.data`; the budget is measured
#   on held-out text from other seeds, so a model tuned to the measured text gains nothing.
#
# One design that reaches the top size tier (the instructor's reference): the blocks' matrices in int4
# with one fp16 scale per output column, two codes packed in each byte, and the embeddings and head in int8
# with fp16 scales. Yours may differ: the tests measure, they do not look at how.

# %% nbgrader={"grade": false, "grade_id": "compress", "locked": false, "solution": true, "schema_version": 3}
def compress(config: dict, params: dict) -> dict:
    """fp32 checkpoint (config, {name: float32 array}) -> compressed model (dict of named arrays)."""
    ### BEGIN SOLUTION
    def int4_per_column(w):  # (K, N), N even -> packed codes (K, N // 2) uint8, scales (N,) float16
        s = (np.abs(w).max(0) / 7).astype(np.float16)  # (N,) one scale per output column
        s[s == 0] = 1.0
        q = np.clip(np.round(w / s.astype(np.float32)), -8, 7).astype(np.int16) + 8  # (K, N) in 0..15
        q = q.astype(np.uint8)
        return q[:, 0::2] | (q[:, 1::2] << 4), s  # column 2j in the low nibble, 2j + 1 in the high one

    def int8_along(w, axis):  # one fp16 scale per row (axis=1) or per column (axis=0)
        s = (np.abs(w).max(axis, keepdims=True) / 127).astype(np.float16)
        s[s == 0] = 1.0
        return np.clip(np.round(w / s.astype(np.float32)), -127, 127).astype(np.int8), s.reshape(-1)

    out = {"manifest": capstone.make_manifest(config, scheme="w4-per-column, int8 embeddings and head")}
    for name, a in params.items():
        if name.startswith("blocks.") and a.ndim == 2:
            out[name + ".q4"], out[name + ".s"] = int4_per_column(a)
        elif name in ("tok_emb", "pos_emb"):
            out[name + ".q8"], out[name + ".s"] = int8_along(a, 1)
        elif name == "head.w":
            out[name + ".q8"], out[name + ".s"] = int8_along(a, 0)
        else:
            out[name] = np.array(a, dtype=np.float32)  # biases and LayerNorms: small, kept exact
    return out
    ### END SOLUTION


# %% [markdown]
# ## 4. The forward pass that runs it (4 points)
#
# Write `forward(compressed, ids)`: token ids `(B, T)` (int64, `T` ≤ block_size) to logits
# `(B, T, V)`, float32, computed from `compressed` alone: the model of `llmcourse.model` (pre-norm
# blocks, causal attention, tanh GELU), with the weights read from your codes on every call.
#
# Traps the tests reject:
# * **Dequantizing once and timing the copy.** A forward that builds fp32 weights on its first call and
#   keeps them (in a global, a cache keyed by the dict, an attribute) is timed on fp32 weights, not on
#   your model. The tests replace the dict's contents in place and check that the logits follow.
# * **Reading the fp32 checkpoint.** Opening `tiny_gpt.npz` during a forward pass raises, and a forward
#   that uses the notebook's `params` gives the course model's logits when it is handed a different
#   compressed model: the tests compress a second checkpoint and check that its logits follow it.
#
# The instructor's reference decodes the int4 codes with one table lookup per packed byte: `lut[byte]` is
# the pair of signed codes `(low − 8, high − 8)` as float32, so `np.take(lut, codes, axis=0)`, reshaped,
# is the `(K, N)` matrix after one pass; the per-column scale is applied to the matmul's output, `N`
# multiplies per row of `x` instead of `K·N`.

# %% nbgrader={"grade": false, "grade_id": "forward", "locked": false, "solution": true, "schema_version": 3}
def forward(compressed: dict, ids: np.ndarray) -> np.ndarray:
    """compressed model, ids (B, T) int -> logits (B, T, V) float32, from the compressed arrays alone."""
    ### BEGIN SOLUTION
    lo, hi = np.meshgrid(np.arange(16), np.arange(16), indexing="xy")  # byte b = lo + 16 * hi
    lut = (np.stack([lo, hi], -1).reshape(256, 2) - 8).astype(np.float32)  # (256, 2) signed code pairs
    c = compressed
    cfg = capstone.read_manifest(c)["config"]
    B, T = ids.shape
    H, C, eps = cfg["n_head"], cfg["d_model"], cfg["ln_eps"]
    D = C // H

    def linear(x, name):  # x (..., K) -> (..., N)
        q = c[name + ".q4"]  # (K, N // 2) packed
        w = np.take(lut, q, axis=0).reshape(q.shape[0], -1)  # (K, N) signed codes as float32
        return (x @ w) * c[name + ".s"].astype(np.float32)  # per-column scale after the matmul

    def ln(x, name):
        mu = x.mean(-1, keepdims=True)
        xc = x - mu
        return xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps) * c[name + ".weight"] + c[name + ".bias"]

    def embed(name, rows):  # int8 rows with one scale each -> (len(rows), C)
        return c[name + ".q8"][rows] * c[name + ".s"][rows].astype(np.float32)[..., None]

    x = embed("tok_emb", ids) + embed("pos_emb", np.arange(T))  # (B, T, C)
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    for i in range(cfg["n_layer"]):
        b = f"blocks.{i}."
        h = ln(x, b + "ln1")
        qkv = linear(h, b + "attn.w_qkv") + c[b + "attn.b_qkv"]  # (B, T, 3C)
        qkv = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D)
        s = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) * np.float32(1 / math.sqrt(D))  # (B, H, T, T)
        s[..., future] = -np.inf
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        s[s < 1e-30] = 0.0  # subnormal weights slow OpenBLAS down
        y = (s @ qkv[2]).transpose(0, 2, 1, 3).reshape(B, T, C)  # (B, T, C) heads merged
        x = x + linear(y, b + "attn.w_out") + c[b + "attn.b_out"]
        u = linear(ln(x, b + "ln2"), b + "mlp.w_in") + c[b + "mlp.b_in"]  # (B, T, d_ff)
        u = 0.5 * u * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (u + np.float32(0.044715) * u * u * u)))
        x = x + linear(u, b + "mlp.w_out") + c[b + "mlp.b_out"]
    h = ln(x, "ln_f")
    head = c["head.w.q8"].astype(np.float32)  # (C, V)
    return ((h @ head) * c["head.w.s"].astype(np.float32) + c["head.b"]).astype(np.float32)
    ### END SOLUTION


# %% [markdown]
# ### Tests of §3 and §4
#
# The first cell measures your compressed model through your forward pass (format, bytes, budget), the second the forward pass itself (the rules and its speed).

# %% nbgrader={"grade": true, "grade_id": "compress_test", "locked": true, "points": 5, "solution": false, "schema_version": 3}
### BEGIN HIDDEN TESTS
_cfg, _params = capstone.load()
_ids = tok.encode("\nrecall a=1 b=2 c=3 ? b=2\nthe tall king lives on the hill.\n")[None]
_first = capstone.check_self_contained(compress, forward, _cfg, _params, _ids)
_hidden = capstone.measure(compress, forward, _cfg, _params, 977_331, env.size(8000, 2000), env.size(100, 60),
                           compressed=_first)
print(capstone.leaderboard_line(_hidden))
### END HIDDEN TESTS
checks.capstone.compress(compress, forward, N_CHARS, N_TASKS)
### BEGIN HIDDEN TESTS
assert not _hidden["problems"], "over the budget on the hidden held-out text: " + "; ".join(_hidden["problems"])
assert _hidden["bytes"] == capstone.stored_bytes(_hidden["compressed"]) > 0
2 + capstone.tier(_hidden["bytes_ratio"], capstone.BYTE_TIERS, smaller_is_better=True)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "forward_test", "locked": true, "points": 4, "solution": false, "schema_version": 3}
checks.capstone.forward(compress, forward)
### BEGIN HIDDEN TESTS
_cfg, _params = capstone.load()
_ids = np.stack([tok.encode("\nadd 47+38=85\nthe red fox sang at night.\n")[:24],
                 tok.encode("\ncopy kqzvt>kqzvt\nthe queen waited by the sea.\n")[:24]])
_first = capstone.check_self_contained(compress, forward, _cfg, _params, _ids)
_res = capstone.measure(compress, forward, _cfg, _params, 977_331, env.size(8000, 2000), env.size(100, 60),
                        compressed=_first)
assert not _res["problems"], "no speed points over the budget: " + "; ".join(_res["problems"])
_speed = capstone.speed(forward, _res["compressed"], _cfg, _params, 977_333, pairs=env.size(15, 5))
print(capstone.leaderboard_line(_res, _speed))
1 + capstone.tier(_speed, capstone.SPEED_TIERS, smaller_is_better=False)
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Your numbers, and why (2 points)
#
# The cell below measures your model beside fp32 and the W8 baseline on the visible held-out text and
# plots size against quality.

# %%
mine = capstone.measure(compress, forward, config, params, SEED, N_CHARS, N_TASKS)
mine_speed = capstone.speed(forward, mine["compressed"], config, params, SEED, pairs=env.size(15, 5), attempts=1)
rows = [("fp32", FP32_BYTES, 1.0, mine["fp32"]["task_mean"], 1.0),
        ("W8 baseline", baseline["bytes"], baseline["ppl_ratio"], baseline["model"]["task_mean"], baseline_speed),
        ("yours", mine["bytes"], mine["ppl_ratio"], mine["model"]["task_mean"], mine_speed)]
print(f"{'model':<14}{'bytes':>11}{'% of fp32':>11}{'ppl ratio':>11}{'tasks':>8}{'speed':>8}")
for name, nbytes, ppl_r, acc, sp in rows:
    print(f"{name:<14}{nbytes:>11,}{100 * nbytes / FP32_BYTES:>10.1f}%{ppl_r:>11.4f}{acc:>8.1%}{sp:>7.2f}x")
mine_bytes_pct = 100 * mine["bytes_ratio"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, nbytes, ppl_r, _, _ in rows:
    ax.scatter(100 * nbytes / FP32_BYTES, ppl_r)
    ax.annotate(name, (100 * nbytes / FP32_BYTES, ppl_r), xytext=(4, 3), textcoords="offset points")
ax.axhline(capstone.PPL_BUDGET, ls="--", color="gray", label="budget")
ax.set(xlabel="stored bytes, % of fp32", ylabel="perplexity / fp32's", title="Size against quality")
ax.legend()
plt.show()

# %% [markdown]
# The reference stores 14.0<!--= mine_bytes_pct ~3% --> % of fp32's bytes, half the W8 baseline's<!--? abs(mine["bytes"] / baseline["bytes"] - 0.5) < 0.03 -->, and
# its held-out perplexity stays within 1 %<!--? mine["ppl_ratio"] < 1.01 --> of fp32's.
#
# Write `justification`: a short text (60 words or more) that a reviewer can check. State the stored
# bytes as a percentage of fp32 (counted by `capstone.stored_bytes`, scales and all), the held-out
# perplexity and its ratio to fp32's, the mean task accuracy, and the speed ratio, **as measured above**
# on the visible held-out text (a perplexity measured on training text is a different number and fails
# the test), and say why you chose your method and what you would try next. An f-string that reads the
# numbers from `mine` and `mine_speed` is fine.

# %% nbgrader={"grade": false, "grade_id": "justification", "locked": false, "solution": true, "schema_version": 3}
### BEGIN SOLUTION
justification = f"""
I stored every block matrix in int4 with one fp16 scale per output column and two codes per byte, and the
embeddings and the head in int8 with fp16 scales; biases and LayerNorms stay fp32. Counted with scales,
names and the manifest, the model is {100 * mine['bytes_ratio']:.2f} % of the fp32 checkpoint. On held-out
text its perplexity is {mine['model']['perplexity']:.4f}, a ratio of {mine['ppl_ratio']:.4f} to fp32, and its
mean task accuracy is {100 * mine['model']['task_mean']:.1f} % (fp32: {100 * mine['fp32']['task_mean']:.1f} %).
Its forward runs at {mine_speed:.2f}x the fp32 PyTorch reference (one thread): the codes are decoded to float32 on every call,
an extra pass over the weights that the fp32 model does not pay while it sits in cache. Module 07 showed that four bits per
weight barely move this model's perplexity, so groups were not worth their extra scales. Next I would prune
FFN neurons with fine-tuning to cut arithmetic, which is what would make the forward faster than fp32.
"""
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "justification_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.capstone.justification(justification, mine, mine_speed)
### BEGIN HIDDEN TESTS
_check = capstone.measure(compress, forward, *capstone.load(), SEED, N_CHARS, N_TASKS)
_facts = checks.capstone.justification_facts(_check, mine_speed)
assert not _check["problems"], "a model over the budget earns no justification points: " + "; ".join(_check["problems"])
_problems = capstone.justification_problems(justification, _facts)
assert not _problems, "; ".join(_problems)
assert abs(_check["bytes_ratio"] - mine["bytes_ratio"]) < 1e-12, "the numbers must be those of your compress()"
### END HIDDEN TESTS

# %% [markdown]
# ## Practice quiz
#
# Not graded: pick an answer, press Check, read why each option is right or wrong.

# %%
quiz.show("13_capstone")

# %% [markdown]
# ## Summary
#
# * A compression ratio is only honest when every byte the forward pass reads is counted: codes,
#   scales, zero points, indices, the small fp32 tensors and the metadata.
# * Quality is measured on text the model was not tuned on, against the fp32 model on the same text,
#   with exact tasks beside perplexity: perplexity alone hides damage to addition and recall.
# * Speed is a ratio measured side by side in one process, never an absolute time; a forward that
#   dequantizes once and reuses the copy is timing fp32, not the compressed model.
# * On a model that fits in cache, weight compression buys bytes, not NumPy speed; speed comes from
#   less arithmetic or from kernels that decode codes in registers while weights stream from memory.
#
# ## Going further
#
# * Mix methods per layer under the byte budget with module 08's sensitivity scan: which matrices can go
#   to three bits?
# * Prune FFN neurons (module 09) and recover with a few hundred steps of distillation (module 11);
#   measure whether the forward finally beats fp32.
# * Share one int4 block between two layers (module 11) and count it once.
# * `make grade` on a class of capstone submissions writes `leaderboard.csv` and a leaderboard section of
#   `report.html` (README, "Class leaderboard").
