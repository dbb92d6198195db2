"""Public names of ``surrogate.optimize``, read by type checkers and by ``lazy_loader`` (see ``__init__.py``)."""

from ._disaggregated_space import enumerate_disaggregated as enumerate_disaggregated
from ._feasibility import (
    explain_infeasible as explain_infeasible,
    fewest_devices as fewest_devices,
    fit_alternatives as fit_alternatives,
)
from ._memory_share import (
    RAISED_MEMORY_SHARES as RAISED_MEMORY_SHARES,
    with_raised_memory_shares as with_raised_memory_shares,
)
from ._optuna import open_storage as open_storage
from ._request import (
    DEFAULT_MAX_SEQUENCES as DEFAULT_MAX_SEQUENCES,
    OBJECTIVES as OBJECTIVES,
    PARETO_OBJECTIVES as PARETO_OBJECTIVES,
    RISKS as RISKS,
    SEARCH_METHODS as SEARCH_METHODS,
    SERVING_MODES as SERVING_MODES,
    DevicePool as DevicePool,
    Inventory as Inventory,
    Objective as Objective,
    OptimizeOptions as OptimizeOptions,
    SearchSpace as SearchSpace,
    Targets as Targets,
    Workload as Workload,
)
from ._scoring import (
    CONSTRAINT_COLUMNS as CONSTRAINT_COLUMNS,
    pareto_front as pareto_front,
    rank as rank,
    score as score,
)
from ._search import (
    KNOB_COLUMNS as KNOB_COLUMNS,
    OptimizeResult as OptimizeResult,
    Predictor as Predictor,
    optimize as optimize,
)
from ._space import (
    Candidates as Candidates,
    enumerate_candidates as enumerate_candidates,
)
