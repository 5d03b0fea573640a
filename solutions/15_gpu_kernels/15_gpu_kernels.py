# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 15 · GPU kernels in numba.cuda: from a vector add to flash attention, graded without a GPU
#
# Modules 07 and 09 wrote CPU kernels with Numba for int8 and 2:4 matrix-vector products. This module
# writes the kernels that LLM inference runs on a GPU, in `numba.cuda` (the `numba-cuda` package): the
# CUDA programming model (grids, blocks, threads, shared memory, barriers), then a tiled matrix multiply,
# a block softmax, a flash-attention forward pass and quantized and sparse matrix-vector products.
#
# **No GPU needed.** When this machine has no NVIDIA GPU, the setup cell switches Numba to its *CUDA
# simulator*: the same kernels run on the CPU, one Python thread per CUDA thread, with shared memory,
# `syncthreads` barriers and out-of-bounds checks. It is slow (sizes here are tiny) and it says nothing
# about speed, but it catches the mistakes that matter: a missing bounds guard raises an `IndexError`,
# and a missing barrier lets one thread read shared memory that another has not written yet. With a GPU
# the very same cells compile to PTX and run natively, and §6 times them against PyTorch's own kernels.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `n_blocks`: how many blocks cover n elements | 1 |
# | 1.2 | `vector_add_kernel`: global thread index and the bounds guard | 1 |
# | 1.3 | `row_sum_kernel`: a shared-memory tree reduction with barriers | 2 |
# | 2.1 | `matmul_kernel`: tiled matrix multiply through shared memory | 3 |
# | 3.1 | `softmax_kernel`: stable row softmax, one block per row | 2 |
# | 4.1 | `flash_attention_kernel`: one head, K/V tiles, online softmax, causal | 4 |
# | 5.1 | `int8_gemv_kernel`: int8 weights, per-row scales, dequantised in registers | 2 |
# | 5.2 | `w8a8_gemv_kernel`: int8 × int8 with int32 accumulation | 2 |
# | 5.3 | `sparse24_gemv_kernel`: the 2:4 format of module 09 | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line on success; the hidden tests try other ragged shapes, seeds,
# extreme values and the wrong answers named in the text. Each kernel is launched by a small host
# function in the cell after it (copy in, launch, copy out); you write only the kernel.
#
# **Names.** `M, K, N` matrix sizes (`A` is `(M, K)`, `B` is `(K, N)`), `T` sequence length, `d` head size,
# `TPB` threads per block, `TILE` the side of a square tile, `BQ` queries (and keys) per attention tile,
# `t` a thread's index in its block, `row`, `col` a thread's output element.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("15_gpu_kernels")

# %% [markdown]
# ## 0. Native or simulated
#
# Numba reads `NUMBA_ENABLE_CUDASIM` when it is imported, so the choice has to be made before
# `from numba import cuda`. `llmcourse.cudasim.select()` makes it: native when the NVIDIA driver reports
# a GPU and a test kernel compiles and runs, the simulator otherwise (set `LLMCOURSE_CUDA=simulator` to
# force it). Native runs need the NVIDIA driver and the CUDA compiler libraries (NVVM, NVRTC): a CUDA
# toolkit on the system, or `pip install "numba-cuda[cu12]==0.30.4"` (`[cu13]` for a CUDA 13 driver); when
# they are missing the cell says why and uses the simulator. The block and tile sizes below are compile-time constants of the kernels: small in the
# simulator, where every thread costs a Python thread, and GPU-sized natively.

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from llmcourse import cudasim

MODE = cudasim.select()  # "native" or "simulator": must run before numba.cuda is imported
from numba import cuda  # noqa: E402

from llmcourse import checks, env, quiz  # noqa: E402

NATIVE = MODE == "native"
TPB = 128 if NATIVE else 32  # threads per block of the 1-D kernels (a power of two: the tree reductions halve it)
TILE = 16 if NATIVE else 8  # matmul tiles are TILE x TILE, one thread per output element
BQ = 32 if NATIVE else 8  # attention: queries per block and keys per shared-memory tile
D_MAX = 128 if NATIVE else 16  # the largest head size the attention kernel holds in registers
print(f"mode {MODE}: TPB={TPB}, TILE={TILE}, BQ={BQ}, D_MAX={D_MAX}; small test sizes: {env.small()}")


def to_dev(a: np.ndarray):
    """Copy a host array to the device (in the simulator: a wrapped copy on the CPU)."""
    return cuda.to_device(np.ascontiguousarray(a))


# %% [markdown]
# ## 1. The programming model
#
# A kernel launch `kernel[blocks, threads](args)` starts `blocks × threads` copies of one function. Each
# copy (a *thread*) knows its place: `cuda.blockIdx.x` (which block), `cuda.threadIdx.x` (which thread
# in the block) and `cuda.blockDim.x` (threads per block). Its global index is
# `i = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x`, which `cuda.grid(1)` also returns. Threads
# of one block run on one streaming multiprocessor, share its fast on-chip *shared memory* and can wait
# for each other at a barrier, `cuda.syncthreads()`; threads of different blocks cannot.
#
# ### 1.1 Blocks for n elements (1 point)
#
# Return the number of blocks of `threads` threads that covers `n` elements: the smallest count with
# `blocks * threads >= n` (0 for `n = 0`). The trap is `n // threads`, which drops the last, partial block
# whenever `n` is not a multiple of the block size: the tail of the array is never computed.

