"""Feature pipeline: sourced catalogs, the analytic roofline model and feature vectors.

This package knows nothing of ``surrogate``; ``surrogate`` builds on it.
"""

from features.analytic import ANALYTIC_COLUMNS, estimate
from features.configs import CONFIG_COLUMNS, normalize_configs

__all__ = ["ANALYTIC_COLUMNS", "CONFIG_COLUMNS", "estimate", "normalize_configs"]
