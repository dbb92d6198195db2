"""Write an evaluation to disk: summary JSON, held-out predictions CSV, one PNG per metric."""

from __future__ import annotations

import json
from pathlib import Path

from surrogate.model import METRICS, VARIANTS, Evaluation
from surrogate.report._json import to_jsonable
from surrogate.report._plots import predicted_vs_measured

__all__ = ["write_evaluation"]


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    """Files written: evaluation.json, predictions.csv, <metric>.png for each measured metric."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "evaluation.json"
    summary_path.write_text(json.dumps(to_jsonable({"seed": evaluation.seed, **evaluation.summary}), indent=2))
    predictions_path = out_dir / "predictions.csv"
    evaluation.predictions.to_csv(predictions_path, index=False)
    written = [summary_path, predictions_path]
    for metric in METRICS:
        png = predicted_vs_measured(evaluation.predictions, metric, VARIANTS, out_dir / f"{metric}.png",
                                    f"{metric}, held out by {evaluation.split}")
        if png is not None:
            written.append(png)
    return written