# %% nbgrader={"grade": false, "grade_id": "n_blocks", "locked": false, "solution": true, "schema_version": 3}
def n_blocks(n: int, threads: int) -> int:
    """Smallest number of blocks with blocks * threads >= n, for n >= 0 and threads >= 1."""
    ### BEGIN SOLUTION
    return (n + threads - 1) // threads
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "n_blocks_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.gpu_kernels.n_blocks(n_blocks)
### BEGIN HIDDEN TESTS
for _n, _t in [(0, 32), (1, 1), (31, 32), (32, 32), (33, 32), (1000, 128), (1024, 128), (1025, 128), (7, 3),
               (10**9 + 7, 1024)]:
    _got = n_blocks(_n, _t)
    assert isinstance(_got, (int, np.integer)), f"n_blocks({_n}, {_t}) should be an int, got {type(_got).__name__}"
    assert _got == -(-_n // _t), f"n_blocks({_n}, {_t}) = {_got}, expected {-(-_n // _t)}"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 Vector add with a bounds guard (1 point)
#
# Write the kernel `out[i] = a[i] + b[i]`, one element per thread. The host function below launches
# `n_blocks(n, TPB)` blocks of `TPB` threads, so when `n` is not a multiple of `TPB` the last block has
# threads with `i >= n`: they must do nothing. Without the guard they write past the end of `out`; on a GPU
# that silently corrupts other memory (or faults), in the simulator it raises `IndexError`. The hidden
# tests also launch the kernel with other block sizes, so do not assume `TPB` inside the kernel.

# %% nbgrader={"grade": false, "grade_id": "vector_add_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def vector_add_kernel(a, b, out):
    """a, b, out (n,) float32: out[i] = a[i] + b[i] for every i < n; threads with i >= n do nothing."""
    ### BEGIN SOLUTION
    i = cuda.grid(1)
    if i < out.shape[0]:
        out[i] = a[i] + b[i]
    ### END SOLUTION


# %%
def vector_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Host side: copy in, launch n_blocks(n, TPB) blocks of TPB threads, copy out."""
    d_out = cuda.device_array(a.shape[0], dtype=np.float32)
    vector_add_kernel[n_blocks(a.shape[0], TPB), TPB](to_dev(a), to_dev(b), d_out)
    return d_out.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "vector_add_kernel_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.gpu_kernels.vector_add(vector_add)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1502)
for _n, _threads in [(1, 32), (37, 8), (100, 32), (64, 16), (45, 64)]:
    _a = (_rng.standard_normal(_n) * 1e3).astype(np.float32)
    _b = (_rng.standard_normal(_n) * 1e-3).astype(np.float32)
    _d_out = cuda.to_device(np.full(_n + 3, -7.0, dtype=np.float32))  # 3 sentinels past the end
    vector_add_kernel[(_n + _threads - 1) // _threads, _threads](cuda.to_device(_a), cuda.to_device(_b),
                                                                 _d_out[:_n])
    _got = _d_out.copy_to_host()
    np.testing.assert_allclose(_got[:_n], _a + _b, rtol=1e-6, err_msg=f"n={_n}, {_threads} threads per block")
    assert (_got[_n:] == -7.0).all(), f"n={_n}: the kernel wrote past the end of out"
### END HIDDEN TESTS

# %% [markdown]
# ### 1.3 Row sums with a shared-memory reduction (2 points)
#
# One block of `TPB` threads per row of `x (R, C)`: launch `[R, TPB]`. Each thread `t` first adds up the
# elements `t, t + TPB, t + 2 TPB, …` of its row (a *block-stride* loop: `C` may be smaller or larger than
# `TPB` and need not be a multiple of it), then writes its partial sum into a shared array
# `sm = cuda.shared.array(TPB, np.float32)`. Then the tree: for `s = TPB/2, TPB/4, …, 1`, threads `t < s`
# do `sm[t] += sm[t + s]`. Thread 0 finally writes `sm[0]` to `out[row]`.
#
# **The barrier.** Thread `t` reads `sm[t + s]`, which another thread wrote. Nothing guarantees that the
# other thread has run that far: call `cuda.syncthreads()` after filling `sm` and after every level of
# the tree, *outside* any `if` (every thread of the block must reach each barrier). Without the
# barriers the result depends on scheduling: the simulator runs a thread until it blocks, so the first
# thread races ahead and reads slots nobody has written.

# %% nbgrader={"grade": false, "grade_id": "row_sum_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def row_sum_kernel(x, out):
    """x (R, C) float32, out (R,) float32: out[r] = sum of row r. Launch [R, TPB]; one block per row."""
    ### BEGIN SOLUTION
    row = cuda.blockIdx.x
    t = cuda.threadIdx.x
    sm = cuda.shared.array(TPB, np.float32)
    acc = np.float32(0.0)
    for c in range(t, x.shape[1], TPB):  # block-stride loop over the row
        acc += x[row, c]
    sm[t] = acc
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        out[row] = sm[0]
    ### END SOLUTION


# %%
def row_sum(x: np.ndarray) -> np.ndarray:
    """Host side: one block of TPB threads per row."""
    d_out = cuda.device_array(x.shape[0], dtype=np.float32)
    row_sum_kernel[x.shape[0], TPB](to_dev(x), d_out)
    return d_out.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "row_sum_kernel_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.gpu_kernels.row_sum(row_sum)
### BEGIN HIDDEN TESTS
_names = (getattr(row_sum_kernel, "py_func", None) or row_sum_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share memory but never wait for each other"
def _launch_row_sum(x):  # the test's own launch: the host function above is not locked
    _d = cuda.device_array(x.shape[0], dtype=np.float32)
    row_sum_kernel[x.shape[0], TPB](cuda.to_device(x), _d)
    return _d.copy_to_host()


_rng = np.random.default_rng(1503)
for _R, _C in [(3, 1), (2, 31), (4, 77), (1, 200)]:
    _x = (_rng.standard_normal((_R, _C)) * 10.0 ** _rng.integers(-3, 4, (_R, 1))).astype(np.float32)
    _x[0] = np.abs(_x[0]) + 1.0  # no cancellation in row 0: every element shows
    np.testing.assert_allclose(_launch_row_sum(_x), _x.astype(np.float64).sum(1), rtol=2e-5, atol=1e-6,
                               err_msg=f"x of shape {(_R, _C)}")
_x = np.zeros((2, 40), np.float32)
_x[1, 39] = 5.0  # only the last element, which the last thread's stride reaches
np.testing.assert_allclose(_launch_row_sum(_x), [0.0, 5.0], err_msg="a zero row, and a row whose only entry is the last")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Tiled matrix multiply
#
# `C = A @ B` with `A (M, K)` and `B (K, N)`. The naive kernel gives each thread one `C[row, col]` and
# lets it read a whole row of `A` and column of `B` from global memory: `2K` loads for `2K` FLOPs, so
# every element of `A` is read `N` times. Tiling fixes that: a block of `TILE × TILE` threads computes a
# `TILE × TILE` tile of `C`, and walks along `K` one tile at a time; at each step the block loads one
# `TILE × TILE` tile of `A` and one of `B` into shared memory (each thread loads one element of each),
# waits, and every thread does `TILE` multiply-adds from shared memory. Global traffic drops by a factor
# `TILE`.
#
# ### 2.1 The tiled kernel (3 points)
#
# Launch: `blocks = (n_blocks(N, TILE), n_blocks(M, TILE))`, `threads = (TILE, TILE)`; `x` indexes
# columns, `y` rows, so `col = blockIdx.x * TILE + threadIdx.x` and `row = blockIdx.y * TILE + threadIdx.y`
# (neighbouring threads in `x` then read neighbouring addresses: coalesced loads). Thread `(ty, tx)`
# loads `A[row, k0 + tx]` into `sa[ty, tx]` and `B[k0 + ty, col]` into `sb[ty, tx]`, writing 0 where
# the index falls outside the matrix (the shapes are ragged), then adds `sa[ty, j] * sb[j, tx]` for
# `j < TILE`. Two barriers per step: after loading (nobody reads a tile before it is full) and after
# computing (nobody overwrites a tile another thread is still reading). Traps the tests catch: either
# barrier missing, tile indices transposed (`sb[tx, j]`), no zero padding at ragged edges, and a
# store without the `row < M and col < N` guard.

# %% nbgrader={"grade": false, "grade_id": "matmul_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def matmul_kernel(a, b, c):
    """a (M, K), b (K, N), c (M, N) float32: c = a @ b. Blocks (ceil(N/TILE), ceil(M/TILE)), threads (TILE, TILE)."""
    ### BEGIN SOLUTION
    sa = cuda.shared.array((TILE, TILE), np.float32)
    sb = cuda.shared.array((TILE, TILE), np.float32)
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    M, K = a.shape
    N = b.shape[1]
    acc = np.float32(0.0)
    for k0 in range(0, K, TILE):
        sa[ty, tx] = a[row, k0 + tx] if row < M and k0 + tx < K else 0.0
        sb[ty, tx] = b[k0 + ty, col] if k0 + ty < K and col < N else 0.0
        cuda.syncthreads()  # both tiles are full
        for j in range(TILE):
            acc += sa[ty, j] * sb[j, tx]
        cuda.syncthreads()  # everyone is done with these tiles before the next step overwrites them
    if row < M and col < N:
        c[row, col] = acc
    ### END SOLUTION


# %%
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Host side: a TILE x TILE block per TILE x TILE tile of the output."""
    M, N = a.shape[0], b.shape[1]
    d_c = cuda.device_array((M, N), dtype=np.float32)
    matmul_kernel[(n_blocks(N, TILE), n_blocks(M, TILE)), (TILE, TILE)](to_dev(a), to_dev(b), d_c)
    return d_c.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "matmul_kernel_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.gpu_kernels.matmul(matmul)
### BEGIN HIDDEN TESTS
_names = (getattr(matmul_kernel, "py_func", None) or matmul_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share tiles but never wait for each other"
def _launch_matmul(a, b):  # the test's own launch
    _d = cuda.device_array((a.shape[0], b.shape[1]), dtype=np.float32)
    matmul_kernel[((b.shape[1] + TILE - 1) // TILE, (a.shape[0] + TILE - 1) // TILE), (TILE, TILE)](
        cuda.to_device(a), cuda.to_device(b), _d)
    return _d.copy_to_host()


_rng = np.random.default_rng(1521)
for _M, _K, _N in [(1, 1, 1), (3 * TILE + 1, 2 * TILE + 3, TILE - 1), (TILE + 3, 3 * TILE - 1, 2 * TILE + 1)]:
    _a = _rng.standard_normal((_M, _K)).astype(np.float32)
    _b = (_rng.standard_normal((_K, _N)) + np.arange(_N)).astype(np.float32)  # columns differ: a transposed tile shows
    _ref = _a.astype(np.float64) @ _b
    _c = _launch_matmul(_a, _b)
    assert _c.shape == (_M, _N), f"shape {(_M, _K, _N)}: got {_c.shape}"
    np.testing.assert_allclose(_c, _ref, rtol=1e-4, atol=1e-4 * np.abs(_ref).max(), err_msg=f"M, K, N = {(_M, _K, _N)}")
_a = np.full((5, 2 * TILE + 1), 1e-20, np.float32)
_b = np.full((2 * TILE + 1, 7), -1e19, np.float32)
np.testing.assert_allclose(_launch_matmul(_a, _b), np.full((5, 7), -0.1 * (2 * TILE + 1)), rtol=1e-5, err_msg="tiny times huge")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Softmax, one block per row
#
# Attention's softmax runs over rows of length `T`. One block per row, `TPB` threads striding over it,
# needs two block-level reductions: the row maximum `m` (for stability: `exp(x - m) <= 1` cannot
# overflow) and the sum `s = Σ exp(x - m)`; then each thread writes its elements `exp(x - m) / s`. The
# same tree as §1.3 with `max` instead of `+` for the first. Threads whose stride finds no element (rows
# shorter than `TPB`) contribute `-inf` to the max and 0 to the sum. After a reduction, every thread
# reads the result from `sm[0]`: one more barrier before `sm` is reused for the next reduction.
#
# ### 3.1 The softmax kernel (2 points)
#
# Traps: no max shift (`exp(1000)` overflows: `inf / inf` is NaN; the simulator's `math.exp` raises
# `OverflowError`), a per-thread max instead of the block's, and the barriers from §1.3.

# %% nbgrader={"grade": false, "grade_id": "softmax_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def softmax_kernel(x, out):
    """x, out (R, C) float32: out[r] = softmax(x[r]), stable for |x| near 1000. Launch [R, TPB]."""
    ### BEGIN SOLUTION
    row = cuda.blockIdx.x
    t = cuda.threadIdx.x
    C = x.shape[1]
    sm = cuda.shared.array(TPB, np.float32)
    m = np.float32(-np.inf)
    for c in range(t, C, TPB):
        m = max(m, x[row, c])
    sm[t] = m
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sm[t] = max(sm[t], sm[t + s])
        cuda.syncthreads()
        s //= 2
    m = sm[0]  # the row max, read by every thread
    cuda.syncthreads()  # before sm is overwritten by the sums
    acc = np.float32(0.0)
    for c in range(t, C, TPB):
        acc += math.exp(x[row, c] - m)
    sm[t] = acc
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    total = sm[0]
    for c in range(t, C, TPB):
        out[row, c] = math.exp(x[row, c] - m) / total
    ### END SOLUTION


# %%
def softmax_rows(x: np.ndarray) -> np.ndarray:
    """Host side: one block of TPB threads per row."""
    d_out = cuda.device_array(x.shape, dtype=np.float32)
    softmax_kernel[x.shape[0], TPB](to_dev(x), d_out)
    return d_out.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "softmax_kernel_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.gpu_kernels.softmax(softmax_rows)
### BEGIN HIDDEN TESTS
_names = (getattr(softmax_kernel, "py_func", None) or softmax_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share memory but never wait for each other"
def _launch_softmax(x):  # the test's own launch
    _d = cuda.device_array(x.shape, dtype=np.float32)
    softmax_kernel[x.shape[0], TPB](cuda.to_device(x), _d)
    return _d.copy_to_host()


_rng = np.random.default_rng(1531)
for _R, _C, _scale in [(3, 1, 1.0), (2, 45, 1000.0), (3, TPB + 7, 3.0), (2, 5, 1e-3)]:
    _x = (_rng.standard_normal((_R, _C)) * _scale).astype(np.float32)
    _x[-1] -= 1000.0  # a row near -1000 (exp underflows without the shift)
    _ref = np.exp(_x - _x.max(1, keepdims=True))
    _ref /= _ref.sum(1, keepdims=True)
    np.testing.assert_allclose(_launch_softmax(_x), _ref, rtol=1e-4, atol=1e-6, err_msg=f"shape {(_R, _C)}, scale {_scale}")
_x = np.zeros((2, 9), np.float32)
_x[1, 3:5] = 1000.0  # an exact tie at the maximum
_got = _launch_softmax(_x)
np.testing.assert_allclose(_got[0], np.full(9, 1 / 9), rtol=1e-5, err_msg="all-zero row: uniform")
np.testing.assert_allclose(_got[1], [0, 0, 0, 0.5, 0.5, 0, 0, 0, 0], atol=1e-6, err_msg="tie at 1000: half each")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Flash attention: softmax(QKᵀ/√d) V without the T × T matrix
#
# Module 01's attention builds the `(T, T)` score matrix, softmaxes it and multiplies by `V`: `T²` floats
# written to and read back from memory, which at long context costs more than the arithmetic. Flash
# attention (Dao et al., 2022) never stores it. One block handles `BQ` queries, one query row per thread,
# and streams the keys and values through shared memory in tiles of `BQ` rows. Each thread keeps three
# things in registers: its running maximum `m`, the running sum `l` of `exp(score - m)`, and the
# unnormalised output `acc` (length `d`). For each key `j` of the tile with score `s_j = q·k_j / √d`:
#
# * if `s_j > m`: the old terms were all computed relative to the old max, so rescale them,
#   `acc *= exp(m - s_j)`, `l *= exp(m - s_j)`, and set `m = s_j` (the *online softmax*, Milakov and
#   Gimelshein, 2018);
# * then `p = exp(s_j - m)`, `l += p`, `acc += p · v_j`.
#
# At the end `out = acc / l`. Forget the rescale and every term from before a new maximum keeps the wrong
# weight: the answer is right only when the maximum happens to come first. With the causal mask, query `i`
# uses keys `j <= i` only; tiles that lie wholly after the block's last query are skipped (the loop bound
# must be the same for every thread of the block, or some threads miss a barrier).
#
# ### 4.1 The flash-attention kernel (4 points)
#
# Launch: `[n_blocks(T, BQ), BQ]`. Per key tile starting at `j0`: thread `t` copies key row `j0 + t` and
# value row `j0 + t` (all `d` columns, zeros past `T`) into `sk, sv = cuda.shared.array((BQ, D_MAX), np.float32)`,
# barrier, update its own row from the keys `j0 … min(j0 + BQ, T) - 1` (and `<= i` when `causal`), barrier.
# Threads whose query `i >= T` still load and wait (the block needs them) but write nothing. Use
# `cuda.local.array(D_MAX, np.float32)` for `q` and `acc`; `d <= D_MAX`.

# %% nbgrader={"grade": false, "grade_id": "flash_attention_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def flash_attention_kernel(q, k, v, out, causal):
    """q, k, v, out (T, d) float32, d <= D_MAX; out = softmax(q k^T / sqrt(d) [+ causal mask]) v. Launch [ceil(T/BQ), BQ]."""
    ### BEGIN SOLUTION
    T, d = q.shape
    t = cuda.threadIdx.x
    i = cuda.blockIdx.x * BQ + t  # this thread's query row
    sk = cuda.shared.array((BQ, D_MAX), np.float32)
    sv = cuda.shared.array((BQ, D_MAX), np.float32)
    qi = cuda.local.array(D_MAX, np.float32)
    acc = cuda.local.array(D_MAX, np.float32)
    scale = np.float32(1.0 / math.sqrt(d))
    for c in range(d):
        qi[c] = q[i, c] * scale if i < T else 0.0
        acc[c] = 0.0
    m = np.float32(-np.inf)  # float32 throughout: most GPUs run float64 far slower
    l = np.float32(0.0)
    last = min(T, (cuda.blockIdx.x + 1) * BQ) if causal else T  # the same for every thread of the block
    for j0 in range(0, last, BQ):
        for c in range(d):  # thread t loads key and value row j0 + t
            sk[t, c] = k[j0 + t, c] if j0 + t < T else 0.0
            sv[t, c] = v[j0 + t, c] if j0 + t < T else 0.0
        cuda.syncthreads()
        for jj in range(min(BQ, T - j0)):
            if causal and j0 + jj > i:
                break
            s = np.float32(0.0)
            for c in range(d):
                s += qi[c] * sk[jj, c]
            if s > m:  # a new maximum: rescale what was summed against the old one
                r = math.exp(m - s)
                l *= r
                for c in range(d):
                    acc[c] *= r
                m = s
            p = math.exp(s - m)
            l += p
            for c in range(d):
                acc[c] += p * sv[jj, c]
        cuda.syncthreads()
    if i < T:
        for c in range(d):
            out[i, c] = acc[c] / l
    ### END SOLUTION


# %%
def flash_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    """Host side: one block of BQ threads per BQ queries."""
    T, d = q.shape
    if d > D_MAX:
        raise ValueError(f"head size {d} > D_MAX = {D_MAX}")
    d_out = cuda.device_array((T, d), dtype=np.float32)
    flash_attention_kernel[n_blocks(T, BQ), BQ](to_dev(q), to_dev(k), to_dev(v), d_out, causal)
    return d_out.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "flash_attention_kernel_test", "locked": true, "points": 4, "solution": false, "schema_version": 3}
checks.gpu_kernels.flash_attention(flash_attention)
### BEGIN HIDDEN TESTS
_names = (getattr(flash_attention_kernel, "py_func", None) or flash_attention_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share K/V tiles but never wait for each other"
def _launch_flash(q, k, v, causal):  # the test's own launch
    _d = cuda.device_array(q.shape, dtype=np.float32)
    flash_attention_kernel[(q.shape[0] + BQ - 1) // BQ, BQ](cuda.to_device(q), cuda.to_device(k), cuda.to_device(v),
                                                           _d, causal)
    return _d.copy_to_host()


def _ref_attention(q, k, v, causal):  # module 01's attention, float64, with the (T, T) matrix
    _s = q.astype(np.float64) @ k.astype(np.float64).T / math.sqrt(q.shape[1])
    if causal:
        _s = np.where(np.tril(np.ones(_s.shape, bool)), _s, -np.inf)
    _p = np.exp(_s - _s.max(1, keepdims=True))
    return (_p / _p.sum(1, keepdims=True)) @ v.astype(np.float64)


_rng = np.random.default_rng(1541)
for _T, _d, _causal in [(1, 3, True), (2 * BQ + 3, 5, True), (2 * BQ + 3, 5, False), (BQ + 1, 16, True)]:
    _q = _rng.standard_normal((_T, _d)).astype(np.float32)
    _k = (_rng.standard_normal((_T, _d)) * (1 + np.arange(_T)[:, None] / 2)).astype(np.float32)  # later keys score higher
    _v = (_rng.standard_normal((_T, _d)) + 3.0).astype(np.float32)
    _got = _launch_flash(_q, _k, _v, _causal)
    np.testing.assert_allclose(_got, _ref_attention(_q, _k, _v, _causal), rtol=2e-4, atol=2e-4,
                               err_msg=f"T={_T}, d={_d}, causal={_causal}")
# scores near +-1000 in both orders (the max first, the max last): only the online rescale gets both right
_T = 2 * BQ + 1
_q = np.zeros((_T, 2), np.float32)
_q[:, 0] = 1.0
for _order in (1.0, -1.0):
    _k = np.zeros((_T, 2), np.float32)
    _k[:, 0] = _order * np.linspace(-1000, 1000, _T) * math.sqrt(2)
    _v = _rng.standard_normal((_T, 2)).astype(np.float32)
    for _causal in (True, False):
        np.testing.assert_allclose(_launch_flash(_q, _k, _v, _causal), _ref_attention(_q, _k, _v, _causal),
                                   rtol=1e-4, atol=1e-4, err_msg=f"scores from {-_order * 1000:+.0f} to "
                                   f"{_order * 1000:+.0f}, causal={_causal}")
# no future leakage: changing the last key and value leaves every earlier causal output unchanged
_q, _k, _v = (_rng.standard_normal((BQ + 2, 4)).astype(np.float32) for _ in range(3))
_o1 = _launch_flash(_q, _k, _v, True)
_k[-1] += 50.0
_v[-1] -= 50.0
_o2 = _launch_flash(_q, _k, _v, True)
np.testing.assert_allclose(_o1[:-1], _o2[:-1], rtol=0, atol=1e-6, err_msg="causal: a future key changed a past output")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Quantized and sparse matrix-vector products
#
# Decoding one token multiplies each weight matrix by one vector: every weight is read once and used
# for one multiply-add, so the kernel is bound by memory bandwidth and the way to speed it up is to read
# fewer bytes (module 06). The GPU layout: one block per output row, its `TPB` threads striding along the
# row (neighbouring threads read neighbouring bytes: coalesced), then the block reduction of §1.3.
#
# ### 5.1 int8 weight-only GEMV (2 points)
#
# `wq (N, K)` int8 and `scales (N,)` float32 (module 07's per-row absmax format), `x (K,)` float32:
# `y[n] = scales[n] · Σ_k wq[n, k] · x[k]`. Convert each weight to float32 in registers (never write a
# dequantised matrix), accumulate in float32, apply the row's scale once at the end. Trap: the scale of
# column `k` (`scales[k]`) instead of row `n`.

# %% nbgrader={"grade": false, "grade_id": "int8_gemv_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def int8_gemv_kernel(wq, scales, x, y):
    """wq (N, K) int8, scales (N,) float32, x (K,) float32, y (N,) float32 = scales * (wq @ x). Launch [N, TPB]."""
    ### BEGIN SOLUTION
    n = cuda.blockIdx.x
    t = cuda.threadIdx.x
    sm = cuda.shared.array(TPB, np.float32)
    acc = np.float32(0.0)
    for kk in range(t, wq.shape[1], TPB):
        acc += np.float32(wq[n, kk]) * x[kk]
    sm[t] = acc
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        y[n] = scales[n] * sm[0]
    ### END SOLUTION


# %%
def int8_gemv(wq: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Host side: one block of TPB threads per output row."""
    d_y = cuda.device_array(wq.shape[0], dtype=np.float32)
    int8_gemv_kernel[wq.shape[0], TPB](to_dev(wq), to_dev(scales), to_dev(x), d_y)
    return d_y.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "int8_gemv_kernel_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.gpu_kernels.int8_gemv(int8_gemv)
### BEGIN HIDDEN TESTS
_names = (getattr(int8_gemv_kernel, "py_func", None) or int8_gemv_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share memory but never wait for each other"
def _launch_int8_gemv(wq, sc, x):  # the test's own launch
    _d = cuda.device_array(wq.shape[0], dtype=np.float32)
    int8_gemv_kernel[wq.shape[0], TPB](cuda.to_device(wq), cuda.to_device(sc), cuda.to_device(x), _d)
    return _d.copy_to_host()


_rng = np.random.default_rng(1551)
for _N, _K in [(1, 1), (5, 3 * TPB + 5), (9, 20)]:
    _wq = _rng.integers(-128, 128, (_N, _K)).astype(np.int8)
    _wq[0, :] = 127  # a row of the largest weights: int8 sums overflow at once
    _sc = (10.0 ** _rng.uniform(-4, 2, _N)).astype(np.float32)
    _x = _rng.standard_normal(_K).astype(np.float32)
    _ref = _sc.astype(np.float64) * (_wq.astype(np.float64) @ _x)
    np.testing.assert_allclose(_launch_int8_gemv(_wq, _sc, _x), _ref, rtol=1e-4, atol=1e-5 * np.abs(_ref).max(),
                               err_msg=f"N, K = {_N}, {_K}")
### END HIDDEN TESTS

# %% [markdown]
# ### 5.2 W8A8: int8 times int8, accumulated in int32 (2 points)
#
# With the activation quantized too (`xq (K,)` int8 with one scale `x_scale`, module 07's dynamic W8A8),
# the dot product is all integer: `y[n] = x_scale · scales[n] · Σ_k wq[n, k] · xq[k]`, which tensor cores
# and `dp4a` compute with **int32 accumulation**. One product is at most 128 · 128 = 16384 in size, so
# an int8 or int16 accumulator overflows after a few terms; int32 holds at least 131072 of the largest
# terms (2³¹ / 2¹⁴). Accumulate in an int32 variable and an int32 shared array (`np.int32`), convert to
# float once at the end.

# %% nbgrader={"grade": false, "grade_id": "w8a8_gemv_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def w8a8_gemv_kernel(wq, scales, xq, x_scale, y):
    """wq (N, K) int8, scales (N,) float32, xq (K,) int8, x_scale float: y (N,) = x_scale * scales * (wq @ xq). Launch [N, TPB]."""
    ### BEGIN SOLUTION
    n = cuda.blockIdx.x
    t = cuda.threadIdx.x
    sm = cuda.shared.array(TPB, np.int32)
    acc = np.int32(0)
    for kk in range(t, wq.shape[1], TPB):
        acc += np.int32(wq[n, kk]) * np.int32(xq[kk])
    sm[t] = acc
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        y[n] = x_scale * scales[n] * np.float32(sm[0])
    ### END SOLUTION


# %%
def w8a8_gemv(wq: np.ndarray, scales: np.ndarray, xq: np.ndarray, x_scale: float) -> np.ndarray:
    """Host side: one block of TPB threads per output row."""
    d_y = cuda.device_array(wq.shape[0], dtype=np.float32)
    w8a8_gemv_kernel[wq.shape[0], TPB](to_dev(wq), to_dev(scales), to_dev(xq), np.float32(x_scale), d_y)
    return d_y.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "w8a8_gemv_kernel_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.gpu_kernels.w8a8_gemv(w8a8_gemv)
### BEGIN HIDDEN TESTS
_names = (getattr(w8a8_gemv_kernel, "py_func", None) or w8a8_gemv_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share memory but never wait for each other"
def _launch_w8a8(wq, sc, xq, xs):  # the test's own launch
    _d = cuda.device_array(wq.shape[0], dtype=np.float32)
    w8a8_gemv_kernel[wq.shape[0], TPB](cuda.to_device(wq), cuda.to_device(sc), cuda.to_device(xq), np.float32(xs), _d)
    return _d.copy_to_host()


_rng = np.random.default_rng(1552)
for _N, _K in [(1, 1), (4, 2 * TPB + 9), (7, 30)]:
    _wq = _rng.integers(-128, 128, (_N, _K)).astype(np.int8)
    _xq = _rng.integers(-128, 128, _K).astype(np.int8)
    _wq[0] = -128  # the extreme row: with xq = -128 every product is +16384
    _xq[: _K // 2] = -128
    _sc = (10.0 ** _rng.uniform(-3, 0, _N)).astype(np.float32)
    _ref = 0.02 * _sc.astype(np.float64) * (_wq.astype(np.int64) @ _xq.astype(np.int64))
    np.testing.assert_allclose(_launch_w8a8(_wq, _sc, _xq, 0.02), _ref, rtol=1e-5, atol=1e-6,
                               err_msg=f"N, K = {_N}, {_K} (int8 values up to -128 x -128)")
### END HIDDEN TESTS

# %% [markdown]
# ### 5.3 2:4 sparse GEMV (2 points)
#
# Module 09's compressed 2:4 format for `W (N, K)`: `values (N, K/2)` float32, the two kept weights of
# group `g` at `values[n, 2g]` and `values[n, 2g + 1]`, and `meta (N, K/4)` uint8 with their positions
# `i0 = meta & 3` and `i1 = (meta >> 2) & 3` inside the group. So
# `y[n] = Σ_g values[n, 2g] · x[4g + i0] + values[n, 2g + 1] · x[4g + i1]`. Threads stride over the
# groups of the row. Traps: `x[2g + i]` (the group of four starts at `4g`), the second position read with
# a shift of 4, and the barrier.

# %% nbgrader={"grade": false, "grade_id": "sparse24_gemv_kernel", "locked": false, "solution": true, "schema_version": 3}
@cuda.jit
def sparse24_gemv_kernel(values, meta, x, y):
    """values (N, K/2) float32, meta (N, K/4) uint8, x (K,) float32: y (N,) = W @ x for the 2:4 W. Launch [N, TPB]."""
    ### BEGIN SOLUTION
    n = cuda.blockIdx.x
    t = cuda.threadIdx.x
    sm = cuda.shared.array(TPB, np.float32)
    acc = np.float32(0.0)
    for g in range(t, meta.shape[1], TPB):
        mg = np.int32(meta[n, g])
        acc += values[n, 2 * g] * x[4 * g + (mg & 3)] + values[n, 2 * g + 1] * x[4 * g + ((mg >> 2) & 3)]
    sm[t] = acc
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        y[n] = sm[0]
    ### END SOLUTION


# %%
def sparse24_gemv(values: np.ndarray, meta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Host side: one block of TPB threads per output row."""
    d_y = cuda.device_array(meta.shape[0], dtype=np.float32)
    sparse24_gemv_kernel[meta.shape[0], TPB](to_dev(values), to_dev(meta), to_dev(x), d_y)
    return d_y.copy_to_host()


# %% nbgrader={"grade": true, "grade_id": "sparse24_gemv_kernel_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.gpu_kernels.sparse24_gemv(sparse24_gemv)
### BEGIN HIDDEN TESTS
_names = (getattr(sparse24_gemv_kernel, "py_func", None) or sparse24_gemv_kernel.fn).__code__.co_names  # names the kernel reads
assert "shared" not in _names or any(n.startswith("syncthreads") for n in _names), "threads share memory but never wait for each other"
def _launch_sparse24(values, meta, x):  # the test's own launch
    _d = cuda.device_array(meta.shape[0], dtype=np.float32)
    sparse24_gemv_kernel[meta.shape[0], TPB](cuda.to_device(values), cuda.to_device(meta), cuda.to_device(x), _d)
    return _d.copy_to_host()


_rng = np.random.default_rng(1553)
_pairs = np.array([(a, b) for a in range(4) for b in range(a + 1, 4)])
for _N, _K in [(1, 4), (6, 4 * TPB + 12), (5, 36)]:
    _pi = _pairs[_rng.integers(0, 6, (_N, _K // 4))]  # (N, G, 2) every position pair occurs
    _meta = (_pi[..., 0] | (_pi[..., 1] << 2)).astype(np.uint8)
    _vals = (_rng.standard_normal((_N, _K // 2)) * 10.0 ** _rng.integers(-3, 4, (_N, 1))).astype(np.float32)
    _x = (_rng.standard_normal(_K) + np.arange(_K) % 4 * 10).astype(np.float32)  # positions in a group differ
    _dense = np.zeros((_N, _K // 4, 4))
    np.put_along_axis(_dense, _pi, _vals.reshape(_N, -1, 2).astype(np.float64), -1)
    _ref = _dense.reshape(_N, _K) @ _x
    np.testing.assert_allclose(_launch_sparse24(_vals, _meta, _x), _ref, rtol=1e-4, atol=1e-5 * np.abs(_ref).max(),
                               err_msg=f"N, K = {_N}, {_K}")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. What these kernels would cost on a GPU, and what they do cost on this one
#
# The simulator runs each CUDA thread as a Python thread: its timings measure Python, not a GPU, and
# say nothing about any kernel's speed. What can be said without a GPU is module 06's roofline: count
# each kernel's FLOPs and the bytes it must move at least once, and compare with a named chip. The chip
# here is the **NVIDIA H100 SXM5** (NVIDIA H100 Tensor Core GPU datasheet): HBM3 bandwidth
# 3.35<!--const: NVIDIA H100 SXM datasheet--> TB/s, FP32 (CUDA cores, no tensor cores) 67<!--const: NVIDIA H100 SXM datasheet--> TFLOP/s,
# and dense BF16 tensor cores 989<!--const: NVIDIA H100 SXM datasheet, without sparsity--> TFLOP/s. Our kernels use
# CUDA cores in FP32, so the FP32 peak is their ceiling. PyTorch's fp16 attention (SDPA) runs on the tensor
# cores; its FP32 matmul does not by default (`torch.backends.cuda.matmul.allow_tf32` is False), so cuBLAS
# plays on the same FP32 CUDA cores as our matmul, with far better tiling. Sizes are a decode-sized GEMV (4096 × 4096, one vector) and
# a 4096-token attention head with `d = 64`.

# %%
H100_SXM = {"name": "NVIDIA H100 SXM5", "bandwidth": 3.35e12, "fp32": 67e12, "bf16_tensor": 989e12}


def roofline_row(name: str, flops: float, n_bytes: float, peak: float, bandwidth: float) -> dict:
    """Module 06's roofline: intensity (FLOP/byte), lower-bound time and what bounds it."""
    t_compute, t_memory = flops / peak, n_bytes / bandwidth
    return {"kernel": name, "GFLOP": flops / 1e9, "MB": n_bytes / 1e6, "FLOP/byte": flops / n_bytes,
            "time_us": 1e6 * max(t_compute, t_memory), "bound": "compute" if t_compute > t_memory else "memory"}


G_M = G_K = G_N = 4096  # GEMM and GEMV sizes
G_T, G_D, G_BQ = 4096, 64, 64  # attention: context, head size, queries per block on a GPU
f32 = 4
kernel_costs = [
    roofline_row("vector add (n = 4096²)", G_M * G_N, 3 * f32 * G_M * G_N, H100_SXM["fp32"], H100_SXM["bandwidth"]),
    # softmax: about 5 FLOPs per element (max, subtract, exp, add, divide)
    roofline_row("row softmax (4096 × 4096)", 5 * G_M * G_N, 2 * f32 * G_M * G_N, H100_SXM["fp32"], H100_SXM["bandwidth"]),
    roofline_row("matmul fp32 (4096³)", 2 * G_M * G_K * G_N, f32 * (G_M * G_K + G_K * G_N + G_M * G_N),
                 H100_SXM["fp32"], H100_SXM["bandwidth"]),
    roofline_row("flash attention, causal (T 4096, d 64)", 2 * 2 * G_T * G_T * G_D / 2, 4 * f32 * G_T * G_D,
                 H100_SXM["fp32"], H100_SXM["bandwidth"]),
    roofline_row("GEMV fp32 (4096 × 4096)", 2 * G_N * G_K, f32 * G_N * G_K + f32 * (G_K + G_N),
                 H100_SXM["fp32"], H100_SXM["bandwidth"]),
    roofline_row("GEMV int8 weights (4096 × 4096)", 2 * G_N * G_K, G_N * G_K + f32 * (G_N + G_K + G_N),
                 H100_SXM["fp32"], H100_SXM["bandwidth"]),
    roofline_row("GEMV 2:4 fp32 (4096 × 4096)", G_N * G_K, f32 * G_N * G_K / 2 + G_N * G_K / 4 + f32 * (G_K + G_N),
                 H100_SXM["fp32"], H100_SXM["bandwidth"]),
]
print(f"{'kernel':42s} {'GFLOP':>9s} {'MB':>8s} {'FLOP/B':>8s} {'bound':>8s} {'roofline µs':>12s}   ({H100_SXM['name']})")
for r in kernel_costs:
    print(f"{r['kernel']:42s} {r['GFLOP']:9.3f} {r['MB']:8.2f} {r['FLOP/byte']:8.2f} {r['bound']:>8s} {r['time_us']:12.1f}")
ridge_fp32 = H100_SXM["fp32"] / H100_SXM["bandwidth"]
gemv_speedup_int8 = kernel_costs[4]["time_us"] / kernel_costs[5]["time_us"]
# Flash attention re-reads K and V once per block of G_BQ queries: the tile size sets its real traffic.
flash_traffic_mb = (G_T // G_BQ) * 2 * f32 * G_T * G_D / 2 / 1e6 + 2 * f32 * G_T * G_D / 1e6
naive_scores_mb = 2 * f32 * G_T * G_T / 1e6  # a (T, T) fp32 matrix written once and read once
print(f"FP32 ridge point: {ridge_fp32:.1f} FLOP/byte; int8 weights make the GEMV {gemv_speedup_int8:.2f}x faster at the roofline")
print(f"flash attention K/V traffic with {G_BQ}-query blocks: {flash_traffic_mb:.0f} MB; "
      f"a materialised T x T score matrix alone: {naive_scores_mb:.0f} MB")

# %% [markdown]
# Read the table with module 06's eyes. The FP32 ridge point of the H100 is
# 20.0<!--= ridge_fp32 --> FLOP per byte: every GEMV and the vector add and softmax sit far below it, so only
# bytes matter for them, and int8 weights make the GEMV 3.99<!--= gemv_speedup_int8 -->× faster at the
# roofline (a quarter of the bytes, plus the vectors). The 4096³ matmul and the attention head are far
# above it: compute-bound, which is why production kernels move them onto the tensor cores (bf16, or TF32
# for fp32 inputs). The attention row counts the bytes of `Q, K, V, O` once; a causal kernel that re-reads
# the `K` and `V` rows it needs once per block of 64<!--const: the block size chosen above--> queries (half
# of them on average) moves 69<!--= flash_traffic_mb --> MB, still far less than the
# 134<!--= naive_scores_mb --> MB of a `T × T` score matrix written and read once, which flash attention never
# stores.
#
# ### Measured natively, when a GPU is here
#
# With a GPU the cell below times each kernel against PyTorch's own on the same device and data, with
# `llmcourse.bench.compare` (round-robin, median of per-round ratios): the tiled matmul against
# `torch.matmul` (cuBLAS), the softmax against `torch.softmax`, flash attention against
# `torch.nn.functional.scaled_dot_product_attention`, and the GEMVs against torch's fp16 GEMV on the
# dequantised weights. The bandwidth it reports is measured on the same GPU (a device-to-device copy).
# Without a GPU (or with a CPU-only torch) it says so and measures nothing.

# %%
gpu_results: dict[str, dict] = {}
if not (NATIVE and torch.cuda.is_available()):
    why = "no NVIDIA GPU here" if not NATIVE else "numba.cuda sees a GPU but this torch build has no CUDA"
    print(f"skipped: {why}. The simulator's timings would measure Python threads, not a GPU.")
else:
    from llmcourse import bench

    dev = torch.device("cuda")
    big = torch.empty(2**28, dtype=torch.uint8, device=dev)  # 256 MiB
    dst = torch.empty_like(big)
    copy_t = bench.compare({"copy": lambda: dst.copy_(big)}, rounds=5, warmup=2, device=dev).timings["copy"].median
    bw = 2 * big.numel() / copy_t  # read + write
    del big, dst
    nb = lambda t: cuda.as_cuda_array(t)  # noqa: E731 - zero-copy view of a torch CUDA tensor for numba
    gen = torch.Generator(device=dev).manual_seed(0)

    def rand(*shape, dtype=torch.float32):
        return torch.randn(*shape, device=dev, generator=gen).to(dtype)

    def launch(kernel, grid, block, *args):
        return lambda: kernel[grid, block](*args)

    cases = {}
    a, b, c = rand(2048, 2048), rand(2048, 2048), torch.empty(2048, 2048, device=dev)
    cases["matmul 2048³ fp32 vs cuBLAS"] = (
        launch(matmul_kernel, (n_blocks(2048, TILE), n_blocks(2048, TILE)), (TILE, TILE), nb(a), nb(b), nb(c)),
        lambda: torch.matmul(a, b), 3 * 4 * 2048 * 2048)
    xs, ys = rand(4096, 4096), torch.empty(4096, 4096, device=dev)
    cases["softmax 4096 x 4096 vs torch.softmax"] = (
        launch(softmax_kernel, 4096, TPB, nb(xs), nb(ys)), lambda: torch.softmax(xs, -1), 2 * 4 * 4096 * 4096)
    Tq, dq = 4096, 64
    q, k, v, o = rand(Tq, dq), rand(Tq, dq), rand(Tq, dq), torch.empty(Tq, dq, device=dev)
    qh, kh, vh = (z.half().view(1, 1, Tq, dq) for z in (q, k, v))
    cases["flash attention T 4096 d 64 causal vs SDPA fp16"] = (
        launch(flash_attention_kernel, n_blocks(Tq, BQ), BQ, nb(q), nb(k), nb(v), nb(o), True),
        lambda: torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, is_causal=True), 4 * 4 * Tq * dq)
    wq = torch.randint(-127, 128, (4096, 4096), device=dev, dtype=torch.int8)
    sc, xv, yv = rand(4096).abs(), rand(4096), torch.empty(4096, device=dev)
    w16, x16 = (wq.half() * sc.half()[:, None]), xv.half()
    cases["int8 GEMV 4096 vs fp16 GEMV"] = (
        launch(int8_gemv_kernel, 4096, TPB, nb(wq), nb(sc), nb(xv), nb(yv)), lambda: torch.mv(w16, x16),
        4096 * 4096 + 3 * 4 * 4096)
    vals = rand(4096, 2048)
    meta = torch.full((4096, 1024), 0 | (1 << 2), dtype=torch.uint8, device=dev)
    cases["2:4 GEMV 4096 vs fp16 GEMV"] = (
        launch(sparse24_gemv_kernel, 4096, TPB, nb(vals), nb(meta), nb(xv), nb(yv)), lambda: torch.mv(w16, x16),
        4 * 4096 * 2048 + 4096 * 1024 + 2 * 4 * 4096)
    for name, (ours, theirs, n_bytes) in cases.items():
        cmp = bench.compare({"torch": theirs, "ours": ours}, rounds=7, warmup=2, device=dev)
        t_ours = cmp.timings["ours"].median
        gpu_results[name] = {"speed vs torch": cmp.ratio("ours"), "ours_us": 1e6 * t_ours,
                             "% of copy bandwidth": 100 * n_bytes / t_ours / bw}
    print(f"{torch.cuda.get_device_name()}: device-to-device copy {bw / 1e9:.0f} GB/s")
    for name, r in gpu_results.items():
        print(f"{name:48s} ours {r['ours_us']:9.1f} µs  {r['speed vs torch']:6.2f}x torch's speed  "
              f"{r['% of copy bandwidth']:5.1f}% of bandwidth")

# %% [markdown]
# Expect the naive kernels here to lose to PyTorch's, by different margins: the GEMVs and the softmax are
# memory-bound, so a plain coalesced kernel gets a good part of the bandwidth; the matmul and attention
# are compute-bound: SDPA (FlashAttention-2-style kernels in PyTorch) runs in fp16 on the tensor cores, and
# cuBLAS's FP32 GEMM, on the same CUDA cores as ours, tiles in registers as well as in shared memory and
# overlaps loads with arithmetic. The printed ratios, not this
# paragraph, are the measurement.
#
# ## 7. A picture: what each thread of the flash-attention kernel keeps
#
# The online softmax in one row: the running max `m` jumps when a larger score arrives, and the sum `l`
# (measured against the current max) drops by `exp(m_old - m_new)` at that moment. The final `l` equals
# the two-pass sum.

# %%
rng_demo = np.random.default_rng(15)
T_demo = env.size(64, 24)
scores_demo = rng_demo.standard_normal(T_demo) * 3 + np.linspace(0, 6, T_demo)
m_run, l_run, m_hist, l_hist = -np.inf, 0.0, [], []
for s_j in scores_demo:
    if s_j > m_run:
        l_run *= math.exp(m_run - s_j)
        m_run = s_j
    l_run += math.exp(s_j - m_run)
    m_hist.append(m_run)
    l_hist.append(l_run)
online_error = abs(l_run - np.exp(scores_demo - scores_demo.max()).sum())
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].plot(scores_demo, ".", label="score s_j")
ax[0].plot(m_hist, label="running max m")
ax[0].set(xlabel="key j", title="scores and running max")
ax[0].legend()
ax[1].plot(l_hist)
ax[1].set(xlabel="key j", title="running sum l (rescaled at each new max)")
plt.tight_layout()
plt.show()
print(f"online sum vs two-pass sum: difference {online_error:.2e}")

# %% [markdown]
# ## Practice quiz
#
# Not graded: pick an answer, press Check, read why each option is right or wrong.

# %%
quiz.show("15_gpu_kernels")

# %% [markdown]
# ## Summary
#
# * A launch is a grid of blocks of threads; each thread finds its element from `blockIdx`, `blockDim`
#   and `threadIdx`, and guards against running past the end when sizes are not multiples of the block.
# * Threads of a block cooperate through shared memory and `cuda.syncthreads()`: a barrier after every
#   write that another thread reads, reached by every thread of the block. Without it the result depends
#   on scheduling.
# * Tiling stages data in shared memory so that each global load feeds `TILE` multiply-adds; ragged edges
#   are padded with zeros and stores are guarded.
# * Flash attention streams K and V tiles through shared memory with the online softmax (running max,
#   rescaled sum and output) and never stores the `T × T` matrix.
# * Decode-time GEMVs are memory-bound: int8 weights read a quarter of fp32's bytes, 2:4 a little over
#   half; integer dot products accumulate in int32.
#
# ## Going further
#
# * Dao et al. (2022), "FlashAttention", and Dao (2023), "FlashAttention-2", for the tiling, the
#   backward pass and the work split across warps; Milakov and Gimelshein (2018) for the online softmax.
# * Replace the shared-memory tree with warp shuffles (`cuda.shfl_down_sync`) in the last 32 steps, and
#   give each matmul thread a 4 × 4 patch of outputs (register tiling): measure both on a GPU.
# * The NVIDIA CUDA C++ Programming Guide on shared memory, bank conflicts and coalescing; Triton
#   (Tillet et al., 2019) writes the same kernels at the level of tiles instead of threads.
