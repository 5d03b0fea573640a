# ruff: noqa: E501  (mutant sources are kept on one line each where they are read as one statement)
"""Mutants of module 15_gpu_kernels: plausible wrong answers the tests must reject, right ones they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py). Most mutants are the
solution's kernel with one edit (`_edit` checks that the edited text is there, so a mutant cannot silently
equal the solution); the alternatives are written out. They run under Numba's CUDA simulator, where an
index past the end raises IndexError and a missing barrier lets the first thread read slots nobody wrote.
"""

import re
from pathlib import Path

_SOURCE = (Path(__file__).resolve().parents[3] / "solutions" / "15_gpu_kernels" / "15_gpu_kernels.py").read_text()


def _cell(grade_id: str) -> str:
    """The solution cell of grade_id, without its `# %%` header and the solution fences."""
    m = re.search(r'^# %% nbgrader=\{[^\n]*"grade_id": "' + grade_id + r'"[^\n]*\n(.*?)(?=^# %%)', _SOURCE, re.M | re.S)
    body = m.group(1)
    return "\n".join(line for line in body.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line).strip() + "\n"


def _edit(grade_id: str, *pairs: tuple[str, str]) -> str:
    """The solution cell with each (old, new) replaced once; old must occur."""
    src = _cell(grade_id)
    for old, new in pairs:
        if old not in src:
            raise ValueError(f"{grade_id}: mutant edit {old!r} not found in the solution")
        src = src.replace(old, new, 1)
    return src


def _drop_all(grade_id: str, line: str) -> str:
    """The solution cell without every line equal to `line` (stripped)."""
    src = _cell(grade_id)
    if line not in src:
        raise ValueError(f"{grade_id}: {line!r} not found")
    return "\n".join(x for x in src.splitlines() if x.strip() != line) + "\n"


_SYNC = "cuda.syncthreads()"

