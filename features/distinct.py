"""Per-row work done once per distinct value: tables of many configurations name a handful of parts,
engines and versions, so a Python-level lookup per row is wasted work (and most of a large prediction's time)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["factorize", "distinct_rows", "distinct_values", "per_distinct", "names_at", "lookup"]

# Row keys are mixed-radix numbers over the columns' codes; past this they would overflow int64.
_LARGEST_KEY = 2**62


# Codes of Arrow-backed string columns already factorised, by the id of their (immutable) Arrow array, for as
# long as that array lives: one prediction asks for the same hardware, model and engine columns a dozen
# times (0.06 s of 0.8 s per 100,000 rows went to factorising them again).
_known_codes: dict[int, tuple[weakref.ref[Any], npt.NDArray[np.intp], list[Any]]] = {}


def _arrow_chunks(column: Any) -> Any:
    """The immutable Arrow array behind a pandas string column (None for anything else)."""
    array = column.array if isinstance(column, pd.Series) else column
    return getattr(array, "_pa_array", None) if isinstance(array, pd.arrays.ArrowStringArray) else None


def _forget_codes(key: int, _: object) -> None:
    _known_codes.pop(key, None)


def factorize(column: Any) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Each row's code and the distinct values (Python scalars) in order of first appearance; missing
    values (None, NaN, NA) are a value of their own. Codes come back read-only (they may be shared)."""
    chunks = _arrow_chunks(column)
    if chunks is not None:
        known = _known_codes.get(id(chunks))
        if known is not None and known[0]() is chunks:
            return known[1], list(known[2])
    codes, uniques = pd.factorize(pd.Series(column) if not isinstance(column, pd.Series) else column,
                                  use_na_sentinel=False)
    codes.setflags(write=False)
    values = uniques.tolist()
    if chunks is not None:
        key = id(chunks)
        # The entry goes when the array does, before its id can name another array.
        _known_codes[key] = (weakref.ref(chunks, partial(_forget_codes, key)), codes, values)
    return codes, list(values)


def _check_lengths(columns: tuple[Any, ...]) -> int:
    length = len(columns[0])
    for column in columns:
        if len(column) != length:
            raise ValueError(f"columns of {length} and {len(column)} rows")
    return length


def distinct_rows(*columns: Any) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Per row, the code of its tuple of values; per code, the position of the first row that has it.
    Missing values (None, NaN, NA) are a value of their own."""
    combined = np.zeros(_check_lengths(columns), dtype=np.int64)
    for column in columns:
        codes, uniques = factorize(column)
        combined, _ = pd.factorize(combined * (len(uniques) + 1) + codes)
    _, first = np.unique(combined, return_index=True)  # codes run 0..k-1 in order of first appearance
    return combined.astype(np.intp), first.astype(np.intp)


def distinct_values(*columns: Any) -> tuple[npt.NDArray[np.intp], list[list[Any]]]:
    """Per row, the code of its tuple of values (0..k-1 in order of first appearance), and per column the
    value (a Python scalar) of each code's tuple. One hash pass per column, none per row in Python."""
    length = _check_lengths(columns)
    key = np.zeros(length, dtype=np.int64)
    radix = 1
    distinct: list[list[Any]] = []
    for column in columns:
        codes, uniques = factorize(column)
        size = max(len(uniques), 1)
        if radix * size >= _LARGEST_KEY:  # too many combinations to number: read each code's first row
            row_codes, first = distinct_rows(*columns)
            return row_codes, [_values_at(column, first) for column in columns]
        key = key * size + codes
        radix *= size
        distinct.append(uniques)
    row_codes, keys = pd.factorize(key)
    values: list[list[Any]] = []
    for uniques in reversed(distinct):  # the last column is the lowest digit of the key
        size = max(len(uniques), 1)
        values.append([uniques[i] for i in (keys % size).tolist()])
        keys = keys // size
    values.reverse()
    return row_codes.astype(np.intp), values


def _values_at(column: Any, rows: npt.NDArray[np.intp]) -> list[Any]:
    codes, uniques = factorize(column)
    return [uniques[i] for i in codes[rows].tolist()]


def per_distinct(func: Callable[..., Any], *columns: Any, dtype: Any = object) -> Any:
    """``func(*values)`` for each row's values of ``columns``, called once per distinct tuple: a NumPy array
    of ``dtype``, or with ``dtype="str"`` a pandas string array (strings, None or NaN for missing), built by
    Arrow without a Python object per row."""
    codes, values = distinct_values(*columns)
    answers = [func(*row) for row in zip(*values, strict=True)]
    if dtype == "str":
        return names_at(answers, codes)
    table = np.array(answers, dtype=dtype)
    out: np.ndarray = table[codes] if len(table) else np.zeros(len(codes), dtype=dtype)
    return out


def names_at(names: Sequence[Any], codes: npt.NDArray[np.integer[Any]]) -> Any:
    """``names[code]`` per row as a pandas string array (None or NaN names are missing), built by Arrow
    without a Python string per row (an object array of 200,000 names takes 8 ms to become a string
    column; this, 1)."""
    return pd.array(pc.take(pa.array(list(names), type=pa.large_string(), from_pandas=True), pa.array(codes)),
                    dtype="str")


def lookup(values: Any, mapping: Mapping[Any, Any] | pd.Series, default: Any = None, dtype: Any = object) -> Any:
    """``mapping[value]`` per row (``default`` where a value is missing or not a key), each distinct value
    looked up once: ``Series.map`` hashes every row's string again (45 ms per 200,000 rows, against 3).
    ``dtype`` as :func:`per_distinct`'s."""
    table = mapping.to_dict() if isinstance(mapping, pd.Series) else mapping

    def value_of(key: Any) -> Any:
        if key is None or (not isinstance(key, str) and pd.isna(key)):
            return default
        return table.get(key, default)

    return per_distinct(value_of, values, dtype=dtype)
