"""Plots shared by the notebooks (matplotlib; each function returns its Figure)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np


def heatmap(matrix: np.ndarray, xlabels: list[str] | None = None, ylabels: list[str] | None = None,
            title: str = "", xlabel: str = "", ylabel: str = "", cmap: str = "viridis",
            ax: plt.Axes | None = None) -> plt.Figure:
    """(R, C) matrix as an annotated-axis heatmap with a colour bar."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {matrix.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(1 + 0.35 * matrix.shape[1], 10), min(1 + 0.35 * matrix.shape[0], 8)))
    else:
        fig = ax.figure
    im = ax.imshow(matrix, cmap=cmap, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), labels=xlabels, rotation=90 if max(map(len, xlabels), default=0) > 2 else 0)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), labels=ylabels)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return fig


# --- module 00_welcome -------------------------------------------------------------------------
_VISIBLE = {"\n": "↵", " ": "␣", "\t": "⇥"}


def token_labels(vocab: str | list[str]) -> list[str]:
    """One printable label per character token: newline shows as ↵, space as ␣ and tab as ⇥."""
    return [_VISIBLE.get(ch, ch) for ch in vocab]


def bigram_heatmap(probs: np.ndarray, vocab: str, title: str = "") -> plt.Figure:
    """(V, V) next-token probabilities as a log10 heatmap; rows are the previous token, zeros blank."""
    probs = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logp = np.where(probs > 0, np.log10(np.where(probs > 0, probs, 1.0)), np.nan)
    labels = token_labels(vocab)
    fig, ax = plt.subplots(figsize=(11, 9))
    heatmap(logp, xlabels=labels, ylabels=labels, title=title, xlabel="next token",
            ylabel="previous token", cmap="magma", ax=ax)
    ax.tick_params(labelsize=8)
    ax.tick_params(axis="x", rotation=0)
    fig.axes[-1].set_ylabel("log10 P(next | previous)")
    fig.tight_layout()
    return fig


def perplexity_vs_alpha(alphas: np.ndarray, curves: dict[str, np.ndarray], baseline: float | None = None,
                        title: str = "") -> plt.Figure:
    """Perplexity against the smoothing strength alpha (log x axis), one line per labelled curve."""
    from matplotlib import ticker

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        line, = ax.plot(alphas, values, marker="o", ms=3, label=label)
        best = int(np.nanargmin(values))
        ax.plot(alphas[best], values[best], marker="*", ms=12, color=line.get_color())
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label=f"uniform guess ({baseline:g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}" if f"{y:g}"[0] in "2468" else ""))
    ax.set(xlabel="smoothing alpha (pseudo-count added to every pair)", ylabel="validation perplexity (log scale)",
           title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", axis="y", alpha=0.15)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def next_token_bars(probs_row: np.ndarray, freqs: np.ndarray, vocab: str, top: int = 12,
                    title: str = "") -> plt.Figure:
    """Model probabilities against observed sample frequencies for the `top` most likely next tokens."""
    probs_row, freqs = np.asarray(probs_row, dtype=np.float64), np.asarray(freqs, dtype=np.float64)
    order = np.argsort(-probs_row, kind="stable")[:top]
    labels = token_labels(vocab)
    x = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.2, probs_row[order], width=0.4, label="model probability")
    ax.bar(x + 0.2, freqs[order], width=0.4, label="frequency in samples")
    ax.set_xticks(x, labels=[labels[i] for i in order])
    ax.set(xlabel="next token", ylabel="probability", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

# --- module 01_attention -----------------------------------------------------------------------
def attention_map(weights: np.ndarray, query_tokens: list[str] | str, key_tokens: list[str] | str | None = None,
                  title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """(T_q, T_k) attention weights on a fixed 0..1 colour scale; queries down the side, keys across."""
    weights = np.asarray(weights)
    key_tokens = query_tokens if key_tokens is None else key_tokens
    if weights.ndim != 2 or weights.shape != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"attention_map needs a ({len(query_tokens)}, {len(key_tokens)}) matrix of weights, "
                         f"got shape {weights.shape}")
    T_q, T_k = weights.shape
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(2.0 + 0.34 * T_k, 11), min(1.2 + 0.34 * T_q, 9)))
    else:
        fig = ax.figure
    im = ax.imshow(weights, cmap="magma", vmin=0.0, vmax=1.0, aspect="equal")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    ax.set_xticks(range(T_k), labels=token_labels(key_tokens))
    ax.set_yticks(range(T_q), labels=token_labels(query_tokens))
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set(xlabel="key (attended to)", ylabel="query (attending)")
    ax.set_title(title, pad=10)
    return fig

