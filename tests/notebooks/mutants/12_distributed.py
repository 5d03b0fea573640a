"""Mutants for 12_distributed: plausible wrong answers (must fail) and correct alternatives (must pass)."""

_RING_HEAD = """
def ring_allreduce(t):
    rank, N = dist.get_rank(), dist.get_world_size()
    right, left = (rank + 1) % N, (rank - 1) % N
    chunks = torch.tensor_split(t.view(-1), N)
    sent = 0
"""

_DP_HEAD = """
def dp_train_step(model, opt, ids, targets):
    N = dist.get_world_size()
    loss = F.cross_entropy(model(ids).flatten(0, 1), targets.flatten())
    opt.zero_grad()
    loss.backward()
"""

_HEADS_HEAD = """
def head_parallel_attention(x, Wq, Wk, Wv, Wo, n_head):
    B, T, C = x.shape
    d_head = C // n_head
"""

_HEADS_TAIL = """
    h = len(cols) // d_head
    q = (x @ Wq[:, cols]).view(B, T, h, d_head).transpose(1, 2)
    k = (x @ Wk[:, cols]).view(B, T, h, d_head).transpose(1, 2)
    v = (x @ Wv[:, cols]).view(B, T, h, d_head).transpose(1, 2)
    s = q @ k.transpose(-2, -1) / SCALE
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    y = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, h * d_head) @ Wo[cols, :]
    dist.all_reduce(y)
    return y
"""


def _heads(cols: str, scale: str = "math.sqrt(d_head)") -> str:
    return _HEADS_HEAD + cols + _HEADS_TAIL.replace("SCALE", scale)


_HEAD_COLS = """
    heads = torch.tensor_split(torch.arange(n_head), dist.get_world_size())[dist.get_rank()]
    cols = (heads[:, None] * d_head + torch.arange(d_head)).reshape(-1)
"""

