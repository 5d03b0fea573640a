"""Visible self-checks for module 04_tiny_gpt.

Expected values are worked out by hand on tiny inputs (the arithmetic sits next to each case) or are
properties any correct answer has. The full forward pass is compared with the course's PyTorch
reference model (llmcourse.model), which is built on library calls and is not a NumPy solution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import Case, CheckFailed, compare, run

LN2, LN3 = math.log(2.0), math.log(3.0)
# GELU, tanh form, at +1 and -1: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), worked to 16 digits.
GELU_1, GELU_M1 = 0.8411919906082768, -0.15880800939172324
REMOVED = -1e8  # a filtered logit must be -inf or at least this negative


# --- 0. warm-up -----------------------------------------------------------------------------------

def softmax(fn: Callable) -> None:
    """Check softmax(x, axis=-1) on hand-worked inputs, including very large logits."""
    m = np.array([[0.0, LN3], [LN3, 0.0]])
    run("softmax", fn, [
        # exp -> [1, 2, 3], sum 6
        Case("[0, ln 2, ln 3] -> [1/6, 1/3, 1/2]", (np.array([0.0, LN2, LN3]),), expected=np.array([1, 2, 3]) / 6),
        Case("rows of a 2-D input, default axis=-1", (m,), expected=np.array([[0.25, 0.75], [0.75, 0.25]])),
        Case("columns with axis=0", (m,), {"axis": 0}, expected=np.array([[0.25, 0.75], [0.75, 0.25]])),
        Case("large logits [1000, 1000 + ln 3] (subtract the max first)", (np.array([1000.0, 1000.0 + LN3]),),
             expected=np.array([0.25, 0.75])),
        Case("a -inf logit gets probability 0", (np.array([0.0, -np.inf, LN3]),),
             expected=np.array([0.25, 0.0, 0.75]), atol=1e-12),
    ])


# --- 1. embeddings and the position-wise layers ---------------------------------------------------

def embed(fn: Callable) -> None:
    """Check embed(ids, tok_emb, pos_emb) -> tok_emb[ids] + pos_emb[:T] on tables with readable rows."""
    tok = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]])  # row i is [i, 0]
    pos = np.array([[0.0, 10.0], [0.0, 20.0], [0.0, 30.0], [0.0, 40.0]])        # row t is [0, 10 (t + 1)]
    run("embed", fn, [
        Case("ids [3, 1]: token rows [3, 0], [1, 0] plus position rows [0, 10], [0, 20]",
             (np.array([3, 1]), tok, pos), expected=np.array([[3.0, 10.0], [1.0, 20.0]])),
        Case("one token, id 4: position 0 only", (np.array([4]), tok, pos), expected=np.array([[4.0, 10.0]])),
        Case("a batch (2, 3): positions restart at 0 in every row", (np.array([[0, 0, 2], [4, 1, 1]]), tok, pos),
             expected=np.array([[[0.0, 10.0], [0.0, 20.0], [2.0, 30.0]], [[4.0, 10.0], [1.0, 20.0], [1.0, 30.0]]])),
    ])


def layer_norm(fn: Callable) -> None:
    """Check layer_norm(x, weight, bias, eps=1e-5) over the last axis with the biased variance."""
    one4, zero4 = np.ones(4), np.zeros(4)
    run("layer_norm", fn, [
        # mean 0, biased variance 1: unchanged when eps = 0
        Case("[1, -1, 1, -1], eps=0 -> unchanged", (np.array([1.0, -1.0, 1.0, -1.0]), one4, zero4), {"eps": 0.0},
             expected=np.array([1.0, -1.0, 1.0, -1.0])),
        # mean 1, deviations [-1, -1, -1, 3], biased variance (1+1+1+9)/4 = 3 (ddof=1 would give 4)
        Case("[0, 0, 0, 4], eps=0 -> [-1, -1, -1, 3] / sqrt(3) (divide by C, not C - 1)",
             (np.array([0.0, 0.0, 0.0, 4.0]), one4, zero4), {"eps": 0.0},
             expected=np.array([-1.0, -1.0, -1.0, 3.0]) / math.sqrt(3.0)),
        Case("weight [1, 2, 3, 4] and bias [0, 1, 0, 1] scale and shift each feature",
             (np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 0.0, 1.0])),
             {"eps": 0.0}, expected=np.array([1.0, -1.0, 3.0, -3.0])),
        # variance 1e-6: 1e-3 / sqrt(1e-6 + 1e-5) = 0.30151...; eps outside the root would give 0.990
        Case("tiny spread [1e-3, -1e-3], eps=1e-5: eps goes inside the square root",
             (np.array([1e-3, -1e-3]), np.ones(2), np.zeros(2)), {"eps": 1e-5},
             expected=np.array([1.0, -1.0]) * 1e-3 / math.sqrt(1.1e-5)),
        Case("a constant row has variance 0: eps avoids 0/0 and the output is the bias",
             (np.full(3, 7.0), np.ones(3), np.array([0.5, 0.0, -0.5])), expected=np.array([0.5, 0.0, -0.5])),
        Case("2-D input: every row (token) normalised on its own, over its features",
             (np.array([[1.0, -1.0], [5.0, 7.0]]), np.ones(2), np.zeros(2)), {"eps": 0.0},
             expected=np.array([[1.0, -1.0], [-1.0, 1.0]])),
    ])


def gelu(fn: Callable) -> None:
    """Check gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) against hand-evaluated values."""
    run("gelu", fn, [
        Case("gelu(0) = 0", (np.array([0.0]),), expected=np.array([0.0]), atol=1e-15),
        Case("x = 1 and x = -1 with the tanh formula (the erf form gives 0.841345, off by 1.5e-4)",
             (np.array([1.0, -1.0]),), expected=np.array([GELU_1, GELU_M1]), rtol=1e-9, atol=1e-12),
        Case("x = +-10: tanh saturates, giving 10 and 0", (np.array([10.0, -10.0]),), expected=np.array([10.0, 0.0]),
             atol=1e-12),
        Case("any shape, elementwise", (np.array([[1.0, 0.0], [-1.0, 10.0]]),),
             expected=np.array([[GELU_1, 0.0], [GELU_M1, 10.0]]), rtol=1e-9, atol=1e-12),
    ])


def mlp(fn: Callable) -> None:
    """Check mlp(x, w_in, b_in, w_out, b_out) = gelu(x @ w_in + b_in) @ w_out + b_out on hand-built weights."""
    x = np.array([[1.0, -1.0]])                       # (T=1, C=2)
    w_in = np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 0.0]])  # hidden pre-activations [1, -1, 10]
    w_out = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # gelu -> [GELU_1, GELU_M1, 10]; @ w_out -> [GELU_1 + 10, GELU_M1 + 10]; + b_out
    run("mlp", fn, [
        Case("hidden [1, -1, 10] -> gelu -> back to C=2, plus b_out [0.5, -0.5]",
             (x, w_in, np.zeros(3), w_out, np.array([0.5, -0.5])),
             expected=np.array([[GELU_1 + 10.5, GELU_M1 + 9.5]]), rtol=1e-9),
        Case("b_in shifts before the GELU: pre-activations [0, 0, 10] after b_in = [-1, 1, 0]",
             (x, w_in, np.array([-1.0, 1.0, 0.0]), w_out, np.zeros(2)), expected=np.array([[10.0, 10.0]]), rtol=1e-9),
        Case("batched input (2, 1, 2): applied at every position", (np.stack([x, -x]), w_in, np.zeros(3), w_out,
             np.zeros(2)), expected=np.array([[[GELU_1 + 10, GELU_M1 + 10]], [[GELU_M1, GELU_1]]]), rtol=1e-9),
    ])


# --- 2. attention and the block -------------------------------------------------------------------

def _qkv(w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray) -> np.ndarray:
    """Fuse three (C, C) projections into the (C, 3C) [q | k | v] layout of the checkpoint."""
    return np.concatenate([w_q, w_k, w_v], axis=1)


def _no_leak(fn: Callable, args: tuple, t_cut: int) -> Callable[[Any], str | None]:
    """Property: changing the inputs at positions >= t_cut leaves the outputs before t_cut unchanged."""
    x = args[0]

    def prop(got: Any) -> str | None:
        later = x.copy()
        later[..., t_cut:, :] += 3.0
        again = np.asarray(fn(later, *args[1:]))
        problem = compare(np.asarray(got)[..., :t_cut, :], again[..., :t_cut, :], rtol=1e-9, atol=1e-12)
        if problem:
            return f"changing tokens from position {t_cut} on changed earlier outputs (future leakage): {problem}"
        return None

    return prop


def causal_self_attention(fn: Callable) -> None:
    """Check causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head) on hand-built weights."""
    I2, I4, Z2, Z4 = np.eye(2), np.eye(4), np.zeros((2, 2)), np.zeros((4, 4))
    ones_q = lambda C: np.concatenate([np.ones(C), np.zeros(2 * C)])  # noqa: E731 - q = 1 from the bias
    # 1 head, q = k = 0: every allowed key scores 0, so position t averages v over positions 0..t.
    x1 = np.array([[2.0, 0.0], [0.0, 4.0], [4.0, 2.0]])
    # 1 head, C = d_head = 4: q = 1 (bias), k = v = x. Scores sum(x_j) / sqrt(4): [0, ln 3] at position 1.
    x2 = np.array([[0.0] * 4, [LN3 / 2] * 4])
    # 2 heads of width 1: q = 1 (bias), k = v = x; head h scores key j by x_j[h].
    x3 = np.array([[0.0, 0.0], [LN3, -LN3]])
    rng = np.random.default_rng(0)
    xr = rng.standard_normal((2, 6, 8))
    wr = (rng.standard_normal((8, 24)) * 0.5, rng.standard_normal(24) * 0.1, rng.standard_normal((8, 8)) * 0.3,
          rng.standard_normal(8) * 0.1)
    run("causal_self_attention", fn, [
        Case("1 head, all scores 0: position t averages v over 0..t (never the future)",
             (x1, _qkv(Z2, Z2, I2), np.zeros(6), I2, np.zeros(2), 1),
             expected=np.array([[2.0, 0.0], [1.0, 2.0], [2.0, 2.0]])),
        Case("b_out is added after the output projection w_out = 2 I",
             (x1[:2], _qkv(Z2, Z2, I2), np.zeros(6), 2 * I2, np.array([1.0, -1.0]), 1),
             expected=np.array([[5.0, -1.0], [3.0, 3.0]])),
        # weights at position 1: softmax([0, ln 3]) = [1/4, 3/4], so out = 3/4 x_1 (without the scale:
        # scores [0, 2 ln 3] and weights [1/10, 9/10])
        Case("d_head = 4: scores divided by sqrt(d_head) = 2", (x2, _qkv(Z4, I4, I4), ones_q(4), I4, np.zeros(4), 1),
             expected=np.array([[0.0] * 4, [0.75 * LN3 / 2] * 4])),
        # head 0 at position 1: softmax([0, ln 3]) = [1/4, 3/4] -> 3/4 ln 3;
        # head 1 at position 1: softmax([0, -ln 3]) = [3/4, 1/4] -> -1/4 ln 3
        Case("2 heads split along the features: head h sees feature h only",
             (x3, _qkv(Z2, I2, I2), ones_q(2), I2, np.zeros(2), 2),
             expected=np.array([[0.0, 0.0], [0.75 * LN3, -0.25 * LN3]])),
        Case("batch (2, 6, 8), 2 heads: no future leakage", (xr, *wr, 2), prop=_no_leak(fn, (xr, *wr, 2), 3)),
    ])


_BLOCK_KEYS = ("ln1.weight", "ln1.bias", "attn.w_qkv", "attn.b_qkv", "attn.w_out", "attn.b_out",
               "ln2.weight", "ln2.bias", "mlp.w_in", "mlp.b_in", "mlp.w_out", "mlp.b_out")


def _zero_block(C: int, d_ff: int) -> dict[str, np.ndarray]:
    """Block parameters with LayerNorms at identity and every weight and bias zero."""
    return {"ln1.weight": np.ones(C), "ln1.bias": np.zeros(C), "attn.w_qkv": np.zeros((C, 3 * C)),
            "attn.b_qkv": np.zeros(3 * C), "attn.w_out": np.zeros((C, C)), "attn.b_out": np.zeros(C),
            "ln2.weight": np.ones(C), "ln2.bias": np.zeros(C), "mlp.w_in": np.zeros((C, d_ff)),
            "mlp.b_in": np.zeros(d_ff), "mlp.w_out": np.zeros((d_ff, C)), "mlp.b_out": np.zeros(C)}


def transformer_block(fn: Callable) -> None:
    """Check transformer_block(x, p, n_head, eps=1e-5): x + attn(ln1(x)), then + mlp(ln2(.))."""
    x = np.array([[10.0, -10.0, 10.0, -10.0], [1.0, 2.0, 3.0, 4.0]])
    biases = _zero_block(4, 8)
    biases["attn.b_out"] = np.array([1.0, 0.0, 0.0, 0.0])
    biases["mlp.b_out"] = np.array([0.0, 0.0, 0.0, 2.0])
    biases["mlp.b_in"] = np.ones(8)
    mlp_only = _zero_block(4, 4)
    mlp_only["mlp.w_in"], mlp_only["mlp.w_out"] = np.eye(4), np.eye(4)
    # ln2(x) for x = [10, -10, 10, -10] is [1, -1, 1, -1] (to 1e-7); gelu -> [GELU_1, GELU_M1, ...]
    rng = np.random.default_rng(1)
    C = 8
    pr = {k: v + rng.standard_normal(v.shape) * 0.3 for k, v in _zero_block(C, 16).items()}
    xr = rng.standard_normal((5, C))
    run("transformer_block", fn, [
        Case("all weights 0: both residual branches add only their output bias",
             (x, biases, 2), expected=x + np.array([1.0, 0.0, 0.0, 2.0])),
        Case("attention off, MLP = identity maps: x + gelu(ln2(x)) (pre-norm: the residual stream is not normalised)",
             (x[:1], mlp_only, 1), expected=x[:1] + np.array([GELU_1, GELU_M1, GELU_1, GELU_M1]), rtol=1e-6),
        Case("random weights, 5 tokens: no future leakage", (xr, pr, 2), prop=_no_leak(fn, (xr, pr, 2), 2)),
    ])


# --- 3. the whole model ------------------------------------------------------------------------------

def gpt_forward(fn: Callable) -> None:
    """Check gpt_forward(ids, config, params) against the course's PyTorch reference on the checkpoint."""
    import torch

    from llmcourse.data import CharTokenizer
    from llmcourse.model import from_numpy, load_numpy

    config, params = load_numpy()
    ref = from_numpy(config, params).double()
    ids = CharTokenizer().encode("\nthe cat sat.\n")
    batch = np.stack([ids[:6], ids[6:12]])
    with torch.no_grad():
        want = ref(torch.as_tensor(ids)).numpy()
        want_b = ref(torch.as_tensor(batch)).numpy()
    run("gpt_forward", fn, [
        Case("the checkpoint on '\\nthe cat sat.\\n' (14 tokens): logits (14, 48) equal the PyTorch model's",
             (ids, config, params), expected=want, rtol=1e-5, atol=1e-4),
        Case("a batch (2, 6) of token ids gives (2, 6, 48)", (batch, config, params), expected=want_b,
             rtol=1e-5, atol=1e-4),
    ])


