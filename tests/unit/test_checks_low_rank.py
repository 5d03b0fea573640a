"""Visible checks of module 10_low_rank: correct functions pass, wrong ones fail naming the case.

The correct functions here are small test doubles written for these tests (not shipped in the package).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from llmcourse.checks import CheckFailed
from llmcourse.checks import low_rank as lc


def trunc_ok(W, r):
    if not 1 <= r <= min(W.shape):
        raise ValueError("rank")
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r] * S[:r], Vt[:r]


def trunc_cols(W, r):
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r] * S[:r], Vt[:, :r].T


def trunc_no_check(W, r):
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r] * S[:r], Vt[:r]


def ey_ok(s, r):
    return math.hypot(*[float(x) for x in np.asarray(s)[r:]])


def ey_overflow(s, r):
    return float(np.sqrt(np.sum(np.asarray(s, dtype=np.float64)[r:] ** 2)))


def energy_ok(s, frac):
    s = np.asarray(s, dtype=np.float64)
    if s.max() == 0:
        return 0
    c = np.cumsum((s / s.max()) ** 2)
    return int(np.argmax(c >= frac * c[-1]) + 1)


def energy_strict(s, frac):
    s = np.asarray(s, dtype=np.float64)
    if s.max() == 0:
        return 0
    c = np.cumsum((s / s.max()) ** 2)
    return int(np.argmax(c > frac * c[-1]) + 1)


def rsvd_ok(W, r, oversample=10, n_power=2, seed=0):
    m, n = W.shape
    omega = np.random.default_rng(seed).standard_normal((n, min(r + oversample, m, n)))
    Q, _ = np.linalg.qr(W @ omega)
    for _ in range(n_power):
        Q, _ = np.linalg.qr(W @ np.linalg.qr(W.T @ Q)[0])
    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)
    return (Q @ Ub)[:, :r], S[:r], Vt[:r]


def rsvd_q_only(W, r, oversample=10, n_power=2, seed=0):
    U, S, Vt = rsvd_ok(W, r, oversample, n_power, seed)
    m, n = W.shape
    Q, _ = np.linalg.qr(W @ np.random.default_rng(seed).standard_normal((n, min(r + oversample, m, n))))
    return Q[:, :r], S, Vt


def power_ok(W, k, n_iter=200, seed=0):
    U, S, Vt = np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)
    U, S, Vt = U[:, :k], S[:k].copy(), Vt[:k]
    U[:, S == 0] = 0
    Vt[S == 0] = 0
    return U, S, Vt


def power_no_deflation(W, k, n_iter=200, seed=0):
    U, S, Vt = power_ok(W, 1)
    return np.repeat(U, k, axis=1), np.repeat(S, k), np.repeat(Vt, k, axis=0)


def als_ok(W, r, n_iter=50, lam=0.0, seed=0):
    W = np.asarray(W, dtype=np.float64)
    B = np.random.default_rng(seed).standard_normal((r, W.shape[1]))
    for _ in range(n_iter):
        A = np.linalg.solve(B @ B.T + lam * np.eye(r), B @ W.T).T
        B = np.linalg.solve(A.T @ A + lam * np.eye(r), A.T @ W)
    return A, B


def als_no_ridge_in_a(W, r, n_iter=50, lam=0.0, seed=0):
    W = np.asarray(W, dtype=np.float64)
    B = np.random.default_rng(seed).standard_normal((r, W.shape[1]))
    for _ in range(n_iter):
        A = np.linalg.solve(B @ B.T, B @ W.T).T
        B = np.linalg.solve(A.T @ A + lam * np.eye(r), A.T @ W)
    return A, B


def aware_ok(W, X, r):
    s = np.sqrt(np.mean(np.square(X), axis=0))
    s = np.where(s > 0, s, 1.0)
    A, B = trunc_ok(s[:, None] * W, r)
    return A / s[:, None], B


def aware_divide(W, X, r):
    s = np.sqrt(np.mean(np.square(X), axis=0))
    s = np.where(s > 0, s, 1.0)
    A, B = trunc_ok(W / s[:, None], r)
    return A * s[:, None], B


def prf_ok(x, omega):
    return np.exp(x @ omega - 0.5 * np.sum(x * x, axis=-1, keepdims=True)) / np.sqrt(omega.shape[1])


def prf_no_norm(x, omega):
    return np.exp(x @ omega) / np.sqrt(omega.shape[1])


def lin_ok(pq, pk, v):
    w = np.tril(pq @ pk.T)
    den = w.sum(axis=1, keepdims=True)
    out = np.zeros((pq.shape[0], v.shape[1]))
    np.divide(w @ v, den, out=out, where=den > 0)
    return out


def lin_exclusive(pq, pk, v):
    w = np.tril(pq @ pk.T, -1)
    den = w.sum(axis=1, keepdims=True)
    out = np.zeros((pq.shape[0], v.shape[1]))
    np.divide(w @ v, den, out=out, where=den > 0)
    return out


class LoraOk(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, base.in_features) * 0.1)
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.A.T) @ self.B.T * self.scale


class LoraNoScale(LoraOk):
    def forward(self, x):
        return self.base(x) + (x @ self.A.T) @ self.B.T


class LoraRandomB(LoraOk):
    def __init__(self, base, r, alpha):
        super().__init__(base, r, alpha)
        self.B = nn.Parameter(torch.randn(base.out_features, r))


class LoraStub(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        raise NotImplementedError()


def merge_ok(layer):
    m = nn.Linear(layer.base.in_features, layer.base.out_features, bias=layer.base.bias is not None)
    with torch.no_grad():
        m.weight.copy_(layer.base.weight + layer.scale * layer.B @ layer.A)
        if layer.base.bias is not None:
            m.bias.copy_(layer.base.bias)
    return m


def merge_no_scale(layer):
    m = merge_ok(layer)
    with torch.no_grad():
        m.weight.copy_(layer.base.weight + layer.B @ layer.A)
    return m


def merge_in_place(layer):
    with torch.no_grad():
        layer.base.weight += layer.scale * layer.B @ layer.A
    return layer.base


def stub(*args, **kwargs):
    raise NotImplementedError()


CORRECT = [
    (lc.truncated_svd, (trunc_ok,)), (lc.eckart_young_error, (ey_ok,)), (lc.energy_rank, (energy_ok,)),
    (lc.break_even_rank, (lambda m, n: (m * n - 1) // (m + n),)), (lc.randomized_svd, (rsvd_ok,)),
    (lc.power_svd, (power_ok,)), (lc.als_factorize, (als_ok,)), (lc.activation_aware_svd, (aware_ok,)),
    (lc.positive_random_features, (prf_ok,)), (lc.causal_linear_attention, (lin_ok,)),
    (lc.lora_linear, (LoraOk,)), (lc.merge_lora, (merge_ok, LoraOk)),
]


@pytest.mark.parametrize("check, args", CORRECT, ids=lambda v: getattr(v, "__name__", ""))
def test_correct_answers_pass(check, args, capsys):
    check(*args)
    assert "✔" in capsys.readouterr().out


WRONG = [
    (lc.truncated_svd, (trunc_cols,), "column 2"),
    (lc.truncated_svd, (trunc_no_check,), "ValueError"),
    (lc.eckart_young_error, (ey_overflow,), "1e200"),
    (lc.energy_rank, (energy_strict,), "frac 1.0"),
    (lc.break_even_rank, (lambda m, n: m * n // (m + n),), "(4, 4)"),
    (lc.randomized_svd, (rsvd_q_only,), "randomized_svd"),
    (lc.power_svd, (power_no_deflation,), "k = 2"),
    (lc.als_factorize, (als_no_ridge_in_a,), "lam = 1"),
    (lc.activation_aware_svd, (aware_divide,), "loud"),
    (lc.positive_random_features, (prf_no_norm,), "x = [1, 0]"),
    (lc.causal_linear_attention, (lin_exclusive,), "T = 3"),
    (lc.lora_linear, (LoraNoScale,), "alpha / r"),
    (lc.lora_linear, (LoraRandomB,), "B must start at zero"),
    (lc.merge_lora, (merge_no_scale, LoraOk), "alpha / r"),
    (lc.merge_lora, (merge_in_place, LoraOk), "modified"),
]


@pytest.mark.parametrize("check, args, words", WRONG, ids=lambda v: getattr(v, "__name__", str(v))[:20])
def test_wrong_answers_fail_naming_the_case(check, args, words):
    with pytest.raises(CheckFailed) as info:
        check(*args)
    assert words in str(info.value)


@pytest.mark.parametrize("check, args", [
    (lc.truncated_svd, (stub,)), (lc.randomized_svd, (stub,)), (lc.power_svd, (stub,)),
    (lc.causal_linear_attention, (stub,)), (lc.lora_linear, (LoraStub,)), (lc.merge_lora, (stub, LoraOk)),
    (lc.merge_lora, (merge_ok, LoraStub)),
])
def test_stubs_say_not_implemented(check, args):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(*args)
