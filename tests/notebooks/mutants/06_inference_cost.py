"""Mutants of module 06_inference_cost: the traps the tests must reject and correct alternatives they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py). While one exercise's mutants
run, the notebook's other functions (param_count, kv_cache_bytes, ...) are the correct ones.
"""

_PC = "def param_count(cfg):\n"
_KV = "def kv_cache_bytes(cfg, B, T, kv_bits=16):\n"
_FL = "def step_flops(cfg, B, T_new, T_past):\n"
_BY = "def step_bytes(cfg, B, T_new, T_past, w_bits=16, kv_bits=16):\n"
_RF = "def roofline(flops, n_bytes, peak_flops, bandwidth):\n"
_RB = "def ridge_batch(peak_flops, bandwidth, w_bits=16):\n"
_KVQ = (
    "_c = {'n_layer': 40, 'C': 5120, 'n_head': 40, 'n_kv_head': 40, 'd_ff': 13824, 'V': 32000}\n"
)

WRONG = {
    "param_count": {
        "kv_uses_n_head": _PC + (
            "    C = cfg['C']\n"
            "    return cfg['n_layer'] * (4 * C * C + 2 * C * cfg['d_ff']) + C * cfg['V']\n"),
        "no_lm_head": _PC + (
            "    C, d_head = cfg['C'], cfg['C'] // cfg['n_head']\n"
            "    return cfg['n_layer'] * (2 * C * C + 2 * C * cfg['n_kv_head'] * d_head + 2 * C * cfg['d_ff'])\n"),
        "head_per_layer": _PC + (
            "    C, d_head = cfg['C'], cfg['C'] // cfg['n_head']\n"
            "    return cfg['n_layer'] * (2 * C * C + 2 * C * cfg['n_kv_head'] * d_head + 2 * C * cfg['d_ff']"
            " + C * cfg['V'])\n"),
        "with_embedding": _PC + (
            "    C, d_head = cfg['C'], cfg['C'] // cfg['n_head']\n"
            "    return cfg['n_layer'] * (2 * C * C + 2 * C * cfg['n_kv_head'] * d_head + 2 * C * cfg['d_ff'])"
            " + 2 * C * cfg['V']\n"),
    },
    "kv_cache_bytes": {
        "keys_only": _KV + (
            "    return cfg['n_layer'] * cfg['n_kv_head'] * (cfg['C'] // cfg['n_head']) * B * T * kv_bits / 8\n"),
        "bits_not_bytes": _KV + (
            "    return 2 * cfg['n_layer'] * cfg['n_kv_head'] * (cfg['C'] // cfg['n_head']) * B * T * kv_bits\n"),
        "query_heads": _KV + "    return 2 * cfg['n_layer'] * cfg['C'] * B * T * kv_bits / 8\n",
    },
    "kv_questions": {
        "gb_not_gib": _KVQ + (
            "kv_gib_mha = kv_cache_bytes(_c, 1, 32768) / 1e9\n"
            "kv_gib_gqa = kv_cache_bytes({**_c, 'n_kv_head': 8}, 1, 32768) / 1e9\n"
            "kv_gib_mqa = kv_cache_bytes({**_c, 'n_kv_head': 1}, 1, 32768) / 1e9\n"),
        "keys_only": _KVQ + (
            "kv_gib_mha = kv_cache_bytes(_c, 1, 32768) / 2**31\n"
            "kv_gib_gqa = kv_cache_bytes({**_c, 'n_kv_head': 8}, 1, 32768) / 2**31\n"
            "kv_gib_mqa = kv_cache_bytes({**_c, 'n_kv_head': 1}, 1, 32768) / 2**31\n"),
        "32000_tokens": _KVQ + (
            "kv_gib_mha = kv_cache_bytes(_c, 1, 32000) / 2**30\n"
            "kv_gib_gqa = kv_cache_bytes({**_c, 'n_kv_head': 8}, 1, 32000) / 2**30\n"
            "kv_gib_mqa = kv_cache_bytes({**_c, 'n_kv_head': 1}, 1, 32000) / 2**30\n"),
    },
    "step_flops": {
        "mac_is_one_flop": _FL + (
            "    keys = T_new * T_past + T_new * (T_new + 1) // 2\n"
            "    return float(param_count(cfg) * B * T_new + 2 * cfg['n_layer'] * cfg['C'] * B * keys)\n"),
        "no_attention": _FL + "    return float(2 * param_count(cfg) * B * T_new)\n",
        "full_square": _FL + (
            "    keys = T_new * (T_past + T_new)\n"
            "    return float(2 * param_count(cfg) * B * T_new + 4 * cfg['n_layer'] * cfg['C'] * B * keys)\n"),
        "attention_kv_width": _FL + (
            "    keys = T_new * T_past + T_new * (T_new + 1) // 2\n"
            "    width = cfg['n_kv_head'] * (cfg['C'] // cfg['n_head'])\n"
            "    return float(2 * param_count(cfg) * B * T_new + 4 * cfg['n_layer'] * width * B * keys)\n"),
        "no_batch": _FL + (
            "    keys = T_new * T_past + T_new * (T_new + 1) // 2\n"
            "    return float(2 * param_count(cfg) * T_new + 4 * cfg['n_layer'] * cfg['C'] * keys)\n"),
    },
    "step_bytes": {
        "no_kv_cache": _BY + "    return float(param_count(cfg) * w_bits / 8)\n",
        "bits_not_bytes": _BY + (
            "    return float(param_count(cfg) * w_bits + kv_cache_bytes(cfg, B, T_past + T_new, kv_bits) * 8)\n"),
        "weights_per_sequence": _BY + (
            "    return float(B * param_count(cfg) * w_bits / 8 + kv_cache_bytes(cfg, B, T_past + T_new, kv_bits))\n"),
        "past_only": _BY + (
            "    return float(param_count(cfg) * w_bits / 8 + kv_cache_bytes(cfg, B, T_past, kv_bits))\n"),
    },
    "roofline": {
        "swapped_axis": _RF + (
            "    tc, tm = flops / peak_flops, n_bytes / bandwidth\n"
            "    return n_bytes / flops, max(tc, tm), 'compute' if tc >= tm else 'memory'\n"),
        "sum_not_max": _RF + (
            "    tc, tm = flops / peak_flops, n_bytes / bandwidth\n"
            "    return flops / n_bytes, tc + tm, 'compute' if tc >= tm else 'memory'\n"),
        "bound_reversed": _RF + (
            "    tc, tm = flops / peak_flops, n_bytes / bandwidth\n"
            "    return flops / n_bytes, max(tc, tm), 'memory' if tc >= tm else 'compute'\n"),
        "ridge_compared_wrong_way": _RF + (
            "    i = flops / n_bytes\n"
            "    bound = 'compute' if n_bytes / flops > peak_flops / bandwidth else 'memory'\n"
            "    return i, max(flops / peak_flops, n_bytes / bandwidth), bound\n"),
    },
    "ridge_batch": {
        "mac_is_one_flop": _RB + "    return peak_flops / bandwidth * (w_bits / 8)\n",
        "bits_not_bytes": _RB + "    return peak_flops / bandwidth * w_bits / 2\n",
        "inverted_ridge": _RB + "    return bandwidth / peak_flops * (w_bits / 8) / 2\n",
        "integer_division": _RB + "    return peak_flops // bandwidth * (w_bits // 8) // 2\n",
    },
    "int8_questions": {
        "faster_everywhere": "int8_speedup_batch1 = 2.0\nint8_speedup_compute_bound = 2.0\n",
        "bits_ratio_squared": "int8_speedup_batch1 = 4.0\nint8_speedup_compute_bound = 1.0\n",
        "no_gain": "int8_speedup_batch1 = 1.0\nint8_speedup_compute_bound = 1.0\n",
    },
    "comm_questions": {
        "linear_not_sqrt": "ws_crossover_chips = 4\nws_1d_over_2d_at_64 = 2 / (8 / 64)\n",
        "ratio_inverted": "ws_crossover_chips = 16\nws_1d_over_2d_at_64 = (8 / 8) / 2\n",
    },
}