WRONG = {
    "all_reduce_mean": {
        "sum_not_mean": """
def all_reduce_mean(t):
    dist.all_reduce(t)
    return t
""",
        "divide_by_n_minus_1": """
def all_reduce_mean(t):
    dist.all_reduce(t)
    t /= max(dist.get_world_size() - 1, 1)
    return t
""",
        "new_tensor_not_in_place": """
def all_reduce_mean(t):
    s = t.clone()
    dist.all_reduce(s)
    return s / dist.get_world_size()
""",
    },
    "gather_shards": {
        "own_rows_first": """
def gather_shards(x):
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    r = dist.get_rank()
    return torch.cat([parts[r]] + parts[:r] + parts[r + 1:])
""",
        "stacked_not_concatenated": """
def gather_shards(x):
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.stack(parts)
""",
        "reversed": """
def gather_shards(x):
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts[::-1])
""",
    },
    "ring_allreduce": {
        "reduce_chunk_off_by_one": _RING_HEAD + """
    for s in range(N - 1):
        buf = torch.empty_like(chunks[(rank - s) % N])
        req = dist.isend(chunks[(rank - s) % N].clone(), dst=right)
        dist.recv(buf, src=left)
        req.wait()
        chunks[(rank - s) % N].add_(buf)
        sent += buf.numel() * buf.element_size()
    for s in range(N - 1):
        send_i, recv_i = (rank + 1 - s) % N, (rank - s) % N
        buf = torch.empty_like(chunks[recv_i])
        req = dist.isend(chunks[send_i].clone(), dst=right)
        dist.recv(buf, src=left)
        req.wait()
        chunks[recv_i].copy_(buf)
        sent += chunks[send_i].numel() * t.element_size()
    return sent
""",
        "gather_chunk_off_by_one": _RING_HEAD + """
    for s in range(N - 1):
        send_i, recv_i = (rank - s) % N, (rank - s - 1) % N
        buf = torch.empty_like(chunks[recv_i])
        req = dist.isend(chunks[send_i].clone(), dst=right)
        dist.recv(buf, src=left)
        req.wait()
        chunks[recv_i].add_(buf)
        sent += chunks[send_i].numel() * t.element_size()
    for s in range(N - 1):
        send_i, recv_i = (rank - s) % N, (rank - s - 1) % N
        buf = torch.empty_like(chunks[recv_i])
        req = dist.isend(chunks[send_i].clone(), dst=right)
        dist.recv(buf, src=left)
        req.wait()
        chunks[recv_i].copy_(buf)
        sent += chunks[send_i].numel() * t.element_size()
    return sent
""",
        "whole_tensor_every_step": """
def ring_allreduce(t):
    rank, N = dist.get_rank(), dist.get_world_size()
    flat = t.view(-1)
    acc, cur, sent = flat.clone(), flat.clone(), 0
    for _ in range(N - 1):
        buf = torch.empty_like(cur)
        req = dist.isend(cur, dst=(rank + 1) % N)
        dist.recv(buf, src=(rank - 1) % N)
        req.wait()
        sent += cur.numel() * cur.element_size()
        acc += buf
        cur = buf
    flat.copy_(acc)
    return sent
""",
        "collective_in_disguise": """
def ring_allreduce(t):
    dist.all_reduce(t)
    N = dist.get_world_size()
    return int(2 * (N - 1) * t.numel() * t.element_size() / N)
""",
    },
    "dp_train_step": {
        "sum_gradients": _DP_HEAD + """
    for p in model.parameters():
        dist.all_reduce(p.grad)
    opt.step()
    logged = loss.detach().clone()
    dist.all_reduce(logged)
    return logged.item() / N
""",
        "local_loss_logged": _DP_HEAD + """
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= N
    opt.step()
    return loss.item()
""",
        "no_gradient_sync": _DP_HEAD + """
    opt.step()
    logged = loss.detach().clone()
    dist.all_reduce(logged)
    return logged.item() / N
""",
        "summed_loss_logged": _DP_HEAD + """
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= N
    opt.step()
    logged = loss.detach().clone()
    dist.all_reduce(logged)
    return logged.item()
""",
    },
    "stale_sgd": {
        "ignores_tau": """
def stale_sgd(grad_fn, w0, lr, steps, tau):
    ws = [w0.clone()]
    for t in range(steps):
        ws.append(ws[-1] - lr * grad_fn(ws[-1], t))
    return torch.stack(ws)
""",
        "one_step_too_stale": """
def stale_sgd(grad_fn, w0, lr, steps, tau):
    ws = [w0.clone()]
    for t in range(steps):
        ws.append(ws[-1] - lr * grad_fn(ws[max(0, t - tau - 1)], t))
    return torch.stack(ws)
""",
        "skips_first_steps": """
def stale_sgd(grad_fn, w0, lr, steps, tau):
    ws = [w0.clone()]
    for t in range(steps):
        ws.append(ws[-1] - lr * grad_fn(ws[t - tau], t) if t >= tau else ws[-1].clone())
    return torch.stack(ws)
""",
    },
    "shard_mlp": {
        "swapped_rows_and_columns": """
def shard_mlp(W1, b1, W2, rank, world_size):
    rows = torch.tensor_split(torch.arange(W1.shape[0]), world_size)[rank]
    cols = torch.tensor_split(torch.arange(W2.shape[1]), world_size)[rank]
    return W1[rows, :], b1, W2[:, cols]
""",
        "torch_chunk_unbalanced": """
def shard_mlp(W1, b1, W2, rank, world_size):
    parts = torch.chunk(torch.arange(W1.shape[1]), world_size)
    cols = parts[rank] if rank < len(parts) else torch.arange(0)
    return W1[:, cols], b1[cols], W2[cols, :]
""",
        "strided_not_contiguous": """
def shard_mlp(W1, b1, W2, rank, world_size):
    cols = torch.arange(rank, W1.shape[1], world_size)
    return W1[:, cols], b1[cols], W2[cols, :]
""",
    },
    "tp_mlp": {
        "bias_before_all_reduce": """
def tp_mlp(x, W1_r, b1_r, W2_r, b2):
    y = F.gelu(x @ W1_r + b1_r) @ W2_r + b2
    dist.all_reduce(y)
    return y
""",
        "no_all_reduce": """
def tp_mlp(x, W1_r, b1_r, W2_r, b2):
    return F.gelu(x @ W1_r + b1_r) @ W2_r + b2
""",
        "tanh_gelu": """
def tp_mlp(x, W1_r, b1_r, W2_r, b2):
    y = F.gelu(x @ W1_r + b1_r, approximate="tanh") @ W2_r
    dist.all_reduce(y)
    return y + b2
""",
    },
    "head_parallel_attention": {
        "columns_not_heads": _heads("""
    cols = torch.tensor_split(torch.arange(C), dist.get_world_size())[dist.get_rank()]
    cols = cols[:len(cols) // d_head * d_head]
"""),
        "scale_by_model_width": _heads(_HEAD_COLS, "math.sqrt(C)"),
        "no_causal_mask": _heads(_HEAD_COLS).replace(
            '    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))\n', ""),
    },
    "pipeline_forward": {
        "whole_batch_at_once": """
def pipeline_forward(stage, x, m):
    rank, p = dist.get_rank(), dist.get_world_size()
    h = x
    if rank > 0:
        h = torch.empty_like(x)
        dist.recv(h, src=rank - 1)
    y = stage(h)
    if rank < p - 1:
        dist.send(y.contiguous(), dst=rank + 1)
        return None
    return y
""",
        "outputs_reversed": """
def pipeline_forward(stage, x, m):
    rank, p = dist.get_rank(), dist.get_world_size()
    outs = []
    for mb in torch.tensor_split(x, m):
        if rank > 0:
            mb = torch.empty_like(mb)
            dist.recv(mb, src=rank - 1)
        y = stage(mb)
        if rank < p - 1:
            dist.send(y.contiguous(), dst=rank + 1)
        else:
            outs.insert(0, y)
    return torch.cat(outs) if rank == p - 1 else None
""",
        "torch_chunk_micro_batches": """
def pipeline_forward(stage, x, m):
    rank, p = dist.get_rank(), dist.get_world_size()
    outs = []
    for mb in torch.chunk(x, m):
        if rank > 0:
            mb = torch.empty_like(mb)
            dist.recv(mb, src=rank - 1)
        y = stage(mb)
        if rank < p - 1:
            dist.send(y.contiguous(), dst=rank + 1)
        else:
            outs.append(y)
    return torch.cat(outs) if rank == p - 1 else None
""",
    },
    "gpipe_schedule": {
        "one_tick_too_many": """
def gpipe_schedule(p, m):
    grid = np.full((m + p, p), -1, dtype=int)
    for s in range(p):
        grid[s:s + m, s] = np.arange(m)
    return grid, float((grid == -1).mean())
""",
        "stages_reversed": """
def gpipe_schedule(p, m):
    grid = np.full((m + p - 1, p), -1, dtype=int)
    for s in range(p):
        grid[p - 1 - s:p - 1 - s + m, s] = np.arange(m)
    return grid, float((grid == -1).mean())
""",
        "bubble_over_m": """
def gpipe_schedule(p, m):
    grid = np.full((m + p - 1, p), -1, dtype=int)
    for s in range(p):
        grid[s:s + m, s] = np.arange(m)
    return grid, (p - 1) / m
""",
    },
    "sharded_map": {
        "rank_order": """
def sharded_map(fn, requests):
    rank, N = dist.get_rank(), dist.get_world_size()
    mine = [fn(requests[i]) for i in range(rank, len(requests), N)]
    everyone = [None] * N
    dist.all_gather_object(everyone, mine)
    return [r for part in everyone for r in part]
""",
        "contiguous_blocks": """
def sharded_map(fn, requests):
    rank, N = dist.get_rank(), dist.get_world_size()
    per = -(-len(requests) // N)
    mine = [fn(r) for r in requests[rank * per:(rank + 1) * per]]
    everyone = [None] * N
    dist.all_gather_object(everyone, mine)
    return [r for part in everyone for r in part]
""",
        "own_results_only": """
def sharded_map(fn, requests):
    rank, N = dist.get_rank(), dist.get_world_size()
    return [fn(requests[i]) if i % N == rank else None for i in range(len(requests))]
""",
    },
    "lpt_assign": {
        "round_robin": """
def lpt_assign(costs, n_workers):
    return [list(range(w, len(costs), n_workers)) for w in range(n_workers)]
""",
        "shortest_first": """
def lpt_assign(costs, n_workers):
    loads, out = [0.0] * n_workers, [[] for _ in range(n_workers)]
    for i in sorted(range(len(costs)), key=lambda i: (costs[i], i)):
        w = min(range(n_workers), key=lambda w: (loads[w], w))
        out[w].append(i)
        loads[w] += costs[i]
    return out
""",
        "fewest_requests_not_least_load": """
def lpt_assign(costs, n_workers):
    out = [[] for _ in range(n_workers)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(n_workers), key=lambda w: (len(out[w]), w))
        out[w].append(i)
    return out
""",
    },
    "fit_alpha_beta": {
        "through_the_origin": """
def fit_alpha_beta(n_bytes, seconds):
    n, t = np.asarray(n_bytes, float), np.asarray(seconds, float)
    return 0.0, float((n @ t) / (n @ n))
""",
        "log_log_fit": """
def fit_alpha_beta(n_bytes, seconds):
    slope, intercept = np.polyfit(np.log(np.asarray(n_bytes, float) + 1), np.log(seconds), 1)
    return float(np.exp(intercept)), float(slope)
""",
        "swapped": """
def fit_alpha_beta(n_bytes, seconds):
    beta, alpha = np.polyfit(np.asarray(n_bytes, float), np.asarray(seconds, float), 1)
    return float(beta), float(alpha)
""",
    },
    "ring_allreduce_time": {
        "no_division_by_n": """
def ring_allreduce_time(alpha, beta, n_bytes, N):
    return 2 * (N - 1) * (alpha + beta * n_bytes)
""",
        "one_phase_only": """
def ring_allreduce_time(alpha, beta, n_bytes, N):
    return (N - 1) * (alpha + beta * n_bytes / N)
""",
        "latency_once": """
def ring_allreduce_time(alpha, beta, n_bytes, N):
    return alpha + 2 * (N - 1) / N * beta * n_bytes if N > 1 else 0.0
""",
    },
}

