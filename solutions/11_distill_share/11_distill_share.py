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
# # 11 · Compression by training, and its payoff: distillation, parameter sharing, speculative decoding
#
# Modules 07 and 08 made the course GPT smaller by storing its weights in fewer bits. This module makes
# it smaller in two other ways, and then spends the small model where it pays at inference time.
#
# * **Knowledge distillation** trains a small *student* to match the full output distribution of a large
#   *teacher*, not just the one right token of the data (Hinton, Vinyals and Dean, 2015).
# * **Parameter sharing** stores one set of weights and uses it several times: one block for every layer
#   (the ALBERT idea, Lan et al., 2020), and one matrix for the token embedding and the output head.
# * **Speculative decoding** (Leviathan, Kalman and Matias, 2023; Chen et al., 2023) lets the small model
#   guess several tokens, checks all of them with one pass of the large model, and keeps the large model's
#   output distribution *exactly*.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `soft_log_probs`: temperature-softened log-probabilities, overflow-safe | 1 |
# | 1.2 | `distill_kl`: KL(teacher ‖ student) at temperature T, times T² | 2 |
# | 1.3 | `distill_kl_grad`: its gradient at the student logits, in closed form | 2 |
# | 1.4 | `distill_loss`: soft and hard targets mixed | 1 |
# | 2.1 | `share_blocks`: one block for every layer, really shared | 2 |
# | 2.2 | `tie_embeddings`: one matrix for the input embedding and the output head | 1 |
# | 2.3 | `unique_parameters`: count shared memory once | 2 |
# | 3.1 | `accept_probs`: the acceptance probability min(1, p/q) | 1 |
# | 3.2 | `residual_dist`: where to sample after a rejection | 2 |
# | 3.3 | `verify`: accept, reject and resample, or take the bonus token | 2 |
# | 3.4 | `speculative_decode`: the whole sampled loop | 3 |
# | 3.5 | `speculative_greedy`: greedy speculative decoding, token for token equal to greedy | 2 |
# | 4.1 | `pareto_front`: which compressed models are worth keeping | 1 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line on success; the hidden tests try other shapes, seeds, extreme
# logits and the popular wrong answers named in the text.
#
# **Names.** `B` batch, `T` sequence length, `C` model width, `V` vocabulary size, `ids` token ids,
# `z_s`, `z_t` student and teacher logits, `p` the target (large) model's probabilities, `q` the draft
# (small) model's, `k` the number of drafted tokens.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("11_distill_share")

# %%
# %matplotlib inline
import copy
import math
import time
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune
from tqdm.auto import tqdm

from llmcourse import bench, checks, env, quiz
from llmcourse.data import CharTokenizer, load_corpus
from llmcourse.model import GPTConfig, TinyGPT, load_checkpoint, perplexity, task_accuracies

torch.manual_seed(0)
torch.set_num_threads(1)  # small models: one thread is fastest here and steadier on a shared machine
tok = CharTokenizer()

# %% [markdown]
# ## 1. Knowledge distillation
#
# A trained model's output is a whole distribution over the next token. After `the old `, several nouns
# can follow, and the course GPT spreads its probability over their first letters (the demo cell after
# §1.3 prints the top five); the *relative* sizes of the small probabilities say which continuations
# are possible at all. Training on the data's one-hot targets throws that away; distillation
# keeps it by training the student on the teacher's distribution.
#
# The teacher's distribution is often very peaked, so both distributions are softened by a temperature
# `T > 1` before they are compared: `p = softmax(z_t / T)` for the teacher, `q = softmax(z_s / T)` for the
# student. The loss is the KL divergence **from the teacher to the student**, teacher as the target:
#
# `KL(p ‖ q) = Σ_v p_v (log p_v − log q_v)`.
#
# Its gradient at the student's logits is `(q − p) / T`, so it shrinks like `1/T` (and its size like `1/T²`
# for large T, where `q − p` itself shrinks like `1/T`). Multiplying the loss by **T²** keeps the soft
# term's gradient at the same scale whatever T you pick, which is what lets you mix it with the hard-label
# loss using one weight.
#
# Three wrong answers are common. *Reversed KL*, `KL(q ‖ p)`, is a different objective (it rewards a
# student that puts its mass on *one* mode of the teacher), and it is what you get by calling
# `F.kl_div(log_p_teacher, q_student)` with the arguments swapped. *Missing T²* makes the soft term vanish
# at high temperature. *Temperature on one side only* compares a softened teacher with an unsoftened
# student (or the reverse): the minimum is then no longer at `z_s = z_t`.

# %% [markdown]
# ### 1.1 Softened log-probabilities (1 point)
#
# Return `log softmax(logits / T)` along the last axis, for logits of any shape `(..., V)` and `T > 0`.
# It must stay finite for logits near ±1000 and for small T: subtract the row maximum before `exp`
# (or use `torch.logsumexp`). Calling `torch.log(torch.softmax(...))` is a wrong answer here: the softmax
# underflows to 0 and its log is `-inf`.

# %% nbgrader={"grade": false, "grade_id": "soft_log_probs", "locked": false, "solution": true, "schema_version": 3}
def soft_log_probs(logits: torch.Tensor, T: float) -> torch.Tensor:
    """logits (..., V), temperature T > 0 -> log softmax(logits / T) over the last axis, same shape."""
    ### BEGIN SOLUTION
    z = logits / T
    z = z - z.amax(dim=-1, keepdim=True)  # the largest entry of each row is 0: exp cannot overflow
    return z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "soft_log_probs_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distill_share.soft_log_probs(soft_log_probs)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1101)
for _shape, _T, _scale in [((3, 7), 1.0, 1.0), ((2, 4, 11), 2.5, 3.0), ((5,), 0.05, 1.0), ((4, 9), 100.0, 10.0),
                           ((2, 13), 1.0, 1000.0), ((3, 5), 0.01, 1000.0)]:
    _z = torch.randn(*_shape, generator=_g, dtype=torch.float64) * _scale
    _got = soft_log_probs(_z, _T)
    _ref = torch.log_softmax(_z / _T, dim=-1)
    assert isinstance(_got, torch.Tensor) and _got.shape == _z.shape, f"shape {_shape}: wrong shape or type"
    assert torch.isfinite(_got).all(), f"shape {_shape}, T={_T}, logits up to ±{_scale:g}: got inf or NaN"
    assert torch.allclose(_got, _ref, rtol=1e-6, atol=1e-6), f"shape {_shape}, T={_T}, scale {_scale}: wrong values"
# all-equal logits: uniform; float32 near -1000 stays float32 and finite
_eq = torch.full((2, 6), -1000.0)
assert torch.allclose(soft_log_probs(_eq, 3.0), torch.full((2, 6), -math.log(6)), atol=1e-5), "all-equal logits"
_neg = torch.tensor([[-1000.0, -1001.0, -1003.0]])
_got = soft_log_probs(_neg, 0.5)
assert _got.dtype == torch.float32, "keep the dtype of the logits"
assert torch.allclose(_got, torch.log_softmax(_neg / 0.5, -1), atol=1e-3), (  # float32 spacing at 2000 is 1.2e-4
    f"float32 logits near -1000 at T = 0.5: got {_got}")
# exp of log-probs sums to 1 along the last axis, not another one
_z = torch.randn(3, 4, generator=_g)
assert torch.allclose(soft_log_probs(_z, 1.7).exp().sum(-1), torch.ones(3), atol=1e-6), "normalise the last axis"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 The distillation loss (2 points)
#
# `distill_kl(z_s, z_t, T)`: student and teacher logits of the same shape `(..., V)`. Compute
# `T² · KL(p ‖ q)` with `p = softmax(z_t / T)`, `q = softmax(z_s / T)`, for every position (every index of
# the leading axes), and return the **mean over positions** as a scalar tensor. Use your `soft_log_probs`
# for both sides; write the sum `Σ p (log p − log q)` yourself (no `F.kl_div`). The gradient must reach
# `z_s` through autograd. A teacher probability of 0 contributes 0 (the limit of `p log p`); with
# `log p` from `soft_log_probs` that only happens when `p` underflows, and `p * log p` is then `0 * (-big)`,
# which is 0 as long as `log p` stays finite.

# %% nbgrader={"grade": false, "grade_id": "distill_kl", "locked": false, "solution": true, "schema_version": 3}
def distill_kl(z_s: torch.Tensor, z_t: torch.Tensor, T: float) -> torch.Tensor:
    """z_s, z_t (..., V) -> scalar: T**2 * mean over positions of KL(softmax(z_t/T) || softmax(z_s/T))."""
    ### BEGIN SOLUTION
    log_p = soft_log_probs(z_t, T)  # (..., V) teacher, the target
    log_q = soft_log_probs(z_s, T)  # (..., V) student
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # (...,) one KL per position
    return T**2 * kl.mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "distill_kl_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.distill_kl(distill_kl)
### BEGIN HIDDEN TESTS
def _ref_kl(zs, zt, T):
    lp, lq = torch.log_softmax(zt.double() / T, -1), torch.log_softmax(zs.double() / T, -1)
    return T**2 * (lp.exp() * (lp - lq)).sum(-1).mean()


_g = torch.Generator().manual_seed(1102)
for _shape, _T, _scale in [((4, 9), 1.0, 2.0), ((2, 3, 17), 2.0, 3.0), ((5, 8), 4.0, 5.0), ((3, 31), 0.5, 1.0),
                           ((6, 5), 20.0, 4.0), ((2, 7), 1.0, 1000.0), ((2, 7), 8.0, 1000.0)]:
    _zs = torch.randn(*_shape, generator=_g, dtype=torch.float64) * _scale
    _zt = torch.randn(*_shape, generator=_g, dtype=torch.float64) * _scale
    _got = distill_kl(_zs, _zt, _T)
    _exp = _ref_kl(_zs, _zt, _T)
    assert isinstance(_got, torch.Tensor) and _got.dim() == 0, "return a scalar tensor (mean over positions)"
    assert torch.isfinite(_got), f"shape {_shape}, T={_T}, logits ±{_scale:g}: not finite"
    assert torch.allclose(_got, _exp, rtol=1e-5, atol=1e-7), (
        f"shape {_shape}, T={_T}, logits ±{_scale:g}: expected {_exp.item():.6g}, got {_got.item():.6g}")
