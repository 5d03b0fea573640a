"""Visible self-checks of module 05_pytorch_gpu: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.checks import CheckFailed
from llmcourse.checks import pytorch_gpu as cp

# --- small implementations, right and wrong ------------------------------------------------------------------


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("mps" if torch.backends.mps.is_available() else "cpu")


class Block(nn.Module):
    def __init__(self, C, n_head, d_ff, eps=1e-5, causal=True):
        super().__init__()
        self.n_head, self.causal = n_head, causal
        self.ln1, self.ln2 = nn.LayerNorm(C, eps=eps), nn.LayerNorm(C, eps=eps)
        self.qkv, self.out = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc_in, self.fc_out = nn.Linear(C, d_ff), nn.Linear(d_ff, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in self.qkv(self.ln1(x)).split(C, -1))
        s = q @ k.transpose(-2, -1) / math.sqrt(C // self.n_head)
        if self.causal:
            s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        x = x + self.out((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x)), approximate="tanh"))


class NoMaskBlock(Block):
    def __init__(self, C, n_head, d_ff, eps=1e-5):
        super().__init__(C, n_head, d_ff, eps, causal=False)


class SdpaBlock(Block):
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, -1).transpose(1, 2) for t in self.qkv(self.ln1(x)).split(C, -1))
        x = x + self.out(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C))
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, config, pos_offset=0):
        super().__init__()
        self.config, self.pos_offset = dict(config), pos_offset
        C, V = config["d_model"], config["vocab_size"]
        self.tok_emb, self.pos_emb = nn.Embedding(V, C), nn.Embedding(config["block_size"] + 1, C)
        self.blocks = nn.ModuleList(Block(C, config["n_head"], config["d_ff"]) for _ in range(config["n_layer"]))
        self.ln_f, self.head = nn.LayerNorm(C), nn.Linear(C, V)

    def forward(self, ids):
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[-1]) + self.pos_offset)
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln_f(x))


def load_gpt(config, params, transpose_square=True, pos_offset=0):
    m = GPT(config, pos_offset)
    t = torch.from_numpy
    with torch.no_grad():
        m.tok_emb.weight.zero_()
        m.tok_emb.weight.copy_(t(params["tok_emb"]))
        m.pos_emb.weight[: config["block_size"]].copy_(t(params["pos_emb"]))
        for i, b in enumerate(m.blocks):
            p = f"blocks.{i}."
            for n in ("ln1", "ln2"):
                getattr(b, n).weight.copy_(t(params[p + n + ".weight"]))
                getattr(b, n).bias.copy_(t(params[p + n + ".bias"]))
            for mine, w, bias in (("qkv", "attn.w_qkv", "attn.b_qkv"), ("out", "attn.w_out", "attn.b_out"),
                                  ("fc_in", "mlp.w_in", "mlp.b_in"), ("fc_out", "mlp.w_out", "mlp.b_out")):
                weight = t(params[p + w])
                square = weight.shape[0] == weight.shape[1]
                getattr(b, mine).weight.copy_(weight.T if transpose_square or not square else weight)
                getattr(b, mine).bias.copy_(t(params[p + bias]))
        m.ln_f.weight.copy_(t(params["ln_f.weight"]))
        m.ln_f.bias.copy_(t(params["ln_f.bias"]))
        m.head.weight.copy_(t(params["head.w"]).T)
        m.head.bias.copy_(t(params["head.b"]))
    return m.eval()


class KVCache:
    def __init__(self, n_layer, B, n_head, max_T, d_head, device="cpu", dtype=torch.float32):
        self.k = torch.zeros(n_layer, B, n_head, max_T, d_head, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0


def forward_cached(model, ids, cache, read_cache=True, advance=True):
    T_new, L0 = ids.shape[-1], cache.length
    x = model.tok_emb(ids) + model.pos_emb(torch.arange(L0, L0 + T_new))
    for layer, b in enumerate(model.blocks):
        B, _, C = x.shape
        q, k, v = (t.view(B, T_new, b.n_head, -1).transpose(1, 2) for t in b.qkv(b.ln1(x)).split(C, -1))
        cache.k[layer, :, :, L0:L0 + T_new], cache.v[layer, :, :, L0:L0 + T_new] = k, v
        if read_cache:
            keys, vals, start = cache.k[layer, :, :, :L0 + T_new], cache.v[layer, :, :, :L0 + T_new], L0
        else:
            keys, vals, start = k, v, 0
        s = q @ keys.transpose(-2, -1) / math.sqrt(C // b.n_head)
        s = s.masked_fill(~torch.ones(T_new, keys.shape[2], dtype=torch.bool).tril(start), float("-inf"))
        x = x + b.out((s.softmax(-1) @ vals).transpose(1, 2).reshape(B, T_new, C))
        x = x + b.fc_out(F.gelu(b.fc_in(b.ln2(x)), approximate="tanh"))
    if advance:
        cache.length += T_new
    return model.head(model.ln_f(x))


@torch.no_grad()
def generate_cached(model, prompt, n_new, short=False):
    cfg = model.config
    cache = KVCache(cfg["n_layer"], 1, cfg["n_head"], len(prompt) + n_new, cfg["d_model"] // cfg["n_head"])
    out, logits = [prompt], forward_cached(model, prompt[None], cache)
    for i in range(n_new - short):
        out.append(logits[0, -1].argmax().view(1))
        if i < n_new - 1:
            logits = forward_cached(model, out[-1][None], cache)
    return torch.cat(out)


class Transfers:
    def __init__(self):
        self.count = self.bytes = 0

    def fetch(self, t, device):
        self.count += 1
        self.bytes += t.numel() * t.element_size()
        return t.to(device, copy=True)


def offloaded_forward(model, ids, device, fetch, twice=False):
    x = model.tok_emb(ids) + model.pos_emb(torch.arange(ids.shape[-1]))
    for b in model.blocks:
        w = {n: fetch(p, device) for n, p in b.named_parameters()}
        if twice:
            w = {n: fetch(p, device) for n, p in b.named_parameters()}
        x = torch.func.functional_call(b, w, (x,))
    return model.head(model.ln_f(x))


def time_it(fn, repeat=11, warmup=2, sync=lambda: None, clock=None, do_sync=True, reduce=statistics.median):
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        if do_sync:
            sync()
        samples.append(clock() - start)
    return reduce(samples)


def place_layers(sizes, time_host, time_device, budget):
    best = None
    for mask in range(2 ** len(sizes)):
        pick = [(mask >> i) & 1 for i in range(len(sizes))]
        if sum(s for s, p in zip(sizes, pick, strict=True) if p) <= budget:
            cost = sum(td if p else th for p, th, td in zip(pick, time_host, time_device, strict=True))
            if best is None or cost < best[0]:
                best = (cost, pick)
    return ["device" if p else "host" for p in best[1]]


def greedy_place(sizes, time_host, time_device, budget):
    out, used = ["host"] * len(sizes), 0
    for i in sorted(range(len(sizes)), key=lambda i: time_device[i] - time_host[i]):
        if time_host[i] > time_device[i] and used + sizes[i] <= budget:
            out[i], used = "device", used + sizes[i]
    return out


# --- right answers pass ----------------------------------------------------------------------------------------


def test_right_answers_pass(capsys):
    cp.pick_device(pick_device)
    cp.block(Block)
    cp.gpt(GPT, load_gpt)
    cp.time_it(lambda fn, repeat, warmup, sync, clock: time_it(fn, repeat, warmup, sync, clock))
    cp.forward_cached(forward_cached, load_gpt, KVCache)
    cp.generate_cached(generate_cached, load_gpt)
    cp.offloaded_forward(offloaded_forward, load_gpt, Transfers)
    cp.place_layers(place_layers)
    assert capsys.readouterr().out.count("✔") == 8


# --- wrong answers fail, naming the case -------------------------------------------------------------------------


@pytest.mark.parametrize("call, match", [
    (lambda: cp.pick_device(lambda: torch.device("cpu")), "cuda available=True"),
    (lambda: cp.pick_device(lambda: "gpu"), "expected a torch.device|expected 'cuda'"),
    (lambda: cp.block(NoMaskBlock), "differ from the reference"),
    (lambda: cp.block(SdpaBlock), "not allowed"),
    (lambda: cp.gpt(GPT, lambda c, p: load_gpt(c, p, transpose_square=False)), "one sequence of real text"),
    (lambda: cp.gpt(GPT, lambda c, p: load_gpt(c, p, pos_offset=1)), "differ from the reference"),
    (lambda: cp.time_it(lambda fn, repeat, warmup, sync, clock: time_it(fn, repeat, warmup, sync, clock,
                                                                        do_sync=False)), "asynchronous|median 3"),
    (lambda: cp.time_it(lambda fn, repeat, warmup, sync, clock: time_it(fn, repeat, warmup, sync, clock,
                                                                        reduce=min)), "median 3"),
    (lambda: cp.time_it(lambda fn, repeat, warmup, sync, clock: float("nan")), "called 0 times"),
    (lambda: cp.forward_cached(lambda m, i, c: forward_cached(m, i, c, read_cache=False), load_gpt, KVCache),
     "chunks"),
    (lambda: cp.forward_cached(lambda m, i, c: forward_cached(m, i, c, advance=False), load_gpt, KVCache),
     "chunks"),
    (lambda: cp.generate_cached(lambda m, p, n: generate_cached(m, p, n, short=True), load_gpt), "copy task"),
    (lambda: cp.offloaded_forward(lambda m, i, d, f: offloaded_forward(m, i, d, f, twice=True), load_gpt, Transfers),
     "transfer count"),
    (lambda: cp.place_layers(greedy_place), "largest saving first"),
    (lambda: cp.place_layers(lambda *a: None), "forget a `return`"),
])
def test_wrong_answers_fail(call, match):
    with pytest.raises(CheckFailed, match=match):
        call()


def test_not_implemented_is_reported():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        cp.time_it(stub)
    with pytest.raises(CheckFailed, match="not implemented yet"):
        cp.gpt(GPT, stub)
    with pytest.raises(CheckFailed, match="your load_gpt from section 2.2"):
        cp.forward_cached(forward_cached, stub, KVCache)


def test_exception_names_the_case():
    def broken(model, ids, cache):
        raise RuntimeError("boom")

    with pytest.raises(CheckFailed, match="raised RuntimeError: boom"):
        cp.forward_cached(broken, load_gpt, KVCache)


def test_library_attention_is_restored_after_a_check():
    sdpa = F.scaled_dot_product_attention
    with pytest.raises(CheckFailed):
        cp.block(SdpaBlock)
    assert F.scaled_dot_product_attention is sdpa
    q = torch.randn(1, 1, 2, 4)
    assert np.isfinite(F.scaled_dot_product_attention(q, q, q).numpy()).all()
