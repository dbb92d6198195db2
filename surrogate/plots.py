"""Figures written to files (never shown): predicted versus measured, log-log."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["predicted_vs_measured"]


def predicted_vs_measured(predictions: pd.DataFrame, metric: str, variants: list[str], path: Path,
                          title: str) -> Path | None:
    """One log-log scatter per variant for the rows that measured ``metric``; None if there are none."""
    measured = predictions[f"{metric}_measured"].to_numpy(dtype=float)
    rows = np.isfinite(measured) & (measured > 0)
    if not rows.any():
        return None
    fig, axes = plt.subplots(1, len(variants), figsize=(4.2 * len(variants), 4.2), squeeze=False)
    low, high = measured[rows].min() / 2, measured[rows].max() * 2
    for ax, variant in zip(axes[0], variants, strict=True):
        predicted = predictions[f"{metric}_{variant}"].to_numpy(dtype=float)[rows]
        ax.scatter(measured[rows], predicted, s=4, alpha=0.4)
        ax.plot([low, high], [low, high], color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_xlabel(f"measured {metric}")
        ax.set_ylabel(f"predicted {metric}")
        ax.set_title(variant.replace("_", " "))
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