# properties: 0 when the student equals the teacher (also when both are shifted), >= 0, and gradient flows
_zt = torch.randn(3, 10, generator=_g, dtype=torch.float64)
assert abs(distill_kl(_zt + 5.0, _zt.clone(), 3.0).item()) < 1e-10, "KL of a distribution with itself is 0"
_zs = torch.randn(3, 10, generator=_g, dtype=torch.float64, requires_grad=True)
_loss = distill_kl(_zs, _zt, 2.0)
assert _loss.item() > 0, "KL is positive when the distributions differ"
_loss.backward()
assert _zs.grad is not None and _zs.grad.abs().sum() > 0, "no gradient reached the student logits"
# the teacher logits get no special treatment: the loss is the same with them detached
assert torch.allclose(distill_kl(_zs.detach(), _zt, 2.0), _loss.detach(), atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# ### 1.3 The gradient in closed form (2 points)
#
# Derive `∂ distill_kl / ∂ z_s` and return it without autograd: a tensor of the shape of `z_s`. For one
# position, `∂ KL(p ‖ q) / ∂ z_s = (q − p) / T`; then account for the factor T² and for the mean over the
# `N` positions (N = number of rows, `z_s.numel() // V`). The hidden test compares with autograd on your
# `distill_kl` and on a reference, at temperatures from 0.5 to 20 and logits up to ±1000.

# %% nbgrader={"grade": false, "grade_id": "distill_kl_grad", "locked": false, "solution": true, "schema_version": 3}
def distill_kl_grad(z_s: torch.Tensor, z_t: torch.Tensor, T: float) -> torch.Tensor:
    """z_s, z_t (..., V) -> d distill_kl(z_s, z_t, T) / d z_s, shape (..., V), without autograd."""
    ### BEGIN SOLUTION
    n_pos = z_s.numel() // z_s.shape[-1]
    q = soft_log_probs(z_s, T).exp()  # (..., V)
    p = soft_log_probs(z_t, T).exp()  # (..., V)
    return T * (q - p) / n_pos  # T**2 * (q - p) / T, averaged over positions
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "distill_kl_grad_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.distill_kl_grad(distill_kl_grad)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1103)
for _shape, _T, _scale in [((4, 9), 1.0, 2.0), ((2, 3, 17), 2.0, 3.0), ((7, 5), 0.5, 1.0), ((3, 12), 20.0, 6.0),
                           ((2, 11), 4.0, 1000.0), ((1, 6), 1.0, 1.0)]:
    _zs = (torch.randn(*_shape, generator=_g, dtype=torch.float64) * _scale).requires_grad_(True)
    _zt = torch.randn(*_shape, generator=_g, dtype=torch.float64) * _scale
    _lp, _lq = torch.log_softmax(_zt / _T, -1), torch.log_softmax(_zs / _T, -1)
    (_T**2 * (_lp.exp() * (_lp - _lq)).sum(-1).mean()).backward()
    _got = distill_kl_grad(_zs.detach(), _zt, _T)
    assert isinstance(_got, torch.Tensor) and _got.shape == _zs.shape, f"shape {_shape}: return the shape of z_s"
    assert torch.isfinite(_got).all(), f"shape {_shape}, T={_T}: not finite"
    assert torch.allclose(_got, _zs.grad, rtol=1e-6, atol=1e-9), (
        f"shape {_shape}, T={_T}, logits ±{_scale:g}: closed form differs from autograd "
        f"(largest difference {(_got - _zs.grad).abs().max().item():.3g})")
# each row of the gradient sums to 0 (softmax is invariant to a shift of the logits)
assert torch.allclose(_got.sum(-1), torch.zeros(_got.shape[:-1], dtype=_got.dtype), atol=1e-12)
### END HIDDEN TESTS

# %% [markdown]
# Check the T² argument numerically: the size of the soft gradient, with and without the factor, as the
# temperature grows (teacher and student logits from the course GPT and a random student on the same text).

# %%
teacher = load_checkpoint()
_ids = torch.as_tensor(tok.encode(load_corpus("val")[:129]))
with torch.no_grad():
    z_t_demo = teacher(_ids[:-1])  # (128, V)
    z_s_demo = TinyGPT(GPTConfig(n_layer=1, n_head=2, d_model=32))(_ids[:-1])  # (128, V)
with torch.no_grad():
    p_next = torch.softmax(teacher(torch.as_tensor(tok.encode("\nthe old ")))[-1], -1)  # (V,)
top = p_next.topk(5)
print("after 'the old ':", ", ".join(f"{tok.decode([int(i)])!r} {v:.2f}"
                                     for v, i in zip(top.values, top.indices, strict=True)))
print(f"{'T':>5} {'|grad| with T^2':>16} {'|grad| without':>15}")
for T_demo in (1.0, 2.0, 4.0, 8.0, 16.0):
    g_demo = distill_kl_grad(z_s_demo, z_t_demo, T_demo).norm().item()
    print(f"{T_demo:5.0f} {g_demo:16.5f} {g_demo / T_demo**2:15.6f}")

# %% [markdown]
# With T² the gradient stays of the same order as T grows; without it, it shrinks by orders of magnitude
# over the same range of T (like 1/T while the distributions stay sharp, and like 1/T² once `q − p`
# itself shrinks like 1/T).
#
# ### 1.4 Soft and hard targets together (1 point)
#
# `distill_loss(z_s, z_t, targets, T, alpha)` returns `alpha · distill_kl(z_s, z_t, T) + (1 − alpha) ·
# CE(z_s, targets)`, where the hard-label cross-entropy is the ordinary one **at temperature 1** (mean
# over positions; `targets` has the shape of `z_s` without its last axis). A common slip softens the
# student's logits for the hard loss as well.

# %% nbgrader={"grade": false, "grade_id": "distill_loss", "locked": false, "solution": true, "schema_version": 3}
def distill_loss(z_s: torch.Tensor, z_t: torch.Tensor, targets: torch.Tensor, T: float,
                 alpha: float) -> torch.Tensor:
    """z_s, z_t (..., V), targets (...) int64 -> scalar alpha * distill_kl + (1 - alpha) * cross-entropy."""
    ### BEGIN SOLUTION
    log_q1 = soft_log_probs(z_s, 1.0)  # (..., V) at temperature 1
    ce = -log_q1.gather(-1, targets.unsqueeze(-1)).mean()
    return alpha * distill_kl(z_s, z_t, T) + (1 - alpha) * ce
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "distill_loss_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distill_share.distill_loss(distill_loss)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1104)
for _shape, _T, _alpha in [((5, 9), 2.0, 0.5), ((2, 3, 13), 4.0, 0.9), ((4, 7), 1.0, 0.0), ((3, 6), 3.0, 1.0),
                           ((2, 5), 0.5, 0.25)]:
    _zs = torch.randn(*_shape, generator=_g, dtype=torch.float64) * 3
    _zt = torch.randn(*_shape, generator=_g, dtype=torch.float64) * 3
    _y = torch.randint(0, _shape[-1], _shape[:-1], generator=_g)
    _lp, _lq = torch.log_softmax(_zt / _T, -1), torch.log_softmax(_zs / _T, -1)
    _kl = _T**2 * (_lp.exp() * (_lp - _lq)).sum(-1).mean()
    _ce = F.cross_entropy(_zs.reshape(-1, _shape[-1]), _y.reshape(-1))
    _exp = _alpha * _kl + (1 - _alpha) * _ce
    _got = distill_loss(_zs, _zt, _y, _T, _alpha)
    assert torch.allclose(_got, _exp, rtol=1e-6, atol=1e-9), (
        f"shape {_shape}, T={_T}, alpha={_alpha}: expected {_exp.item():.6g}, got {float(_got):.6g}")
_zs = torch.tensor([[1000.0, -1000.0, 0.0]], dtype=torch.float64, requires_grad=True)
_l = distill_loss(_zs, torch.zeros(1, 3, dtype=torch.float64), torch.tensor([0]), 2.0, 0.5)
assert torch.isfinite(_l), "logits of ±1000 must give a finite loss"
_l.backward()
assert torch.isfinite(_zs.grad).all(), "and a finite gradient"
### END HIDDEN TESTS

# %% [markdown]
# ### Distilling the course GPT
#
# The teacher is the course checkpoint (4 layers, width 128). The student has 2 layers and width 64, about
# a seventh of the parameters. We train two copies of the student from the **same initialisation, on the
# same batches, for the same number of steps**: one on the data's next characters only (from scratch),
# one on `distill_loss`. The only difference is the target.
#
# The teacher's logits are computed once, for a fixed pool of training windows that both students then
# sample their batches from (each window is seen a few times). That costs one teacher pass per window
# instead of one per batch and step, and keeps the data of the two runs identical.

# %%
STUDENT = GPTConfig(n_layer=2, n_head=4, d_model=64)
STEPS = env.size(600, 30)
POOL = env.size(1200, 64)  # training windows with precomputed teacher logits
DISTIL_T, DISTIL_ALPHA = 2.0, 0.9
BATCH, CTX, LR = 8, 128, 3e-3  # CTX = block_size: every position embedding gets trained
VAL_TEXT = load_corpus("val")[:env.size(20_000, 2_000)]
N_TASK = env.size(100, 10)
train_ids = torch.as_tensor(tok.encode(load_corpus("train")[:400_000]))
_pool_gen = torch.Generator().manual_seed(11)
_starts = torch.randint(0, len(train_ids) - CTX - 1, (POOL,), generator=_pool_gen)
pool_x = torch.stack([train_ids[s:s + CTX] for s in _starts])  # (POOL, T)
pool_y = torch.stack([train_ids[s + 1:s + CTX + 1] for s in _starts])  # (POOL, T)
with torch.no_grad():
    pool_zt = torch.cat([teacher(pool_x[i:i + 50]) for i in tqdm(range(0, POOL, 50), desc="teacher logits")])
print(f"{POOL} windows of {CTX} characters; teacher logits {pool_zt.numel() * 4 / 1e6:.0f} MB")


def lr_at(step: int) -> float:
    """Linear warm-up over the first tenth, then cosine decay to a tenth of LR."""
    warm = max(1, STEPS // 10)
    if step < warm:
        return LR * (step + 1) / warm
    frac = (step - warm) / max(1, STEPS - warm)
    return LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def train_student(distil: bool, seed: int = 0, shared: bool = False) -> tuple[TinyGPT, list[float], float]:
    """Train a fresh student (shared: one block, tied embeddings, §2); (model in eval mode, hard-label losses, s)."""
    torch.manual_seed(seed)
    student = TinyGPT(STUDENT)
    if shared:
        tie_embeddings(share_blocks(student))
    opt = torch.optim.AdamW(student.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    curve = []
    t0 = time.perf_counter()
    for step in tqdm(range(STEPS), desc="distil" if distil else "scratch", mininterval=1.0):
        rows = torch.randint(0, POOL, (BATCH,), generator=gen)
        x, y = pool_x[rows], pool_y[rows]  # (B, T) each
        z_s = student(x)  # (B, T, V)
        if distil:
            loss = distill_loss(z_s, pool_zt[rows], y, DISTIL_T, DISTIL_ALPHA)  # teacher logits (B, T, V)
        else:
            loss = F.cross_entropy(z_s.flatten(0, 1), y.flatten())
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        curve.append(F.cross_entropy(z_s.detach().flatten(0, 1), y.flatten()).item())
    return student.eval(), curve, time.perf_counter() - t0


def evaluate(model: nn.Module) -> dict[str, float]:
    """Held-out perplexity and exact task accuracy (copy, recall, add) of a model."""
    return {"ppl": perplexity(model, VAL_TEXT), **task_accuracies(model, n=N_TASK)}


student_kd, curve_kd, secs_kd = train_student(distil=True)
student_ce, curve_ce, secs_ce = train_student(distil=False)
scores = {"teacher (course GPT)": evaluate(teacher), "student, distilled": evaluate(student_kd),
          "student, from scratch": evaluate(student_ce)}
n_teacher, n_student = teacher.n_params(), student_kd.n_params()
print(f"teacher {n_teacher:,} parameters, student {n_student:,} ({n_student / n_teacher:.1%}); "
      f"{STEPS} steps of {BATCH}x{CTX} characters: distilled {secs_kd:.0f} s, scratch {secs_ce:.0f} s")
print(f"{'model':<24}{'val ppl':>9}{'copy':>7}{'recall':>8}{'add':>6}")
for name, r in scores.items():
    print(f"{name:<24}{r['ppl']:9.3f}{r['copy']:7.2f}{r['recall']:8.2f}{r['add']:6.2f}")

# %%
def smooth(xs: list[float], w: int = 20) -> list[float]:
    """Running mean over the last w values."""
    return [sum(xs[max(0, i - w + 1):i + 1]) / (i + 1 - max(0, i - w + 1)) for i in range(len(xs))]


fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(smooth(curve_ce), label="from scratch (hard labels)")
ax.plot(smooth(curve_kd), label=f"distilled (T={DISTIL_T:g}, alpha={DISTIL_ALPHA:g})")
ax.axhline(math.log(scores["teacher (course GPT)"]["ppl"]), color="gray", ls="--", label="teacher, held-out")
ax.set(xlabel="step", ylabel="training cross-entropy (nats)", title="Same student, same batches: two targets")
ax.legend()
plt.show()
gap = scores["student, from scratch"]["ppl"] - scores["student, distilled"]["ppl"]
print(f"held-out perplexity: distilled {scores['student, distilled']['ppl']:.3f}, from scratch "
      f"{scores['student, from scratch']['ppl']:.3f} ({'distillation ahead' if gap > 0 else 'scratch ahead'} "
      f"by {abs(gap):.3f}) after {STEPS} steps")

# %% [markdown]
# The table above is this run's result: read the perplexities and accuracies printed beside it (the line
# under the plot compares the two students). Both curves show the *hard-label* cross-entropy of the
# training batch, so they are comparable even though the distilled student optimises another loss. The
# teacher's distribution tells the student at every position how likely each alternative is, which is
# more information per training character than the one right character. How much that buys depends on
# the budget: with very few steps (the test size) neither student has learnt much and the comparison is
# noise; at the default size the distilled student should come out ahead on perplexity. The exact tasks
# (add, recall, copy) need precise attention patterns that a 2-layer, width-64 model learns slowly either
# way: give both runs more steps (`STEPS`) and watch which gap closes first.

# %% [markdown]
# ## 2. Parameter sharing
#
# ALBERT stores one Transformer block and applies it at every layer: a 12-layer model then holds the
# weights of one layer. Tied embeddings use the token embedding matrix `(V, C)` also as the output head,
# so the model holds one `(V, C)` matrix instead of two (GPT-2 does this). Both change what is *stored*,
# not how much is *computed*: a shared block still runs once per layer.
#
# "Really shared" means one tensor in memory, used in several places. Then autograd adds up the gradient
# from every use into that one tensor's `.grad`, and the optimizer updates it once. The popular wrong
# answer copies the weights (`copy.deepcopy(block)` or `load_state_dict`): the copies start equal, but
# they have separate storage and separate gradients, so the first optimizer step makes them drift apart,
# and the model is as large as before. A subtler wrong answer assigns `p_i.data = p_0.data`: the storage
# is shared, but the layers keep separate `Parameter` objects with separate gradients, so the optimizer
# applies several different updates to the same memory, and counting `model.parameters()` still counts
# every layer.

# %% [markdown]
# ### 2.1 One block for every layer (2 points)
#
# `share_blocks(model)` takes a `TinyGPT` and makes every layer use the **same** parameters as layer 0
# (layer 0's values are kept), in place; it returns the model. The forward pass must not change its form:
# it still loops over `model.blocks`.

# %% nbgrader={"grade": false, "grade_id": "share_blocks", "locked": false, "solution": true, "schema_version": 3}
def share_blocks(model: TinyGPT) -> TinyGPT:
    """Every entry of model.blocks uses block 0's parameters (one storage, gradients summed); returns model."""
    ### BEGIN SOLUTION
    first = model.blocks[0]
    model.blocks = nn.ModuleList([first for _ in model.blocks])
    return model
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "share_blocks_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.share_blocks(share_blocks)
### BEGIN HIDDEN TESTS
for _nl, _C, _seed in [(3, 16, 11), (5, 24, 12), (2, 8, 13)]:
    torch.manual_seed(_seed)
    _m = TinyGPT(GPTConfig(vocab_size=11, block_size=12, n_layer=_nl, n_head=2, d_model=_C))
    _b0 = {k: v.detach().clone() for k, v in _m.blocks[0].named_parameters()}
    _n_other = sum(p.numel() for n, p in _m.named_parameters() if not n.startswith("blocks."))
    _m = share_blocks(_m)
    assert isinstance(_m, TinyGPT) and len(_m.blocks) == _nl, "return the model, with all its layers"
    for _i in range(_nl):
        for _name, _p in _m.blocks[_i].named_parameters():
            assert torch.equal(_p, _b0[_name]), f"layer {_i} {_name}: keep layer 0's values"
            assert _p is dict(_m.blocks[0].named_parameters())[_name], (
                f"layer {_i} {_name} is a separate tensor from layer 0's: not shared (a copy?)")
    _per_block = sum(v.numel() for v in _b0.values())
    assert _m.n_params() == _n_other + _per_block, "model.parameters() should list the shared block once"
    # gradients of every use add up: compare with an unshared model holding equal copies
    _twin = copy.deepcopy(_m)
    _twin.blocks = nn.ModuleList(copy.deepcopy(_m.blocks[0]) for _ in range(_nl))
    _ids = torch.randint(0, 11, (2, 9))
    _m(_ids).square().sum().backward()
    _twin(_ids).square().sum().backward()
    for _name, _p in _m.blocks[0].named_parameters():
        _sum = sum(dict(_b.named_parameters())[_name].grad for _b in _twin.blocks)
        assert _p.grad is not None and torch.allclose(_p.grad, _sum, rtol=1e-4, atol=1e-6), (
            f"{_name}: the gradient should be the sum over the {_nl} layers that use it")
    # one optimizer step: the layers stay identical
    _opt = torch.optim.SGD(_m.parameters(), lr=0.5)
    _opt.step()
    for _i in range(1, _nl):
        for (_n0, _p0), (_, _pi) in zip(_m.blocks[0].named_parameters(), _m.blocks[_i].named_parameters(),
                                        strict=True):
            assert torch.equal(_p0, _pi), f"after a step layer {_i} {_n0} drifted from layer 0"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 Tied input and output embeddings (1 point)
#
# `tie_embeddings(model)`: make the output head use the token-embedding matrix, in place, and return the
# model. `model.tok_emb.weight` is `(V, C)`, and so is `model.head.weight` (torch's `nn.Linear` stores
# `(out, in)`), so no transpose is needed. Keep the embedding's values; the head keeps its own bias.

# %% nbgrader={"grade": false, "grade_id": "tie_embeddings", "locked": false, "solution": true, "schema_version": 3}
def tie_embeddings(model: TinyGPT) -> TinyGPT:
    """model.head.weight becomes model.tok_emb.weight (one Parameter); returns model."""
    ### BEGIN SOLUTION
    model.head.weight = model.tok_emb.weight
    return model
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "tie_embeddings_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distill_share.tie_embeddings(tie_embeddings)
### BEGIN HIDDEN TESTS
for _V, _C, _seed in [(13, 16, 21), (7, 8, 22)]:
    torch.manual_seed(_seed)
    _m = TinyGPT(GPTConfig(vocab_size=_V, block_size=10, n_layer=2, n_head=2, d_model=_C))
    _emb = _m.tok_emb.weight.detach().clone()
    _bias = _m.head.bias.detach().clone()
    _n0 = _m.n_params()
    _m = tie_embeddings(_m)
    assert torch.equal(_m.tok_emb.weight, _emb) and torch.equal(_m.head.weight, _emb), "keep the embedding values"
    assert torch.equal(_m.head.bias, _bias), "the head keeps its bias"
    assert _m.n_params() == _n0 - _V * _C, "model.parameters() should hold one (V, C) matrix, not two"
    _ids = torch.randint(0, _V, (2, 6))
    _up = torch.randn(2, 6, _V)
    (_m(_ids) * _up).sum().backward()
    # gradient = embedding-lookup part + head part, both in the one tensor
    _h = _m.ln_f(_m.blocks[1](_m.blocks[0](_m.tok_emb(_ids) + _m.pos_emb(torch.arange(6))))).detach()
    _head_part = torch.einsum("btv,btc->vc", _up, _h)
    _g = _m.tok_emb.weight.grad
    assert _g is not None and _m.head.weight.grad is _g, "head and embedding must share one gradient"
    assert not torch.allclose(_g, _head_part, atol=1e-6), "the embedding lookup's gradient is missing"
    _rows = torch.ones(_V, dtype=torch.bool)
    _rows[_ids.unique()] = False
    assert torch.allclose(_g[_rows], _head_part[_rows], atol=1e-5), "rows of unused tokens: head gradient only"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.3 Counting shared parameters once (2 points)
#
# `unique_parameters(model)` returns `(n_elements, n_bytes)` of the model's parameters, counting memory
# that is used several times **once**. Two parameters are the same memory when they are the same tensor,
# or when their data starts at the same address, `p.data_ptr()` (that catches the `.data` aliasing above
# too). Bytes use each tensor's own element size (`p.element_size()`: 4 for float32, 2 for bfloat16).
# Counting `model.state_dict()` is the popular wrong answer: a state dict lists a tied matrix under both of
# its names.

# %% nbgrader={"grade": false, "grade_id": "unique_parameters", "locked": false, "solution": true, "schema_version": 3}
def unique_parameters(model: nn.Module) -> tuple[int, int]:
    """(number of parameter elements, bytes), each piece of memory counted once."""
    ### BEGIN SOLUTION
    seen, n, nbytes = set(), 0, 0
    for _, p in model.named_parameters(remove_duplicate=False):
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        n += p.numel()
        nbytes += p.numel() * p.element_size()
    return n, nbytes
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "unique_parameters_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.unique_parameters(unique_parameters)
### BEGIN HIDDEN TESTS
torch.manual_seed(31)
_cfg = GPTConfig(vocab_size=9, block_size=8, n_layer=3, n_head=2, d_model=12)
_base = TinyGPT(_cfg)
_blk = sum(p.numel() for p in _base.blocks[0].parameters())
_full = sum(p.numel() for p in _base.parameters())
_emb = 9 * 12
# plain model
assert tuple(unique_parameters(_base)) == (_full, 4 * _full), "a model without sharing"
# tied embeddings
_m = copy.deepcopy(_base)
_m.head.weight = _m.tok_emb.weight
assert tuple(unique_parameters(_m)) == (_full - _emb, 4 * (_full - _emb)), "tied embeddings: count the matrix once"
# shared blocks (same module in the list) and tied
_m.blocks = nn.ModuleList([_m.blocks[0]] * 3)
_n = _full - _emb - 2 * _blk
assert tuple(unique_parameters(_m)) == (_n, 4 * _n), "shared blocks and tied embeddings"
# aliasing through .data: separate Parameter objects over the same memory
_m = copy.deepcopy(_base)
for _i in (1, 2):
    for _p0, _pi in zip(_m.blocks[0].parameters(), _m.blocks[_i].parameters(), strict=True):
        _pi.data = _p0.data
_n = _full - 2 * _blk
assert tuple(unique_parameters(_m)) == (_n, 4 * _n), "parameters aliasing one storage (.data) count once"
# blocks with the same shapes but their own memory are NOT shared; bf16 parameters take 2 bytes
_m = copy.deepcopy(_base)
_m.blocks[2].to(torch.bfloat16)
assert tuple(unique_parameters(_m)) == (_full, 4 * _full - 2 * _blk), "count bytes with each tensor's dtype"
# a module with one parameter registered under three names
_lin = nn.Linear(5, 5, bias=False)
_seq = nn.Sequential(_lin, nn.ReLU(), _lin, _lin)
assert tuple(unique_parameters(_seq)) == (25, 100), "one Linear used three times"
### END HIDDEN TESTS

# %% [markdown]
# What does sharing buy on the course GPT's shape? Count it with your function: the checkpoint as it is,
# with tied embeddings, with one block for all four layers, and both. (Sharing an already trained model's
# blocks would throw three of them away; a shared model is trained shared from the start, as ALBERT is.)

# %%
variants_share = {"course GPT": load_checkpoint(), "tied embeddings": tie_embeddings(load_checkpoint()),
                  "shared blocks": share_blocks(load_checkpoint()),
                  "shared + tied": tie_embeddings(share_blocks(load_checkpoint()))}
n_full, bytes_full = unique_parameters(variants_share["course GPT"])
for name, m in variants_share.items():
    n_u, b_u = unique_parameters(m)
    print(f"{name:<18}{n_u:>10,} parameters {b_u / 1e6:7.3f} MB  ({b_u / bytes_full:.0%})")

# %% [markdown]
# ## 3. Speculative decoding
#
# Decoding one token needs one pass of the large model over everything before it. A pass over `k + 1`
# positions costs not much more than a pass over one on a machine that is bound by reading the weights
# (module 06) or, as on these CPUs for a model this small, by the fixed cost of a forward call. Speculative
# decoding exploits that: a small *draft* model proposes `k` tokens one by one (cheap), and one pass of the
# *target* model scores all of them at once. Then, for each draft token `x_i` in order, with the target's
# probabilities `p_i` and the draft's `q_i` at that position:
#
# 1. accept `x_i` with probability `min(1, p_i(x_i) / q_i(x_i))`;
# 2. at the first rejection, discard the rest of the draft and sample one token from the **residual**
#    `norm(max(0, p_i − q_i))`, then stop the round;
# 3. if all `k` drafts are accepted, sample one **bonus** token from the target's next distribution
#    `p_k`, which the same target pass already computed.
#
# Every round yields between 1 and `k + 1` tokens for one target pass. The output is distributed
# *exactly* as sampling from the target alone: a token `y` comes out either as an accepted draft, with
# probability `q(y) · min(1, p(y)/q(y)) = min(q(y), p(y))`, or after a rejection, with probability
# `(1 − Σ_x min(p(x), q(x))) · max(0, p(y) − q(y)) / Σ_x max(0, p(x) − q(x))`; the two normalisers are
# equal, so the sum is `min(p, q) + max(0, p − q) = p(y)`. Resampling from `p` instead of the residual
# counts the tokens the draft already proposed twice, and `p/q` without the `min` is not a probability.

# %% [markdown]
# ### 3.1 Acceptance probabilities (1 point)
#
# `accept_probs(p, q, tokens)`: `p` and `q` are `(k, V)` probability rows (target and draft at the `k`
# drafted positions), `tokens` the `k` drafted ids. Return the `k` probabilities `min(1, p_i(x_i) /
# q_i(x_i))` as a float tensor. Where `q_i(x_i) = 0` (the draft could not have proposed `x_i`; defined for
# completeness) return 1.

# %% nbgrader={"grade": false, "grade_id": "accept_probs", "locked": false, "solution": true, "schema_version": 3}
def accept_probs(p: torch.Tensor, q: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """p, q (k, V), tokens (k,) int64 -> (k,) min(1, p[i, x_i] / q[i, x_i]); 1 where q[i, x_i] == 0."""
    ### BEGIN SOLUTION
    rows = torch.arange(len(tokens))
    pt, qt = p[rows, tokens], q[rows, tokens]  # (k,) each
    ratio = pt / torch.where(qt > 0, qt, torch.ones_like(qt))
    return torch.where(qt > 0, torch.clamp(ratio, max=1.0), torch.ones_like(ratio))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "accept_probs_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distill_share.accept_probs(accept_probs)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1131)
for _k, _V in [(1, 2), (4, 7), (6, 33)]:
    _p = torch.softmax(torch.randn(_k, _V, generator=_g, dtype=torch.float64) * 3, -1)
    _q = torch.softmax(torch.randn(_k, _V, generator=_g, dtype=torch.float64) * 3, -1)
    _x = torch.randint(0, _V, (_k,), generator=_g)
    _r = torch.arange(_k)
    _exp = torch.clamp(_p[_r, _x] / _q[_r, _x], max=1.0)
    _got = accept_probs(_p, _q, _x)
    assert torch.is_tensor(_got) and _got.shape == (_k,), f"k={_k}: return shape ({_k},)"
    assert torch.allclose(_got.double(), _exp, atol=1e-12), f"k={_k}, V={_V}: expected {_exp}, got {_got}"
    assert ((_got >= 0) & (_got <= 1)).all(), "probabilities lie in [0, 1]: did you forget the min?"
# p == q exactly: always accept; p == 0 at the token: never; q == 0 at the token: 1 by definition
_p = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.0, 0.5], [0.3, 0.3, 0.4]])
_q = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.5, 0.0], [0.6, 0.0, 0.4]])
_got = accept_probs(_p, _q, torch.tensor([1, 1, 1]))
assert torch.isfinite(_got).all(), "q(x) == 0 must not give inf or NaN"
assert torch.allclose(_got, torch.tensor([1.0, 0.0, 1.0])), f"p == q, p(x) == 0, q(x) == 0 cases: got {_got}"
_got = accept_probs(_p, _q, torch.tensor([2, 1, 0]))  # p(x) == q(x) == 0 in the first row: 1 by definition
assert torch.isfinite(_got).all() and torch.allclose(_got, torch.tensor([1.0, 0.0, 0.5])), (
    f"where q(x) == 0 return 1, also when p(x) == 0 (no 0/0 NaN): got {_got}")
