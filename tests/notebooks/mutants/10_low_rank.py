"""Mutants of module 10_low_rank: plausible wrong answers the tests must reject, right ones they must accept.

Each value replaces the whole solution cell (see tests/notebooks/mutation.py). While one exercise's
mutants run, the notebook's other functions (truncated_svd, LoRALinear, ...) are the correct ones.
"""

from textwrap import dedent


def _src(text: str) -> str:
    return dedent(text).lstrip("\n")


# --- 1.1 truncated_svd ------------------------------------------------------------------------------
def _trunc(body: str, check: bool = True) -> str:
    guard = ("    if not 1 <= r <= min(W.shape):\n        raise ValueError('bad rank')\n" if check else "")
    return "def truncated_svd(W, r):\n" + guard + "    U, S, Vt = np.linalg.svd(W, full_matrices=False)\n" + body


# --- 2.1 randomized_svd ---------------------------------------------------------------------------
_RSVD_HEAD = (
    "def randomized_svd(W, r, oversample=10, n_power=2, seed=0):\n"
    "    m, n = W.shape\n"
    "    l = min(r + oversample, m, n)\n"
    "    omega = np.random.default_rng(seed).standard_normal((n, l))\n"
)

# --- 3.1 power_svd --------------------------------------------------------------------------------
def _power(inner: str, deflate: str = "R -= s * np.outer(u, v)", dtype: str = "np.float64") -> str:
    return (
        "def power_svd(W, k, n_iter=200, seed=0):\n"
        "    rng = np.random.default_rng(seed)\n"
        f"    R = np.array(W, dtype={dtype})\n"
        "    m, n = R.shape\n"
        "    U, S, Vt = np.zeros((m, k)), np.zeros(k), np.zeros((k, n))\n"
        "    for i in range(k):\n"
        "        v = rng.standard_normal(n)\n"
        "        v /= np.linalg.norm(v)\n"
        "        u = np.zeros(m)\n"
        "        s = 0.0\n"
        "        for _ in range(n_iter):\n"
        f"{inner}"
        "        U[:, i], S[i], Vt[i] = u, s, v\n"
        f"        {deflate}\n"
        "    return U, S, Vt\n"
    )


_POWER_OK = (
    "            u = R @ v\n"
    "            nu = np.linalg.norm(u)\n"
    "            if nu == 0:\n"
    "                return U, S, Vt\n"
    "            u /= nu\n"
    "            v = R.T @ u\n"
    "            s = np.linalg.norm(v)\n"
    "            v /= s\n"
)

# --- 3.2 als_factorize ----------------------------------------------------------------------------
def _als(a_update: str, b_update: str) -> str:
    return (
        "def als_factorize(W, r, n_iter=50, lam=0.0, seed=0):\n"
        "    W = np.asarray(W, dtype=np.float64)\n"
        "    B = np.random.default_rng(seed).standard_normal((r, W.shape[1]))\n"
        "    I = np.eye(r)\n"
        "    A = np.zeros((W.shape[0], r))\n"
        "    for _ in range(n_iter):\n"
        f"        A = {a_update}\n"
        f"        B = {b_update}\n"
        "    return A, B\n"
    )


_A_OK = "np.linalg.solve(B @ B.T + lam * I, B @ W.T).T"
_B_OK = "np.linalg.solve(A.T @ A + lam * I, A.T @ W)"


# --- 4.1 activation_aware_svd ---------------------------------------------------------------------
def _aware(s_line: str, body: str) -> str:
    return (
        "def activation_aware_svd(W, X, r):\n"
        f"    s = {s_line}\n"
        "    s = np.where(s > 0, s, 1.0)\n"
        f"{body}"
    )


_RMS = "np.sqrt(np.mean(np.square(np.asarray(X, dtype=np.float64)), axis=0))"

# --- 6.2 causal_linear_attention ------------------------------------------------------------------
_LOOP_HEAD = (
    "def causal_linear_attention(phi_q, phi_k, v):\n"
    "    T, m = phi_q.shape\n"
    "    out = np.zeros((T, v.shape[1]))\n"
    "    S = np.zeros((m, v.shape[1]))\n"
    "    z = np.zeros(m)\n"
)

