"""A trained bundle scored on measured rows as they are, without retraining: how the default model (or yours)
does on your own measurements, beside the peak and achievable physics it corrects.

Rows the bundle trained on score as in distribution; rows it never saw are the honest test. A row that cannot
be predicted (an unknown name, an impossible deployment) is counted and named, never dropped silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.configs import CONFIG_COLUMNS
from surrogate.model._bundle import METRICS, SurrogateModel
from surrogate.model._evaluate import Evaluation, summarize
from surrogate.model._rows import predict_each
from surrogate.model._software import with_source_eras

__all__ = ["score_bundle", "BUNDLE_RULE", "ON_THE_DATA", "OFF_THE_DATA"]

ON_THE_DATA = "on the training data"
OFF_THE_DATA = "off the training data (correction trusted less)"
BUNDLE_RULE = ("every row predicted by the trained bundle given, without retraining; rows it trained on score "
               "as in distribution")


def score_bundle(model: SurrogateModel, rows: pd.DataFrame) -> tuple[Evaluation, dict[int, str]]:
    """``model``'s predictions of ``rows`` (training-table rows with measured metrics) scored as ``evaluate``
    scores a split, per metric the rows on its training data (its correction trusted in full) apart from those
    off it, and ``{position: reason}`` for the rows it could not predict."""
    dated = with_source_eras(rows.reset_index(drop=True))
    predicted, errors = predict_each(model, dated[[c for c in dated.columns if c in CONFIG_COLUMNS]])
    held = dated.loc[predicted.index]
    frame = pd.DataFrame({"fold": 0, "group": ON_THE_DATA}, index=held.index)
    for metric in METRICS:
        # Per metric, whether its correction was trusted in full (the row is on that metric's training data)
        # or less (off it: another model, accelerator, engine or release, or far from the trained points).
        trusted = predicted[f"{metric}_correction_weight"].to_numpy(dtype=float) >= 1.0
        frame[f"{metric}_group"] = np.where(trusted, ON_THE_DATA, OFF_THE_DATA)
        frame[f"{metric}_measured"] = pd.to_numeric(held[metric], errors="coerce") if metric in held else float("nan")
        frame[f"{metric}_peak"] = predicted[f"peak_{metric}"]
        frame[f"{metric}_achievable"] = predicted[f"analytic_{metric}"]
        frame[f"{metric}_surrogate"] = predicted[metric]
        frame[f"{metric}_surrogate_p10"] = predicted[f"{metric}_p10"]
        frame[f"{metric}_surrogate_p90"] = predicted[f"{metric}_p90"]
    for column in ["hardware", "model", "framework", "source", "batching"]:
        if column in held:
            frame[column] = held[column].astype(str)
    summary: dict[str, Any] = summarize(frame, "bundle", dropped_rows=len(errors))
    summary["split_rule"] = BUNDLE_RULE
    return Evaluation("bundle", None, frame, summary), errors
