# ruff: noqa: E501  (mutant sources are kept on one line each where they are read as one statement)
"""Mutants of module 09_pruning: plausible wrong answers the tests must reject, right ones they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py). While one exercise's
mutants run, the notebook's other functions (magnitude_mask, mask_24, ...) are the correct ones.
Kernel mutants never index outside their arrays (Numba does not check bounds, and a crash would stop the run).
"""

from textwrap import dedent, indent


def _body(text: str) -> str:
    """A function body from an unindented block of lines."""
    return indent(dedent(text).strip("\n"), "    ") + "\n"


_NJIT = "@njit(parallel=True, fastmath=True, cache=True)\n"

# --- 1.1 -------------------------------------------------------------------------------------------------
_MAG = "def magnitude_mask(w, sparsity):\n"

# --- 1.2 -------------------------------------------------------------------------------------------------
_PM_HEAD = "def prune_model(params, names, sparsity, scope='global'):\n"


def _prune_model(global_part: str, copy: str = "pruned = dict(params)", apply: str = "params[n] * masks[n]") -> str:
    return _PM_HEAD + (
        "    if scope == 'layer':\n"
        "        masks = {n: magnitude_mask(params[n], sparsity) for n in names}\n"
        "    else:\n"
        f"{global_part}"
        f"    {copy}\n"
        "    for n in names:\n"
        f"        pruned[n] = {apply}\n"
        "    return pruned, masks\n"
    )


_GLOBAL_OK = (
    "        flat = np.concatenate([params[n].ravel() for n in names])\n"
    "        keep = magnitude_mask(flat, sparsity)\n"
    "        masks, start = {}, 0\n"
    "        for n in names:\n"
    "            masks[n] = keep[start:start + params[n].size].reshape(params[n].shape)\n"
    "            start += params[n].size\n"
)

# --- 2.1 -------------------------------------------------------------------------------------------------
def _taylor(score: str = "(p.detach() * p.grad).abs().T", zero: bool = True, reduction: str = "mean") -> str:
    return (
        "def taylor_scores(model, ids, names):\n"
        "    ids = torch.as_tensor(ids)\n"
        + ("    model.zero_grad(set_to_none=True)\n" if zero else "")
        + "    logits = model(ids[:, :-1])\n"
        f"    loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), reduction='{reduction}')\n"
        "    loss.backward()\n"
        "    out = {}\n"
        "    for n in names:\n"
        "        p = torch_param(model, n)\n"
        f"        out[n] = {score}.double().numpy()\n"
        "    return out\n"
    )


# --- 2.2 -------------------------------------------------------------------------------------------------
_WANDA = "def wanda_mask(w, x_norm, sparsity):\n    K, N = w.shape\n"

# --- 3.1 -------------------------------------------------------------------------------------------------
def _heads(cols: str = "np.array([h * d_head + i for h in keep for i in range(d_head)], dtype=np.int64)",
           width: str = "params[b + 'w_out'].shape[0]", qkv: str = "np.concatenate([cols, width + cols, 2 * width + cols])",
           w_out: str = "params[b + 'w_out'][cols, :]", b_qkv: str = "params[b + 'b_qkv'][qkv_cols]") -> str:
    return (
        "def prune_heads(params, layer, keep, d_head):\n"
        "    b = f'blocks.{layer}.attn.'\n"
        f"    width = {width}\n"
        f"    cols = {cols}\n"
        f"    qkv_cols = {qkv}\n"
        "    out = dict(params)\n"
        "    out[b + 'w_qkv'] = params[b + 'w_qkv'][:, qkv_cols]\n"
        f"    out[b + 'b_qkv'] = {b_qkv}\n"
        f"    out[b + 'w_out'] = {w_out}\n"
        "    return out\n"
    )


# --- 3.2 -------------------------------------------------------------------------------------------------
def _ffn(w_in: str = "params[b + 'w_in'][:, keep]", b_in: str = "params[b + 'b_in'][keep]",
         w_out: str = "params[b + 'w_out'][keep, :]") -> str:
    return (
        "def prune_ffn(params, layer, keep):\n"
        "    b = f'blocks.{layer}.mlp.'\n"
        "    keep = np.asarray(keep, dtype=np.int64)\n"
        "    out = dict(params)\n"
        f"    out[b + 'w_in'] = {w_in}\n"
        f"    out[b + 'b_in'] = {b_in}\n"
        f"    out[b + 'w_out'] = {w_out}\n"
        "    return out\n"
    )