def count_params(fn: Callable) -> None:
    """Check count_params(config) on a hand-counted tiny config and on the shipped checkpoint."""
    from llmcourse.model import load_numpy

    tiny = {"vocab_size": 3, "block_size": 2, "n_layer": 1, "n_head": 1, "d_model": 2, "d_ff": 8, "ln_eps": 1e-5}
    config, params = load_numpy()
    total = sum(a.size for a in params.values())
    run("count_params", fn, [
        # tok 3*2 + pos 2*2 + block (ln1 4 + qkv 2*6+6 + out 2*2+2 + ln2 4 + fc_in 2*8+8 + fc_out 8*2+2 = 74)
        # + ln_f 4 + head 2*3+3  =  6 + 4 + 74 + 4 + 9 = 97
        Case("V=3, block_size=2, 1 layer, C=2, d_ff=8: 97 by hand", (tiny,), expected=97),
        Case(f"the shipped checkpoint: {total} numbers in its arrays", (config,), expected=total),
    ])


def cross_entropy(fn: Callable) -> None:
    """Check cross_entropy(logits, targets) -> mean negative log-probability in nats."""
    run("cross_entropy", fn, [
        # softmax([0, ln 3]) = [1/4, 3/4]
        Case("logits [0, ln 3], target 1 -> -ln(3/4)", (np.array([[0.0, LN3]]), np.array([1])),
             expected=math.log(4 / 3)),
        Case("uniform logits over 4 tokens -> ln 4 whatever the target", (np.zeros((3, 4)), np.array([0, 3, 1])),
             expected=math.log(4.0)),
        Case("mean over positions: targets 0 and 1 of [0, ln 3] -> (ln 4 + ln 4/3) / 2",
             (np.array([[0.0, LN3], [0.0, LN3]]), np.array([0, 1])), expected=(math.log(4) + math.log(4 / 3)) / 2),
        Case("large logits [1000, 1000 + ln 3], target 0 -> ln 4 (no overflow)",
             (np.array([[1000.0, 1000.0 + LN3]]), np.array([0])), expected=math.log(4.0)),
        Case("batch (2, 1, 2) of logits with targets (2, 1)", (np.array([[[0.0, LN3]], [[LN3, 0.0]]]),
             np.array([[1], [1]])), expected=(math.log(4 / 3) + math.log(4)) / 2),
    ])


