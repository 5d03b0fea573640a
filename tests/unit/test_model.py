"""The reference tiny GPT and its shipped checkpoint: NumPy agrees with PyTorch, it beats a bigram, it loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmcourse import model as M
from llmcourse.data import TASKS, VOCAB, CharTokenizer, load_corpus


@pytest.fixture(scope="module")
def ckpt() -> tuple[dict, dict[str, np.ndarray]]:
    return M.load_numpy(M.CHECKPOINT)


@pytest.fixture(scope="module")
def net() -> M.TinyGPT:
    return M.load_checkpoint(M.CHECKPOINT)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _numpy_forward(ids: np.ndarray, config: dict, params: dict[str, np.ndarray]) -> np.ndarray:
    """Independent float64 forward pass from the documented layout: ids (T,) -> logits (T, V)."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    T, C, H = len(ids), config["d_model"], config["n_head"]
    D, eps = C // H, config["ln_eps"]
    x = p["tok_emb"][ids] + p["pos_emb"][:T]
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    for i in range(config["n_layer"]):
        b = f"blocks.{i}."
        h = _layer_norm(x, p[b + "ln1.weight"], p[b + "ln1.bias"], eps)
        q, k, v = np.split(h @ p[b + "attn.w_qkv"] + p[b + "attn.b_qkv"], 3, axis=-1)
        q, k, v = (t.reshape(T, H, D).transpose(1, 0, 2) for t in (q, k, v))
        s = np.where(future, -np.inf, q @ k.transpose(0, 2, 1) / np.sqrt(D))
        w = np.exp(s - s.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
        x = x + (w @ v).transpose(1, 0, 2).reshape(T, C) @ p[b + "attn.w_out"] + p[b + "attn.b_out"]
        h = _layer_norm(x, p[b + "ln2.weight"], p[b + "ln2.bias"], eps)
        u = h @ p[b + "mlp.w_in"] + p[b + "mlp.b_in"]
        u = 0.5 * u * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (u + 0.044715 * u**3)))
        x = x + u @ p[b + "mlp.w_out"] + p[b + "mlp.b_out"]
    return _layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], eps) @ p["head.w"] + p["head.b"]


def test_checkpoint_layout_is_the_documented_one(ckpt):
    config, params = ckpt
    assert config["vocab_size"] == len(VOCAB) and config["d_ff"] == 4 * config["d_model"]
    assert list(params) == M.parameter_names(config)
    C, V, F = config["d_model"], config["vocab_size"], config["d_ff"]
    assert params["tok_emb"].shape == (V, C) and params["pos_emb"].shape == (config["block_size"], C)
    assert params["blocks.0.attn.w_qkv"].shape == (C, 3 * C) and params["blocks.0.mlp.w_in"].shape == (C, F)
    assert params["head.w"].shape == (C, V)
    assert all(a.dtype == np.float32 for a in params.values())
    assert M.CHECKPOINT.stat().st_size < 4.5e6


@pytest.mark.parametrize("T", [1, 9, 64, 128])
def test_numpy_forward_matches_torch(ckpt, net, T):
    config, params = ckpt
    ids = np.random.default_rng(T).integers(0, config["vocab_size"], size=T)
    got = _numpy_forward(ids, config, params)
    with torch.no_grad():
        ref64 = M.from_numpy(config, params).double()(torch.as_tensor(ids)).numpy()
        ref32 = net(torch.as_tensor(ids)).numpy()
    np.testing.assert_allclose(got, ref64, rtol=1e-9, atol=1e-9)  # same arithmetic in float64: equal
    np.testing.assert_allclose(got, ref32, rtol=1e-5, atol=1e-4)  # torch's float32 rounding reaches ~3e-5


def test_forward_is_causal_and_batched(net):
    ids = torch.as_tensor(np.random.default_rng(1).integers(0, len(VOCAB), size=(2, 20)))
    changed = ids.clone()
    changed[:, 12:] = (changed[:, 12:] + 5) % len(VOCAB)
    with torch.no_grad():
        a, b = net(ids), net(changed)
        single = net(ids[1])
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])
    torch.testing.assert_close(a[1], single, rtol=1e-5, atol=1e-5)


def test_beats_the_bigram_baseline(net):
    tok = CharTokenizer()
    V = len(VOCAB)
    train, val = tok.encode(load_corpus("train")), load_corpus("val")[:4000]
    counts = np.ones((V, V))
    np.add.at(counts, (train[:-1], train[1:]), 1.0)
    logp = np.log(counts / counts.sum(axis=1, keepdims=True))
    v = tok.encode(val)
    bigram = float(np.exp(-logp[v[:-1], v[1:]].mean()))
    ours = M.perplexity(net, val)
    assert 5.0 < bigram < 12.0
    assert ours < 0.75 * bigram, (ours, bigram)


