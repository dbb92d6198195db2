"""The analytic model alone behind the ``predict`` interface, and row-by-row estimates of a user's table.

Used to seed Optuna studies (cheap: no trees) and as the analytic baseline in benchmarks. The
P10/P90 columns equal the median: the roofline has no spread.
"""

from __future__ import annotations

import pandas as pd

from features.analytic import estimate
from features.configs import CONFIG_COLUMNS, normalize_configs
from features.efficiency import default_newest_software
from surrogate.model._rows import valid_rows
from surrogate.model._software import software_labels, with_newest_software

__all__ = ["AnalyticPredictor", "estimate_each", "estimate_valid", "in_measured_era", "ESTIMATE_OUTPUT_COLUMNS"]

# What `surrogate estimate --input ... --output ...` writes beside the input columns.
ESTIMATE_OUTPUT_COLUMNS = ["peak_ttft_s", "peak_itl_s", "peak_latency_s", "achievable_ttft_s", "achievable_itl_s",
                           "achievable_latency_s", "fits", "mem_per_device_gb", "software_era"]

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
            out[f"peak_{metric}"] = est[f"peak_{metric}"].to_numpy()
        for column in ["mem_per_device_gb", "mem_usable_gb", "max_batch_size", "fits", "bottleneck"]:
            out[column] = est[column].to_numpy()
        return out


def estimate_each(configs: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """The analytic estimate of every row that can be estimated, and why each other row cannot.

    Returns the estimable rows' estimates (indexed like ``configs``; ``ESTIMATE_OUTPUT_COLUMNS`` and
    every ``features.analytic.ANALYTIC_COLUMNS``) and ``{position: reason}`` for the rest, so one
    bad row never costs the others (the split is ``valid_rows``). Good rows are estimated in one
    vectorised call.
    """
    cfg, errors = valid_rows(configs)
    if cfg.empty:
        return pd.DataFrame(columns=ESTIMATE_OUTPUT_COLUMNS), errors
    return estimate_valid(cfg), errors


def in_measured_era(cfg: pd.DataFrame) -> pd.DataFrame:
    """Normalised rows that name no engine release given the newest one the shipped parameters were fitted on,
    on that accelerator, else anywhere (``features.efficiency.default_newest_software``): the era the default
    model predicts in, so ``surrogate estimate`` and ``surrogate predict`` price one deployment alike. Left
    undated, a row took every vendor and accelerator offset in full, the era of its oldest rows: an Arc Pro
    B60 decode step at 159 ms where the same vLLM 0.19.0 that ``predict`` assumes gives 70 ms."""
    return with_newest_software(cfg, default_newest_software())


def estimate_valid(cfg: pd.DataFrame) -> pd.DataFrame:
    """The analytic estimate of normalised, possible rows (``valid_rows``), in the era :func:`in_measured_era`
    gives rows that name none, with the ``achievable_*`` names ``ESTIMATE_OUTPUT_COLUMNS`` uses for the
    achievable times and the ``software_era`` each answer reflects."""
    cfg = in_measured_era(cfg)
    est = estimate(cfg, normalized=True)
    for metric in ("ttft_s", "itl_s", "latency_s"):
        est[f"achievable_{metric}"] = est[metric]
    est["software_era"] = software_labels(cfg)[0]
    return est
