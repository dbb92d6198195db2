"""Public names of ``features``, read by type checkers and by ``lazy_loader`` (see ``__init__.py``)."""

from .analytic import (
    ANALYTIC_COLUMNS as ANALYTIC_COLUMNS,
    estimate as estimate,
)
from .configs import (
    CONFIG_COLUMNS as CONFIG_COLUMNS,
    config_warnings as config_warnings,
    mean_lengths as mean_lengths,
    normalize_configs as normalize_configs,
)
