"""The learned model: LightGBM corrections of the analytic estimate, trained, calibrated, saved and scored.

``SurrogateModel`` is the bundle (fit, predict, save); ``load``/``load_default`` read bundles back,
unpickling only files this user trusts (``trust_file`` records one from elsewhere);
``AnalyticPredictor`` is physics alone behind the same ``predict``; ``train_bundle`` and
``cross_validate`` train and score on held-out rows; ``score_bundle`` scores a trained bundle as it is.
Intervals come from ``_calibration``.
"""

import lazy_loader

# Submodules load on first use of a name (``surrogate --help`` must not import pandas or LightGBM);
# the public names are listed, with their modules, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