# --- module 02_multihead -----------------------------------------------------------------------
def head_maps(weights: np.ndarray, tokens: list[str] | str, titles: list[str] | None = None,
              suptitle: str = "") -> plt.Figure:
    """(n_head, T, T) attention weights as one row of maps on a shared 0..1 scale, queries down, keys across."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 3 or weights.shape[1:] != (len(tokens), len(tokens)):
        raise ValueError(f"head_maps needs (n_head, {len(tokens)}, {len(tokens)}) weights, got shape {weights.shape}")
    n_head, T = weights.shape[0], len(tokens)
    labels = ["␣" if t == " " else "⏎" if t == "\n" else t for t in tokens]
    side = min(1.2 + 0.22 * T, 5.0)
    fig, axes = plt.subplots(1, n_head, figsize=(side * n_head + 1.0, side + 0.8), squeeze=False)
    for h, ax in enumerate(axes[0]):
        im = ax.imshow(weights[h], cmap="magma", vmin=0.0, vmax=1.0, aspect="equal")
        ax.set_xticks(range(T), labels=labels, fontsize=7)
        ax.set_yticks(range(T), labels=labels if h == 0 else [""] * T, fontsize=7)
        ax.xaxis.tick_top()
        ax.set_title(titles[h] if titles else f"head {h}", fontsize=10, pad=14)
    axes[0, 0].set_ylabel("query (attending)")
    fig.colorbar(im, ax=list(axes[0]), fraction=0.015, pad=0.02, label="attention weight")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def kv_cache_curves(n_tokens: np.ndarray, curves: dict[str, np.ndarray], reference: tuple[str, float] | None = None,
                    title: str = "") -> plt.Figure:
    """KV-cache size in GiB against context length (log-log), one line per labelled (len(n_tokens),) array of bytes."""
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, values in curves.items():
        ax.plot(n_tokens, np.asarray(values, dtype=np.float64) / 2**30, marker="o", ms=3, label=label)
    if reference is not None:
        ax.axhline(reference[1] / 2**30, color="grey", ls="--", lw=1, label=reference[0])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v / 1024:g}k" if v >= 1024 else f"{v:g}")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.set(xlabel="tokens in the cache (context length x batch)", ylabel="KV cache (GiB)", title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

# --- module 03_causal_masking ------------------------------------------------------------------
_MASK_COLOURS = ("#30343f", "#f4c95d")  # blocked (False), allowed (True)


def _ticks(ax: plt.Axes, n_rows: int, n_cols: int, rows: list[str] | None, cols: list[str] | None) -> None:
    """Integer or token tick labels, with thin lines between the cells."""
    ax.set_xticks(range(n_cols), labels=cols if cols is not None else [str(j) for j in range(n_cols)])
    ax.set_yticks(range(n_rows), labels=rows if rows is not None else [str(i) for i in range(n_rows)])
    ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    ax.tick_params(labelsize=7 if max(n_rows, n_cols) > 10 else 9)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")


def mask_panels(masks: list[np.ndarray], titles: list[str], suptitle: str = "",
                row_labels: list[list[str] | None] | None = None,
                col_labels: list[list[str] | None] | None = None) -> plt.Figure:
    """Boolean (T_q, T_k) masks side by side: allowed (True) light, blocked (False) dark; queries down."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    masks = [np.asarray(m) for m in masks]
    if any(m.ndim != 2 for m in masks):
        raise ValueError(f"mask_panels needs 2-D masks, got shapes {[m.shape for m in masks]}")
    n = len(masks)
    row_labels = row_labels or [None] * n
    col_labels = col_labels or [None] * n
    widths = [max(m.shape[1], 3) for m in masks]
    height = 1.5 + 0.3 * max(m.shape[0] for m in masks) + 0.3 * bool(suptitle)
    fig, axes = plt.subplots(1, n, figsize=(min(0.8 + 0.33 * sum(widths) + 0.9 * n, 15), height),
                             gridspec_kw={"width_ratios": widths}, squeeze=False, layout="constrained")
    cmap = ListedColormap(_MASK_COLOURS)
    for ax, m, title, rows, cols in zip(axes[0], masks, titles, row_labels, col_labels, strict=True):
        ax.imshow(m.astype(float), cmap=cmap, vmin=0.0, vmax=1.0, aspect="equal")
        _ticks(ax, m.shape[0], m.shape[1], rows, cols)
        ax.set_xlabel("key j (attended to)", fontsize=9)
        ax.set_ylabel("query i (attending)", fontsize=9)
        ax.set_title(title, fontsize=10)
    fig.legend(handles=[Patch(color=_MASK_COLOURS[1], label="True: may attend"),
                        Patch(color=_MASK_COLOURS[0], label="False: blocked")],
               loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def weights_panels(weights: list[np.ndarray], titles: list[str], suptitle: str = "",
                   labels: list[str] | None = None) -> plt.Figure:
    """(T_q, T_k) attention weights side by side on one 0..1 scale, each row's sum written to its right."""
    weights = [np.asarray(w, dtype=np.float64) for w in weights]
    if any(w.ndim != 2 for w in weights):
        raise ValueError(f"weights_panels needs 2-D matrices, got shapes {[w.shape for w in weights]}")
    n = len(weights)
    T_q = max(w.shape[0] for w in weights)
    height = 1.7 + 0.42 * T_q + 0.3 * bool(suptitle)
    fig, axes = plt.subplots(1, n, figsize=(min(1.5 + 0.45 * sum(w.shape[1] + 3 for w in weights), 15), height),
                             squeeze=False, layout="constrained")
    im = None
    for ax, w, title in zip(axes[0], weights, titles, strict=True):
        im = ax.imshow(w, cmap="magma", vmin=0.0, vmax=1.0, aspect="equal")
        _ticks(ax, w.shape[0], w.shape[1], labels if labels and len(labels) == w.shape[0] else None,
               labels if labels and len(labels) == w.shape[1] else None)
        sums = w.sum(axis=1)
        right = ax.secondary_yaxis("right")
        right.set_yticks(range(w.shape[0]), labels=[f"Σ {total:.2f}" for total in sums])
        right.tick_params(length=0, labelsize=8)
        for label, total in zip(right.get_yticklabels(), sums, strict=True):
            label.set_color("black" if abs(total - 1.0) < 1e-6 else "crimson")
        ax.set_xlabel("key j", fontsize=9)
        ax.set_ylabel("query i", fontsize=9)
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=list(axes[0]), fraction=0.03, pad=0.02, label="attention weight")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# --- module 04_tiny_gpt ------------------------------------------------------------------------
def loss_by_position(losses: np.ndarray, bigram: float | None = None, title: str = "") -> plt.Figure:
    """(T,) mean cross-entropy in nats at each position of the context window, with a bigram reference line."""
    losses = np.asarray(losses, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.plot(np.arange(len(losses)), losses, marker=".", ms=4, lw=1, label="tiny GPT")
    if bigram is not None:
        ax.axhline(bigram, color="grey", ls="--", lw=1, label=f"bigram baseline ({bigram:.2f} nats)")
    ax.axhline(losses.mean(), color="C1", ls=":", lw=1, label=f"tiny GPT, all positions ({losses.mean():.2f} nats)")
    ax.set(xlabel="position in the window (= characters of context - 1)", ylabel="cross-entropy (nats)",
           title=title, ylim=(0, None))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def nucleus_size(ps: np.ndarray, sizes: dict[str, np.ndarray], title: str = "") -> plt.Figure:
    """Number of tokens kept by top-p against p, one step line per labelled context (log y axis)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in sizes.items():
        ax.step(ps, np.asarray(values), where="post", lw=1.5, label=label)
    ax.set_yscale("log")
    ax.set(xlabel="p (probability mass to keep)", ylabel="tokens kept", title=title, xlim=(0, 1.02))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, title="context")
    fig.tight_layout()
    return fig

# --- module 05_pytorch_gpu ---------------------------------------------------------------------
def time_per_token(positions: list[int] | np.ndarray, curves: dict[str, np.ndarray], title: str = "") -> plt.Figure:
    """Milliseconds to produce one token against its position in the sequence, one line per labelled curve."""
    positions = np.asarray(positions)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for label, seconds in curves.items():
        ax.plot(positions, np.asarray(seconds, dtype=np.float64) * 1e3, marker="o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set(xlabel="position of the new token (tokens already in the context)", ylabel="time for one token (ms, log)",
           title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

# --- module 06_inference_cost ------------------------------------------------------------------
def roofline(peak_flops: float, bandwidth: float, points: dict[str, tuple[float, float]] | None = None,
             title: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """Log-log roofline: attainable FLOP/s = min(peak, bandwidth x intensity); points are (FLOPs/byte, FLOP/s)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.5))
    else:
        fig = ax.figure
    ridge = peak_flops / bandwidth
    xs = np.logspace(np.log10(ridge) - 4, np.log10(ridge) + 2.5, 200)
    ax.loglog(xs, np.minimum(peak_flops, bandwidth * xs), color="black", lw=2, label="roofline")
    ax.axvline(ridge, color="grey", ls="--", lw=1)
    ax.annotate(f"ridge {ridge:.3g} FLOPs/byte", (ridge, peak_flops), textcoords="offset points",
                xytext=(6, -14), fontsize=8, color="grey")
    for label, (x, y) in (points or {}).items():
        ax.loglog([x], [y], marker="o", ms=6, ls="none", label=label)
    ax.set(xlabel="arithmetic intensity (FLOPs / byte moved)", ylabel="FLOP/s", title=title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def predicted_vs_measured(labels: list[str], predicted: list[float], measured: list[float],
                          title: str = "", with_overhead: list[float] | None = None) -> plt.Figure:
    """Grouped bars (milliseconds, log scale) of predicted and measured step times, with the error in %.

    with_overhead: a second prediction per label (the roofline plus the overhead floor), drawn between the two;
    the annotated error is then against it.
    """
    x = np.arange(len(labels))
    pred_ms, meas_ms = np.asarray(predicted) * 1e3, np.asarray(measured) * 1e3
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.4 if with_overhead is None else 0.27
    ax.bar(x - width, pred_ms, width=width, label="predicted (roofline)")
    ref_ms = pred_ms
    if with_overhead is not None:
        ref_ms = np.asarray(with_overhead) * 1e3
        ax.bar(x, ref_ms, width=width, label="predicted (roofline + overhead floor)")
    ax.bar(x + width, meas_ms, width=width, label="measured (median)")
    for i, (p, m) in enumerate(zip(ref_ms, meas_ms, strict=True)):
        ax.annotate(f"{(m - p) / p * 100:+.0f}%", (i + width, m), textcoords="offset points", xytext=(0, 3),
                    ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(mticker.FuncFormatter(          # label 2 and 5 of each decade only
        lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** np.floor(np.log10(v))) in (2, 5) else ""))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xticks(x, labels=labels, fontsize=8)
    ax.set(ylabel="one decode step (ms, log scale)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

# --- module 07_quantization --------------------------------------------------------------------
def quant_error_curves(bits: list[int], curves: dict[str, list[float]], group_sizes: list[int],
                       group_curve: list[float], group_bits: int = 4) -> plt.Figure:
    """Two panels: SQNR (dB) against bits, one line per granularity; SQNR against group size at group_bits."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for label, values in curves.items():
        ax1.plot(bits, values, marker="o", label=label)
    ref = np.asarray(bits, dtype=np.float64)
    first = next(iter(curves.values()))
    ax1.plot(ref, first[0] + 6.02 * (ref - ref[0]), ls=":", color="grey", label="+6.02 dB per bit")
    ax1.set(xlabel="bits per weight", ylabel="SQNR (dB)", title="Error against bits")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.plot(group_sizes, group_curve, marker="o", color="C2")
    ax2.set_xscale("log", base=2)
    ax2.set_xticks(group_sizes, labels=[str(g) for g in group_sizes])
    ax2.set(xlabel="group size (inputs sharing one scale)", ylabel="SQNR (dB)",
            title=f"{group_bits}-bit error against group size")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def outlier_sqnr_bars(results: dict[str, dict[str, float]]) -> plt.Figure:
    """Grouped bars: SQNR (dB) of each method (inner keys) for each input condition (outer keys)."""
    conditions = list(results)
    methods = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(methods)
    for i, m in enumerate(methods):
        vals = [results[c][m] for c in conditions]
        bars = ax.bar(np.arange(len(conditions)) + (i - (len(methods) - 1) / 2) * width, vals, width, label=m)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(range(len(conditions)), labels=conditions)
    ax.set(ylabel="SQNR against fp32 output (dB)", title="Activation outliers and the LLM.int8 split")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def clip_calibration(abs_values: np.ndarray, clips: dict[str, float], sweep: np.ndarray,
                     sweep_sqnr: dict[int, list[float]], marks: dict[tuple[str, int], tuple[float, float]],
                     hist_bits: int = 4) -> plt.Figure:
    """Two panels: histogram of |x| (log counts) with each method's range as a line; held-out SQNR against range.

    clips: method -> range at hist_bits; sweep (R,) ranges with sweep_sqnr bits -> (R,) SQNR in dB;
    marks: (method, bits) -> (range chosen, its held-out SQNR), drawn as a marker on that bits' curve.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.hist(np.ravel(abs_values), bins=120, color="0.6", log=True)
    for i, (label, c) in enumerate(clips.items()):
        ax1.axvline(c, color=f"C{i}", lw=1.5, label=f"{label}: {c:.1f}")
    ax1.set(xlabel="|x| in the calibration sample", ylabel="count (log)",
            title=f"Where the {hist_bits}-bit range lands")
    ax1.legend(fontsize=8)
    sweep = np.asarray(sweep)
    shapes = "os^v"
    for j, (bits, values) in enumerate(sweep_sqnr.items()):
        ax2.plot(sweep, np.asarray(values), color="0.3", ls=("-", "--", ":", "-.")[j % 4], lw=1,
                 label=f"{bits}-bit, every range")
    for j, bits in enumerate(sweep_sqnr):
        for i, label in enumerate(clips):
            if (label, bits) in marks:
                c, db = marks[label, bits]
                ax2.plot(c, db, marker=shapes[j % 4], ls="none", color=f"C{i}", label=label if j == 0 else None)
    ax2.set_xscale("log", base=2)
    ticks = [2.0**e for e in range(int(np.floor(np.log2(sweep.min()))), int(np.ceil(np.log2(sweep.max()))) + 1)]
    ax2.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    top = max(max(v) for v in sweep_sqnr.values())
    ax2.set_ylim(top=top + 12)
    names = " / ".join(f"{'●■▲▼'[j % 4]} {b}-bit" for j, b in enumerate(sweep_sqnr))
    ax2.set(xlabel="clipping range c (log scale)", ylabel="held-out SQNR (dB)",
            title=f"Held-out SQNR against range ({names} choices)")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8, ncol=2, loc="upper left")
    fig.tight_layout()
    return fig

# --- module 08_qat_mixed_precision -------------------------------------------------------------
# (QAT and mixed-precision plots go here)


def qat_results(results: dict[str, dict[str, float]], losses: list[float]) -> plt.Figure:
    """Held-out perplexity per variant (bars) and the QAT training loss per step."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    names = list(results)
    ppl = [results[n]["ppl"] for n in names]
    colors = ["tab:green" if n == "fp32" else "tab:blue" if n.startswith("QAT") else "tab:red" for n in names]
    ax1.bar(range(len(names)), ppl, color=colors)
    ax1.set_xticks(range(len(names)), labels=names, rotation=20)
    for i, v in enumerate(ppl):
        ax1.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax1.set(ylabel="held-out perplexity", title="PTQ vs QAT (lower is better)")
    ax2.plot(range(1, len(losses) + 1), losses, lw=1)
    ax2.set(xlabel="QAT step", ylabel="training loss (nats)", title="QAT fine-tuning")
    fig.tight_layout()
    return fig


def grad_magnitudes(grads: np.ndarray | object) -> plt.Figure:
    """Histogram of log10 |gradient| with float16's subnormal and normal limits marked."""
    g = np.abs(np.asarray(grads, dtype=np.float64).ravel())
    g = g[g > 0]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(np.log10(g), bins=80, color="tab:blue")
    ax.axvline(np.log10(2.0 ** -24), color="tab:red", ls="--", label="fp16 smallest subnormal 2^-24")
    ax.axvline(np.log10(2.0 ** -14), color="tab:orange", ls=":", label="fp16 smallest normal 2^-14")
    ax.set(xlabel="log10 |gradient|", ylabel="count", title="Gradient magnitudes vs float16 range")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def loss_scale_trace(scales: list[float], stepped: list[bool]) -> plt.Figure:
    """log2 of the loss scale per step, skipped (overflow) steps marked in red."""
    s = np.log2(np.asarray(scales, dtype=np.float64))
    ok = np.asarray(stepped, dtype=bool)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.step(range(len(s)), s, where="post", color="tab:blue", lw=1)
    ax.scatter(np.flatnonzero(~ok), s[~ok], color="tab:red", s=14, zorder=3, label="skipped (inf/NaN)")
    ax.set(xlabel="step", ylabel="log2(loss scale)", title="Dynamic loss scaling")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