RIGHT = {
    "param_count": {
        "loop_over_matrices": _PC + (
            "    C, d_head = cfg['C'], cfg['C'] // cfg['n_head']\n"
            "    kv = cfg['n_kv_head'] * d_head\n"
            "    shapes = [(C, C), (C, kv), (C, kv), (C, C), (C, cfg['d_ff']), (cfg['d_ff'], C)]\n"
            "    per_layer = sum(a * b for a, b in shapes)\n"
            "    return int(np.int64(per_layer) * cfg['n_layer'] + C * cfg['V'])\n"),
    },
    "kv_cache_bytes": {
        "bytes_first": _KV + (
            "    bytes_per_value = kv_bits // 8 if kv_bits % 8 == 0 else kv_bits / 8\n"
            "    return float(B * T * cfg['n_layer'] * 2 * cfg['n_kv_head'] * cfg['C'] // cfg['n_head']"
            " * bytes_per_value)\n"),
    },
    "kv_questions": {
        "by_hand": ("kv_gib_mha = 2 * 40 * 40 * 128 * 2 * 32768 / 1024**3\n"
                    "kv_gib_gqa = 5\n"
                    "kv_gib_mqa = 0.625\n"),
    },
    "step_flops": {
        "loop_over_tokens": _FL + (
            "    total = 2 * param_count(cfg) * B * T_new\n"
            "    for i in range(T_new):\n"
            "        total += 4 * cfg['n_layer'] * cfg['n_head'] * (cfg['C'] // cfg['n_head']) * B * (T_past + i + 1)\n"
            "    return total\n"),
    },
    "step_bytes": {
        "inline_kv": _BY + (
            "    d_head = cfg['C'] // cfg['n_head']\n"
            "    kv = 2 * cfg['n_layer'] * cfg['n_kv_head'] * d_head * B * (T_past + T_new) * (kv_bits / 8)\n"
            "    return param_count(cfg) * (w_bits / 8) + kv\n"),
    },
    "roofline": {
        "ridge_comparison": _RF + (
            "    intensity = flops / n_bytes\n"
            "    bound = 'compute' if intensity >= peak_flops / bandwidth else 'memory'\n"
            "    seconds = flops / peak_flops if bound == 'compute' else n_bytes / bandwidth\n"
            "    return [intensity, seconds, bound]\n"),
    },
    "ridge_batch": {
        "via_intensity": _RB + (
            "    bytes_per_weight = w_bits / 8\n"
            "    flops_per_weight_per_sequence = 2\n"
            "    return (peak_flops / bandwidth) * bytes_per_weight / flops_per_weight_per_sequence\n"),
    },
    "int8_questions": {
        "literals": "int8_speedup_batch1 = 2\nint8_speedup_compute_bound = 1\n",
    },
    "comm_questions": {
        "literals": "ws_crossover_chips = 16\nws_1d_over_2d_at_64 = 2\n",
    },
}
