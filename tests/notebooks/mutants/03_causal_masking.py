"""Mutants for 03_causal_masking: wrong answers the tests must reject, right ones they must accept."""

_ATTN_HEAD = '''def masked_attention(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
'''
_SOFTMAX = '''    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
'''
_SAFE_HEAD = '''def safe_masked_attention(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is None:
        mask = np.ones(s.shape, dtype=bool)
'''
_CROSS_HEAD = '''def cross_attention(x, memory, memory_lengths, Wq, Wk, Wv):
    q, k, v = x @ Wq, memory @ Wk, memory @ Wv
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(Wq.shape[1])
    real = np.arange(memory.shape[1])[None, :] < np.asarray(memory_lengths)[:, None]
'''
_CSA_HEAD = '''def causal_self_attention(x, Wq, Wk, Wv):
    T = x.shape[1]
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(Wq.shape[1])
'''
_LEAK_HEAD = '''def leaks_future(seq_fn, B=2, T=6, C=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C))
    base = np.asarray(seq_fn(x.copy()))
'''

WRONG = {
    "causal_mask": {
        "triu": "def causal_mask(T):\n    return np.triu(np.ones((T, T), dtype=bool))\n",
        "strict_lower": "def causal_mask(T):\n    return np.tril(np.ones((T, T), dtype=bool), k=-1)\n",
        "float_zeros_ones": "def causal_mask(T):\n    return np.tril(np.ones((T, T)))\n",
    },
    "cached_causal_mask": {
        "top_left": "def cached_causal_mask(T_q, T_k):\n    return np.tril(np.ones((T_q, T_k), dtype=bool))\n",
        "off_by_one": "def cached_causal_mask(T_q, T_k):\n"
                      "    return np.tril(np.ones((T_q, T_k), dtype=bool), k=T_k - T_q - 1)\n",
        "wrong_triangle": "def cached_causal_mask(T_q, T_k):\n"
                          "    return np.triu(np.ones((T_q, T_k), dtype=bool), k=T_k - T_q)\n",
    },
    "additive_mask": {
        "inverted": "def additive_mask(mask, dtype=np.float32):\n"
                    "    return np.where(mask, -np.inf, 0.0).astype(dtype)\n",
        "zero_one": "def additive_mask(mask, dtype=np.float32):\n    return mask.astype(dtype)\n",
        "times_minus_inf": "def additive_mask(mask, dtype=np.float32):\n"
                           "    return ((~mask) * -np.inf).astype(dtype)\n",
        "minus_one": "def additive_mask(mask, dtype=np.float32):\n    return mask.astype(dtype) - 1\n",
        "always_float64": "def additive_mask(mask, dtype=np.float32):\n    return np.where(mask, 0.0, -np.inf)\n",
    },
    "masked_attention": {
        "after_softmax": _ATTN_HEAD + _SOFTMAX
        + "    if mask is not None:\n        w = w * mask\n    return w @ v, w\n",
        "inverted_mask": _ATTN_HEAD + "    if mask is not None:\n        s = np.where(mask, -np.inf, s)\n"
        + _SOFTMAX + "    return w @ v, w\n",
        "no_scale": "def masked_attention(q, k, v, mask=None):\n    s = q @ np.swapaxes(k, -1, -2)\n"
        + "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n" + _SOFTMAX + "    return w @ v, w\n",
        "mask_added_as_0_1": _ATTN_HEAD + "    if mask is not None:\n        s = s + mask\n"
        + _SOFTMAX + "    return w @ v, w\n",
        # right in exact arithmetic, 0 / 0 once a blocked score is far above the allowed ones (section 2's prose)
        "multiply_then_renormalise": _ATTN_HEAD + _SOFTMAX + "    if mask is not None:\n"
        "        w = w * mask\n        w = w / w.sum(axis=-1, keepdims=True)\n    return w @ v, w\n",
        "row_max_before_masking": _ATTN_HEAD + "    s = s - s.max(axis=-1, keepdims=True)\n"
        "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n"
        "    e = np.exp(s)\n    w = e / e.sum(axis=-1, keepdims=True)\n    return w @ v, w\n",
        "no_max_shift": _ATTN_HEAD + "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n"
        "    e = np.exp(s)\n    w = e / e.sum(axis=-1, keepdims=True)\n    return w @ v, w\n",
        "global_max_shift": _ATTN_HEAD + "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n"
        "    e = np.exp(s - s.max())\n    w = e / e.sum(axis=-1, keepdims=True)\n    return w @ v, w\n",
    },
    "padding_mask": {
        "less_equal": "def padding_mask(lengths, T):\n"
                      "    return np.arange(T)[None, :] <= np.asarray(lengths)[:, None]\n",
        "transposed": "def padding_mask(lengths, T):\n"
                      "    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]\n",
        "int_dtype": "def padding_mask(lengths, T):\n"
                     "    return (np.arange(T)[None, :] < np.asarray(lengths)[:, None]).astype(int)\n",
    },
    "padding_causal_mask": {
        "keys_only": "def padding_causal_mask(lengths, T):\n"
                     "    real = np.arange(T)[None, :] < np.asarray(lengths)[:, None]\n"
                     "    return np.tril(np.ones((T, T), dtype=bool))[None] & real[:, None, :]\n",
        "or_instead_of_and": "def padding_causal_mask(lengths, T):\n"
                             "    real = np.arange(T)[None, :] < np.asarray(lengths)[:, None]\n"
                             "    both = real[:, None, :] & real[:, :, None]\n"
                             "    return np.tril(np.ones((T, T), dtype=bool))[None] | both\n",
        "causal_only": "def padding_causal_mask(lengths, T):\n"
                       "    tril = np.tril(np.ones((T, T), dtype=bool))\n"
                       "    return np.broadcast_to(tril, (len(lengths), T, T)).copy()\n",
        "triu": "def padding_causal_mask(lengths, T):\n"
                "    real = np.arange(T)[None, :] < np.asarray(lengths)[:, None]\n"
                "    return np.triu(np.ones((T, T), dtype=bool))[None] & real[:, None, :] & real[:, :, None]\n",
    },
    "safe_masked_attention": {
        "plain_minus_inf": _SAFE_HEAD + "    s = np.where(mask, s, -np.inf)\n" + _SOFTMAX + "    return w @ v, w\n",
        "replace_by_minus_1e9": _SAFE_HEAD + "    s = np.where(mask, s, -1e9)\n" + _SOFTMAX + "    return w @ v, w\n",
        "after_softmax": _SAFE_HEAD + _SOFTMAX + "    w = w * mask\n    return w @ v, w\n",
        "nan_to_num_with_warnings": _SAFE_HEAD + "    s = np.where(mask, s, -np.inf)\n" + _SOFTMAX
        + "    w = np.nan_to_num(w)\n    return w @ v, w\n",
        "no_max_shift_guarded": _SAFE_HEAD + "    s = np.where(mask, s, -np.inf)\n    e = np.exp(s)\n"
        "    total = e.sum(axis=-1, keepdims=True)\n    w = e / np.where(total > 0, total, 1.0)\n    return w @ v, w\n",
    },
    "cross_attention": {
        "causal_across": _CROSS_HEAD + "    T_q, T_k = q.shape[1], k.shape[1]\n"
        "    ok = real[:, None, :] & np.tril(np.ones((T_q, T_k), dtype=bool))\n"
        "    s = np.where(ok, s, -np.inf)\n" + _SOFTMAX + "    return w @ v, w\n",
        "no_padding": _CROSS_HEAD + _SOFTMAX + "    return w @ v, w\n",
        "no_max_shift": _CROSS_HEAD + "    s = np.where(real[:, None, :], s, -np.inf)\n    e = np.exp(s)\n"
        "    w = e / e.sum(axis=-1, keepdims=True)\n    return w @ v, w\n",
        "padding_on_queries": "def cross_attention(x, memory, memory_lengths, Wq, Wk, Wv):\n"
        "    q, k, v = x @ Wq, memory @ Wk, memory @ Wv\n"
        "    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(Wq.shape[1])\n"
        "    real = np.arange(x.shape[1])[None, :] < np.asarray(memory_lengths)[:, None]\n"
        "    s = np.where(real[:, :, None], s, -1e9)\n" + _SOFTMAX + "    return w @ v, w\n",
        "no_scale": "def cross_attention(x, memory, memory_lengths, Wq, Wk, Wv):\n"
        "    q, k, v = x @ Wq, memory @ Wk, memory @ Wv\n"
        "    s = q @ np.swapaxes(k, -1, -2)\n"
        "    real = np.arange(memory.shape[1])[None, :] < np.asarray(memory_lengths)[:, None]\n"
        "    s = np.where(real[:, None, :], s, -np.inf)\n" + _SOFTMAX + "    return w @ v, w\n",
    },
    "causal_self_attention": {
        "after_softmax": _CSA_HEAD + _SOFTMAX + "    w = w * np.tril(np.ones((T, T), dtype=bool))\n    return w @ v\n",
        "no_mask": _CSA_HEAD + _SOFTMAX + "    return w @ v\n",
        "no_max_shift": _CSA_HEAD + "    s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)\n"
        "    e = np.exp(s)\n    return (e / e.sum(axis=-1, keepdims=True)) @ v\n",
        "diagonal_plus_one": _CSA_HEAD + "    s = np.where(np.tril(np.ones((T, T), dtype=bool), k=1), s, -np.inf)\n"
        + _SOFTMAX + "    return w @ v\n",
        "triu": _CSA_HEAD + "    s = np.where(np.triu(np.ones((T, T), dtype=bool)), s, -np.inf)\n"
        + _SOFTMAX + "    return w @ v\n",
    },
    "leaks_future": {
        "compare_all_positions": _LEAK_HEAD + "    for t in range(T - 1):\n        x2 = x.copy()\n"
        "        x2[:, t + 1:] = rng.standard_normal((B, T - t - 1, C))\n"
        "        if not np.allclose(np.asarray(seq_fn(x2)), base):\n            return True\n    return False\n",
        "change_position_t_too": _LEAK_HEAD + "    for t in range(T - 1):\n        x2 = x.copy()\n"
        "        x2[:, t:] = rng.standard_normal((B, T - t, C))\n"
        "        if not np.allclose(np.asarray(seq_fn(x2))[:, : t + 1], base[:, : t + 1]):\n"
        "            return True\n    return False\n",
        "single_split": _LEAK_HEAD + "    t = T // 2\n    x2 = x.copy()\n"
        "    x2[:, t + 1:] = rng.standard_normal((B, T - t - 1, C))\n"
        "    return not np.allclose(np.asarray(seq_fn(x2))[:, : t + 1], base[:, : t + 1])\n",
        "change_the_past": _LEAK_HEAD + "    for t in range(1, T):\n        x2 = x.copy()\n"
        "        x2[:, :t] = rng.standard_normal((B, t, C))\n"
        "        if not np.allclose(np.asarray(seq_fn(x2))[:, t:], base[:, t:]):\n            return True\n"
        "    return False\n",
    },
}

