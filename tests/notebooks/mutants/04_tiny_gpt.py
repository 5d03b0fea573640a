"""Mutants for 04_tiny_gpt: plausible wrong answers (must fail) and correct alternatives (must pass)."""

WRONG = {
    "softmax": {
        "no_max_shift": """
def softmax(x, axis=-1):
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
""",
        "one_max_for_all": """
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=axis, keepdims=True)
""",
        "no_keepdims": """
def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis))
    return e / e.sum(axis=axis)
""",
    },
    "embed": {
        "positions_from_ids": """
def embed(ids, tok_emb, pos_emb):
    return tok_emb[ids] + pos_emb[ids]
""",
        "positions_from_one": """
def embed(ids, tok_emb, pos_emb):
    T = ids.shape[-1]
    return tok_emb[ids] + pos_emb[1:T + 1]
""",
        "no_positions": """
def embed(ids, tok_emb, pos_emb):
    return tok_emb[ids]
""",
    },
    "layer_norm": {
        "ddof_1": """
def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, ddof=1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias
""",
        "eps_outside_sqrt": """
def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / (np.sqrt(var) + eps) * weight + bias
""",
        "wrong_axis": """
def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias
""",
        "no_eps": """
def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / x.std(axis=-1, keepdims=True) * weight + bias
""",
    },
    "gelu": {
        "exact_erf": """
import math
def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))
""",
        "relu": """
def gelu(x):
    return np.maximum(x, 0.0)
""",
        "sqrt2_over_pi_typo": """
def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0) / np.pi * (x + 0.044715 * x**3)))
""",
        "no_cubic_term": """
def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * x))
""",
        "tanh_written_with_exp": """
def gelu(x):
    e = np.exp(2.0 * np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3))
    return 0.5 * x * (1.0 + (e - 1.0) / (e + 1.0))
""",
    },
    "mlp": {
        "relu": """
def mlp(x, w_in, b_in, w_out, b_out):
    return np.maximum(x @ w_in + b_in, 0.0) @ w_out + b_out
""",
        "no_b_in": """
def mlp(x, w_in, b_in, w_out, b_out):
    return gelu(x @ w_in) @ w_out + b_out
""",
        "gelu_at_the_end": """
def mlp(x, w_in, b_in, w_out, b_out):
    return gelu((x @ w_in + b_in) @ w_out + b_out)
""",
    },
    "causal_self_attention": {
        "no_mask": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in (q, k, v))
    w = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(d), axis=-1)
    return np.swapaxes(w @ v, -3, -2).reshape(*lead, T, C) @ w_out + b_out
""",
        "mask_hides_the_past": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    s = np.where(np.tril(np.ones((T, T), dtype=bool), k=-1), -np.inf, s)
    w = softmax(s, axis=-1)
    return np.swapaxes(w @ v, -3, -2).reshape(*lead, T, C) @ w_out + b_out
""",
        "scale_by_sqrt_C": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(C)
    s = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s)
    return np.swapaxes(softmax(s, axis=-1) @ v, -3, -2).reshape(*lead, T, C) @ w_out + b_out
""",
        "heads_split_the_sequence": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (t.reshape(*lead, n_head, T, d) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    s = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s)
    return (softmax(s, axis=-1) @ v).reshape(*lead, T, C) @ w_out + b_out
""",
        "k_q_v_order": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    k, q, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    s = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s)
    return np.swapaxes(softmax(s, axis=-1) @ v, -3, -2).reshape(*lead, T, C) @ w_out + b_out
""",
        "own_softmax_no_max_shift": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    e = np.exp(np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s))
    w = e / e.sum(axis=-1, keepdims=True)
    return np.swapaxes(w @ v, -3, -2).reshape(*lead, T, C) @ w_out + b_out
""",
        "no_output_bias": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    s = np.where(np.triu(np.ones((T, T), dtype=bool), k=1), -np.inf, s)
    return np.swapaxes(softmax(s, axis=-1) @ v, -3, -2).reshape(*lead, T, C) @ w_out
""",
    },
    "transformer_block": {
        "post_norm": """
def transformer_block(x, p, n_head, eps=1e-5):
    a = causal_self_attention(x, p["attn.w_qkv"], p["attn.b_qkv"], p["attn.w_out"], p["attn.b_out"], n_head)
    x = layer_norm(x + a, p["ln1.weight"], p["ln1.bias"], eps)
    m = mlp(x, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])
    return layer_norm(x + m, p["ln2.weight"], p["ln2.bias"], eps)
""",
        "parallel_branches": """
