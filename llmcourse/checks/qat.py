"""Visible self-checks for module 08_qat_mixed_precision.

Expected values are worked out by hand on tiny inputs (the arithmetic sits next to each case) or are
properties any correct answer has. Classes (an autograd Function, a module, a scaler) are driven through
small wrappers defined here, so each case is a plain function of simple inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ._core import Case, CheckFailed, run

# Rows used by fake_quant and quant_linear, 3 bits (qmax = 3):
#   row 0 [3, -1.2, 0.4, 2]: absmax 3, scale 1 -> round [3, -1, 0, 2]
#   row 1 [0.75, 0.25, -0.4, 0.05]: scale 0.25 -> w / s = [3, 1, -1.6, 0.2] -> [3, 1, -2, 0] -> [0.75, 0.25, -0.5, 0]
#   (truncation would give -1 -> -0.25; a per-column scale gives other values)
W = [[3.0, -1.2, 0.4, 2.0], [0.75, 0.25, -0.4, 0.05]]
W_HAT = [[3.0, -1.0, 0.0, 2.0], [0.75, 0.25, -0.5, 0.0]]


def _tensor_result(fn: Callable) -> Callable:
    """Wrap fn so that its torch result comes back as a float64 NumPy array (and its type is checked)."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"expected a torch.Tensor, got {type(out).__name__}")
        return out.detach().double().numpy()
    return wrapped


def fake_quant(fn: Callable) -> None:
    """Check fake_quant(w, bits, group_size=None) on hand-worked rows."""
    def call(w: list, bits: int, group_size: int | None = None) -> Any:
        return _tensor_result(fn)(torch.tensor(w), bits, group_size)

    run("fake_quant", call, [
        Case("3 bits per row: rows with different scales, -1.6 rounds to -2", (W, 3), expected=np.array(W_HAT),
             rtol=1e-5, atol=1e-6),
        # group [3, -1.2]: scale 1 -> [3, -1]; group [0.4, 2]: scale 2/3 -> [0.6, 3] -> [1, 3] -> [2/3, 2]
        Case("3 bits, groups of 2", ([W[0]], 3, 2), expected=np.array([[3.0, -1.0, 2 / 3, 2.0]]), rtol=1e-5,
             atol=1e-6),
        # 2 bits: qmax = 1, levels {-s, 0, s}; row [0.9, -0.3, 0.6]: s = 0.9 -> [1, -0.33, 0.67] -> [1, 0, 1]
        Case("2 bits: three levels", ([[0.9, -0.3, 0.6]], 2), expected=np.array([[0.9, 0.0, 0.9]]), rtol=1e-5,
             atol=1e-6),
        # 4 bits: qmax 7, scale 1/7; -0.3 * 7 = -2.1 -> -2 -> -2/7
        Case("a row of zeros stays zero (no NaN)", ([[0.0, 0.0], [1.0, -0.3]], 4),
             expected=np.array([[0.0, 0.0], [1.0, -2 / 7]]), rtol=1e-5, atol=1e-6),
    ])


def _ste(cls: Any) -> Callable:
    """(w, scale, qmax, upstream) -> (forward output, gradient of sum(out * upstream) w.r.t. w)."""
    def call(w: list, scale: Any, qmax: int, upstream: list) -> tuple:
        wt = torch.tensor(w, requires_grad=True)
        out = cls.apply(wt, torch.as_tensor(scale, dtype=torch.float32), qmax)
        (out * torch.tensor(upstream)).sum().backward()
        if wt.grad is None:
            raise CheckFailed("no gradient reached w: backward must return a gradient for w")
        return out.detach().double().numpy(), wt.grad.double().numpy()
    return call


