# %% [markdown]
# # 08 · Training with low precision: quantization-aware training and mixed precision
#
# Module 07 rounded the weights of a trained model and measured the damage (post-training quantization,
# PTQ). This module lets the model *train* while it feels the rounding, so that it can move its weights to
# places where rounding hurts less: quantization-aware training (QAT). The second half is about the other
# way low precision enters training: running the matrix products in 16-bit floats (`torch.autocast`),
# keeping a 32-bit master copy of the weights, and scaling the loss so that small gradients survive in
# float16.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `fake_quant`: symmetric per-channel or group-wise fake quantization | 2 |
# | 1.2 | `FakeQuantSTE`: a straight-through estimator as an autograd Function | 3 |
# | 1.3 | `QuantLinear`: a linear layer that trains through fake-quantized weights | 2 |
# | 2.1 | `autocast_loss`: a forward pass under autocast | 2 |
# | 2.2 | `master_step`: fp32 master weights | 1 |
# | 3.1 | `underflow_fraction`: what float16 does to small gradients | 1 |
# | 3.2 | `DynamicLossScaler`: grow, back off, count good steps | 3 |
# | 3.3 | `unscale_grads_` | 2 |
# | 3.4 | `scaled_step`: one loss-scaled optimizer step | 3 |
# | 4.1 | `allocate_bits`: per-layer bit widths under a size budget | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line on success; the hidden tests try other shapes, seeds and the
# popular wrong answers named in the text.
#
# **Names.** `B` batch, `T` sequence length, `C` model width, `V` vocabulary size, `ids` token ids.
# A weight matrix here is a `torch.nn.Linear.weight`, shape `(out_features, in_features)`: one **row**
# per output channel.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("08_qat_mixed_precision")

# %%
# %matplotlib inline
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse import bench, checks, env, plot, quiz
from llmcourse.data import CharTokenizer, load_corpus
from llmcourse.model import GPTConfig, TinyGPT, load_checkpoint, perplexity, task_accuracy

torch.manual_seed(0)
torch.set_num_threads(1)  # a 0.8 M-parameter model gains little from more threads, and loses on a busy machine
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
LOW_DTYPE = torch.float16 if DEVICE == "cuda" else torch.bfloat16  # autocast dtype on this machine
tok = CharTokenizer()
print(f"device {DEVICE}, autocast dtype {LOW_DTYPE}")

# %% [markdown]
# ## 1. Quantization-aware training
#
# ### Fake quantization
#
# Symmetric `b`-bit quantization keeps integers in `[-qmax, qmax]` with `qmax = 2**(b-1) - 1` (3 levels
# at 2 bits, 7 at 3 bits, 15 at 4 bits). A scale `s` maps a weight to an integer, `q = clamp(round(w / s),
# -qmax, qmax)`, and back, `w_hat = q * s`. *Fake* quantization does both at once: the result is a float
# tensor that only takes the values `s * {-qmax, ..., qmax}`, so an ordinary float matmul computes exactly
# what the integer kernel of module 07 would.
#
# The scale comes from the largest magnitude it has to cover, `s = max|w| / qmax`, taken separately
# for each output channel (each **row** of a `(out, in)` weight: one scale per output, so that a row of
# small weights is not crushed by a row of large ones), or, finer, for each group of `group_size`
# consecutive input features inside a row. Two popular wrong answers: taking the maximum over the wrong
# axis (one scale per *column*), and truncating (`.int()`, `floor`) instead of rounding to the nearest
# level, which biases every weight toward zero.

# %% [markdown]
# ### 1.1 Fake quantization (2 points)
#
# Return `w_hat`, same shape and dtype as `w`. With `group_size=None` use one scale per row; otherwise
# split each row into `in_features // group_size` groups of consecutive entries, one scale per group. A
# row (or group) of zeros has no scale: return zeros there, not NaN. Hint: `w.reshape(out, n_groups,
# group_size)`, `amax(dim=-1, keepdim=True)`, `torch.round`, `torch.clamp`.

