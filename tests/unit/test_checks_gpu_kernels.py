"""The visible checks of module 15 accept correct host functions and name the wrong ones (NumPy stand-ins)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcourse import checks
from llmcourse.checks import CheckFailed


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def _attention(q, k, v, causal):
    s = q.astype(np.float64) @ k.T / math.sqrt(q.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, bool)), s, -np.inf)
    return _softmax(s) @ v


def _w8a8(wq, sc, xq, xs):
    return (xs * sc * (wq.astype(np.int32) @ xq.astype(np.int32))).astype(np.float32)


def _sparse24(values, meta, x):
    N, G = meta.shape
    pos = np.stack([meta & 3, (meta >> 2) & 3], -1).astype(np.int64) + 4 * np.arange(G)[None, :, None]
    return (values.reshape(N, G, 2) * x[pos]).sum((1, 2)).astype(np.float32)


RIGHT = {
    "n_blocks": lambda n, t: -(-n // t),
    "vector_add": lambda a, b: a + b,
    "row_sum": lambda x: x.sum(1),
    "matmul": lambda a, b: a @ b,
    "softmax": _softmax,
    "flash_attention": _attention,
    "int8_gemv": lambda wq, sc, x: (sc * (wq.astype(np.float32) @ x)).astype(np.float32),
    "w8a8_gemv": _w8a8,
    "sparse24_gemv": _sparse24,
}

WRONG = {
    "n_blocks": lambda n, t: n // t,
    "vector_add": lambda a, b: np.r_[a[:-1] + b[:-1], 0.0].astype(np.float32),  # the last element dropped
    "row_sum": lambda x: x[:, :32].sum(1),  # one block's worth only
    "matmul": lambda a, b: a[:, :8] @ b[:8],  # only the first tile of K
    "softmax": lambda x: (np.exp(x) / np.exp(x).sum(1, keepdims=True)).astype(np.float32),  # no max shift
    "flash_attention": lambda q, k, v, causal: _attention(q, k, v, False),  # mask ignored
    "int8_gemv": lambda wq, sc, x: (wq.astype(np.int8) @ x.astype(np.int8)).astype(np.float32),
    "w8a8_gemv": lambda wq, sc, xq, xs: (xs * sc * (wq.astype(np.int16) @ xq.astype(np.int16))).astype(np.float32),
    "sparse24_gemv": lambda v, m, x: _sparse24(v, (m & 3) | (((m >> 4) & 3) << 2), x),  # second position >> 4
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_checks_accept_a_correct_function(name, capsys):
    with np.errstate(over="ignore"):
        getattr(checks.gpu_kernels, name)(RIGHT[name])
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(WRONG))
def test_checks_reject_a_wrong_function(name):
    with pytest.raises(CheckFailed, match=name):
        getattr(checks.gpu_kernels, name)(WRONG[name])