# --- 4. sampling ----------------------------------------------------------------------------------

def _kept(logits: np.ndarray, keep: list[int]) -> Callable[[Any], str | None]:
    """Property: exactly the positions in keep survive, with their logits unchanged; the rest removed."""

    def prop(got: Any) -> str | None:
        arr = np.asarray(got, dtype=np.float64)
        if arr.shape != logits.shape:
            return f"expected shape {logits.shape}, got {arr.shape}"
        want = np.zeros(logits.shape, dtype=bool)
        want[keep] = True
        if np.isnan(arr).any():
            return f"got NaN in {np.round(arr, 4)}"
        removed = arr <= REMOVED
        if not np.array_equal(~removed, want):
            return (f"kept positions {np.flatnonzero(~removed).tolist()}, expected {sorted(keep)} "
                    f"(removed logits must be -inf); got {np.round(arr, 4)}")
        if not np.allclose(arr[want], logits[want], rtol=1e-12, atol=0):
            return f"kept logits must be unchanged: expected {logits[want]}, got {arr[want]}"
        return None

    return prop


def top_k_filter(fn: Callable) -> None:
    """Check top_k_filter(logits, k): the k largest logits stay, the rest become -inf."""
    z = np.array([1.0, 3.0, 2.0, 0.0, -1.0])
    tie = np.array([2.0, 1.0, 2.0, 0.0])
    run("top_k_filter", fn, [
        Case("k=2 keeps the logits 3 and 2", (z, 2), prop=_kept(z, [1, 2])),
        Case("k=1 keeps only the largest", (z, 1), prop=_kept(z, [1])),
        Case("k=5 = V keeps everything", (z, 5), prop=_kept(z, [0, 1, 2, 3, 4])),
        Case("k larger than V keeps everything", (z, 9), prop=_kept(z, [0, 1, 2, 3, 4])),
        Case("tie at the k-th value: k=1 on [2, 1, 2, 0] keeps both 2s", (tie, 1), prop=_kept(tie, [0, 2])),
    ])


