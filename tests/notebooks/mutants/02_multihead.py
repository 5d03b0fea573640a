"""Mutants of module 02_multihead: plausible wrong answers the tests must reject, right ones they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py). The notebook's own
attention, split_heads and merge_heads are correct while another exercise's mutants run, so a mutant
may call them; the multi-head mutants that model a split/merge mistake inline their own arrays.
"""

from textwrap import dedent, indent


def _src(text: str) -> str:
    """A whole cell written as an indented triple-quoted block."""
    return dedent(text).lstrip("\n")


def _body(text: str) -> str:
    """A function body written as an indented triple-quoted block, re-indented by four spaces."""
    return indent(_src(text), "    ")


_ATTN = "def attention(q, k, v):\n"
_SOFTMAX_TAIL = (
    "    s = s - s.max(axis=-1, keepdims=True)\n"
    "    w = np.exp(s)\n"
    "    w = w / w.sum(axis=-1, keepdims=True)\n"
    "    return w @ v, w\n"
)
_MHA = "def multi_head_attention(x, params, n_head):\n"
_GQA = "def grouped_query_attention(x, params, n_head, n_kv_head):\n"
_CHECK = (
    "    if n_head % n_kv_head:\n"
    "        raise ValueError(f'n_kv_head={n_kv_head} must divide n_head={n_head}')\n"
)
_COUNT = "def attention_param_count(C, n_head, n_kv_head=None, bias=True):\n"
_KV = "def kv_cache_bytes(n_layer, C, n_head, n_kv_head, n_tokens=1, B=1, bits=16):\n"


_ROW_MAX = "s.max(axis=-1, keepdims=True)"


def _mha(scores_scale: str = "np.sqrt(C // n_head)", use_bias: bool = True, use_wo: bool = True,
         split: str = "t.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)",
         merge: str = "o.transpose(0, 2, 1, 3).reshape(B, T, C)", shift: str = _ROW_MAX) -> str:
    """A numpy-only MHA with one mistake switched on (by default a correct one)."""
    b = (lambda name: f" + params['{name}']") if use_bias else (lambda name: "")
    out = f"m @ params['Wo']{b('bo')}" if use_wo else "m"
    return _MHA + (
        "    B, T, C = x.shape\n"
        f"    q = x @ params['Wq']{b('bq')}\n"
        f"    k = x @ params['Wk']{b('bk')}\n"
        f"    v = x @ params['Wv']{b('bv')}\n"
        f"    q, k, v = ({split} for t in (q, k, v))\n"
        f"    s = q @ k.transpose(0, 1, 3, 2) / {scores_scale}\n"
        f"    s = s - {shift}\n"
        "    w = np.exp(s)\n"
        "    w = w / w.sum(axis=-1, keepdims=True)\n"
        "    o = w @ v\n"
        f"    m = {merge}\n"
        f"    return {out}, w\n"
    )


def _gqa(expand: str = "np.repeat(t, n_head // n_kv_head, axis=1)", scale: str = "np.sqrt(C // n_head)",
         check: bool = True, shift: str = _ROW_MAX) -> str:
    """A GQA built on the notebook's split/merge/attention-free code, with one mistake switched on."""
    return _GQA + (_CHECK if check else "") + (
        "    B, T, C = x.shape\n"
        "    d = C // n_head\n"
        "    q = (x @ params['Wq'] + params['bq']).reshape(B, T, n_head, d).transpose(0, 2, 1, 3)\n"
        "    k = (x @ params['Wk'] + params['bk']).reshape(B, T, n_kv_head, d).transpose(0, 2, 1, 3)\n"
        "    v = (x @ params['Wv'] + params['bv']).reshape(B, T, n_kv_head, d).transpose(0, 2, 1, 3)\n"
        f"    k, v = ({expand} for t in (k, v))\n"
        f"    s = q @ k.transpose(0, 1, 3, 2) / {scale}\n"
        f"    s = s - {shift}\n"
        "    w = np.exp(s)\n"
        "    w = w / w.sum(axis=-1, keepdims=True)\n"
        "    o = (w @ v).transpose(0, 2, 1, 3).reshape(B, T, C)\n"
        "    return o @ params['Wo'] + params['bo'], w\n"
    )


