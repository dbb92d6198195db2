"""Results as JSON for scripts: numpy and pandas values to plain types, NaN to null."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["to_jsonable", "print_json"]


def to_jsonable(value: Any) -> Any:
    """numpy/pandas scalars and containers to plain JSON types; NaN becomes null."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing scalars, without importing pandas
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(payload: Any) -> None:
    """Indented JSON on stdout."""
    print(json.dumps(to_jsonable(payload), indent=2))
