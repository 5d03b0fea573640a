"""Mutants of module 07_quantization: plausible wrong answers the tests must reject, right ones they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py). While one exercise's
mutants run, the notebook's other functions (quantize_absmax, w8a8_linear, ...) are the correct ones.
"""

from textwrap import dedent


def _src(text: str) -> str:
    return dedent(text).lstrip("\n")


_NJIT = "@njit(parallel=True, fastmath=True, cache=True)\n"

# --- 1.1 -----------------------------------------------------------------------------------------
_BF16 = "def round_to_bf16(x):\n    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)\n"

# --- 2.1 -----------------------------------------------------------------------------------------
_ABSMAX = "def quantize_absmax(w, bits=8, axis=None):\n"


def _absmax(qmax: str = "2 ** (bits - 1) - 1", rounding: str = "np.round", zero_guard: bool = True,
            keepdims: str = "True") -> str:
    guard = "np.where(a > 0, a / qmax, np.float32(1.0))" if zero_guard else "a / qmax"
    return _ABSMAX + (
        f"    qmax = {qmax}\n"
        f"    a = np.max(np.abs(w), axis=axis, keepdims={keepdims}).astype(np.float32)\n"
        f"    s = {guard}.astype(np.float32)\n"
        f"    q = np.clip({rounding}(w / s), -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1).astype(np.int8)\n"
        "    return q, s\n"
    )


# --- 2.2 -----------------------------------------------------------------------------------------
def _asym(zp: str = "int(np.clip(round(-lo / scale), 0, qmax))", clip: bool = True, widen: bool = True,
          deq: str = "(q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)",
          rounding: str = "np.round") -> str:
    lo_line = "lo = min(float(np.min(w)) if lo is None else float(lo), 0.0)" if widen else \
        "lo = float(np.min(w)) if lo is None else float(lo)"
    hi_line = "hi = max(float(np.max(w)) if hi is None else float(hi), 0.0)" if widen else \
        "hi = float(np.max(w)) if hi is None else float(hi)"
    qline = f"np.clip({rounding}(w / scale) + zero_point, 0, qmax)" if clip else f"({rounding}(w / scale) + zero_point)"
    return (
        "def quantize_asymmetric(w, bits=8, lo=None, hi=None):\n"
        "    qmax = 2**bits - 1\n"
        f"    {lo_line}\n"
        f"    {hi_line}\n"
        "    scale = (hi - lo) / qmax if hi > lo else 1.0\n"
        f"    zero_point = {zp}\n"
        f"    q = {qline}.astype(np.uint8)\n"
        "    return q, scale, zero_point\n\n\n"
        "def dequantize_asymmetric(q, scale, zero_point):\n"
        f"    return np.asarray({deq}, dtype=np.float32)\n"
    )


# --- 2.3 -----------------------------------------------------------------------------------------
_GROUP = "def quantize_groupwise(w, group_size, bits=4):\n    K, N = w.shape\n"
_GROUP_CHECK = "    if K % group_size:\n        raise ValueError('group_size must divide K')\n"

# --- 2.5 -----------------------------------------------------------------------------------------
def _calib(absmax: str = "np.max(np.abs(x))", pct: str = "np.percentile(np.abs(x), pct)",
           qmax: str = "2 ** (bits - 1) - 1", rounding: str = "np.round", clamp: bool = True,
           sample: str = "x", better: str = "<", ret: str = "best_clip") -> str:
    q = f"np.clip({rounding}({sample} / s), -qmax, qmax)" if clamp else f"{rounding}({sample} / s)"
    return (
        "def calibrate_clip(calib, bits, method='percentile', pct=99.9, n_grid=100):\n"
        "    x = np.asarray(calib, dtype=np.float64).ravel()\n"
        f"    absmax = float({absmax})\n"
        "    if method == 'absmax':\n"
        "        return absmax\n"
        "    if method == 'percentile':\n"
        f"        return float({pct})\n"
        f"    qmax = {qmax}\n"
        "    best_clip, best_err = absmax, np.inf\n"
        "    for k in range(1, n_grid + 1):\n"
        "        clip = absmax * k / n_grid\n"
        "        s = clip / qmax\n"
        f"        err = float(np.mean(({sample} - {q} * s) ** 2))\n"
        f"        if err {better} best_err:\n"
        "            best_clip, best_err = clip, err\n"
        f"    return {ret}\n"
    )


