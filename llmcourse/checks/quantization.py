"""Visible self-checks for module 07_quantization.

Expected values are worked out by hand on tiny inputs (the arithmetic sits next to each case) or are
properties any correct answer has. No check holds a quantizer or a kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._core import Case, CheckFailed, compare, run

F32 = np.float32


def _bits(values: list[int]) -> np.ndarray:
    """float32 numbers from their IEEE bit patterns."""
    return np.array(values, dtype=np.uint32).view(np.float32)


# --- 1. floating point --------------------------------------------------------------------------

def round_to_bf16(fn: Callable) -> None:
    """Check round_to_bf16 on hand-picked bit patterns: exact, below/above half, ties to even, overflow."""
    x = _bits([
        0x3F800000,  # 1.0: already a bf16 value
        0x3F807FFF,  # just below half a bf16 step above 1.0 -> 1.0
        0x3F808001,  # just above half -> next bf16, 0x3F810000
        0x3F808000,  # tie, kept part 0x3F80 even -> stays 0x3F800000
        0x3F818000,  # tie, kept part 0x3F81 odd -> up to 0x3F820000
        0xBF818000,  # the same tie, negative -> 0xBF820000
        0x7F7FFFFF,  # largest fp32 rounds up past bf16's largest -> inf
        0x7F800000,  # inf stays inf
    ])
    expected = _bits([0x3F800000, 0x3F800000, 0x3F810000, 0x3F800000, 0x3F820000, 0xBF820000,
                      0x7F800000, 0x7F800000])

    def exact_bits(got):
        got = np.asarray(got)
        if got.dtype != np.float32 or got.shape != x.shape:
            return f"expected float32 of shape {x.shape}, got {got.dtype} {got.shape}"
        bad = np.flatnonzero(got.view(np.uint32) != expected.view(np.uint32))
        if bad.size:
            i = bad[0]
            return (f"input bits {x.view(np.uint32)[i]:#010x}: expected {expected.view(np.uint32)[i]:#010x}, "
                    f"got {got.view(np.uint32)[i]:#010x} (truncating? ties must go to the even neighbour)")
        return None

    nans = _bits([0x7F800001, 0xFFFFFFFF, 0x7FC00000, 0xFF80FFFF])  # payload in the low bits; all ones; quiet

    def stays_nan(got):
        got = np.asarray(got, dtype=np.float32)
        bad = np.flatnonzero(~np.isnan(got))
        if bad.size:
            i = bad[0]
            return (f"input bits {nans.view(np.uint32)[i]:#010x} is a NaN and must stay NaN, got {got[i]} "
                    f"(the rounding carry ran into the exponent: treat NaNs apart)")
        return None

    run("round_to_bf16", fn, [
        Case("8 bit patterns: exact, below/above half, ties, overflow", (x,), prop=exact_bits),
        Case("NaN stays NaN, whatever its payload", (nans,), prop=stays_nan),
        Case("a (2, 2) array keeps its shape", (np.array([[1.0, 2.0], [3.0, -0.5]], dtype=F32),),
             expected=np.array([[1.0, 2.0], [3.0, -0.5]], dtype=F32)),
    ])


# --- 2. integer quantization ----------------------------------------------------------------------

W_HAND = np.array([[1.4, -0.33], [0.52, -0.95]], dtype=F32)


def _int8_codes(expected_q, expected_scale, rtol: float = 1e-6, scale_name: str = "scale") -> Callable:
    """A Case property for a (q int8, scale) result: the tuple, q's dtype, the codes, then the scale(s)."""
    def prop(got):
        if not isinstance(got, tuple) or len(got) != 2:
            return f"expected a tuple (q, {scale_name}), got {type(got).__name__}"
        q, scale = got
        if np.asarray(q).dtype != np.int8:
            return f"q must be int8, got {np.asarray(q).dtype}"
        return (compare(np.asarray(expected_q), np.asarray(q).astype(np.int64), where="(q)")
                or compare(np.asarray(expected_scale), np.asarray(scale), rtol=rtol, where=f"({scale_name})"))
    return prop