WRONG = {
    "n_blocks": {
        "floor_division_drops_partial_block": "def n_blocks(n, threads):\n    return n // threads\n",
        "always_one_extra_block": "def n_blocks(n, threads):\n    return n // threads + 1\n",
        "float_round": "def n_blocks(n, threads):\n    return round(n / threads)\n",
    },
    "vector_add_kernel": {
        "no_bounds_guard": _edit("vector_add_kernel", ("    if i < out.shape[0]:\n        out[i]", "    out[i]")),
        "thread_index_only": _edit("vector_add_kernel", ("i = cuda.grid(1)", "i = cuda.threadIdx.x")),
        "guard_off_by_one": _edit("vector_add_kernel", ("if i < out.shape[0]:", "if i <= out.shape[0]:")),
    },
    "row_sum_kernel": {
        "no_barriers": _drop_all("row_sum_kernel", _SYNC),
        "no_barrier_inside_the_tree": _edit("row_sum_kernel", ("            sm[t] += sm[t + s]\n        cuda.syncthreads()\n",
                                                               "            sm[t] += sm[t + s]\n")),
        "one_element_per_thread": _edit("row_sum_kernel", ("for c in range(t, x.shape[1], TPB):", "for c in range(t, min(t + 1, x.shape[1])):")),
        "thread0_partial_only": _edit("row_sum_kernel", ("out[row] = sm[0]", "out[row] = acc")),
    },
    "matmul_kernel": {
        "no_barrier_after_load": _edit("matmul_kernel", ("        cuda.syncthreads()  # both tiles are full\n", "")),
        "no_barrier_before_overwrite": _edit("matmul_kernel", ("        cuda.syncthreads()  # everyone is done with these tiles before the next step overwrites them\n", "")),
        "tile_index_transposed": _edit("matmul_kernel", ("acc += sa[ty, j] * sb[j, tx]", "acc += sa[ty, j] * sb[tx, j]")),
        "no_zero_padding": _edit("matmul_kernel", ("        sa[ty, tx] = a[row, k0 + tx] if row < M and k0 + tx < K else 0.0\n        sb[ty, tx] = b[k0 + ty, col] if k0 + ty < K and col < N else 0.0\n",
                                                   "        if row < M and k0 + tx < K:\n            sa[ty, tx] = a[row, k0 + tx]\n        if k0 + ty < K and col < N:\n            sb[ty, tx] = b[k0 + ty, col]\n")),
        "unguarded_store": _edit("matmul_kernel", ("    if row < M and col < N:\n        c[row, col] = acc", "    c[row, col] = acc")),
    },
    "softmax_kernel": {
        "no_max_shift": _edit("softmax_kernel", ("    m = sm[0]  # the row max, read by every thread\n", "    m = 0.0\n")),
        "per_thread_max": _edit("softmax_kernel", ("    m = sm[0]  # the row max, read by every thread\n", "")),
        "no_barriers": _drop_all("softmax_kernel", _SYNC),
        "sm_reused_before_everyone_read_the_max": _edit("softmax_kernel", ("    cuda.syncthreads()  # before sm is overwritten by the sums\n", "")),
    },
    "flash_attention_kernel": {
        "online_rescale_forgotten": _edit("flash_attention_kernel", ("                l *= r\n                for c in range(d):\n                    acc[c] *= r\n", "")),
        "sum_rescaled_but_not_output": _edit("flash_attention_kernel", ("                for c in range(d):\n                    acc[c] *= r\n", "")),
        "no_barriers": _drop_all("flash_attention_kernel", _SYNC),
        "mask_on_the_wrong_side": _edit("flash_attention_kernel", ("if causal and j0 + jj > i:\n                break", "if causal and j0 + jj < i:\n                continue"),
                                        ("last = min(T, (cuda.blockIdx.x + 1) * BQ) if causal else T", "last = T")),
        "no_scale": _edit("flash_attention_kernel", ("scale = np.float32(1.0 / math.sqrt(d))", "scale = np.float32(1.0)")),
    },
    "int8_gemv_kernel": {
        "scale_of_the_column": _edit("int8_gemv_kernel", ("acc += np.float32(wq[n, kk]) * x[kk]", "acc += np.float32(wq[n, kk]) * x[kk] * scales[kk % scales.shape[0]]"),
                                     ("y[n] = scales[n] * sm[0]", "y[n] = sm[0]")),
        "no_barriers": _drop_all("int8_gemv_kernel", _SYNC),
        "int8_partial_sums": _edit("int8_gemv_kernel", ("sm = cuda.shared.array(TPB, np.float32)", "sm = cuda.shared.array(TPB, np.int8)")),
    },
    "w8a8_gemv_kernel": {
        "int8_shared_sums": _edit("w8a8_gemv_kernel", ("sm = cuda.shared.array(TPB, np.int32)", "sm = cuda.shared.array(TPB, np.int8)")),
        "int16_shared_sums": _edit("w8a8_gemv_kernel", ("sm = cuda.shared.array(TPB, np.int32)", "sm = cuda.shared.array(TPB, np.int16)")),
        "no_barriers": _drop_all("w8a8_gemv_kernel", _SYNC),
        "activation_scale_forgotten": _edit("w8a8_gemv_kernel", ("y[n] = x_scale * scales[n] * np.float32(sm[0])", "y[n] = scales[n] * np.float32(sm[0])")),
    },
    "sparse24_gemv_kernel": {
        "group_starts_at_2g": _edit("sparse24_gemv_kernel", ("x[4 * g + (mg & 3)]", "x[2 * g + (mg & 3)]"), ("x[4 * g + ((mg >> 2) & 3)]", "x[2 * g + ((mg >> 2) & 3)]")),
        "second_position_shift_4": _edit("sparse24_gemv_kernel", ("((mg >> 2) & 3)", "((mg >> 4) & 3)")),
        "no_barriers": _drop_all("sparse24_gemv_kernel", _SYNC),
    },
}

