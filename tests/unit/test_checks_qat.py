"""Visible self-checks of module 08_qat_mixed_precision: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse import checks
from llmcourse.checks import CheckFailed

# --- small implementations, right and wrong --------------------------------------------------------


def fake_quant(w, bits, group_size=None, trunc=False, axis=-1):
    qmax = 2 ** (bits - 1) - 1
    o, i = w.shape
    g = i if group_size is None else group_size
    wg = w.reshape(o, i // g, g)
    s = wg.abs().amax(axis, keepdim=True) / qmax
    s = torch.where(s > 0, s, torch.ones_like(s))
    r = torch.trunc if trunc else torch.round
    return (torch.clamp(r(wg / s), -qmax, qmax) * s).reshape(o, i)


def _ste(clip: bool):
    class STE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w, scale, qmax):
            x = w / scale
            ctx.save_for_backward(x.abs() <= qmax if clip else torch.ones_like(x, dtype=torch.bool))
            return torch.clamp(torch.round(x), -qmax, qmax) * scale

        @staticmethod
        def backward(ctx, grad_out):
            (m,) = ctx.saved_tensors
            return grad_out * m, None, None
    return STE


def _quant_linear(ste: bool):
    class QL(nn.Module):
        def __init__(self, linear, bits, group_size=None):
            super().__init__()
            self.linear, self.bits = linear, bits

        def forward(self, x):
            w = self.linear.weight
            qmax = 2 ** (self.bits - 1) - 1
            s = w.detach().abs().amax(1, keepdim=True) / qmax
            w_hat = _ste(True).apply(w, s, qmax) if ste else torch.clamp(torch.round(w / s), -qmax, qmax) * s
            return F.linear(x, w_hat, self.linear.bias)
    return QL


def autocast_loss(model, ids, targets, use_autocast=True):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_autocast):
        logits = model(ids)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())


def master_step(master, grad, lr, low=False):
    if low:
        n = master.to(grad.dtype) - lr * grad
        return n.float(), n
    n = master - lr * grad.float()
    return n, n.to(grad.dtype)


def underflow_fraction(grads, scale=1.0, all_entries=False):
    nz = grads != 0
    if not nz.any():
        return 0.0
    lost = ((grads * scale).half() == 0) & nz
    return float(lost.sum()) / (grads.numel() if all_entries else float(nz.sum()))


def _scaler(shrink=True):
    class Scaler:
        def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
            self.scale, self.gf, self.bf, self.gi, self.good_steps = init_scale, growth_factor, backoff_factor, \
                growth_interval, 0

        def update(self, found_inf):
            if found_inf:
                self.scale *= self.bf if shrink else 1.0
                self.good_steps = 0
            else:
                self.good_steps += 1
                if self.good_steps == self.gi:
                    self.scale *= self.gf
                    self.good_steps = 0
    return Scaler


def unscale_grads_(params, scale, nan=True):
    found = False
    for p in params:
        if p.grad is not None:
            p.grad.div_(scale)
            bad = ~torch.isfinite(p.grad) if nan else torch.isinf(p.grad)
            found = found or bool(bad.any())
    return found


def scaled_step(model, loss, optimizer, scaler, max_norm, clip_first=False):
    (loss * scaler.scale).backward()
    if clip_first:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    found = unscale_grads_(model.parameters(), scaler.scale)
    if not found:
        if not clip_first:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
    scaler.update(found)
    return not found


def test_right_answers_pass(capsys):
    checks.qat.fake_quant(fake_quant)
    checks.qat.fake_quant_ste(_ste(True))
    checks.qat.quant_linear(_quant_linear(True))
    checks.qat.autocast_loss(autocast_loss)
    checks.qat.master_step(master_step)
    checks.qat.underflow_fraction(underflow_fraction)
    checks.qat.loss_scaler(_scaler())
    checks.qat.unscale_grads(unscale_grads_)
    checks.qat.scaled_step(scaled_step)
    out = capsys.readouterr().out
    assert out.count("✔") == 9


@pytest.mark.parametrize("check, fn, case", [
    ("fake_quant", lambda w, b, g=None: fake_quant(w, b, g, trunc=True), "rounds to -2"),
    ("fake_quant", lambda w, b, g=None: fake_quant(w, b, g, axis=0) if g is None else fake_quant(w, b, g),
     "rows with different scales"),
    ("fake_quant", lambda w, b, g=None: fake_quant(w, b, g)[:, :1], "wrong shape"),
    ("fake_quant", lambda w, b, g=None: fake_quant(w, b, g) * float("nan"), "NaN"),
    ("fake_quant_ste", _ste(False), "qmax 1"),
    ("quant_linear", _quant_linear(False), "no gradient"),
    ("autocast_loss", lambda m, i, t: autocast_loss(m, i, t, use_autocast=False), "bfloat16"),
    ("master_step", lambda m, g, lr: master_step(m, g, lr, low=True), "updates of 1e-3"),
    ("underflow_fraction", lambda g, s: underflow_fraction(g, s, all_entries=True), "3 of 4"),
    ("loss_scaler", _scaler(shrink=False), "F F T F T"),
    ("unscale_grads", lambda p, s: unscale_grads_(p, s, nan=False), "NaN"),
    ("scaled_step", lambda *a: scaled_step(*a, clip_first=True), "clip to 1"),
])
def test_wrong_answers_fail_naming_the_case(check, fn, case):
    with pytest.raises(CheckFailed, match=case):
        getattr(checks.qat, check)(fn)


def test_not_implemented_and_exceptions():
    def todo(*args, **kwargs):
        raise NotImplementedError()

    def broken(*args, **kwargs):
        raise ValueError("boom")

    with pytest.raises(CheckFailed, match="not implemented"):
        checks.qat.master_step(todo)
    with pytest.raises(CheckFailed, match="raised ValueError: boom"):
        checks.qat.underflow_fraction(broken)
    with pytest.raises(CheckFailed, match="subclass of torch.autograd.Function"):
        checks.qat.fake_quant_ste(fake_quant)


def _alloc(sens, n, budget, per_bit=True):
    bits = {k: min(v) for k, v in sens.items()}
    used = sum(n[k] * b for k, b in bits.items())
    while True:
        best = None
        for k in sorted(sens):
            up = sorted(b for b in sens[k] if b > bits[k])
            if not up or used + n[k] * (up[0] - bits[k]) > budget:
                continue
            extra = n[k] * (up[0] - bits[k])
            gain = (sens[k][bits[k]] - sens[k][up[0]]) / (extra if per_bit else 1)
            if best is None or gain > best[0]:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]], used = best[2], used + best[3]


def test_allocate_bits():
    checks.qat.allocate_bits(_alloc)
    with pytest.raises(CheckFailed, match="budget 1400"):
        checks.qat.allocate_bits(lambda s, n, b: _alloc(s, n, b, per_bit=False))
    with pytest.raises(CheckFailed, match="return a dict"):
        checks.qat.allocate_bits(lambda s, n, b: list(_alloc(s, n, b).items()))