# --- 7.1 LoRALinear -------------------------------------------------------------------------------
def _lora(init_a: str = "nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))",
          init_b: str = "torch.zeros(base.out_features, r)", scale: str = "alpha / r", freeze: bool = True,
          forward: str = "self.base(x) + (x @ self.A.T) @ self.B.T * self.scale") -> str:
    fr = ("        for p in self.base.parameters():\n            p.requires_grad_(False)\n" if freeze else "")
    return (
        "class LoRALinear(nn.Module):\n"
        "    def __init__(self, base, r, alpha):\n"
        "        super().__init__()\n"
        "        self.base = base\n"
        f"{fr}"
        "        self.A = nn.Parameter(torch.empty(r, base.in_features))\n"
        f"        {init_a}\n"
        f"        self.B = nn.Parameter({init_b})\n"
        f"        self.scale = {scale}\n\n"
        "    def forward(self, x):\n"
        f"        return {forward}\n"
    )


# --- 7.2 merge_lora -------------------------------------------------------------------------------
def _merge(weight: str) -> str:
    return (
        "def merge_lora(layer):\n"
        "    base = layer.base\n"
        "    merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None)\n"
        "    with torch.no_grad():\n"
        f"        merged.weight.copy_({weight})\n"
        "        if base.bias is not None:\n"
        "            merged.bias.copy_(base.bias)\n"
        "    return merged\n"
    )


