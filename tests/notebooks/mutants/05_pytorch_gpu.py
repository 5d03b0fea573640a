# ruff: noqa: E501
"""Mutants for 05_pytorch_gpu: plausible wrong answers (must fail) and correct alternatives (must pass)."""

_BLOCK_HEAD = '''
class Block(nn.Module):
    def __init__(self, C, n_head, d_ff, eps=1e-5):
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.qkv = nn.Linear(C, 3 * C)
        self.out = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=eps)
        self.fc_in = nn.Linear(C, d_ff)
        self.fc_out = nn.Linear(d_ff, C)

    def forward(self, x):
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
'''

_BLOCK_TAIL = '''
        x = x + self.out(y)
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x)), approximate="tanh"))
'''


def _block(body: str, tail: str = _BLOCK_TAIL) -> str:
    return _BLOCK_HEAD + body + tail


_GPT_CLASS = '''
class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        C, V = config["d_model"], config["vocab_size"]
        self.tok_emb = nn.Embedding(V, C)
        self.pos_emb = nn.Embedding(config["block_size"], C)
        self.blocks = nn.ModuleList(Block(C, config["n_head"], config["d_ff"], config["ln_eps"])
                                    for _ in range(config["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=config["ln_eps"])
        self.head = nn.Linear(C, V)

    def forward(self, ids):
        T = ids.shape[-1]
{forward}
'''

_GOOD_FORWARD = '''        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))
'''

_LOAD = '''

def load_gpt(config, params):
    model = GPT(config)
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))
    with torch.no_grad():
        model.tok_emb.weight.copy_(t(params["tok_emb"]))
        model.pos_emb.weight.copy_(t(params["pos_emb"]))
        for i, b in enumerate(model.blocks):
            p = f"blocks.{{i}}."
            b.ln1.weight.copy_(t(params[p + "ln1.weight"]))
            b.ln1.bias.copy_(t(params[p + "ln1.bias"]))
            b.ln2.weight.copy_(t(params[p + "ln2.weight"]))
            b.ln2.bias.copy_(t(params[p + "ln2.bias"]))
            b.qkv.weight.copy_({tr}(t(params[p + "attn.w_qkv"])))
            b.qkv.bias.copy_(t(params[p + "attn.b_qkv"]))
            b.out.weight.copy_({sq}(t(params[p + "attn.w_out"])))
            b.out.bias.copy_(t(params[p + "attn.b_out"]))
            b.fc_in.weight.copy_({tr}(t(params[p + "mlp.w_in"])))
            b.fc_in.bias.copy_(t(params[p + "mlp.b_in"]))
            b.fc_out.weight.copy_({tr}(t(params[p + "mlp.w_out"])))
            b.fc_out.bias.copy_(t(params[p + "mlp.b_out"]))
        model.ln_f.weight.copy_(t(params["ln_f.weight"]))
        model.ln_f.bias.copy_(t(params["ln_f.bias"]))
        model.head.weight.copy_({tr}(t(params["head.w"])))
        model.head.bias.copy_(t(params["head.b"]))
    return model.eval()
'''


def _gpt(forward: str = _GOOD_FORWARD, tr: str = "torch.t", sq: str = "torch.t") -> str:
    return _GPT_CLASS.format(forward=forward) + _LOAD.format(tr=tr, sq=sq)


_STEP = '''
def block_step(block, x, cache, layer):
    B, T_new, C = x.shape
    H, D = block.n_head, C // block.n_head
    start, end = cache.length, cache.length + T_new
    q, k, v = block.qkv(block.ln1(x)).split(C, dim=-1)
    q, k, v = (t.view(B, T_new, H, D).transpose(1, 2) for t in (q, k, v))
{attend}
    y = (w @ vals).transpose(1, 2).reshape(B, T_new, C)
    x = x + block.out(y)
    return x + block.fc_out(F.gelu(block.fc_in(block.ln2(x)), approximate="tanh"))


def forward_cached(model, ids, cache):
    T_new = ids.shape[-1]
{embed}
    for layer, block in enumerate(model.blocks):
        x = block_step(block, x, cache, layer)
{advance}
    return model.head(model.ln_f(x))
'''

_GOOD_ATTEND = '''    cache.k[layer, :, :, start:end] = k
    cache.v[layer, :, :, start:end] = v
    keys, vals = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]
    s = q @ keys.transpose(-2, -1) / math.sqrt(D)
    ok = torch.ones(T_new, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
    w = s.masked_fill(~ok, float("-inf")).softmax(-1)'''