def fake_quant_ste(cls: Any) -> None:
    """Check FakeQuantSTE.apply(w, scale, qmax): forward values and the clipped straight-through gradient."""
    if not (isinstance(cls, type) and issubclass(cls, torch.autograd.Function)):
        raise CheckFailed("FakeQuantSTE: expected a subclass of torch.autograd.Function")
    w = [-2.0, -0.9, 0.3, 0.8, 1.7, 5.0]
    run("FakeQuantSTE", _ste(cls), [
        # qmax 1, scale 1: round then clamp -> [-1, -1, 0, 1, 1, 1]; the gradient passes where the clamp does not act
        Case("qmax 1, scale 1, upstream ones", (w, 1.0, 1, [1.0] * 6),
             expected=(np.array([-1.0, -1, 0, 1, 1, 1]), np.array([0.0, 1, 1, 1, 0, 0])), rtol=1e-6, atol=1e-7),
        # per-row scales (2, 1): row 0 scale 0.5 -> w/s [2, -4, 0.6] -> [2, -3, 1] * 0.5; row 1 scale 2 -> [-1, 3, 4]
        Case("qmax 3, per-row scales, upstream [2, 3, 4; 5, 6, 7]",
             ([[1.0, -2.0, 0.3], [-2.0, 6.0, 8.0]], [[0.5], [2.0]], 3, [[2.0, 3.0, 4.0], [5.0, 6.0, 7.0]]),
             expected=(np.array([[1.0, -1.5, 0.5], [-2.0, 6.0, 6.0]]), np.array([[2.0, 0.0, 4.0], [5.0, 6.0, 0.0]])),
             rtol=1e-6, atol=1e-7),
    ])


def quant_linear(cls: Any) -> None:
    """Check QuantLinear(nn.Linear(4, 2), 3): quantized forward and the weight gradient passed straight through."""
    def call(x: list, bits: int) -> tuple:
        lin = nn.Linear(4, 2)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W))
            lin.bias.copy_(torch.tensor([0.5, -0.5]))
        layer = cls(lin, bits)
        y = layer(torch.tensor(x))
        if not isinstance(y, torch.Tensor):
            raise CheckFailed(f"forward should return a tensor, got {type(y).__name__}")
        y.sum().backward()
        if lin.weight.grad is None or not lin.weight.grad.abs().sum() > 0:
            raise CheckFailed("the wrapped linear's weight got no gradient: fake-quantize it with FakeQuantSTE")
        return y.detach().double().numpy(), lin.weight.grad.double().numpy()

    run("QuantLinear", call, [
        # w_hat = W_HAT; y0 = 3*1 - 1*2 + 0*0 + 2*(-1) + 0.5 = -0.5; y1 = 0.75 + 0.5 + 0 + 0 - 0.5 = 0.75
        # d sum(y) / dW = x in every row (straight through: every weight is inside the absmax range)
        Case("x = [1, 2, 0, -1], 3 bits", ([[1.0, 2.0, 0.0, -1.0]], 3),
             expected=(np.array([[-0.5, 0.75]]), np.array([[1.0, 2.0, 0.0, -1.0]] * 2)), rtol=1e-5, atol=1e-6),
    ])


def autocast_loss(fn: Callable) -> None:
    """Check autocast_loss(model, ids, targets) on a small TinyGPT: float32 scalar, bf16 matmuls, params untouched."""
    from ..model import GPTConfig, TinyGPT

    def call(seed: int) -> dict:
        torch.manual_seed(seed)
        model = TinyGPT(GPTConfig(n_layer=1, d_model=32, n_head=2, block_size=16))
        before = {k: v.clone() for k, v in model.state_dict().items()}
        ids = torch.randint(0, model.config.vocab_size, (2, 8))
        targets = torch.randint(0, model.config.vocab_size, (2, 8))
        seen: list = []
        hook = model.head.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
        loss = fn(model, ids, targets)
        hook.remove()
        with torch.no_grad():
            ref = torch.nn.functional.cross_entropy(model(ids).flatten(0, 1), targets.flatten()).item()
        return {"loss": loss, "ref": ref, "seen": seen, "before": before, "model": model}

    def prop(r: dict) -> str | None:
        loss = r["loss"]
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            return f"expected a scalar tensor, got {type(loss).__name__} {getattr(loss, 'shape', '')}"
        if loss.dtype != torch.float32:
            return f"expected a float32 loss, got {loss.dtype}"
        if r["seen"] != [torch.bfloat16]:
            return f"the LM head should run in bfloat16 under autocast on the CPU; its output was {r['seen']}"
        if any(p.dtype != torch.float32 for p in r["model"].parameters()):
            return "the parameters must stay float32 (autocast casts on the fly; do not convert the model)"
        if not all(torch.equal(r["before"][k], v) for k, v in r["model"].state_dict().items()):
            return "the model's parameters changed"
        if abs(loss.item() - r["ref"]) > 0.03 * r["ref"]:
            return f"loss {loss.item():.4f} is too far from the float32 loss {r['ref']:.4f}"
        return None

    run("autocast_loss", call, [Case("1-layer GPT, (2, 8) ids, CPU", (0,), prop=prop)])


