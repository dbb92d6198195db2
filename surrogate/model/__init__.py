"""The learned model: LightGBM corrections of the analytic estimate, trained, calibrated, saved and scored.

``SurrogateModel`` is the bundle (fit, predict, save); ``load``/``load_default`` read bundles back;
``AnalyticPredictor`` is physics alone behind the same ``predict``; ``train_bundle`` and
``cross_validate`` train and score on held-out rows. Intervals come from ``_calibration``.
"""

from features.errors import IncompatibleBundleError
from surrogate.model._analytic import AnalyticPredictor
from surrogate.model._bundle import BUNDLE_FORMAT, METRICS, SurrogateModel, check_columns, fingerprint
from surrogate.model._evaluate import SPLITS, VARIANTS, Evaluation, cross_validate, error_summary
from surrogate.model._files import default_model_path, load, load_default
from surrogate.model._train import compact_scores, train_bundle, training_rows

__all__ = [
    "AnalyticPredictor",
    "BUNDLE_FORMAT",
    "METRICS",
    "SPLITS",
    "VARIANTS",
    "Evaluation",
    "IncompatibleBundleError",
    "SurrogateModel",
    "check_columns",
    "compact_scores",
    "cross_validate",
    "default_model_path",
    "error_summary",
    "fingerprint",
    "load",
    "load_default",
    "train_bundle",
    "training_rows",
]
