"""Visible self-checks for module 09_pruning.

Expected values are worked out by hand on tiny inputs (the arithmetic sits next to each case) or are
properties any correct answer has (exact counts, masked-model equivalence, finite differences). No check
holds a pruning rule, a format converter or a kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..model import GPTConfig, TinyGPT
from ._core import Case, CheckFailed, compare, run

F32 = np.float32
NOT_YET = "not implemented yet (replace `raise NotImplementedError()` with your code)"


def _keep_mask(expected: np.ndarray) -> Callable:
    """Property: a bool mask equal to `expected`."""
    def prop(got):
        got = np.asarray(got)
        if got.dtype != bool:
            return f"the mask must be a boolean array (True = kept), got dtype {got.dtype}"
        return compare(np.asarray(expected, dtype=bool), got)
    return prop


def _count_and_order(w: np.ndarray, n_prune: int) -> Callable:
    """Property: exactly n_prune entries pruned, and no pruned |w| above a kept one (ties free)."""
    def prop(got):
        m = np.asarray(got)
        if m.dtype != bool or m.shape != w.shape:
            return f"expected a bool mask of shape {w.shape}, got {m.dtype} {m.shape}"
        if (~m).sum() != n_prune:
            return f"{(~m).sum()} entries pruned, expected exactly {n_prune} (ties at the threshold count too)"
        a = np.abs(w)
        if m.any() and (~m).any() and a[~m].max() > a[m].min():
            return "a pruned |w| is larger than a kept one"
        return None
    return prop


# --- 1. magnitude pruning ---------------------------------------------------------------------------------

def magnitude_mask(fn: Callable) -> None:
    """Check magnitude_mask on a 2x3 matrix, a matrix with ties, and sparsity 0 and 1."""
    w = np.array([[0.5, -2.0, 0.1], [-0.3, 1.0, 0.0]], dtype=F32)
    ties = np.array([1.0, -1.0, 1.0, 2.0], dtype=F32)
    run("magnitude_mask", fn, [
        # round(0.5 * 6) = 3 pruned: |w| = 0.0, 0.1, 0.3 are the smallest; -2.0 is the largest magnitude
        Case("2x3, sparsity 0.5", (w, 0.5), expected=np.array([[True, True, False], [False, True, False]])),
        # round(0.5 * 4) = 2 pruned among three tied 1.0 magnitudes: any two, but exactly two
        Case("ties at the threshold: exact count", (ties, 0.5), prop=_count_and_order(ties, 2)),
        Case("sparsity 0 keeps everything", (w, 0.0), prop=_keep_mask(np.ones((2, 3), dtype=bool))),
        Case("sparsity 1 prunes everything", (w, 1.0), prop=_keep_mask(np.zeros((2, 3), dtype=bool))),
    ])


def _prune_model_result(exp_masks: dict, params: dict) -> Callable:
    def prop(got):
        if not isinstance(got, tuple) or len(got) != 2:
            return f"expected a tuple (pruned, masks), got {type(got).__name__}"
        pruned, masks = got
        if not isinstance(masks, dict) or set(masks) != set(exp_masks):
            keys = sorted(masks) if isinstance(masks, dict) else masks
            return f"masks must be a dict with keys {sorted(exp_masks)}, got {keys}"
        for n, m in exp_masks.items():
            problem = _keep_mask(m)(masks[n])
            if problem:
                return f"mask of {n}: {problem}"
            problem = compare(params[n] * m, np.asarray(pruned[n]), where=f"(pruned[{n!r}])")
            if problem:
                return problem
        for k in params:
            if k not in exp_masks and not np.array_equal(pruned[k], params[k]):
                return f"{k} is not in `names`: it must not change (biases and LayerNorms are not pruned)"
        return None
    return prop


def prune_model(fn: Callable) -> None:
    """Check prune_model per tensor and with one global threshold on two small layers and a bias."""
    params = {"l1.w": np.array([[1.0, -4.0], [0.5, 2.0]], dtype=F32), "l1.b": np.array([0.001, 0.002], dtype=F32),
              "l2.w": np.array([[0.01, -0.02, 0.03]], dtype=F32)}
    names = ["l1.w", "l2.w"]
    run("prune_model", fn, [
        # per tensor: l1.w loses round(2.0) = 2 (0.5 and 1.0); l2.w loses round(1.5) = 2 (0.01 and -0.02)
        Case("scope='layer', sparsity 0.5", (params, names, 0.5, "layer"),
             prop=_prune_model_result({"l1.w": np.array([[False, True], [False, True]]),
                                       "l2.w": np.array([[False, False, True]])}, params)),
        # global: round(0.5 * 7) = 4 smallest of all 7: 0.01, 0.02, 0.03 and 0.5; the tiny bias is not a candidate
        Case("scope='global', sparsity 0.5", (params, names, 0.5, "global"),
             prop=_prune_model_result({"l1.w": np.array([[True, True], [False, True]]),
                                       "l2.w": np.array([[False, False, False]])}, params)),
    ])


def prunable_sparsity(fn: Callable) -> None:
    """Check prunable_sparsity: zeros over the named tensors' weights, not over all parameters."""
    params = {"a.w": np.array([[0.0, 1.0], [0.0, 0.0]], dtype=F32), "b.w": np.arange(1, 13, dtype=F32).reshape(3, 4),
              "a.b": np.zeros(10, dtype=F32)}
    run("prunable_sparsity", fn, [
        # 3 zeros among 4 + 12 = 16 weights (not (0.75 + 0) / 2 per tensor, not 13 / 26 over every parameter)
        Case("two tensors of different sizes, a zero bias ignored", (params, ["a.w", "b.w"]),
             expected=3 / 16, rtol=1e-12),
        Case("tiny is not zero", ({"t.w": np.array([1e-30, 0.0], dtype=F32)}, ["t.w"]), expected=0.5, rtol=1e-12),
    ])