# --- 4.1 -------------------------------------------------------------------------------------------------
_M24 = "def mask_24(w_t):\n    N, K = w_t.shape\n"
_M24_CHECK = "    if K % 4:\n        raise ValueError('K must be a multiple of 4')\n"

# --- 4.2 -------------------------------------------------------------------------------------------------
def _c24(meta: str = "pos[..., 0] | (pos[..., 1] << 2)", pos_in: str = "np.stack([meta & 3, (meta >> 2) & 3], axis=-1)",
         out_shape: str = "(N, G, 4)") -> str:
    return (
        "def compress_24(w_t, mask):\n"
        "    N, K = w_t.shape\n"
        "    pos = np.nonzero(mask.reshape(N, K // 4, 4))[2].reshape(N, K // 4, 2)\n"
        "    values = np.take_along_axis(w_t.reshape(N, K // 4, 4), pos, axis=-1).reshape(N, K // 2).astype(np.float32)\n"
        f"    return values, ({meta}).astype(np.uint8)\n\n\n"
        "def decompress_24(values, meta):\n"
        "    N, G = meta.shape\n"
        "    out = np.zeros((N, G, 4), dtype=np.float32)\n"
        f"    pos = ({pos_in}).astype(np.int64)\n"
        "    np.put_along_axis(out, pos, values.reshape(N, G, 2), axis=-1)\n"
        f"    return out.reshape({out_shape.replace('(N, G, 4)', 'N, 4 * G')})\n"
    )


# --- 5.x -------------------------------------------------------------------------------------------------
_CSR_MV = _NJIT + "def csr_matvec(data, indices, indptr, x):\n    N = indptr.shape[0] - 1\n    y = np.empty(N, dtype=np.float32)\n"
_S24 = _NJIT + "def sparse24_matvec(values, meta, x):\n    N, G = meta.shape\n    y = np.empty(N, dtype=np.float32)\n"


def _s24(term: str) -> str:
    return _S24 + (
        "    for n in prange(N):\n"
        "        acc = np.float32(0.0)\n"
        "        for g in range(G):\n"
        "            m = np.int32(meta[n, g])\n"
        f"            acc += {term}\n"
        "        y[n] = acc\n"
        "    return y\n"
    )


# --- 6.1 -------------------------------------------------------------------------------------------------
def _alloc(cost: str = "(damage[l, b] - damage[l, a]) / (sizes[l] * (levels[b] - levels[a]))",
           cond: str = "(sizes * levels[j]).sum() < target - 1e-9 * sizes.sum()", better: str = "cost < best_cost",
           start: str = "np.inf") -> str:
    return (
        "def allocate_sparsity(damage, sizes, levels, budget):\n"
        "    damage = np.asarray(damage, dtype=np.float64)\n"
        "    sizes = np.asarray(sizes, dtype=np.float64)\n"
        "    levels = np.asarray(levels, dtype=np.float64)\n"
        "    L, J = damage.shape\n"
        "    j = np.zeros(L, dtype=np.int64)\n"
        "    target = budget * sizes.sum()\n"
        f"    while {cond}:\n"
        f"        best, best_cost = -1, {start}\n"
        "        for l in range(L):\n"
        "            if j[l] + 1 < J:\n"
        "                a, b = j[l], j[l] + 1\n"
        f"                cost = {cost}\n"
        f"                if {better}:\n"
        "                    best, best_cost = l, cost\n"
        "        if best < 0:\n"
        "            raise ValueError('budget unreachable')\n"
        "        j[best] += 1\n"
        "    return j\n"
    )


# --- 7.1 -------------------------------------------------------------------------------------------------
def _step(before: str = "", after: str = "    with torch.no_grad():\n        for p, m in masks.items():\n            p.mul_(m)\n",
          zero: bool = True) -> str:
    return (
        "def masked_train_step(model, optimizer, masks, x, y):\n"
        + ("    optimizer.zero_grad()\n" if zero else "")
        + "    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())\n"
        "    loss.backward()\n"
        f"{before}"
        "    optimizer.step()\n"
        f"{after}"
        "    return float(loss.item())\n"
    )