def transformer_block(x, p, n_head, eps=1e-5):
    h1 = layer_norm(x, p["ln1.weight"], p["ln1.bias"], eps)
    h2 = layer_norm(x, p["ln2.weight"], p["ln2.bias"], eps)
    a = causal_self_attention(h1, p["attn.w_qkv"], p["attn.b_qkv"], p["attn.w_out"], p["attn.b_out"], n_head)
    return x + a + mlp(h2, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])
""",
        "ln1_for_both": """
def transformer_block(x, p, n_head, eps=1e-5):
    h = layer_norm(x, p["ln1.weight"], p["ln1.bias"], eps)
    x = x + causal_self_attention(h, p["attn.w_qkv"], p["attn.b_qkv"], p["attn.w_out"], p["attn.b_out"], n_head)
    h = layer_norm(x, p["ln1.weight"], p["ln1.bias"], eps)
    return x + mlp(h, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])
""",
        "no_attention_residual": """
def transformer_block(x, p, n_head, eps=1e-5):
    h = layer_norm(x, p["ln1.weight"], p["ln1.bias"], eps)
    x = causal_self_attention(h, p["attn.w_qkv"], p["attn.b_qkv"], p["attn.w_out"], p["attn.b_out"], n_head)
    h = layer_norm(x, p["ln2.weight"], p["ln2.bias"], eps)
    return x + mlp(h, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])
""",
        "eps_not_passed_on": """
def transformer_block(x, p, n_head, eps=1e-5):
    h = layer_norm(x, p["ln1.weight"], p["ln1.bias"])
    x = x + causal_self_attention(h, p["attn.w_qkv"], p["attn.b_qkv"], p["attn.w_out"], p["attn.b_out"], n_head)
    h = layer_norm(x, p["ln2.weight"], p["ln2.bias"])
    return x + mlp(h, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])
""",
    },
    "gpt_forward": {
        "no_final_layer_norm": """
def gpt_forward(ids, config, params):
    x = embed(ids, params["tok_emb"], params["pos_emb"])
    for i in range(config["n_layer"]):
        x = transformer_block(x, block_params(params, i), config["n_head"], config["ln_eps"])
    return x @ params["head.w"] + params["head.b"]
""",
        "no_positions": """
def gpt_forward(ids, config, params):
    x = params["tok_emb"][ids]
    for i in range(config["n_layer"]):
        x = transformer_block(x, block_params(params, i), config["n_head"], config["ln_eps"])
    x = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], config["ln_eps"])
    return x @ params["head.w"] + params["head.b"]
""",
        "blocks_in_reverse": """
def gpt_forward(ids, config, params):
    x = embed(ids, params["tok_emb"], params["pos_emb"])
    for i in reversed(range(config["n_layer"])):
        x = transformer_block(x, block_params(params, i), config["n_head"], config["ln_eps"])
    x = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], config["ln_eps"])
    return x @ params["head.w"] + params["head.b"]
""",
        "ignores_config_eps": """
def gpt_forward(ids, config, params):
    x = embed(ids, params["tok_emb"], params["pos_emb"])
    for i in range(config["n_layer"]):
        x = transformer_block(x, block_params(params, i), config["n_head"])
    x = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"])
    return x @ params["head.w"] + params["head.b"]
""",
        "tied_head": """
def gpt_forward(ids, config, params):
    x = embed(ids, params["tok_emb"], params["pos_emb"])
    for i in range(config["n_layer"]):
        x = transformer_block(x, block_params(params, i), config["n_head"], config["ln_eps"])
    x = layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], config["ln_eps"])
    return x @ params["tok_emb"].T + params["head.b"]
""",
    },
    "count_params": {
        "no_biases": """
def count_params(config):
    V, L, C, F = config["vocab_size"], config["n_layer"], config["d_model"], config["d_ff"]
    per_block = 4 * C + 3 * C * C + C * C + C * F + F * C
    return V * C + config["block_size"] * C + L * per_block + 2 * C + C * V
""",
        "no_layer_norms": """
def count_params(config):
    V, L, C, F = config["vocab_size"], config["n_layer"], config["d_model"], config["d_ff"]
    per_block = (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C)
    return V * C + config["block_size"] * C + L * per_block + C * V + V
""",
        "position_table_sized_by_vocab": """
def count_params(config):
    V, L, C, F = config["vocab_size"], config["n_layer"], config["d_model"], config["d_ff"]
    per_block = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C)
    return V * C + V * C + L * per_block + 2 * C + C * V + V
""",
        "assumes_d_ff_4C": """