def quantize_absmax(fn: Callable) -> None:
    """Check quantize_absmax on a 2x2 matrix at 4 bits (qmax = 7), per tensor and per column, and at 8 bits."""
    run("quantize_absmax", fn, [
        # absmax 1.4, scale 1.4 / 7 = 0.2; w / 0.2 = [[7, -1.65], [2.6, -4.75]] -> round [[7, -2], [3, -5]]
        Case("per tensor, 4 bits", (W_HAND,), {"bits": 4, "axis": None},
             prop=_int8_codes([[7, -2], [3, -5]], [[0.2]])),
        # column 0: scale 0.2 -> [7, 3]; column 1: scale 0.95 / 7 = 0.135714 -> [-2.43, -7] -> [-2, -7]
        Case("per column (axis=0), 4 bits", (W_HAND,), {"bits": 4, "axis": 0},
             prop=_int8_codes([[7, -2], [3, -7]], [[0.2, 0.95 / 7]], rtol=1e-5)),
        # absmax 2.54 -> scale 2.54 / 127 = 0.02; [2.54, -1.26, 0.0299] / 0.02 = [127, -63, 1.495 -> 1]
        Case("a vector at 8 bits: the largest value maps to +127", (np.array([2.54, -1.26, 0.0299], dtype=F32),),
             {"bits": 8}, prop=_int8_codes([127, -63, 1], [0.02], rtol=1e-5)),
    ])


def quantize_asymmetric(quant: Callable, dequant: Callable) -> None:
    """Check the affine quantizer's scale, integer zero point, codes and the dequantizer at 2 and 8 bits."""
    def triple(exp_q, exp_scale, exp_zp):
        def prop(got):
            if not isinstance(got, tuple) or len(got) != 3:
                return f"expected a tuple (q, scale, zero_point), got {type(got).__name__}"
            q, scale, zp = got
            if np.asarray(q).dtype != np.uint8:
                return f"q must be uint8, got {np.asarray(q).dtype}"
            if not isinstance(zp, (int, np.integer)):
                return f"zero_point must be an integer (int or np.integer), got {type(zp).__name__} {zp!r}"
            return (compare(np.asarray(exp_q), np.asarray(q).astype(np.int64), where="(q)")
                    or compare(exp_scale, float(scale), rtol=1e-6, where="(scale)")
                    or compare(exp_zp, int(zp), where="(zero_point)"))
        return prop

    run("quantize_asymmetric", quant, [
        # 2 bits: codes 0..3; range [-1, 2] -> scale 1.0, zero_point round(1 / 1) = 1; q = round(w) + 1
        Case("2 bits, range [-1, 2]", (np.array([-1.0, 0.0, 0.6, 2.0], dtype=F32), 2),
             prop=triple([0, 1, 2, 3], 1.0, 1)),
        # 8 bits: range [-0.5, 2.05] -> scale 2.55 / 255 = 0.01, zero_point 50; 1.004 -> 100.4 -> 100 + 50
        Case("8 bits, range [-0.5, 2.05]", (np.array([-0.5, 2.05, 1.004], dtype=F32),),
             prop=triple([0, 255, 150], 0.01, 50)),
        # all positive [2, 5]: widened to [0, 5], scale 5/255, zero_point 0; 2 -> 102, 5 -> 255
        Case("all positive values: the range is widened to include 0", (np.array([2.0, 5.0], dtype=F32),),
             prop=triple([102, 255], 5 / 255, 0)),
        # calibrated range [-1, 2] at 2 bits: scale 1, zero_point 1; -4 -> -3 saturates at 0, 5 -> 6 at 3
        Case("values outside a calibrated range saturate", (np.array([-4.0, 5.0, 0.2], dtype=F32), 2, -1.0, 2.0),
             prop=triple([0, 3, 1], 1.0, 1)),
    ])
    run("dequantize_asymmetric", dequant, [
        # (q - zp) * scale = ([3, 5, 200] - 5) * 0.5 = [-1, 0, 97.5]; 3 - 5 must not wrap to 254
        Case("codes below the zero point (no uint8 wrap-around)", (np.array([3, 5, 200], dtype=np.uint8), 0.5, 5),
             expected=np.array([-1.0, 0.0, 97.5], dtype=F32)),
    ])


def quantize_groupwise(fn: Callable) -> None:
    """Check group-wise scales on a (4, 2) matrix with groups of 2 rows, and the ValueError."""
    # column 0 = [1, 7, 2, -4]: groups [1, 7] (absmax 7, scale 1 at 4 bits) and [2, -4] (scale 4/7)
    # column 1 = [0.7, 0.07, 14, 3.5]: groups [0.7, 0.07] (scale 0.1) and [14, 3.5] (scale 2)
    w = np.array([[1.0, 0.7], [7.0, 0.07], [2.0, 14.0], [-4.0, 3.5]], dtype=F32)
    # codes: col 0: [1, 7] and [2.1 / (4/7) = 3.675 -> 4, -7]; col 1: [7, 0.7 -> 1] and [7, 1.75 -> 2]
    w[2, 0] = 2.1  # 2.0 would sit exactly on a rounding tie

    prop = _int8_codes([[1, 7], [7, 1], [4, 7], [-7, 2]], [[1.0, 0.1], [4 / 7, 2.0]], rtol=1e-5, scale_name="scales")

    run("quantize_groupwise", fn, [Case("(4, 2) matrix, groups of 2 rows, 4 bits", (w, 2), prop=prop)], quiet=True)
    head = "quantize_groupwise, case 'group size that does not divide K'"
    try:
        fn(np.ones((4, 2), dtype=F32), 3)
    except ValueError:
        pass
    except Exception as exc:  # noqa: BLE001 - any other exception is the learner's bug, reported by name
        raise CheckFailed(f"{head}: expected a ValueError, got {type(exc).__name__}: {exc}") from exc
    else:
        raise CheckFailed(f"{head}: group_size=3 does not divide K=4, expected a ValueError")
    print("✔ quantize_groupwise: all 2 visible cases passed")