### END HIDDEN TESTS

# %% [markdown]
# ### 3.2 The residual distribution (2 points)
#
# `residual_dist(p, q)`: `p`, `q` of shape `(..., V)`, probability rows. Return `max(0, p − q)` normalised
# to sum to 1 along the last axis. Where `q` is 0 and `p` is not, the residual is `p` there (before
# normalising). A row with `p == q` exactly has an all-zero residual; a rejection can never happen there,
# and we define the result as `p` for that row (no NaN).

# %% nbgrader={"grade": false, "grade_id": "residual_dist", "locked": false, "solution": true, "schema_version": 3}
def residual_dist(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """p, q (..., V) probabilities -> norm(max(0, p - q)) over the last axis; p where that is all zero."""
    ### BEGIN SOLUTION
    r = torch.clamp(p - q, min=0.0)  # (..., V)
    total = r.sum(dim=-1, keepdim=True)  # (..., 1)
    return torch.where(total > 0, r / torch.where(total > 0, total, torch.ones_like(total)), p)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "residual_dist_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.residual_dist(residual_dist)
### BEGIN HIDDEN TESTS
def _ref_res(p, q):
    r = (p - q).clamp(min=0)
    s = r.sum(-1, keepdim=True)
    return torch.where(s > 0, r / s.clamp(min=1e-300), p)


_g = torch.Generator().manual_seed(1132)
for _shape in [(5,), (3, 7), (2, 4, 33), (1, 2)]:
    _p = torch.softmax(torch.randn(*_shape, generator=_g, dtype=torch.float64) * 2, -1)
    _q = torch.softmax(torch.randn(*_shape, generator=_g, dtype=torch.float64) * 2, -1)
    _got = residual_dist(_p, _q)
    assert _got.shape == _p.shape, f"shape {_shape}: keep the shape"
    assert torch.allclose(_got, _ref_res(_p, _q), atol=1e-12), f"shape {_shape}: wrong values"
    assert torch.allclose(_got.sum(-1), torch.ones(_shape[:-1], dtype=_got.dtype)), "rows must sum to 1"
    assert ((_got == 0) | (_p > _q)).all(), "tokens with p <= q must get 0"
# q with zeros where p > 0, one row equal to p exactly, one with q concentrated on one token, odd V = 5
_p = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.0], [0.25, 0.25, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.2, 0.2]])
_q = torch.tensor([[0.0, 0.5, 0.0, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]])
_got = residual_dist(_p, _q)
assert torch.isfinite(_got).all(), "a row with p == q must not give NaN"
_exp = torch.tensor([[0.25, 0.0, 0.75, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25, 0.0], [1 / 7, 2 / 7, 0.0, 2 / 7, 2 / 7]])
assert torch.allclose(_got, _exp, atol=1e-6), f"expected\n{_exp}\ngot\n{_got}"
# the identity that makes speculative decoding exact: min(p, q) + (1 - sum min(p, q)) * residual == p
_p = torch.softmax(torch.randn(4, 9, generator=_g, dtype=torch.float64), -1)
_q = torch.softmax(torch.randn(4, 9, generator=_g, dtype=torch.float64), -1)
_mass = torch.minimum(_p, _q)
_mix = _mass + (1 - _mass.sum(-1, keepdim=True)) * residual_dist(_p, _q)
assert torch.allclose(_mix, _p, atol=1e-12), "accepted mass + rejected mass * residual must equal p"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.3 One verification round (2 points)
#
# `verify(p, q, drafts, gen)`: `drafts` holds `k` token ids sampled from the draft model, `q` `(k, V)` the
# draft's probabilities they were sampled from, and `p` `(k + 1, V)` the target's probabilities at the
# same positions **plus one more** (the target's distribution after the last draft). Go through the drafts
# in order: draw `u = torch.rand((), generator=gen)` and accept `x_i` when `u < accept_probs(...)[i]`; at
# the first rejection append one token sampled from `residual_dist(p[i], q[i])` and stop; if all `k` are
# accepted, append one bonus token sampled from `p[k]`. Sample with `torch.multinomial(dist, 1,
# generator=gen)`. Return the list of new token ids (Python ints), between 1 and `k + 1` of them.