RIGHT = {
    "causal_mask": {
        "arange_compare": "def causal_mask(T):\n    return np.arange(T)[None, :] <= np.arange(T)[:, None]\n",
        "not_strict_upper": "def causal_mask(T):\n    return ~np.triu(np.ones((T, T), dtype=bool), k=1)\n",
    },
    "cached_causal_mask": {
        "last_rows_of_square": "def cached_causal_mask(T_q, T_k):\n    return causal_mask(T_k)[-T_q:]\n",
        "arange_offset": "def cached_causal_mask(T_q, T_k):\n"
                         "    return np.arange(T_k)[None, :] <= np.arange(T_q)[:, None] + (T_k - T_q)\n",
    },
    "additive_mask": {
        "minus_1e9": "def additive_mask(mask, dtype=np.float32):\n"
                     "    return np.where(mask, 0, -1e9).astype(dtype)\n",
        "finfo_min": "def additive_mask(mask, dtype=np.float32):\n"
                     "    return np.where(mask, 0, np.finfo(dtype).min).astype(dtype)\n",
        "fill_in_place": "def additive_mask(mask, dtype=np.float32):\n    out = np.zeros(mask.shape, dtype=dtype)\n"
                         "    out[~mask] = -np.inf\n    return out\n",
    },
    "masked_attention": {
        "additive_minus_1e9": _ATTN_HEAD + "    if mask is not None:\n"
        "        s = s + np.where(mask, 0.0, -1e9)\n" + _SOFTMAX + "    return w @ v, w\n",
        "finfo_min": _ATTN_HEAD + "    if mask is not None:\n"
        "        s = np.where(mask, s, np.finfo(s.dtype).min)\n" + _SOFTMAX + "    return w @ v, w\n",
        "logsumexp_where": _ATTN_HEAD + "    if mask is not None:\n        s = np.where(mask, s, -np.inf)\n"
        "    m = s.max(axis=-1, keepdims=True)\n    lse = m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))\n"
        "    w = np.exp(s - lse)\n    return w @ v, w\n",
        "einsum_float_mask": "def masked_attention(q, k, v, mask=None):\n"
        "    s = np.einsum('...qd,...kd->...qk', q, k) / np.sqrt(q.shape[-1])\n"
        "    if mask is not None:\n        s = s + additive_mask(mask, s.dtype)\n"
        + _SOFTMAX + "    return np.einsum('...qk,...kd->...qd', w, v), w\n",
    },
    "padding_mask": {
        "loop": "def padding_mask(lengths, T):\n    out = np.zeros((len(lengths), T), dtype=bool)\n"
                "    for b, L in enumerate(lengths):\n        out[b, :L] = True\n    return out\n",
        "arange_1d": "def padding_mask(lengths, T):\n    return np.arange(T) < np.reshape(lengths, (-1, 1))\n",
    },
    "padding_causal_mask": {
        "loop": "def padding_causal_mask(lengths, T):\n    out = np.zeros((len(lengths), T, T), dtype=bool)\n"
                "    for b, L in enumerate(lengths):\n        for i in range(L):\n"
                "            out[b, i, : i + 1] = True\n    return out\n",
        "outer_product": "def padding_causal_mask(lengths, T):\n    real = padding_mask(lengths, T)\n"
                         "    both = real[:, :, None] & real[:, None, :]\n"
                         "    return both & cached_causal_mask(T, T)\n",
    },
    "safe_masked_attention": {
        "minus_1e9_then_zero_rows": _SAFE_HEAD + "    s = s + np.where(mask, 0.0, -1e9)\n" + _SOFTMAX
        + "    w = w * np.any(mask, axis=-1, keepdims=True)\n    return w @ v, w\n",
        "errstate_nan_to_num": _SAFE_HEAD + "    s = np.where(mask, s, -np.inf)\n"
        "    with np.errstate(invalid='ignore'):\n" + "\n".join("    " + line for line in _SOFTMAX.splitlines())
        + "\n    w = np.nan_to_num(w, nan=0.0)\n    return w @ v, w\n",
        "finfo_min_mask_after": _SAFE_HEAD + "    s = np.where(mask, s, np.finfo(s.dtype).min)\n" + _SOFTMAX
        + "    w = np.where(mask, w, 0.0)\n    w = w * mask.any(axis=-1, keepdims=True)\n    return w @ v, w\n",
    },
    "cross_attention": {
        "standalone_einsum": _CROSS_HEAD + "    s = np.where(real[:, None, :], s, -1e9)\n" + _SOFTMAX
        + "    return np.einsum('bqk,bkd->bqd', w, v), w\n",
        "via_safe_attention": "def cross_attention(x, memory, memory_lengths, Wq, Wk, Wv):\n"
        "    key_ok = padding_mask(memory_lengths, memory.shape[1])[:, None, :]\n"
        "    return safe_masked_attention(x @ Wq, memory @ Wk, memory @ Wv, key_ok)\n",
    },
    "causal_self_attention": {
        "standalone_minus_1e9": _CSA_HEAD + "    s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -1e9)\n"
        + _SOFTMAX + "    return w @ v\n",
        "via_safe_attention": "def causal_self_attention(x, Wq, Wk, Wv):\n"
        "    T = x.shape[-2]\n"
        "    return safe_masked_attention(x @ Wq, x @ Wk, x @ Wv, cached_causal_mask(T, T))[0]\n",
    },
    "leaks_future": {
        "one_position_at_a_time": _LEAK_HEAD + "    for j in range(1, T):\n        x2 = x.copy()\n"
        "        x2[:, j] = rng.standard_normal((B, C))\n"
        "        if not np.allclose(np.asarray(seq_fn(x2))[:, :j], base[:, :j]):\n            return True\n"
        "    return False\n",
        "compare_position_t_only": _LEAK_HEAD + "    for t in range(T - 1):\n        x2 = x.copy()\n"
        "        x2[:, t + 1:] = rng.standard_normal((B, T - t - 1, C))\n"
        "        if not np.allclose(np.asarray(seq_fn(x2))[:, t], base[:, t]):\n            return True\n"
        "    return False\n",
        "array_equal": _LEAK_HEAD + "    for t in range(T - 1):\n        x2 = x.copy()\n"
        "        x2[:, t + 1:] = rng.standard_normal((B, T - t - 1, C))\n"
        "        if not np.array_equal(np.asarray(seq_fn(x2))[:, : t + 1], base[:, : t + 1]):\n"
        "            return True\n    return False\n",
    },
}
