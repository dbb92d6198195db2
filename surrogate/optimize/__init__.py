"""The deployment search: what may be chosen, how it is scored, how it is searched, and what would fit.

``optimize`` enumerates the valid deployments of a workload on an inventory (``_space``), predicts
and scores them (``_scoring``: objectives, memory and latency constraints, Pareto fronts), and
searches exhaustively or with Optuna (``_search``, ``_optuna``). When nothing is feasible,
``_feasibility`` says what binds and what would work. The predictor is passed in: anything with
``predict(dataframe)``.
"""

from surrogate.optimize._feasibility import explain_infeasible, fewest_devices, fit_alternatives
from surrogate.optimize._optuna import open_storage
from surrogate.optimize._scoring import (
    CONSTRAINT_COLUMNS,
    OBJECTIVES,
    PARETO_OBJECTIVES,
    RISKS,
    Objective,
    Targets,
    pareto_front,
    rank,
    score,
)
from surrogate.optimize._search import (
    KNOB_COLUMNS,
    SEARCH_METHODS,
    OptimizeOptions,
    OptimizeResult,
    Predictor,
    optimize,
)
from surrogate.optimize._space import (
    DEFAULT_MAX_SEQUENCES,
    Candidates,
    DevicePool,
    Inventory,
    SearchSpace,
    Workload,
    enumerate_candidates,
)

__all__ = [
    "CONSTRAINT_COLUMNS",
    "DEFAULT_MAX_SEQUENCES",
    "KNOB_COLUMNS",
    "OBJECTIVES",
    "PARETO_OBJECTIVES",
    "RISKS",
    "SEARCH_METHODS",
    "Candidates",
    "DevicePool",
    "Inventory",
    "Objective",
    "OptimizeOptions",
    "OptimizeResult",
    "Predictor",
    "SearchSpace",
    "Targets",
    "Workload",
    "enumerate_candidates",
    "explain_infeasible",
    "fewest_devices",
    "fit_alternatives",
    "open_storage",
    "optimize",
    "pareto_front",
    "rank",
    "score",
]