def sqnr_db(fn: Callable) -> None:
    """Check the SQNR on vectors whose power ratio is a power of 10, and the exact case."""
    x = np.array([3.0, 4.0])  # power 25
    run("sqnr_db", fn, [
        # noise [0.5, 0] -> power 0.25, ratio 100 -> 20 dB
        Case("ratio 100 -> 20 dB", (x, x + np.array([0.5, 0.0])), expected=20.0, rtol=1e-9),
        # noise [0.05, 0] -> 0.0025, ratio 1e4 -> 40 dB
        Case("ratio 1e4 -> 40 dB", (x, x - np.array([0.0, 0.05])), expected=40.0, rtol=1e-9),
        Case("exact copy -> inf, without a warning", (x, x.copy()), expected=np.inf),
    ])


def calibrate_clip(fn: Callable) -> None:
    """Check the three calibrators on hand-worked samples: absmax, percentile of |x|, MSE grid search and its tie."""
    # MSE case, bits = 3 (qmax 3), n_grid = 4: max|x| = 12, candidates c = 3, 6, 9, 12, scales s = 1, 2, 3, 4.
    #   s=1: codes [2, -2, -3, 2, -2] -> x_hat [2, -2, -3, 2, -2]; errors .04 .09 81 .16 .04 -> mean 16.266
    #   s=2: x/s [1.1, -1.15, -6, 1.2, -1.1] -> [1, -1, -3, 1, -1] -> x_hat [2, -2, -6, 2, -2] -> 36.33 / 5 = 7.266
    #   s=3: x/s [.73, -.77, -4, .8, -.73] -> [1, -1, -3, 1, -1] -> x_hat [3, -3, -9, 3, -3] -> 11.13 / 5 = 2.226
    #   s=4: x/s [.55, -.575, -3, .6, -.55] -> [1, -1, -3, 1, -1] -> x_hat [4, -4, -12, 4, -4] -> 11.93 / 5 = 2.386
    # -> c = 9. Truncating, qmax = 7 or 4, or no clamp (always c = 3) pick another; max(x) = 2.4 is no grid at all.
    spiky = np.array([2.2, -2.3, -12.0, 2.4, -2.2])
    # tie, bits = 2 (qmax 1, s = c), n_grid = 4, candidates 1..4 on [-1, 3, 4]:
    #   c=1: x_hat [-1, 1, 1] -> (0 + 4 + 9) / 3;  c=2: [0, 2, 2] -> (1 + 1 + 4) / 3;
    #   c=3: [0, 3, 3] -> (1 + 0 + 1) / 3;          c=4: [0, 4, 4] -> (1 + 1 + 0) / 3   -> tie at 2/3, smaller c = 3
    tie = np.array([-1.0, 3.0, 4.0])
    # |x| of [-4, 1, 2, 3, 0] sorted: [0, 1, 2, 3, 4]; the 90th percentile sits at position 0.9 * 4 = 3.6 -> 3.6
    # (the percentile of x itself, sorted [-4, 0, 1, 2, 3], would be 2.6)
    five = np.array([-4.0, 1.0, 2.0, 3.0, 0.0])
    run("calibrate_clip", fn, [
        Case("absmax of [0.5, -3, 2] is 3 (of |x|, not x)", (np.array([0.5, -3.0, 2.0]), 4), {"method": "absmax"},
             expected=3.0),
        Case("90th percentile of |[-4, 1, 2, 3, 0]| = 3.6", (five, 4), {"method": "percentile", "pct": 90.0},
             expected=3.6, rtol=1e-6),
        Case("100th percentile = absmax = 4", (five, 4), {"method": "percentile", "pct": 100.0}, expected=4.0),
        Case("mse, 3 bits, 4 candidates, one spike of -12: c = 9 (the range, not the scale 3)", (spiky, 3),
             {"method": "mse", "n_grid": 4}, expected=9.0, rtol=1e-6),
        Case("mse tie between c = 3 and c = 4 (2 bits): the smaller wins", (tie, 2), {"method": "mse", "n_grid": 4},
             expected=3.0, rtol=1e-9),
    ])