# %% nbgrader={"grade": false, "grade_id": "verify", "locked": false, "solution": true, "schema_version": 3}
def verify(p: torch.Tensor, q: torch.Tensor, drafts: torch.Tensor, gen: torch.Generator) -> list[int]:
    """p (k+1, V), q (k, V), drafts (k,) -> accepted drafts plus one resampled or bonus token (Python ints)."""
    ### BEGIN SOLUTION
    k = len(drafts)
    acc = accept_probs(p[:k], q, drafts)  # (k,)
    out = []
    for i in range(k):
        if torch.rand((), generator=gen) < acc[i]:
            out.append(int(drafts[i]))
        else:
            out.append(int(torch.multinomial(residual_dist(p[i], q[i]), 1, generator=gen)))
            return out
    out.append(int(torch.multinomial(p[k], 1, generator=gen)))  # bonus: every draft was accepted
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "verify_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.verify(verify)
### BEGIN HIDDEN TESTS
_gen = torch.Generator().manual_seed(1133)
# k = 1, V = 3: the first output token must be distributed as p[0] when the draft comes from q[0]
_p = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64)
_q = torch.tensor([[0.1, 0.2, 0.7]], dtype=torch.float64)
_N = 6000
_first = torch.zeros(3)
_pairs = torch.zeros(3, 3)
_lens = []
for _ in range(_N):
    _x = torch.multinomial(_q[0], 1, generator=_gen)
    _out = verify(_p, _q, _x, _gen)
    assert isinstance(_out, list) and 1 <= len(_out) <= 2, f"k = 1: return 1 or 2 tokens, got {_out}"
    _first[_out[0]] += 1
    _lens.append(len(_out))
    if len(_out) == 2:
        _pairs[_out[0], _out[1]] += 1
