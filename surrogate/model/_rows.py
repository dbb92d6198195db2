"""Row by row: the rows of a user's table that can be predicted, and why each other row cannot.

``SurrogateModel.predict`` refuses a whole table for one impossible row (the strict choice);
``predict_each`` predicts the rows it can and names the others, so one bad row never costs the rest.
``valid_rows`` is the split both use (and ``estimate_each`` for the analytic model alone).
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from features.configs import CONFIG_COLUMNS, check_table, invalid_reasons, normalize_configs
from features.errors import SurrogateError

__all__ = ["valid_rows", "predict_each"]


class _Predictor(Protocol):
    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame: ...


def valid_rows(configs: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """The normalised rows that describe a possible deployment (indexed like ``configs``), and
    ``{position: reason}`` for every other row (0-based positions in ``configs``).

    A row is refused for a value ``normalize_configs`` cannot read (an unknown name, a count that is
    not a whole number, a batch and a concurrency that disagree) or a deployment ``invalid_reasons``
    calls impossible. The whole table is normalised at once; only when that fails is it redone row
    by row to find which rows fail. Raises ``ConfigError`` for a table no row can fix (a duplicated
    or missing required column).
    """
    check_table(configs)
    table = configs[[c for c in configs.columns if c in CONFIG_COLUMNS]]
    try:
        cfg = normalize_configs(table)
        reasons = invalid_reasons(cfg)
    except SurrogateError:
        return _row_by_row(table)
    bad = reasons.ne("").to_numpy()
    errors = {int(p): str(reasons.iloc[p]) for p in bad.nonzero()[0]}
    return cfg[~bad], errors


def _row_by_row(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    good: list[pd.DataFrame] = []
    errors: dict[int, str] = {}
    for position in range(len(table)):
        try:
            row = normalize_configs(table.iloc[[position]])
            reason = str(invalid_reasons(row).iloc[0])
        except SurrogateError as exc:
            errors[position] = str(exc)
            continue
        if reason:
            errors[position] = reason
        else:
            good.append(row)
    if not good:
        return normalize_configs(table.iloc[:0]), errors
    return pd.concat(good), errors


def predict_each(model: _Predictor, configs: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """``model.predict`` of every row that can be predicted (indexed like those rows of ``configs``),
    and ``{position: reason}`` for the rest: the lenient choice, where ``model.predict`` is strict.

    Example: ``predictions, errors = surrogate.model.predict_each(surrogate.load_default(), table)``;
    ``if errors: ...`` (or treat any error as fatal, as ``surrogate predict --strict`` does).
    """
    cfg, errors = valid_rows(configs)
    if cfg.empty:
        return pd.DataFrame(index=cfg.index), errors
    return model.predict(cfg, normalized=True), errors