# --- 2. importance ---------------------------------------------------------------------------------------

def _tiny_gpt(seed: int = 0) -> TinyGPT:
    torch.manual_seed(seed)
    model = TinyGPT(GPTConfig(block_size=8, n_layer=1, n_head=2, d_model=8))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))  # away from the tiny initial values, so gradients are not tiny
    return model.eval()


def taylor_scores(fn: Callable, torch_param: Callable) -> None:
    """Check taylor_scores on a 1-layer GPT against central finite differences of the mean loss."""
    model = _tiny_gpt()
    ids = np.random.default_rng(0).integers(0, 48, (3, 7))
    names = ["blocks.0.attn.w_out", "blocks.0.mlp.w_in"]

    def loss_at() -> float:
        with torch.no_grad():
            x = torch.as_tensor(ids)
            return F.cross_entropy(model(x[:, :-1]).double().flatten(0, 1), x[:, 1:].flatten()).item()

    try:
        got = fn(model, ids, names)
        again = fn(model, ids, names)
    except NotImplementedError:
        raise CheckFailed(f"taylor_scores: {NOT_YET}") from None
    if not isinstance(got, dict) or set(got) != set(names):
        raise CheckFailed(f"taylor_scores: expected a dict with keys {names}, got {type(got).__name__}")
    for n in names:
        p = torch_param(model, n)  # (N, K)
        score = np.asarray(got[n])
        if score.shape != tuple(p.shape[::-1]):
            raise CheckFailed(f"taylor_scores: {n} has shape {score.shape}; the checkpoint layout (K, N) is "
                              f"{tuple(p.shape[::-1])} (the torch weight is its transpose)")
        if not np.allclose(np.asarray(again[n]), score, rtol=1e-5, atol=1e-9):
            raise CheckFailed(f"taylor_scores: a second call gives other scores for {n}: are gradients accumulating?")
        k, j = np.unravel_index(np.argmax(score), score.shape)  # the largest score, at checkpoint index (k, j)
        for kk, jj in ((k, j), ((k + 1) % score.shape[0], (j + 3) % score.shape[1])):
            with torch.no_grad():
                w0 = p[jj, kk].item()
                eps = 1e-2 * max(abs(w0), 1e-2)
                p[jj, kk] = w0 + eps
                up = loss_at()
                p[jj, kk] = w0 - eps
                down = loss_at()
                p[jj, kk] = w0
            want = abs(w0 * (up - down) / (2 * eps))
            if not np.isclose(score[kk, jj], want, rtol=0.05, atol=1e-3 * score.max() + 1e-7):
                raise CheckFailed(f"taylor_scores: {n}[{kk}, {jj}] scores {score[kk, jj]:.5g}; |w * dL/dw| by finite "
                                  f"differences of the mean loss is {want:.5g} (layout? |grad| alone? summed loss?)")
    print(f"✔ taylor_scores: {len(names)} matrices agree with finite differences, and a second call gives the same")