def master_step(fn: Callable) -> None:
    """Check master_step(master, grad, lr) on updates below bfloat16's resolution."""
    def call(master: list, grad: list, lr: float) -> tuple:
        m = torch.tensor(master)
        out = fn(m, torch.tensor(grad, dtype=torch.bfloat16), lr)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise CheckFailed("return a tuple (new_master, new_low)")
        if out[0].dtype != torch.float32 or out[1].dtype != torch.bfloat16:
            raise CheckFailed(f"dtypes: expected (float32, bfloat16), got ({out[0].dtype}, {out[1].dtype})")
        return out[0].double().numpy(), out[1].double().numpy()

    run("master_step", call, [
        # master 1 - 1e-3 = 0.999 and 2 + 1e-3 = 2.001 in float32; in bfloat16 both round back to 1 and 2
        Case("updates of 1e-3 next to 1 and 2", ([1.0, 2.0], [1.0, -1.0], 1e-3),
             expected=(np.array([0.999, 2.001]), np.array([1.0, 2.0])), rtol=1e-6, atol=1e-7),
        # 4 - 0.5 * 1 = 3.5 exactly, representable in bfloat16
        Case("a large update", ([4.0], [1.0], 0.5), expected=(np.array([3.5]), np.array([3.5]))),
    ])


def underflow_fraction(fn: Callable) -> None:
    """Check underflow_fraction(grads, scale) around float16's smallest subnormal (2**-24, about 6e-8)."""
    def call(grads: list, scale: float) -> Any:
        return fn(torch.tensor(grads), scale)

    g = [1e-3, 1e-8, 1e-9, 0.0, 2e-8]
    run("underflow_fraction", call, [
        # 1e-8, 1e-9 and 2e-8 are below 2**-25 (about 3e-8) and flush to 0: 3 of the 4 nonzero entries
        Case("scale 1: 3 of 4 nonzero gradients vanish", (g, 1.0), expected=0.75),
        # times 1024 they are all above 1e-6: none vanish
        Case("scale 1024: none vanish", (g, 1024.0), expected=0.0),
        Case("all zeros", ([0.0, 0.0], 1.0), expected=0.0),
    ])


def loss_scaler(cls: Any) -> None:
    """Check DynamicLossScaler on a scripted sequence of finite / non-finite steps."""
    def call(init_scale: float, growth_interval: int, found: list) -> list:
        scaler = cls(init_scale=init_scale, growth_factor=2.0, backoff_factor=0.5, growth_interval=growth_interval)
        out = []
        for f in found:
            scaler.update(f)
            out.append(float(scaler.scale))
        return out

    F, T = False, True
    run("DynamicLossScaler", call, [
        # start 8: good (1), good (2 -> grow to 16, reset), inf (8), good (1), inf (4), good, good (-> 8), good
        Case("growth_interval 2: F F T F T F F F", (8.0, 2, [F, F, T, F, T, F, F, F]),
             expected=np.array([8.0, 16, 8, 8, 4, 4, 8, 8])),
        # growth_interval 1: every good step doubles; two overflows in a row halve twice
        Case("growth_interval 1: F T T F", (1.0, 1, [F, T, T, F]), expected=np.array([2.0, 1, 0.5, 1])),
        # growth_interval 3: an overflow resets the count, so F F T F F F grows only at the end
        Case("an overflow resets the count: F F T F F F", (4.0, 3, [F, F, T, F, F, F]),
             expected=np.array([4.0, 4, 2, 2, 2, 4])),
    ])


def unscale_grads(fn: Callable) -> None:
    """Check unscale_grads_(params, scale): in-place division and the inf/NaN flag."""
    def call(grads: list, scale: float) -> tuple:
        params = []
        for g in grads:
            p = nn.Parameter(torch.zeros(len(g) if g is not None else 1))
            p.grad = None if g is None else torch.tensor([float(v) for v in g])  # "inf", "nan" as strings
            params.append(p)
        found = fn(iter(params), scale)
        if not isinstance(found, (bool, np.bool_)):
            raise CheckFailed(f"return a Python bool, got {type(found).__name__}")
        return bool(found), np.concatenate([p.grad.double().numpy() for p in params if p.grad is not None])

    inf, nan = float("inf"), float("nan")  # expected values; inputs spell them as strings (NaN != NaN in a copy check)
    run("unscale_grads_", call, [
        Case("finite gradients divided by 4", ([[4.0, -8.0], [2.0]], 4.0),
             expected=(False, np.array([1.0, -2.0, 0.5]))),
        Case("a None gradient is skipped", ([[4.0], None], 2.0), expected=(False, np.array([2.0]))),
        Case("an inf is found", ([[1.0], ["inf", 2.0]], 2.0), expected=(True, np.array([0.5, inf, 1.0]))),
        Case("a NaN is found", ([["nan"], [2.0]], 2.0), expected=(True, np.array([nan, 1.0]))),
    ])


