"""The deployment search: what may be chosen, how it is scored, how it is searched, and what would fit.

``optimize`` enumerates the valid deployments of a workload on an inventory (``_space``), predicts
and scores them (``_scoring``: objectives, memory and latency constraints, Pareto fronts), and
searches exhaustively or with Optuna (``_search``, ``_optuna``). When nothing is feasible,
``_feasibility`` says what binds and what would work. The predictor is passed in: anything with
``predict(dataframe)``.
"""

import lazy_loader

# Submodules load on first use of a name (``surrogate --help`` must not import pandas or LightGBM);
# the public names are listed, with their modules, in ``__init__.pyi``.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