def top_p_filter(fn: Callable) -> None:
    """Check top_p_filter(logits, p): the smallest most-likely set whose mass reaches p, crossing token included."""
    probs = np.array([0.15, 0.5, 0.05, 0.3])  # sorted: 0.5 (id 1), 0.3 (id 3), 0.15 (id 0), 0.05 (id 2)
    z = np.log(probs)
    tie = np.log(np.array([0.2, 0.4, 0.2, 0.2]))
    run("top_p_filter", fn, [
        Case("p=0.3: the top token alone (0.5) already reaches p", (z, 0.3), prop=_kept(z, [1])),
        Case("p=0.6: 0.5 < 0.6, so the token that crosses p (0.3) is kept too", (z, 0.6), prop=_kept(z, [1, 3])),
        Case("p=0.85: 0.5 + 0.3 = 0.8 < 0.85, add 0.15", (z, 0.85), prop=_kept(z, [1, 3, 0])),
        Case("p=1.0 keeps everything", (z, 1.0), prop=_kept(z, [0, 1, 2, 3])),
        Case("ties: probs [0.2, 0.4, 0.2, 0.2], p=0.5 needs a 0.2 and keeps all three tied 0.2s",
             (tie, 0.5), prop=_kept(tie, [0, 1, 2, 3])),
        Case("unnormalised logits: adding 100 to all of them changes nothing", (z + 100.0, 0.6),
             prop=_kept(z + 100.0, [1, 3])),
    ])


