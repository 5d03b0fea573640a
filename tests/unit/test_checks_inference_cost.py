"""Visible self-checks of module 06_inference_cost: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import math

import pytest

from llmcourse.checks import CheckFailed
from llmcourse.checks import inference_cost as ci

# --- small implementations, right and wrong --------------------------------------------------------


def param_count(cfg):
    C, d_head = cfg["C"], cfg["C"] // cfg["n_head"]
    return cfg["n_layer"] * (2 * C * C + 2 * C * cfg["n_kv_head"] * d_head + 2 * C * cfg["d_ff"]) + C * cfg["V"]


def kv_cache_bytes(cfg, B, T, kv_bits=16):
    return 2 * cfg["n_layer"] * cfg["n_kv_head"] * (cfg["C"] // cfg["n_head"]) * B * T * kv_bits / 8


def step_flops(cfg, B, T_new, T_past):
    keys = sum(T_past + i + 1 for i in range(T_new))
    return 2 * param_count(cfg) * B * T_new + 4 * cfg["n_layer"] * cfg["C"] * B * keys


def step_bytes(cfg, B, T_new, T_past, w_bits=16, kv_bits=16):
    return param_count(cfg) * w_bits / 8 + kv_cache_bytes(cfg, B, T_past + T_new, kv_bits)


def roofline(flops, n_bytes, peak_flops, bandwidth):
    tc, tm = flops / peak_flops, n_bytes / bandwidth
    return flops / n_bytes, max(tc, tm), "compute" if tc >= tm else "memory"


def ridge_batch(peak_flops, bandwidth, w_bits=16):
    return peak_flops / bandwidth * w_bits / 16


# --- right answers pass ----------------------------------------------------------------------------


@pytest.mark.parametrize("check, fn", [
    (ci.param_count, param_count), (ci.kv_cache_bytes, kv_cache_bytes), (ci.step_flops, step_flops),
    (ci.step_bytes, step_bytes), (ci.roofline, roofline), (ci.ridge_batch, ridge_batch),
])
def test_right_answers_pass(check, fn, capsys):
    check(fn)
    assert "✔" in capsys.readouterr().out


def test_integer_and_float_counts_both_pass(capsys):
    ci.step_flops(lambda *a: float(step_flops(*a)))
    ci.kv_cache_bytes(lambda *a, **k: int(kv_cache_bytes(*a, **k)))
    assert capsys.readouterr().out.count("✔") == 2


def test_questions_pass_with_the_right_values(capsys):
    ci.kv_questions(25.0, 5.0, 0.625)
    ci.int8_questions(2.0, 1.0)
    ci.comm_questions(16, 2.0)
    assert capsys.readouterr().out.count("✔") == 3


# --- wrong answers fail, naming the case -----------------------------------------------------------


@pytest.mark.parametrize("check, fn, message", [
    (ci.param_count, lambda cfg: param_count(cfg) - cfg["C"] * cfg["V"], "toy GQA"),
    (ci.param_count, lambda cfg: param_count({**cfg, "n_kv_head": cfg["n_head"]}), "toy GQA"),
    (ci.kv_cache_bytes, lambda cfg, B, T, kv_bits=16: kv_cache_bytes(cfg, B, T, kv_bits) * 8, "one token"),
    (ci.kv_cache_bytes, lambda cfg, B, T, kv_bits=16: kv_cache_bytes(cfg, B, T, kv_bits) / 2, "one token"),
    (ci.step_flops, lambda cfg, B, T_new, T_past: step_flops(cfg, B, T_new, T_past) / 2, "decode the first"),
    (ci.step_flops, lambda cfg, B, T_new, T_past: 2 * param_count(cfg) * B * T_new, "decode the first"),
    (ci.step_bytes, lambda cfg, B, T_new, T_past, w_bits=16, kv_bits=16: param_count(cfg) * w_bits / 8,
     "decode the first"),
    (ci.roofline, lambda f, b, p, bw: (b / f, max(f / p, b / bw), "compute" if f / p >= b / bw else "memory"),
     "compute-bound"),
    (ci.roofline, lambda f, b, p, bw: (f / b, f / p + b / bw, "compute" if f / p >= b / bw else "memory"),
     "compute-bound"),
    (ci.ridge_batch, lambda p, bw, w_bits=16: p / bw * w_bits / 8, "fp16"),
    (ci.ridge_batch, lambda p, bw, w_bits=16: p / bw * w_bits / 2, "fp16"),
])
def test_wrong_values_fail_naming_the_case(check, fn, message):
    with pytest.raises(CheckFailed, match=message):
        check(fn)


def test_nan_exception_and_stub_fail():
    with pytest.raises(CheckFailed, match="NaN"):
        ci.step_bytes(lambda *a, **k: math.nan)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        ci.roofline(lambda f, b, p, bw: 1 / 0)
    with pytest.raises(CheckFailed, match="not implemented"):
        ci.param_count(lambda cfg: (_ for _ in ()).throw(NotImplementedError()))
    with pytest.raises(CheckFailed, match="expected a tuple"):
        ci.roofline(lambda f, b, p, bw: f / b)


@pytest.mark.parametrize("args, message", [
    ((None, 5.0, 0.625), "still None"),
    ((26.84, 5.37, 0.671), None),   # GB instead of GiB keeps the ratios: only the hidden tests catch it
    ((25.0, 25.0, 0.625), "5 times"),
    ((25.0 * 2**30, 5.0 * 2**30, 0.625 * 2**30), "bytes"),
    (("a lot", 5.0, 0.625), "number"),
])
def test_kv_questions(args, message, capsys):
    if message is None:
        ci.kv_questions(*args)
        assert "✔" in capsys.readouterr().out
    else:
        with pytest.raises(CheckFailed, match=message):
            ci.kv_questions(*args)


def test_other_questions_refuse_non_numbers():
    with pytest.raises(CheckFailed, match="None"):
        ci.int8_questions(None, 1.0)
    with pytest.raises(CheckFailed, match="16x"):
        ci.int8_questions(32.0, 1.0)
    with pytest.raises(CheckFailed, match="positive"):
        ci.comm_questions(-16, 2.0)
    with pytest.raises(CheckFailed, match="at least 1"):
        ci.comm_questions(0.5, 2.0)
