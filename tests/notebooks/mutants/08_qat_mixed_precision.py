"""Mutants for 08_qat_mixed_precision: plausible wrong answers (must fail) and correct alternatives (must pass)."""

_FQ_HEAD = """
def fake_quant(w, bits, group_size=None):
    qmax = 2 ** (bits - 1) - 1
    o, i = w.shape
    g = i if group_size is None else group_size
    wg = w.reshape(o, i // g, g)
"""

_STE_HEAD = """
class FakeQuantSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, scale, qmax):
        x = w / scale
"""

_QL_HEAD = """
class QuantLinear(nn.Module):
    def __init__(self, linear, bits, group_size=None):
        super().__init__()
        self.linear, self.bits, self.group_size = linear, bits, group_size

    def forward(self, x):
        w = self.linear.weight
        o, i = w.shape
        g = i if self.group_size is None else self.group_size
        qmax = 2 ** (self.bits - 1) - 1
        wg = w.reshape(o, i // g, g)
"""

_SCALER_HEAD = """
class DynamicLossScaler:
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        self.scale = float(init_scale)
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0

    def update(self, found_inf):
"""

WRONG = {
    "fake_quant": {
        "truncate": _FQ_HEAD + """
    s = wg.abs().amax(-1, keepdim=True) / qmax
    s = torch.where(s > 0, s, torch.ones_like(s))
    return (torch.clamp(torch.trunc(wg / s), -qmax, qmax) * s).reshape(o, i)
""",
        "scale_per_column": """
def fake_quant(w, bits, group_size=None):
    qmax = 2 ** (bits - 1) - 1
    s = w.abs().amax(0, keepdim=True) / qmax
    s = torch.where(s > 0, s, torch.ones_like(s))
    return torch.clamp(torch.round(w / s), -qmax, qmax) * s
""",
        "unsigned_qmax": _FQ_HEAD.replace("2 ** (bits - 1) - 1", "2 ** bits - 1") + """
    s = wg.abs().amax(-1, keepdim=True) / qmax
    s = torch.where(s > 0, s, torch.ones_like(s))
    return (torch.clamp(torch.round(wg / s), -qmax, qmax) * s).reshape(o, i)
""",
        "groups_strided": """
def fake_quant(w, bits, group_size=None):
    qmax = 2 ** (bits - 1) - 1
    o, i = w.shape
    g = i if group_size is None else group_size
    wg = w.reshape(o, g, i // g).transpose(1, 2)
    s = wg.abs().amax(-1, keepdim=True) / qmax
    s = torch.where(s > 0, s, torch.ones_like(s))
    return (torch.clamp(torch.round(wg / s), -qmax, qmax) * s).transpose(1, 2).reshape(o, i)
""",
        "zero_row_nan": _FQ_HEAD + """
    s = wg.abs().amax(-1, keepdim=True) / qmax
    return (torch.clamp(torch.round(wg / s), -qmax, qmax) * s).reshape(o, i)
""",
    },
    "fake_quant_ste": {
        # the mask on the unrounded w / scale: the largest weight of an absmax group, just above qmax in
        # float32, gets zero gradient
        "clamp_first_then_round": _STE_HEAD + """
        xc = torch.clamp(x, -qmax, qmax)
        ctx.save_for_backward(xc == x)
        return torch.round(xc) * scale

    @staticmethod
    def backward(ctx, grad_out):
        (m,) = ctx.saved_tensors
        return grad_out * m.to(grad_out.dtype), None, None
""",
        "unclipped_ste": _STE_HEAD + """
        return torch.clamp(torch.round(x), -qmax, qmax) * scale

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, None, None
""",
        "truncate": _STE_HEAD + """
        ctx.save_for_backward(x.abs() <= qmax)
        return torch.clamp(torch.trunc(x), -qmax, qmax) * scale

    @staticmethod
    def backward(ctx, grad_out):
        (m,) = ctx.saved_tensors
        return grad_out * m, None, None
""",
        "mask_inverted": _STE_HEAD + """
        ctx.save_for_backward(x.abs() > qmax)
        return torch.clamp(torch.round(x), -qmax, qmax) * scale

    @staticmethod
    def backward(ctx, grad_out):
        (m,) = ctx.saved_tensors
        return grad_out * m, None, None
""",
        "grad_times_scale": _STE_HEAD + """
        ctx.save_for_backward(x.abs() <= qmax, scale)
        return torch.clamp(torch.round(x), -qmax, qmax) * scale

    @staticmethod
    def backward(ctx, grad_out):
        m, s = ctx.saved_tensors
        return grad_out * m / s, None, None
""",
    },
    "quant_linear": {
        "plain_round_no_ste": _QL_HEAD + """
        s = wg.detach().abs().amax(-1, keepdim=True) / qmax
        s = torch.where(s > 0, s, torch.ones_like(s))
        w_hat = (torch.clamp(torch.round(wg / s), -qmax, qmax) * s).reshape(o, i)
        return F.linear(x, w_hat, self.linear.bias)
""",
        "scale_per_column": """
class QuantLinear(nn.Module):
    def __init__(self, linear, bits, group_size=None):
        super().__init__()
        self.linear, self.bits, self.group_size = linear, bits, group_size

    def forward(self, x):
        w = self.linear.weight
        qmax = 2 ** (self.bits - 1) - 1
        s = w.detach().abs().amax(0, keepdim=True) / qmax
        s = torch.where(s > 0, s, torch.ones_like(s))
        return F.linear(x, FakeQuantSTE.apply(w, s, qmax), self.linear.bias)
""",
        "no_zero_guard": _QL_HEAD + """
        s = wg.detach().abs().amax(-1, keepdim=True) / qmax
        return F.linear(x, FakeQuantSTE.apply(wg, s, qmax).reshape(o, i), self.linear.bias)
""",
        "quantizes_bias_too": _QL_HEAD + """
        s = wg.detach().abs().amax(-1, keepdim=True) / qmax
        s = torch.where(s > 0, s, torch.ones_like(s))
        w_hat = FakeQuantSTE.apply(wg, s, qmax).reshape(o, i)
        b = self.linear.bias
        sb = b.detach().abs().max() / qmax
        return F.linear(x, w_hat, FakeQuantSTE.apply(b, sb, qmax))
""",
    },
    "autocast_loss": {
        "no_autocast": """
def autocast_loss(model, ids, targets):
    return F.cross_entropy(model(ids).flatten(0, 1), targets.flatten())
""",
        "converts_model": """
def autocast_loss(model, ids, targets):
    model.to(torch.bfloat16)
    return F.cross_entropy(model(ids).float().flatten(0, 1), targets.flatten())
""",
        "returns_bf16_loss": """
def autocast_loss(model, ids, targets):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return F.cross_entropy(model(ids).flatten(0, 1), targets.flatten()).to(torch.bfloat16)
""",
    },
    "master_step": {
        "update_in_low_precision": """
def master_step(master, grad, lr):
    low = master.to(grad.dtype) - lr * grad
    return low.float(), low
""",
        "in_place": """
def master_step(master, grad, lr):
    master -= lr * grad.float()
    return master, master.to(grad.dtype)
""",
    },
    "underflow_fraction": {
        "all_entries": """
def underflow_fraction(grads, scale=1.0):
    return float(((grads * scale).half() == 0).sum()) / grads.numel()
""",
        "cast_then_scale": """
def underflow_fraction(grads, scale=1.0):
    nz = grads != 0
    if not nz.any():
        return 0.0
    return float(((grads.half() * scale == 0) & nz).sum()) / float(nz.sum())
""",
        "threshold_misses_ties": """
def underflow_fraction(grads, scale=1.0):
    nz = grads != 0
    if not nz.any():
        return 0.0
    return float((((grads * scale).abs() < 2.0 ** -25) & nz).sum()) / float(nz.sum())
""",
        "counts_zeros_too": """
def underflow_fraction(grads, scale=1.0):
    nz = grads != 0
    if not nz.any():
        return 0.0
    return float(((grads * scale).half() == 0).sum()) / float(nz.sum())
""",
    },
    "loss_scaler": {
        "never_shrinks": _SCALER_HEAD + """
        if found_inf:
            self.good_steps = 0
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0
""",
        "no_reset_on_inf": _SCALER_HEAD + """
        if found_inf:
            self.scale *= self.backoff_factor
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0
""",
        "no_reset_after_growth": _SCALER_HEAD + """
        if found_inf:
            self.scale *= self.backoff_factor
            self.good_steps = 0
        else:
            self.good_steps += 1
            if self.good_steps >= self.growth_interval:
                self.scale *= self.growth_factor
""",
        "counts_skipped_steps": _SCALER_HEAD + """
        self.good_steps += 1
        if found_inf:
            self.scale *= self.backoff_factor
        if self.good_steps == self.growth_interval:
            self.scale *= self.growth_factor
            self.good_steps = 0
""",
    },
    "unscale_grads": {
        "multiplies": """
def unscale_grads_(params, scale):
    found = False
    for p in params:
        if p.grad is not None:
            p.grad.mul_(scale)
            found = found or not bool(torch.isfinite(p.grad).all())
    return found
""",
        "only_inf_not_nan": """
def unscale_grads_(params, scale):
    found = False
    for p in params:
        if p.grad is not None:
            p.grad.div_(scale)
            found = found or bool(torch.isinf(p.grad).any())
    return found
""",
        "not_in_place": """
def unscale_grads_(params, scale):
    found = False
    for p in params:
        if p.grad is not None:
            g = p.grad / scale
            found = found or not bool(torch.isfinite(g).all())
    return found
""",
    },
    "scaled_step": {
        "clip_before_unscale": """
def scaled_step(model, loss, optimizer, scaler, max_norm):
    (loss * scaler.scale).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    found_inf = unscale_grads_(model.parameters(), scaler.scale)
    if not found_inf:
        optimizer.step()
    scaler.update(found_inf)
    return not found_inf
""",
        "steps_on_inf": """
def scaled_step(model, loss, optimizer, scaler, max_norm):
    (loss * scaler.scale).backward()
    found_inf = unscale_grads_(model.parameters(), scaler.scale)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    scaler.update(found_inf)
    return not found_inf
""",
        "no_update_when_skipped": """
def scaled_step(model, loss, optimizer, scaler, max_norm):
    (loss * scaler.scale).backward()
    found_inf = unscale_grads_(model.parameters(), scaler.scale)
    if found_inf:
        return False
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    scaler.update(found_inf)
    return True
""",
        "no_clipping": """
def scaled_step(model, loss, optimizer, scaler, max_norm):
    (loss * scaler.scale).backward()
    found_inf = unscale_grads_(model.parameters(), scaler.scale)
    if not found_inf:
        optimizer.step()
    scaler.update(found_inf)
    return not found_inf
""",
    },
}