_GOOD_EMBED = "    x = model.tok_emb(ids) + model.pos_emb(torch.arange(cache.length, cache.length + T_new, device=ids.device))"
_GOOD_ADVANCE = "    cache.length += T_new"


def _step(attend: str = _GOOD_ATTEND, embed: str = _GOOD_EMBED, advance: str = _GOOD_ADVANCE) -> str:
    return _STEP.format(attend=attend, embed=embed, advance=advance)


_GEN = '''
@torch.no_grad()
def generate_cached(model, prompt_ids, n_new):
    p = next(model.parameters())
    cfg = model.config
    prompt_ids = prompt_ids.to(p.device)
{make_cache}
    out = [prompt_ids]
    logits = forward_cached(model, prompt_ids[None], cache)
    for i in range(n_new):
        nxt = logits[0, -1].argmax().view(1)
        out.append(nxt)
        if i < n_new - 1:
            logits = forward_cached(model, {feed}, cache)
    return torch.cat(out)
'''
_GOOD_CACHE = ('    cache = KVCache(cfg["n_layer"], 1, cfg["n_head"], len(prompt_ids) + n_new, '
               'cfg["d_model"] // cfg["n_head"], device=p.device, dtype=p.dtype)')

_OFFLOAD = '''
def offloaded_forward(model, ids, device, fetch):
    T = ids.shape[-1]
    ids = ids.to(device)
    x = model.tok_emb(ids) + model.pos_emb(torch.arange(T, device=ids.device))
{body}
    return model.head(model.ln_f(x))
'''

WRONG = {
    "pick_device": {
        "ignores_mps": '''
def pick_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
''',
        "mps_first": '''
def pick_device():
    if torch.backends.mps.is_available():
        return torch.device("mps")
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
''',
        "always_cpu": '''
def pick_device():
    return torch.device("cpu")
''',
    },
    "block": {
        "heads_split_along_sequence": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.reshape(B, H, T, D) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(D)
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        y = (s.softmax(-1) @ v).reshape(B, T, C)
'''),
        "scale_sqrt_C": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(C)
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
'''),
        "no_mask": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(D)
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
'''),
        "erf_gelu": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(D)
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
''', tail='''
        x = x + self.out(y)
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x))))
'''),
        "uses_sdpa": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
'''),
        "manual_softmax_no_max_shift": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(D)
        e = s.masked_fill(~torch.ones(T, T, dtype=torch.bool, device=x.device).tril(), float("-inf")).exp()
        y = ((e / e.sum(-1, keepdim=True)) @ v).transpose(1, 2).reshape(B, T, C)
'''),
        "no_residual_on_attention": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = q @ k.transpose(-2, -1) / math.sqrt(D)
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
''', tail='''
        x = self.out(y)
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x)), approximate="tanh"))
'''),
    },
    "gpt": {
        "no_transpose_when_square": _gpt(sq="(lambda w: w)"),
        "reshape_instead_of_transpose": _gpt(tr="(lambda w: w.reshape(w.shape[1], w.shape[0]))",
                                             sq="(lambda w: w.reshape(w.shape[1], w.shape[0]))"),
        "positions_from_one": _gpt(forward='''        x = self.tok_emb(ids) + self.pos_emb(torch.arange(1, T + 1, device=ids.device) % T)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))
'''),
        "no_final_layernorm": _gpt(forward='''        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(x)
'''),
    },
    "time_it": {
        "no_sync": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples)
''',
        "sync_before_work": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        sync()
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples)
''',
        "mean": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        samples.append(clock() - start)
    return sum(samples) / len(samples)
''',
        "minimum": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        samples.append(clock() - start)
    return min(samples)