RIGHT = {
    "all_reduce_mean": {
        "reduce_op_avg": """
def all_reduce_mean(t):
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    return t
""",
        "all_gather_then_mean": """
def all_reduce_mean(t):
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t)
    t.copy_(torch.stack(parts).mean(0))
    return t
""",
    },
    "gather_shards": {
        "all_gather_into_tensor": """
def gather_shards(x):
    out = x.new_empty((dist.get_world_size() * x.shape[0],) + tuple(x.shape[1:]))
    dist.all_gather_into_tensor(out, x.contiguous())
    return out
""",
    },
    "ring_allreduce": {
        "clone_per_step_blocking_pairs": _RING_HEAD + """
    for phase in ("reduce", "gather"):
        for s in range(N - 1):
            send_i = (rank - s) % N if phase == "reduce" else (rank + 1 - s) % N
            recv_i = (send_i - 1) % N
            out, buf = chunks[send_i].clone(), torch.empty_like(chunks[recv_i])
            if rank % 2 == 0:
                dist.send(out, dst=right)
                dist.recv(buf, src=left)
            else:
                dist.recv(buf, src=left)
                dist.send(out, dst=right)
            sent += out.numel() * out.element_size()
            if phase == "reduce":
                chunks[recv_i].add_(buf)
            else:
                chunks[recv_i].copy_(buf)
    return sent
""",
    },
    "dp_train_step": {
        "flat_bucket": _DP_HEAD + """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.AVG)
    for g, part in zip(grads, torch.split(flat, [g.numel() for g in grads])):
        g.copy_(part.view_as(g))
    opt.step()
    logged = loss.detach().clone()
    dist.all_reduce(logged, op=dist.ReduceOp.AVG)
    return float(logged)
""",
    },
    "stale_sgd": {
        "history_list": """
def stale_sgd(grad_fn, w0, lr, steps, tau):
    w, hist = w0.clone(), [w0.clone()]
    for t in range(steps):
        w = w - lr * grad_fn(hist[max(0, t - tau)], t)
        hist.append(w)
    return torch.stack(hist)
""",
    },
    "shard_mlp": {
        "floor_boundaries": """
def shard_mlp(W1, b1, W2, rank, world_size):
    H = W1.shape[1]
    lo, hi = rank * H // world_size, (rank + 1) * H // world_size
    return W1[:, lo:hi], b1[lo:hi], W2[lo:hi, :]
""",
    },
    "tp_mlp": {
        "bias_on_rank_zero_only": """
def tp_mlp(x, W1_r, b1_r, W2_r, b2):
    y = F.gelu(x @ W1_r + b1_r) @ W2_r
    if dist.get_rank() == 0:
        y = y + b2
    dist.all_reduce(y)
    return y
""",
    },
    "head_parallel_attention": {
        "sdpa_per_rank": _HEADS_HEAD + _HEAD_COLS + """
    h = len(cols) // d_head
    q, k, v = ((x @ W[:, cols]).view(B, T, h, d_head).transpose(1, 2) for W in (Wq, Wk, Wv))
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    y = o.transpose(1, 2).reshape(B, T, h * d_head) @ Wo[cols, :]
    dist.all_reduce(y)
    return y
""",
    },
    "pipeline_forward": {
        "isend_and_preallocated_output": """
def pipeline_forward(stage, x, m):
    rank, p = dist.get_rank(), dist.get_world_size()
    pending, outs = [], []
    for mb in torch.tensor_split(x, m):
        if rank > 0:
            buf = torch.empty_like(mb)
            dist.recv(buf, src=rank - 1)
            mb = buf
        y = stage(mb).contiguous()
        if rank < p - 1:
            pending.append(dist.isend(y, dst=rank + 1))
        else:
            outs.append(y)
    for req in pending:
        req.wait()
    return torch.cat(outs) if rank == p - 1 else None
""",
    },
    "gpipe_schedule": {
        "by_ticks": """
def gpipe_schedule(p, m):
    grid = np.array([[t - s if 0 <= t - s < m else -1 for s in range(p)] for t in range(m + p - 1)])
    return grid, (p - 1) / (m + p - 1)
""",
    },
    "sharded_map": {
        "interleave": """
def sharded_map(fn, requests):
    rank, N = dist.get_rank(), dist.get_world_size()
    mine = [fn(requests[i]) for i in range(rank, len(requests), N)]
    everyone = [None] * N
    dist.all_gather_object(everyone, mine)
    out = [None] * len(requests)
    for r, part in enumerate(everyone):
        out[r::N] = part
    return out
""",
    },
    "lpt_assign": {
        "heap": """
import heapq


def lpt_assign(costs, n_workers):
    heap = [(0.0, w) for w in range(n_workers)]
    out = [[] for _ in range(n_workers)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        load, w = heapq.heappop(heap)
        out[w].append(i)
        heapq.heappush(heap, (load + costs[i], w))
    return out
""",
    },
    "fit_alpha_beta": {
        "polyfit": """
def fit_alpha_beta(n_bytes, seconds):
    beta, alpha = np.polyfit(np.asarray(n_bytes, float), np.asarray(seconds, float), 1)
    return float(alpha), float(beta)
""",
    },
    "ring_allreduce_time": {
        "expanded": """
def ring_allreduce_time(alpha, beta, n_bytes, N):
    steps = 2 * (N - 1)
    return steps * alpha + steps * beta * (n_bytes / N)
""",
    },
}