# %% nbgrader={"grade": false, "grade_id": "fake_quant", "locked": false, "solution": true, "schema_version": 3}
def fake_quant(w: torch.Tensor, bits: int, group_size: int | None = None) -> torch.Tensor:
    """Symmetric fake quantization of w (out, in): per row, or per group of group_size inputs; same shape."""
    ### BEGIN SOLUTION
    qmax = 2 ** (bits - 1) - 1
    out_f, in_f = w.shape
    g = in_f if group_size is None else group_size
    wg = w.reshape(out_f, in_f // g, g)  # (out, n_groups, g)
    scale = wg.abs().amax(dim=-1, keepdim=True) / qmax  # (out, n_groups, 1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(wg / scale), -qmax, qmax)
    return (q * scale).reshape(out_f, in_f)  # (out, in)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fake_quant_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.qat.fake_quant(fake_quant)
### BEGIN HIDDEN TESTS
from llmcourse.checks import _core


def _ref_fq(w, bits, group_size=None):
    w = w.double()
    qmax = 2 ** (bits - 1) - 1
    o, i = w.shape
    g = i if group_size is None else group_size
    wg = w.reshape(o, i // g, g)
    s = wg.abs().amax(-1, keepdim=True) / qmax
    s[s == 0] = 1.0
    return (torch.clamp(torch.round(wg / s), -qmax, qmax) * s).reshape(o, i)


_g = torch.Generator().manual_seed(8)
_w = torch.randn(6, 16, generator=_g) * torch.logspace(-2, 0, 6)[:, None]  # rows of very different sizes
_w2 = torch.randn(5, 24, generator=_g)
_w2[2] = 0.0
_cases = []
for _bits in (2, 3, 4, 8):
    _cases.append(_core.Case(f"(6, 16) per row, {_bits} bits", (_w, _bits), expected=_ref_fq(_w, _bits).numpy(),
                             rtol=1e-5, atol=1e-6))
for _gs in (4, 8, 24):
    _cases.append(_core.Case(f"(5, 24) groups of {_gs}, 3 bits, a zero row", (_w2, 3), {"group_size": _gs},
                             expected=_ref_fq(_w2, 3, _gs).numpy(), rtol=1e-5, atol=1e-6))
_cases.append(_core.Case("(3, 7) wide rows of negatives", (-_w[:3, :7].abs() - 0.1, 4),
                         expected=_ref_fq(-_w[:3, :7].abs() - 0.1, 4).numpy(), rtol=1e-5, atol=1e-6))
_core.run("fake_quant (hidden)", fake_quant, _cases, quiet=True)
_out = fake_quant(_w, 3)
assert _out.dtype == torch.float32 and _out.shape == _w.shape, "keep the dtype and shape of w"
for _r in range(6):  # at most 2 * qmax + 1 = 7 distinct levels per row
    assert len(torch.unique(_out[_r])) <= 7, f"row {_r} has more than 7 levels at 3 bits"
### END HIDDEN TESTS

# %% [markdown]
# How much does rounding hurt the course model? Below, every linear layer inside the blocks (attention
# `qkv` and `out`, MLP `fc_in` and `fc_out`; the embeddings and the head stay in float32, as most
# quantized LLMs keep them) is replaced by its fake-quantized weights, and we measure the held-out
# perplexity and the exact-answer accuracy on the `copy` and `recall` tasks.

# %%
VAL_CHARS = env.size(20_000, 2_000)
N_TASK = env.size(100, 20)
val_text = load_corpus("val")[:VAL_CHARS]
BLOCK_LINEARS = ("attn.qkv", "attn.out", "mlp.fc_in", "mlp.fc_out")


def evaluate(model: nn.Module) -> dict[str, float]:
    """Held-out perplexity and task accuracies of a model."""
    return {"ppl": perplexity(model, val_text), "copy": task_accuracy(model, "copy", n=N_TASK),
            "recall": task_accuracy(model, "recall", n=N_TASK)}


def ptq_model(bits: int, group_size: int | None) -> nn.Module:
    """The checkpoint with every block linear weight replaced by its fake-quantized copy."""
    model = load_checkpoint()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and name.endswith(BLOCK_LINEARS):
                module.weight.copy_(fake_quant(module.weight, bits, group_size))
    return model


results = {"fp32": evaluate(load_checkpoint())}
for bits, group_size in [(4, None), (3, None), (2, 32)]:
    results[f"PTQ {bits}-bit" + (f" g{group_size}" if group_size else "")] = evaluate(ptq_model(bits, group_size))
for name, r in results.items():
    print(f"{name:14s} perplexity {r['ppl']:.3f}   copy {r['copy']:.2f}   recall {r['recall']:.2f}")

# %% [markdown]
# Measured, not assumed: at 4 bits per channel this small model barely
# notices<!--? results["PTQ 4-bit"]["ppl"] < 1.01 * results["fp32"]["ppl"] --> (its weights are few and well
# spread, so 15 levels per row are plenty); 3 bits per channel starts to
# cost<!--? results["PTQ 3-bit"]["ppl"] > results["PTQ 4-bit"]["ppl"] -->; 2 bits, even with a scale for every
# 32 weights, breaks it<!--? results["PTQ 2-bit g32"]["ppl"] > 1.3 * results["fp32"]["ppl"] -->. QAT is most interesting where PTQ fails, so the run below
# uses **2 bits with groups of 32**.
#
# ### The straight-through estimator
#
# To train through `round`, we need its gradient, and it is zero almost everywhere. The straight-through
# estimator (STE) pretends that, inside the range, fake quantization is the identity: the gradient of
# the loss with respect to `w` is the gradient with respect to `w_hat`, passed straight through. Where the
# clamp acts (`round(w / s)` beyond `±qmax`, that is `|w / s| > qmax + 0.5`), it holds the value fixed at
# `±qmax * s`, moving `w` changes nothing, so the gradient there is **zero**. The popular wrong answer
# passes the gradient everywhere; then weights that are clipped keep being pushed further out, and nothing
# pulls them back.
#
# When does anything get clipped? Not with the absmax scale of §1.1 recomputed at every step: the largest
# weight defines the range, so every weight is inside it. Clipping, and this zero gradient, matter for
# scales that are held fixed, learned (LSQ, PACT) or set from a percentile. Even with absmax the bound
# must be the clamp's, not `|w / s| <= qmax`: the group's largest weight gives `w / s` equal to `qmax`
# only in exact arithmetic, and in float32 it lands just above `qmax` in a fair share of groups (the
# cell after the exercise counts them), which would silently freeze those weights.
#
# In PyTorch you write this as a `torch.autograd.Function`: a `forward(ctx, ...)` that computes the output
# and saves what the backward needs (`ctx.save_for_backward`), and a `backward(ctx, grad_out)` that
# returns one gradient per input of `forward` (`None` for the inputs that need none).

# %% [markdown]
# ### 1.2 Straight-through fake quantization (3 points)
#
# `FakeQuantSTE.apply(w, scale, qmax)`: the forward returns `clamp(round(w / scale), -qmax, qmax) * scale`
# (`scale` is a tensor that broadcasts against `w`; `qmax` an int). The backward returns `grad_out` where
# the clamp does not act, `-qmax <= round(w / scale) <= qmax` (that is `|w / scale| <= qmax + 0.5`), and 0
# elsewhere, for `w`; `None` for `scale` and for `qmax`. The largest weight of an absmax group must get
# its gradient.

# %% nbgrader={"grade": false, "grade_id": "fake_quant_ste", "locked": false, "solution": true, "schema_version": 3}
class FakeQuantSTE(torch.autograd.Function):
    """Fake quantization whose backward is the straight-through estimator, clipped to the range."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, scale: torch.Tensor, qmax: int) -> torch.Tensor:
        """w (any shape), scale broadcastable to w -> w_hat, same shape as w."""
        ### BEGIN SOLUTION
        r = torch.round(w / scale)
        ctx.save_for_backward(r.abs() <= qmax)  # where the clamp does not act
        return torch.clamp(r, -qmax, qmax) * scale
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        """grad_out (shape of w) -> (grad_w, None, None)."""
        ### BEGIN SOLUTION
        (inside,) = ctx.saved_tensors
        return grad_out * inside, None, None
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fake_quant_ste_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.qat.fake_quant_ste(FakeQuantSTE)
### BEGIN HIDDEN TESTS
import numpy as _np


def _ste_run(w, scale, qmax, up):
    w = w.clone().requires_grad_(True)
    out = FakeQuantSTE.apply(w, scale, qmax)
    (out * up).sum().backward()
    return out.detach(), w.grad


_g = torch.Generator().manual_seed(81)
for _shape, _qmax in [((7, 12), 1), ((5, 9), 3), ((4, 33), 7), ((64,), 127)]:
    _w = torch.randn(*_shape, generator=_g) * 2
    _s = (torch.rand(_shape[0], 1, generator=_g) + 0.5) / _qmax if len(_shape) == 2 else torch.tensor(1.3 / _qmax)
    _x = _w / _s
    _w = torch.where((_x.abs() - _qmax).abs() < 0.02, _w * 0.9, _w)  # stay off the edge of the range
    _x = _w / _s
    _up = torch.randn(*_shape, generator=_g)
    _out, _gw = _ste_run(_w, _s, _qmax, _up)
    _exp = torch.clamp(torch.round(_x), -_qmax, _qmax) * _s
    assert torch.allclose(_out, _exp, atol=1e-6), f"forward wrong for shape {_shape}, qmax {_qmax}"
    assert _gw is not None and _gw.shape == _w.shape, "no gradient reached w: did backward return one?"
    _inside = _x.abs() <= _qmax
    _outside = _x.abs() > _qmax + 0.5  # beyond the last level: the gradient must be 0
    assert (_inside.any() and _outside.any()), "test set-up: need values on both sides"
    assert torch.allclose(_gw[_inside], _up[_inside], atol=1e-6), (
        f"shape {_shape}: inside the range the gradient must pass through unchanged")
    assert torch.all(_gw[_outside] == 0), (
        f"shape {_shape}: outside the range (|w / scale| > qmax) the gradient must be 0 (clipped STE)")
# the largest weight of every absmax group gets its gradient (w / scale lands just above qmax in float32)
for _qmax in (7, 1, 127):
    _w = torch.randn(512, 32, generator=_g) * torch.exp(torch.randn(512, 1, generator=_g))
    _s = _w.abs().amax(-1, keepdim=True) / _qmax
    _, _gw = _ste_run(_w, _s, _qmax, torch.ones(512, 32))
    _top = _w.abs().argmax(-1, keepdim=True)
    assert torch.all(_gw.gather(-1, _top) == 1), (
        f"qmax {_qmax}: some groups' largest weight got zero gradient: w / scale is qmax only up to rounding, "
        "so mask where the clamp acts (|round(w / scale)| > qmax), not |w / scale| > qmax")
# rounding, not truncation: 0.75 -> 1, -0.75 -> -1, 2.6 -> 3
_out, _ = _ste_run(torch.tensor([0.75, -0.75, 2.6, -2.4]), torch.tensor(1.0), 3, torch.ones(4))
assert _np.allclose(_out.numpy(), [1.0, -1.0, 3.0, -2.0]), f"round to the nearest level, got {_out}"
### END HIDDEN TESTS

# %% [markdown]
# How often does the group's largest weight land above `qmax` in float32, where a mask `|w / s| <= qmax`
# would give it zero gradient? Count it on random groups of 32 at 4 bits:

# %%
_w = torch.randn(10_000, 32, generator=torch.Generator().manual_seed(0))  # (groups, 32)
_x = _w / (_w.abs().amax(-1, keepdim=True) / 7)  # 4 bits: qmax 7
ste_top_above_qmax = (_x.abs().amax(-1) > 7).float().mean().item()
print(f"groups whose largest |w / s| is above qmax in float32: {ste_top_above_qmax:.1%}")

# %% [markdown]
# ### 1.3 A linear layer that trains through quantization (2 points)
#
# `QuantLinear(linear, bits, group_size=None)` wraps an existing `nn.Linear` (keep it as `self.linear`, so
# its weight and bias stay the trainable float32 parameters: the *latent* weights) and, in `forward(x)`,
# uses `FakeQuantSTE` to fake-quantize the weight with the per-row or per-group absmax scale of §1.1, then
# applies `F.linear(x, w_hat, bias)`. The bias stays in float32. Compute the scale from
# `weight.detach()` (it is a statistic of the weights, not something to train here), and give zero
# rows a scale of 1 as in §1.1. A popular wrong answer calls a plain `torch.round`: the forward is right,
# but the weights never receive a gradient.

# %% nbgrader={"grade": false, "grade_id": "quant_linear", "locked": false, "solution": true, "schema_version": 3}
class QuantLinear(nn.Module):
    """nn.Linear whose weight is fake-quantized (STE) in every forward pass; x (..., in) -> (..., out)."""

    def __init__(self, linear: nn.Linear, bits: int, group_size: int | None = None) -> None:
        super().__init__()
        self.linear, self.bits, self.group_size = linear, bits, group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features)."""
        ### BEGIN SOLUTION
        w = self.linear.weight
        out_f, in_f = w.shape
        g = in_f if self.group_size is None else self.group_size
        qmax = 2 ** (self.bits - 1) - 1
        wg = w.reshape(out_f, in_f // g, g)  # (out, n_groups, g)
        scale = wg.detach().abs().amax(dim=-1, keepdim=True) / qmax  # (out, n_groups, 1)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        w_hat = FakeQuantSTE.apply(wg, scale, qmax).reshape(out_f, in_f)  # (out, in)
        return F.linear(x, w_hat, self.linear.bias)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quant_linear_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.qat.quant_linear(QuantLinear)
### BEGIN HIDDEN TESTS
torch.manual_seed(3)
for _in, _out_f, _bits, _gs in [(16, 8, 3, None), (32, 12, 2, 8), (24, 5, 4, 12)]:
    _lin = nn.Linear(_in, _out_f)
    _g = _in if _gs is None else _gs
    with torch.no_grad():
        _lin.weight.mul_(torch.logspace(-1, 1, _out_f)[:, None])
        _lin.weight[1] = 0.0  # an all-zero output row: its scale needs the guard (no 0 / 0)
        _lin.weight[3, _in - _g:] = 0.0  # an all-zero group (the whole row when there are no groups)
        _lin.weight[4] = -_lin.weight[4].abs() - 0.05  # a row of negatives: its absmax is a negative weight
    _ql = QuantLinear(_lin, _bits, _gs)
    _x = torch.randn(3, 4, _in)
    _y = _ql(_x)
    _qm = 2 ** (_bits - 1) - 1
    _wg = _lin.weight.detach().reshape(_out_f, _in // _g, _g)
    _s = _wg.abs().amax(-1, keepdim=True) / _qm
    _s = torch.where(_s > 0, _s, torch.ones_like(_s))
    _wq = (torch.clamp(torch.round(_wg / _s), -_qm, _qm) * _s).reshape(_out_f, _in)
    _ref = _x @ _wq.T + _lin.bias.detach()
    assert _y.shape == (3, 4, _out_f), f"output shape {tuple(_y.shape)}"
    assert torch.isfinite(_y).all(), "NaN in the output: an all-zero row or group needs a scale that is not 0"
    assert torch.allclose(_y, _ref, atol=1e-5), f"forward ({_in}->{_out_f}, {_bits} bits, groups {_gs}) is wrong"
    _up = torch.randn_like(_y)
    (_y * _up).sum().backward()
    _gw = _lin.weight.grad
    assert _gw is not None and _gw.abs().sum() > 0, "the latent weight got no gradient: use FakeQuantSTE"
    _gref = _up.reshape(-1, _out_f).T @ _x.reshape(-1, _in)  # STE: dL/dw = dL/dw_hat (all weights in range)
    # the absmax entry of each group sits exactly on the edge (w / s = qmax up to float rounding): not compared
    _edge = (_wg.abs() == _wg.abs().amax(-1, keepdim=True)).reshape(_out_f, _in)
    assert torch.allclose(_gw[~_edge], _gref[~_edge], atol=1e-4), (
        "weight gradient should equal dL/dw_hat (straight through)")
    assert torch.allclose(_lin.bias.grad, _up.sum((0, 1)), atol=1e-4), "bias gradient is wrong"
    assert [n for n, _ in _ql.named_parameters()] == ["linear.weight", "linear.bias"], (
        "keep the nn.Linear as self.linear and add no other parameters")
### END HIDDEN TESTS

# %% [markdown]
# ### QAT of the course GPT
#
# Swap every block linear of the checkpoint for a 2-bit, group-32 `QuantLinear`, then fine-tune briefly
# on the training corpus. The optimizer updates the float32 latent weights; the forward pass only ever
# sees their quantized version, so the loss it minimises is the loss *of the quantized model*. After
# training, the deployed weights are `fake_quant(latent)`: exactly what PTQ would produce from the new
# latent weights.

# %%
QAT_BITS, QAT_GROUP = 2, 32
QAT_STEPS = env.size(150, 12)
QAT_B, QAT_T, QAT_LR = 8, 64, 3e-4  # the learning rate decays linearly to 0


def quantize_blocks(model: nn.Module, bits: int, group_size: int | None) -> nn.Module:
    """Replace every block linear by a QuantLinear around it (in place); returns the model."""
    for block in model.blocks:
        block.attn.qkv = QuantLinear(block.attn.qkv, bits, group_size)
        block.attn.out = QuantLinear(block.attn.out, bits, group_size)
        block.mlp.fc_in = QuantLinear(block.mlp.fc_in, bits, group_size)
        block.mlp.fc_out = QuantLinear(block.mlp.fc_out, bits, group_size)
    return model


train_ids = torch.as_tensor(tok.encode(load_corpus("train")[:400_000]))
qat = quantize_blocks(load_checkpoint(), QAT_BITS, QAT_GROUP)
opt = torch.optim.AdamW(qat.parameters(), lr=QAT_LR, weight_decay=0.0)
gen = torch.Generator().manual_seed(0)
qat_losses = []
qat.train()
t0 = time.perf_counter()
for _step in range(QAT_STEPS):
    starts = torch.randint(0, len(train_ids) - QAT_T - 1, (QAT_B,), generator=gen)
    x = torch.stack([train_ids[s:s + QAT_T] for s in starts])  # (B, T)
    y = torch.stack([train_ids[s + 1:s + QAT_T + 1] for s in starts])  # (B, T)
    loss = F.cross_entropy(qat(x).flatten(0, 1), y.flatten())  # logits (B*T, V)
    for group in opt.param_groups:
        group["lr"] = QAT_LR * (1 - _step / QAT_STEPS)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    qat_losses.append(loss.item())
qat_seconds = time.perf_counter() - t0
results[f"QAT {QAT_BITS}-bit g{QAT_GROUP}"] = evaluate(qat)
print(f"QAT: {QAT_STEPS} steps of {QAT_B}x{QAT_T} tokens in {qat_seconds:.1f} s; "
      f"loss {qat_losses[0]:.3f} -> {sum(qat_losses[-5:]) / 5:.3f} (mean of the last 5)")
for name, r in results.items():
    print(f"{name:14s} perplexity {r['ppl']:.3f}   copy {r['copy']:.2f}   recall {r['recall']:.2f}")
_ptq2, _qat2 = results[f"PTQ {QAT_BITS}-bit g{QAT_GROUP}"]["ppl"], results[f"QAT {QAT_BITS}-bit g{QAT_GROUP}"]["ppl"]
qat_closed_gap = (_ptq2 - _qat2) / (_ptq2 - results["fp32"]["ppl"])
print(f"QAT closes {qat_closed_gap:.0%} of the perplexity gap between 2-bit PTQ and float32")

# %%
fig = plot.qat_results(results, qat_losses)

# %% [markdown]
# At default size (150 steps, a few seconds to half a minute on two cores) QAT recovers most of what 2-bit
# PTQ lost: most of the perplexity gap closes<!--? qat_closed_gap > 0.5 -->, and the exact copy and recall
# accuracies, which 2-bit PTQ sends to almost
# zero<!--? max(results["PTQ 2-bit g32"]["copy"], results["PTQ 2-bit g32"]["recall"]) < 0.2 -->, come back to
# well above half<!--? min(results["QAT 2-bit g32"]["copy"], results["QAT 2-bit g32"]["recall"]) > 0.6 -->.
# The first steps are the steepest, because the weights only need to move by a fraction of a quantization
# step to land on a better level. Two details matter in practice: a learning rate well below the one of
# the original training, and letting it decay, so that weights stop hopping between two levels at the
# end (try a constant `1e-3`: the loss stays noisy and the result is worse). This is the whole reason QAT
# exists: PTQ asks "what is the nearest grid point to each trained weight?", QAT asks
# "which grid points make the *loss* small?", and the second question has much better answers. The cost
# is a training run (with gradients, optimizer state and the data), which PTQ does not need.

# %% [markdown]
# ## 2. Mixed precision
#
# A float16 number has 5 exponent bits and 10 mantissa bits; bfloat16 has 8 and 7. Both halve the bytes
# of float32 and, on hardware with 16-bit matrix units (every recent GPU), multiply matrices several
# times faster. `torch.autocast(device_type, dtype)` runs the operations that profit (matmul, linear,
# attention) in the low dtype and a device-specific list of sensitive ones in float32, *without touching
# the parameters*: the model stays float32, autocast casts on the fly. The lists differ by device.
# PyTorch's **CUDA** autocast runs softmax, log-softmax, layer norm, the losses, `exp`, `log` and sums in
# float32. **CPU** autocast's float32 list is shorter: losses such as cross-entropy run in
# float32<!--? cpu_autocast_loss_is_fp32 -->, but softmax, layer norm and sums follow their input's
# dtype, so after a bfloat16 matmul they run in bfloat16<!--? not cpu_autocast_softmax_is_fp32 -->. The
# cell below prints what autocast does on this machine.
#
# On a CPU use `bfloat16`: CPU autocast accepts float16 too, but on CPUs without float16 matrix
# instructions its float16 matmuls are far slower than bfloat16 ones (the cell times one product both
# ways). On a GPU use `float16` with loss scaling (§3), or `bfloat16` without it where the GPU supports it.

# %%
def autocast_dtypes(device_type: str, dtype: torch.dtype) -> dict[str, torch.dtype]:
    """The dtype each operation returns under autocast on this device, fed by a low-precision matmul."""
    x = torch.randn(8, 16, device=device_type)
    w = torch.randn(16, 16, device=device_type)
    ln = nn.LayerNorm(16).to(device_type)
    with torch.autocast(device_type=device_type, dtype=dtype):
        y = x @ w  # (8, 16)
        return {"matmul": y.dtype, "softmax": F.softmax(y, -1).dtype, "layer_norm": ln(y).dtype,
                "sum": y.sum().dtype, "exp": y.exp().dtype,
                "cross_entropy": F.cross_entropy(y, torch.zeros(8, dtype=torch.long, device=device_type)).dtype}


_devices = [("cpu", torch.bfloat16)] + ([("cuda", torch.float16)] if torch.cuda.is_available() else [])
for _dev, _dt in _devices:
    _got = autocast_dtypes(_dev, _dt)
    print(f"{_dev} autocast to {_dt}: " + ", ".join(f"{k} -> {str(v).removeprefix('torch.')}" for k, v in _got.items()))
cpu_autocast_softmax_is_fp32 = autocast_dtypes("cpu", torch.bfloat16)["softmax"] == torch.float32
cpu_autocast_loss_is_fp32 = autocast_dtypes("cpu", torch.bfloat16)["cross_entropy"] == torch.float32

_a = torch.randn(256, 256)
_times = {torch.bfloat16: [], torch.float16: []}
for _ in range(3):  # alternate the two, keep the median of each
    for _dt in _times:
        with torch.autocast("cpu", dtype=_dt):
            _t0 = time.perf_counter()
            _a @ _a
            _times[_dt].append(time.perf_counter() - _t0)
cpu_fp16_over_bf16 = sorted(_times[torch.float16])[1] / sorted(_times[torch.bfloat16])[1]
print(f"CPU autocast, one 256 x 256 matmul: float16 takes {cpu_fp16_over_bf16:.1f}x the time of bfloat16 here")

# %% [markdown]
# ### 2.1 A loss under autocast (2 points)
#
# Return the mean cross-entropy of `model(ids)` against `targets` (both `(B, T)`), computed with the forward
# pass under `torch.autocast` on the device of the model's parameters, with `bfloat16` on a CPU and
# `float16` on CUDA. Return a float32 scalar tensor that can be back-propagated. Do **not** convert the
# model (`model.half()`, `model.to(torch.bfloat16)`): that changes the parameters themselves, which is
# exactly what mixed precision avoids.

# %% nbgrader={"grade": false, "grade_id": "autocast_loss", "locked": false, "solution": true, "schema_version": 3}
def autocast_loss(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ids, targets (B, T) int64 -> scalar float32 mean cross-entropy, forward pass under autocast."""
    ### BEGIN SOLUTION
    device_type = next(model.parameters()).device.type
    dtype = torch.float16 if device_type == "cuda" else torch.bfloat16
    with torch.autocast(device_type=device_type, dtype=dtype):
        logits = model(ids)  # (B, T, V), low precision
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "autocast_loss_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.qat.autocast_loss(autocast_loss)
### BEGIN HIDDEN TESTS
for _seed, (_nl, _C, _B, _T) in enumerate([(2, 32, 3, 10), (1, 64, 2, 16)]):
    torch.manual_seed(100 + _seed)
    _m = TinyGPT(GPTConfig(n_layer=_nl, d_model=_C, n_head=4, block_size=16))
    _before = {k: v.clone() for k, v in _m.state_dict().items()}
    _ids = torch.randint(0, _m.config.vocab_size, (_B, _T))
    _tg = torch.randint(0, _m.config.vocab_size, (_B, _T))
    _dtypes = []
    _h = _m.blocks[0].mlp.fc_in.register_forward_hook(lambda mod, inp, out, seen=_dtypes: seen.append(out.dtype))
    _loss = autocast_loss(_m, _ids, _tg)
    _h.remove()
    _ref = F.cross_entropy(_m(_ids).flatten(0, 1), _tg.flatten())
    assert isinstance(_loss, torch.Tensor) and _loss.dim() == 0, "return a scalar tensor"
    assert _loss.dtype == torch.float32, f"return the loss in float32, got {_loss.dtype}"
    assert _dtypes == [torch.bfloat16], f"the linear layers should run in bfloat16 under autocast, saw {_dtypes}"
    assert abs(_loss.item() - _ref.item()) < 0.03 * _ref.item(), "loss too far from the float32 loss"
    assert all(p.dtype == torch.float32 for p in _m.parameters()), "the parameters must stay float32"
    assert all(torch.equal(_before[k], v) for k, v in _m.state_dict().items()), "do not modify the model"
    _loss.backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in _m.parameters()
               if p is not _m.pos_emb.weight), "gradients must flow back to the float32 parameters"
### END HIDDEN TESTS

# %% [markdown]
# How close is the bf16 loss of the course model to its float32 loss, and how fast is it here? Whether
# autocast is faster depends on the hardware, so the cell first asks the CPU what it has. A CPU without
# bf16 arithmetic converts to float32 to compute, and autocast only adds the conversions. A CPU with it
# (AVX-512 BF16 or AMX on recent x86, the `bf16` extension on ARM) can be faster when PyTorch's kernels
# use those instructions. That holds for large matrix products, less so for a model this small, whose time
# goes to many small operations. On a GPU, autocast is the main speed-up of training. The two forward
# passes are timed round-robin (module 05's harness), so the ratio is fair even on a busy machine.

# %%
model = load_checkpoint()
ids_b = torch.as_tensor(tok.encode(val_text[:8 * 129])).reshape(8, 129)
x_b, y_b = ids_b[:, :-1], ids_b[:, 1:]  # (8, 128) each
print(env.describe_cpu_features() + "\n")
with torch.no_grad():
    loss32 = F.cross_entropy(model(x_b).flatten(0, 1), y_b.flatten()).item()
    loss16 = autocast_loss(model, x_b, y_b).item()
    timing = bench.compare({"float32": lambda: model(x_b), "autocast": lambda: autocast_loss(model, x_b, y_b)},
                           rounds=env.size(9, 2), warmup=1)     # the model is on the CPU here
print(f"float32 loss {loss32:.4f}   autocast (bfloat16 on the CPU) loss {loss16:.4f}")
print(timing.table())

# %% [markdown]
# ### Master weights
#
# Why keep float32 weights at all? An optimizer step changes a weight by `lr * grad`, often a thousandth
# of the weight or less. bfloat16 has 8 significant bits: next to 1.0 its neighbours are `1 - 2**-8` and
# `1 + 2**-7`, so an update of `1e-3` rounds away and the weight never moves. Mixed-precision training
# therefore keeps a float32 **master** copy that receives the updates and hands a low-precision copy
# to the forward pass.

# %% [markdown]
# ### 2.2 One SGD step on master weights (1 point)
#
# Given the float32 `master` weights, a low-precision gradient `grad` and the learning rate, return
# `(new_master, new_low)`: `new_master = master - lr * grad` computed in float32, and `new_low`, its copy in
# the dtype of `grad`. Do not modify the inputs. A popular wrong answer does the subtraction in the low
# dtype and then casts up.

# %% nbgrader={"grade": false, "grade_id": "master_step", "locked": false, "solution": true, "schema_version": 3}
def master_step(master: torch.Tensor, grad: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """master float32, grad low precision (same shape) -> (new_master float32, new_low in grad.dtype)."""
    ### BEGIN SOLUTION
    new_master = master - lr * grad.float()
    return new_master, new_master.to(grad.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "master_step_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.qat.master_step(master_step)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(22)
for _dt in (torch.bfloat16, torch.float16):
    _m32 = torch.randn(50, generator=_g) + 3.0
    _gr = torch.randn(50, generator=_g).to(_dt)
    _keep = _m32.clone()
    _nm, _nl = master_step(_m32, _gr, 1e-4)
    assert torch.equal(_m32, _keep), "do not modify master in place"
    assert _nm.dtype == torch.float32 and _nl.dtype == _dt, f"dtypes: got {_nm.dtype}, {_nl.dtype}"
    _exp = _keep - 1e-4 * _gr.float()
    assert torch.allclose(_nm, _exp, rtol=0, atol=1e-6), f"new master is wrong ({_dt})"
    assert torch.equal(_nl, _exp.to(_dt)), f"new low-precision copy is wrong ({_dt})"
### END HIDDEN TESTS

# %%
# 2000 tiny updates to a weight of 1.0: with and without a float32 master copy
w_low = torch.ones(1, dtype=torch.bfloat16)
master, w_mixed = torch.ones(1), torch.ones(1, dtype=torch.bfloat16)
g = torch.full((1,), 1.0, dtype=torch.bfloat16)
for _ in range(2000):
    w_low = w_low - 1e-4 * g  # the update is below bf16's resolution at 1.0
    master, w_mixed = master_step(master, g, 1e-4)
print(f"bf16 only: {w_low.item():.4f}   with fp32 master: {master.item():.4f} (bf16 copy {w_mixed.item():.4f})"
      f"   exact: {1 - 2000 * 1e-4:.4f}")

# %% [markdown]
# ## 3. Loss scaling
#
# float16 has a much narrower range than bfloat16: its smallest positive (subnormal) number is
# `2**-24 ≈ 6e-8`, and values below half of that become exactly 0. Gradients of a loss averaged over many
# tokens are often that small, and a gradient that is 0 teaches nothing. Loss scaling multiplies the loss
# by a large factor `S` before the backward pass, so that every gradient is `S` times larger and clears
# the underflow threshold, then divides the gradients by `S` in float32 before the optimizer uses them.

# %% [markdown]
# ### 3.1 How many gradients vanish in float16? (1 point)
#
# `grads` is a float32 tensor. Return, as a Python float, the fraction of its **nonzero** entries that
# become exactly 0 when `grads * scale` is cast to float16 (0.0 when there are no nonzero entries).
# Popular wrong answers: dividing by all entries (the zeros were never gradients to lose), and casting
# before scaling (which is what loss scaling avoids).

# %% nbgrader={"grade": false, "grade_id": "underflow_fraction", "locked": false, "solution": true, "schema_version": 3}
def underflow_fraction(grads: torch.Tensor, scale: float = 1.0) -> float:
    """Fraction of the nonzero entries of grads (float32) that are 0 once grads * scale is cast to float16."""
    ### BEGIN SOLUTION
    nonzero = grads != 0
    n = int(nonzero.sum())
    if n == 0:
        return 0.0
    lost = ((grads * scale).to(torch.float16) == 0) & nonzero
    return float(lost.sum()) / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "underflow_fraction_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.qat.underflow_fraction(underflow_fraction)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(31)
_gr = torch.randn(2000, generator=_g) * torch.logspace(-12, -2, 2000)
_gr[::7] = 0.0
for _s in (1.0, 2.0 ** 8, 2.0 ** 16, 2.0 ** 24):
    _nz = _gr != 0
    _exp = float((((_gr * _s).half() == 0) & _nz).sum()) / float(_nz.sum())
    _got = underflow_fraction(_gr, _s)
    assert isinstance(_got, float), f"return a Python float, got {type(_got).__name__}"
    assert abs(_got - _exp) < 1e-9, f"scale {_s}: expected {_exp:.4f}, got {_got:.4f}"
assert underflow_fraction(torch.zeros(5), 4.0) == 0.0, "no nonzero gradient: return 0.0"
# exact ties at half the smallest float16 subnormal (2**-25 rounds to even, that is to 0), just above it
# (rounds up to 2**-24), negative values, and a value that overflows to inf (not 0)
_gt = torch.tensor([2.0 ** -25, -(2.0 ** -25), 2.0 ** -25 * (1 + 2.0 ** -20), 2.0 ** -26, -(2.0 ** -30), 1e-30,
                    3 * 2.0 ** -26, 1.0, -1e5, 0.0])
_nzt = _gt != 0
_exp = float(((_gt.half() == 0) & _nzt).sum()) / float(_nzt.sum())
assert _exp == 5 / 9, "test set-up"
_got = underflow_fraction(_gt, 1.0)
assert abs(_got - _exp) < 1e-12, (
    f"ties: 2**-25 becomes 0 in float16, 1.5 * 2**-25 becomes 2**-24; expected {_exp:.4f}, got {_got:.4f}")
_got = underflow_fraction(_gt * 2.0 ** -10, 2.0 ** 10)
assert abs(_got - _exp) < 1e-12, "the same gradients scaled down by 2**-10 and the scale 2**10: the same fraction"
_got = underflow_fraction(_gr.reshape(40, 50), 1.0)
assert abs(_got - underflow_fraction(_gr, 1.0)) < 1e-12, "any shape"
### END HIDDEN TESTS

# %% [markdown]
# The gradients of the course model on one batch, with the loss divided by 256 (as a sum over 256 times
# more tokens, or a deeper model, would give) to bring them to the size that large models see. In the
# histogram, everything left of the red line is lost in float16, and everything left of the orange line
# survives only as a subnormal number, with fewer significant bits:

# %%
model = load_checkpoint().train()
loss = F.cross_entropy(model(x_b).flatten(0, 1), y_b.flatten()) / 256
loss.backward()
all_grads = torch.cat([p.grad.flatten() for p in model.parameters()])  # (n_params,)
for s in (1.0, 2.0 ** 8, 2.0 ** 16):
    print(f"loss scale {s:>8.0f}: {underflow_fraction(all_grads, s):6.1%} of the gradients underflow in float16")
fig = plot.grad_magnitudes(all_grads)

# %% [markdown]
# ### Dynamic loss scaling
#
# Too small a scale lets gradients underflow; too large a scale makes them overflow to `inf`. Nobody knows
# the right value in advance and it changes during training, so the scale is adjusted as training goes:
#
# * after a step whose gradients contain `inf` or `NaN`: **skip** the optimizer step, multiply the scale by
#   `backoff_factor` (0.5), and reset the count of good steps;
# * after a good step: count it; once `growth_interval` good steps in a row have passed, multiply the
#   scale by `growth_factor` (2.0) and reset the count.
#
# These are the rules of `torch.amp.GradScaler` (defaults `init_scale=2**16`, `growth_factor=2.0`,
# `backoff_factor=0.5`, `growth_interval=2000`). The traps: a scale that never shrinks (every later step
# overflows and is skipped, so training silently stops), a count that is not reset by an overflow, and a
# count that is not reset after growing (the scale then doubles at every step).

# %% [markdown]
# ### 3.2 A dynamic loss scaler (3 points)
#
# Keep the current scale in `self.scale` (a Python float) and the number of good steps since the last
# change in `self.good_steps`. `update(found_inf)` applies the rules above once per step.

# %% nbgrader={"grade": false, "grade_id": "loss_scaler", "locked": false, "solution": true, "schema_version": 3}
class DynamicLossScaler:
    """Dynamic loss scale with torch.amp.GradScaler's growth and back-off rules."""

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000) -> None:
        self.scale = float(init_scale)
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0

    def update(self, found_inf: bool) -> None:
        """Back off after a non-finite step; grow after growth_interval finite steps in a row."""
        ### BEGIN SOLUTION
        if found_inf:
            self.scale *= self.backoff_factor
            self.good_steps = 0
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "loss_scaler_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.qat.loss_scaler(DynamicLossScaler)
### BEGIN HIDDEN TESTS
import random as _random

_rnd = _random.Random(5)
for _gi, _gf, _bf, _p in [(3, 2.0, 0.5, 0.2), (1, 4.0, 0.25, 0.5), (5, 2.0, 0.5, 0.05), (2, 1.5, 0.9, 0.3)]:
    _seq = [_rnd.random() < _p for _ in range(60)]
    _mine = DynamicLossScaler(init_scale=1024.0, growth_factor=_gf, backoff_factor=_bf, growth_interval=_gi)
    _ts, _tt = torch.tensor([1024.0]), torch.tensor([0], dtype=torch.int32)
    for _k, _fi in enumerate(_seq):
        _mine.update(_fi)
        # torch's own fused update, the one GradScaler.update() calls
        torch._amp_update_scale_(_ts, _tt, torch.tensor([float(_fi)]), _gf, _bf, _gi)
        assert math.isclose(_mine.scale, _ts.item(), rel_tol=1e-5), (
            f"growth_interval={_gi}, factors {_gf}/{_bf}: after step {_k} (found_inf={_fi}) "
            f"scale should be {_ts.item()}, got {_mine.scale}")
        assert _mine.good_steps == _tt.item(), f"good_steps after step {_k}: expected {_tt.item()}"
# defaults are GradScaler's
_d = DynamicLossScaler()
assert _d.scale == 65536.0 and _d.good_steps == 0
for _ in range(2000):
    _d.update(False)
assert _d.scale == 131072.0, "after 2000 good steps the default scale doubles once"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.3 Unscale the gradients and look for inf/NaN (2 points)
#
# Divide, in place, the `.grad` of every parameter in `params` (skip those whose `.grad` is None) by
# `scale`, and return a Python `bool`: True when any gradient contains `inf` or `NaN`. This must happen
# **before** gradient clipping: the clipping threshold is in units of the true gradient, not of the scaled
# one.

# %% nbgrader={"grade": false, "grade_id": "unscale_grads", "locked": false, "solution": true, "schema_version": 3}
def unscale_grads_(params, scale: float) -> bool:
    """Divide every p.grad (not None) by scale in place; True when any of them holds inf or NaN."""
    ### BEGIN SOLUTION
    found_inf = False
    for p in params:
        if p.grad is None:
            continue
        p.grad.div_(scale)
        if not torch.isfinite(p.grad).all():
            found_inf = True
    return found_inf
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "unscale_grads_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.qat.unscale_grads(unscale_grads_)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(33)
for _bad in (None, float("inf"), float("-inf"), float("nan")):
    _ps = [nn.Parameter(torch.randn(4, 5, generator=_g)) for _ in range(4)]
    _gs = [torch.randn(4, 5, generator=_g) * 512 for _ in range(4)]
    if _bad is not None:
        _gs[2][1, 3] = _bad
    for _p, _gg in zip(_ps, _gs, strict=True):
        _p.grad = _gg.clone()
    _ps[1].grad = None
    _found = unscale_grads_(iter(_ps), 512.0)  # a generator, like model.parameters()
    assert isinstance(_found, bool), f"return a Python bool, got {type(_found).__name__}"
    assert _found == (_bad is not None), f"gradient holding {_bad}: found_inf should be {_bad is not None}"
    assert _ps[1].grad is None, "leave a None gradient alone"
    for _i in (0, 3):
        assert torch.allclose(_ps[_i].grad, _gs[_i] / 512.0), "every gradient must be divided by the scale"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.4 One loss-scaled optimizer step (3 points)
#
# Put it together. `scaled_step(model, loss, optimizer, scaler, max_norm)` receives a float32 loss whose
# graph has not been back-propagated yet, and gradients that are zero or None. It must:
#
# 1. back-propagate `loss * scaler.scale`;
# 2. unscale the gradients with your `unscale_grads_` and learn whether any is non-finite;
# 3. if all are finite: clip the gradient norm to `max_norm` (`torch.nn.utils.clip_grad_norm_`) and call
#    `optimizer.step()`; otherwise skip both;
# 4. call `scaler.update(found_inf)` once, in both cases;
# 5. return True when the optimizer stepped, False when the step was skipped.
#
# Popular wrong answers: clipping before unscaling (the scaled norm is `scale` times too large, so every
# step is clipped to almost nothing), stepping with non-finite gradients, and not updating the scaler on
# a skipped step (the scale then never shrinks).

# %% nbgrader={"grade": false, "grade_id": "scaled_step", "locked": false, "solution": true, "schema_version": 3}
def scaled_step(model: nn.Module, loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler,
                max_norm: float) -> bool:
    """Backward of loss * scaler.scale, unscale, clip and step unless non-finite, update the scaler."""
    ### BEGIN SOLUTION
    (loss * scaler.scale).backward()
    found_inf = unscale_grads_(model.parameters(), scaler.scale)
    if not found_inf:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
    scaler.update(found_inf)
    return not found_inf
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "scaled_step_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.qat.scaled_step(scaled_step)
### BEGIN HIDDEN TESTS
class _RefScaler:
    def __init__(self, scale):
        self.scale, self.calls = scale, []

    def update(self, found_inf):
        self.calls.append(bool(found_inf))
        if found_inf:
            self.scale *= 0.5


for _seed, _scale, _max_norm in [(0, 2.0 ** 10, 0.5), (1, 2.0 ** 16, 100.0), (2, 3.0e38, 1.0), (3, 8.0, 0.05)]:
    torch.manual_seed(_seed)
    _net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    _ref = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    _ref.load_state_dict(_net.state_dict())
    _x, _y = torch.randn(10, 6) * 3, torch.randn(10, 3)
    _opt = torch.optim.SGD(_net.parameters(), lr=0.1, momentum=0.9)
    _ropt = torch.optim.SGD(_ref.parameters(), lr=0.1, momentum=0.9)
    _sc = _RefScaler(_scale)
    # reference: fp32 loss (no scaling needed in fp32, except that it can overflow)
    _rl = F.mse_loss(_ref(_x), _y) * 50
    (_rl * _scale).backward()
    _rinf = False
    for _p in _ref.parameters():
        _p.grad.div_(_scale)
        _rinf |= not bool(torch.isfinite(_p.grad).all())
    if not _rinf:
        torch.nn.utils.clip_grad_norm_(_ref.parameters(), _max_norm)
        _ropt.step()
    _stepped = scaled_step(_net, F.mse_loss(_net(_x), _y) * 50, _opt, _sc, _max_norm)
    assert bool(_stepped) == (not _rinf), f"case {_seed}: return value should be {not _rinf}"
    assert _sc.calls == [_rinf], f"case {_seed}: scaler.update should be called once with {_rinf}, got {_sc.calls}"
    for _a, _b in zip(_net.parameters(), _ref.parameters(), strict=True):
        assert torch.allclose(_a, _b, atol=1e-6), (
            f"case {_seed} (scale {_scale}, max_norm {_max_norm}): parameters differ from the reference step"
            + (" (a non-finite step must not change them)" if _rinf else ""))
    assert _rinf == (_seed == 2), "test set-up"
### END HIDDEN TESTS

# %% [markdown]
# Watch the scale find its level on a small regression network trained in float32, where overflow
# happens near `2**128 ≈ 3.4e38` instead of float16's 65504 (same mechanism, other numbers). Starting at
# `2**127`, the first steps overflow and are skipped while the scale halves; then, every
# `growth_interval` good steps, the scaler tries a larger scale, overflows, and backs off again: the
# saw-tooth that keeps the scale as large as the gradients allow.

# %%
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 1))
opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
scaler = DynamicLossScaler(init_scale=2.0 ** 127, growth_interval=5)
xs, ys = torch.randn(256, 16), torch.randn(256, 1)
scales, stepped = [], []
for _step in range(env.size(60, 25)):
    scales.append(scaler.scale)
    stepped.append(scaled_step(net, 100 * F.mse_loss(net(xs), ys), opt, scaler, max_norm=1.0))
    opt.zero_grad(set_to_none=True)
print(f"{len(stepped) - sum(stepped)} of {len(stepped)} steps skipped; final scale 2**{math.log2(scaler.scale):.0f}")
fig = plot.loss_scale_trace(scales, stepped)

# %% [markdown]
# ## 4. Adaptive precision: where to spend the bits
#
# Not every layer suffers equally from rounding. Measure each layer's *sensitivity* (how much the loss
# grows when that layer alone is quantized to `b` bits), then spend a size budget where it buys the most:
# start every layer at the smallest width and repeatedly upgrade the layer that gains the most loss
# reduction **per extra bit of storage**. A popular wrong answer ranks upgrades by the loss reduction
# alone, which spends the budget on big layers that gain a little; another jumps a layer straight to the
# widest width instead of one step at a time.

# %% [markdown]
# ### 4.1 Greedy bit allocation (2 points)
#
# `sensitivity[name][b]` is the loss increase of layer `name` at `b` bits (the same widths for every
# layer), `n_params[name]` its number of weights, `budget_bits` the most bits all weights may take
# together. Start with every layer at the smallest width. Then, while at least one upgrade fits: for every
# layer that has a next-larger width, the upgrade costs `extra = n_params * (next - current)` bits and
# gains `(sensitivity[current] - sensitivity[next]) / extra`; among the upgrades with
# `used + extra <= budget_bits`, apply the one with the largest gain (ties: the first name in sorted
# order). Return `{name: bits}`.

# %% nbgrader={"grade": false, "grade_id": "allocate_bits", "locked": false, "solution": true, "schema_version": 3}
def allocate_bits(sensitivity: dict[str, dict[int, float]], n_params: dict[str, int],
                  budget_bits: float) -> dict[str, int]:
    """Greedy per-layer widths: upgrade one step at a time by loss gain per extra bit, within budget_bits."""
    ### BEGIN SOLUTION
    bits = {name: min(widths) for name, widths in sensitivity.items()}
    used = sum(n_params[name] * b for name, b in bits.items())
    while True:
        best, best_gain = None, -math.inf
        for name in sorted(sensitivity):
            larger = [b for b in sensitivity[name] if b > bits[name]]
            if not larger:
                continue
            nxt = min(larger)
            extra = n_params[name] * (nxt - bits[name])
            if used + extra > budget_bits:
                continue
            gain = (sensitivity[name][bits[name]] - sensitivity[name][nxt]) / extra
            if gain > best_gain:
                best, best_gain = (name, nxt, extra), gain
        if best is None:
            return bits
        name, nxt, extra = best
        bits[name], used = nxt, used + extra
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "allocate_bits_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.qat.allocate_bits(allocate_bits)
### BEGIN HIDDEN TESTS
import random as _random


def _ref_alloc(sens, n, budget):
    bits = {k: min(v) for k, v in sens.items()}
    used = sum(n[k] * b for k, b in bits.items())
    while True:
        best = None
        for k in sorted(sens):
            up = sorted(b for b in sens[k] if b > bits[k])
            if not up:
                continue
            extra = n[k] * (up[0] - bits[k])
            if used + extra > budget:
                continue
            gain = (sens[k][bits[k]] - sens[k][up[0]]) / extra
            if best is None or gain > best[0]:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]


_rnd = _random.Random(44)
for _case in range(12):
    _names = [f"layer{_i}" for _i in range(_rnd.randint(2, 7))]
    _widths = _rnd.choice([(2, 4), (2, 3, 4), (2, 4, 8), (3, 4, 6, 8)])
    _sens = {}
    for _k in _names:
        _v = sorted((_rnd.random() * 2 for _ in _widths), reverse=True)
        _sens[_k] = {b: v for b, v in zip(_widths, _v, strict=True)}
    _n = {_k: _rnd.choice([64, 128, 512, 1024, 4096]) for _k in _names}
    _lo = sum(_n[_k] * _widths[0] for _k in _names)
    _hi = sum(_n[_k] * _widths[-1] for _k in _names)
    _budget = _lo + _rnd.random() * (_hi - _lo)
    _got = allocate_bits(_sens, _n, _budget)
    _exp = _ref_alloc(_sens, _n, _budget)
    assert dict(_got) == _exp, f"case {_case} (widths {_widths}, budget {_budget:.0f}): expected {_exp}, got {_got}"
    assert sum(_n[_k] * _got[_k] for _k in _names) <= _budget, "over the budget"
# exact ties: equal gains go to the first name in sorted order (the dict lists "b" first), an upgrade that
# fills the budget exactly is allowed, and an upgrade that gains nothing or loses still happens while it fits
_sens = {"b": {2: 1.0, 4: 0.5, 8: 0.25}, "a": {2: 1.0, 4: 0.5, 8: 0.25}, "c": {2: 0.3, 4: 0.3, 8: 0.4}}
_n = {"a": 100, "b": 100, "c": 50}
for _budget, _exp in [(2 * 250 + 200, {"a": 4, "b": 2, "c": 2}), (2 * 250 + 399, {"a": 4, "b": 2, "c": 4}),
                      (2 * 250 + 400, {"a": 4, "b": 4, "c": 2}), (2 * 250 + 500, {"a": 4, "b": 4, "c": 4}),
                      (8 * 250, {"a": 8, "b": 8, "c": 8})]:
    assert _ref_alloc(_sens, _n, _budget) == _exp, "test set-up"
    _got = allocate_bits(_sens, _n, _budget)
    assert dict(_got) == _exp, (
        f"budget {_budget} bits: expected {_exp}, got {dict(_got)} (ties go to the first name in sorted order; "
        "used + extra <= budget_bits; a zero or negative gain is still an upgrade that fits)")
### END HIDDEN TESTS

# %% [markdown]
# The course model's 16 block linears: the sensitivity of each, alone at 2, 3 and 4 bits (group 32), as
# the growth of the held-out loss; then a budget of 2.5 bits per weight on average, spent greedily, which
# lands between uniform 2-bit and uniform 3-bit
# PTQ<!--? ptq3_g32["ppl"] <= mixed["ppl"] <= results["PTQ 2-bit g32"]["ppl"] -->. (With a budget of 3 bits
# on average, the greedy plan did no better than uniform 3 bits when we ran it: this small model is barely
# hurt at 3 bits, and sensitivities measured one layer at a time do not add up exactly. Mixed precision pays
# where a uniform width is either too coarse or wasteful, as here between 2 and 3 bits.)

# %%
SENS_TEXT = val_text[:env.size(4_000, 1_000)]
base_loss = math.log(perplexity(load_checkpoint(), SENS_TEXT))
model = load_checkpoint()
layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear) and name.endswith(BLOCK_LINEARS)}
sens = {}
for name, layer in layers.items():
    w0 = layer.weight.detach().clone()
    sens[name] = {}
    for b in (2, 3, 4):
        with torch.no_grad():
            layer.weight.copy_(fake_quant(w0, b, 32))
        sens[name][b] = math.log(perplexity(model, SENS_TEXT)) - base_loss
    with torch.no_grad():
        layer.weight.copy_(w0)
