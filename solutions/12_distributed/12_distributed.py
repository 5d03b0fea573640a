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
# # 12 · Many processes: distributed training and inference with torch.distributed
#
# One process runs out of memory or time long before a large model does. This module splits the work of
# the course GPT over several **ranks** (processes) that talk through `torch.distributed`: the same code runs
# on the `gloo` backend between CPU processes here and on `nccl` between GPUs. Nothing is simulated: every
# exercise below runs in real worker processes that send real bytes over loopback TCP.
#
# * **Collectives** (§1) and a **ring all-reduce** built from point-to-point messages (§2).
# * **Data parallelism** (§3): every rank holds the whole model and a slice of the batch.
# * **Tensor parallelism** (§4): every rank holds a slice of each weight matrix (Megatron-LM, Shoeybi et al., 2019).
# * **Pipeline parallelism** (§5): every rank holds some layers, and micro-batches fill the pipeline
#   (GPipe, Huang et al., 2019).
# * **Distributed inference and load balancing** (§6), and a **communication cost model** fitted to
#   measurements (§7).
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `all_reduce_mean`: the average of a tensor over ranks | 1 |
# | 1.2 | `gather_shards`: every rank's rows, in rank order | 1 |
# | 2.1 | `ring_allreduce`: reduce-scatter then all-gather from send/recv | 3 |
# | 3.1 | `dp_train_step`: a data-parallel SGD step equal to one big batch | 3 |
# | 3.2 | `stale_sgd`: bounded-staleness SGD, the model of a parameter server | 2 |
# | 4.1 | `shard_mlp`: column-parallel then row-parallel weights | 1 |
# | 4.2 | `tp_mlp`: the tensor-parallel MLP with one all-reduce | 2 |
# | 4.3 | `head_parallel_attention`: attention split by heads | 2 |
# | 5.1 | `pipeline_forward`: GPipe forward with micro-batches | 2 |
# | 5.2 | `gpipe_schedule`: the schedule and its bubble | 1 |
# | 6.1 | `sharded_map`: requests sharded over ranks, results in request order | 2 |
# | 6.2 | `lpt_assign`: longest-processing-time-first load balancing | 1 |
# | 7.1 | `fit_alpha_beta`: latency and bandwidth from measurements | 1 |
# | 7.2 | `ring_allreduce_time`: the α–β model of a ring all-reduce | 1 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line on success; the hidden tests run your code on other numbers of
# ranks, shapes and seeds, and reject the popular wrong answers named in the text.
#
# **Names.** `N` (`world_size`) the number of ranks, `rank` this process's index `0 … N−1`, `B` batch,
# `T` sequence length, `C` model width, `H` hidden width of the MLP, `S` message size in bytes, `m` the
# number of micro-batches, `p` the number of pipeline stages.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("12_distributed")

# %% [markdown]
# ## 0. Running several ranks from a notebook
#
# `launch.run(fn, N, *args)` starts `N` fresh worker processes, joins them into one process group
# (`dist.init_process_group("gloo")`, rendezvous on 127.0.0.1), calls `fn(rank, N, *args)` in each, and
# returns the `N` results **in rank order**. Inside `fn` you use `torch.distributed` (imported as `dist`)
# exactly as you would in a script started by `torchrun`; the README shows the same function under
# `torchrun`. Each rank runs one torch thread, so that timings on a small machine mean something.
#
# Functions defined in this notebook travel to the workers by source, together with the notebook
# functions and values they use. Every run has a timeout: a deadlock ends with an error that names each
# rank that did not finish and the `torch.distributed` call it was waiting in, and every worker is killed.

# %%
# %matplotlib inline
import math
import statistics
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from llmcourse import checks, env, quiz
from llmcourse import dist as launch
from llmcourse.data import CharTokenizer, load_corpus
from llmcourse.model import GPTConfig, TinyGPT, load_checkpoint

torch.manual_seed(0)
torch.set_num_threads(1)
tok = CharTokenizer()


def hello(rank, world_size):
    t = torch.tensor([float(rank)])
    dist.all_reduce(t)  # sum over ranks, in place, on every rank
    return f"rank {rank} of {world_size} sees {t.item():g}"


print(launch.run(hello, 3))

# %% [markdown]
# A deadlock, on purpose: both ranks wait to receive before either sends. Read the error: it names each
# rank and the call it is stuck in, with the line of your function.

# %%
def both_receive_first(rank, world_size):
    t = torch.zeros(4)
    dist.recv(t, src=1 - rank)  # rank 0 waits for rank 1, rank 1 waits for rank 0: nobody sends
    dist.send(t, dst=1 - rank)
    return t


try:
    launch.run(both_receive_first, 2, timeout=2)
except launch.DistTimeout as err:
    print(err)

# %% [markdown]
# ## 1. Collectives
#
# A **collective** is a call every rank of the group makes, in the same order, with tensors of matching
# shapes. The four that parallel training is built from:
#
# | collective | before (rank r holds) | after (every rank holds) | used by |
# |---|---|---|---|
# | `broadcast(t, src)` | `t` on rank `src` | the same `t` | initial weights |
# | `all_reduce(t)` | `t_r` | `Σ_r t_r` | data parallel (gradients), tensor parallel (row-parallel output) |
# | `all_gather(out, t)` | `t_r` | `[t_0, t_1, …, t_{N−1}]` | sharded inference, sequence / column-parallel outputs |
# | `reduce_scatter(out, ins)` | `N` blocks `x_r[0..N−1]` | rank r: `Σ_q x_q[r]` | ZeRO / FSDP gradients, step 1 of a ring all-reduce |
#
# `all_reduce` **sums** by default. Gradients of a mean loss must be **averaged**: summing makes every step
# N times too large with SGD, which is the most common bug in hand-written data parallelism.

# %% [markdown]
# ### 1.1 Average over ranks (1 point)
#
# Inside a rank: replace `t` by the mean of every rank's `t` (elementwise), **in place**, and return it.

# %% nbgrader={"grade": false, "grade_id": "all_reduce_mean", "locked": false, "solution": true, "schema_version": 3}
def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """t (any shape, floating) -> the same tensor, now holding the mean over ranks of t."""
    ### BEGIN SOLUTION
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return t
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "all_reduce_mean_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.all_reduce_mean(all_reduce_mean)
### BEGIN HIDDEN TESTS
def _w_mean(rank, world_size, seed, shape, scale, dtype):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(shape, generator=g, dtype=dtype) * scale for _ in range(world_size)]
    t = xs[rank].clone()
    out = all_reduce_mean(t)
    return out is t, t, torch.stack(xs).mean(0)


for _n, _shape, _scale, _dtype in [(1, (3,), 1.0, torch.float32), (2, (4, 5), 1e6, torch.float64),
                                   (4, (7,), 1e-6, torch.float64), (3, (2, 3, 2), 50.0, torch.float32)]:
    for _same, _got, _exp in launch.run(_w_mean, _n, 1201 + _n, _shape, _scale, _dtype, timeout=20):
        assert _same, "return the tensor you were given (averaged in place)"
        assert _got.dtype == _dtype, "keep the dtype"
        assert torch.allclose(_got, _exp, rtol=1e-5, atol=1e-12 * _scale), (
            f"{_n} ranks, shape {_shape}: expected the mean over ranks, got {_got} instead of {_exp}")
### END HIDDEN TESTS

# %% [markdown]
# ### 1.2 Every rank's rows, in rank order (1 point)
#
# Each rank holds `x` of shape `(n, C)` (the same `n` everywhere). Return the `(N·n, C)` tensor of every
# rank's rows: rank 0's first, then rank 1's, and so on, on every rank. This is how a batch sharded by rows
# comes back together, and the order matters: row `i` of the result must be row `i` of the global batch.

# %% nbgrader={"grade": false, "grade_id": "gather_shards", "locked": false, "solution": true, "schema_version": 3}
def gather_shards(x: torch.Tensor) -> torch.Tensor:
    """x (n, C) on each rank -> (N * n, C): rank 0's rows, then rank 1's, ..., the same on every rank."""
    ### BEGIN SOLUTION
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)  # (N * n, C)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gather_shards_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.gather_shards(gather_shards)
### BEGIN HIDDEN TESTS
def _w_gather(rank, world_size, seed, n, C):
    g = torch.Generator().manual_seed(seed)
    full = torch.randn(world_size * n, C, generator=g, dtype=torch.float64)
    return gather_shards(full[rank * n:(rank + 1) * n].clone()), full