def _draws(fn: Callable, logits: np.ndarray, n: int, seed: int, **kw: Any) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = int(fn(logits, rng, **kw))
    return out


def _frequencies_match(counts: np.ndarray, probs: np.ndarray, label: str) -> None:
    n = counts.sum()
    freq = counts / n
    zero = (probs == 0) & (counts > 0)
    if zero.any():
        raise CheckFailed(f"sample_next, case '{label}': drew token(s) {np.flatnonzero(zero).tolist()}, "
                          f"which have probability 0 after filtering")
    tol = 5 * np.sqrt(probs * (1 - probs) / n) + 2e-3
    if np.any(np.abs(freq - probs) > tol):
        raise CheckFailed(f"sample_next, case '{label}': frequencies of {n} seeded draws "
                          f"{np.round(freq, 3)} are too far from the probabilities {np.round(probs, 3)}")


def sample_next(fn: Callable) -> None:
    """Check sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None) -> int."""
    z = np.log(np.array([0.2, 0.5, 0.3]))
    cases = [
        Case("temperature 0 is greedy: argmax", (z,), {"temperature": 0.0}, expected=1),
        Case("top_k=1 is greedy too", (np.array([0.0, -1.0, 4.0, 3.9]),), {"top_k": 1}, expected=2),
    ]
    seeded = lambda logits, **kw: fn(logits, np.random.default_rng(0), **kw)  # noqa: E731
    run("sample_next", seeded, cases, quiet=True)
    a, b = _draws(fn, z, 30, seed=5), _draws(fn, z, 30, seed=5)
    if not np.array_equal(a, b):
        raise CheckFailed("sample_next, case 'same seed twice': two generators seeded alike must give the same "
                          f"draws (use the rng argument, not np.random): {a[:10]} vs {b[:10]}")
    n = 6_000
    _frequencies_match(np.bincount(_draws(fn, z, n, seed=1), minlength=3), np.array([0.2, 0.5, 0.3]),
                       "temperature 1: frequencies follow softmax(logits) = [0.2, 0.5, 0.3]")
    # temperature 0.5 squares the probabilities before renormalising: [0.04, 0.25, 0.09] / 0.38
    _frequencies_match(np.bincount(_draws(fn, z, n, seed=2, temperature=0.5), minlength=3),
                       np.array([0.04, 0.25, 0.09]) / 0.38, "temperature 0.5: softmax(logits / 0.5)")
    # top_k=2 keeps 0.5 and 0.3, renormalised to [0, 5/8, 3/8]
    _frequencies_match(np.bincount(_draws(fn, z, n, seed=3, top_k=2), minlength=3), np.array([0.0, 0.625, 0.375]),
                       "top_k=2: [0, 5/8, 3/8]")
    print(f"✔ sample_next: all {len(cases) + 4} visible cases passed")


