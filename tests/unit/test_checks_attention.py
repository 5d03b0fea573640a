"""Visible self-checks of module 01_attention: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcourse import checks
from llmcourse.checks import CheckFailed
from llmcourse.checks import attention as ca

# --- small implementations, right and wrong ------------------------------------------------------


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def row_entropy(weights, axis=-1):
    p = np.asarray(weights, dtype=np.float64)
    return -np.sum(p * np.log(p, out=np.zeros_like(p), where=p > 0), axis=axis)


def attention(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = softmax(s)
    return w @ v, w


def score_variance(d_k, n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    s = (rng.standard_normal((n, d_k)) * rng.standard_normal((n, d_k))).sum(axis=-1)
    return float(s.var()), float((s / math.sqrt(d_k)).var())


def attention_flops(T_q, T_k, d_k, d_v):
    return 2 * T_q * T_k * (d_k + d_v)


def score_matrix_bytes(B, n_head, T_q, T_k, dtype):
    return B * n_head * T_q * T_k * np.dtype(dtype).itemsize


def stub(*args, **kwargs):
    raise NotImplementedError()


RIGHT = [
    (ca.softmax, softmax),
    (ca.row_entropy, row_entropy),
    (ca.scaled_dot_product_attention, attention),
    (ca.score_variance, score_variance),
    (ca.attention_flops, attention_flops),
    (ca.score_matrix_bytes, score_matrix_bytes),
]


@pytest.mark.parametrize("check, fn", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_right_answers_pass_with_one_line(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("✔"), out


def test_checks_are_reachable_from_the_package():
    assert checks.attention is ca


@pytest.mark.parametrize("check, fn", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_stubs_are_reported_as_not_implemented(check, fn):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(stub)


# --- softmax ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn, case, message", [
    (lambda x, axis=-1: np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True), "large logits", "RuntimeWarning"),
    (lambda x, axis=-1: softmax(x, -1), "axis=0", "wrong values"),
    (lambda x, axis=-1: softmax(x, axis)[..., :1], "[0, ln 2, ln 3]", "wrong shape"),
    (lambda x, axis=-1: softmax(x, axis) * np.nan, "[0, ln 2, ln 3]", "NaN"),
    (lambda x, axis=-1: x.sum(axis=axis, foo=1), "[0, ln 2, ln 3]", "raised TypeError"),
])
def test_softmax_failures_name_the_case(fn, case, message):
    with pytest.raises(CheckFailed, match=message) as info:
        ca.softmax(fn)
    assert "case '" in str(info.value) and case in str(info.value)


def test_softmax_in_place_is_reported():
    def in_place(x, axis=-1):
        x -= x.max(axis=axis, keepdims=True)
        return softmax(x, axis)

    with pytest.raises(CheckFailed, match="in place"):
        ca.softmax(in_place)


# --- row_entropy --------------------------------------------------------------------------------


@pytest.mark.parametrize("fn, case, message", [
    (lambda p, axis=-1: -(p * np.log(p)).sum(axis=axis), "one-hot", "RuntimeWarning"),
    (lambda p, axis=-1: row_entropy(p, axis) / math.log(2), "uniform over 4", "wrong values"),
    (lambda p, axis=-1: row_entropy(p, -1), "axis=0", "wrong values"),
    (lambda p, axis=-1: np.atleast_1d(row_entropy(p, axis)), "uniform over 4", "wrong shape"),
])
def test_row_entropy_failures_name_the_case(fn, case, message):
    with pytest.raises(CheckFailed, match=message) as info:
        ca.row_entropy(fn)
    assert "case '" in str(info.value) and case in str(info.value)


def test_row_entropy_nan_without_warning_is_reported():
    def nan_quietly(p, axis=-1):
        with np.errstate(divide="ignore", invalid="ignore"):
            return -(p * np.log(p)).sum(axis=axis)

    with pytest.raises(CheckFailed, match="NaN") as info:
        ca.row_entropy(nan_quietly)
    assert "case 'one-hot" in str(info.value)


# --- attention ------------------------------------------------------------------------------------


def _no_scale(q, k, v, mask=None):
    return attention(q * math.sqrt(q.shape[-1]), k, v, mask)


def _wrong_axis(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = softmax(s, axis=-2)
    return w @ v, w


def _mask_inverted(q, k, v, mask=None):
    return attention(q, k, v, None if mask is None else ~mask)


def _k_dot_T(q, k, v, mask=None):
    s = q @ k.T / math.sqrt(q.shape[-1])
    w = softmax(np.where(mask, s, -np.inf) if mask is not None else s)
    return w @ v, w


@pytest.mark.parametrize("fn, case, message", [
    (_no_scale, "one query, two keys", "wrong values"),
    (_wrong_axis, "one query, two keys", "wrong values"),
    (lambda q, k, v, mask=None: attention(q, k, v), "mask", "wrong values"),
    (_mask_inverted, "mask", "RuntimeWarning|NaN|wrong values"),
    (_k_dot_T, "batch of 2", "raised ValueError"),
    (lambda q, k, v, mask=None: attention(q, k, v, mask)[0], "one query, two keys", "tuple of 2"),
    (lambda q, k, v, mask=None: attention(q, k, v, mask)[::-1], "one query, two keys", "element 0"),
])
def test_attention_failures_name_the_case(fn, case, message):
    with pytest.raises(CheckFailed, match=message) as info:
        ca.scaled_dot_product_attention(fn)
    assert "case '" in str(info.value) and case in str(info.value)


def test_attention_property_case_catches_rows_not_summing_to_one():
    def unnormalised_on_big_inputs(q, k, v, mask=None):
        out, w = attention(q, k, v, mask)
        return (out, w * 2) if q.ndim == 4 else (out, w)

    with pytest.raises(CheckFailed, match="sum to 1") as info:
        ca.scaled_dot_product_attention(unnormalised_on_big_inputs)
    assert "case 'random q (2, 3, 5, 8)" in str(info.value)


# --- score_variance, flops, bytes, choice ----------------------------------------------------------


@pytest.mark.parametrize("fn, message", [
    (lambda d_k, n=20_000, seed=0: tuple(math.sqrt(x) for x in score_variance(d_k, n, seed)), "close to d_k = 16"),
    (lambda d_k, n=20_000, seed=0: (score_variance(d_k, n, seed)[0], score_variance(d_k, n, seed)[0] / d_k**2),
     "close to 1"),
    (lambda d_k, n=20_000, seed=0: score_variance(d_k, n, seed)[0], "expected a tuple"),
    (lambda d_k, n=20_000, seed=0: score_variance(d_k, n, np.random.SeedSequence().entropy % 1000),
     "same seed twice"),
])
def test_score_variance_failures_name_the_case(fn, message):
    with pytest.raises(CheckFailed, match=message):
        ca.score_variance(fn)


@pytest.mark.parametrize("fn, case", [
    (lambda T_q, T_k, d_k, d_v: T_q * T_k * (d_k + d_v), "T_q = T_k = d_k = d_v = 1"),
    (lambda T_q, T_k, d_k, d_v: 2 * T_q * T_k * d_k * 2, "T_q = 2, T_k = 3"),
])
def test_attention_flops_failures_name_the_case(fn, case):
    with pytest.raises(CheckFailed, match="wrong values") as info:
        ca.attention_flops(fn)
    assert "case '" in str(info.value) and case in str(info.value)


@pytest.mark.parametrize("fn, case", [
    (lambda B, n_head, T_q, T_k, dtype: B * n_head * T_q * T_k * 4, "B = 2, n_head = 4"),
    (lambda B, n_head, T_q, T_k, dtype: B * n_head * T_q * T_k, "B = 1, n_head = 1"),
])
def test_score_matrix_bytes_failures_name_the_case(fn, case):
    with pytest.raises(CheckFailed, match="wrong values") as info:
        ca.score_matrix_bytes(fn)
    assert "case '" in str(info.value) and case in str(info.value)


def test_choice_accepts_a_letter_and_rejects_anything_else(capsys):
    ca.choice("answer_x", " B ")
    assert "'b' recorded" in capsys.readouterr().out
    for bad in ("", None, "e", "ab", 2):
        with pytest.raises(CheckFailed, match="answer_x"):
            ca.choice("answer_x", bad)