for _n_ranks, _rows, _cols in [(1, 2, 3), (3, 1, 4), (4, 3, 1), (2, 5, 2)]:
    for _r, (_got, _full) in enumerate(launch.run(_w_gather, _n_ranks, 1210 + _n_ranks, _rows, _cols, timeout=20)):
        assert isinstance(_got, torch.Tensor) and _got.shape == _full.shape, (
            f"{_n_ranks} ranks of ({_rows}, {_cols}): expected shape {tuple(_full.shape)}, got "
            f"{getattr(_got, 'shape', type(_got))}")
        assert torch.equal(_got, _full), f"{_n_ranks} ranks, rank {_r}: rows out of rank order"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. A ring all-reduce from send and recv
#
# How does `all_reduce` move the data? The bandwidth-optimal answer on a ring of `N` ranks (Patarasuk and
# Yuan, 2009; NCCL's default for large messages) cuts the tensor into `N` chunks and runs two phases of
# `N − 1` steps each. In every step each rank sends one chunk to its right neighbour `(r + 1) mod N` and
# receives one from its left neighbour `(r − 1) mod N`:
#
# 1. **reduce-scatter:** in step `s = 0 … N−2`, rank `r` sends chunk `(r − s) mod N` and adds the chunk it
#    receives, `(r − s − 1) mod N`, into its own copy. After `N − 1` steps rank `r` holds the complete sum of
#    chunk `(r + 1) mod N`.
# 2. **all-gather:** in step `s`, rank `r` sends chunk `(r + 1 − s) mod N` (complete) and overwrites chunk
#    `(r − s) mod N` with the one it receives.
#
# Every rank sends `2(N − 1)` chunks of `S/N` bytes: `2(N − 1)/N · S` in total, less than `2S` whatever `N`,
# where a naive "everyone sends everything to everyone" sends `(N − 1) · S`. An off-by-one in a chunk index
# adds the wrong chunk, and the result is wrong on some ranks only.
#
# Use `torch.tensor_split(flat, N)`: it gives `N` chunks for any length, including lengths not divisible by
# `N` and lengths below `N` (some chunks are then empty, which is fine). Blocking `send` then `recv` on every
# rank can deadlock on a ring for large chunks: post the send with `dist.isend`, then `dist.recv`, then
# wait for the send.

# %% [markdown]
# ### 2.1 Ring all-reduce (3 points)
#
# Sum `t` over ranks, in place, using only `dist.send`/`dist.recv`/`dist.isend`/`dist.irecv` (no
# collective). Return the number of bytes **this rank sent** (`numel × element_size` of every chunk sent).
# The tests count the bytes your sends really carry, and check that the whole ring sends exactly
# `2(N − 1) · S`.

# %% nbgrader={"grade": false, "grade_id": "ring_allreduce", "locked": false, "solution": true, "schema_version": 3}
def ring_allreduce(t: torch.Tensor) -> int:
    """t (any shape, contiguous) -> bytes this rank sent; afterwards t holds the sum over ranks (in place)."""
    ### BEGIN SOLUTION
    rank, N = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % N, (rank - 1) % N
    chunks = torch.tensor_split(t.view(-1), N)  # N views into t; chunk 0 is the largest
    incoming = torch.empty_like(chunks[0])  # one receive buffer, reused
    sent = 0
    for s in range(N - 1):  # reduce-scatter: add the left neighbour's partial sum into ours
        send_i, recv_i = (rank - s) % N, (rank - s - 1) % N
        buf = incoming[:chunks[recv_i].numel()]
        req = dist.isend(chunks[send_i], dst=right)
        dist.recv(buf, src=left)
        req.wait()
        chunks[recv_i].add_(buf)
        sent += chunks[send_i].numel() * t.element_size()
    for s in range(N - 1):  # all-gather: pass the complete chunks around, receiving straight into t
        send_i, recv_i = (rank + 1 - s) % N, (rank - s) % N
        req = dist.isend(chunks[send_i], dst=right)
        dist.recv(chunks[recv_i], src=left)
        req.wait()
        sent += chunks[send_i].numel() * t.element_size()
    return sent
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ring_allreduce_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.distributed.ring_allreduce(ring_allreduce)
### BEGIN HIDDEN TESTS
def _w_ring(rank, world_size, seed, shape, dtype, scale):
    sent = {"bytes": 0}
    for _name in ("send", "isend"):
        _orig = getattr(dist, _name)

        def _counted(tensor, *a, __orig=_orig, **k):
            sent["bytes"] += tensor.numel() * tensor.element_size()
            return __orig(tensor, *a, **k)
        setattr(dist, _name, _counted)

    def _forbidden(*a, **k):
        raise AssertionError("ring_allreduce must use send/recv only, not a collective")
    for _name in ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce", "all_gather_into_tensor",
                  "reduce_scatter_tensor", "all_to_all"):
        setattr(dist, _name, _forbidden)
    g = torch.Generator().manual_seed(seed)
    xs = [(torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype) for _ in range(world_size)]
    t = xs[rank].clone()
    reported = ring_allreduce(t)
    return t, torch.stack(xs).double().sum(0), reported, sent["bytes"], t.numel() * t.element_size()


for _n, _shape, _dtype, _scale in [(2, (6,), torch.float64, 1.0), (3, (10,), torch.float64, 1e3),
                                   (4, (7,), torch.float64, 1.0), (3, (2,), torch.float64, 1.0),
                                   (4, (3, 5), torch.float32, 1e-4), (1, (4,), torch.float64, 1.0),
                                   (4, (1001,), torch.float64, -5.0), (2, (1,), torch.float32, 1.0)]:
    _out = launch.run(_w_ring, _n, 1220 + _n, _shape, _dtype, _scale, timeout=20)
    _S = _out[0][4]
    for _r, (_got, _exp, _reported, _counted, _) in enumerate(_out):
        assert _got.shape == _exp.shape and _got.dtype == _dtype, "sum in place: same shape and dtype"
        _tol = 1e-12 if _dtype == torch.float64 else 1e-5
        assert torch.allclose(_got.double(), _exp, rtol=_tol, atol=_tol * abs(_scale)), (
            f"{_n} ranks, shape {_shape}: rank {_r} does not hold the sum (a chunk index off by one?)")
        assert _reported == _counted, f"rank {_r} reported {_reported} bytes sent, its sends carried {_counted}"
        assert abs(_counted - 2 * (_n - 1) / _n * _S) <= 2 * (_n - 1) * _got.element_size(), (
            f"{_n} ranks, {_S} bytes: rank {_r} sent {_counted} bytes, expected about 2(N-1)/N*S")
    assert sum(o[3] for o in _out) == 2 * (_n - 1) * _S, (
        f"{_n} ranks, {_S} bytes: the ring sent {sum(o[3] for o in _out)} bytes in all, expected 2(N-1)*S")
### END HIDDEN TESTS

# %% [markdown]
# How fast is the hand-written ring against gloo's own `all_reduce`? Both run on the same ranks, side by
# side, alternating, and the cell prints the median of per-round ratios. Gloo's algorithm for this size
# is its own choice (a ring or a halving-doubling variant); a Python loop adds a few microseconds per step.

# %%
RING_ELEMS = env.size(1 << 20, 1 << 12)  # float32 elements: 4 MB by default
RING_ROUNDS = env.size(7, 2)


def ring_vs_gloo(rank, world_size, n, rounds):
    t = torch.randn(n)
    times = {"ring": [], "gloo": []}
    for _ in range(rounds):
        for name in ("ring", "gloo"):
            x = t.clone()
            dist.barrier()
            t0 = time.perf_counter()
            if name == "ring":
                ring_allreduce(x)
            else:
                dist.all_reduce(x)
            dist.barrier()
            times[name].append(time.perf_counter() - t0)
    return times


ring_times = launch.run(ring_vs_gloo, 2, RING_ELEMS, RING_ROUNDS, timeout=60)[0]
ring_ratio = statistics.median(g / r for g, r in zip(ring_times["gloo"], ring_times["ring"], strict=True))
print(f"{RING_ELEMS * 4 / 1e6:.1f} MB on 2 ranks: ring {statistics.median(ring_times['ring']) * 1e3:.1f} ms, "
      f"gloo all_reduce {statistics.median(ring_times['gloo']) * 1e3:.1f} ms; "
      f"ring speed / gloo speed = {ring_ratio:.2f} (median of {RING_ROUNDS} alternating rounds)")