# --- 3.1 -----------------------------------------------------------------------------------------
_GEMV = _NJIT + "def int8_gemv(wq_t, scales, x):\n    N, K = wq_t.shape\n    y = np.empty(N, dtype=np.float32)\n"

# --- 3.2 -----------------------------------------------------------------------------------------
_UNPACK = _src("""
    def unpack_int4(packed):
        lo = (packed & 0xF).astype(np.int16)
        hi = (packed >> 4).astype(np.int16)
        lo = np.where(lo >= 8, lo - 16, lo)
        hi = np.where(hi >= 8, hi - 16, hi)
        N, half = packed.shape
        return np.stack([lo, hi], axis=-1).reshape(N, 2 * half).astype(np.int8)
    """)
_PACK = _src("""
    def pack_int4(q):
        u = (q.astype(np.int16) & 0xF).astype(np.uint8)
        return (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)
    """)

# --- 3.3 -----------------------------------------------------------------------------------------


def _int4(lo: str = "byte & 15", hi: str = "byte >> 4", sign: bool = True, scale_idx: str = "scales[n, j]",
          xlo: str = "x[2 * b]", xhi: str = "x[2 * b + 1]") -> str:
    fix = ("                lo = lo - 16 if lo >= 8 else lo\n"
           "                hi = hi - 16 if hi >= 8 else hi\n") if sign else ""
    return _NJIT + (
        "def int4_gemv(packed, scales, x, group_size):\n"
        "    N = packed.shape[0]\n"
        "    n_groups = scales.shape[1]\n"
        "    half = group_size // 2\n"
        "    y = np.empty(N, dtype=np.float32)\n"
        "    for n in prange(N):\n"
        "        total = np.float32(0.0)\n"
        "        for j in range(n_groups):\n"
        "            acc = np.float32(0.0)\n"
        "            for b in range(j * half, (j + 1) * half):\n"
        "                byte = np.int32(packed[n, b])\n"
        f"                lo = {lo}\n"
        f"                hi = {hi}\n"
        f"{fix}"
        f"                acc += np.float32(lo) * {xlo} + np.float32(hi) * {xhi}\n"
        f"            total += acc * {scale_idx}\n"
        "        y[n] = total\n"
        "    return y\n"
    )


# --- 5.1 -----------------------------------------------------------------------------------------
_QLW = "def quantize_linear_weights(params, bits, group_size=None):\n"

# --- 6.1 -----------------------------------------------------------------------------------------
_W8A8 = "def w8a8_linear(x, wq, w_scale):\n"

# --- 6.2 -----------------------------------------------------------------------------------------
_SPLIT = "def outlier_split_linear(x, w, threshold):\n"