WRONG = {
    "magnitude_mask": {
        "quantile_threshold_strict": _MAG + "    return np.abs(w) > np.quantile(np.abs(w), sparsity)\n",
        "kth_value_threshold": _MAG + _body("""
                n = round(sparsity * w.size)
                thr = np.sort(np.abs(w), axis=None)[n - 1] if n else -1.0
                return np.abs(w) > thr
            """),
        "signed_value": _MAG + _body("""
                n = round(sparsity * w.size)
                keep = np.ones(w.size, dtype=bool)
                keep[np.argsort(w, axis=None, kind='stable')[:n]] = False
                return keep.reshape(w.shape)
            """),
        "count_truncated": _MAG + _body("""
                n = int(sparsity * w.size)
                keep = np.ones(w.size, dtype=bool)
                keep[np.argsort(np.abs(w), axis=None, kind='stable')[:n]] = False
                return keep.reshape(w.shape)
            """),
    },
    "prune_model": {
        "per_tensor_when_global": _prune_model("        masks = {n: magnitude_mask(params[n], sparsity) for n in names}\n"),
        "prunes_everything": _prune_model(
            "        flat = np.concatenate([params[n].ravel() for n in params])\n"
            "        thr = np.sort(np.abs(flat))[round(sparsity * sum(params[n].size for n in names))]\n"
            "        masks = {n: np.abs(params[n]) >= thr for n in names}\n"),
        "modifies_input": _prune_model(_GLOBAL_OK, copy="pruned = params", apply="params[n] * masks[n]")
        .replace("    for n in names:\n        pruned[n] = params[n] * masks[n]\n",
                 "    for n in names:\n        pruned[n] *= masks[n]\n"),
    },
    "prunable_sparsity": {
        "over_all_parameters": "def prunable_sparsity(params, names):\n"
                               "    return sum(int((v == 0).sum()) for v in params.values()) / sum(v.size for v in params.values())\n",
        "mean_of_tensors": "def prunable_sparsity(params, names):\n"
                           "    return float(np.mean([np.mean(params[n] == 0) for n in names]))\n",
        "near_zero_counts": "def prunable_sparsity(params, names):\n"
                            "    return sum(int(np.isclose(params[n], 0).sum()) for n in names) / sum(params[n].size for n in names)\n",
    },
    "taylor_scores": {
        "torch_layout": _taylor(score="(p.detach() * p.grad).abs()"),
        "gradient_only": _taylor(score="p.grad.abs().T"),
        "signed": _taylor(score="(p.detach() * p.grad).T"),
        "accumulating": _taylor(zero=False),
        "summed_loss": _taylor(reduction="sum"),
    },
    "wanda_mask": {
        "per_input_row": _WANDA + (
            "    score = np.abs(w) * x_norm[:, None]\n"
            "    n = round(sparsity * N)\n"
            "    keep = np.ones((K, N), dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(score, axis=1, kind='stable')[:, :n], False, axis=1)\n"
            "    return keep\n"),
        "norm_on_output_axis": _WANDA + (
            "    score = np.abs(w) * x_norm[None, :]\n"
            "    n = round(sparsity * K)\n"
            "    keep = np.ones((K, N), dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(score, axis=0, kind='stable')[:n], False, axis=0)\n"
            "    return keep\n"),
        "one_threshold_per_matrix": _WANDA + "    return magnitude_mask(np.abs(w) * x_norm[:, None], sparsity)\n",
        "ignores_activations": _WANDA + (
            "    n = round(sparsity * K)\n"
            "    keep = np.ones((K, N), dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(np.abs(w), axis=0, kind='stable')[:n], False, axis=0)\n"
            "    return keep\n"),
    },
    "prune_heads": {
        "heads_interleaved": _heads(qkv="np.array([3 * h * d_head + i for h in keep for i in range(3 * d_head)], "
                                        "dtype=np.int64)"),
        "q_block_only": _heads(qkv="np.concatenate([cols, cols + d_head, cols + 2 * d_head])"),
        "w_out_columns": _heads(w_out="params[b + 'w_out'][:, cols]"),
        "b_qkv_forgotten": _heads(b_qkv="params[b + 'b_qkv']"),
        "width_from_model_size": _heads(width="params[b + 'w_qkv'].shape[0]"),
    },
    "prune_ffn": {
        "rows_of_w_in": _ffn(w_in="params[b + 'w_in'][keep, :]"),
        "b_in_forgotten": _ffn(b_in="params[b + 'b_in']"),
        "w_out_columns": _ffn(w_out="params[b + 'w_out'][:, keep]"),
    },
    "mask_24": {
        "groups_on_output_axis": _M24 + _M24_CHECK + (
            "    g = np.abs(w_t).T.reshape(K, N // 4, 4)\n"
            "    keep = np.zeros(g.shape, dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(-g, axis=-1, kind='stable')[..., :2], True, axis=-1)\n"
            "    return keep.reshape(K, N).T.copy()\n"),
        "strided_groups": _M24 + _M24_CHECK + (
            "    g = np.abs(w_t).reshape(N, 4, K // 4)\n"
            "    keep = np.zeros(g.shape, dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(-g, axis=1, kind='stable')[:, :2], True, axis=1)\n"
            "    return keep.reshape(N, K)\n"),
        "signed_largest": _M24 + _M24_CHECK + (
            "    g = w_t.reshape(N, K // 4, 4)\n"
            "    keep = np.zeros(g.shape, dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(-g, axis=-1, kind='stable')[..., :2], True, axis=-1)\n"
            "    return keep.reshape(N, K)\n"),
        "no_size_check": _M24 + (
            "    K4 = K - K % 4\n"
            "    g = np.abs(w_t[:, :K4]).reshape(N, K4 // 4, 4)\n"
            "    keep = np.zeros((N, K), dtype=bool)\n"
            "    k = np.zeros(g.shape, dtype=bool)\n"
            "    np.put_along_axis(k, np.argsort(-g, axis=-1, kind='stable')[..., :2], True, axis=-1)\n"
            "    keep[:, :K4] = k.reshape(N, K4)\n"
            "    return keep\n"),
    },
    "compress_24": {
        "second_position_shift_4": _c24(meta="pos[..., 0] | (pos[..., 1] << 4)",
                                        pos_in="np.stack([meta & 3, (meta >> 4) & 3], axis=-1)"),
        "positions_descending": _c24(meta="pos[..., 1] | (pos[..., 0] << 2)",
                                     pos_in="np.stack([(meta >> 2) & 3, meta & 3], axis=-1)"),
        "decompress_to_value_columns": _c24().replace(
            "    np.put_along_axis(out, pos, values.reshape(N, G, 2), axis=-1)\n    return out.reshape(N, 4 * G)\n",
            "    out = out.reshape(N, 4 * G)\n"
            "    for g in range(G):\n"
            "        out[:, 2 * g + pos[:, g, 0]] = 0\n"
            "        np.put_along_axis(out, 2 * g + pos[:, g], values[:, 2 * g:2 * g + 2], axis=1)\n"
            "    return out\n"),
    },
    "dense_to_csr": {
        "indptr_without_leading_zero": "def dense_to_csr(w_t):\n"
                                       "    rows, cols = np.nonzero(w_t)\n"
                                       "    indptr = np.cumsum(np.bincount(rows, minlength=w_t.shape[0])).astype(np.int64)\n"
                                       "    return w_t[rows, cols].astype(np.float32), cols.astype(np.int32), indptr\n",
        "column_major_order": "def dense_to_csr(w_t):\n"
                              "    cols, rows = np.nonzero(w_t.T)\n"
                              "    indptr = np.zeros(w_t.shape[0] + 1, dtype=np.int64)\n"
                              "    indptr[1:] = np.cumsum(np.bincount(rows, minlength=w_t.shape[0]))\n"
                              "    return w_t[rows, cols].astype(np.float32), cols.astype(np.int32), indptr\n",
        "indptr_shifted": "def dense_to_csr(w_t):\n"
                          "    rows, cols = np.nonzero(w_t)\n"
                          "    counts = np.bincount(rows, minlength=w_t.shape[0])\n"
                          "    indptr = np.concatenate([[0], np.cumsum(counts) - counts, [rows.size]]).astype(np.int64)\n"
                          "    return w_t[rows, cols].astype(np.float32), cols.astype(np.int32), indptr[:-1]\n",
    },
    "csr_matvec": {
        "skips_first_entry": _CSR_MV + (
            "    for n in prange(N):\n"
            "        acc = np.float32(0.0)\n"
            "        for j in range(indptr[n] + 1, indptr[n + 1]):\n"
            "            acc += data[j] * x[indices[j]]\n"
            "        y[n] = acc\n"
            "    return y\n"),
        "accumulator_not_reset": "@njit(cache=True)\ndef csr_matvec(data, indices, indptr, x):\n"
                                 "    N = indptr.shape[0] - 1\n    y = np.empty(N, dtype=np.float32)\n"
                                 "    acc = np.float32(0.0)\n"
                                 "    for n in range(N):\n"
                                 "        for j in range(indptr[n], indptr[n + 1]):\n"
                                 "            acc += data[j] * x[indices[j]]\n"
                                 "        y[n] = acc\n"
                                 "    return y\n",
        "row_pointer_as_column": _CSR_MV + (
            "    for n in prange(N):\n"
            "        acc = np.float32(0.0)\n"
            "        for j in range(indptr[n], indptr[n + 1]):\n"
            "            acc += data[j] * x[indices[indptr[n]]]\n"
            "        y[n] = acc\n"
            "    return y\n"),
    },
    "sparse24_matvec": {
        "position_from_high_nibble": _s24("values[n, 2 * g] * x[4 * g + (m & 3)] + values[n, 2 * g + 1] * x[4 * g + ((m >> 4) & 3)]"),
        "group_offset_2g": _s24("values[n, 2 * g] * x[2 * g + (m & 3)] + values[n, 2 * g + 1] * x[2 * g + ((m >> 2) & 3)]"),
        "values_swapped": _s24("values[n, 2 * g + 1] * x[4 * g + (m & 3)] + values[n, 2 * g] * x[4 * g + ((m >> 2) & 3)]"),
    },
    "allocate_sparsity": {
        "not_per_weight": _alloc(cost="(damage[l, b] - damage[l, a]) / (levels[b] - levels[a])"),
        "damage_not_increase": _alloc(cost="damage[l, b] / (sizes[l] * (levels[b] - levels[a]))"),
        "one_step_too_many": _alloc(cond="(sizes * levels[j]).sum() <= target"),
        "ties_to_last_layer": _alloc(better="cost <= best_cost"),
    },
    "masked_train_step": {
        "masks_gradients_only": _step(before="    for p, m in masks.items():\n        p.grad.mul_(m)\n", after=""),
        "masks_before_step": _step(before="    with torch.no_grad():\n        for p, m in masks.items():\n"
                                          "            p.mul_(m)\n", after=""),
        "no_zero_grad": _step(zero=False),
    },
}