WRONG = {
    "attention": {
        "no_scale": _ATTN + "    s = q @ np.swapaxes(k, -1, -2)\n" + _SOFTMAX_TAIL,
        "scale_1_over_d_k": _ATTN + "    s = q @ np.swapaxes(k, -1, -2) / q.shape[-1]\n" + _SOFTMAX_TAIL,
        "softmax_over_queries": _ATTN + _body("""
            s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            w = np.exp(s - s.max(axis=-2, keepdims=True))
            w = w / w.sum(axis=-2, keepdims=True)
            return w @ v, w
        """),
        "no_max_shift": _ATTN + _body("""
            s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            w = np.exp(s)
            w = w / w.sum(axis=-1, keepdims=True)
            return w @ v, w
        """),
    },
    "split_heads": {
        "reshape_without_transpose": _src("""
            def split_heads(x, n_head):
                B, T, C = x.shape
                return x.reshape(B, n_head, T, C // n_head)
        """),
        "interleaved_features": _src("""
            def split_heads(x, n_head):
                B, T, C = x.shape
                return x.reshape(B, T, C // n_head, n_head).transpose(0, 3, 1, 2)
        """),
        "split_the_sequence": _src("""
            def split_heads(x, n_head):
                return np.stack(np.split(x, n_head, axis=1), axis=1)
        """),
        "no_transpose_at_all": _src("""
            def split_heads(x, n_head):
                B, T, C = x.shape
                return x.reshape(B, T, n_head, C // n_head)
        """),
    },
    "merge_heads": {
        "reshape_without_transpose": _src("""
            def merge_heads(h):
                B, n_head, T, d_head = h.shape
                return h.reshape(B, T, n_head * d_head)
        """),
        "interleaved_features": _src("""
            def merge_heads(h):
                B, n_head, T, d_head = h.shape
                return h.transpose(0, 2, 3, 1).reshape(B, T, n_head * d_head)
        """),
        "sum_of_heads": _src("""
            def merge_heads(h):
                return np.tile(h.sum(axis=1), (1, 1, h.shape[1]))
        """),
    },
    "heads_question": {
        "t_over_n_head": 'keys_seen_by_one_head = 3\nheads_answer = "c"\n',
        "sequence_chunks": 'keys_seen_by_one_head = 12\nheads_answer = "a"\n',
        "copies": 'keys_seen_by_one_head = 12\nheads_answer = "d"\n',
    },
    "multi_head_attention": {
        "scale_by_d_model": _mha(scores_scale="np.sqrt(C)"),
        "no_output_projection": _mha(use_wo=False),
        "no_biases": _mha(use_bias=False),
        "reshape_without_transpose": _mha(split="t.reshape(B, n_head, T, C // n_head)",
                                          merge="o.reshape(B, T, C)"),
        "interleaved_heads": _mha(split="t.reshape(B, T, C // n_head, n_head).transpose(0, 3, 1, 2)",
                                  merge="o.transpose(0, 2, 3, 1).reshape(B, T, C)"),
        "weights_averaged_over_heads": _mha().replace(
            "return m @ params['Wo'] + params['bo'], w",
            "return m @ params['Wo'] + params['bo'], np.broadcast_to(w.mean(axis=1, keepdims=True), w.shape)"),
        "own_softmax_no_max_shift": _mha(shift="0.0"),
        "own_softmax_global_max_shift": _mha(shift="s.max()"),
    },
    "grouped_query_attention": {
        "interleaved_groups_tile": _gqa(expand="np.tile(t, (1, n_head // n_kv_head, 1, 1))"),
        "no_divisibility_check": _gqa(check=False),
        "scale_by_d_model": _gqa(scale="np.sqrt(C)"),
        "own_softmax_no_max_shift": _gqa(shift="0.0"),
        "own_softmax_global_max_shift": _gqa(shift="s.max()"),
        "assert_instead_of_value_error": _GQA + (
            "    assert n_head % n_kv_head == 0, 'n_kv_head must divide n_head'\n") + _gqa(check=False)[len(_GQA):],
    },
    "attention_param_count": {
        "full_projections_per_head": _COUNT + _body("""
                return n_head * (4 * C * C + (4 * C if bias else 0))
        """),
        "forgot_output_projection": _COUNT + _body("""
                n_kv_head = n_head if n_kv_head is None else n_kv_head
                c_kv = n_kv_head * (C // n_head)
                return C * C + 2 * C * c_kv + ((C + 2 * c_kv) if bias else 0)
        """),
        "ignores_n_kv_head": _COUNT + "    return 4 * C * C + (4 * C if bias else 0)\n",
        "bias_ignored": _COUNT + _body("""
                n_kv_head = n_head if n_kv_head is None else n_kv_head
                c_kv = n_kv_head * (C // n_head)
                return 2 * C * C + 2 * C * c_kv + 2 * C + 2 * c_kv
        """),
    },
    "kv_cache_bytes": {
        "keys_only": _KV + "    return n_layer * n_kv_head * (C // n_head) * bits / 8 * n_tokens * B\n",
        "uses_n_head": _KV + "    return 2 * n_layer * n_head * (C // n_head) * bits / 8 * n_tokens * B\n",
        "bits_not_bytes": _KV + "    return 2 * n_layer * n_kv_head * (C // n_head) * bits * n_tokens * B\n",
        "forgot_batch": _KV + "    return 2 * n_layer * n_kv_head * (C // n_head) * bits / 8 * n_tokens\n",
    },
    "cache_questions": {
        "interleaved_head": "kv_head_of_query_13 = 13 % 8\nkv_cache_gib_70b = 10.0\n",
        "uses_n_head": "kv_head_of_query_13 = 3\nkv_cache_gib_70b = 80.0\n",
        "keys_only": "kv_head_of_query_13 = 3\nkv_cache_gib_70b = 5.0\n",
        "gb_not_gib": "kv_head_of_query_13 = 3\nkv_cache_gib_70b = 2 * 80 * 8 * 128 * 2 * 4096 * 8 / 1e9\n",
    },
}

