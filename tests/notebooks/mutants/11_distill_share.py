"""Mutants for 11_distill_share: plausible wrong answers (must fail) and correct alternatives (must pass)."""

_KL_HEAD = """
def distill_kl(z_s, z_t, T):
"""

_VERIFY_HEAD = """
def verify(p, q, drafts, gen):
    k = len(drafts)
    acc = accept_probs(p[:k], q, drafts)
    out = []
    for i in range(k):
        if torch.rand((), generator=gen) < acc[i]:
            out.append(int(drafts[i]))
        else:
"""

_SPEC_HEAD = """
@torch.no_grad()
def speculative_decode(target, draft, prompt, n_new, k, gen):
    ids = prompt.clone()
    n_acc = n_drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq, q_rows = ids, []
        for _ in range(k):
            q_i = torch.softmax(draft(seq)[-1].double(), -1)
            x = torch.multinomial(q_i, 1, generator=gen)
            q_rows.append(q_i)
            seq = torch.cat([seq, x])
"""

_GREEDY_HEAD = """
@torch.no_grad()
def speculative_greedy(target, draft, prompt, n_new, k):
    ids = prompt.clone()
    n_acc = n_drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq = ids
        for _ in range(k):
            seq = torch.cat([seq, draft(seq)[-1].argmax().view(1)])
        best = target(seq)[-k - 1:].argmax(dim=-1)
        drafts = seq[len(ids):]
        n = 0
        while n < k and drafts[n] == best[n]:
            n += 1
        n_acc, n_drafted = n_acc + n, n_drafted + k
"""

