"""Visible self-checks for module 06_inference_cost.

Counts are compared as numbers: an int and a float with the same value are both accepted.

Every expected value is worked out by hand on a toy configuration, with the arithmetic in a comment next to
the case. Nothing here counts parameters, FLOPs or bytes for you.

The toy configurations (d_head = C // n_head):
    TOY_GQA: 1 layer, C = 4, 2 query heads, 1 kv head (d_head 2), d_ff = 8, V = 10
             Wq 4*4 = 16, Wk and Wv 4*(1*2) = 8 each, Wo 16, MLP 4*8 + 8*4 = 64, head 4*10 = 40 -> 152
    TOY_MHA: 2 layers, C = 4, 2 query heads, 2 kv heads, d_ff = 16, V = 3
             per layer 16 + 16 + 16 + 16 + 2*4*16 = 192, two layers 384, head 12 -> 396
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ._core import Case, CheckFailed, run

TOY_GQA = {"n_layer": 1, "C": 4, "n_head": 2, "n_kv_head": 1, "d_ff": 8, "V": 10}
TOY_MHA = {"n_layer": 2, "C": 4, "n_head": 2, "n_kv_head": 2, "d_ff": 16, "V": 3}


def param_count(fn: Callable) -> None:
    """Check param_count(cfg): matmul weights of every layer plus the LM head."""
    run("param_count", fn, [
        Case("toy GQA model (1 kv head)", (dict(TOY_GQA),), expected=152),
        Case("toy MHA model (2 layers)", (dict(TOY_MHA),), expected=396),
    ])


def kv_cache_bytes(fn: Callable) -> None:
    """Check kv_cache_bytes(cfg, B, T, kv_bits)."""
    run("kv_cache_bytes", fn, [
        # 2 (K, V) * 1 layer * 1 kv head * d_head 2 * 1 token * 2 bytes = 8
        Case("one token, fp16", (dict(TOY_GQA), 1, 1), expected=8),
        # 2 * 1 * 1 * 2 * (B 3 * T 5) * 1 byte = 60
        Case("batch 3, 5 tokens, int8", (dict(TOY_GQA), 3, 5), {"kv_bits": 8}, expected=60),
        # 2 * 2 layers * 2 kv heads * 2 * 10 tokens * 4 bytes = 640
        Case("MHA, 10 tokens, fp32", (dict(TOY_MHA), 1, 10), {"kv_bits": 32}, expected=640),
    ])


def step_flops(fn: Callable) -> None:
    """Check step_flops(cfg, B, T_new, T_past)."""
    run("step_flops", fn, [
        # matmuls 2 * 152 = 304; attention 4 * 1 layer * C 4 * 1 key = 16 -> 320
        Case("decode the first token", (dict(TOY_GQA), 1, 1, 0), expected=320),
        # matmuls 2 * 152 * B 2 = 608; attention 4 * 1 * 4 * B 2 * (9 past + 1) keys = 320 -> 928
        Case("decode, batch 2, 9 cached tokens", (dict(TOY_GQA), 2, 1, 9), expected=928),
        # matmuls 2 * 152 * 3 tokens = 912; causal keys 1 + 2 + 3 = 6, attention 4 * 1 * 4 * 6 = 96 -> 1008
        Case("prefill 3 tokens", (dict(TOY_GQA), 1, 3, 0), expected=1008),
    ])


def step_bytes(fn: Callable) -> None:
    """Check step_bytes(cfg, B, T_new, T_past, w_bits, kv_bits)."""
    run("step_bytes", fn, [
        # weights 152 * 2 bytes = 304; cache after the step: 1 token * 8 bytes -> 312
        Case("decode the first token, fp16", (dict(TOY_GQA), 1, 1, 0), expected=312),
        # weights 152 * 4 bits / 8 = 76; cache 2 sequences * 10 tokens * 8 bytes = 160 -> 236
        Case("decode, batch 2, int4 weights", (dict(TOY_GQA), 2, 1, 9), {"w_bits": 4}, expected=236),
        # weights 152 * 4 = 608; cache 3 tokens * 2 * 1 * 1 * 2 * 4 bytes = 48 -> 656
        Case("prefill 3 tokens, fp32", (dict(TOY_GQA), 1, 3, 0), {"w_bits": 32, "kv_bits": 32}, expected=656),
    ])


def roofline(fn: Callable) -> None:
    """Check roofline(flops, n_bytes, peak_flops, bandwidth) -> (intensity, seconds, bound)."""
    run("roofline", fn, [
        # intensity 100 / 50 = 2; compute 100 / 10 = 10 s, memory 50 / 10 = 5 s -> compute-bound, 10 s
        Case("compute-bound", (100.0, 50.0, 10.0, 10.0), expected=(2.0, 10.0, "compute")),
        # intensity 100 / 400 = 0.25; compute 1 s, memory 400 / 10 = 40 s -> memory-bound, 40 s
        Case("memory-bound", (100.0, 400.0, 100.0, 10.0), expected=(0.25, 40.0, "memory")),
    ])


def ridge_batch(fn: Callable) -> None:
    """Check ridge_batch(peak_flops, bandwidth, w_bits)."""
    run("ridge_batch", fn, [
        # ridge 100 / 10 = 10 FLOPs/byte; a step does 2 B FLOPs per 2-byte weight: B = 10 * 2 / 2 = 10
        Case("fp16 weights", (100.0, 10.0, 16), expected=10.0),
        # 1-byte weights: intensity 2 B, so B = 10 / 2 = 5
        Case("int8 weights", (100.0, 10.0, 8), expected=5.0),
        # ridge 100, half-byte weights: intensity 4 B, so B = 25
        Case("int4 weights", (1000.0, 10.0, 4), expected=25.0),
    ])


def _numbers(label: str, values: dict[str, object]) -> dict[str, float]:
    """The answers as floats, or CheckFailed naming the first one that is not a finite positive number."""
    out = {}
    for name, value in values.items():
        if value is None:
            raise CheckFailed(f"{label}: `{name}` is still None; set it to a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise CheckFailed(f"{label}: `{name}` should be a number, got {value!r}") from None
        if not math.isfinite(number) or number <= 0:
            raise CheckFailed(f"{label}: `{name}` should be a finite positive number, got {value!r}")
        out[name] = number
    return out


def kv_questions(kv_gib_mha: object, kv_gib_gqa: object, kv_gib_mqa: object) -> None:
    """Check the answers' types and the ratios that follow from the head counts (not the values)."""
    got = _numbers("kv_questions", {"kv_gib_mha": kv_gib_mha, "kv_gib_gqa": kv_gib_gqa, "kv_gib_mqa": kv_gib_mqa})
    if not math.isclose(got["kv_gib_mha"] / got["kv_gib_gqa"], 40 / 8, rel_tol=1e-3):
        raise CheckFailed("kv_questions: MHA (40 kv heads) should need 40 / 8 = 5 times the GQA-8 cache")
    if not math.isclose(got["kv_gib_mha"] / got["kv_gib_mqa"], 40, rel_tol=1e-3):
        raise CheckFailed("kv_questions: MHA (40 kv heads) should need 40 times the MQA cache")
    if got["kv_gib_mha"] > 1000:
        raise CheckFailed("kv_questions: more than 1000 GiB; did you give bytes (or bits) instead of GiB?")
    print("✔ kv_questions: numbers with the right ratios (the values are graded by hidden tests)")


def int8_questions(int8_speedup_batch1: object, int8_speedup_compute_bound: object) -> None:
    """Check the answers are plausible speed-up factors."""
    got = _numbers("int8_questions", {"int8_speedup_batch1": int8_speedup_batch1,
                                      "int8_speedup_compute_bound": int8_speedup_compute_bound})
    if any(v > 16 for v in got.values()):
        raise CheckFailed("int8_questions: a speed-up above 16x from 16 to 8 bits? Give a ratio of times")
    print("✔ int8_questions: two plausible speed-up factors (the values are graded by hidden tests)")


def comm_questions(ws_crossover_chips: object, ws_1d_over_2d_at_64: object) -> None:
    """Check the answers are plausible numbers."""
    got = _numbers("comm_questions", {"ws_crossover_chips": ws_crossover_chips,
                                      "ws_1d_over_2d_at_64": ws_1d_over_2d_at_64})
    if got["ws_crossover_chips"] < 1:
        raise CheckFailed("comm_questions: `ws_crossover_chips` is a number of chips, at least 1")
    print("✔ comm_questions: plausible numbers (the values are graded by hidden tests)")