RIGHT = {
    "n_blocks": {
        "math_ceil": "def n_blocks(n, threads):\n    return math.ceil(n / threads)\n",
        "negated_floor": "def n_blocks(n, threads):\n    return -(-n // threads)\n",
    },
    "vector_add_kernel": {
        "grid_stride_loop": "@cuda.jit\ndef vector_add_kernel(a, b, out):\n    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):\n        out[i] = a[i] + b[i]\n",
        "explicit_index": "@cuda.jit\ndef vector_add_kernel(a, b, out):\n    i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x\n    if i < a.size:\n        out[i] = b[i] + a[i]\n",
    },
    "row_sum_kernel": {
        "thread0_sums_shared_after_barrier": (
            "@cuda.jit\ndef row_sum_kernel(x, out):\n    row, t = cuda.blockIdx.x, cuda.threadIdx.x\n"
            "    sm = cuda.shared.array(TPB, np.float32)\n    acc = np.float32(0.0)\n"
            "    for c in range(t, x.shape[1], TPB):\n        acc += x[row, c]\n    sm[t] = acc\n    cuda.syncthreads()\n"
            "    if t == 0:\n        total = np.float32(0.0)\n        for j in range(TPB):\n            total += sm[j]\n        out[row] = total\n"),
        "interleaved_tree": (
            "@cuda.jit\ndef row_sum_kernel(x, out):\n    row, t = cuda.blockIdx.x, cuda.threadIdx.x\n"
            "    sm = cuda.shared.array(TPB, np.float32)\n    acc = np.float32(0.0)\n"
            "    for c in range(t, x.shape[1], TPB):\n        acc += x[row, c]\n    sm[t] = acc\n    cuda.syncthreads()\n"
            "    s = 1\n    while s < TPB:\n        if t % (2 * s) == 0:\n            sm[t] += sm[t + s]\n        cuda.syncthreads()\n        s *= 2\n"
            "    if t == 0:\n        out[row] = sm[0]\n"),
    },
    "matmul_kernel": {
        "naive_without_tiles": (
            "@cuda.jit\ndef matmul_kernel(a, b, c):\n    col, row = cuda.grid(2)\n"
            "    if row < c.shape[0] and col < c.shape[1]:\n        acc = np.float32(0.0)\n"
            "        for k in range(a.shape[1]):\n            acc += a[row, k] * b[k, col]\n        c[row, col] = acc\n"),
        "grid2_and_if_else_loads": _edit("matmul_kernel", ("    row = cuda.blockIdx.y * TILE + ty\n    col = cuda.blockIdx.x * TILE + tx\n", "    col, row = cuda.grid(2)\n"),
                                         ("        sa[ty, tx] = a[row, k0 + tx] if row < M and k0 + tx < K else 0.0\n",
                                          "        sa[ty, tx] = 0.0\n        if row < M and k0 + tx < K:\n            sa[ty, tx] = a[row, k0 + tx]\n")),
    },
    "softmax_kernel": {
        "thread0_serial_row": (
            "@cuda.jit\ndef softmax_kernel(x, out):\n    row = cuda.blockIdx.x\n    if cuda.threadIdx.x == 0:\n"
            "        m = -np.inf\n        for c in range(x.shape[1]):\n            m = max(m, x[row, c])\n"
            "        s = 0.0\n        for c in range(x.shape[1]):\n            s += math.exp(x[row, c] - m)\n"
            "        for c in range(x.shape[1]):\n            out[row, c] = math.exp(x[row, c] - m) / s\n"),
        "multiply_by_reciprocal": _edit("softmax_kernel", ("    total = sm[0]\n", "    total = sm[0]\n    inv = 1.0 / total\n"),
                                        ("out[row, c] = math.exp(x[row, c] - m) / total", "out[row, c] = math.exp(x[row, c] - m) * inv")),
    },
    "flash_attention_kernel": {
        "rescale_at_every_key": _edit("flash_attention_kernel", (
            "            if s > m:  # a new maximum: rescale what was summed against the old one\n"
            "                r = math.exp(m - s)\n                l *= r\n                for c in range(d):\n"
            "                    acc[c] *= r\n                m = s\n            p = math.exp(s - m)\n",
            "            m_new = max(m, s)\n            r = math.exp(m - m_new)\n            l *= r\n"
            "            for c in range(d):\n                acc[c] *= r\n            m = m_new\n            p = math.exp(s - m)\n")),
        "masked_keys_skipped_with_continue_and_full_loop": _edit("flash_attention_kernel",
            ("if causal and j0 + jj > i:\n                break", "if causal and j0 + jj > i:\n                continue"),
            ("last = min(T, (cuda.blockIdx.x + 1) * BQ) if causal else T", "last = T")),
    },
    "int8_gemv_kernel": {
        "scale_each_term": _edit("int8_gemv_kernel", ("acc += np.float32(wq[n, kk]) * x[kk]", "acc += scales[n] * np.float32(wq[n, kk]) * x[kk]"),
                                 ("y[n] = scales[n] * sm[0]", "y[n] = sm[0]")),
    },
    "w8a8_gemv_kernel": {
        "float32_products": _edit("w8a8_gemv_kernel", ("sm = cuda.shared.array(TPB, np.int32)", "sm = cuda.shared.array(TPB, np.float32)"),
                                  ("acc = np.int32(0)", "acc = np.float32(0.0)"),
                                  ("acc += np.int32(wq[n, kk]) * np.int32(xq[kk])", "acc += np.float32(wq[n, kk]) * np.float32(xq[kk])")),
        "int64_sums": _edit("w8a8_gemv_kernel", ("sm = cuda.shared.array(TPB, np.int32)", "sm = cuda.shared.array(TPB, np.int64)"),
                            ("acc = np.int32(0)", "acc = np.int64(0)"),
                            ("acc += np.int32(wq[n, kk]) * np.int32(xq[kk])", "acc += np.int64(wq[n, kk]) * np.int64(xq[kk])"),
                            ("np.float32(sm[0])", "np.float64(sm[0])")),
    },
    "sparse24_gemv_kernel": {
        "mod_and_div": _edit("sparse24_gemv_kernel", ("x[4 * g + (mg & 3)]", "x[4 * g + mg % 4]"), ("x[4 * g + ((mg >> 2) & 3)]", "x[4 * g + mg // 4 % 4]")),
    },
}