RIGHT = {
    "magnitude_mask": {
        "argpartition": _MAG + _body("""
                n = round(sparsity * w.size)
                keep = np.ones(w.size, dtype=bool)
                if n:
                    keep[np.argpartition(np.abs(w).ravel(), n - 1)[:n]] = False
                return keep.reshape(w.shape)
            """),
        "keep_the_largest": _MAG + _body("""
                n_keep = w.size - round(sparsity * w.size)
                keep = np.zeros(w.size, dtype=bool)
                keep[np.argsort(-np.abs(w).ravel(), kind='stable')[:n_keep]] = True
                return keep.reshape(w.shape)
            """),
    },
    "prune_model": {
        "slices_and_where": _prune_model(_GLOBAL_OK, apply="np.where(masks[n], params[n], 0).astype(params[n].dtype)"),
    },
    "prunable_sparsity": {
        "count_nonzero": "def prunable_sparsity(params, names):\n"
                         "    return 1.0 - sum(np.count_nonzero(params[n]) for n in names) / sum(params[n].size for n in names)\n",
    },
    "taylor_scores": {
        "autograd_grad": (
            "def taylor_scores(model, ids, names):\n"
            "    ids = torch.as_tensor(ids)\n"
            "    ps = [torch_param(model, n) for n in names]\n"
            "    loss = F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())\n"
            "    grads = torch.autograd.grad(loss, ps)\n"
            "    return {n: np.abs(p.detach().numpy().T.astype(np.float64) * g.numpy().T) for n, p, g in zip(names, ps, grads)}\n"),
    },
    "wanda_mask": {
        "argpartition_per_column": _WANDA + (
            "    score = np.abs(w) * np.asarray(x_norm)[:, None]\n"
            "    n = round(sparsity * K)\n"
            "    keep = np.ones((K, N), dtype=bool)\n"
            "    if n:\n"
            "        np.put_along_axis(keep, np.argpartition(score, n - 1, axis=0)[:n], False, axis=0)\n"
            "    return keep\n"),
        "loop_over_outputs": _WANDA + (
            "    keep = np.ones((K, N), dtype=bool)\n"
            "    for j in range(N):\n"
            "        keep[:, j] = magnitude_mask(w[:, j] * x_norm, sparsity)\n"
            "    return keep\n"),
    },
    "prune_heads": {
        "reshape_by_head": (
            "def prune_heads(params, layer, keep, d_head):\n"
            "    b = f'blocks.{layer}.attn.'\n"
            "    C = params[b + 'w_qkv'].shape[0]\n"
            "    H = params[b + 'w_out'].shape[0] // d_head\n"
            "    keep = list(keep)\n"
            "    out = dict(params)\n"
            "    out[b + 'w_qkv'] = params[b + 'w_qkv'].reshape(C, 3, H, d_head)[:, :, keep].reshape(C, -1)\n"
            "    out[b + 'b_qkv'] = params[b + 'b_qkv'].reshape(3, H, d_head)[:, keep].reshape(-1)\n"
            "    out[b + 'w_out'] = params[b + 'w_out'].reshape(H, d_head, C)[keep].reshape(len(keep) * d_head, C)\n"
            "    return out\n"),
    },
    "prune_ffn": {
        "boolean_mask_sorted": _ffn(w_in="params[b + 'w_in'][:, np.isin(np.arange(params[b + 'b_in'].size), keep)]",
                                    b_in="params[b + 'b_in'][np.isin(np.arange(params[b + 'b_in'].size), keep)]",
                                    w_out="params[b + 'w_out'][np.isin(np.arange(params[b + 'b_in'].size), keep)]"),
        "np_take": _ffn(w_in="np.take(params[b + 'w_in'], keep, axis=1)", b_in="np.take(params[b + 'b_in'], keep)",
                        w_out="np.take(params[b + 'w_out'], keep, axis=0)"),
    },
    "mask_24": {
        "argpartition": _M24 + _M24_CHECK + (
            "    g = np.abs(w_t).reshape(N, K // 4, 4)\n"
            "    keep = np.zeros(g.shape, dtype=bool)\n"
            "    np.put_along_axis(keep, np.argpartition(-g, 1, axis=-1)[..., :2], True, axis=-1)\n"
            "    return keep.reshape(N, K)\n"),
        "drop_two_smallest": _M24 + _M24_CHECK + (
            "    g = np.abs(w_t).reshape(N, K // 4, 4)\n"
            "    keep = np.ones(g.shape, dtype=bool)\n"
            "    np.put_along_axis(keep, np.argsort(g, axis=-1)[..., :2], False, axis=-1)\n"
            "    return keep.reshape(N, K)\n"),
    },
    "compress_24": {
        "loops": (
            "def compress_24(w_t, mask):\n"
            "    N, K = w_t.shape\n"
            "    values = np.zeros((N, K // 2), dtype=np.float32)\n"
            "    meta = np.zeros((N, K // 4), dtype=np.uint8)\n"
            "    for n in range(N):\n"
            "        for g in range(K // 4):\n"
            "            i0, i1 = np.flatnonzero(mask[n, 4 * g:4 * g + 4])\n"
            "            values[n, 2 * g], values[n, 2 * g + 1] = w_t[n, 4 * g + i0], w_t[n, 4 * g + i1]\n"
            "            meta[n, g] = i0 + 4 * i1\n"
            "    return values, meta\n\n\n"
            "def decompress_24(values, meta):\n"
            "    N, G = meta.shape\n"
            "    out = np.zeros((N, 4 * G), dtype=np.float32)\n"
            "    for n in range(N):\n"
            "        for g in range(G):\n"
            "            out[n, 4 * g + meta[n, g] % 4] = values[n, 2 * g]\n"
            "            out[n, 4 * g + meta[n, g] // 4] = values[n, 2 * g + 1]\n"
            "    return out\n"),
    },
    "dense_to_csr": {
        "row_loop": "def dense_to_csr(w_t):\n"
                    "    data, indices, indptr = [], [], [0]\n"
                    "    for row in w_t:\n"
                    "        nz = np.flatnonzero(row)\n"
                    "        indices.append(nz)\n"
                    "        data.append(row[nz])\n"
                    "        indptr.append(indptr[-1] + nz.size)\n"
                    "    return (np.concatenate(data).astype(np.float32), np.concatenate(indices).astype(np.int32),\n"
                    "            np.array(indptr, dtype=np.int64))\n",
    },
    "csr_matvec": {
        "serial_numba": "@njit(cache=True)\ndef csr_matvec(data, indices, indptr, x):\n"
                        "    N = indptr.shape[0] - 1\n    y = np.zeros(N, dtype=np.float32)\n"
                        "    for n in range(N):\n"
                        "        for j in range(indptr[n], indptr[n + 1]):\n"
                        "            y[n] += data[j] * x[indices[j]]\n"
                        "    return y\n",
        "numpy_bincount": "def csr_matvec(data, indices, indptr, x):\n"
                          "    N = len(indptr) - 1\n"
                          "    rows = np.repeat(np.arange(N), np.diff(indptr))\n"
                          "    return np.bincount(rows, weights=data * x[indices], minlength=N).astype(np.float32)\n",
    },
    "sparse24_matvec": {
        "serial_numba": "@njit(cache=True)\ndef sparse24_matvec(values, meta, x):\n"
                        "    N, G = meta.shape\n    y = np.zeros(N, dtype=np.float32)\n"
                        "    for n in range(N):\n"
                        "        for g in range(G):\n"
                        "            y[n] += values[n, 2 * g] * x[4 * g + meta[n, g] % 4] + values[n, 2 * g + 1] * x[4 * g + meta[n, g] // 4]\n"
                        "    return y\n",
        "numpy_gather": "def sparse24_matvec(values, meta, x):\n"
                        "    N, G = meta.shape\n"
                        "    base = 4 * np.arange(G)\n"
                        "    x0 = x[base + (meta & 3)]\n"
                        "    x1 = x[base + ((meta >> 2) & 3)]\n"
                        "    return (values[:, 0::2] * x0 + values[:, 1::2] * x1).sum(axis=1).astype(np.float32)\n",
    },
    "allocate_sparsity": {
        "heap": (
            "import heapq\n\n\n"
            "def allocate_sparsity(damage, sizes, levels, budget):\n"
            "    d, n, lv = np.asarray(damage, float), np.asarray(sizes, float), np.asarray(levels, float)\n"
            "    L, J = d.shape\n"
            "    j = np.zeros(L, dtype=int)\n"
            "    def cost(l):\n"
            "        return (d[l, j[l] + 1] - d[l, j[l]]) / (n[l] * (lv[j[l] + 1] - lv[j[l]]))\n"
            "    heap = [(cost(l), l) for l in range(L) if J > 1]\n"
            "    heapq.heapify(heap)\n"
            "    while (n * lv[j]).sum() < budget * n.sum() - 1e-9 * n.sum():\n"
            "        if not heap:\n"
            "            raise ValueError('budget unreachable')\n"
            "        _, l = heapq.heappop(heap)\n"
            "        j[l] += 1\n"
            "        if j[l] + 1 < J:\n"
            "            heapq.heappush(heap, (cost(l), l))\n"
            "    return j\n"),
    },
    "masked_train_step": {
        "masks_gradients_and_weights": _step(before="    for p, m in masks.items():\n        p.grad.mul_(m)\n"),
        "index_assignment": _step(after="    for p, m in masks.items():\n        p.data[m == 0] = 0.0\n"),
    },
}
