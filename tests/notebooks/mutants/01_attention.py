"""Mutants of module 01_attention: plausible wrong answers the tests must reject, right ones they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py).
"""

_SOFTMAX_SIG = "def softmax(x, axis=-1):\n"
_ATTN_SIG = "def scaled_dot_product_attention(q, k, v, mask=None):\n"
_ENTROPY_SIG = "def row_entropy(weights, axis=-1):\n"
_VAR_SIG = "def score_variance(d_k, n=20_000, seed=0):\n"
_FLOPS_SIG = "def attention_flops(T_q, T_k, d_k, d_v):\n"
_BYTES_SIG = "def score_matrix_bytes(B, n_head, T_q, T_k, dtype):\n"

# The rest of a correct attention after `scores` (before masking) has been computed.
_ATTN_TAIL = (
    "    if mask is not None:\n"
    "        scores = np.where(mask, scores, -np.inf)\n"
    "    w = softmax(scores, axis=-1)\n"
    "    return w @ v, w\n"
)

WRONG = {
    "softmax": {
        "no_max_shift": _SOFTMAX_SIG + (
            "    e = np.exp(x)\n"
            "    return e / e.sum(axis=axis, keepdims=True)\n"),
        "global_max_shift": _SOFTMAX_SIG + (
            "    e = np.exp(x - np.max(x))\n"
            "    return e / e.sum(axis=axis, keepdims=True)\n"),
        "axis_ignored": _SOFTMAX_SIG + (
            "    e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
            "    return e / e.sum(axis=-1, keepdims=True)\n"),
        "max_without_keepdims": _SOFTMAX_SIG + (
            "    e = np.exp(x - np.max(x, axis=axis))\n"
            "    return e / np.sum(e, axis=axis, keepdims=True)\n"),
        "sum_over_whole_array": _SOFTMAX_SIG + (
            "    e = np.exp(x - np.max(x, axis=axis, keepdims=True))\n"
            "    return e / e.sum()\n"),
        "in_place": _SOFTMAX_SIG + (
            "    x -= np.max(x, axis=axis, keepdims=True)\n"
            "    np.exp(x, out=x)\n"
            "    x /= x.sum(axis=axis, keepdims=True)\n"
            "    return x\n"),
    },
    "row_entropy": {
        "nan_from_zero": _ENTROPY_SIG + "    return -(weights * np.log(weights)).sum(axis=axis)\n",
        "where_still_warns": _ENTROPY_SIG + (
            "    return -np.where(weights > 0, weights * np.log(weights), 0.0).sum(axis=axis)\n"),
        "log2": _ENTROPY_SIG + (
            "    p = np.asarray(weights, dtype=float)\n"
            "    logp = np.log2(p, out=np.zeros_like(p), where=p > 0)\n"
            "    return -(p * logp).sum(axis=axis)\n"),
        "axis_ignored": _ENTROPY_SIG + (
            "    p = np.asarray(weights, dtype=float)\n"
            "    logp = np.log(p, out=np.zeros_like(p), where=p > 0)\n"
            "    return -(p * logp).sum(axis=-1)\n"),
        "missing_minus": _ENTROPY_SIG + (
            "    p = np.asarray(weights, dtype=float)\n"
            "    logp = np.log(p, out=np.zeros_like(p), where=p > 0)\n"
            "    return (p * logp).sum(axis=axis)\n"),
    },
    "scaled_dot_product_attention": {
        "no_scale": _ATTN_SIG + "    scores = q @ np.swapaxes(k, -1, -2)\n" + _ATTN_TAIL,
        "scale_1_over_d_k": _ATTN_SIG + "    scores = q @ np.swapaxes(k, -1, -2) / q.shape[-1]\n" + _ATTN_TAIL,
        "scale_sqrt_d_v": _ATTN_SIG + "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(v.shape[-1])\n" + _ATTN_TAIL,
        "scale_sqrt_T": _ATTN_SIG + "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(k.shape[-2])\n" + _ATTN_TAIL,
        "k_not_transposed": _ATTN_SIG + "    scores = q @ k / np.sqrt(q.shape[-1])\n" + _ATTN_TAIL,
        "k_dot_T_reverses_batch_axes": _ATTN_SIG + "    scores = q @ k.T / np.sqrt(q.shape[-1])\n" + _ATTN_TAIL,
        "softmax_over_queries": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, scores, -np.inf)\n"
            "    w = softmax(scores, axis=-2)\n"
            "    return w @ v, w\n"),
        "mask_ignored": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    w = softmax(scores, axis=-1)\n"
            "    return w @ v, w\n"),
        "mask_inverted": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, -np.inf, scores)\n"
            "    w = softmax(scores, axis=-1)\n"
            "    return w @ v, w\n"),
        "mask_multiplied_after_softmax": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    w = softmax(scores, axis=-1)\n"
            "    if mask is not None:\n"
            "        w = w * mask\n"
            "    return w @ v, w\n"),
        "scales_q_in_place": _ATTN_SIG + (
            "    q /= np.sqrt(q.shape[-1])\n"
            "    scores = q @ np.swapaxes(k, -1, -2)\n") + _ATTN_TAIL,
        "own_softmax_no_max_shift": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, scores, -np.inf)\n"
            "    w = np.exp(scores)\n"
            "    w = w / w.sum(axis=-1, keepdims=True)\n"
            "    return w @ v, w\n"),
        "own_softmax_global_max_shift": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, scores, -np.inf)\n"
            "    w = np.exp(scores - scores.max())\n"
            "    w = w / w.sum(axis=-1, keepdims=True)\n"
            "    return w @ v, w\n"),
        "returns_only_out": _ATTN_SIG + (
            "    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, scores, -np.inf)\n"
            "    return softmax(scores, axis=-1) @ v\n"),
    },
    "score_variance": {
        "std_not_variance": _VAR_SIG + (
            "    rng = np.random.default_rng(seed)\n"
            "    s = (rng.standard_normal((n, d_k)) * rng.standard_normal((n, d_k))).sum(axis=-1)\n"
            "    return float(np.std(s)), float(np.std(s / np.sqrt(d_k)))\n"),
        "divides_by_d_k": _VAR_SIG + (
            "    rng = np.random.default_rng(seed)\n"
            "    s = (rng.standard_normal((n, d_k)) * rng.standard_normal((n, d_k))).sum(axis=-1)\n"
            "    return float(np.var(s)), float(np.var(s / d_k))\n"),
        "uniform_samples": _VAR_SIG + (
            "    rng = np.random.default_rng(seed)\n"
            "    s = (rng.random((n, d_k)) * rng.random((n, d_k))).sum(axis=-1)\n"
            "    return float(np.var(s)), float(np.var(s / np.sqrt(d_k)))\n"),
        "sums_over_samples": _VAR_SIG + (
            "    rng = np.random.default_rng(seed)\n"
            "    s = (rng.standard_normal((n, d_k)) * rng.standard_normal((n, d_k))).sum(axis=0)\n"
            "    return float(np.var(s)), float(np.var(s / np.sqrt(d_k)))\n"),
        "theory_instead_of_experiment": _VAR_SIG + "    return float(d_k), 1.0\n",
        "ignores_seed": _VAR_SIG + (
            "    rng = np.random.default_rng()\n"
            "    s = (rng.standard_normal((n, d_k)) * rng.standard_normal((n, d_k))).sum(axis=-1)\n"
            "    return float(np.var(s)), float(np.var(s / np.sqrt(d_k)))\n"),
    },
    "attention_flops": {
        "multiply_add_as_one_flop": _FLOPS_SIG + "    return T_q * T_k * d_k + T_q * T_k * d_v\n",
        "forgets_weights_times_v": _FLOPS_SIG + "    return 2 * T_q * T_k * d_k\n",
        "d_k_for_both_products": _FLOPS_SIG + "    return 4 * T_q * T_k * d_k\n",
        "linear_in_T": _FLOPS_SIG + "    return 2 * T_q * d_k + 2 * T_k * d_v\n",
    },
    "score_matrix_bytes": {
        "always_4_bytes": _BYTES_SIG + "    return B * n_head * T_q * T_k * 4\n",
        "elements_not_bytes": _BYTES_SIG + "    return B * n_head * T_q * T_k\n",
        "forgets_heads": _BYTES_SIG + "    return B * T_q * T_k * np.dtype(dtype).itemsize\n",
        "bits_not_bytes": _BYTES_SIG + "    return B * n_head * T_q * T_k * np.dtype(dtype).itemsize * 8\n",
    },
    "answer_sqrt_dk": {
        "rows_sum_to_one": 'answer_sqrt_dk = "a"\n',
        "cosine_similarity": 'answer_sqrt_dk = "d"\n',
        "cheaper": 'answer_sqrt_dk = "b"\n',
    },
    "answer_shift": {
        "multiplied_by_e5": 'answer_shift = "a"\n',
        "sharper": 'answer_shift = "c"\n',
        "flatter": 'answer_shift = "d"\n',
    },
}

