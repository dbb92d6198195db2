"""Feature pipeline: sourced catalogs, the analytic roofline model and feature vectors.

This package knows nothing of ``surrogate``; ``surrogate`` builds on it.
"""

import lazy_loader

# Submodules load on first use of a name (``surrogate --help`` must not import pandas or LightGBM);
# the public names are listed, with their modules, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
