"""The roofline alone behind the ``predict`` interface, so it can be scored and ranked like the surrogate.

Used to seed Optuna studies (cheap: no trees) and as the analytic baseline in benchmarks. The
P10/P90 columns equal the median: the roofline has no spread.
"""

from __future__ import annotations

import pandas as pd

from features.analytic import estimate
from features.configs import CONFIG_COLUMNS, normalize_configs

__all__ = ["AnalyticPredictor"]

_METRICS = ["latency_s", "ttft_s", "itl_s", "throughput_tok_s", "output_throughput_tok_s"]


class AnalyticPredictor:
    """``predict(configs)`` with the columns of ``SurrogateModel.predict``, from the roofline only."""

    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame:
        """Roofline metrics (P10 = P90 = median), memory and bottleneck, indexed like ``configs``."""
        cfg = configs[[c for c in configs.columns if c in CONFIG_COLUMNS]]
        if not normalized:
            cfg = normalize_configs(cfg)
        est = estimate(cfg, normalized=True)
        out = pd.DataFrame(index=configs.index)
        for metric in _METRICS:
            values = est[metric].to_numpy()
            for suffix in ["", "_p10", "_p90"]:
                out[f"{metric}{suffix}"] = values
        for metric in ["latency_s", "ttft_s", "itl_s"]:
            out[f"analytic_{metric}"] = est[metric].to_numpy()
        for column in ["mem_per_device_gb", "mem_usable_gb", "max_batch_size", "fits", "bottleneck"]:
            out[column] = est[column].to_numpy()
        return out