WRONG = {
    "round_to_bf16": {
        "truncate": _BF16 + "    return (b & np.uint32(0xFFFF0000)).view(np.float32)\n",
        "ties_away_from_zero": _BF16 + (
            "    return ((b + np.uint32(0x8000)) & np.uint32(0xFFFF0000)).view(np.float32)\n"),
        "via_float16": "def round_to_bf16(x):\n    return np.asarray(x, dtype=np.float16).astype(np.float32)\n",
        # 8 significant bits everywhere: right for normal numbers, too many bits for float32 subnormals
        "frexp_mantissa": "def round_to_bf16(x):\n    m, e = np.frexp(np.asarray(x, dtype=np.float32))\n"
                          "    with np.errstate(over='ignore'):\n"
                          "        return np.ldexp(np.round(m * 256) / 256, e).astype(np.float32)\n",
    },
    "quantize_absmax": {
        "truncate": _absmax(rounding="np.trunc"),
        "divide_by_128": _absmax(qmax="2 ** (bits - 1)"),
        "no_keepdims": _absmax(keepdims="axis is None"),
        "floor": _absmax(rounding="np.floor"),
        "max_not_absmax": _absmax().replace("np.max(np.abs(w)", "np.max((w)"),
    },
    "quantize_asymmetric": {
        "zero_point_float": _asym(zp="-lo / scale"),
        "no_clip_wraps": _asym(clip=False),
        "uint8_subtraction": _asym(deq="(q - np.uint8(zero_point)) * scale"),
        "range_not_widened": _asym(widen=False, zp="int(np.clip(round(-lo / scale), 0, qmax))"),
        "truncate": _asym(rounding="np.trunc"),
        "no_guard_for_empty_range": _asym().replace("scale = (hi - lo) / qmax if hi > lo else 1.0",
                                                    "scale = (hi - lo) / qmax"),
    },
    "quantize_groupwise": {
        "strided_groups": _GROUP + _GROUP_CHECK + (
            "    wg = w.reshape(group_size, K // group_size, N)\n"
            "    q, s = quantize_absmax(wg, bits=bits, axis=0)\n"
            "    return q.reshape(K, N), s[0]\n"),
        "per_column_only": _GROUP + _GROUP_CHECK + (
            "    q, s = quantize_absmax(w, bits=bits, axis=0)\n"
            "    return q, np.repeat(s, K // group_size, axis=0)\n"),
        "boundary_one_row_too_far": _GROUP + _GROUP_CHECK + (
            "    q = np.zeros((K, N), dtype=np.int8)\n"
            "    s = np.zeros((K // group_size, N), dtype=np.float32)\n"
            "    qmax = 2 ** (bits - 1) - 1\n"
            "    for j in range(K // group_size):\n"
            "        a = np.abs(w[j * group_size:(j + 1) * group_size + 1]).max(axis=0)\n"
            "        s[j] = np.where(a > 0, a / qmax, 1.0)\n"
            "        blk = w[j * group_size:(j + 1) * group_size]\n"
            "        q[j * group_size:(j + 1) * group_size] = np.clip(np.round(blk / s[j]), -qmax, qmax)\n"
            "    return q, s\n"),
        "no_zero_guard": _GROUP + _GROUP_CHECK + (
            "    qmax = 2 ** (bits - 1) - 1\n"
            "    wg = w.reshape(K // group_size, group_size, N)\n"
            "    s = (np.abs(wg).max(axis=1, keepdims=True) / qmax).astype(np.float32)\n"
            "    q = np.clip(np.round(wg / s), -qmax, qmax).astype(np.int8)\n"
            "    return q.reshape(K, N), s[:, 0, :]\n"),
        "no_value_error": (
            "def quantize_groupwise(w, group_size, bits=4):\n"
            "    K, N = w.shape\n"
            "    ng = K // group_size\n"
            "    wg = w[: ng * group_size].reshape(ng, group_size, N)\n"
            "    q, s = quantize_absmax(wg, bits=bits, axis=1)\n"
            "    qq = np.zeros((K, N), dtype=np.int8)\n"
            "    qq[: ng * group_size] = q.reshape(-1, N)\n"
            "    return qq, s[:, 0, :]\n"),
    },
    "sqnr_db": {
        "twenty_log": "def sqnr_db(x, x_hat):\n    n = np.sum((x - x_hat) ** 2)\n"
                      "    return float('inf') if n == 0 else float(20 * np.log10(np.sum(x**2) / n))\n",
        "natural_log": "def sqnr_db(x, x_hat):\n    n = np.sum((x - x_hat) ** 2)\n"
                       "    return float('inf') if n == 0 else float(10 * np.log(np.sum(x**2) / n))\n",
        "divide_by_zero_warns": "def sqnr_db(x, x_hat):\n"
                                "    x = np.asarray(x, dtype=np.float64)\n"
                                "    return float(10 * np.log10(np.sum(x**2) / np.sum((x - x_hat) ** 2)))\n",
    },
    "calibrate_clip": {
        "max_x_not_abs": _calib(absmax="np.max(x)"),
        "percentile_of_x": _calib(pct="np.percentile(x, pct)"),
        "pct_as_fraction": _calib(pct="np.percentile(np.abs(x), pct / 100)"),
        "qmax_asymmetric_code_count": _calib(qmax="2 ** bits - 1"),
        "qmax_no_minus_one": _calib(qmax="2 ** (bits - 1)"),
        "mse_without_clamp": _calib(clamp=False),
        "truncate": _calib(rounding="np.trunc"),
        "picked_on_half_the_sample": _calib(sample="x[::2]"),
        "largest_on_tie": _calib(better="<="),
        "returns_scale_for_mse": _calib(ret="best_clip / qmax"),
    },
    "int8_gemv": {
        "scale_per_column": _GEMV + (
            "    for n in prange(N):\n"
            "        acc = np.float32(0.0)\n"
            "        for k in range(K):\n"
            "            acc += np.float32(wq_t[n, k]) * x[k] * scales[k % scales.shape[0]]\n"
            "        y[n] = acc\n"
            "    return y\n"),
        "int8_accumulator": _GEMV + (
            "    for n in prange(N):\n"
            "        acc = np.int8(0)\n"
            "        for k in range(K):\n"
            "            acc = np.int8(acc + wq_t[n, k] * np.int8(x[k]))\n"
            "        y[n] = acc * scales[n]\n"
            "    return y\n"),
        "unrolled_by_4_no_tail": _GEMV + (
            "    for n in prange(N):\n"
            "        acc = np.float32(0.0)\n"
            "        for k in range(0, K - K % 4, 4):\n"
            "            acc += (np.float32(wq_t[n, k]) * x[k] + np.float32(wq_t[n, k + 1]) * x[k + 1]\n"
            "                    + np.float32(wq_t[n, k + 2]) * x[k + 2] + np.float32(wq_t[n, k + 3]) * x[k + 3])\n"
            "        y[n] = acc * scales[n]\n"
            "    return y\n"),
        "off_by_one": _GEMV + (
            "    for n in prange(N):\n"
            "        acc = np.float32(0.0)\n"
            "        for k in range(K - 1):\n"
            "            acc += np.float32(wq_t[n, k]) * x[k]\n"
            "        y[n] = acc * scales[n]\n"
            "    return y\n"),
    },
    "pack_int4": {
        "swapped_nibbles": _src("""
            def pack_int4(q):
                u = (q.astype(np.int16) & 0xF).astype(np.uint8)
                return (u[:, 1::2] | (u[:, 0::2] << 4)).astype(np.uint8)
            """) + "\n\n" + _src("""
            def unpack_int4(packed):
                hi = (packed & 0xF).astype(np.int16)
                lo = (packed >> 4).astype(np.int16)
                lo = np.where(lo >= 8, lo - 16, lo)
                hi = np.where(hi >= 8, hi - 16, hi)
                N, half = packed.shape
                return np.stack([lo, hi], axis=-1).reshape(N, 2 * half).astype(np.int8)
            """),
        "low_nibble_not_masked": _src("""
            def pack_int4(q):
                q16 = q.astype(np.int16)
                return (q16[:, 0::2] | ((q16[:, 1::2] & 0xF) << 4)).astype(np.uint8)
            """) + "\n\n" + _UNPACK,
        "no_sign_extension": _PACK + "\n\n" + _src("""
            def unpack_int4(packed):
                lo = (packed & 0xF).astype(np.int8)
                hi = (packed >> 4).astype(np.int8)
                N, half = packed.shape
                return np.stack([lo, hi], axis=-1).reshape(N, 2 * half)
            """),
        "planar_layout": _src("""
            def pack_int4(q):
                u = (q.astype(np.int16) & 0xF).astype(np.uint8)
                half = q.shape[1] // 2
                return (u[:, :half] | (u[:, half:] << 4)).astype(np.uint8)
            """) + "\n\n" + _src("""
            def unpack_int4(packed):
                lo = (packed & 0xF).astype(np.int16)
                hi = (packed >> 4).astype(np.int16)
                lo = np.where(lo >= 8, lo - 16, lo)
                hi = np.where(hi >= 8, hi - 16, hi)
                return np.concatenate([lo, hi], axis=1).astype(np.int8)
            """),
    },
    "int4_gemv": {
        "swapped_nibbles": _int4(lo="byte >> 4", hi="byte & 15"),
        "no_sign_extension": _int4(sign=False),
        "group_index_off": _int4(scale_idx="scales[n, (2 * j * half) // (group_size + 2) % n_groups]"),
        "scale_by_byte_group": _int4(scale_idx="scales[n, min(j * half // group_size, n_groups - 1)]"),
        # two bytes per step, the odd last byte of a group dropped
        "bytes_in_pairs_no_tail": _int4().replace("for b in range(j * half, (j + 1) * half):",
                                                   "for b in range(j * half, j * half + half - half % 2):"),
    },
    "quantize_linear_weights": {
        "per_row_scales": _QLW + (
            "    out = dict(params)\n"
            "    for name in LINEAR_WEIGHTS:\n"
            "        w = params[name]\n"
            "        if group_size is None:\n"
            "            q, s = quantize_absmax(w, bits, axis=1)\n"
            "            out[name] = (q * s).astype(np.float32)\n"
            "        else:\n"
            "            q, s = quantize_groupwise(np.ascontiguousarray(w.T), group_size, bits)\n"
            "            out[name] = np.ascontiguousarray((q * np.repeat(s, group_size, axis=0)).T, dtype=np.float32)\n"
            "    return out\n"),
        "per_tensor": _QLW + (
            "    out = dict(params)\n"
            "    for name in LINEAR_WEIGHTS:\n"
            "        q, s = quantize_absmax(params[name], bits, axis=None)\n"
            "        out[name] = (q * s).astype(np.float32)\n"
            "    return out\n"),
        "also_embeddings": _QLW + (
            "    out = dict(params)\n"
            "    for name in LINEAR_WEIGHTS + ['tok_emb', 'pos_emb']:\n"
            "        w = params[name]\n"
            "        if group_size is None or name.endswith('emb'):\n"
            "            q, s = quantize_absmax(w, bits, axis=0)\n"
            "            out[name] = (q * s).astype(np.float32)\n"
            "        else:\n"
            "            q, s = quantize_groupwise(w, group_size, bits)\n"
            "            out[name] = (q * np.repeat(s, group_size, axis=0)).astype(np.float32)\n"
            "    return out\n"),
        "in_place": _QLW + (
            "    for name in LINEAR_WEIGHTS:\n"
            "        w = params[name]\n"
            "        if group_size is None:\n"
            "            q, s = quantize_absmax(w, bits, axis=0)\n"
            "        else:\n"
            "            q, s = quantize_groupwise(w, group_size, bits)\n"
            "            s = np.repeat(s, group_size, axis=0)\n"
            "        w[...] = q * s\n"
            "    return params\n"),
    },
    "w8a8_linear": {
        "int8_accumulation": _W8A8 + (
            "    qx, s_x = quantize_absmax(x, 8, axis=1)\n"
            "    acc = qx @ wq\n"
            "    return (acc * s_x * w_scale).astype(np.float32)\n"),
        "int16_accumulation": _W8A8 + (
            "    qx, s_x = quantize_absmax(x, 8, axis=1)\n"
            "    acc = qx.astype(np.int16) @ wq.astype(np.int16)\n"
            "    return (acc * s_x * w_scale).astype(np.float32)\n"),
        "per_tensor_activation_scale": _W8A8 + (
            "    qx, s_x = quantize_absmax(x, 8, axis=None)\n"
            "    acc = qx.astype(np.int32) @ wq.astype(np.int32)\n"
            "    return (acc * s_x * w_scale).astype(np.float32)\n"),
        "truncate_activations": _W8A8 + (
            "    a = np.abs(x).max(axis=1, keepdims=True)\n"
            "    s_x = np.where(a > 0, a / 127, 1.0)\n"
            "    qx = (x / s_x).astype(np.int8)\n"
            "    acc = qx.astype(np.int32) @ wq.astype(np.int32)\n"
            "    return (acc * s_x * w_scale).astype(np.float32)\n"),
    },
    "outlier_split_linear": {
        "rows_not_features": _SPLIT + (
            "    out = np.abs(x).max(axis=1) > threshold\n"
            "    y = np.zeros((x.shape[0], w.shape[1]), dtype=np.float32)\n"
            "    y[out] = x[out] @ w\n"
            "    if (~out).any():\n"
            "        wq, ws = quantize_absmax(w, 8, axis=0)\n"
            "        y[~out] = w8a8_linear(x[~out], wq, ws)\n"
            "    return y\n"),
        "outliers_counted_twice": _SPLIT + (
            "    out = np.abs(x).max(axis=0) > threshold\n"
            "    wq, ws = quantize_absmax(w, 8, axis=0)\n"
            "    return (x[:, out] @ w[out, :] + w8a8_linear(x, wq, ws)).astype(np.float32)\n"),
        "signed_max": _SPLIT + (
            "    out = x.max(axis=0) > threshold\n"
            "    y = x[:, out] @ w[out, :]\n"
            "    if (~out).any():\n"
            "        wq, ws = quantize_absmax(w[~out, :], 8, axis=0)\n"
            "        y = y + w8a8_linear(x[:, ~out], wq, ws)\n"
            "    return y.astype(np.float32)\n"),
        "at_or_above_threshold": _SPLIT + (
            "    out = np.abs(x).max(axis=0) >= threshold\n"
            "    y = x[:, out] @ w[out, :]\n"
            "    if (~out).any():\n"
            "        wq, ws = quantize_absmax(w[~out, :], 8, axis=0)\n"
            "        y = y + w8a8_linear(x[:, ~out], wq, ws)\n"
            "    return y.astype(np.float32)\n"),
        "no_split": _SPLIT + (
            "    wq, ws = quantize_absmax(w, 8, axis=0)\n"
            "    return w8a8_linear(x, wq, ws)\n"),
    },
}

