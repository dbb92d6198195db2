"""Per-row work done once per distinct value (features.distinct)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.distinct import distinct_rows, per_distinct


def test_codes_follow_first_appearance_and_first_rows_point_at_them() -> None:
    names = pd.Series(["h100", "a100", "h100", None, "a100"], dtype="string")
    tp = np.array([1, 2, 1, 1, 4])
    codes, first = distinct_rows(names, tp)
    assert codes.tolist() == [0, 1, 0, 2, 3]
    assert first.tolist() == [0, 1, 3, 4]


def test_missing_values_are_one_value_of_their_own() -> None:
    codes, first = distinct_rows(np.array([np.nan, 1.0, np.nan]))
    assert codes.tolist() == [0, 1, 0]
    assert first.tolist() == [0, 1]


def test_per_distinct_calls_once_per_tuple_and_broadcasts() -> None:
    calls: list[tuple[object, object]] = []

    def label(name: object, tp: object) -> str:
        calls.append((name, tp))
        return f"{name}/tp{tp}"

    out = per_distinct(label, pd.Series(["x", "y", "x", "x"]), np.array([1, 1, 1, 2]))
    assert out.tolist() == ["x/tp1", "y/tp1", "x/tp1", "x/tp2"]
    assert calls == [("x", 1), ("y", 1), ("x", 2)]


def test_per_distinct_of_nothing_is_empty_and_keeps_its_type() -> None:
    out = per_distinct(lambda v: True, np.array([], dtype=object), dtype=bool)
    assert out.dtype == bool and len(out) == 0


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="columns of 3 and 2 rows"):
        distinct_rows(np.arange(3), np.arange(2))