WRONG = {
    "soft_log_probs": {
        "log_of_softmax": """
def soft_log_probs(logits, T):
    return torch.log(torch.softmax(logits / T, dim=-1))
""",
        "no_max_shift": """
def soft_log_probs(logits, T):
    z = logits / T
    return z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True))
""",
        "times_temperature": """
def soft_log_probs(logits, T):
    return torch.log_softmax(logits * T, dim=-1)
""",
        "shift_before_temperature_wrong_axis": """
def soft_log_probs(logits, T):
    z = logits / T
    z = z - z.amax(dim=0, keepdim=True)
    return z - torch.log(torch.exp(z).sum(dim=0, keepdim=True))
""",
    },
    "distill_kl": {
        "reversed_kl": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return T**2 * (log_q.exp() * (log_q - log_p)).sum(-1).mean()
""",
        "kl_div_arguments_swapped": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return T**2 * F.kl_div(log_p.reshape(-1, z_s.shape[-1]), log_q.reshape(-1, z_s.shape[-1]),
                           log_target=True, reduction="batchmean")
""",
        "missing_t_squared": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()
""",
        "temperature_on_teacher_only": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, 1.0)
    return T**2 * (log_p.exp() * (log_p - log_q)).sum(-1).mean()
""",
        "temperature_on_student_only": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, 1.0), soft_log_probs(z_s, T)
    return T**2 * (log_p.exp() * (log_p - log_q)).sum(-1).mean()
""",
        "sum_over_positions": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return T**2 * (log_p.exp() * (log_p - log_q)).sum()
""",
        "cross_entropy_not_kl": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return T**2 * -(log_p.exp() * log_q).sum(-1).mean()
""",
        "t_not_squared": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return T * (log_p.exp() * (log_p - log_q)).sum(-1).mean()
""",
    },
    "distill_kl_grad": {
        "missing_t_squared": """
def distill_kl_grad(z_s, z_t, T):
    n = z_s.numel() // z_s.shape[-1]
    return (soft_log_probs(z_s, T).exp() - soft_log_probs(z_t, T).exp()) / T / n
""",
        "no_mean": """
def distill_kl_grad(z_s, z_t, T):
    return T * (soft_log_probs(z_s, T).exp() - soft_log_probs(z_t, T).exp())
""",
        "sign_flipped": """
def distill_kl_grad(z_s, z_t, T):
    n = z_s.numel() // z_s.shape[-1]
    return T * (soft_log_probs(z_t, T).exp() - soft_log_probs(z_s, T).exp()) / n
""",
        "t_squared_kept": """
def distill_kl_grad(z_s, z_t, T):
    n = z_s.numel() // z_s.shape[-1]
    return T**2 * (soft_log_probs(z_s, T).exp() - soft_log_probs(z_t, T).exp()) / n
""",
        "mean_over_batch_axis_only": """
def distill_kl_grad(z_s, z_t, T):
    return T * (soft_log_probs(z_s, T).exp() - soft_log_probs(z_t, T).exp()) / z_s.shape[0]
""",
    },
    "distill_loss": {
        "hard_loss_softened": """
def distill_loss(z_s, z_t, targets, T, alpha):
    ce = -soft_log_probs(z_s, T).gather(-1, targets.unsqueeze(-1)).mean()
    return alpha * distill_kl(z_s, z_t, T) + (1 - alpha) * ce
""",
        "alpha_swapped": """
def distill_loss(z_s, z_t, targets, T, alpha):
    ce = -soft_log_probs(z_s, 1.0).gather(-1, targets.unsqueeze(-1)).mean()
    return (1 - alpha) * distill_kl(z_s, z_t, T) + alpha * ce
""",
        "ce_against_teacher_argmax": """
def distill_loss(z_s, z_t, targets, T, alpha):
    ce = -soft_log_probs(z_s, 1.0).gather(-1, z_t.argmax(-1, keepdim=True)).mean()
    return alpha * distill_kl(z_s, z_t, T) + (1 - alpha) * ce
""",
    },
    "share_blocks": {
        "deepcopy": """
def share_blocks(model):
    model.blocks = nn.ModuleList(copy.deepcopy(model.blocks[0]) for _ in model.blocks)
    return model
""",
        "load_state_dict": """
def share_blocks(model):
    for block in model.blocks[1:]:
        block.load_state_dict(model.blocks[0].state_dict())
    return model
""",
        "data_alias": """
def share_blocks(model):
    for block in model.blocks[1:]:
        for p, p0 in zip(block.parameters(), model.blocks[0].parameters()):
            p.data = p0.data
    return model
""",
        "attention_only": """
def share_blocks(model):
    for block in model.blocks[1:]:
        block.attn = model.blocks[0].attn
    return model
""",
        "last_block_values": """
def share_blocks(model):
    model.blocks = nn.ModuleList([model.blocks[-1]] * len(model.blocks))
    return model
""",
    },
    "tie_embeddings": {
        "clone": """
def tie_embeddings(model):
    model.head.weight = nn.Parameter(model.tok_emb.weight.detach().clone())
    return model
""",
        "data_alias": """
def tie_embeddings(model):
    model.head.weight.data = model.tok_emb.weight.data
    return model
""",
        "head_values_kept": """
def tie_embeddings(model):
    model.tok_emb.weight = model.head.weight
    return model
""",
        "copy_values": """
def tie_embeddings(model):
    with torch.no_grad():
        model.head.weight.copy_(model.tok_emb.weight)
    return model
""",
    },
    "unique_parameters": {
        "state_dict": """
def unique_parameters(model):
    n = sum(v.numel() for v in model.state_dict().values())
    return n, 4 * n
""",
        "no_dedup": """
def unique_parameters(model):
    ps = [p for _, p in model.named_parameters(remove_duplicate=False)]
    return sum(p.numel() for p in ps), sum(p.numel() * p.element_size() for p in ps)
""",
        "dedup_by_identity_only": """
def unique_parameters(model):
    ps = list(model.parameters())
    return sum(p.numel() for p in ps), sum(p.numel() * p.element_size() for p in ps)
""",
        "four_bytes_always": """
def unique_parameters(model):
    seen, n = set(), 0
    for _, p in model.named_parameters(remove_duplicate=False):
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            n += p.numel()
    return n, 4 * n
""",
        "dedup_by_shape": """
def unique_parameters(model):
    seen, n, b = set(), 0, 0
    for p in model.parameters():
        if tuple(p.shape) not in seen:
            seen.add(tuple(p.shape))
            n += p.numel()
            b += p.numel() * p.element_size()
    return n, b
""",
    },
    "accept_probs": {
        "no_min": """
def accept_probs(p, q, tokens):
    r = torch.arange(len(tokens))
    qt = q[r, tokens]
    return torch.where(qt > 0, p[r, tokens] / torch.where(qt > 0, qt, torch.ones_like(qt)), torch.ones_like(qt))
""",
        "ratio_inverted": """
def accept_probs(p, q, tokens):
    r = torch.arange(len(tokens))
    return torch.clamp(q[r, tokens] / p[r, tokens], max=1.0)
""",
        "zero_q_not_guarded": """
def accept_probs(p, q, tokens):
    r = torch.arange(len(tokens))
    return torch.clamp(p[r, tokens] / q[r, tokens], max=1.0)
""",
        "target_prob_only": """
def accept_probs(p, q, tokens):
    r = torch.arange(len(tokens))
    return p[r, tokens]
""",
    },
    "residual_dist": {
        "resample_from_p": """
def residual_dist(p, q):
    return p.clone()
""",
        "not_normalised": """
def residual_dist(p, q):
    r = torch.clamp(p - q, min=0.0)
    return torch.where(r.sum(-1, keepdim=True) > 0, r, p)
""",
        "wrong_direction": """
def residual_dist(p, q):
    r = torch.clamp(q - p, min=0.0)
    s = r.sum(-1, keepdim=True)
    return torch.where(s > 0, r / torch.where(s > 0, s, torch.ones_like(s)), p)
""",
        "absolute_difference": """
def residual_dist(p, q):
    r = (p - q).abs()
    s = r.sum(-1, keepdim=True)
    return torch.where(s > 0, r / torch.where(s > 0, s, torch.ones_like(s)), p)
""",
        "nan_when_equal": """
def residual_dist(p, q):
    r = torch.clamp(p - q, min=0.0)
    return r / r.sum(-1, keepdim=True)
""",
    },
    "verify": {
        "resample_from_p": _VERIFY_HEAD + """
            out.append(int(torch.multinomial(p[i], 1, generator=gen)))
            return out
    out.append(int(torch.multinomial(p[k], 1, generator=gen)))
    return out
""",
        "resample_from_q": _VERIFY_HEAD + """
            out.append(int(torch.multinomial(q[i], 1, generator=gen)))
            return out
    out.append(int(torch.multinomial(p[k], 1, generator=gen)))
    return out
""",
        "forgot_bonus": _VERIFY_HEAD + """
            out.append(int(torch.multinomial(residual_dist(p[i], q[i]), 1, generator=gen)))
            return out
    return out
""",
        "no_stop_after_rejection": _VERIFY_HEAD + """
            out.append(int(torch.multinomial(residual_dist(p[i], q[i]), 1, generator=gen)))
    out.append(int(torch.multinomial(p[k], 1, generator=gen)))
    return out
""",
        "bonus_from_last_draft_row": _VERIFY_HEAD + """
            out.append(int(torch.multinomial(residual_dist(p[i], q[i]), 1, generator=gen)))
            return out
    out.append(int(torch.multinomial(p[k - 1], 1, generator=gen)))
    return out
""",
        "accept_if_p_above_q": """
def verify(p, q, drafts, gen):
    k = len(drafts)
    out = []
    for i in range(k):
        x = int(drafts[i])
        if p[i, x] >= q[i, x]:
            out.append(x)
        else:
            out.append(int(torch.multinomial(residual_dist(p[i], q[i]), 1, generator=gen)))
            return out
    out.append(int(torch.multinomial(p[k], 1, generator=gen)))
    return out
""",
    },
    "speculative_decode": {
        "target_rows_off_by_one": _SPEC_HEAD + """
        p = torch.softmax(target(seq)[-k - 2:-1].double(), -1)
        p = torch.cat([p, p[-1:]])
        new = verify(p, torch.stack(q_rows), seq[len(ids):], gen)
        n_acc += min(len(new) - 1, k) if len(new) <= k else k
        n_drafted += k
        ids = torch.cat([ids, torch.tensor(new, dtype=ids.dtype)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
        "bonus_dropped": _SPEC_HEAD + """
        p = torch.softmax(target(seq)[-k - 1:].double(), -1)
        new = verify(p, torch.stack(q_rows), seq[len(ids):], gen)
        new = new[:k]
        n_acc += len(new) if len(new) == k else len(new) - 1
        n_drafted += k
        ids = torch.cat([ids, torch.tensor(new, dtype=ids.dtype)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
        "target_per_token": _SPEC_HEAD + """
        p = torch.stack([torch.softmax(target(seq[:len(ids) + j])[-1].double(), -1) for j in range(k + 1)])
        new = verify(p, torch.stack(q_rows), seq[len(ids):], gen)
        n_acc += len(new) - 1 if len(new) <= k else k
        n_drafted += k
        ids = torch.cat([ids, torch.tensor(new, dtype=ids.dtype)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
        "draft_argmax_with_softmax_q": """
@torch.no_grad()
def speculative_decode(target, draft, prompt, n_new, k, gen):
    ids = prompt.clone()
    n_acc = n_drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq, q_rows = ids, []
        for _ in range(k):
            q_i = torch.softmax(draft(seq)[-1].double(), -1)
            q_rows.append(q_i)
            seq = torch.cat([seq, q_i.argmax().view(1)])
        p = torch.softmax(target(seq)[-k - 1:].double(), -1)
        new = verify(p, torch.stack(q_rows), seq[len(ids):], gen)
        n_acc += len(new) - 1 if len(new) <= k else k
        n_drafted += k
        ids = torch.cat([ids, torch.tensor(new, dtype=ids.dtype)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
    },
    "speculative_greedy": {
        "forgot_bonus": _GREEDY_HEAD + """
        ids = torch.cat([ids, drafts[:n], best[n].view(1)]) if n < k else torch.cat([ids, drafts])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
        "keeps_draft_on_mismatch": _GREEDY_HEAD + """
        ids = torch.cat([ids, drafts[:n + 1]]) if n < k else torch.cat([ids, drafts, best[k].view(1)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
        "target_rows_off_by_one": """
@torch.no_grad()
def speculative_greedy(target, draft, prompt, n_new, k):
    ids = prompt.clone()
    n_acc = n_drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq = ids
        for _ in range(k):
            seq = torch.cat([seq, draft(seq)[-1].argmax().view(1)])
        best = target(seq)[-k:].argmax(dim=-1)
        drafts = seq[len(ids):]
        n = 0
        while n < k - 1 and drafts[n] == best[n]:
            n += 1
        n_acc, n_drafted = n_acc + n, n_drafted + k
        ids = torch.cat([ids, drafts[:n], best[n].view(1)])
    return ids[:len(prompt) + n_new], n_acc, n_drafted
""",
        "no_truncation": _GREEDY_HEAD + """
        ids = torch.cat([ids, drafts[:n], best[n].view(1)])
    return ids, n_acc, n_drafted
""",
    },
    "pareto_front": {
        "strict_on_both": """
def pareto_front(rows):
    return [n for n, b, p in rows if not any(b2 < b and p2 < p for _, b2, p2 in rows)]
""",
        "ties_dominate": """
def pareto_front(rows):
    return [n for i, (n, b, p) in enumerate(rows)
            if not any(b2 <= b and p2 <= p for j, (_, b2, p2) in enumerate(rows) if j != i)]
""",
        "sorted_by_bytes": """
def pareto_front(rows):
    out, best = [], float("inf")
    for n, b, p in sorted(rows, key=lambda r: r[1]):
        if p < best:
            out.append(n)
            best = p
    return out
""",
    },
}

RIGHT = {
    "soft_log_probs": {
        "library_log_softmax": """
def soft_log_probs(logits, T):
    return torch.log_softmax(logits / T, dim=-1)
""",
        "logsumexp": """
def soft_log_probs(logits, T):
    z = logits / T
    return z - torch.logsumexp(z, dim=-1, keepdim=True)
""",
    },
    "distill_kl": {
        "library_kl_div": _KL_HEAD + """
    V = z_s.shape[-1]
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    return T**2 * F.kl_div(log_q.reshape(-1, V), log_p.reshape(-1, V), log_target=True, reduction="batchmean")
""",
        "cross_entropy_minus_entropy": _KL_HEAD + """
    log_p, log_q = soft_log_probs(z_t, T), soft_log_probs(z_s, T)
    p = log_p.exp()
    return T * T * ((p * log_p).sum(-1) - (p * log_q).sum(-1)).mean()
""",
    },
    "distill_kl_grad": {
        "softmax_form": """
def distill_kl_grad(z_s, z_t, T):
    V = z_s.shape[-1]
    n = z_s.reshape(-1, V).shape[0]
    return (torch.softmax(z_s / T, -1) - torch.softmax(z_t / T, -1)) * (T * T / T / n)
""",
    },
    "distill_loss": {
        "library_cross_entropy": """
def distill_loss(z_s, z_t, targets, T, alpha):
    ce = F.cross_entropy(z_s.reshape(-1, z_s.shape[-1]), targets.reshape(-1))
    return alpha * distill_kl(z_s, z_t, T) + (1 - alpha) * ce
""",
    },
    "share_blocks": {
        "list_times_n": """
def share_blocks(model):
    model.blocks = nn.ModuleList([model.blocks[0]] * len(model.blocks))
    return model
""",
        "assign_each_module": """
def share_blocks(model):
    b0 = model.blocks[0]
    for i in range(1, len(model.blocks)):
        model.blocks[i] = b0
    return model
""",
    },
    "tie_embeddings": {
        "setattr": """
def tie_embeddings(model):
    setattr(model.head, "weight", model.tok_emb.weight)
    return model
""",
    },
    "unique_parameters": {
        "dict_by_pointer": """
def unique_parameters(model):
    mem = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        mem[p.data_ptr()] = p
    return sum(p.numel() for p in mem.values()), sum(p.numel() * p.element_size() for p in mem.values())
""",
    },
    "accept_probs": {
        "nan_to_one": """
def accept_probs(p, q, tokens):
    r = torch.arange(len(tokens))
    ratio = torch.nan_to_num(p[r, tokens] / q[r, tokens], nan=1.0, posinf=1.0)
    return torch.minimum(ratio, torch.ones_like(ratio))
""",
    },
    "residual_dist": {
        "relu_and_divide": """
def residual_dist(p, q):
    r = torch.relu(p - q)
    s = r.sum(-1, keepdim=True)
    return torch.where(s == 0, p, r / s.clamp(min=torch.finfo(p.dtype).tiny))
""",
    },
    "verify": {
        "while_loop": """
def verify(p, q, drafts, gen):
    k = len(drafts)
    acc = accept_probs(p[:k], q, drafts)
    i, out = 0, []
    while i < k and torch.rand((), generator=gen) < acc[i]:
        out.append(int(drafts[i]))
        i += 1
    dist = p[k] if i == k else residual_dist(p[i], q[i])
    return out + [int(torch.multinomial(dist, 1, generator=gen))]
""",
    },
    "speculative_decode": {
        "list_based": """
@torch.no_grad()
def speculative_decode(target, draft, prompt, n_new, k, gen):
    ids = prompt.tolist()
    acc = drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq, qs = list(ids), []
        for _ in range(k):
            q_i = torch.softmax(draft(torch.tensor(seq))[-1].double(), -1)
            qs.append(q_i)
            seq.append(int(torch.multinomial(q_i, 1, generator=gen)))
        p = torch.softmax(target(torch.tensor(seq))[len(ids) - 1:].double(), -1)
        new = verify(p, torch.stack(qs), torch.tensor(seq[len(ids):]), gen)
        acc += min(len(new) - 1, k) if len(new) <= k else k
        drafted += k
        ids += new
    return torch.tensor(ids[:len(prompt) + n_new]), acc, drafted
""",
    },
    "speculative_greedy": {
        "mismatch_mask": """
@torch.no_grad()
def speculative_greedy(target, draft, prompt, n_new, k):
    ids = prompt.clone()
    acc = drafted = 0
    while len(ids) < len(prompt) + n_new:
        seq = ids
        for _ in range(k):
            seq = torch.cat([seq, draft(seq)[-1].argmax().view(1)])
        best = target(seq)[len(ids) - 1:].argmax(-1)
        bad = (seq[len(ids):] != best[:k]).nonzero()
        n = int(bad[0]) if len(bad) else k
        acc, drafted = acc + n, drafted + k
        ids = torch.cat([ids, best[:n + 1]])
    return ids[:len(prompt) + n_new], acc, drafted
""",
    },
    "pareto_front": {
        "index_set": """
def pareto_front(rows):
    keep = set()
    for i, (n, b, p) in enumerate(rows):
        if all(not (b2 <= b and p2 <= p and (b2 < b or p2 < p)) for _, b2, p2 in rows):
            keep.add(i)
    return [rows[i][0] for i in sorted(keep)]
""",
    },
}