RIGHT = {
    "softmax": {
        "logsumexp": _SOFTMAX_SIG + (
            "    m = np.max(x, axis=axis, keepdims=True)\n"
            "    lse = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))\n"
            "    return np.exp(x - lse)\n"),
        "float64_moveaxis": _SOFTMAX_SIG + (
            "    z = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)\n"
            "    z = z - z.max(axis=-1)[..., None]\n"
            "    e = np.exp(z)\n"
            "    return np.moveaxis(e / e.sum(axis=-1)[..., None], -1, axis)\n"),
        "copy_then_in_place": _SOFTMAX_SIG + (
            "    y = np.array(x, dtype=float, copy=True)\n"
            "    y -= y.max(axis=axis, keepdims=True)\n"
            "    np.exp(y, out=y)\n"
            "    y /= y.sum(axis=axis, keepdims=True)\n"
            "    return y\n"),
    },
    "row_entropy": {
        "boolean_index": _ENTROPY_SIG + (
            "    p = np.asarray(weights, dtype=np.float64)\n"
            "    terms = np.zeros_like(p)\n"
            "    nz = p > 0\n"
            "    terms[nz] = p[nz] * np.log(p[nz])\n"
            "    return -terms.sum(axis=axis)\n"),
        "errstate_nan_to_num": _ENTROPY_SIG + (
            "    p = np.asarray(weights, dtype=np.float64)\n"
            "    with np.errstate(divide='ignore', invalid='ignore'):\n"
            "        terms = np.nan_to_num(p * np.log(p))\n"
            "    return -terms.sum(axis=axis)\n"),
        "clipped_log": _ENTROPY_SIG + (
            "    p = np.asarray(weights, dtype=np.float64)\n"
            "    return -np.sum(p * np.log(np.clip(p, 1e-300, None)), axis=axis)\n"),
    },
    "scaled_dot_product_attention": {
        "einsum_additive_mask": _ATTN_SIG + (
            "    d_k = q.shape[-1]\n"
            "    scores = np.einsum('...qd,...kd->...qk', q, k) / np.sqrt(d_k)\n"
            "    if mask is not None:\n"
            "        scores = scores + np.where(mask, 0.0, -1e9)\n"
            "    w = softmax(scores, axis=-1)\n"
            "    return np.einsum('...qk,...kd->...qd', w, v), w\n"),
        "float64_finfo_min": _ATTN_SIG + (
            "    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))\n"
            "    scores = np.matmul(q, np.swapaxes(k, -1, -2)) * (1.0 / np.sqrt(q.shape[-1]))\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, scores, np.finfo(scores.dtype).min)\n"
            "    w = softmax(scores, axis=-1)\n"
            "    return np.matmul(w, v), w\n"),
        "own_logsumexp_float32_kept": _ATTN_SIG + (
            "    scores = np.einsum('...qd,...kd->...qk', q, k) / np.sqrt(q.shape[-1])\n"
            "    if mask is not None:\n"
            "        scores = np.where(mask, scores, -np.inf)\n"
            "    m = scores.max(axis=-1, keepdims=True)\n"
            "    w = np.exp(scores - (m + np.log(np.exp(scores - m).sum(axis=-1, keepdims=True))))\n"
            "    return w @ v, w\n"),
        "own_softmax_and_scaled_q": _ATTN_SIG + (
            "    q = q / np.sqrt(q.shape[-1])\n"
            "    scores = q @ np.swapaxes(k, -1, -2)\n"
            "    if mask is not None:\n"
            "        scores = scores - 1e9 * (1 - mask)\n"
            "    scores = scores - scores.max(axis=-1, keepdims=True)\n"
            "    w = np.exp(scores)\n"
            "    w = w / w.sum(axis=-1, keepdims=True)\n"
            "    return w @ v, w\n"),
    },
    "score_variance": {
        "einsum_ddof1": _VAR_SIG + (
            "    rng = np.random.default_rng(seed)\n"
            "    qk = rng.standard_normal((2, n, d_k))\n"
            "    s = np.einsum('nd,nd->n', qk[0], qk[1])\n"
            "    return float(s.var(ddof=1)), float((s / math.sqrt(d_k)).var(ddof=1))\n"),
        "normal_with_loc_scale": _VAR_SIG + (
            "    rng = np.random.default_rng(seed)\n"
            "    q = rng.normal(0.0, 1.0, size=(n, d_k))\n"
            "    k = rng.normal(0.0, 1.0, size=(n, d_k))\n"
            "    s = (q * k).sum(axis=1)\n"
            "    var = float(np.mean((s - s.mean()) ** 2))\n"
            "    return var, var / d_k\n"),
    },
    "attention_flops": {
        "factored": _FLOPS_SIG + "    return 2 * T_q * T_k * (d_k + d_v)\n",
        "float_arithmetic": _FLOPS_SIG + "    return 2.0 * T_q * T_k * d_k + 2.0 * T_q * T_k * d_v\n",
    },
    "score_matrix_bytes": {
        "math_prod": _BYTES_SIG + (
            "    import math\n"
            "    return math.prod((B, n_head, T_q, T_k)) * np.dtype(dtype).itemsize\n"),
        "empty_array_itemsize": _BYTES_SIG + (
            "    return int(B * n_head * T_q * T_k * np.empty(0, dtype=dtype).itemsize)\n"),
    },
    "answer_sqrt_dk": {
        "upper_case": 'answer_sqrt_dk = "C"\n',
        "with_spaces": 'answer_sqrt_dk = " c "\n',
    },
    "answer_shift": {
        "upper_case": 'answer_shift = "B"\n',
    },
}