# --- 3. kernels -----------------------------------------------------------------------------------

def int8_gemv(fn: Callable) -> None:
    """Check the int8 GEMV on hand-worked 2x3 and 3x4 inputs (per-row scales)."""
    wq = np.array([[1, -2, 3], [127, 127, -127]], dtype=np.int8)
    x = np.array([1.0, 0.5, 2.0], dtype=F32)
    # row 0: 1 - 1 + 6 = 6, times 0.5 = 3; row 1: 127 + 63.5 - 254 = -63.5, times 0.01 = -0.635
    wq2 = np.array([[10, 0, 0, 0], [0, -20, 0, 0], [1, 1, 1, 1]], dtype=np.int8)
    x2 = np.array([1.0, 2.0, 3.0, 4.0], dtype=F32)
    run("int8_gemv", fn, [
        Case("(2, 3) weights, scales [0.5, 0.01]", (wq, np.array([0.5, 0.01], dtype=F32), x),
             expected=np.array([3.0, -0.635]), rtol=1e-5),
        # [10, -40, 10] times scales [1, 2, 3] = [10, -80, 30]: a scale per row (output), not per column
        Case("(3, 4) weights, scales [1, 2, 3] belong to the rows", (wq2, np.array([1.0, 2.0, 3.0], dtype=F32), x2),
             expected=np.array([10.0, -80.0, 30.0]), rtol=1e-5),
    ])


def pack_int4(pack: Callable, unpack: Callable) -> None:
    """Check the nibble layout on a hand-packed row and the round trip."""
    q = np.array([[1, -1, 7, -8], [0, 3, -2, 0]], dtype=np.int8)
    # row 0: byte 0 = 1 | (0xF << 4) = 0xF1 = 241, byte 1 = 7 | (0x8 << 4) = 0x87 = 135
    # row 1: byte 0 = 0 | (3 << 4) = 0x30 = 48,  byte 1 = 0xE | 0 = 14
    packed = np.array([[241, 135], [48, 14]], dtype=np.uint8)

    def is_uint8(got):
        return None if np.asarray(got).dtype == np.uint8 else f"packed must be uint8, got {np.asarray(got).dtype}"

    def is_int8(got):
        return None if np.asarray(got).dtype == np.int8 else f"unpacked must be int8, got {np.asarray(got).dtype}"

    run("pack_int4", pack, [Case("two rows: element 2j low nibble, 2j+1 high nibble", (q,), expected=packed,
                                 prop=is_uint8)], quiet=True)
    run("unpack_int4", unpack, [Case("the same bytes back (sign extension)", (packed,), expected=q, prop=is_int8)],
        quiet=True)
    print("✔ pack_int4 / unpack_int4: all 2 visible cases passed")


def int4_gemv(fn: Callable) -> None:
    """Check the group-wise int4 GEMV on one row, K = 4, groups of 2 and of 4."""
    # codes [1, -1, 7, -8] packed as [241, 135]; x = [1, 2, 3, 0.5]
    packed = np.array([[241, 135]], dtype=np.uint8)
    x = np.array([1.0, 2.0, 3.0, 0.5], dtype=F32)
    # group 0: 1*1 - 1*2 = -1, times 0.5 = -0.5; group 1: 7*3 - 8*0.5 = 17, times 0.1 = 1.7 -> 1.2
    # one group of 4: (-1 + 17) * 0.25 = 4
    run("int4_gemv", fn, [
        Case("one row, groups of 2, scales [0.5, 0.1]", (packed, np.array([[0.5, 0.1]], dtype=F32), x, 2),
             expected=np.array([1.2]), rtol=1e-5),
        Case("one row, one group of 4, scale 0.25", (packed, np.array([[0.25]], dtype=F32), x, 4),
             expected=np.array([4.0]), rtol=1e-5),
        Case("two rows (the second all -8 codes = 0x88 bytes), groups of 2",
             (np.array([[241, 135], [136, 136]], dtype=np.uint8), np.array([[0.5, 0.1], [1.0, 1.0]], dtype=F32),
              x, 2),
             expected=np.array([1.2, -8 * 6.5]), rtol=1e-5),
    ])


# --- 5. the model --------------------------------------------------------------------------------

