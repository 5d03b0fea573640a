"""Mutants for 00_welcome: plausible wrong answers the tests must reject, correct alternatives they must accept."""

WRONG = {
    "pick_device": {
        "key_presence": '''def pick_device(report):
    if "cuda" in report:
        return "cuda"
    if "mps" in report:
        return "mps"
    return "cpu"
''',
        "mps_before_cuda": '''def pick_device(report):
    if report.get("mps"):
        return "mps"
    if report.get("cuda"):
        return "cuda"
    return "cpu"
''',
        "missing_key_crashes": '''def pick_device(report):
    if report["cuda"]:
        return "cuda"
    if report["mps"]:
        return "mps"
    return "cpu"
''',
        "ignores_mps": '''def pick_device(report):
    return "cuda" if report.get("cuda") else "cpu"
''',
    },
    "bigram_counts": {
        "self_pairs": '''def bigram_counts(ids, V):
    ids = np.asarray(ids, dtype=np.int64)
    return np.bincount(ids * V + ids, minlength=V * V).reshape(V, V)
''',
        "roll_wraparound": '''def bigram_counts(ids, V):
    ids = np.asarray(ids, dtype=np.int64)
    nxt = np.roll(ids, -1)
    return np.bincount(ids * V + nxt, minlength=V * V).reshape(V, V)
''',
        "transposed": '''def bigram_counts(ids, V):
    ids = np.asarray(ids, dtype=np.int64)
    return np.bincount(ids[1:] * V + ids[:-1], minlength=V * V).reshape(V, V)
''',
        "float_counts": '''def bigram_counts(ids, V):
    counts = np.zeros((V, V))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts
''',
        "fancy_index_plus_equal": '''def bigram_counts(ids, V):
    counts = np.zeros((V, V), dtype=np.int64)
    counts[ids[:-1], ids[1:]] += 1
    return counts
''',
        "skip_one": '''def bigram_counts(ids, V):
    ids = np.asarray(ids, dtype=np.int64)
    return np.bincount(ids[:-2] * V + ids[2:], minlength=V * V).reshape(V, V)
''',
    },
    "bigram_probs": {
        "normalise_columns": '''def bigram_probs(counts, alpha=1.0):
    V = counts.shape[0]
    s = counts.astype(np.float64) + alpha
    t = s.sum(axis=0, keepdims=True)
    return np.where(t == 0, 1.0 / V, s / np.where(t == 0, 1.0, t))
''',
        "alpha_missing_in_denominator": '''def bigram_probs(counts, alpha=1.0):
    V = counts.shape[0]
    t = counts.sum(axis=1, keepdims=True).astype(np.float64)
    return np.where(t == 0, 1.0 / V, (counts + alpha) / np.where(t == 0, 1.0, t))
''',
        "nan_rows": '''def bigram_probs(counts, alpha=1.0):
    s = counts + alpha
    return s / s.sum(axis=1, keepdims=True)
''',
        "epsilon_instead_of_uniform": '''def bigram_probs(counts, alpha=1.0):
    s = counts + alpha
    return s / (s.sum(axis=1, keepdims=True) + 1e-12)
''',
        "integer_division": '''def bigram_probs(counts, alpha=1.0):
    V = counts.shape[0]
    s = counts + alpha
    t = s.sum(axis=1, keepdims=True)
    return np.where(t == 0, 1.0 / V, s // np.where(t == 0, 1, t))
''',
    },
    "cross_entropy": {
        "clip_epsilon": '''def cross_entropy(probs, ids):
    p = probs[ids[:-1], ids[1:]]
    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))
''',
        "add_epsilon": '''def cross_entropy(probs, ids):
    p = probs[ids[:-1], ids[1:]]
    return float(-np.mean(np.log(p + 1e-10)))
''',
        "log_warns_on_zero": '''def cross_entropy(probs, ids):
    p = probs[ids[:-1], ids[1:]]
    return float(-np.mean(np.log(p)))
''',
        "sum_not_mean": '''def cross_entropy(probs, ids):
    p = probs[ids[:-1], ids[1:]]
    with np.errstate(divide="ignore"):
        return float(-np.sum(np.log(p)))
''',
        "divide_by_T": '''def cross_entropy(probs, ids):
    p = probs[ids[:-1], ids[1:]]
    with np.errstate(divide="ignore"):
        return float(-np.sum(np.log(p)) / len(ids))
''',
        "swapped_pairs": '''def cross_entropy(probs, ids):
    p = probs[ids[1:], ids[:-1]]
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(p)))
''',
        "bits": '''def cross_entropy(probs, ids):
    p = probs[ids[:-1], ids[1:]]
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log2(p)))
''',
    },
    "perplexity": {
        "two_to_the_nats": '''def perplexity(ce_nats):
    return 2.0 ** ce_nats
''',
        "exp_negative": '''def perplexity(ce_nats):
    return float(np.exp(-ce_nats))
''',
        "ten_to_the": '''def perplexity(ce_nats):
    return 10.0 ** ce_nats
''',
        "rounded": '''def perplexity(ce_nats):
    return round(float(np.exp(ce_nats)), 2) if ce_nats != float("inf") else float("inf")
''',
    },
    "interview": {
        "bits_read_as_nats": '''uniform_perplexity = 48.0
uniform_cross_entropy = math.log(48)
perplexity_from_bits = math.exp(1.5)
perplexity_with_one_zero = math.inf
''',
        "cross_entropy_in_bits": '''uniform_perplexity = 48.0
uniform_cross_entropy = math.log2(48)
perplexity_from_bits = 2 ** 1.5
perplexity_with_one_zero = math.inf
''',
        "zero_ignored": '''uniform_perplexity = 48.0
uniform_cross_entropy = math.log(48)
perplexity_from_bits = 2 ** 1.5
perplexity_with_one_zero = 2.0
''',
        "zero_clipped": '''uniform_perplexity = 48.0
uniform_cross_entropy = math.log(48)
perplexity_from_bits = 2 ** 1.5
perplexity_with_one_zero = math.exp((9999 * math.log(2) - math.log(1e-12)) / 10000)
''',
        "inverse_perplexity": '''uniform_perplexity = 1 / 48
uniform_cross_entropy = math.log(48)
perplexity_from_bits = 2 ** 1.5
perplexity_with_one_zero = math.inf
''',
    },
    "greedy_continue": {
        "start_row_only": '''def greedy_continue(probs, start_id, n):
    return np.full(n, int(np.argmax(probs[start_id])), dtype=np.int64)
''',
        "column_lookup": '''def greedy_continue(probs, start_id, n):
    out, cur = [], start_id
    for _ in range(n):
        cur = int(np.argmax(probs[:, cur]))
        out.append(cur)
    return np.array(out, dtype=np.int64)
''',
        "includes_start": '''def greedy_continue(probs, start_id, n):
    out = [int(start_id)]
    for _ in range(n):
        out.append(int(np.argmax(probs[out[-1]])))
    return np.array(out, dtype=np.int64)
''',
        "start_counted_in_n": '''def greedy_continue(probs, start_id, n):
    out = [int(start_id)]
    for _ in range(n - 1):
        out.append(int(np.argmax(probs[out[-1]])))
    return np.array(out[:n], dtype=np.int64)
''',
        "argmin": '''def greedy_continue(probs, start_id, n):
    out, cur = [], start_id
    for _ in range(n):
        cur = int(np.argmin(probs[cur]))
        out.append(cur)
    return np.array(out, dtype=np.int64)
''',
    },
    "sample_continue": {
        "start_row_only": '''def sample_continue(probs, start_id, n, rng):
    return rng.choice(probs.shape[0], size=n, p=probs[start_id]).astype(np.int64)
''',
        "argmax_is_not_sampling": '''def sample_continue(probs, start_id, n, rng):
    out, cur = [], start_id
    for _ in range(n):
        cur = int(np.argmax(probs[cur]))
        out.append(cur)
    return np.array(out, dtype=np.int64)
''',
        "global_numpy_random": '''def sample_continue(probs, start_id, n, rng):
    out, cur = np.empty(n, dtype=np.int64), start_id
    for i in range(n):
        cur = int(np.random.choice(probs.shape[0], p=probs[cur]))
        out[i] = cur
    return out
''',
        "ignores_probabilities": '''def sample_continue(probs, start_id, n, rng):
    return rng.integers(0, probs.shape[0], size=n)
''',
        "reseeds_own_generator": '''def sample_continue(probs, start_id, n, rng):
    rng = np.random.default_rng(0)
    out, cur = np.empty(n, dtype=np.int64), start_id
    for i in range(n):
        cur = int(rng.choice(probs.shape[0], p=probs[cur]))
        out[i] = cur
    return out
''',
        "column_lookup": '''def sample_continue(probs, start_id, n, rng):
    out, cur = np.empty(n, dtype=np.int64), start_id
    for i in range(n):
        col = probs[:, cur]
        cur = int(rng.choice(probs.shape[0], p=col / col.sum()))
        out[i] = cur
    return out
''',
    },
}