_chi2 = (((_first - _N * _p[0].float()) ** 2) / (_N * _p[0].float())).sum().item()
assert _chi2 < 18.4, (  # chi-square, 2 degrees of freedom, p-value 1e-4
    f"first token counts {_first.tolist()} for p = {_p[0].tolist()} (chi-square {_chi2:.1f}): not distributed as p")
# acceptance rate: sum_x min(p, q) = 0.1 + 0.2 + 0.2 = 0.5
_rate = sum(_n == 2 for _n in _lens) / _N
assert abs(_rate - 0.5) < 0.03, f"acceptance rate {_rate:.3f}, expected 0.5 = sum(min(p, q))"
# after an accepted draft the bonus token follows p[1]
_bonus = _pairs.sum(0)
_chi2 = (((_bonus - _bonus.sum() * _p[1].float()) ** 2) / (_bonus.sum() * _p[1].float())).sum().item()
assert _chi2 < 18.4, f"bonus tokens {_bonus.tolist()} are not distributed as p[k] = {_p[1].tolist()}"
# deterministic cases: q == p never rejects and always adds a bonus; p(x) == 0 always rejects
_p = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
assert verify(_p, _p[:3].clone(), torch.tensor([1, 1, 2]), _gen) == [1, 1, 2, 0], "all accepted: drafts + bonus"
_q = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
for _ in range(20):
    assert verify(_p, _q, torch.tensor([0, 1, 2]), _gen) == [1], "p(x0) == 0: reject, resample from the residual"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.4 The speculative decoding loop (3 points)
#
# `speculative_decode(target, draft, prompt, n_new, k, gen)`. `target` and `draft` are callables (a
# `TinyGPT` is one) that map token ids `(T,)` to logits `(T, V)`. Starting from `prompt` (1-D int64),
# repeat rounds until `n_new` tokens are added: draft `k` tokens one at a time, each sampled with
# `torch.multinomial(softmax(draft logits at the last position), 1, generator=gen)` and appended before the
# next draft call; run the target **once** on the prompt-so-far plus all `k` drafts and take `softmax` of
# its last `k + 1` rows as `p`; extend the sequence by `verify(p, q, drafts, gen)`. Keep the first
# `len(prompt) + n_new` tokens at the end. Return `(ids, n_accepted, n_drafted)`: the final `(len(prompt) +
# n_new,)` int64 tensor, the number of drafts accepted and drafted in all rounds. Logits go through
# `torch.softmax(logits.double(), -1)` on both models (float64 sums avoid `multinomial` errors on
# probabilities that sum to 1 − 1e-7).

# %% nbgrader={"grade": false, "grade_id": "speculative_decode", "locked": false, "solution": true, "schema_version": 3}
@torch.no_grad()
def speculative_decode(target, draft, prompt: torch.Tensor, n_new: int, k: int,
                       gen: torch.Generator) -> tuple[torch.Tensor, int, int]:
    """Sample n_new tokens from target, drafting k per round with draft -> (ids, n_accepted, n_drafted)."""
    ### BEGIN SOLUTION
    ids = prompt.clone()
    n_acc = n_drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq, q_rows = ids, []
        for _ in range(k):
            q_i = torch.softmax(draft(seq)[-1].double(), -1)  # (V,)
            x = torch.multinomial(q_i, 1, generator=gen)  # (1,)
            q_rows.append(q_i)
            seq = torch.cat([seq, x])
        p = torch.softmax(target(seq)[-k - 1:].double(), -1)  # (k + 1, V)
        new = verify(p, torch.stack(q_rows), seq[len(ids):], gen)
        n_acc += len(new) - 1 if len(new) <= k else k
        n_drafted += k
        ids = torch.cat([ids, torch.tensor(new, dtype=ids.dtype)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "speculative_decode_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.distill_share.speculative_decode(speculative_decode)
### BEGIN HIDDEN TESTS
def _bigram(table):
    """A toy model: logits of position t depend only on the token at t."""
    table = torch.as_tensor(table, dtype=torch.float64)
    return lambda ids: table[ids]


# target and draft bigram models on V = 3; sequences of 3 new tokens after prompt [0]
_tp = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.7, 0.2]], dtype=torch.float64)
_dp = torch.tensor([[0.2, 0.4, 0.4], [0.5, 0.3, 0.2], [0.34, 0.33, 0.33]], dtype=torch.float64)
_target, _draft = _bigram(_tp.log()), _bigram(_dp.log())
_exact = torch.zeros(3, 3, 3, dtype=torch.float64)
for _a in range(3):
    for _b in range(3):
        for _c in range(3):
            _exact[_a, _b, _c] = _tp[0, _a] * _tp[_a, _b] * _tp[_b, _c]
for _k in (1, 3):
    _gen = torch.Generator().manual_seed(1134 + _k)
    _N = 3000
    _counts = torch.zeros(27, dtype=torch.float64)
    _acc = _dr = 0
    for _ in range(_N):
        _ids, _na, _nd = speculative_decode(_target, _draft, torch.tensor([0]), 3, _k, _gen)
        assert _ids.shape == (4,) and _ids[0] == 0, f"k={_k}: return the prompt and exactly n_new tokens"
        _counts[int(_ids[1]) * 9 + int(_ids[2]) * 3 + int(_ids[3])] += 1
        _acc, _dr = _acc + _na, _dr + _nd
    _e = _N * _exact.flatten()
    _chi2 = (((_counts - _e) ** 2) / _e).sum().item()
    _tv = 0.5 * (_counts / _N - _exact.flatten()).abs().sum().item()
    assert _chi2 < 61.6, (  # chi-square with 26 degrees of freedom: P(X > 61.66) = 1e-4
        f"k={_k}: the 3-token sequences are not distributed as the target's (chi-square {_chi2:.1f} over 27 "
        f"outcomes, total variation {_tv:.3f})")
    assert 0 < _acc < _dr and _dr % _k == 0, f"k={_k}: accepted {_acc} of {_dr} drafted"