def quantize_linear_weights(fn: Callable, params: dict, linear_names: list[str]) -> None:
    """Properties: same keys, inputs untouched, non-linear entries unchanged, each column on its own grid."""
    params = {k: np.array(v, copy=True) for k, v in params.items()}  # the learner's dict stays untouched
    before = {k: v.copy() for k, v in params.items()}
    try:
        out = fn(params, 8)
    except NotImplementedError:
        raise CheckFailed("quantize_linear_weights: not implemented yet "
                          "(replace `raise NotImplementedError()` with your code)") from None
    except Exception as exc:  # noqa: BLE001 - the learner's error, shown as a message with their line
        raise CheckFailed(f"quantize_linear_weights: your function raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, dict) or set(out) != set(params):
        raise CheckFailed("quantize_linear_weights: must return a dict with the same keys as params")
    for k in params:
        if not np.array_equal(params[k], before[k]):
            raise CheckFailed(f"quantize_linear_weights: the input params[{k!r}] was modified; work on a copy")
        if k not in linear_names and not np.array_equal(out[k], params[k]):
            raise CheckFailed(f"quantize_linear_weights: {k!r} is not a linear weight and must not change")
    name = linear_names[0]
    w, got = params[name], np.asarray(out[name])
    if got.shape != w.shape or got.dtype != np.float32:
        raise CheckFailed(f"quantize_linear_weights: {name} must stay float32 {w.shape}, got {got.dtype} {got.shape}")
    # per output channel at 8 bits: column n's values are integer multiples of max|w[:, n]| / 127
    step = np.abs(w).max(axis=0) / 127
    codes = got / step
    if not np.allclose(codes, np.round(codes), atol=1e-3):
        raise CheckFailed(f"quantize_linear_weights: {name} at 8 bits is not on a per-column grid of "
                          "max|column| / 127 (scales along the wrong axis?)")
    if np.abs(got - w).max() > 0.5 * step.max() * 1.001:
        raise CheckFailed(f"quantize_linear_weights: {name} moved by more than half a step")
    print(f"✔ quantize_linear_weights: {len(linear_names)} matrices on a per-column 8-bit grid, "
          "other entries untouched")


# --- 6. activations -------------------------------------------------------------------------------

def w8a8_linear(fn: Callable) -> None:
    """Check W8A8 on inputs whose codes are exact, including a sum that overflows int8 and int16."""
    # token 0: [1.27, -0.64] -> scale 0.01, codes [127, -64]
    x = np.array([[1.27, -0.64], [0.0, 0.0]], dtype=F32)
    wq = np.array([[2, 1], [1, -3]], dtype=np.int8)
    ws = np.array([[0.5, 1.0]], dtype=F32)
    # acc token 0 = [127*2 - 64, 127 + 192] = [190, 319]; times 0.01 and [0.5, 1] -> [0.95, 3.19]; token 1 zeros
    big_x = np.ones((1, 300), dtype=F32)  # scale 1/127, codes all 127
    big_w = np.full((300, 1), 127, dtype=np.int8)
    # 300 * 127 * 127 = 4 838 700, times 1/127 and 1 -> 38 100
    run("w8a8_linear", fn, [
        Case("2 tokens (one all zero), K = 2, N = 2", (x, wq, ws), expected=np.array([[0.95, 3.19], [0.0, 0.0]]),
             rtol=1e-5, atol=1e-6),
        Case("K = 300 codes of 127: the int sum needs 32 bits", (big_x, big_w, np.ones((1, 1), dtype=F32)),
             expected=np.array([[38100.0]]), rtol=1e-5),
    ])


def outlier_split_linear(fn: Callable) -> None:
    """Properties: all features as outliers gives the exact product; one outlier feature is not quantized."""
    x = np.array([[1.0, 100.0, 0.5], [-0.25, 80.0, 1.0]], dtype=F32)
    w = np.array([[1.0, 0.0], [0.01, 0.02], [0.0, 1.0]], dtype=F32)
    exact = x.astype(np.float64) @ w.astype(np.float64)
    # threshold 10: feature 1 (values 100 and 80) goes through float exactly; the int8 part sees x[:, [0, 2]]
    # with per-token scales 1/127, so its error is below half a step (0.004) per product: within 0.01.
    # Plain W8A8 instead would use scales 100/127 and 80/127 and miss x[0, 0] = 1 by about 0.2.
    run("outlier_split_linear", fn, [
        Case("threshold 0: every feature is an outlier -> the exact product", (x, w, 0.0), expected=exact,
             rtol=1e-5),
        Case("threshold 10: feature 1 in float, the rest W8A8", (x, w, 10.0), expected=exact, rtol=0, atol=0.01),
    ])