RIGHT = {
    "fake_quant": {
        "clamp_min_eps_and_view": """
def fake_quant(w, bits, group_size=None):
    qmax = 2 ** (bits - 1) - 1
    o, i = w.shape
    g = group_size or i
    wg = w.view(o, -1, g)
    s = wg.abs().amax(dim=2, keepdim=True).clamp_min(1e-12) / qmax
    return (wg / s).round().clamp(-qmax, qmax).mul(s).view(o, i)
""",
        "float64_inside": _FQ_HEAD + """
    wd = wg.double()
    s = wd.abs().max(dim=-1, keepdim=True).values / qmax
    s[s == 0] = 1.0
    return (torch.clamp(torch.round(wd / s), -qmax, qmax) * s).reshape(o, i).to(w.dtype)
""",
    },
    "fake_quant_ste": {
        "mask_on_w_and_half_step": """
class FakeQuantSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, scale, qmax):
        ctx.save_for_backward(w, scale)
        ctx.qmax = qmax
        return torch.clamp(torch.round(w / scale), -qmax, qmax) * scale

    @staticmethod
    def backward(ctx, grad_out):
        w, scale = ctx.saved_tensors
        lim = (ctx.qmax + 0.5) * scale
        return torch.where((w >= -lim) & (w <= lim), grad_out, torch.zeros_like(grad_out)), None, None
""",
    },
    "quant_linear": {
        "per_group_via_fake_quant_shape": _QL_HEAD + """
        s = (wg.detach().abs().amax(-1, keepdim=True) / qmax).clamp_min(1e-12)
        return x @ FakeQuantSTE.apply(wg, s, qmax).reshape(o, i).T + self.linear.bias
""",
    },
    "autocast_loss": {
        "loss_inside_autocast": """
def autocast_loss(model, ids, targets):
    dev = next(model.parameters()).device.type
    with torch.autocast(device_type=dev, dtype=torch.bfloat16 if dev == "cpu" else torch.float16):
        loss = F.cross_entropy(model(ids).reshape(-1, model.config.vocab_size), targets.reshape(-1))
    return loss.float()
""",
        "log_softmax_nll": """
def autocast_loss(model, ids, targets):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids)
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -logp.gather(-1, targets[..., None]).mean()
""",
    },
    "master_step": {
        "sub_and_cast": """
def master_step(master, grad, lr):
    new = torch.sub(master, grad.to(torch.float32), alpha=lr)
    return new, new.to(dtype=grad.dtype)
""",
    },
    "underflow_fraction": {
        "masked_mean": """
def underflow_fraction(grads, scale=1.0):
    g = grads.flatten()
    g = g[g != 0]
    if g.numel() == 0:
        return 0.0
    return ((g * scale).to(torch.float16) == 0).double().mean().item()
""",
    },
    "loss_scaler": {
        "modulo_counter": _SCALER_HEAD + """
        if found_inf:
            self.scale = self.scale * self.backoff_factor
            self.good_steps = 0
            return
        self.good_steps = (self.good_steps + 1) % self.growth_interval
        if self.good_steps == 0:
            self.scale = self.scale * self.growth_factor
""",
    },
    "unscale_grads": {
        "foreach_style": """
def unscale_grads_(params, scale):
    grads = [p.grad for p in params if p.grad is not None]
    inv = 1.0 / scale
    for g in grads:
        g.mul_(inv)
    return any(bool(~torch.isfinite(g).all()) for g in grads)
""",
    },
    "scaled_step": {
        "params_list_and_norm_check": """
def scaled_step(model, loss, optimizer, scaler, max_norm):
    params = list(model.parameters())
    scaled = loss * scaler.scale
    scaled.backward()
    bad = unscale_grads_(params, scaler.scale)
    if bad:
        scaler.update(True)
        return False
    torch.nn.utils.clip_grad_norm_(params, max_norm=max_norm)
    optimizer.step()
    scaler.update(False)
    return True
""",
    },
}