WRONG = {
    "truncated_svd": {
        "no_singular_values": _trunc("    return U[:, :r], Vt[:r]\n"),
        "columns_of_vt": _trunc("    return U[:, :r] * S[:r], Vt[:, :r].T\n"),
        "wrong_end_of_spectrum": _trunc("    return U[:, -r:] * S[-r:], Vt[-r:]\n"),
        "no_rank_check": _trunc("    return U[:, :r] * S[:r], Vt[:r]\n", check=False),
    },
    "eckart_young_error": {
        "kept_part": "def eckart_young_error(s, r):\n    return float(np.sqrt(np.sum(np.asarray(s)[:r] ** 2)))\n",
        "no_root": "def eckart_young_error(s, r):\n    return float(np.sum(np.asarray(s)[r:] ** 2))\n",
        "squares_overflow": ("def eckart_young_error(s, r):\n"
                             "    return float(np.sqrt(np.sum(np.asarray(s, dtype=np.float64)[r:] ** 2)))\n"),
        "sum_not_squares": "def eckart_young_error(s, r):\n    return float(np.sum(np.asarray(s)[r:]))\n",
    },
    "energy_rank": {
        "strict_greater": _src("""
            def energy_rank(s, frac):
                s = np.asarray(s, dtype=np.float64)
                if s.max() == 0:
                    return 0
                c = np.cumsum((s / s.max()) ** 2)
                return int(np.argmax(c > frac * c[-1]) + 1)
            """),
        "index_not_count": _src("""
            def energy_rank(s, frac):
                s = np.asarray(s, dtype=np.float64)
                if s.max() == 0:
                    return 0
                c = np.cumsum((s / s.max()) ** 2)
                return int(np.argmax(c >= frac * c[-1]))
            """),
        "ascending_order": _src("""
            def energy_rank(s, frac):
                s = np.sort(np.asarray(s, dtype=np.float64))
                if s.max() == 0:
                    return 0
                c = np.cumsum((s / s.max()) ** 2)
                return int(np.argmax(c >= frac * c[-1]) + 1)
            """),
        "values_not_squares": _src("""
            def energy_rank(s, frac):
                s = np.asarray(s, dtype=np.float64)
                if s.max() == 0:
                    return 0
                c = np.cumsum(s / s.max())
                return int(np.argmax(c >= frac * c[-1]) + 1)
            """),
        "unscaled_squares": _src("""
            def energy_rank(s, frac):
                s = np.asarray(s, dtype=np.float64)
                if s.max() == 0:
                    return 0
                c = np.cumsum(s ** 2)
                return int(np.argmax(c >= frac * c[-1]) + 1)
            """),
    },
    "break_even_rank": {
        "floor_division": "def break_even_rank(m, n):\n    return m * n // (m + n)\n",
        "float_division": "def break_even_rank(m, n):\n    return int(m * n / (m + n))\n",
        "half_min": "def break_even_rank(m, n):\n    return min(m, n) // 2\n",
    },
    "randomized_svd": {
        "no_reorthonormalisation": _RSVD_HEAD + (
            "    Y = W @ omega\n"
            "    for _ in range(n_power):\n"
            "        Y = W @ (W.T @ Y)\n"
            "    Q, _ = np.linalg.qr(Y)\n"
            "    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)\n"
            "    return (Q @ Ub)[:, :r], S[:r], Vt[:r]\n"),
        "q_not_q_times_ub": _RSVD_HEAD + (
            "    Q, _ = np.linalg.qr(W @ omega)\n"
            "    for _ in range(n_power):\n"
            "        Z, _ = np.linalg.qr(W.T @ Q)\n"
            "        Q, _ = np.linalg.qr(W @ Z)\n"
            "    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)\n"
            "    return Q[:, :r], S[:r], Vt[:r]\n"),
        "returns_l_columns": _RSVD_HEAD + (
            "    Q, _ = np.linalg.qr(W @ omega)\n"
            "    for _ in range(n_power):\n"
            "        Z, _ = np.linalg.qr(W.T @ Q)\n"
            "        Q, _ = np.linalg.qr(W @ Z)\n"
            "    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)\n"
            "    return Q @ Ub, S, Vt\n"),
    },
    "power_svd": {
        "no_deflation": _power(_POWER_OK, deflate="pass"),
        "deflate_without_sigma": _power(_POWER_OK, deflate="R -= np.outer(u, v)"),
        "gram_matrix_overflow": _power(
            "            v = R.T @ (R @ v)\n"
            "            v /= np.linalg.norm(v)\n"
            "            u = R @ v\n"
            "            s = np.linalg.norm(u)\n"
            "            u /= s\n"),
        "zero_matrix_nan": _power(
            "            u = R @ v\n"
            "            u /= np.linalg.norm(u)\n"
            "            v = R.T @ u\n"
            "            s = np.linalg.norm(v)\n"
            "            v /= s\n"),
    },
    "als_factorize": {
        "no_ridge_in_a": _als("np.linalg.solve(B @ B.T, B @ W.T).T", _B_OK),
        "b_first": _src("""
            def als_factorize(W, r, n_iter=50, lam=0.0, seed=0):
                W = np.asarray(W, dtype=np.float64)
                A = np.random.default_rng(seed).standard_normal((W.shape[0], r))
                I = np.eye(r)
                for _ in range(n_iter):
                    B = np.linalg.solve(A.T @ A + lam * I, A.T @ W)
                    A = np.linalg.solve(B @ B.T + lam * I, B @ W.T).T
                return A, B
            """),
        "ridge_doubled": _als("np.linalg.solve(B @ B.T + 2 * lam * I, B @ W.T).T", _B_OK),
    },
    "activation_aware_svd": {
        "divide_not_multiply": _aware(_RMS, "    A, B = truncated_svd(W / s[:, None], r)\n"
                                            "    return A * s[:, None], B\n"),
        "scaling_not_undone": _aware(_RMS, "    return truncated_svd(s[:, None] * W, r)\n"),
        "mean_abs_not_rms": _aware("np.mean(np.abs(X), axis=0)",
                                   "    A, B = truncated_svd(s[:, None] * W, r)\n    return A / s[:, None], B\n"),
        "plain_svd": _aware(_RMS, "    return truncated_svd(W, r)\n"),
    },
    "positive_random_features": {
        "no_norm_term": ("def positive_random_features(x, omega):\n"
                         "    return np.exp(x @ omega) / np.sqrt(omega.shape[1])\n"),
        "one_over_m": ("def positive_random_features(x, omega):\n"
                       "    return np.exp(x @ omega - 0.5 * np.sum(x * x, axis=-1, keepdims=True)) / omega.shape[1]\n"),
        "trig_features": _src("""
            def positive_random_features(x, omega):
                m = omega.shape[1]
                p = x @ omega
                scale = np.exp(0.5 * np.sum(x * x, axis=-1, keepdims=True))
                return np.concatenate([np.cos(p), np.sin(p)], axis=-1)[..., :m] * scale / np.sqrt(m)
            """),
        "full_square_norm": ("def positive_random_features(x, omega):\n"
                             "    return np.exp(x @ omega - np.sum(x * x, axis=-1, keepdims=True)) "
                             "/ np.sqrt(omega.shape[1])\n"),
    },
    "causal_linear_attention": {
        "exclusive_sums": _LOOP_HEAD + (
            "    for t in range(T):\n"
            "        den = phi_q[t] @ z\n"
            "        if den > 0:\n"
            "            out[t] = (phi_q[t] @ S) / den\n"
            "        S += np.outer(phi_k[t], v[t])\n"
            "        z += phi_k[t]\n"
            "    return out\n"),
        "non_causal": _src("""
            def causal_linear_attention(phi_q, phi_k, v):
                num = phi_q @ (phi_k.T @ v)
                den = phi_q @ phi_k.sum(axis=0)
                out = np.zeros_like(num)
                np.divide(num, den[:, None], out=out, where=den[:, None] > 0)
                return out
            """),
        "quadratic_memory": _src("""
            def causal_linear_attention(phi_q, phi_k, v):
                w = np.tril(phi_q @ phi_k.T)
                den = w.sum(axis=1, keepdims=True)
                out = np.zeros((phi_q.shape[0], v.shape[1]))
                np.divide(w @ v, den, out=out, where=den > 0)
                return out
            """),
        "normaliser_over_queries": _src("""
            def causal_linear_attention(phi_q, phi_k, v):
                w = np.tril(phi_q @ phi_k.T)
                den = w.sum(axis=0)[:, None]
                out = np.zeros((phi_q.shape[0], v.shape[1]))
                np.divide(w @ v, den, out=out, where=den > 0)
                return out
            """),
    },
    "lora_linear": {
        "b_random": _lora(init_b="torch.randn(base.out_features, r) * 0.01"),
        "both_zero": _lora(init_a="nn.init.zeros_(self.A)"),
        "scale_forgotten": _lora(forward="self.base(x) + (x @ self.A.T) @ self.B.T"),
        "scale_inverted": _lora(scale="r / alpha"),
        "base_not_frozen": _lora(freeze=False),
    },
    "merge_lora": {
        "scale_forgotten": _merge("base.weight + layer.B @ layer.A"),
        "transposed_update": _merge("base.weight + layer.scale * (layer.B @ layer.A).T"),
        "in_place": _src("""
            def merge_lora(layer):
                base = layer.base
                with torch.no_grad():
                    base.weight += layer.scale * layer.B @ layer.A
                return base
            """),
    },
}