# %% [markdown]
# ## 3. Data parallelism
#
# Every rank holds a full copy of the model and a different slice of the global batch. After the backward
# pass each rank has the gradient of *its* mean loss; the gradient of the mean loss over the whole batch is
# the **average** of the ranks' gradients (when the slices have equal sizes). One `all_reduce` per gradient,
# divided by `N`, and every rank takes the same optimizer step: the copies stay identical, and `N` ranks
# compute exactly what one process would on the concatenated batch.
#
# Two traps. *Summing without dividing* multiplies the SGD step by `N`. Adam hides that bug (its update
# divides by the gradient's own running scale, so a gradient `N` times larger gives almost the same step),
# which is why the tests below use plain SGD. *Logging the local loss* shows each rank's own slice: the loss
# to print is the average over ranks too.

# %% [markdown]
# ### 3.1 One data-parallel step (3 points)
#
# `dp_train_step(model, opt, ids, targets)`: `ids`, `targets` are this rank's `(B_r, T)` slice (the same
# `B_r` on every rank). Compute the mean cross-entropy of `model(ids)` (logits `(B_r, T, V)`) against
# `targets` over this rank's tokens, backpropagate, average every parameter's gradient over ranks, take
# `opt.step()` and clear the gradients. Return the loss **averaged over ranks** as a Python float.

# %% nbgrader={"grade": false, "grade_id": "dp_train_step", "locked": false, "solution": true, "schema_version": 3}
def dp_train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor,
                  targets: torch.Tensor) -> float:
    """ids, targets (B_r, T) int64 on this rank -> the global mean loss (float); every rank steps the same way."""
    ### BEGIN SOLUTION
    N = dist.get_world_size()
    logits = model(ids)  # (B_r, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    opt.zero_grad(set_to_none=False)
    loss.backward()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= N
    opt.step()
    opt.zero_grad()
    logged = loss.detach().clone()
    dist.all_reduce(logged)
    return logged.item() / N
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "dp_train_step_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.distributed.dp_train_step(dp_train_step)
### BEGIN HIDDEN TESTS
def _dp_data(seed, n_batches, B, T, V):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(0, V, (B, T), generator=g), torch.randint(0, V, (B, T), generator=g))
            for _ in range(n_batches)]


def _dp_model(seed):
    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=8)).double()


def _w_dp(rank, world_size, seed, steps, B_r, lr):
    model = _dp_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for ids, targets in _dp_data(seed, steps, B_r * world_size, 6, 11):
        mine = slice(rank * B_r, (rank + 1) * B_r)
        losses.append(dp_train_step(model, opt, ids[mine], targets[mine]))
    return losses, {k: v.clone() for k, v in model.state_dict().items()}