''',
        "warmup_not_synced": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        samples.append(clock() - start)
    return statistics.median(samples)
''',
        "upper_middle_sample": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        samples.append(clock() - start)
    return sorted(samples)[len(samples) // 2]
''',
        "one_sync_at_the_end": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    sync()
    start = clock()
    for _ in range(repeat):
        fn()
    sync()
    return (clock() - start) / repeat
''',
    },
    "forward_cached": {
        "cache_never_read": _step(attend='''    cache.k[layer, :, :, start:end] = k
    cache.v[layer, :, :, start:end] = v
    keys, vals = k, v
    s = q @ keys.transpose(-2, -1) / math.sqrt(D)
    ok = torch.ones(T_new, T_new, dtype=torch.bool, device=x.device).tril()
    w = s.masked_fill(~ok, float("-inf")).softmax(-1)'''),
        "positions_restart_at_zero": _step(
            embed="    x = model.tok_emb(ids) + model.pos_emb(torch.arange(T_new, device=ids.device))"),
        "positions_one_late": _step(
            embed="    x = model.tok_emb(ids) + model.pos_emb(torch.arange(cache.length + 1, cache.length + T_new + 1))"),
        "length_not_advanced": _step(advance="    pass"),
        "manual_softmax_no_max_shift": _step(attend='''    cache.k[layer, :, :, start:end] = k
    cache.v[layer, :, :, start:end] = v
    keys, vals = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]
    s = q @ keys.transpose(-2, -1) / math.sqrt(D)
    ok = torch.ones(T_new, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
    e = s.masked_fill(~ok, float("-inf")).exp()
    w = e / e.sum(-1, keepdim=True)'''),
        "mask_not_offset": _step(attend='''    cache.k[layer, :, :, start:end] = k
    cache.v[layer, :, :, start:end] = v
    keys, vals = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]
    s = q @ keys.transpose(-2, -1) / math.sqrt(D)
    ok = torch.ones(T_new, end, dtype=torch.bool, device=x.device).tril()
    w = s.masked_fill(~ok, float("-inf")).softmax(-1)'''),
    },
    "generate_cached": {
        "default_dtype_cache": _GEN.format(
            make_cache='    cache = KVCache(cfg["n_layer"], 1, cfg["n_head"], len(prompt_ids) + n_new, '
                       'cfg["d_model"] // cfg["n_head"])', feed="nxt[None]"),
        "recompute_everything": '''
@torch.no_grad()
def generate_cached(model, prompt_ids, n_new):
    ids = prompt_ids[None].to(next(model.parameters()).device)
    for _ in range(n_new):
        ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[0]
''',
        "one_token_short": _GEN.format(make_cache=_GOOD_CACHE, feed="nxt[None]").replace(
            "for i in range(n_new):", "for i in range(n_new - 1):"),
        "feeds_whole_sequence": _GEN.format(
            make_cache=_GOOD_CACHE.replace("len(prompt_ids) + n_new", "cfg['block_size']").replace("'", '"'),
            feed="torch.cat(out)[None]"),
    },
    "offloaded_forward": {
        "moves_blocks_for_good": _OFFLOAD.format(body='''    for block in model.blocks:
        x = block.to(device)(x)'''),
        "fetches_everything_first": _OFFLOAD.format(body='''    all_weights = [{n: fetch(p, device) for n, p in b.named_parameters()} for b in model.blocks]
    for block, w in zip(model.blocks, all_weights):
        x = torch.func.functional_call(block, w, (x,))'''),
        "fetches_twice": _OFFLOAD.format(body='''    for block in model.blocks:
        w = {n: fetch(p, device) for n, p in block.named_parameters()}
        w = {n: fetch(p, device) for n, p in block.named_parameters()}
        x = torch.func.functional_call(block, w, (x,))'''),
    },
    "place_layers": {
        "size_must_be_below_what_is_left": '''
def place_layers(sizes, time_host, time_device, budget):
    n = len(sizes)
    best = [[0.0] * (budget + 1) for _ in range(n + 1)]
    for i in range(n):
        gain = time_host[i] - time_device[i]
        for c in range(budget + 1):
            best[i + 1][c] = best[i][c]
            if sizes[i] < c and gain > 0 and best[i][c - sizes[i]] + gain > best[i + 1][c]:
                best[i + 1][c] = best[i][c - sizes[i]] + gain
    placement, c = ["host"] * n, budget
    for i in range(n - 1, -1, -1):
        if best[i + 1][c] != best[i][c]:
            placement[i], c = "device", c - sizes[i]
    return placement
''',
        "greedy_by_saving": '''
def place_layers(sizes, time_host, time_device, budget):
    order = sorted(range(len(sizes)), key=lambda i: time_device[i] - time_host[i])
    out, used = ["host"] * len(sizes), 0
    for i in order:
        if time_host[i] > time_device[i] and used + sizes[i] <= budget:
            out[i], used = "device", used + sizes[i]
    return out
''',
        "greedy_by_saving_per_mib": '''
def place_layers(sizes, time_host, time_device, budget):
    order = sorted(range(len(sizes)), key=lambda i: -(time_host[i] - time_device[i]) / sizes[i])
    out, used = ["host"] * len(sizes), 0
    for i in order:
        if time_host[i] > time_device[i] and used + sizes[i] <= budget:
            out[i], used = "device", used + sizes[i]
    return out
''',
        "ignores_slower_device": '''
def place_layers(sizes, time_host, time_device, budget):
    n = len(sizes)
    best = (-1, None)
    for mask in range(2 ** n):
        pick = [(mask >> i) & 1 for i in range(n)]
        used = sum(s for s, p in zip(sizes, pick) if p)
        if used <= budget and used > best[0]:
            best = (used, pick)
    return ["device" if p else "host" for p in best[1]]
''',
    },
}

