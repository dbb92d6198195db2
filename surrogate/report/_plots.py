"""Figures written to files (never shown): predicted versus measured, and the optimizer's Pareto front.

Built on ``matplotlib.figure.Figure`` directly, not pyplot: no global backend or figure registry is
touched, so importing or calling this changes nothing for the caller's own plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from surrogate.optimize import OptimizeResult

__all__ = ["predicted_vs_measured", "pareto_plot"]


def predicted_vs_measured(predictions: pd.DataFrame, metric: str, variants: list[str], path: Path,
                          title: str) -> Path | None:
    """One log-log scatter per variant for the rows that measured ``metric``; None if there are none."""
    from matplotlib.figure import Figure

    measured = predictions[f"{metric}_measured"].to_numpy(dtype=float)
    rows = np.isfinite(measured) & (measured > 0)
    if not rows.any():
        return None
    fig = Figure(figsize=(4.2 * len(variants), 4.2))
    axes = fig.subplots(1, len(variants), squeeze=False)
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
    return path


def pareto_plot(result: OptimizeResult, path: Path) -> Path:
    """Every feasible configuration in grey, the front per accelerator as lines (median predictions), its
    disaggregated points ringed."""
    from matplotlib.figure import Figure

    feasible = result.evaluated[result.evaluated["feasible"]]
    front = result.front if result.front is not None else feasible.head(0)
    figure = Figure(figsize=(7, 5))
    axes = figure.subplots()
    axes.scatter(feasible["per_user_tok_s"], feasible["throughput_per_device_tok_s"], s=8, color="0.75",
                 label="feasible")
    for hardware, group in front.groupby("hardware"):
        ordered = group.sort_values("per_user_tok_s")
        axes.plot(ordered["per_user_tok_s"], ordered["throughput_per_device_tok_s"], "o-", label=str(hardware))
    if "serving" in front:
        split = front[front["serving"].eq("disaggregated").to_numpy()]
        if not split.empty:  # disaggregated points ringed, so the front says which they are
            axes.scatter(split["per_user_tok_s"], split["throughput_per_device_tok_s"], s=90, facecolors="none",
                         edgecolors="black", label="disaggregated")
    axes.set_xlabel("per-user speed (output tokens/s per request)")
    axes.set_ylabel("throughput (output tokens/s per device)")
    axes.set_title("Pareto front (median predictions)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path