RIGHT = {
    "round_to_bf16": {
        "torch": "def round_to_bf16(x):\n"
                 "    return torch.from_numpy(np.asarray(x, dtype=np.float32)).to(torch.bfloat16).float().numpy()\n",
        "uint64_arithmetic": _BF16 + (
            "    b64 = b.astype(np.uint64)\n"
            "    r = ((b64 + 0x7FFF + ((b64 >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)\n"
            "    r = np.where(np.isnan(x), np.float32(np.nan), r.view(np.float32))\n"
            "    return r.reshape(np.shape(x))\n"),
    },
    "quantize_absmax": {
        "rint_float64": _ABSMAX + (
            "    qmax = 2 ** (bits - 1) - 1\n"
            "    a = np.abs(w.astype(np.float64)).max(axis=axis, keepdims=True)\n"
            "    s = np.where(a == 0, 1.0, a / qmax).astype(np.float32)\n"
            "    q = np.rint(w / s).clip(-qmax, qmax).astype(np.int8)\n"
            "    return q, s\n"),
        "floor_at_float32_tiny": _absmax().replace("np.where(a > 0, a / qmax, np.float32(1.0))",
                                                   "(np.maximum(a, np.finfo(np.float32).tiny) / qmax)"),
    },
    "quantize_asymmetric": {
        "float64_python_round": (
            "def quantize_asymmetric(w, bits=8, lo=None, hi=None):\n"
            "    qmax = 2**bits - 1\n"
            "    w64 = np.asarray(w, dtype=np.float64)\n"
            "    lo = min(w64.min() if lo is None else lo, 0.0)\n"
            "    hi = max(w64.max() if hi is None else hi, 0.0)\n"
            "    scale = np.float32((hi - lo) / qmax) if hi != lo else np.float32(1.0)\n"
            "    zero_point = np.int32(min(max(round(-lo / float(scale)), 0), qmax))\n"
            "    q = np.rint(w64 / scale + zero_point).clip(0, qmax).astype(np.uint8)\n"
            "    return q, scale, zero_point\n\n\n"
            "def dequantize_asymmetric(q, scale, zero_point):\n"
            "    return ((q.astype(np.int32) - zero_point) * scale).astype(np.float32)\n"),
    },
    "quantize_groupwise": {
        "transpose_then_reshape": _GROUP + _GROUP_CHECK + (
            "    wg = w.T.reshape(N, K // group_size, group_size)\n"
            "    q, s = quantize_absmax(wg, bits=bits, axis=2)\n"
            "    return np.ascontiguousarray(q.reshape(N, K).T), np.ascontiguousarray(s[:, :, 0].T)\n"),
        "loop_over_groups": _GROUP + _GROUP_CHECK + (
            "    q = np.zeros((K, N), dtype=np.int8)\n"
            "    s = np.zeros((K // group_size, N), dtype=np.float32)\n"
            "    for j in range(K // group_size):\n"
            "        qj, sj = quantize_absmax(w[j * group_size:(j + 1) * group_size], bits, axis=0)\n"
            "        q[j * group_size:(j + 1) * group_size] = qj\n"
            "        s[j] = sj[0]\n"
            "    return q, s\n"),
    },
    "sqnr_db": {
        "mse_ratio": "def sqnr_db(x, x_hat):\n"
                     "    x = np.asarray(x, dtype=np.float64)\n"
                     "    mse = np.mean((x - x_hat) ** 2)\n"
                     "    if mse == 0:\n        return np.inf\n"
                     "    return 10 * np.log10(np.mean(x ** 2) / mse)\n",
    },
    "calibrate_clip": {
        "vectorised_float32_quantile": _src("""
            def calibrate_clip(calib, bits, method="percentile", pct=99.9, n_grid=100):
                a = np.abs(np.asarray(calib, dtype=np.float32)).reshape(-1)
                if method == "absmax":
                    return a.max()
                if method == "percentile":
                    return np.quantile(a, pct / 100)
                qmax = np.float32(2 ** (bits - 1) - 1)
                cands = np.linspace(a.max() / n_grid, a.max(), n_grid, dtype=np.float32)  # (n_grid,)
                s = (cands / qmax)[:, None]  # (n_grid, 1)
                err = ((a[None, :] - np.minimum(np.rint(a[None, :] / s), qmax) * s) ** 2).mean(axis=1)
                return cands[np.argmin(err)]
            """),
        "sorted_tail_split": _src("""
            def calibrate_clip(calib, bits, method="percentile", pct=99.9, n_grid=100):
                a = np.sort(np.abs(np.asarray(calib, dtype=np.float64).ravel()))
                n = a.size
                if method == "absmax":
                    return float(a[-1])
                if method == "percentile":
                    pos = pct / 100 * (n - 1)
                    lo = int(np.floor(pos))
                    hi = min(lo + 1, n - 1)
                    return float(a[lo] + (pos - lo) * (a[hi] - a[lo]))
                qmax = 2 ** (bits - 1) - 1
                errs = []
                for k in range(1, n_grid + 1):
                    c = a[-1] * k / n_grid
                    s = c / qmax
                    i = np.searchsorted(a, c, side="right")  # a[:i] <= c fit the grid, a[i:] saturate
                    body = a[:i]
                    e = np.sum((body - np.round(body / s) * s) ** 2) + np.sum((a[i:] - c) ** 2)
                    errs.append(e / n)
                best = min(errs)
                k = errs.index(best) + 1
                return a[-1] * k / n_grid
            """),
    },
    "int8_gemv": {
        "four_rows_no_fastmath": "@njit(parallel=True, cache=True)\n" + (
            "def int8_gemv(wq_t, scales, x):\n"
            "    N, K = wq_t.shape\n"
            "    y = np.zeros(N, dtype=np.float32)\n"
            "    for blk in prange((N + 3) // 4):\n"
            "        for n in range(4 * blk, min(4 * blk + 4, N)):\n"
            "            acc = 0.0\n"
            "            for k in range(K):\n"
            "                acc += wq_t[n, k] * x[k]\n"
            "            y[n] = acc * scales[n]\n"
            "    return y\n"),
        "plain_numpy": (
            "def int8_gemv(wq_t, scales, x):\n"
            "    return (wq_t.astype(np.float32) @ x) * scales\n"),
    },
    "pack_int4": {
        "bitwise_view": _src("""
            def pack_int4(q):
                u = q.view(np.uint8) & np.uint8(0x0F)
                return u[:, ::2] | (u[:, 1::2] << np.uint8(4))
            """) + "\n\n" + _src("""
            def unpack_int4(packed):
                out = np.empty((packed.shape[0], packed.shape[1] * 2), dtype=np.int8)
                out[:, 0::2] = ((packed << 4).view(np.int8)) >> 4
                out[:, 1::2] = packed.view(np.int8) >> 4
                return out
            """),
    },
    "int4_gemv": {
        "unpack_per_element": _NJIT + _src("""
            def int4_gemv(packed, scales, x, group_size):
                N, half_k = packed.shape
                y = np.zeros(N, dtype=np.float32)
                for n in prange(N):
                    for k in range(2 * half_k):
                        byte = packed[n, k // 2]
                        v = (byte >> 4) if k % 2 else (byte & 15)
                        v = np.int32(v)
                        if v > 7:
                            v -= 16
                        y[n] += scales[n, k // group_size] * v * x[k]
                return y
            """),
    },
    "quantize_linear_weights": {
        "dict_comprehension": _QLW + (
            "    def fake(w):\n"
            "        if group_size is None:\n"
            "            q, s = quantize_absmax(w, bits, axis=0)\n"
            "            return (q.astype(np.float32) * s).astype(np.float32)\n"
            "        K, N = w.shape\n"
            "        q, s = quantize_groupwise(w, group_size, bits)\n"
            "        qg = q.reshape(K // group_size, group_size, N)\n"
            "        return (qg * s[:, None, :]).reshape(K, N).astype(np.float32)\n"
            "    return {k: (fake(v) if k in LINEAR_WEIGHTS else v) for k, v in params.items()}\n"),
    },
    "w8a8_linear": {
        "float_accumulate_exact": _W8A8 + (
            "    a = np.abs(x).max(axis=-1, keepdims=True)\n"
            "    s_x = np.where(a == 0, 1.0, a / 127.0)\n"
            "    qx = np.clip(np.rint(x / s_x), -127, 127)\n"
            "    return ((qx @ wq.astype(np.float64)) * s_x * w_scale).astype(np.float32)\n"),
    },
    "outlier_split_linear": {
        "zeroed_columns": _SPLIT + (
            "    out = np.max(np.abs(x), axis=0) > threshold\n"
            "    x_in = np.where(out, 0.0, x).astype(np.float32)\n"
            "    x_out = np.where(out, x, 0.0).astype(np.float32)\n"
            "    wq, ws = quantize_absmax(w[~out], 8, axis=0) if (~out).any() else (None, None)\n"
            "    y = x_out @ w\n"
            "    if wq is not None:\n"
            "        y = y + w8a8_linear(x_in[:, ~out], wq, ws)\n"
            "    return y.astype(np.float32)\n"),
    },
}