RIGHT = {
    "pick_device": {
        "strings": '''
def pick_device():
    mps = getattr(torch.backends, "mps", None)
    return "cuda" if torch.cuda.is_available() else "mps" if mps is not None and mps.is_available() else "cpu"
''',
    },
    "block": {
        "einsum_and_additive_mask_float64_ok": _block('''
        h = self.ln1(x)
        q, k, v = torch.chunk(self.qkv(h), 3, dim=-1)
        q, k, v = (t.reshape(B, T, H, D) for t in (q, k, v))
        s = torch.einsum("bihd,bjhd->bhij", q, k) * D ** -0.5
        s = s + torch.full((T, T), -1e9, dtype=x.dtype, device=x.device).triu(1)
        y = torch.einsum("bhij,bjhd->bihd", torch.softmax(s, dim=-1), v).reshape(B, T, C)
'''),
        "per_head_loop": _block('''
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        heads = []
        mask = torch.tril(torch.ones(T, T, device=x.device)) == 0
        for h in range(H):
            sl = slice(h * D, (h + 1) * D)
            s = q[..., sl] @ k[..., sl].transpose(1, 2) / D ** 0.5
            heads.append(torch.softmax(s.masked_fill(mask, -float("inf")), -1) @ v[..., sl])
        y = torch.cat(heads, dim=-1)
'''),
    },
    "gpt": {
        "copy_with_T": _gpt(tr="(lambda w: w.T)", sq="(lambda w: w.T)"),
    },
    "time_it": {
        "numpy_median_and_shared_clock": '''
def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=time.perf_counter):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    t0 = clock()
    for _ in range(repeat):
        fn()
        sync()
        t1 = clock()
        samples.append(t1 - t0)
        t0 = t1
    return float(np.median(samples))
''',
    },
    "forward_cached": {
        "whole_buffer_with_absolute_mask": _step(attend='''    cache.k[layer, :, :, start:end] = k
    cache.v[layer, :, :, start:end] = v
    keys, vals = cache.k[layer], cache.v[layer]
    s = q @ keys.transpose(-2, -1) / math.sqrt(D)
    ok = torch.ones(T_new, keys.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=start)
    w = s.masked_fill(~ok, float("-inf")).softmax(-1)'''),
        "decode_without_mask_and_index_copy": _step(attend='''    cache.k[layer].narrow(2, start, T_new).copy_(k)
    cache.v[layer].narrow(2, start, T_new).copy_(v)
    keys, vals = cache.k[layer][:, :, :end], cache.v[layer][:, :, :end]
    s = torch.einsum("bhqd,bhkd->bhqk", q, keys) / D ** 0.5
    if T_new > 1:
        pos_q = torch.arange(start, end, device=x.device)[:, None]
        pos_k = torch.arange(end, device=x.device)[None, :]
        s = s.masked_fill(pos_k > pos_q, -1e9)
    w = torch.softmax(s, dim=-1)'''),
    },
    "generate_cached": {
        "cache_of_block_size": _GEN.format(
            make_cache='    cache = KVCache(cfg["n_layer"], 1, cfg["n_head"], cfg["block_size"], '
                       'cfg["d_model"] // cfg["n_head"], p.device, p.dtype)', feed="nxt.view(1, 1)"),
    },
    "offloaded_forward": {
        "clear_dict_positional_input": '''
def offloaded_forward(model, ids, device, fetch):
    T = ids.shape[-1]
    ids = ids.to(device)
    x = model.tok_emb(ids) + model.pos_emb(torch.arange(T, device=ids.device))
    for block in model.blocks:
        weights = {name: fetch(p, device) for name, p in block.named_parameters()}
        x = torch.func.functional_call(block, weights, x)
        weights.clear()
    return model.head(model.ln_f(x))
''',
    },
    "place_layers": {
        "brute_force": '''
import itertools as _it


def place_layers(sizes, time_host, time_device, budget):
    best, best_pick = None, None
    for pick in _it.product((False, True), repeat=len(sizes)):
        if sum(s for s, p in zip(sizes, pick) if p) > budget:
            continue
        cost = sum(td if p else th for p, th, td in zip(pick, time_host, time_device))
        if best is None or cost < best:
            best, best_pick = cost, pick
    return ["device" if p else "host" for p in best_pick]
''',
    },
}