sizes = {name: layer.weight.numel() for name, layer in layers.items()}
plan = allocate_bits(sens, sizes, 2.5 * sum(sizes.values()))
with torch.no_grad():
    for name, layer in layers.items():
        layer.weight.copy_(fake_quant(layer.weight, plan[name], 32))
mixed = evaluate(model)
print("bits per layer:", {name.replace("blocks.", "b"): b for name, b in plan.items()})
print(f"average bits {sum(sizes[n] * plan[n] for n in plan) / sum(sizes.values()):.2f}; "
      f"mixed perplexity {mixed['ppl']:.3f} (copy {mixed['copy']:.2f}); uniform g32: 2-bit "
      f"{results['PTQ 2-bit g32']['ppl']:.3f}, 3-bit {(ptq3_g32 := evaluate(ptq_model(3, 32)))['ppl']:.3f}")

# %% [markdown]
# ## Practice quiz
#
# Not graded: pick an answer, press Check, read why each option is right or wrong.

# %%
quiz.show("08_qat_mixed_precision")

# %% [markdown]
# ## Summary
#
# * Fake quantization, `clamp(round(w / s), -qmax, qmax) * s` with one absmax scale per output row (or per
#   group of inputs), computes in float exactly what an integer kernel computes. Round, do not truncate;
#   take the maximum along each row of an `(out, in)` weight.
# * The straight-through estimator treats rounding as the identity inside the range and blocks the
#   gradient where the clamp is active. Written as a `torch.autograd.Function`, it lets an optimizer train
#   the float latent weights of a quantized model.
# * On the course GPT, 4-bit per-channel PTQ costs almost
#   nothing<!--? results["PTQ 4-bit"]["ppl"] < 1.01 * results["fp32"]["ppl"] -->, 3 bits starts to hurt and
#   2 bits (group 32) breaks the model; a short QAT run from the checkpoint recovers most of the 2-bit
#   loss<!--? qat_closed_gap > 0.5 -->.
# * `torch.autocast` runs matmuls in a 16-bit dtype and leaves the float32 parameters alone; the
#   optimizer updates float32 master weights, because small updates vanish in 16 bits.
# * float16 gradients underflow below about `6e-8`. Dynamic loss scaling multiplies the loss by a scale
#   that halves (and skips the step) on inf/NaN and doubles after a run of good steps; the gradients are
#   unscaled before clipping and before the optimizer sees them.
# * Layers differ in sensitivity; a greedy allocation by loss gain per extra bit fills any size budget
#   between two uniform widths, spending the bits on the layers that need them most.
#
# ## Going further
#
# * Bengio, Léonard and Courville (2013) introduced the straight-through estimator; Jacob et al.
#   (2018), "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
#   Inference", is the recipe behind most QAT tools.
# * Learn the scale too: LSQ (Esser et al., 2020) gives the scale its own gradient. Try it: return a
#   gradient for `scale` from `FakeQuantSTE.backward` and let AdamW train it.
# * Adaptive precision: §4 measured sensitivity one layer at a time, which ignores interactions between
#   layers; HAWQ (Dong et al., 2019) estimates it from second-order information instead. Combine §4 with
#   QAT: allocate the bits first, then fine-tune the mixed-precision model.
# * Micikevicius et al. (2018), "Mixed Precision Training", introduced master weights and loss scaling;
#   read `torch/amp/grad_scaler.py` and compare it with your scaler (it keeps the scale on the device and
#   checks for inf without a host synchronisation per tensor).
# * FP8 training (Micikevicius et al., 2022, "FP8 Formats for Deep Learning") pushes the same ideas to
#   8-bit floats with per-tensor scales.