def _single(seed, steps, B, lr):
    model = _dp_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for ids, targets in _dp_data(seed, steps, B, 6, 11):
        loss = F.cross_entropy(model(ids).flatten(0, 1), targets.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model.state_dict()


for _n, _steps, _B_r, _lr in [(2, 3, 2, 0.5), (3, 2, 1, 1.0), (1, 2, 3, 0.5), (4, 2, 1, 0.3)]:
    _ref_losses, _ref_state = _single(1230 + _n, _steps, _B_r * _n, _lr)
    for _r, (_losses, _state) in enumerate(launch.run(_w_dp, _n, 1230 + _n, _steps, _B_r, _lr, timeout=30)):
        assert all(isinstance(x, float) for x in _losses), "return the loss as a Python float"
        assert np.allclose(_losses, _ref_losses, rtol=1e-9, atol=1e-12), (
            f"{_n} ranks: rank {_r} returned losses {_losses}, one process on the whole batch gets {_ref_losses} "
            "(average the loss over ranks)")
        for _k, _v in _ref_state.items():
            assert torch.allclose(_state[_k], _v, rtol=1e-9, atol=1e-12), (
                f"{_n} ranks, rank {_r}: parameter {_k} differs from one process training on the whole batch "
                "(average, don't sum, the gradients)")
### END HIDDEN TESTS

# %% [markdown]
# **Data parallelism on the course GPT.** Two ranks train copies of the course GPT (its real configuration,
# fresh weights) on two halves of each batch; one process trains a third copy on the whole batch. The
# largest difference between the weights after the run is printed: float32 rounding, not an algorithm
# difference. The same cell measures **gradient bucketing**: one `all_reduce` per parameter tensor against
# one on a single flat buffer of all gradients (PyTorch's DistributedDataParallel groups gradients into
# buckets of about 25 MB for the same reason: every message costs a latency α, §7).

# %%
DP_STEPS = env.size(4, 2)
DP_B, DP_T = env.size(8, 2), env.size(32, 8)
corpus_ids = torch.tensor(tok.encode(load_corpus("train")[:20_000]), dtype=torch.long)


def dp_batches(steps, B, T):
    g = torch.Generator().manual_seed(12)
    out = []
    for _ in range(steps):
        starts = torch.randint(0, len(corpus_ids) - T - 1, (B,), generator=g)
        out.append((torch.stack([corpus_ids[s:s + T] for s in starts]),
                    torch.stack([corpus_ids[s + 1:s + T + 1] for s in starts])))
    return out


def dp_worker(rank, world_size, steps, B, T):
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for ids, targets in dp_batches(steps, B, T):
        half = slice(rank * B // world_size, (rank + 1) * B // world_size)
        losses.append(dp_train_step(model, opt, ids[half], targets[half]))
    # gradient bucketing: per-tensor all_reduce against one flat buffer
    grads = [torch.randn_like(p) for p in model.parameters()]
    timing = {"per tensor": [], "one bucket": []}
    for _ in range(3):
        dist.barrier()
        t0 = time.perf_counter()
        for gr in grads:
            dist.all_reduce(gr)
        timing["per tensor"].append(time.perf_counter() - t0)
        dist.barrier()
        t0 = time.perf_counter()
        flat = torch.cat([gr.view(-1) for gr in grads])
        dist.all_reduce(flat)
        torch.split(flat, [gr.numel() for gr in grads])
        timing["one bucket"].append(time.perf_counter() - t0)
    return losses, model.state_dict(), len(grads), {k: min(v) for k, v in timing.items()}


dp_out = launch.run(dp_worker, 2, DP_STEPS, DP_B, DP_T, timeout=60)
torch.manual_seed(0)
dp_ref = TinyGPT(GPTConfig())
dp_opt = torch.optim.SGD(dp_ref.parameters(), lr=0.1)
dp_ref_losses = []
for ids, targets in dp_batches(DP_STEPS, DP_B, DP_T):
    loss = F.cross_entropy(dp_ref(ids).flatten(0, 1), targets.flatten())
    dp_opt.zero_grad()
    loss.backward()
    dp_opt.step()
    dp_ref_losses.append(loss.item())
dp_max_diff = max((dp_out[0][1][k] - v).abs().max().item() for k, v in dp_ref.state_dict().items())
print("losses, 2 ranks:       ", [f"{x:.4f}" for x in dp_out[0][0]])
print("losses, one process:   ", [f"{x:.4f}" for x in dp_ref_losses])
print(f"largest weight difference after {DP_STEPS} steps: {dp_max_diff:.1e}")
bucket = dp_out[0][3]
print(f"all-reduce of {dp_out[0][2]} gradient tensors one by one: {bucket['per tensor'] * 1e3:.2f} ms; "
      f"as one flat bucket: {bucket['one bucket'] * 1e3:.2f} ms")

# %% [markdown]
# ### Synchronous vs asynchronous updates
#
# Data parallelism as above is **synchronous**: every step waits for the slowest rank. A **parameter
# server** lets workers run at their own pace: each worker fetches the current weights, computes a gradient,
# and sends it to the server, which applies it at once. By then the server has applied the gradients of the
# other workers, so the gradient is **stale**: computed at weights `τ` updates old. With `K` workers served
# in turn, `τ = K − 1`. Bounded-staleness SGD is the model of it: `w_{t+1} = w_t − lr · g_t(w_{max(0, t − τ)})`.
# Staleness acts like momentum you did not ask for: at a learning rate that is stable for synchronous SGD,
# large `τ` makes the loss oscillate or diverge, because each step corrects an error the earlier steps already
# corrected.

# %% [markdown]
# ### 3.2 Bounded-staleness SGD (2 points)
#
# `grad_fn(w, t)` returns the gradient of step `t`'s batch at weights `w`. Return the `(steps + 1, d)` history
# of weights `w_0 … w_steps`, where step `t` applies the gradient computed at `w_{max(0, t − τ)}`
# (`τ = 0`: plain SGD).

# %% nbgrader={"grade": false, "grade_id": "stale_sgd", "locked": false, "solution": true, "schema_version": 3}
def stale_sgd(grad_fn, w0: torch.Tensor, lr: float, steps: int, tau: int) -> torch.Tensor:
    """w0 (d,) -> (steps + 1, d): w_{t+1} = w_t - lr * grad_fn(w_{max(0, t - tau)}, t)."""
    ### BEGIN SOLUTION
    ws = [w0.clone()]
    for t in range(steps):
        g = grad_fn(ws[max(0, t - tau)], t)
        ws.append(ws[-1] - lr * g)
    return torch.vstack(ws)  # (steps + 1, d)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "stale_sgd_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distributed.stale_sgd(stale_sgd)
### BEGIN HIDDEN TESTS
def _stale_ref(grad_fn, w0, lr, steps, tau):
    ws = [w0.clone()]
    for t in range(steps):
        ws.append(ws[-1] - lr * grad_fn(ws[max(0, t - tau)], t))
    return torch.stack(ws)


_g = torch.Generator().manual_seed(1232)
for _d, _steps, _tau, _lr in [(3, 10, 0, 0.1), (2, 12, 1, 0.3), (4, 9, 4, 0.05), (1, 5, 7, 0.5), (2, 0, 2, 0.1),
                              (5, 20, 3, -0.01)]:
    _A = torch.randn(_steps + 1, _d, _d, generator=_g, dtype=torch.float64)
    _b = torch.randn(_steps + 1, _d, generator=_g, dtype=torch.float64) * 100

    def _grad(w, t, _A=_A, _b=_b):
        return _A[t] @ w - _b[t]
    _w0 = torch.randn(_d, generator=_g, dtype=torch.float64)
    _got = stale_sgd(_grad, _w0, _lr, _steps, _tau)
    _exp = _stale_ref(_grad, _w0, _lr, _steps, _tau)
    assert isinstance(_got, torch.Tensor) and _got.shape == _exp.shape, (
        f"d={_d}, steps={_steps}: expected shape {tuple(_exp.shape)}, got {getattr(_got, 'shape', type(_got))}")
    assert torch.allclose(_got, _exp, rtol=1e-10, atol=1e-10), (
        f"d={_d}, steps={_steps}, tau={_tau}: weights differ from w_t+1 = w_t - lr g(w_max(0, t - tau))")
    assert torch.equal(_w0, _exp[0]), "do not change w0 in place"
### END HIDDEN TESTS

# %% [markdown]
# **A real parameter server.** Rank 0 holds the weights of a linear regression; ranks `1 … K` are workers,
# served in turn: the server receives worker `k`'s gradient, applies it, and sends the new weights back to
# `k` only. Every gradient is therefore computed at weights `K − 1` updates old, and the server's weights
# must equal `stale_sgd` with `τ = K − 1` (the cell checks it). The plot shows the loss for `τ = 0, 1, 4`
# (`K = 1, 2, 5` workers) at the same learning rate on the same batches.

# %%
PS_STEPS = env.size(60, 20)
PS_D, PS_BATCH, PS_LR = 8, 16, 0.2
_ps_g = torch.Generator().manual_seed(3)
ps_X = torch.randn(PS_STEPS * PS_BATCH, PS_D, generator=_ps_g, dtype=torch.float64)
ps_y = ps_X @ torch.linspace(-1, 1, PS_D, dtype=torch.float64) + 0.1 * torch.randn(len(ps_X), generator=_ps_g,
                                                                                      dtype=torch.float64)


def ps_grad(w, t):
    X, y = ps_X[t * PS_BATCH:(t + 1) * PS_BATCH], ps_y[t * PS_BATCH:(t + 1) * PS_BATCH]  # (b, d), (b,)
    return 2 * X.T @ (X @ w - y) / len(y)


def ps_loss(w):
    return ((ps_X @ w - ps_y) ** 2).mean().item()


def parameter_server(rank, world_size, steps, lr):
    K = world_size - 1  # workers 1..K
    w = torch.zeros(PS_D, dtype=torch.float64)
    if rank == 0:
        for k in range(1, world_size):
            dist.send(w, dst=k)
        history = [w.clone()]
        for t in range(steps):
            k = 1 + t % K
            g = torch.empty_like(w)
            dist.recv(g, src=k)
            w = w - lr * g
            history.append(w.clone())
            if t + K < steps:  # worker k has another step to do
                dist.send(w, dst=k)
        return torch.stack(history)
    for t in range(rank - 1, steps, K):  # this worker's steps
        dist.recv(w, src=0)
        dist.send(ps_grad(w, t), dst=0)
    return None


ps_curves = {}
for tau in (0, 1, 4):
    served = launch.run(parameter_server, tau + 2, PS_STEPS, PS_LR, timeout=60)[0]
    model = stale_sgd(ps_grad, torch.zeros(PS_D, dtype=torch.float64), PS_LR, PS_STEPS, tau)
    ps_gap = (served - model).abs().max().item()
    assert ps_gap < 1e-12, f"the parameter server with {tau + 1} workers differs from stale_sgd(tau={tau})"
    ps_curves[tau] = [ps_loss(w) for w in served]
    print(f"tau = {tau} ({tau + 1} workers): final loss {ps_curves[tau][-1]:.4g}, "
          f"largest loss on the way {max(ps_curves[tau]):.4g}; equal to stale_sgd (max gap {ps_gap:.0e})")
plt.figure(figsize=(4.5, 3))
for tau, curve in ps_curves.items():
    plt.semilogy(curve, label=f"tau = {tau}")
plt.xlabel("server update")
plt.ylabel("mean squared error")
plt.legend()
plt.show()

# %% [markdown]
# At this learning rate synchronous SGD converges, and so does `τ = 1` (its final loss is below a tenth of the
# starting loss<!--? ps_curves[1][-1] < 0.1 * ps_curves[1][0] -->); with `τ = 4` the same learning rate
# diverges: the final loss is above the starting one<!--? ps_curves[4][-1] > ps_curves[4][0] -->. A
# parameter server therefore either bounds the staleness (the server makes a fast worker wait when it is
# more than `τ` updates ahead: stale-synchronous parallel, Ho et al., 2013) or lowers the learning rate as
# `τ` grows.

# %% [markdown]
# ## 4. Tensor parallelism
#
# When one weight matrix is too large for one device, split the matrix. The MLP of a Transformer block is
# `y = gelu(x W1 + b1) W2 + b2` with `W1` of shape `(C, H)` and `W2` of shape `(H, C)`. Megatron-LM splits
# it so that it needs **one** all-reduce:
#
# * **column-parallel `W1`:** rank `r` keeps a block of `W1`'s *columns* (and the same entries of `b1`):
#   it computes its own hidden units `h_r = gelu(x W1[:, cols_r] + b1[cols_r])` completely, with no
#   communication, because GELU acts on each hidden unit alone;
# * **row-parallel `W2`:** rank `r` keeps the matching block of `W2`'s *rows*, and `h_r W2[rows_r, :]` is a
#   partial sum of `y`. One `all_reduce` adds the partial sums; `b2` is added once, after it.
#
# Swapping the two (rows of `W1`, columns of `W2`) makes each rank hold a partial sum *before* GELU, and
# `gelu(a) + gelu(b) ≠ gelu(a + b)`: it needs a second all-reduce to be right. Adding `b2` before the
# all-reduce adds it `N` times.
#
# Attention splits the same way, **by heads**: rank `r` takes the query, key and value columns of its heads
# (column-parallel), runs attention for those heads alone, and multiplies by the matching rows of the output
# projection (row-parallel); one all-reduce sums the ranks' outputs. Splitting by anything that cuts a head
# in two (e.g. `C / N` columns when `N` does not divide the number of heads) or by the sequence is wrong.

# %% [markdown]
# ### 4.1 Shard the MLP's weights (1 point)
#
# Return this rank's `(W1_r, b1_r, W2_r)`: a contiguous block of the `H` hidden units, blocks in rank
# order, sizes as equal as possible (they may differ by one when `N` does not divide `H`;
# `torch.tensor_split` does this).

# %% nbgrader={"grade": false, "grade_id": "shard_mlp", "locked": false, "solution": true, "schema_version": 3}
def shard_mlp(W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, rank: int,
              world_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W1 (C, H), b1 (H,), W2 (H, C) -> rank's (W1_r (C, H_r), b1_r (H_r,), W2_r (H_r, C))."""
    ### BEGIN SOLUTION
    cols = torch.tensor_split(torch.arange(W1.shape[1]), world_size)[rank]  # this rank's hidden units
    return W1[:, cols], b1[cols], W2[cols, :]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "shard_mlp_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.shard_mlp(shard_mlp)
### BEGIN HIDDEN TESTS
_g = torch.Generator().manual_seed(1240)
for _C, _H, _n in [(3, 8, 2), (4, 10, 4), (2, 7, 3), (5, 3, 3), (2, 5, 1), (3, 2, 4)]:
    _W1, _b1, _W2 = torch.randn(_C, _H, generator=_g), torch.randn(_H, generator=_g), torch.randn(_H, _C, generator=_g)
    _parts = [shard_mlp(_W1, _b1, _W2, _r, _n) for _r in range(_n)]
    for _r, (_a, _b, _c) in enumerate(_parts):
        assert _a.shape[0] == _C and _c.shape[1] == _C, (
            f"C={_C}, H={_H}, {_n} ranks: W1 keeps all C rows and W2 all C columns (column- then row-parallel)")
        assert _a.shape[1] == _b.shape[0] == _c.shape[0], f"rank {_r}: W1_r, b1_r and W2_r cover different units"
    assert torch.equal(torch.cat([p[0] for p in _parts], 1), _W1), f"H={_H}, {_n} ranks: W1 blocks out of order"
    assert torch.equal(torch.cat([p[1] for p in _parts]), _b1), f"H={_H}, {_n} ranks: b1 blocks out of order"
    assert torch.equal(torch.cat([p[2] for p in _parts], 0), _W2), f"H={_H}, {_n} ranks: W2 blocks out of order"
    _sizes = [p[1].shape[0] for p in _parts]
    assert max(_sizes) - min(_sizes) <= 1, f"H={_H}, {_n} ranks: unbalanced blocks {_sizes}"
### END HIDDEN TESTS

# %% [markdown]
# ### 4.2 The tensor-parallel MLP (2 points)
#
# Given this rank's shards (from `shard_mlp`) and the full `b2`, return `y = gelu(x W1 + b1) W2 + b2` for
# `x` of shape `(..., C)`, the same on every rank, with exactly one `all_reduce`. Use `F.gelu` (exact form).

# %% nbgrader={"grade": false, "grade_id": "tp_mlp", "locked": false, "solution": true, "schema_version": 3}
def tp_mlp(x: torch.Tensor, W1_r: torch.Tensor, b1_r: torch.Tensor, W2_r: torch.Tensor,
           b2: torch.Tensor) -> torch.Tensor:
    """x (..., C) -> (..., C) equal to the unsharded MLP, on every rank; one all_reduce."""
    ### BEGIN SOLUTION
    h = F.gelu(x @ W1_r + b1_r)  # (..., H_r): this rank's hidden units, complete
    y = h @ W2_r  # (..., C): a partial sum over hidden units
    dist.all_reduce(y)
    return y + b2
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "tp_mlp_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distributed.tp_mlp(tp_mlp)
### BEGIN HIDDEN TESTS
def _w_tp(rank, world_size, seed, shape, C, H, scale):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, C, generator=g, dtype=torch.float64) * scale
    W1, b1 = torch.randn(C, H, generator=g, dtype=torch.float64), torch.randn(H, generator=g, dtype=torch.float64)
    W2, b2 = torch.randn(H, C, generator=g, dtype=torch.float64), torch.randn(C, generator=g, dtype=torch.float64)
    cols = torch.tensor_split(torch.arange(H), world_size)[rank]
    calls = {"n": 0}
    _orig = dist.all_reduce

    def _count(*a, **k):
        calls["n"] += 1
        return _orig(*a, **k)
    dist.all_reduce = _count
    y = tp_mlp(x, W1[:, cols], b1[cols], W2[cols, :], b2)
    return y, F.gelu(x @ W1 + b1) @ W2 + b2, calls["n"]


for _n, _shape, _C, _H, _scale in [(2, (3,), 4, 8, 1.0), (3, (2, 5), 3, 7, 2.0), (4, (1,), 2, 6, 0.1),
                                   (1, (4,), 3, 5, 1.0), (3, (2,), 5, 3, 30.0)]:
    for _r, (_y, _ref, _calls) in enumerate(launch.run(_w_tp, _n, 1242 + _n, _shape, _C, _H, _scale, timeout=20)):
        assert _y.shape == _ref.shape, f"{_n} ranks: expected shape {tuple(_ref.shape)}, got {tuple(_y.shape)}"
        assert torch.allclose(_y, _ref, rtol=1e-9, atol=1e-9), (
            f"{_n} ranks, C={_C}, H={_H}: rank {_r} differs from the unsharded MLP (b2 added more than once?)")
        assert _calls == 1, f"use exactly one all_reduce, not {_calls}"
### END HIDDEN TESTS

# %% [markdown]
# ### 4.3 Attention split by heads (2 points)
#
# `x` is `(B, T, C)`; `Wq, Wk, Wv, Wo` are the full `(C, C)` projections (`q = x @ Wq`; head `h` owns
# columns `h·d_head … (h+1)·d_head − 1` of `q`, `k`, `v`, and the same *rows* of `Wo`). Rank `r` handles
# the heads in block `r` of `torch.tensor_split(torch.arange(n_head), N)` (a rank may get none), computes
# **causal** attention with scale `1/√d_head` for those heads only, projects with its rows of `Wo`, and one
# `all_reduce` gives every rank the full `(B, T, C)` output of multi-head attention.

# %% nbgrader={"grade": false, "grade_id": "head_parallel_attention", "locked": false, "solution": true, "schema_version": 3}
def head_parallel_attention(x: torch.Tensor, Wq: torch.Tensor, Wk: torch.Tensor, Wv: torch.Tensor,
                            Wo: torch.Tensor, n_head: int) -> torch.Tensor:
    """x (B, T, C), W* (C, C) -> (B, T, C) causal multi-head attention, this rank computing its heads only."""
    ### BEGIN SOLUTION
    B, T, C = x.shape
    d_head = C // n_head
    heads = torch.tensor_split(torch.arange(n_head), dist.get_world_size())[dist.get_rank()]
    cols = (heads[:, None] * d_head + torch.arange(d_head)).reshape(-1)  # this rank's feature columns
    h = len(heads)
    q = (x @ Wq[:, cols]).view(B, T, h, d_head).transpose(1, 2)  # (B, h, T, d_head)
    k = (x @ Wk[:, cols]).view(B, T, h, d_head).transpose(1, 2)  # (B, h, T, d_head)
    v = (x @ Wv[:, cols]).view(B, T, h, d_head).transpose(1, 2)  # (B, h, T, d_head)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)  # (B, h, T, T)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(B, T, h * d_head)  # (B, T, h * d_head)
    y = out @ Wo[cols, :]  # (B, T, C): this rank's heads' share of the output
    dist.all_reduce(y)
    return y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "head_parallel_attention_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distributed.head_parallel_attention(head_parallel_attention)
### BEGIN HIDDEN TESTS
def _mha_ref(x, Wq, Wk, Wv, Wo, n_head):
    B, T, C = x.shape
    d = C // n_head
    q, k, v = ((x @ W).view(B, T, n_head, d).transpose(1, 2) for W in (Wq, Wk, Wv))
    s = q @ k.transpose(-2, -1) / math.sqrt(d)
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    return (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, C) @ Wo


def _w_heads(rank, world_size, seed, B, T, C, n_head, scale):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    Ws = [torch.randn(C, C, generator=g, dtype=torch.float64) * scale / math.sqrt(C) for _ in range(4)]
    return head_parallel_attention(x, *Ws, n_head), _mha_ref(x, *Ws, n_head)


for _n, _B, _T, _C, _nh, _scale in [(2, 2, 5, 8, 4, 1.0), (2, 1, 4, 6, 3, 1.0), (3, 2, 3, 4, 2, 1.0),
                                    (4, 1, 6, 12, 6, 3.0), (1, 1, 3, 4, 2, 1.0), (3, 1, 7, 10, 5, 10.0)]:
    for _r, (_y, _ref) in enumerate(launch.run(_w_heads, _n, 1243 + _n, _B, _T, _C, _nh, _scale, timeout=20)):
        assert _y.shape == _ref.shape, f"expected shape {tuple(_ref.shape)}, got {tuple(_y.shape)}"
        assert torch.allclose(_y, _ref, rtol=1e-9, atol=1e-9), (
            f"{_n} ranks, {_nh} heads, C={_C}: rank {_r} differs from causal multi-head attention "
            "(split by whole heads; scale 1/sqrt(d_head); mask the future)")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Pipeline parallelism
#
# Pipeline parallelism gives each rank some consecutive layers (a **stage**). Rank 0 runs its stage and
# sends the activations to rank 1, and so on. Sent one batch at a time, only one stage works at any moment.
# GPipe cuts the batch into `m` **micro-batches**: while stage 1 works on micro-batch 0, stage 0 already
# runs micro-batch 1. With `p` stages and equal stage times, the forward pass takes `m + p − 1` time slots
# of which each stage is busy `m`: the idle fraction, the **bubble**, is `(p − 1)/(m + p − 1)`, so more
# micro-batches shrink it (at the cost of smaller matrix multiplications).

# %% [markdown]
# ### 5.1 GPipe forward (2 points)
#
# Every rank holds its own `stage` (a function `(b, C) → (b, C)`). Rank 0 cuts `x` (`(B, C)`, given on every
# rank, used by rank 0 only) into `m` micro-batches with `torch.tensor_split(x, m)`, and runs its stage on
# each in order, sending each result to rank 1 **as soon as it is ready** (one message per micro-batch).
# Rank `r > 0` receives each micro-batch from `r − 1` (its shape is that of the matching micro-batch of `x`),
# applies its stage, and sends it on. The last rank returns the outputs concatenated in micro-batch order,
# `(B, C)`; the other ranks return `None`. With one rank, rank 0 is also the last.

# %% nbgrader={"grade": false, "grade_id": "pipeline_forward", "locked": false, "solution": true, "schema_version": 3}
def pipeline_forward(stage, x: torch.Tensor, m: int) -> torch.Tensor | None:
    """x (B, C) -> on the last rank (B, C) = stage_{p-1}(...stage_0(x)), else None; m micro-batches."""
    ### BEGIN SOLUTION
    rank, p = dist.get_rank(), dist.get_world_size()
    outs = []
    for mb in torch.tensor_split(x, m):  # (b, C) each
        if rank > 0:
            mb = torch.empty_like(mb)
            dist.recv(mb, src=rank - 1)
        y = stage(mb)
        if rank < p - 1:
            dist.send(y.contiguous(), dst=rank + 1)
        else:
            outs.append(y)
    return torch.cat(outs) if rank == p - 1 else None
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pipeline_forward_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distributed.pipeline_forward(pipeline_forward)
### BEGIN HIDDEN TESTS
def _w_pipe(rank, world_size, seed, B, C, m):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, generator=g, dtype=torch.float64)
    Ws = [torch.randn(C, C, generator=g, dtype=torch.float64) / math.sqrt(C) for _ in range(world_size)]
    sends = []
    _orig_send, _orig_isend = dist.send, dist.isend

    def _send(t, *a, **k):
        sends.append(t.shape[0])
        return _orig_send(t, *a, **k)

    def _isend(t, *a, **k):
        sends.append(t.shape[0])
        return _orig_isend(t, *a, **k)
    dist.send, dist.isend = _send, _isend

    def stage(h):
        return torch.tanh(h @ Ws[rank]) + 0.1 * rank
    out = pipeline_forward(stage, x, m)
    ref = x
    for s in range(world_size):
        ref = torch.tanh(ref @ Ws[s]) + 0.1 * s
    return out, ref, sends


for _n, _B, _C, _m in [(2, 6, 3, 3), (3, 7, 2, 4), (4, 5, 4, 5), (1, 4, 2, 2), (3, 8, 3, 1), (2, 9, 2, 4)]:
    _out = launch.run(_w_pipe, _n, 1250 + _n, _B, _C, _m, timeout=20)
    for _r, (_got, _ref, _sends) in enumerate(_out):
        if _r < _n - 1:
            assert _got is None, f"{_n} ranks: rank {_r} is not the last stage and should return None"
            assert _sends == [t.shape[0] for t in torch.tensor_split(torch.empty(_B), _m)], (
                f"{_n} ranks, B={_B}, m={_m}: rank {_r} sent messages of {_sends} rows; expected one per "
                "micro-batch from torch.tensor_split")
        else:
            assert isinstance(_got, torch.Tensor) and torch.allclose(_got, _ref, rtol=1e-12, atol=1e-12), (
                f"{_n} ranks, B={_B}, m={_m}: the last rank's output differs from the stages applied in order "
                "(micro-batches out of order?)")
### END HIDDEN TESTS

# %% [markdown]
# ### 5.2 The GPipe schedule and its bubble (1 point)
#
# Return the forward schedule as an integer array of shape `(m + p − 1, p)`: entry `[tick, s]` is the
# micro-batch stage `s` runs at that time slot, or `−1` when it idles (stage `s` runs micro-batch `j` at tick
# `s + j`), and the bubble fraction (idle slots / all slots) computed from the array.

# %% nbgrader={"grade": false, "grade_id": "gpipe_schedule", "locked": false, "solution": true, "schema_version": 3}
def gpipe_schedule(p: int, m: int) -> tuple[np.ndarray, float]:
    """-> (schedule (m + p - 1, p) int, -1 = idle; bubble fraction = idle slots / all slots)."""
    ### BEGIN SOLUTION
    grid = np.full((m + p - 1, p), -1, dtype=int)
    for s in range(p):
        grid[s:s + m, s] = np.arange(m)
    return grid, float((grid == -1).mean())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gpipe_schedule_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.gpipe_schedule(gpipe_schedule)
### BEGIN HIDDEN TESTS
for _p, _m in [(1, 1), (1, 5), (4, 1), (3, 4), (8, 32), (5, 2)]:
    _grid, _bubble = gpipe_schedule(_p, _m)
    _grid = np.asarray(_grid)
    assert _grid.shape == (_m + _p - 1, _p), f"p={_p}, m={_m}: expected shape {(_m + _p - 1, _p)}, got {_grid.shape}"
    for _s in range(_p):
        _col = _grid[:, _s]
        assert list(_col[_s:_s + _m]) == list(range(_m)), f"p={_p}, m={_m}: stage {_s} runs micro-batch j at tick s + j"
        assert (np.delete(_col, range(_s, _s + _m)) == -1).all(), f"p={_p}, m={_m}: stage {_s} idles elsewhere"
    assert math.isclose(_bubble, (_p - 1) / (_m + _p - 1), rel_tol=1e-12), (
        f"p={_p}, m={_m}: bubble {_bubble}, expected {(_p - 1) / (_m + _p - 1)}")
### END HIDDEN TESTS

# %% [markdown]
# **The bubble, measured.** Two ranks each run a stage that does a fixed amount of matrix work per row;
# every rank records when it is busy. The measured bubble is one minus the busy time over (stages × wall
# time); beside it, `(p − 1)/(m + p − 1)`. On a busy shared machine the two stages do not always get a core
# each, so the measured fraction moves from run to run; the trend with `m` is what to look at.

# %%
PIPE_B, PIPE_C = env.size(256, 16), env.size(256, 32)
PIPE_MS = [1, 2, 4, 8]


def timed_pipeline(rank, world_size, B, C, m):
    torch.manual_seed(rank)
    W = torch.randn(C, C) / math.sqrt(C)
    busy = [0.0]

    def stage(h):
        t0 = time.perf_counter()
        for _ in range(96):
            h = torch.tanh(h @ W)
        busy[0] += time.perf_counter() - t0
        return h
    x = torch.randn(B, C)
    pipeline_forward(stage, x, m)  # warm-up
    busy[0] = 0.0
    dist.barrier()
    t0 = time.perf_counter()
    pipeline_forward(stage, x, m)
    dist.barrier()
    return busy[0], time.perf_counter() - t0


pipe_bubbles = {}
for m in PIPE_MS:
    res = launch.run(timed_pipeline, 2, PIPE_B, PIPE_C, m, timeout=60)
    wall = max(w for _, w in res)
    pipe_bubbles[m] = 1 - sum(b for b, _ in res) / (len(res) * wall)
    print(f"m = {m}: measured bubble {pipe_bubbles[m]:.2f}, (p-1)/(m+p-1) = {1 / (m + 1):.2f}")
plt.figure(figsize=(4, 3))
plt.plot(PIPE_MS, [pipe_bubbles[m] for m in PIPE_MS], "o-", label="measured, 2 ranks")
plt.plot(PIPE_MS, [1 / (m + 1) for m in PIPE_MS], "s--", label="(p-1)/(m+p-1)")
plt.xlabel("micro-batches m")
plt.ylabel("bubble fraction")
plt.legend()
plt.show()

# %% [markdown]
# ## 6. Distributed inference and load balancing
#
# Serving a batch of independent requests needs no model split at all: each rank holds the whole model and
# takes some of the requests. Two things go wrong. The results must come back **in request order** (an
# `all_gather` returns them grouped by rank), and requests of uneven length make the ranks finish at
# different times: the batch is done when the slowest rank is (the **makespan**).

# %% [markdown]
# ### 6.1 Sharded requests, results in request order (2 points)
#
# Rank `r` handles requests `r, r + N, r + 2N, …` (round robin), calls `fn(request)` on each, and every rank
# returns the list of all `len(requests)` results **in request order**. Use `dist.all_gather_object` to
# share Python objects between ranks.

# %% nbgrader={"grade": false, "grade_id": "sharded_map", "locked": false, "solution": true, "schema_version": 3}
def sharded_map(fn, requests: list) -> list:
    """requests (the same list on every rank) -> [fn(r) for r in requests] on every rank, work split round robin."""
    ### BEGIN SOLUTION
    rank, N = dist.get_rank(), dist.get_world_size()
    mine = {i: fn(requests[i]) for i in range(rank, len(requests), N)}
    everyone = [None] * N
    dist.all_gather_object(everyone, mine)
    merged = {i: out for part in everyone for i, out in part.items()}
    return [merged[i] for i in range(len(requests))]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sharded_map_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.distributed.sharded_map(sharded_map)
### BEGIN HIDDEN TESTS
def _tagged(req):
    return (req, dist.get_rank(), req * req)


def _w_shard(rank, world_size, requests):
    return sharded_map(_tagged, requests)


for _n, _reqs in [(2, [3, -1, 4, 1, 5]), (3, list(range(10, 0, -1))), (4, [7, 7]), (3, []), (1, [2, 9]),
                  (4, list(range(9)))]:
    for _r, _got in enumerate(launch.run(_w_shard, _n, _reqs, timeout=20)):
        assert [g[0] for g in _got] == _reqs, f"{_n} ranks, requests {_reqs}: rank {_r} got results in order {_got}"
        assert all(g[2] == g[0] ** 2 for g in _got), "results must be fn(request)"
        assert [g[1] for g in _got] == [i % _n for i in range(len(_reqs))], (
            f"{_n} ranks: request i must run on rank i mod N (round robin)")
### END HIDDEN TESTS

# %% [markdown]
# ### 6.2 Longest processing time first (1 point)
#
# Round robin ignores how long each request takes. The classic greedy rule (Graham, 1969) sorts the
# requests by cost, longest first, and gives each to the worker with the least work so far; its makespan
# is at most `4/3 − 1/(3N)` times the best possible. Return one list of request indices per worker.
# Ties: equal costs in increasing index order; equal loads to the lowest worker index.

# %% nbgrader={"grade": false, "grade_id": "lpt_assign", "locked": false, "solution": true, "schema_version": 3}
def lpt_assign(costs: list[float], n_workers: int) -> list[list[int]]:
    """costs (n,) -> n_workers lists of request indices (each list in the order the requests were assigned)."""
    ### BEGIN SOLUTION
    loads = [0.0] * n_workers
    out: list[list[int]] = [[] for _ in range(n_workers)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(n_workers), key=lambda w: (loads[w], w))
        out[w].append(i)
        loads[w] += costs[i]
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "lpt_assign_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.lpt_assign(lpt_assign)
### BEGIN HIDDEN TESTS
def _lpt_ref(costs, n):
    loads, out = [0.0] * n, [[] for _ in range(n)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(n), key=lambda w: (loads[w], w))
        out[w].append(i)
        loads[w] += costs[i]
    return out


_rng = np.random.default_rng(1262)
for _costs, _n in [([5, 5, 4, 4, 3, 3, 3], 3), ([1.0], 4), ([], 2), ([2, 2, 2, 2], 2), ([9, 1, 1, 1], 3),
                   (list(_rng.integers(1, 50, 40).astype(float)), 4), (list(_rng.random(17) * 1e6), 5)]:
    _got = lpt_assign(list(_costs), _n)
    assert [list(map(int, w)) for w in _got] == _lpt_ref(list(_costs), _n), (
        f"{_n} workers, costs {list(_costs)[:8]}...: got {_got}, expected {_lpt_ref(list(_costs), _n)}")
    if _costs:
        _span = max(sum(_costs[i] for i in w) for w in _got)
        assert _span <= sum(_costs) / _n + max(_costs) + 1e-9, "a greedy assignment is within one request of the mean"
### END HIDDEN TESTS

# %% [markdown]
# **Load balancing, measured.** Requests to the course GPT ask for greedy continuations of uneven lengths
# (the cost of a request grows with the tokens it generates). Two ranks serve them three ways: round robin,
# longest-first (`lpt_assign` with the number of new tokens as the cost), and a **dynamic work queue**, where
# each rank takes the next request from a shared counter when it is free (the process group's key-value
# store, `store.add`, an atomic increment over TCP). The lower bound on the makespan is the larger of the
# longest request and the total work divided by `N`, both from the per-request times measured in the same
# run.

# %%
N_REQ = env.size(12, 4)
req_rng = np.random.default_rng(6)
req_new = [int(x) for x in req_rng.integers(2, env.size(40, 8), N_REQ)]
req_prompts = ["the old ", "a cat ", "12 + 7 = ", "she said "] * N_REQ


def serve(rank, world_size, policy, new_tokens, prompts):
    torch.manual_seed(0)
    model = load_checkpoint().eval()

    def answer(i):
        ids = torch.tensor(CharTokenizer().encode(prompts[i]))
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(new_tokens[i]):
                ids = torch.cat([ids, model(ids)[-1].argmax().view(1)])
        return i, time.perf_counter() - t0

    answer(0)  # warm-up
    dist.barrier()
    t0 = time.perf_counter()
    done = []
    if policy == "work queue":
        store = dist.distributed_c10d._get_default_store()
        while (i := store.add("next", 1) - 1) < len(new_tokens):
            done.append(answer(i))
    else:
        mine = (lpt_assign(new_tokens, world_size)[rank] if policy == "longest first"
                else range(rank, len(new_tokens), world_size))
        done = [answer(i) for i in mine]
    return time.perf_counter() - t0, done


lb_makespan, lb_bound = {}, {}
for policy in ("round robin", "longest first", "work queue"):
    res = launch.run(serve, 2, policy, req_new, req_prompts, timeout=60)
    per_request = {i: s for _, done in res for i, s in done}
    lb_makespan[policy] = max(w for w, _ in res)
    lb_bound[policy] = max(max(per_request.values()), sum(per_request.values()) / 2)
    counts = [len(done) for _, done in res]
    print(f"{policy:14s}: makespan {lb_makespan[policy] * 1e3:7.1f} ms, lower bound {lb_bound[policy] * 1e3:7.1f} ms "
          f"(ratio {lb_makespan[policy] / lb_bound[policy]:.2f}), requests per rank {counts}")

# %% [markdown]
# The cost of a request is known in advance here (the number of new tokens); a real server knows only the
# prompt, and a generation stops at an end-of-sequence token. The work queue needs no estimate at all, and
# pays one small message per request.

# %% [markdown]
# ## 7. A communication cost model
#
# The time to send a message of `n` bytes is modelled as `α + β·n` (Hockney, 1994): `α` the latency of a
# message (software overhead and the network's round trip), `β` the seconds per byte (one over the
# bandwidth). The ring all-reduce of §2 makes `2(N − 1)` steps, each sending `n/N` bytes, so it costs
# `2(N − 1)(α + β·n/N)`: latency grows with `N`, the bandwidth term stays below `2β·n`.

# %% [markdown]
# ### 7.1 Fit α and β (1 point)
#
# Least squares of `seconds ≈ α + β·n_bytes` over the measurements (an intercept and a slope; not a fit
# through the origin, not in log space). Return `(alpha, beta)` as floats.

# %% nbgrader={"grade": false, "grade_id": "fit_alpha_beta", "locked": false, "solution": true, "schema_version": 3}
def fit_alpha_beta(n_bytes: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """n_bytes (k,), seconds (k,) -> (alpha seconds, beta seconds per byte) by least squares."""
    ### BEGIN SOLUTION
    A = np.column_stack([np.ones(len(n_bytes)), np.asarray(n_bytes, dtype=float)])  # (k, 2)
    (alpha, beta), *_ = np.linalg.lstsq(A, np.asarray(seconds, dtype=float), rcond=None)
    return float(alpha), float(beta)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "fit_alpha_beta_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.fit_alpha_beta(fit_alpha_beta)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1271)
for _alpha, _beta, _k, _noise in [(2e-5, 1e-9, 6, 0.0), (1e-3, 5e-10, 10, 0.05), (0.0, 2e-9, 4, 0.0),
                                  (3e-4, 0.0, 5, 0.0)]:
    _n = np.geomspace(1e3, 1e8, _k)
    _t = (_alpha + _beta * _n) * (1 + _noise * _rng.standard_normal(_k))
    _A = np.stack([np.ones(_k), _n], 1)
    _ref = np.linalg.lstsq(_A, _t, rcond=None)[0]
    _got = fit_alpha_beta(_n, _t)
    assert len(_got) == 2, "return (alpha, beta)"
    assert np.allclose(_got, _ref, rtol=1e-6, atol=1e-12), f"alpha={_alpha}, beta={_beta}: expected {_ref}, got {_got}"
### END HIDDEN TESTS

# %% [markdown]
# ### 7.2 The α–β model of the ring (1 point)
#
# Return the predicted time of a ring all-reduce of `n_bytes` on `N` ranks (for `N = 1`, nothing is sent).

# %% nbgrader={"grade": false, "grade_id": "ring_allreduce_time", "locked": false, "solution": true, "schema_version": 3}
def ring_allreduce_time(alpha: float, beta: float, n_bytes: float, N: int) -> float:
    """-> seconds: 2 (N - 1) steps, each one message of n_bytes / N."""
    ### BEGIN SOLUTION
    return 2 * (N - 1) * (alpha + beta * n_bytes / N)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ring_allreduce_time_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.distributed.ring_allreduce_time(ring_allreduce_time)
### BEGIN HIDDEN TESTS
for _a, _b, _nb, _N in [(1e-5, 1e-9, 4e6, 4), (0.0, 1e-9, 1e6, 2), (1e-4, 0.0, 123, 8), (3e-5, 2e-10, 1e8, 1),
                        (2e-6, 5e-11, 7e5, 3)]:
    _exp = 2 * (_N - 1) * (_a + _b * _nb / _N)
    assert math.isclose(ring_allreduce_time(_a, _b, _nb, _N), _exp, rel_tol=1e-9, abs_tol=1e-15), (
        f"alpha={_a}, beta={_b}, {_nb} bytes, N={_N}: expected {_exp}")
### END HIDDEN TESTS

# %% [markdown]
# **Fit and predict.** Two ranks time gloo's `all_reduce` over a range of sizes. On `N` ranks the ring model
# says `t = 2(N − 1)α + 2(N − 1)/N · β·n`, a straight line in `n`; on two ranks `t = 2α + β·n`, so the
# fitted intercept is `2α` and the slope `β`. The model then predicts our own `ring_allreduce` at sizes it
# was not fitted on, and the flat gradient bucket of the data-parallel cell in §3. Each time is the
# fastest of several repeats: on a machine shared with other work, the slower repeats measure the other
# work. The model leaves out the additions of the reduction and Python's overhead per step; the printed
# error says how much that matters here. The benchmark `comm_model_error_pct` (`make bench`) records it on
# a quiet machine.

# %%
AB_SIZES = [int(s) for s in np.geomspace(1 << 10, env.size(1 << 21, 1 << 14), env.size(7, 4))]  # float32 elements
AB_REPEATS = env.size(9, 3)


def measure_comm(rank, world_size, sizes, ring_sizes, repeats):
    out = {"gloo all_reduce": [], "ring_allreduce": []}
    for name, ns in (("gloo all_reduce", sizes), ("ring_allreduce", ring_sizes)):
        for n in ns:
            x = torch.randn(n)
            ts = []
            for _ in range(repeats):
                dist.barrier()
                t0 = time.perf_counter()
                if name == "gloo all_reduce":
                    dist.all_reduce(x)
                else:
                    ring_allreduce(x)
                ts.append(time.perf_counter() - t0)
            out[name].append(min(ts))
    return out


ab_ring_sizes = [int(n * 1.5) for n in AB_SIZES[1::2]]
ab = launch.run(measure_comm, 2, AB_SIZES, ab_ring_sizes, AB_REPEATS, timeout=60)[0]
ab_a, ab_b = fit_alpha_beta(np.array(AB_SIZES) * 4.0, np.array(ab["gloo all_reduce"]))
ab_alpha, ab_beta = ab_a / 2, ab_b  # two ranks: intercept 2 alpha, slope beta
ab_pred = [ring_allreduce_time(ab_alpha, ab_beta, 4.0 * n, 2) for n in ab_ring_sizes]
ab_err = [100 * (p / m - 1) for p, m in zip(ab_pred, ab["ring_allreduce"], strict=True)]
ab_median_err = statistics.median(ab_err)
print(f"alpha = {ab_alpha * 1e6:.1f} us, beta = {ab_beta * 1e9:.3f} ns/byte ({1 / ab_beta / 1e9:.2f} GB/s)")
for n, m_s, p_s, e in zip(ab_ring_sizes, ab["ring_allreduce"], ab_pred, ab_err, strict=True):
    print(f"ring_allreduce of {4 * n / 1e3:8.1f} kB on 2 ranks: measured {m_s * 1e3:7.3f} ms, "
          f"predicted {p_s * 1e3:7.3f} ms ({e:+.0f}%)")
print(f"median error of the prediction: {ab_median_err:+.0f}% (the goal: within ±30%)")
dp_bucket_bytes = 4 * sum(p.numel() for p in dp_ref.parameters())
print(f"the data-parallel cell's flat bucket ({dp_bucket_bytes / 1e6:.1f} MB): predicted "
      f"{ring_allreduce_time(ab_alpha, ab_beta, dp_bucket_bytes, 2) * 1e3:.2f} ms, measured "
      f"{bucket['one bucket'] * 1e3:.2f} ms")
plt.figure(figsize=(4.5, 3))
plt.loglog(np.array(AB_SIZES) * 4.0, ab["gloo all_reduce"], "o", label="gloo all_reduce (fitted)")
plt.loglog(np.array(ab_ring_sizes) * 4.0, ab["ring_allreduce"], "s", label="ring_allreduce (predicted)")
_xs = np.geomspace(AB_SIZES[0] * 4.0, ab_ring_sizes[-1] * 4.0, 50)
plt.loglog(_xs, [ring_allreduce_time(ab_alpha, ab_beta, x, 2) for x in _xs], "-", label="alpha-beta model")
plt.xlabel("bytes")
plt.ylabel("seconds")
plt.legend(fontsize=7)
plt.show()

# %% [markdown]
# The launcher keeps a forkserver (a process that has already imported torch) warm between runs, so that a
# run starts in milliseconds. Stop it when you are done; a later `launch.run` starts it again.

# %%
launch.shutdown()

# %% [markdown]
# ## 8. Summary
#
# * Collectives are calls every rank makes in the same order; `all_reduce` sums, so gradients and logged
#   losses need a division by `N`.
# * A ring all-reduce sends `2(N − 1)/N · S` bytes per rank: reduce-scatter, then all-gather.
# * Data parallelism with averaged gradients is, to rounding, one process on the whole batch; a parameter
#   server's asynchronous updates are bounded-staleness SGD, and staleness can turn a stable learning rate
#   unstable.
# * Tensor parallelism: column-parallel, then row-parallel, one all-reduce, bias once; attention by whole heads.
# * Pipeline parallelism idles `(p − 1)/(m + p − 1)` of the time in its bubble; micro-batches shrink it.
# * Sharded inference must put results back in request order; longest-first and a work queue beat round
#   robin on uneven requests.
# * `α + β·n` predicts communication well enough to plan with.
#
# **Going further.** ZeRO / FSDP (Rajbhandari et al., 2020): shard the optimizer state and gradients with
# reduce-scatter, and gather parameters just in time. Overlap communication with the backward pass
# (gradient buckets sent while earlier layers still compute). 1F1B pipeline schedules, which hold fewer
# activations than GPipe. Sequence parallelism for long contexts. Asynchronous SGD with bounded staleness
# (parameter servers). On several machines: run the same functions under `torchrun` (README).

# %% [markdown]
# ## Quiz

# %%
quiz.show("12_distributed")