RIGHT = {
    "attention": {
        "einsum_logsumexp": _ATTN + _body("""
                s = np.einsum('...qd,...kd->...qk', q, k) / np.sqrt(q.shape[-1])
                m = s.max(axis=-1, keepdims=True)
                lse = m + np.log(np.exp(s - m).sum(axis=-1, keepdims=True))
                w = np.exp(s - lse)
                return np.einsum('...qk,...kd->...qd', w, v), w
        """),
        "scale_q_first_float64": _ATTN + _body("""
                q = np.asarray(q, dtype=np.float64) / np.sqrt(q.shape[-1])
                s = q @ np.swapaxes(k, -1, -2)
                w = np.exp(s - s.max(axis=-1, keepdims=True))
                w /= w.sum(axis=-1, keepdims=True)
                return w @ v, w
        """),
    },
    "split_heads": {
        "swapaxes_minus_one": _src("""
            def split_heads(x, n_head):
                B, T, C = x.shape
                return x.reshape(B, T, n_head, -1).swapaxes(1, 2)
        """),
        "stack_of_feature_slices": _src("""
            def split_heads(x, n_head):
                return np.stack(np.split(x, n_head, axis=-1), axis=1)
        """),
        "einsum_copy": _src("""
            def split_heads(x, n_head):
                B, T, C = x.shape
                return np.einsum('bthd->bhtd', x.reshape(B, T, n_head, C // n_head)).copy()
        """),
    },
    "merge_heads": {
        "concatenate_heads": _src("""
            def merge_heads(h):
                return np.concatenate([h[:, i] for i in range(h.shape[1])], axis=-1)
        """),
        "swapaxes_minus_one": _src("""
            def merge_heads(h):
                B, n_head, T, d_head = h.shape
                return np.ascontiguousarray(h.swapaxes(1, 2)).reshape(B, T, -1)
        """),
    },
    "heads_question": {
        "float_and_upper_case": 'keys_seen_by_one_head = 12.0\nheads_answer = " C "\n',
        "numpy_int": 'keys_seen_by_one_head = np.int64(12)\nheads_answer = "c"\n',
    },
    "multi_head_attention": {
        "einsum_numpy_only": _MHA + _body("""
                B, T, C = x.shape
                d = C // n_head
                q = (x @ params['Wq'] + params['bq']).reshape(B, T, n_head, d)
                k = (x @ params['Wk'] + params['bk']).reshape(B, T, n_head, d)
                v = (x @ params['Wv'] + params['bv']).reshape(B, T, n_head, d)
                s = np.einsum('bqhd,bkhd->bhqk', q, k) / np.sqrt(d)
                w = np.exp(s - s.max(axis=-1, keepdims=True))
                w = w / w.sum(axis=-1, keepdims=True)
                o = np.einsum('bhqk,bkhd->bqhd', w, v).reshape(B, T, C)
                return o @ params['Wo'] + params['bo'], w
        """),
        "loop_over_heads": _MHA + _body("""
                B, T, C = x.shape
                d = C // n_head
                q = x @ params['Wq'] + params['bq']
                k = x @ params['Wk'] + params['bk']
                v = x @ params['Wv'] + params['bv']
                outs, ws = [], []
                for h in range(n_head):
                    cols = slice(h * d, (h + 1) * d)
                    o, w = attention(q[..., cols], k[..., cols], v[..., cols])
                    outs.append(o)
                    ws.append(w)
                return np.concatenate(outs, axis=-1) @ params['Wo'] + params['bo'], np.stack(ws, axis=1)
        """),
        "numpy_only_matmul": _mha(),
        "wo_folded_per_head": _MHA + _body("""
                B, T, C = x.shape
                d = C // n_head
                q, k, v = (split_heads(x @ params[w] + params[b], n_head)
                           for w, b in (('Wq', 'bq'), ('Wk', 'bk'), ('Wv', 'bv')))
                o, w = attention(q, k, v)
                wo = params['Wo'].reshape(n_head, d, C)
                return np.einsum('bhtd,hdc->btc', o, wo) + params['bo'], w
        """),
    },
    "grouped_query_attention": {
        "numpy_repeat": _gqa(),
        "broadcast_groups": _GQA + _CHECK + _body("""
                B, T, C = x.shape
                d, g = C // n_head, n_head // n_kv_head
                q = split_heads(x @ params['Wq'] + params['bq'], n_head).reshape(B, n_kv_head, g, T, d)
                k = split_heads(x @ params['Wk'] + params['bk'], n_kv_head)[:, :, None]
                v = split_heads(x @ params['Wv'] + params['bv'], n_kv_head)[:, :, None]
                o, w = attention(q, k, v)
                o = o.reshape(B, n_head, T, d)
                return merge_heads(o) @ params['Wo'] + params['bo'], w.reshape(B, n_head, T, T)
        """),
        "loop_with_group_index": _GQA + _CHECK + _body("""
                B, T, C = x.shape
                d, g = C // n_head, n_head // n_kv_head
                q = x @ params['Wq'] + params['bq']
                k = x @ params['Wk'] + params['bk']
                v = x @ params['Wv'] + params['bv']
                outs, ws = [], []
                for h in range(n_head):
                    j = h // g
                    o, w = attention(q[..., h * d:(h + 1) * d], k[..., j * d:(j + 1) * d], v[..., j * d:(j + 1) * d])
                    outs.append(o)
                    ws.append(w)
                return np.concatenate(outs, axis=-1) @ params['Wo'] + params['bo'], np.stack(ws, axis=1)
        """),
    },
    "attention_param_count": {
        "sum_of_shapes": _COUNT + _body("""
                n_kv_head = n_head if n_kv_head is None else n_kv_head
                c_kv = n_kv_head * C // n_head
                shapes = [(C, C), (C, c_kv), (C, c_kv), (C, C)]
                if bias:
                    shapes += [(C,), (c_kv,), (c_kv,), (C,)]
                return int(sum(np.prod(s) for s in shapes))
        """),
        "closed_form_numpy_int": _COUNT + _body("""
                kv = (n_head if n_kv_head is None else n_kv_head) * (C // n_head)
                return np.int64(2 * C * (C + kv) + bias * 2 * (C + kv))
        """),
    },
    "kv_cache_bytes": {
        "bytes_per_value_first": _KV + _body("""
                bytes_per_value = bits / 8
                d_head = C // n_head
                return 2 * n_layer * n_kv_head * d_head * bytes_per_value * n_tokens * B
        """),
        "integer_bits_arithmetic": _KV + (
            "    return 2 * n_layer * n_kv_head * (C // n_head) * n_tokens * B * bits // 8\n"),
    },
    "cache_questions": {
        "worked_numbers": "kv_head_of_query_13 = 3\nkv_cache_gib_70b = 10\n",
        "from_the_function": (
            "kv_head_of_query_13 = 13 // 4\n"
            "kv_cache_gib_70b = kv_cache_bytes(80, 8192, 64, 8, n_tokens=4096, B=8) / 2**30\n"),
    },
}
