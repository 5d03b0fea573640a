"""Plots shared by the notebooks (matplotlib; each function returns its Figure)."""

from __future__ import annotations

import matplotlib.pyplot as plt
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
# (bigram plots go here)

# --- module 01_attention -----------------------------------------------------------------------
# (attention plots go here)