RIGHT = {
    "truncated_svd": {
        "balanced_sqrt_split": _trunc("    root = np.sqrt(S[:r])\n"
                                      "    return U[:, :r] * root, root[:, None] * Vt[:r]\n"),
        "sign_flipped": _trunc("    return -(U[:, :r] * S[:r]), -Vt[:r]\n"),
        "einsum_diag": _trunc("    return np.einsum('ij,j->ij', U[:, :r], S[:r]), Vt[:r].copy()\n"),
    },
    "eckart_young_error": {
        "hypot": "def eckart_young_error(s, r):\n    return math.hypot(*[float(x) for x in np.asarray(s)[r:]])\n",
        "linalg_norm_scaled": _src("""
            def eckart_young_error(s, r):
                t = np.asarray(s, dtype=np.float64)[r:]
                big = np.max(np.abs(t), initial=0.0)
                return 0.0 if big == 0 else float(big * np.linalg.norm(t / big))
            """),
    },
    "energy_rank": {
        "python_loop": _src("""
            def energy_rank(s, frac):
                s = [float(x) for x in s]
                big = max(s)
                if big == 0:
                    return 0
                c, acc = [], 0.0
                for x in s:
                    acc += (x / big) ** 2
                    c.append(acc)
                for i, value in enumerate(c):
                    if value >= frac * c[-1]:
                        return i + 1
            """),
    },
    "break_even_rank": {
        "fraction_ceil": _src("""
            def break_even_rank(m, n):
                from fractions import Fraction
                return math.ceil(Fraction(m * n, m + n)) - 1
            """),
        "ceil_minus_one": "def break_even_rank(m, n):\n    return -(-(m * n) // (m + n)) - 1\n",
    },
    "randomized_svd": {
        "sign_flipped_einsum": _RSVD_HEAD + (
            "    Q, _ = np.linalg.qr(np.einsum('ij,jk->ik', W, omega))\n"
            "    for _ in range(n_power):\n"
            "        Z, _ = np.linalg.qr(W.T @ Q)\n"
            "        Q, _ = np.linalg.qr(W @ Z)\n"
            "    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)\n"
            "    return -(Q @ Ub)[:, :r], S[:r], -Vt[:r]\n"),
        "positive_diagonal_qr": _RSVD_HEAD + (
            "    def orth(Y):\n"
            "        Q, R = np.linalg.qr(Y)\n"
            "        return Q * np.where(np.diag(R) < 0, -1.0, 1.0)\n"
            "    Q = orth(W @ omega)\n"
            "    for _ in range(n_power):\n"
            "        Q = orth(W @ orth(W.T @ Q))\n"
            "    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)\n"
            "    return (Q @ Ub)[:, :r], S[:r], Vt[:r]\n"),
    },
    "power_svd": {
        "sign_flipped_at_end": _power(_POWER_OK).replace("    return U, S, Vt\n", "    return -U, S, -Vt\n"),
        "project_out_previous": _src("""
            def power_svd(W, k, n_iter=200, seed=0):
                rng = np.random.default_rng(seed)
                W = np.asarray(W, dtype=np.float64)
                m, n = W.shape
                U, S, Vt = np.zeros((m, k)), np.zeros(k), np.zeros((k, n))
                for i in range(k):
                    v = rng.standard_normal(n)
                    v /= np.linalg.norm(v)
                    u, s = np.zeros(m), 0.0
                    for _ in range(n_iter):
                        v = v - Vt[:i].T @ (Vt[:i] @ v)
                        u = W @ v - U[:, :i] @ (U[:, :i].T @ (W @ v))
                        nu = np.linalg.norm(u)
                        if nu == 0:
                            return U, S, Vt
                        u /= nu
                        v = W.T @ u - Vt[:i].T @ (S[:i] * (U[:, :i].T @ u))
                        s = np.linalg.norm(v)
                        v /= s
                    U[:, i], S[i], Vt[i] = u, s, v
                return U, S, Vt
            """),
    },
    "als_factorize": {
        "inverse_matrices": _als("W @ B.T @ np.linalg.inv(B @ B.T + lam * I)",
                                 "np.linalg.inv(A.T @ A + lam * I) @ A.T @ W"),
    },
    "activation_aware_svd": {
        "explicit_diag_matrices": _aware(
            "np.sqrt((np.asarray(X, dtype=np.float64) ** 2).sum(axis=0) / X.shape[0])",
            "    A, B = truncated_svd(np.diag(s) @ W, r)\n    return np.diag(1 / s) @ A, B\n"),
        "sign_flip_own_svd": _aware(
            _RMS,
            "    U, S, Vt = np.linalg.svd(s[:, None] * W, full_matrices=False)\n"
            "    return -(U[:, :r] * S[:r]) / s[:, None], -Vt[:r]\n"),
    },
    "positive_random_features": {
        "einsum_log_space": _src("""
            def positive_random_features(x, omega):
                m = omega.shape[1]
                logits = np.einsum('...d,dm->...m', x, omega) - 0.5 * np.einsum('...d,...d->...', x, x)[..., None]
                return np.exp(logits - 0.5 * np.log(m))
            """),
    },
    "causal_linear_attention": {
        "python_loop": _src("""
            def causal_linear_attention(phi_q, phi_k, v):
                T, m = phi_q.shape
                out = np.zeros((T, v.shape[1]))
                S = np.zeros((m, v.shape[1]))
                z = np.zeros(m)
                for t in range(T):
                    S += np.outer(phi_k[t], v[t])
                    z += phi_k[t]
                    den = phi_q[t] @ z
                    if den > 0:
                        out[t] = (phi_q[t] @ S) / den
                return out
            """),
        "cumsum_einsum": _src("""
            def causal_linear_attention(phi_q, phi_k, v):
                S = np.cumsum(np.einsum('tm,td->tmd', phi_k, v), axis=0)
                z = np.cumsum(phi_k, axis=0)
                num = np.einsum('tm,tmd->td', phi_q, S)
                den = np.einsum('tm,tm->t', phi_q, z)[:, None]
                out = np.zeros_like(num)
                np.divide(num, den, out=out, where=den > 0)
                return out
            """),
    },
    "lora_linear": {
        "normal_init_functional": _lora(
            init_a="nn.init.normal_(self.A, std=1.0 / r)",
            forward="self.base(x) + torch.nn.functional.linear(torch.nn.functional.linear(x, self.A), self.B) "
                    "* self.scale"),
        "scale_on_input": _lora(forward="self.base(x) + ((self.scale * x) @ self.A.T) @ self.B.T"),
    },
    "merge_lora": {
        "einsum_deepcopy": _src("""
            def merge_lora(layer):
                import copy
                merged = copy.deepcopy(layer.base)
                with torch.no_grad():
                    merged.weight += layer.scale * torch.einsum('or,ri->oi', layer.B, layer.A)
                return merged
            """),
    },
}