def wanda_mask(fn: Callable) -> None:
    """Check wanda_mask on a 3x2 matrix where magnitude, per-row and per-output rules all differ."""
    w = np.array([[1.0, 4.0], [2.0, -1.0], [-3.0, 0.5]], dtype=F32)
    xn = np.array([10.0, 1.0, 1.0], dtype=F32)
    run("wanda_mask", fn, [
        # scores |w| * x_norm[k]: column 0 [10, 2, 3], column 1 [40, 1, 0.5]; round(0.34 * 3) = 1 pruned per column
        Case("K=3, N=2, one pruned per output column", (w, xn, 0.34),
             expected=np.array([[True, True], [False, True], [True, False]])),
        # x_norm = 1: per column, the smaller |w|: column 0 loses 1.0 (row 0), column 1 loses 0.5 (row 2)
        Case("equal input norms: magnitude within each column", (w, np.ones(3, dtype=F32), 0.34),
             expected=np.array([[False, True], [True, True], [True, False]])),
    ])


# --- 3. structured pruning ---------------------------------------------------------------------------------

def _masked_equivalence(forward: Callable, params: dict, masked: dict, shapes: dict, label: str) -> Callable:
    ids = np.random.default_rng(1).integers(0, 48, (2, 11))
    want = forward(masked, ids)

    def prop(got):
        if not isinstance(got, dict):
            return f"expected a dict of parameters, got {type(got).__name__}"
        for k, shape in shapes.items():
            if np.shape(got[k]) != shape:
                return f"{k} has shape {np.shape(got[k])}, expected {shape}"
        for k in params:
            if k not in shapes and not np.array_equal(got[k], params[k]):
                return f"{k} must not change"
        logits = forward(got, ids)
        if not np.allclose(logits, want, rtol=1e-4, atol=1e-4):
            return (f"the smaller model's logits differ from the masked full model's ({label}) by up to "
                    f"{np.abs(logits - want).max():.3g}")
        return None
    return prop


def prune_heads(fn: Callable, forward: Callable, params: dict, d_head: int) -> None:
    """Check prune_heads on layer 1 of the course GPT: shapes and the masked-model equivalence."""
    C = params["blocks.1.attn.w_out"].shape[1]
    masked = dict(params)
    wo = params["blocks.1.attn.w_out"].copy()
    for h in (1, 3):
        wo[h * d_head:(h + 1) * d_head] = 0.0  # the removed heads' rows of w_out
    masked["blocks.1.attn.w_out"] = wo
    shapes = {"blocks.1.attn.w_qkv": (C, 6 * d_head), "blocks.1.attn.b_qkv": (6 * d_head,),
              "blocks.1.attn.w_out": (2 * d_head, C)}
    run("prune_heads", fn, [
        Case("layer 1 keeps heads [0, 2]", (params, 1, [0, 2], d_head),
             prop=_masked_equivalence(forward, params, masked, shapes, "rows of heads 1 and 3 of w_out zeroed")),
    ])


def prune_ffn(fn: Callable, forward: Callable, params: dict) -> None:
    """Check prune_ffn on layer 2 of the course GPT: shapes and the masked-model equivalence."""
    C, d_ff = params["blocks.2.mlp.w_in"].shape
    keep = np.array([3, 100, 7, 511])
    masked = dict(params)
    wo = np.zeros_like(params["blocks.2.mlp.w_out"])
    wo[keep] = params["blocks.2.mlp.w_out"][keep]  # every other neuron's row of w_out zeroed
    masked["blocks.2.mlp.w_out"] = wo
    shapes = {"blocks.2.mlp.w_in": (C, 4), "blocks.2.mlp.b_in": (4,), "blocks.2.mlp.w_out": (4, C)}
    run("prune_ffn", fn, [
        Case("layer 2 keeps neurons [3, 100, 7, 511]", (params, 2, keep),
             prop=_masked_equivalence(forward, params, masked, shapes, f"all but 4 of {d_ff} rows of w_out zeroed")),
    ])


# --- 4. 2:4 ----------------------------------------------------------------------------------------------

