"""Per-row work done once per distinct value: tables of many configurations name a handful of parts,
engines and versions, so a Python-level lookup per row is wasted work (and most of a large prediction's time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["distinct_rows", "per_distinct"]


def distinct_rows(*columns: Any) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Per row, the code of its tuple of values; per code, the position of the first row that has it.
    Missing values (None, NaN, NA) are a value of their own."""
    length = len(columns[0])
    combined = np.zeros(length, dtype=np.int64)
    for column in columns:
        if len(column) != length:
            raise ValueError(f"columns of {length} and {len(column)} rows")
        codes, uniques = pd.factorize(pd.Series(column) if not isinstance(column, pd.Series) else column,
                                      use_na_sentinel=False)
        combined, _ = pd.factorize(combined * (len(uniques) + 1) + codes)
    _, first = np.unique(combined, return_index=True)  # codes run 0..k-1 in order of first appearance
    return combined.astype(np.intp), first.astype(np.intp)


def per_distinct(func: Callable[..., Any], *columns: Any, dtype: Any = object) -> np.ndarray:
    """``func(*values)`` for each row's values of ``columns``, called once per distinct tuple."""
    codes, first = distinct_rows(*columns)
    if len(first) == 0:
        return np.zeros(0, dtype=dtype)
    picked = [(column.iloc[first] if isinstance(column, pd.Series) else np.asarray(column, dtype=object)[first])
              .tolist() for column in columns]
    answers = np.array([func(*values) for values in zip(*picked, strict=True)], dtype=dtype)
    out: np.ndarray = answers[codes]
    return out