def count_params(config):
    V, L, C = config["vocab_size"], config["n_layer"], config["d_model"]
    F = 4 * C
    per_block = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C)
    return V * C + config["block_size"] * C + L * per_block + 2 * C + C * V + V
""",
    },
    "cross_entropy": {
        "log2": """
def cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(-1, keepdims=True)
    logp = (z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))) / np.log(2)
    return float(-np.take_along_axis(logp, np.asarray(targets)[..., None], -1).mean())
""",
        "sum_not_mean": """
def cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(-1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
    return float(-np.take_along_axis(logp, np.asarray(targets)[..., None], -1).sum())
""",
        "log_of_softmax": """
def cross_entropy(logits, targets):
    p = softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    return float(-np.log(np.take_along_axis(p, np.asarray(targets)[..., None], -1)).mean())
""",
        "picks_from_the_wrong_axis": """
def cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(-1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
    return float(-logp[..., targets].mean())
""",
    },
    "top_k_filter": {
        "exactly_k_ignoring_ties": """
def top_k_filter(logits, k):
    z = np.asarray(logits, dtype=np.float64)
    keep = np.argsort(-z, kind="stable")[:k]
    out = np.full_like(z, -np.inf)
    out[keep] = z[keep]
    return out
""",
        "keeps_the_smallest": """
def top_k_filter(logits, k):
    z = np.asarray(logits, dtype=np.float64)
    if k >= len(z):
        return z.copy()
    return np.where(z <= np.sort(z)[k - 1], z, -np.inf)
""",
        "off_by_one_threshold": """
def top_k_filter(logits, k):
    z = np.asarray(logits, dtype=np.float64)
    if k >= len(z):
        return z.copy()
    return np.where(z > np.sort(z)[-k - 1], z, -np.inf)
""",
        "returns_probabilities": """
def top_k_filter(logits, k):
    z = np.asarray(logits, dtype=np.float64)
    kth = np.sort(z)[-min(k, len(z))]
    return softmax(np.where(z >= kth, z, -np.inf))
""",
    },
    "top_p_filter": {
        "keeps_too_few": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    order = np.argsort(-probs, kind="stable")
    keep = order[np.cumsum(probs[order]) <= p]
    out = np.full_like(z, -np.inf)
    out[keep] = z[keep]
    return out
""",
        "keeps_too_few_but_at_least_one": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    order = np.argsort(-probs, kind="stable")
    n = max(1, int(np.sum(np.cumsum(probs[order]) <= p)))
    out = np.full_like(z, -np.inf)
    out[order[:n]] = z[order[:n]]
    return out
""",
        "splits_ties": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    keep = order[before < p]
    out = np.full_like(z, -np.inf)
    out[keep] = z[keep]
    return out
""",
        "least_likely_first": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    order = np.argsort(probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    keep = order[before < p]
    out = np.full_like(z, -np.inf)
    out[keep] = z[keep]
    return out
""",
        "probabilities_without_max_shift": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = np.exp(z) / np.exp(z).sum()
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    threshold = probs[order[int(np.sum(before < p)) - 1]]
    return np.where(probs >= threshold, z, -np.inf)
""",
        "unnormalised_probabilities": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    w = np.exp(z - z.max())
    above = ((w[None, :] > w[:, None]) * w[None, :]).sum(axis=1)
    return np.where(above < p, z, -np.inf)
""",
    },
    "sample_next": {
        "temperature_after_softmax": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    probs = softmax(z) / temperature
    return int(rng.choice(len(probs), p=probs / probs.sum()))
""",
        "top_p_before_temperature": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    probs = softmax(z / temperature)
    return int(rng.choice(len(probs), p=probs))
""",
        "own_softmax_no_max_shift": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    e = np.exp(z)
    return int(rng.choice(len(e), p=e / e.sum()))
""",
        "always_greedy": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    return int(np.argmax(logits))
""",
        "global_random_state": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    probs = softmax(z)
    return int(np.random.choice(len(probs), p=probs))
""",
        "not_renormalised_after_filtering": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    probs = softmax(z)
    if top_k is not None:
        probs = np.where(top_k_filter(z, top_k) > -np.inf, probs, 0.0)
    if top_p is not None:
        probs = np.where(top_p_filter(z, top_p) > -np.inf, probs, 0.0)
    i = int(np.searchsorted(np.cumsum(probs), rng.random(), side="right"))
    return min(i, len(probs) - 1)
""",
    },
    "generate": {
        "no_crop": """
def generate(forward, prompt_ids, n_new, rng, block_size, temperature=1.0, top_k=None, top_p=None):
    ids = [int(i) for i in prompt_ids]
    for _ in range(n_new):
        ids.append(sample_next(forward(np.array(ids))[-1], rng, temperature, top_k, top_p))
    return np.array(ids)
""",
        "crops_the_start": """
def generate(forward, prompt_ids, n_new, rng, block_size, temperature=1.0, top_k=None, top_p=None):
    ids = [int(i) for i in prompt_ids]
    for _ in range(n_new):
        ids.append(sample_next(forward(np.array(ids[:block_size]))[-1], rng, temperature, top_k, top_p))
    return np.array(ids)
""",
        "first_position_logits": """
def generate(forward, prompt_ids, n_new, rng, block_size, temperature=1.0, top_k=None, top_p=None):
    ids = [int(i) for i in prompt_ids]
    for _ in range(n_new):
        ids.append(sample_next(forward(np.array(ids[-block_size:]))[0], rng, temperature, top_k, top_p))
    return np.array(ids)
""",
        "returns_only_new_tokens": """
def generate(forward, prompt_ids, n_new, rng, block_size, temperature=1.0, top_k=None, top_p=None):
    ids = [int(i) for i in prompt_ids]
    for _ in range(n_new):
        ids.append(sample_next(forward(np.array(ids[-block_size:]))[-1], rng, temperature, top_k, top_p))
    return np.array(ids[len(prompt_ids):])
""",
    },
    "answers": {
        "top_p_keeps_too_few": """
answer_uniform_perplexity = 48
answer_top_p_kept = 2
answer_n_logits = 19200
""",
        "perplexity_in_nats": """
answer_uniform_perplexity = float(np.log(48))
answer_top_p_kept = 3
answer_n_logits = 19200
""",
        "one_logit_per_sequence": """
answer_uniform_perplexity = 48
answer_top_p_kept = 3
answer_n_logits = 4 * 48
""",
    },
}

RIGHT = {
    "softmax": {
        "log_sum_exp": """
def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.exp(x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)))
""",
    },
    "embed": {
        "one_hot_matmul": """
def embed(ids, tok_emb, pos_emb):
    V = tok_emb.shape[0]
    T = ids.shape[-1]
    return np.eye(V)[ids] @ tok_emb + pos_emb[np.arange(T)]
""",
        "np_take": """
def embed(ids, tok_emb, pos_emb):
    return np.take(tok_emb, ids, axis=0) + np.take(pos_emb, np.arange(ids.shape[-1]), axis=0)
""",
    },
    "layer_norm": {
        "np_var_float64": """
def layer_norm(x, weight, bias, eps=1e-5):
    x64 = np.asarray(x, dtype=np.float64)
    mu = np.mean(x64, axis=-1, keepdims=True)
    var = np.var(x64, axis=-1, keepdims=True)
    return (x64 - mu) * (1.0 / np.sqrt(var + eps)) * weight + bias
""",
        "e_x2_minus_mean2": """
def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = (x * x).mean(axis=-1, keepdims=True) - mu * mu
    return weight * (x - mu) / np.sqrt(np.maximum(var, 0.0) + eps) + bias
""",
    },
    "gelu": {
        "sigmoid_form": """
def gelu(x):
    a = 0.7978845608028654 * (x + 0.044715 * x**3)
    return x / (1.0 + np.exp(-2.0 * a))
""",
        "literal_constant": """
def gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
""",
    },
    "mlp": {
        "einsum": """
def mlp(x, w_in, b_in, w_out, b_out):
    h = gelu(np.einsum("...c,cf->...f", x, w_in) + b_in)
    return np.einsum("...f,fc->...c", h, w_out) + b_out
""",
    },
    "causal_self_attention": {
        "loop_over_heads_minus_1e9": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    T, C = x.shape[-2:]
    d = C // n_head
    qkv = x @ w_qkv + b_qkv
    allowed = np.tril(np.ones((T, T)))
    outs = []
    for h in range(n_head):
        q = qkv[..., h * d:(h + 1) * d]
        k = qkv[..., C + h * d:C + (h + 1) * d]
        v = qkv[..., 2 * C + h * d:2 * C + (h + 1) * d]
        s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d) + (1.0 - allowed) * -1e9
        outs.append(softmax(s, axis=-1) @ v)
    return np.concatenate(outs, axis=-1) @ w_out + b_out
""",
        "einsum_float32": """
def causal_self_attention(x, w_qkv, b_qkv, w_out, b_out, n_head):
    *lead, T, C = x.shape
    d = C // n_head
    qkv = (x @ w_qkv + b_qkv).reshape(*lead, T, 3, n_head, d)
    q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
    s = np.einsum("...ihd,...jhd->...hij", q, k) / np.sqrt(d)
    s = np.where(np.arange(T)[None, :] > np.arange(T)[:, None], -np.inf, s)
    w = softmax(s, axis=-1)
    return np.einsum("...hij,...jhd->...ihd", w, v).reshape(*lead, T, C) @ w_out + b_out
""",
    },
    "transformer_block": {
        "inlined": """
def transformer_block(x, p, n_head, eps=1e-5):
    def ln(y, w, b):
        mu = y.mean(-1, keepdims=True)
        return (y - mu) / np.sqrt(y.var(-1, keepdims=True) + eps) * w + b
    a = causal_self_attention(ln(x, p["ln1.weight"], p["ln1.bias"]), p["attn.w_qkv"], p["attn.b_qkv"],
                              p["attn.w_out"], p["attn.b_out"], n_head)
    x = x + a
    h = ln(x, p["ln2.weight"], p["ln2.bias"]) @ p["mlp.w_in"] + p["mlp.b_in"]
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    return x + h @ p["mlp.w_out"] + p["mlp.b_out"]
""",
    },
    "gpt_forward": {
        "float64_with_prefix_strings": """
def gpt_forward(ids, config, params):
    P = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    T = ids.shape[-1]
    x = P["tok_emb"][ids] + P["pos_emb"][:T]
    for i in range(config["n_layer"]):
        p = {k.split(".", 2)[2]: v for k, v in P.items() if k.startswith(f"blocks.{i}.")}
        x = transformer_block(x, p, config["n_head"], eps=config["ln_eps"])
    x = layer_norm(x, P["ln_f.weight"], P["ln_f.bias"], config["ln_eps"])
    return x @ P["head.w"] + P["head.b"]
""",
    },
    "count_params": {
        "sum_of_shapes": """
def count_params(config):
    V, T, L = config["vocab_size"], config["block_size"], config["n_layer"]
    C, F = config["d_model"], config["d_ff"]
    shapes = [(V, C), (T, C), (C,), (C,), (C, V), (V,)]
    shapes += L * [(C,), (C,), (C, 3 * C), (3 * C,), (C, C), (C,), (C,), (C,), (C, F), (F,), (F, C), (C,)]
    return int(sum(np.prod(s) for s in shapes))
""",
    },
    "cross_entropy": {
        "logaddexp_reduce": """
def cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    lse = np.logaddexp.reduce(z, axis=-1)
    y = np.asarray(targets)
    picked = np.take_along_axis(z, y[..., None], axis=-1)[..., 0]
    return (lse - picked).mean()
""",
        "one_hot": """
def cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    onehot = np.eye(z.shape[-1])[targets]
    return float(-(onehot * logp).sum(-1).mean())
""",
    },
    "top_k_filter": {
        "argpartition_minus_1e9": """
def top_k_filter(logits, k):
    z = np.array(logits, dtype=np.float64)
    k = min(k, z.size)
    kth = z[np.argpartition(z, -k)[-k]]
    z[z < kth] = -1e9
    return z
""",
    },
    "top_p_filter": {
        "pairwise_rule": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    above = np.array([probs[probs > q].sum() for q in probs])
    return np.where(above < p, z, -np.inf)
""",
        "descending_sort_minus_1e9": """
def top_p_filter(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    probs = softmax(z)
    s = np.sort(probs)[::-1]
    before = np.concatenate([[0.0], np.cumsum(s)[:-1]])
    smallest_kept = s[before < p].min()
    return np.where(probs >= smallest_kept, z, -1e9)
""",
    },
    "sample_next": {
        "inverse_cdf": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    cdf = np.cumsum(softmax(z))
    return int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
""",
        "gumbel_max": """
def sample_next(logits, rng, temperature=1.0, top_k=None, top_p=None):
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    return int(np.argmax(z + rng.gumbel(size=z.shape)))
""",
    },
    "generate": {
        "array_append": """
def generate(forward, prompt_ids, n_new, rng, block_size, temperature=1.0, top_k=None, top_p=None):
    ids = np.asarray(prompt_ids, dtype=np.int64).copy()
    for _ in range(n_new):
        ctx = ids[max(0, len(ids) - block_size):]
        nxt = sample_next(forward(ctx)[-1], rng, temperature=temperature, top_k=top_k, top_p=top_p)
        ids = np.append(ids, nxt)
    return ids
""",
    },
    "answers": {
        "floats_and_expressions": """
answer_uniform_perplexity = float(np.exp(np.log(48)))
answer_top_p_kept = 3.0
answer_n_logits = 4 * 100 * len(tok.vocab)
""",
    },
}
