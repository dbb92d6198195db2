"""What people and scripts read: rich tables, JSON payloads, CSV and PNG files, launch commands.

``_tables`` renders one estimate, one prediction and accuracy scores; ``_optimize`` an optimisation
result (tables, JSON, files); ``_evaluation`` an evaluation run (JSON, CSV, plots); ``_launch`` the
engine command for a winning configuration; ``_data`` an ingest account and a dataset summary.
"""

import lazy_loader

# Submodules load on first use of a name (``surrogate --help`` must not import pandas or LightGBM);
# the public names are listed, with their modules, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