RIGHT = {
    "pick_device": {
        "first_available": '''def pick_device(report):
    return next((name for name in ("cuda", "mps") if report.get(name, False)), "cpu")
''',
        "bool_of_get": '''def pick_device(report):
    cuda, mps = bool(report.get("cuda")), bool(report.get("mps"))
    return "cuda" if cuda else ("mps" if mps else "cpu")
''',
    },
    "bigram_counts": {
        "add_at": '''def bigram_counts(ids, V):
    counts = np.zeros((V, V), dtype=np.int64)
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts
''',
        "python_loop": '''def bigram_counts(ids, V):
    counts = np.zeros((V, V), dtype=int)
    for a, b in zip(ids[:-1], ids[1:]):
        counts[a, b] += 1
    return counts
''',
    },
    "bigram_probs": {
        "row_loop": '''def bigram_probs(counts, alpha=1.0):
    V = counts.shape[0]
    out = np.empty((V, V))
    for a in range(V):
        total = counts[a].sum() + alpha * V
        out[a] = (counts[a] + alpha) / total if total > 0 else np.full(V, 1.0 / V)
    return out
''',
        "float32": '''def bigram_probs(counts, alpha=1.0):
    V = counts.shape[0]
    s = counts.astype(np.float32) + np.float32(alpha)
    t = s.sum(axis=1, keepdims=True)
    return np.where(t == 0, np.float32(1.0 / V), s / np.where(t == 0, np.float32(1.0), t))
''',
        "nan_then_fill": '''def bigram_probs(counts, alpha=1.0):
    V = counts.shape[0]
    s = counts + float(alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / s.sum(axis=1, keepdims=True)
    return np.where(np.isnan(p), 1.0 / V, p)
''',
    },
    "cross_entropy": {
        "python_loop": '''def cross_entropy(probs, ids):
    total = 0.0
    for a, b in zip(ids[:-1], ids[1:]):
        if probs[a, b] == 0:
            return float("inf")
        total += -math.log(probs[a, b])
    return total / (len(ids) - 1)
''',
        "errstate_sum_over_predictions": '''def cross_entropy(probs, ids):
    with np.errstate(all="ignore"):
        logp = np.log(probs)
    return float(-logp[ids[:-1], ids[1:]].sum() / (len(ids) - 1))
''',
    },
    "perplexity": {
        "math_exp": '''def perplexity(ce_nats):
    return math.exp(ce_nats)
''',
        "e_power": '''def perplexity(ce_nats):
    return np.e ** ce_nats
''',
    },
    "interview": {
        "from_definitions": '''V = 48
uniform_cross_entropy = -math.log(1 / V)
uniform_perplexity = math.exp(uniform_cross_entropy)
perplexity_from_bits = math.exp(1.5 * math.log(2))
perplexity_with_one_zero = float(np.exp(np.inf))
''',
        "typed_decimals": '''uniform_perplexity = 48
uniform_cross_entropy = 3.8712
perplexity_from_bits = 2.8284
perplexity_with_one_zero = float("inf")
''',
    },
    "greedy_continue": {
        "python_max": '''def greedy_continue(probs, start_id, n):
    out = []
    cur = start_id
    for _ in range(n):
        row = list(probs[cur])
        cur = row.index(max(row))
        out.append(cur)
    return np.array(out, dtype=np.int64)
''',
        "argmax_table": '''def greedy_continue(probs, start_id, n):
    best = probs.argmax(axis=1)
    out = []
    cur = start_id
    for _ in range(n):
        cur = best[cur]
        out.append(cur)
    return np.array(out, dtype=int)
''',
    },
    "sample_continue": {
        "inverse_cdf": '''def sample_continue(probs, start_id, n, rng):
    V = probs.shape[0]
    cdf = np.cumsum(probs, axis=1)
    out, cur = np.empty(n, dtype=np.int64), start_id
    for i in range(n):
        cur = min(int(np.searchsorted(cdf[cur], rng.random(), side="right")), V - 1)
        out[i] = cur
    return out
''',
        "predrawn_uniforms": '''def sample_continue(probs, start_id, n, rng):
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(n)
    out, cur = [], start_id
    for i in range(n):
        cur = int(np.argmax(cdf[cur] > u[i]))
        out.append(cur)
    return np.array(out, dtype=np.int64)
''',
        "multinomial": '''def sample_continue(probs, start_id, n, rng):
    out, cur = np.zeros(n, dtype=np.int64), start_id
    for i in range(n):
        cur = int(np.argmax(rng.multinomial(1, probs[cur])))
        out[i] = cur
    return out
''',
        "gumbel_max": '''def sample_continue(probs, start_id, n, rng):
    with np.errstate(divide="ignore"):
        logp = np.log(probs)
    out, cur = np.empty(n, dtype=np.int64), start_id
    for i in range(n):
        cur = int(np.argmax(logp[cur] + rng.gumbel(size=probs.shape[0])))
        out[i] = cur
    return out
''',
    },
}