# a draft equal to the target accepts everything: one target call per k + 1 tokens (the bonus token)
_calls = []


def _counting(ids):
    _calls.append(len(ids))
    return _target(ids)


_ids, _na, _nd = speculative_decode(_counting, _target, torch.tensor([1, 2]), 9, 2, torch.Generator().manual_seed(5))
assert len(_calls) == 3 and _na == _nd == 6, (
    f"draft == target, k = 2, 9 new tokens: expected 3 target calls (3 tokens each), got {len(_calls)}; "
    f"accepted {_na} of {_nd}: is the bonus token used?")
assert _calls == [4, 7, 10], f"the target should see prompt-so-far + k drafts, saw lengths {_calls}"
### END HIDDEN TESTS

# %% [markdown]
# **Exact in distribution: a test you can run.** Two toy "bigram" models over a vocabulary of 3 (the
# logits after token `i` are row `i` of a table) play target and draft. The exact probability of every
# 3-token continuation under the target is a product of three table entries, so we can compare the
# histogram of many speculative samples with it: the chi-square statistic (26 degrees of freedom for 27
# outcomes; the cell prints the value a correct sampler exceeds only once in 10 000 tries) and the
# total-variation distance. For scale, the same
# numbers for plain sampling from the target with the same number of runs show how large pure sampling
# noise is. The hidden test of §3.4 does this with other tables and seeds.

# %%
toy_target = torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.7, 0.2]], dtype=torch.float64)
toy_draft = torch.tensor([[0.3, 0.3, 0.4], [0.4, 0.4, 0.2], [0.3, 0.4, 0.3]], dtype=torch.float64)
exact = torch.einsum("a,ab,bc->abc", toy_target[0], toy_target, toy_target).flatten()  # (27,) after prompt [0]
N_TOY = env.size(3000, 300)


def toy_histogram(sample_one) -> torch.Tensor:
    """Counts of the 27 possible 3-token continuations over N_TOY calls of sample_one() -> ids (4,)."""
    counts = torch.zeros(27, dtype=torch.float64)
    for _ in range(N_TOY):
        ids = sample_one()
        counts[int(ids[1]) * 9 + int(ids[2]) * 3 + int(ids[3])] += 1
    return counts


def chi2_tv(counts: torch.Tensor) -> tuple[float, float]:
    """Chi-square against N_TOY * exact, and the total-variation distance of the frequencies from exact."""
    e = N_TOY * exact
    return float(((counts - e) ** 2 / e).sum()), float(0.5 * (counts / N_TOY - exact).abs().sum())


toy_gen = torch.Generator().manual_seed(0)
spec_counts = toy_histogram(lambda: speculative_decode(lambda ids: toy_target.log()[ids], lambda ids: toy_draft.log()[ids],
                                                       torch.tensor([0]), 3, 2, toy_gen)[0])


def direct_sample() -> torch.Tensor:
    """Three tokens sampled from the target alone."""
    ids = [0]
    for _ in range(3):
        ids.append(int(torch.multinomial(toy_target[ids[-1]], 1, generator=toy_gen)))
    return torch.tensor(ids)


def chi2_quantile(dof: int, p_value: float) -> float:
    """x with P(chi-square(dof) > x) = p_value, by bisection on the regularised upper incomplete gamma."""
    lo, hi = 0.0, 1000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        tail = torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(mid / 2, dtype=torch.float64))
        lo, hi = (mid, hi) if tail > p_value else (lo, mid)
    return lo


print(f"chi-square with 26 degrees of freedom exceeds {chi2_quantile(26, 1e-4):.1f} with probability 1e-4")
for label, counts in (("speculative, k = 2", spec_counts), ("target alone", toy_histogram(direct_sample))):
    chi2, tv = chi2_tv(counts)
    print(f"{label:<20} chi-square {chi2:6.1f} (26 dof)   total variation {tv:.3f}   ({N_TOY} runs)")

# %% [markdown]
# The course GPT as the target and the distilled student as the draft: draw a few samples and read the
# acceptance rate (accepted / drafted) for several `k`. A rate near 1 means the student predicts the
# teacher's distribution well; each round then yields close to `k + 1` tokens.

# %%
prompt_text = "\nthe brave fox "
prompt_ids = torch.as_tensor(tok.encode(prompt_text))
N_SAMPLE = env.size(48, 12)
for k_demo in (1, 2, 4):
    out, n_acc, n_dr = speculative_decode(teacher, student_kd, prompt_ids, N_SAMPLE, k_demo,
                                          torch.Generator().manual_seed(k_demo))
    print(f"k={k_demo}: accepted {n_acc}/{n_dr} drafts ({n_acc / n_dr:.0%})   "
          f"{tok.decode(out[len(prompt_ids):].tolist())!r}")

# %% [markdown]
# ### 3.5 Greedy speculative decoding (2 points)
#
# With greedy decoding there is nothing to sample: the draft proposes its `k` argmax tokens, the target's
# argmax at each position decides, the first mismatch is replaced by the target's argmax (the residual of
# two one-hot distributions is the target's one-hot), and a full match earns the target's argmax after
# the last draft as the bonus. The output must equal plain greedy decoding of the target token for token.
# `speculative_greedy(target, draft, prompt, n_new, k)` returns `(ids, n_accepted, n_drafted)` like §3.4.

# %% nbgrader={"grade": false, "grade_id": "speculative_greedy", "locked": false, "solution": true, "schema_version": 3}
@torch.no_grad()
def speculative_greedy(target, draft, prompt: torch.Tensor, n_new: int, k: int) -> tuple[torch.Tensor, int, int]:
    """Greedy decoding of target accelerated by draft; equal to plain greedy -> (ids, n_accepted, n_drafted)."""
    ### BEGIN SOLUTION
    ids = prompt.clone()
    n_acc = n_drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq = ids
        for _ in range(k):
            seq = torch.cat([seq, draft(seq)[-1].argmax().view(1)])
        best = target(seq)[-k - 1:].argmax(dim=-1)  # (k + 1,) the target's choice at every position
        drafts = seq[len(ids):]  # (k,)
        n = 0
        while n < k and drafts[n] == best[n]:
            n += 1
        n_acc, n_drafted = n_acc + n, n_drafted + k
        ids = torch.cat([ids, drafts[:n], best[n].view(1)])  # accepted drafts, then a correction or the bonus
    return ids[:len(prompt) + n_new], n_acc, n_drafted
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "speculative_greedy_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distill_share.speculative_greedy(speculative_greedy)
### BEGIN HIDDEN TESTS
@torch.no_grad()
def _plain_greedy(model, prompt, n_new):
    ids = prompt.clone()
    for _ in range(n_new):
        ids = torch.cat([ids, model(ids)[-1].argmax().view(1)])
    return ids


_course = load_checkpoint()
_rand = TinyGPT(GPTConfig(n_layer=1, n_head=2, d_model=16))
_noisy = load_checkpoint()  # a draft that agrees with the target often, but not always
torch.manual_seed(1135)
with torch.no_grad():
    for _p in _noisy.parameters():
        _p.add_(0.1 * torch.randn_like(_p))
for _k, _n, _drf in [(1, 7, _noisy), (3, 17, _noisy), (5, 11, _rand), (4, 1, _noisy), (2, 13, _course)]:
    _pr = torch.as_tensor(tok.encode("\nrecall a=1 b=7 c=3 ? b="))
    _exp = _plain_greedy(_course, _pr, _n)
    _got, _na, _nd = speculative_greedy(_course, _drf, _pr, _n, _k)
    assert torch.equal(_got, _exp), f"k={_k}, {_n} new tokens: differs from plain greedy decoding"
    assert 0 <= _na <= _nd and _nd % _k == 0, f"k={_k}: accepted {_na} of {_nd}"
# toy bigram target with ties broken by argmax's first index; draft == target gets the bonus every round
_tbl = torch.tensor([[0.0, 2.0, 2.0, -1.0], [3.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 5.0], [1.0, 1.0, 1.0, 1.0]])
_calls = []


def _tgt(ids):
    _calls.append(len(ids))
    return _tbl[ids]


_got, _na, _nd = speculative_greedy(_tgt, lambda ids: _tbl[ids], torch.tensor([2]), 9, 4)
assert torch.equal(_got, _plain_greedy(lambda ids: _tbl[ids], torch.tensor([2]), 9)), (
    "toy model, 9 new tokens: not greedy (two rounds of 5 give 10: keep only the first 9)")
assert len(_calls) == 2 and _na == 8, f"draft == target, k=4, 9 tokens: 2 target passes expected, saw {len(_calls)}"
# a draft that is always wrong still gives the right tokens, one per round
_calls.clear()
_got, _na, _nd = speculative_greedy(_tgt, lambda ids: -_tbl[ids], torch.tensor([0]), 6, 2)
assert torch.equal(_got, _plain_greedy(lambda ids: _tbl[ids], torch.tensor([0]), 6)) and _na == 0
### END HIDDEN TESTS

# %% [markdown]
# ### Speed: does it pay here?
#
# Both loops below recompute the whole context on every call (no KV cache, as in `llmcourse.model.
# generate`), so the comparison is like for like. Plain greedy decoding costs one target call per token.
# A speculative round costs `k` draft calls and one target call and yields `1 + (accepted drafts)` tokens.
# With `c` the cost of a draft call relative to a target call and an acceptance rate `a` that is the same
# at every position, a round yields `(1 − a^(k+1)) / (1 − a)` tokens on average at the cost of `k·c + 1`
# target calls, so the speed-up is their ratio. The cell measures `c`, the tokens each round really
# yielded (accepted drafts plus one, averaged over the rounds: this needs no assumption about `a`) and
# the speed-up side by side (round-robin, median of per-round ratios, `llmcourse.bench.compare`), and
# prints the prediction, tokens per round / (k c + 1), next to the measurement. The column "drafts
# accepted" is accepted / drafted; it is lower than the per-position rate `a`, because the drafts after a
# rejection count as drafted but never get a chance.