_ALLOC_HEAD = """
def allocate_bits(sensitivity, n_params, budget_bits):
    bits = {k: min(v) for k, v in sensitivity.items()}
    used = sum(n_params[k] * b for k, b in bits.items())
    while True:
        best = None
        for k in sorted(sensitivity):
            up = sorted(b for b in sensitivity[k] if b > bits[k])
            if not up:
                continue
"""

WRONG["allocate_bits"] = {
    "gain_not_per_bit": _ALLOC_HEAD + """
            extra = n_params[k] * (up[0] - bits[k])
            if used + extra > budget_bits:
                continue
            gain = sensitivity[k][bits[k]] - sensitivity[k][up[0]]
            if best is None or gain > best[0]:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
    "jump_to_widest": _ALLOC_HEAD + """
            extra = n_params[k] * (up[-1] - bits[k])
            if used + extra > budget_bits:
                continue
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up[-1]]) / extra
            if best is None or gain > best[0]:
                best = (gain, k, up[-1], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
    "last_name_on_tie": _ALLOC_HEAD + """
            extra = n_params[k] * (up[0] - bits[k])
            if used + extra > budget_bits:
                continue
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up[0]]) / extra
            if best is None or gain >= best[0]:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
    "dict_order_on_tie": _ALLOC_HEAD.replace("for k in sorted(sensitivity):", "for k in sensitivity:") + """
            extra = n_params[k] * (up[0] - bits[k])
            if used + extra > budget_bits:
                continue
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up[0]]) / extra
            if best is None or gain > best[0]:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
    "budget_strict": _ALLOC_HEAD + """
            extra = n_params[k] * (up[0] - bits[k])
            if used + extra >= budget_bits:
                continue
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up[0]]) / extra
            if best is None or gain > best[0]:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
    "positive_gains_only": _ALLOC_HEAD + """
            extra = n_params[k] * (up[0] - bits[k])
            if used + extra > budget_bits:
                continue
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up[0]]) / extra
            if gain > (0.0 if best is None else best[0]):
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
    "ignores_budget": _ALLOC_HEAD + """
            extra = n_params[k] * (up[0] - bits[k])
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up[0]]) / extra
            if used + extra <= budget_bits and (best is None or gain > best[0]):
                best = (gain, k, up[0], extra)
            elif best is None and used < budget_bits:
                best = (gain, k, up[0], extra)
        if best is None:
            return bits
        bits[best[1]] = best[2]
        used += best[3]
""",
}

RIGHT["allocate_bits"] = {
    "heap_free_max": """
def allocate_bits(sensitivity, n_params, budget_bits):
    bits = {k: min(v) for k, v in sensitivity.items()}
    used = sum(n_params[k] * b for k, b in bits.items())
    while True:
        options = []
        for k in sorted(sensitivity):
            up = [b for b in sorted(sensitivity[k]) if b > bits[k]]
            if up and used + n_params[k] * (up[0] - bits[k]) <= budget_bits:
                extra = n_params[k] * (up[0] - bits[k])
                options.append(((sensitivity[k][bits[k]] - sensitivity[k][up[0]]) / extra, k, up[0], extra))
        if not options:
            return bits
        g, k, b, extra = max(options, key=lambda o: o[0])
        bits[k], used = b, used + extra
""",
}