class _RecordingScaler:
    """A fixed loss scale that records what update() was told (not a dynamic scaler)."""

    def __init__(self, scale: float) -> None:
        self.scale, self.calls = scale, []

    def update(self, found_inf: bool) -> None:
        self.calls.append(bool(found_inf))


def scaled_step(fn: Callable) -> None:
    """Check scaled_step on a one-weight-row linear model with SGD(lr=0.1)."""
    def call(scale: float, max_norm: float) -> tuple:
        model = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            model.weight.copy_(torch.tensor([[1.0, 1.0]]))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        scaler = _RecordingScaler(scale)
        loss = model(torch.tensor([[3.0, 4.0]])).sum()
        stepped = fn(model, loss, opt, scaler, max_norm)
        return bool(stepped), model.weight.detach().double().numpy(), np.array(scaler.calls)

    run("scaled_step", call, [
        # gradient [3, 4], norm 5, clipped to norm 1 -> [0.6, 0.8]; w = 1 - 0.1 * g = [0.94, 0.92]
        # (clipping the scaled gradient first would leave w at about 1 - 0.1 * [0.6, 0.8] / 1024)
        Case("scale 1024, clip to 1", (1024.0, 1.0), expected=(True, np.array([[0.94, 0.92]]), np.array([False])),
             rtol=1e-5, atol=1e-6),
        # norm 5 < 10: no clipping; w = 1 - 0.1 * [3, 4] = [0.7, 0.6]
        Case("scale 256, max_norm 10", (256.0, 10.0), expected=(True, np.array([[0.7, 0.6]]), np.array([False])),
             rtol=1e-5, atol=1e-6),
        # 7 * 1e38 overflows float32: the step is skipped, the weight stays, update(True) is called
        Case("scale 1e38 overflows: skip", (1e38, 1.0), expected=(False, np.array([[1.0, 1.0]]), np.array([True]))),
    ])


def allocate_bits(fn: Callable) -> None:
    """Check allocate_bits(sensitivity, n_params, budget_bits) on hand-worked two-layer plans."""
    two = {"a": {2: 0.5, 4: 0.0}, "b": {2: 0.9, 4: 0.1}}
    n2 = {"a": 100, "b": 300}
    three = {"a": {2: 1.0, 3: 0.3, 4: 0.25}, "b": {2: 0.4, 3: 0.1, 4: 0.0}}
    n3 = {"a": 10, "b": 10}
    def call(sens: dict, n: dict, budget: float) -> Any:
        out = fn(sens, n, budget)
        if not isinstance(out, dict):
            raise CheckFailed(f"return a dict {{name: bits}}, got {type(out).__name__}")
        return str(dict(sorted((k, int(v)) for k, v in out.items())))

    run("allocate_bits", call, [
        # start at 2 bits: 800 bits used. Upgrading a costs 200 and gains 0.5 / 200 = 0.0025 per bit; b costs 600
        # and gains 0.8 / 600 = 0.0013: a first (1000 used); b would need 1600 > 1400 -> stop
        Case("budget 1400: the small layer gains more per bit", (two, n2, 1400), expected=str({"a": 4, "b": 2})),
        Case("budget 1600: both upgrades fit", (two, n2, 1600), expected=str({"a": 4, "b": 4})),
        Case("budget 700: below the smallest widths", (two, n2, 700), expected=str({"a": 2, "b": 2})),
        # one step at a time: a 2->3 gains 0.07 per bit, then b 2->3 (0.03) beats a 3->4 (0.005); 60 bits used
        Case("budget 60, widths 2/3/4: one step at a time", (three, n3, 60), expected=str({"a": 3, "b": 3})),
    ])