def mask_24(fn: Callable) -> None:
    """Check mask_24 on two rows of two groups, a tie, and a K that is not a multiple of 4."""
    w = np.array([[0.1, -5.0, 3.0, 0.2, 9.0, 0.0, -8.0, 0.3],
                  [1.0, 2.0, 3.0, 4.0, -0.5, 0.25, 0.0, -1.0]], dtype=F32)
    ties = np.array([[1.0, 1.0, 0.0, 2.0]], dtype=F32)

    def ties_ok(got):
        m = np.asarray(got)
        if m.dtype != bool or m.shape != (1, 4):
            return f"expected a bool (1, 4) mask, got {m.dtype} {m.shape}"
        if not (m[0, 3] and m.sum() == 2 and not m[0, 2]):
            return f"keep 2.0 and one of the tied 1.0s (exactly 2 per group), got {m}"
        return None

    def raises(got):
        return f"K=6 is not a multiple of 4: expected ValueError, got {type(got).__name__}"

    cases = [
        # row 0: |-5|, |3| of group 0; |9|, |-8| of group 1; row 1: 3, 4 and -0.5, -1
        Case("two rows, two groups each, negatives", (w,),
             expected=np.array([[False, True, True, False, True, False, True, False],
                                [False, False, True, True, True, False, False, True]])),
        Case("a tie inside a group", (ties,), prop=ties_ok),
    ]
    run("mask_24", fn, cases, quiet=True)
    try:
        got = fn(np.ones((2, 6), dtype=F32))
    except ValueError:
        print(f"✔ mask_24: all {len(cases) + 1} visible cases passed")
        return
    except Exception as exc:  # noqa: BLE001 - any other error is the wrong one
        raise CheckFailed(f"mask_24, case 'K = 6': expected ValueError, got {type(exc).__name__}: {exc}") from None
    raise CheckFailed(f"mask_24, case 'K = 6': {raises(got)}")


def compress_24(compress: Callable, decompress: Callable) -> None:
    """Check compress_24 and decompress_24 on one row of two groups (positions (1, 3) and (0, 3))."""
    w = np.array([[0.5, -2.0, 0.0, 3.0, 1.0, 0.0, 0.0, -1.0]], dtype=F32)
    m = np.array([[False, True, False, True, True, False, False, True]])
    values = np.array([[-2.0, 3.0, 1.0, -1.0]], dtype=F32)
    meta = np.array([[1 | (3 << 2), 0 | (3 << 2)]], dtype=np.uint8)  # 13 and 12

    def comp_ok(got):
        if not isinstance(got, tuple) or len(got) != 2:
            return f"expected a tuple (values, meta), got {type(got).__name__}"
        if np.asarray(got[1]).dtype != np.uint8:
            return f"meta must be uint8, got {np.asarray(got[1]).dtype}"
        return (compare(values, np.asarray(got[0]), where="(values)")
                or compare(meta.astype(np.int64), np.asarray(got[1]).astype(np.int64), where="(meta = i0 | i1 << 2)"))

    run("compress_24", compress, [Case("one row, groups (1, 3) and (0, 3)", (w, m), prop=comp_ok)], quiet=True)
    run("decompress_24", decompress, [
        Case("back to dense", (values, meta), expected=w * m),
        # group 0 keeps positions 0 and 1 (meta 0 | 1 << 2 = 4), group 1 keeps 2 and 3 (2 | 3 << 2 = 14)
        Case("positions (0, 1) and (2, 3)",
             (np.array([[5.0, 6.0, 7.0, 8.0]], dtype=F32), np.array([[4, 14]], dtype=np.uint8)),
             expected=np.array([[5.0, 6.0, 0.0, 0.0, 0.0, 0.0, 7.0, 8.0]], dtype=F32)),
    ], quiet=True)
    print("✔ compress_24 / decompress_24: all 3 visible cases passed")


# --- 5. kernels ------------------------------------------------------------------------------------------

CSR_W = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, -3.0]], dtype=F32)
CSR = (np.array([2.0, 1.0, -3.0], dtype=F32), np.array([1, 0, 2], dtype=np.int32),
       np.array([0, 1, 1, 3], dtype=np.int64))


def dense_to_csr(fn: Callable) -> None:
    """Check dense_to_csr on a 3x3 matrix with an empty middle row."""
    def csr_ok(got):
        if not isinstance(got, tuple) or len(got) != 3:
            return f"expected a tuple (data, indices, indptr), got {type(got).__name__}"
        for name, want, g in zip(("data", "indices", "indptr"), CSR, got, strict=True):
            problem = compare(want, np.asarray(g), where=f"({name})")
            if problem:
                return problem + (" (indptr has N + 1 entries and starts at 0)" if name == "indptr" else "")
        return None
    run("dense_to_csr", fn, [
        # row 0: (col 1, 2.0); row 1: empty; row 2: (0, 1.0), (2, -3.0) -> indptr [0, 1, 1, 3]
        Case("3x3, an empty row", (CSR_W,), prop=csr_ok),
        Case("all zero: indptr of zeros", (np.zeros((2, 4), dtype=F32),),
             prop=lambda got: compare(np.zeros(3, dtype=np.int64), np.asarray(got[2]), where="(indptr)")
             if isinstance(got, tuple) else f"expected a tuple, got {type(got).__name__}"),
    ])