def test_save_load_round_trip_is_exact(net, ckpt, tmp_path):
    path = M.save_checkpoint(net, tmp_path / "copy.npz")
    config, params = M.load_numpy(path)
    assert config == ckpt[0]
    assert params.keys() == ckpt[1].keys()
    assert all(np.array_equal(params[k], ckpt[1][k]) for k in params)
    again = M.load_checkpoint(path)
    for (n1, p1), (n2, p2) in zip(net.state_dict().items(), again.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)


def test_generate_extends_the_prompt_greedily(net):
    prompt = CharTokenizer().encode("\nthe ")
    out = M.generate(net, prompt, 12)
    assert out.shape == (len(prompt) + 12,) and np.array_equal(out[: len(prompt)], prompt)
    with torch.no_grad():
        first = int(net(torch.as_tensor(prompt))[-1].argmax())
    assert out[len(prompt)] == first
    sampled = [M.generate(net, prompt, 12, greedy=False, temperature=1.0, seed=s) for s in (3, 3, 4)]
    assert np.array_equal(sampled[0], sampled[1])


def test_task_accuracy_matches_the_report(net):
    report = json.loads(M.REPORT.read_text())
    n = report["task_examples"]
    for task in TASKS:
        acc = M.task_accuracy(net, task, n=n, seed=report["task_seed"])
        assert abs(acc - report["task_accuracy"][task]) <= 0.03, (task, acc, report["task_accuracy"][task])
    assert report["task_accuracy"]["copy"] >= 0.9
    assert min(report["task_accuracy"].values()) >= 0.1
    assert report["val_perplexity"] < report["bigram_val_perplexity"]


@pytest.mark.slow
def test_a_short_training_run_reduces_the_loss(tmp_path):
    from llmcourse.train import train

    cfg = M.GPTConfig(n_layer=1, n_head=2, d_model=32, block_size=32)
    model, history = train(cfg, steps=30, seed=1, batch_size=8, lr=1e-2, eval_every=15, progress=False)
    first, last = np.mean(history["train_loss"][:5]), np.mean(history["train_loss"][-5:])
    assert last < first - 0.3, (first, last)
    assert history["val_loss"][-1] < history["val_loss"][0] + 1e-9
    config, params = M.load_numpy(M.save_checkpoint(model, tmp_path / "tiny.npz"))
    assert config["d_model"] == 32 and params["tok_emb"].shape == (len(VOCAB), 32)


def test_forward_params_matches_the_reference_and_runs_cut_models():
    cfg, p = M.load_numpy()
    ids = np.random.default_rng(3).integers(0, cfg["vocab_size"], (2, 33))
    ref = M.from_numpy(cfg, p)(torch.as_tensor(ids)).detach().numpy()
    assert np.allclose(M.forward_params(cfg, p, ids), ref, atol=1e-4)
    d, C = cfg["d_model"] // cfg["n_head"], cfg["d_model"]
    keep = [h for h in range(cfg["n_head"]) if h != 1]
    cols = np.concatenate([np.arange(j * C + h * d, j * C + (h + 1) * d) for j in range(3) for h in keep])
    rows = np.concatenate([np.arange(h * d, (h + 1) * d) for h in keep])
    cut, masked = dict(p), dict(p)
    cut["blocks.0.attn.w_qkv"] = p["blocks.0.attn.w_qkv"][:, cols]
    cut["blocks.0.attn.b_qkv"] = p["blocks.0.attn.b_qkv"][cols]
    cut["blocks.0.attn.w_out"] = p["blocks.0.attn.w_out"][rows]
    cut["blocks.1.mlp.w_in"] = p["blocks.1.mlp.w_in"][:, ::2]
    cut["blocks.1.mlp.b_in"] = p["blocks.1.mlp.b_in"][::2]
    cut["blocks.1.mlp.w_out"] = p["blocks.1.mlp.w_out"][::2]
    w_out = p["blocks.0.attn.w_out"].copy()
    w_out[d:2 * d] = 0
    masked["blocks.0.attn.w_out"] = w_out
    m_out = p["blocks.1.mlp.w_out"].copy()
    m_out[1::2] = 0
    masked["blocks.1.mlp.w_out"] = m_out
    assert np.allclose(M.forward_params(cfg, cut, ids), M.forward_params(cfg, masked, ids), atol=1e-4)
    gone = dict(p, **{"blocks.2.attn.w_out": p["blocks.2.attn.w_out"][:0]})  # every head of layer 2 removed
    assert M.forward_params(cfg, gone, ids).shape == ref.shape