def generate(fn: Callable) -> None:
    """Check generate(forward, prompt_ids, n_new, rng, block_size, ...) with a fake model that counts up."""
    V = 5

    def counting(block_size: int) -> Callable[[np.ndarray], np.ndarray]:
        def forward(ids: np.ndarray) -> np.ndarray:
            ids = np.asarray(ids)
            if ids.ndim != 1 or len(ids) > block_size:
                raise ValueError(f"the fake model takes 1-D ids of at most {block_size} tokens, got shape {ids.shape}")
            logits = np.zeros((len(ids), V))
            logits[np.arange(len(ids)), (ids + 1) % V] = 5.0  # next token = this token + 1 (mod V)
            return logits

        return forward

    seeded = lambda forward, ids, n_new, block, **kw: fn(forward, ids, n_new, np.random.default_rng(0), block, **kw)  # noqa: E731
    run("generate", seeded, [
        Case("greedy from [0]: 4 new tokens count up", (counting(8), np.array([0]), 4, 8), {"temperature": 0.0},
             expected=np.array([0, 1, 2, 3, 4])),
        Case("the prompt is kept and only the LAST position's logits are used",
             (counting(8), np.array([3, 0, 2]), 3, 8), {"temperature": 0.0}, expected=np.array([3, 0, 2, 3, 4, 0])),
        Case("context cropped to the last block_size=3 tokens", (counting(3), np.array([1, 2, 3]), 4, 3),
             {"temperature": 0.0}, expected=np.array([1, 2, 3, 4, 0, 1, 2])),
        Case("n_new = 0 returns the prompt", (counting(8), np.array([2, 2]), 0, 8), expected=np.array([2, 2])),
    ])


# --- 5. short answers -----------------------------------------------------------------------------

def answers(**values: Any) -> None:
    """Check that every short answer is filled in with a number (the values are graded by hidden tests)."""
    for name, value in values.items():
        if value is None:
            raise CheckFailed(f"answers: {name} is still None; replace it with your answer")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise CheckFailed(f"answers: {name} should be a number, got {type(value).__name__}")
    print(f"✔ answers: {len(values)} answers recorded (they are graded by the hidden tests)")
