"""Per-row work done once per distinct value (features.distinct)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.distinct import distinct_rows, distinct_values, lookup, per_distinct


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


def test_distinct_values_give_each_codes_tuple_in_order_of_first_appearance() -> None:
    names = pd.Series(["h100", "a100", "h100", None, "a100"], dtype="string")
    codes, (hardware, tp) = distinct_values(names, np.array([1, 2, 1, 1, 4]))
    assert codes.tolist() == [0, 1, 0, 2, 3]
    assert hardware[:2] == ["h100", "a100"] and pd.isna(hardware[2]) and hardware[3] == "a100"
    assert tp == [1, 2, 1, 4]
    assert all(type(v) is int for v in tp)  # Python scalars, as a lookup table's keys are


def test_too_many_combinations_to_number_still_give_the_same_answers() -> None:
    # Four columns of 60,000 distinct values: 60,000 ** 4 keys overflow int64, so rows are grouped another way.
    rows = 60_000
    columns = [np.arange(rows) * (k + 1) for k in range(4)]
    codes, values = distinct_values(*columns)
    assert codes.tolist() == list(range(rows))
    assert values[3][:3] == [0, 4, 8]
    assert per_distinct(lambda a, b, c, d: a + b + c + d, *columns, dtype=np.int64).tolist()[:3] == [0, 10, 20]


def test_lookup_maps_each_value_and_gives_the_default_to_missing_and_unknown_ones() -> None:
    values = pd.Series(["fp8", None, "bf16", "int3", "fp8"], dtype="str")
    numbers = lookup(values, {"fp8": 1.0, "bf16": 2.0}, np.nan, dtype=float)
    np.testing.assert_array_equal(numbers, [1.0, np.nan, 2.0, np.nan, 1.0])
    assert lookup(values, pd.Series({"fp8": "x"}), "none").tolist() == ["x", "none", "none", "none", "x"]


def test_string_answers_come_back_as_a_pandas_string_array() -> None:
    out = per_distinct(lambda v: None if v == "b" else v.upper(), pd.Series(["a", "b", "a"]), dtype="str")
    assert str(out.dtype) == "str"
    assert out[0] == "A" and pd.isna(out[1]) and out[2] == "A"


def test_a_string_column_is_factorised_once_while_its_arrow_array_lives() -> None:
    import gc

    from features import distinct

    column = pd.Series(["h100", "a100", "h100", None], dtype="str")
    codes, uniques = distinct.factorize(column)
    assert codes.tolist() == [0, 1, 0, 2] and uniques[:2] == ["h100", "a100"]
    again, _ = distinct.factorize(column.astype(str))  # the same Arrow array: the same codes object
    assert again is codes and not codes.flags.writeable
    other = pd.Series(["a100", "h100", "h100", None], dtype="str")  # equal length, other values
    assert distinct.factorize(other)[0].tolist() == [0, 1, 1, 2]
    key = id(column.array._pa_array)
    assert key in distinct._known_codes
    del column, again
    gc.collect()
    assert key not in distinct._known_codes


def test_numeric_columns_are_not_kept() -> None:
    from features import distinct

    values = np.array([3.0, 1.0, 3.0])
    before = len(distinct._known_codes)
    assert distinct.factorize(values)[0].tolist() == [0, 1, 0]
    assert len(distinct._known_codes) == before