def csr_matvec(fn: Callable) -> None:
    """Check csr_matvec on the 3x3 CSR matrix of the dense_to_csr check."""
    run("csr_matvec", fn, [
        # y = [2 * 10, 0 (empty row), 1 * 1 - 3 * 100]
        Case("3x3 with an empty row", (*CSR, np.array([1.0, 10.0, 100.0], dtype=F32)),
             expected=np.array([20.0, 0.0, -299.0], dtype=F32), rtol=1e-6),
        Case("every row empty", (np.zeros(0, dtype=F32), np.zeros(0, dtype=np.int32), np.zeros(3, dtype=np.int64),
                                 np.ones(4, dtype=F32)), expected=np.zeros(2, dtype=F32)),
    ])


def sparse24_matvec(fn: Callable) -> None:
    """Check sparse24_matvec on the compress_24 example and an all-zero row."""
    values = np.array([[-2.0, 3.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0]], dtype=F32)
    meta = np.array([[13, 12], [4, 4]], dtype=np.uint8)
    x = np.arange(1, 9, dtype=F32)
    run("sparse24_matvec", fn, [
        # row 0 is [0, -2, 0, 3, 1, 0, 0, -1]: -2 * 2 + 3 * 4 + 1 * 5 - 1 * 8 = 5; row 1 is zero
        Case("two rows of K = 8", (values, meta, x), expected=np.array([5.0, 0.0], dtype=F32)),
    ])


# --- 6. allocation ---------------------------------------------------------------------------------------

def allocate_sparsity(fn: Callable) -> None:
    """Check allocate_sparsity on two hand-worked cases: a tie, and a step that must be divided by the layer size."""
    run("allocate_sparsity", fn, [
        # marginals 1 / (100 * 0.5) = 0.02 for both: layer 0 first (50 pruned), then layer 1 (0.02 < 9 / 50):
        # 100 pruned = the budget
        Case("tie, then the cheaper second step", (np.array([[0.0, 1.0, 10.0], [0.0, 1.0, 2.0]]), np.array([100, 100]),
                                                    np.array([0.0, 0.5, 1.0]), 0.5), expected=np.array([1, 1])),
        # per pruned weight: layer 0 costs 1 / 10 = 0.1, layer 1 costs 3 / 100 = 0.03 -> raise layer 1 (the damage
        # alone would pick layer 0)
        Case("divide by the weights a step prunes", (np.array([[0.0, 1.0], [0.0, 3.0]]), np.array([10, 100]),
                                                     np.array([0.0, 1.0]), 0.05), expected=np.array([0, 1])),
    ])


# --- 7. fine-tuning --------------------------------------------------------------------------------------

def masked_train_step(fn: Callable) -> None:
    """Check masked_train_step on a 1-layer GPT whose Adam moments are non-zero where the mask prunes."""
    model = _tiny_gpt(1).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ids = torch.as_tensor(np.random.default_rng(2).integers(0, 48, (4, 8)))
    x, y = ids[:, :-1], ids[:, 1:]
    for _ in range(2):  # unmasked steps: Adam's moments are now non-zero everywhere
        opt.zero_grad()
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()
        opt.step()
    p = model.blocks[0].mlp.fc_in.weight
    mask = (torch.arange(p.numel()).reshape(p.shape) % 3 != 0).float()
    with torch.no_grad():
        p.mul_(mask)
        want_loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
    before = model.blocks[0].mlp.fc_out.weight.detach().clone()
    try:
        got = fn(model, opt, {p: mask}, x, y)
    except NotImplementedError:
        raise CheckFailed(f"masked_train_step: {NOT_YET}") from None
    if not isinstance(got, float):
        raise CheckFailed(f"masked_train_step: return the loss as a Python float, got {type(got).__name__}")
    if abs(got - want_loss) > 1e-4:
        raise CheckFailed(f"masked_train_step: returned loss {got:.5f}, but the batch's mean loss before the step "
                          f"is {want_loss:.5f}")
    regrown = int((p.detach()[mask == 0] != 0).sum())
    if regrown:
        raise CheckFailed(f"masked_train_step: {regrown} pruned weights are non-zero after the step: Adam's moments "
                          "moved them; multiply the weights by the mask after optimizer.step()")
    if torch.equal(model.blocks[0].mlp.fc_out.weight.detach(), before):
        raise CheckFailed("masked_train_step: the weights did not change: call backward() and optimizer.step()")
    print("✔ masked_train_step: loss returned, pruned weights stay zero under Adam")