# %%
@torch.no_grad()
def plain_greedy(model, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding, recomputing the whole context for every token: (len(prompt) + n_new,)."""
    ids = prompt.clone()
    for _ in range(n_new):
        ids = torch.cat([ids, model(ids)[-1].argmax().view(1)])
    return ids


spec_prompt = torch.as_tensor(tok.encode(load_corpus("val")[:40]))
N_SPEC = env.size(64, 12)
ref_tokens = plain_greedy(teacher, spec_prompt, N_SPEC)
ctx_mid = ref_tokens[:len(spec_prompt) + N_SPEC // 2]  # a context of middle length
call_cost = bench.compare({"target call": lambda: teacher(ctx_mid), "draft call": lambda: student_kd(ctx_mid)},
                          rounds=env.size(15, 3), prime=2, number=env.size(10, 2))
c_ratio = 1 / call_cost.ratio("draft call")
print(f"a draft call costs {c_ratio:.2f} of a target call at {len(ctx_mid)} tokens of context")
spec_rows = []
for k_spec in (1, 2, 4, 6):
    got, n_acc, n_dr = speculative_greedy(teacher, student_kd, spec_prompt, N_SPEC, k_spec)
    assert torch.equal(got, ref_tokens), "speculative greedy must equal plain greedy"
    timing = bench.compare({"plain": lambda: plain_greedy(teacher, spec_prompt, N_SPEC),
                            "speculative": lambda k_spec=k_spec: speculative_greedy(teacher, student_kd, spec_prompt,
                                                                                    N_SPEC, k_spec)},
                           rounds=env.size(5, 1), warmup=1)
    rounds = n_dr // k_spec
    per_round = (n_acc + rounds) / rounds  # tokens per target call: accepted drafts + 1 per round
    predicted = per_round / (k_spec * c_ratio + 1)
    spec_rows.append((k_spec, n_acc / n_dr, per_round, predicted, timing.ratio("speculative")))
print(f"{'k':>3}{'drafts accepted':>17}{'tokens/round':>14}{'predicted':>11}{'measured':>10}")
for k_spec, frac, per_round, predicted, measured in spec_rows:
    print(f"{k_spec:3d}{frac:17.2f}{per_round:14.2f}{predicted:10.2f}x{measured:9.2f}x")

# %% [markdown]
# Read the printed rows. In greedy mode a draft is accepted when the student's argmax equals the
# teacher's. Two things limit the gain on a CPU with a model this small. First, `c`: the student has a
# seventh of the teacher's parameters, but a forward call costs more than a seventh, because part of a
# call's time is fixed overhead (Python, operator dispatch), not arithmetic on weights. Second, the
# acceptance rate falls along a draft: the further the student guesses ahead, the likelier one guess
# differs, so a large `k` mostly adds draft calls that are thrown away. Where the measured speed-up
# differs from the prediction, the verification pass is the usual reason: it runs `k` more positions
# than a plain step, which the prediction prices at nothing. With a KV cache (module 05) plain decoding
# gets cheaper per step, and verification must also roll the cache back after a rejection. On an
# accelerator with a large target (both papers measured on TPU v4: Leviathan et al. with T5-XXL, Chen et
# al. with Chinchilla 70B) a call is bound by reading the weights, a draft call costs a small fraction of
# a target call, and the same formula explains the 2 to 3× speed-ups they report.

# %% [markdown]
# ## 4. A compression table
#
# One table for the compressed versions of the course GPT, one row per method of modules 07 to 11: bytes
# of weights, held-out perplexity, task accuracy and greedy decode speed. The compressed models are built
# with library calls (torch's quantization, pruning, sparse and SVD routines), not with your answers to
# modules 07, 09 and 10, so this section runs whether or not you did those.
#
# A model is worth keeping when no other model is at least as small *and* at least as good: those models
# form the **Pareto front**.

# %% [markdown]
# ### 4.1 The Pareto front (1 point)
#
# `pareto_front(rows)`: `rows` is a list of `(name, n_bytes, ppl)`. Return the names of the rows that no
# other row dominates, in the order of `rows`. Row `b` dominates row `a` when `b`'s bytes ≤ `a`'s and `b`'s
# perplexity ≤ `a`'s, with at least one of the two strictly smaller. Two rows with equal bytes and equal
# perplexity do not dominate each other: both stay.

# %% nbgrader={"grade": false, "grade_id": "pareto_front", "locked": false, "solution": true, "schema_version": 3}
def pareto_front(rows: list[tuple[str, float, float]]) -> list[str]:
    """rows (name, bytes, ppl) -> names of the non-dominated rows, in input order."""
    ### BEGIN SOLUTION
    keep = []
    for name, nb, ppl in rows:
        dominated = any(b2 <= nb and p2 <= ppl and (b2 < nb or p2 < ppl) for _, b2, p2 in rows)
        if not dominated:
            keep.append(name)
    return keep
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pareto_front_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distill_share.pareto_front(pareto_front)
### BEGIN HIDDEN TESTS
import random as _random


def _ref_front(rows):
    return [n for n, b, p in rows if not any(b2 <= b and p2 <= p and (b2 < b or p2 < p) for _, b2, p2 in rows)]


_rnd = _random.Random(1141)
for _case in range(40):
    _n = _rnd.randint(1, 9)
    _rows = [(f"m{_i}", float(_rnd.choice([1, 2, 3, 4, 5])), float(_rnd.choice([1.5, 1.7, 1.9, 2.5])))
             for _i in range(_n)]
    assert list(pareto_front(list(_rows))) == _ref_front(_rows), f"rows {_rows}: expected {_ref_front(_rows)}"
assert pareto_front([]) == [], "no rows, no front"
assert list(pareto_front([("a", 1e9, 1.7), ("b", 1e9, 1.7)])) == ["a", "b"], "exact ties both stay"
### END HIDDEN TESTS

# %% [markdown]
# Build the rows. Each row is a model that really stores its weights the way the bytes column counts
# them, and its speed is measured on that model, except where the table says `sim.`:
#
# * **int8 (module 07)**: `torch.ao.quantization.quantize_dynamic` with per-channel weight scales on every
#   block linear. It stores int8 weights (one float32 scale per output row; the zero points are all 0,
#   symmetric, so they cost nothing), quantizes the activations per tensor at run time and multiplies in
#   int8 with torch's quantized CPU engine (`torch.backends.quantized.engine`, printed below). That is the
#   W8A8 dynamic scheme of module 07, not its weight-only kernels, so perplexity moves a little more.
# * **int4 (module 07)**: *simulated*. Torch has no public int4 matmul for the CPU, so the weights are
#   rounded to 4 bits per output channel (`torch.fake_quantize_per_channel_affine`) and stored as float32
#   again: perplexity and accuracy are those of the int4 model, the bytes are what packed nibbles plus
#   scales would take, and the speed is not measured (module 07's Numba kernels measure it).
# * **pruned (module 09)**: `torch.nn.utils.prune.l1_unstructured` removes the smaller half of every block
#   linear by magnitude, per tensor, then each weight is stored as CSR (`torch.sparse_csr_tensor` with
#   32-bit indices) and multiplied with `torch.sparse.mm`. Bytes count the values, the column indices and
#   the row pointers. (2:4 semi-structured sparsity is left out: torch's `to_sparse_semi_structured` accepts
#   CUDA tensors only, so on a CPU it would be another simulated row.)
# * **low rank (module 10)**: each MLP weight `W (out, in)` is replaced by two thinner linears
#   `W ≈ (U S)(Vᵀ)` of rank `LOW_RANK`, from `torch.svd_lowrank`; attention stays dense.
# * the distilled, from-scratch and shared students of §1 and §2, as they are.
#
# Speed is greedy decoding of 32 tokens relative to the fp32 course GPT, timed round-robin in this run
# (`bench.compare`, ratio > 1 is faster). At this size (width 128, one token per step, one thread) a step
# costs about as much in Python and call overhead as in arithmetic, so the ratios say which formats carry
# overhead, not what they would do for a model whose weights fill the memory bus.

# %%
LOW_RANK = 64  # rank of each factorised MLP weight (the MLP matrices are 128 x 512)


def block_linears(model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, linear) for every nn.Linear inside the blocks (not the embeddings or the head)."""
    return [(parent, name, child) for parent in model.blocks.modules()
            for name, child in parent.named_children() if isinstance(child, nn.Linear)]


def quantized_copy(bits: int) -> tuple[TinyGPT, int]:
    """Simulated: the checkpoint with every block linear rounded to `bits` per output channel; (model, bytes)."""
    model = load_checkpoint()
    qmax = 2 ** (bits - 1) - 1
    n_bytes = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and name.startswith("blocks."):
                scale = (p.abs().amax(dim=1) / qmax).clamp(min=1e-12)  # (out,) one scale per row
                p.copy_(torch.fake_quantize_per_channel_affine(p, scale, torch.zeros_like(scale, dtype=torch.int32),
                                                               0, -qmax, qmax))
                n_bytes += p.numel() * bits // 8 + 4 * p.shape[0]
            else:
                n_bytes += 4 * p.numel()
    return model, n_bytes


def int8_dynamic_copy() -> tuple[nn.Module, int]:
    """The checkpoint with real int8 block linears (torch dynamic quantization, per-channel weights); (model, bytes)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model = load_checkpoint()
    spec = {name: per_channel_dynamic_qconfig for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name.startswith("blocks.")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization warns that it will move to torchao one day
        model = quantize_dynamic(model, spec, dtype=torch.qint8)
    n_bytes = unique_parameters(model)[1]  # what stayed float32: embeddings, LayerNorms, head
    for m in model.modules():
        if isinstance(m, torch.ao.nn.quantized.dynamic.Linear):
            w, b = m.weight(), m.bias()
            assert w.q_per_channel_zero_points().eq(0).all()  # symmetric: nothing to store
            n_bytes += w.numel() + 4 * w.shape[0] + 4 * b.numel()  # int8 weights, a float32 scale per row, bias
    return model, n_bytes


class CSRLinear(nn.Module):
    """A linear layer whose weight is a CSR sparse matrix (32-bit indices): x (..., in) -> (..., out)."""

    def __init__(self, lin: nn.Linear) -> None:
        super().__init__()
        w = lin.weight.detach().to_sparse_csr()
        self.w = torch.sparse_csr_tensor(w.crow_indices().int(), w.col_indices().int(), w.values(), w.shape)
        self.b = lin.bias.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.reshape(-1, x.shape[-1])  # (B*T, in)
        return (torch.sparse.mm(self.w, x2.T).T + self.b).reshape(*x.shape[:-1], -1)  # (..., out)

    def n_bytes(self) -> int:
        """Values, column indices, row pointers and bias."""
        return sum(t.numel() * t.element_size() for t in (self.w.values(), self.w.col_indices(),
                                                          self.w.crow_indices(), self.b))


def pruned_csr_copy(amount: float = 0.5) -> tuple[nn.Module, int]:
    """The checkpoint with `amount` of every block linear's weights pruned by magnitude, stored as CSR; (model, bytes)."""
    model = load_checkpoint()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch calls its CSR support beta
        for parent, attr, lin in block_linears(model):
            prune.l1_unstructured(lin, "weight", amount=amount)
            prune.remove(lin, "weight")  # make the zeros permanent, drop the mask
            setattr(parent, attr, CSRLinear(lin))
    csr = [m for m in model.modules() if isinstance(m, CSRLinear)]
    return model, unique_parameters(model)[1] + sum(m.n_bytes() for m in csr)


def low_rank_copy(rank: int) -> tuple[TinyGPT, int]:
    """The checkpoint with each MLP weight replaced by two linears of the given rank; (model, bytes)."""
    model = load_checkpoint()
    torch.manual_seed(10)  # svd_lowrank draws a random sketch
    with torch.no_grad():
        for parent, attr, lin in block_linears(model):
            if attr not in ("fc_in", "fc_out"):
                continue
            U, S, V = torch.svd_lowrank(lin.weight, q=rank, niter=4)  # W (out, in) ≈ U diag(S) Vᵀ
            down, up = nn.Linear(lin.in_features, rank, bias=False), nn.Linear(rank, lin.out_features)
            down.weight.copy_(V.T)  # (rank, in)
            up.weight.copy_(U * S)  # (out, rank)
            up.bias.copy_(lin.bias)
            setattr(parent, attr, nn.Sequential(down, up))
    return model, unique_parameters(model)[1]


def decode_speed(models: dict[str, nn.Module], n_new: int = 32) -> dict[str, float]:
    """Greedy decode speed of each model relative to the first (round-robin, median of per-round ratios)."""
    fns = {name: (lambda m=m: plain_greedy(m, spec_prompt, n_new)) for name, m in models.items()}
    cmp = bench.compare(fns, rounds=env.size(3, 1), warmup=1)
    return {name: cmp.ratio(name) for name in models}


student_shared, _, _ = train_student(distil=True, shared=True)
models_table = {"fp32 course GPT": (teacher, unique_parameters(teacher)[1]),
                "int8 W8A8 dynamic (07)": int8_dynamic_copy(),
                "int4 per channel (07), sim.": quantized_copy(4),
                "pruned 50%, CSR (09)": pruned_csr_copy(0.5),
                f"low rank {LOW_RANK} MLP (10)": low_rank_copy(LOW_RANK),
                "student, distilled": (student_kd, unique_parameters(student_kd)[1]),
                "student, from scratch": (student_ce, unique_parameters(student_ce)[1]),
                "student, shared + tied, distilled": (student_shared, unique_parameters(student_shared)[1])}
SIMULATED = {name for name in models_table if name.endswith("sim.")}
print(f"torch quantized engine: {torch.backends.quantized.engine}; simulated rows (speed not measured): "
      f"{sorted(SIMULATED)}")
speeds = decode_speed({name: m for name, (m, _) in models_table.items() if name not in SIMULATED})
rows = []
for name, (m, nb) in models_table.items():
    r = evaluate(m)
    rows.append((name, nb, r["ppl"], (r["copy"] + r["recall"] + r["add"]) / 3, speeds.get(name, math.nan)))
ctable = {name: (nb, ppl, acc, speed) for name, nb, ppl, acc, speed in rows}  # for the prose below

# %%
def compression_table(rows: list[tuple[str, int, float, float, float]]) -> list[str]:
    """Print rows (name, bytes, ppl, mean task accuracy, speed vs fp32 or NaN), plot bytes against ppl; the front."""
    front = pareto_front([(name, nb, ppl) for name, nb, ppl, _, _ in rows])
    print(f"{'model':<36}{'bytes':>10}{'ppl':>8}{'task acc':>10}{'speed':>8}  front")
    for name, nb, ppl, acc, speed in rows:
        shown = "    sim." if math.isnan(speed) else f"{speed:7.2f}x"
        print(f"{name:<36}{nb:>10,}{ppl:8.3f}{acc:10.2f}{shown}  {'*' if name in front else ''}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, nb, ppl, _, _ in rows:
        ax.scatter(nb, ppl, color="C1" if name in front else "C0")
        ax.annotate(name, (nb, ppl), fontsize=7, xytext=(4, 2), textcoords="offset points")
    pts = sorted((nb, ppl) for name, nb, ppl, _, _ in rows if name in front)
    ax.plot([b for b, _ in pts], [p for _, p in pts], color="C1", ls="--", label="Pareto front")
    ax.set(xscale="log", xlabel="bytes of weights", ylabel="held-out perplexity",
           title="Compressing the course GPT")
    ax.legend()
    plt.show()
    return front


front = compression_table(rows)
fp32_nb, fp32_ppl, fp32_acc, _ = ctable["fp32 course GPT"]
int8_nb, int8_ppl, _, _ = ctable["int8 W8A8 dynamic (07)"]
pruned_nb, pruned_ppl, pruned_acc, _ = ctable["pruned 50%, CSR (09)"]
lowrank_nb, lowrank_ppl, _, _ = ctable[f"low rank {LOW_RANK} MLP (10)"]

# %% [markdown]
# Read the front from the printed table (rows marked `*`) or the plot. What this run shows:
#
# * **Quantization is the cheap win.** int8 stores 29<!--= 100 * int8_nb / fp32_nb -->% of the fp32 bytes
#   and moves the perplexity by less than 1 %<!--? abs(int8_ppl / fp32_ppl - 1) < 0.01 -->, with no training;
#   its speed column is measured on torch's int8 matmuls, not simulated.
# * **Fewer parameters are not fewer bytes.** The pruned model keeps half of every block weight, yet it stores
#   101<!--= 100 * pruned_nb / fp32_nb -->% of the fp32 bytes: CSR with 32-bit indices spends a 4-byte
#   column index on every 4-byte value it keeps, plus a row pointer per row. Its perplexity rises to
#   1.70<!--= pruned_ppl ~1% --> and its task accuracy falls from 0.97<!--= fp32_acc ~2% --> to
#   0.88<!--= pruned_acc ~5% -->. Unstructured sparsity pays in memory only at high sparsity or with narrow
#   values and indices (module 09's int8 CSR and 2:4 formats), and in speed only where the sparse kernel
#   beats a dense one (module 09's crossover); compare its speed column with 1.
# * **Low rank** at rank 64<!--= LOW_RANK --> in the MLP keeps the perplexity within 1 %<!--? abs(lowrank_ppl
#   / fp32_ppl - 1) < 0.01 --> and saves 24<!--= 100 * (1 - lowrank_nb / fp32_nb) -->% of the bytes: less than
#   int8 saves, and each factorised layer is two matmuls and two calls instead of one.
# * **The students** are smaller than any compressed teacher and faster (half the width, half the depth),
#   but pay in perplexity and in the exact tasks; distillation and sharing move them along that trade-off
#   at training time.
#
# The methods compose: a distilled student can itself be quantized, and a pruned or factorised model can
# be stored in int8. Try adding such rows: `models_table` takes any `(model, bytes)` pair.

# %% [markdown]
# ## Practice quiz
#
# Not graded: pick an answer, press Check, read why each option is right or wrong.

# %%
quiz.show("11_distill_share")

# %% [markdown]
# ## Summary
#
# * Distillation trains a student on the teacher's softened distribution with `T² · KL(p_teacher ‖
#   q_student)`; the gradient at the student's logits is `T (q − p)` per position, and the T² keeps it on
#   the same scale at every temperature. Reversed KL, a missing T² and a temperature on one side only are
#   the classic mistakes.
# * Sharing is one tensor used in several places: autograd sums its gradients and the optimizer updates
#   it once. Copies (deepcopy, load_state_dict) drift apart at the first step; `.data` aliasing shares
#   memory but not gradients. Count parameters by memory, not by name.
# * Speculative decoding accepts a draft token with probability `min(1, p/q)`, resamples from the
#   normalised residual `max(0, p − q)` at the first rejection, and takes a bonus token from the target when
#   every draft is accepted: the output is distributed exactly as the target's, and greedy speculative
#   decoding equals greedy decoding token for token.
# * Its speed-up is `(1 − a^(k+1)) / ((1 − a)(k c + 1))`; it needs a high acceptance rate `a` and a draft
#   much cheaper than the target (small `c`).
#
# ## Going further
#
# * Hinton, Vinyals and Dean (2015), "Distilling the Knowledge in a Neural Network", introduced the
#   temperature and the T² factor; Sanh et al. (2019), DistilBERT, distil a Transformer with a mix of
#   soft, hard and hidden-state losses. Try adding a hidden-state loss between the student's and
#   teacher's last layers (you need a projection: their widths differ).
# * Reverse KL and on-policy distillation (Gu et al., 2024, MiniLLM; Agarwal et al., 2024, GKD) train
#   the student on its own samples; compare the two KL directions on the recall task.
# * Lan et al. (2020), ALBERT, share all layers; Universal Transformers (Dehghani et al., 2019) make the
#   number of applications of the shared block adaptive.
# * Leviathan, Kalman and Matias (2023) and Chen et al. (2023) prove the exactness of speculative
#   sampling; Medusa (Cai et al., 2024) and EAGLE (Li et al., 2024) draft with extra heads on the target
#   itself. Add a KV cache to §3.5 (module 05) with a roll-back on rejection and measure again.
