"""Adapter for your own measurements: a CSV or parquet file in the canonical columns.

Column names are those of :data:`surrogate.ingest.schema.SCHEMA` (``hardware, model, framework,
tp, batch_size, input_len, output_len, latency_s, ...``). Required: ``hardware``, ``model``,
``framework``, ``input_len``, ``output_len`` and at least one metric; the rest defaults as
documented (aggregated, pp = dp = ep = 1, tp from num_devices, the framework's batching, the
checkpoint's weight format). Other labs' names for them (``isl``, ``num_gpus``, ``ttft_ms``, ...) are read
as the canonical ones, milliseconds as seconds (:mod:`surrogate.ingest.column_names`). Columns the schema does
not know, and provenance columns of a table exported from a dataset, are kept in ``source_fields``.
``source_line`` is the physical line for CSV (header = 1) and the 1-based row number for parquet.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from features.configs import LARGEST_COUNT, MEAN_LENGTH_COLUMNS, nearest_tokens
from features.errors import DataError
from surrogate.ingest.account import HEADER_LINE, Note, Rejection
from surrogate.ingest.base import AdapterOutput, read_csv_rows, relative_name
from surrogate.ingest.column_names import read_header
from surrogate.ingest.schema import (
    DEPLOYMENT_COLUMNS,
    DISAGG_COLUMNS,
    MEASUREMENT_COLUMNS,
    METRIC_COLUMNS,
    SCHEMA,
    coerce_dtypes,
)

__all__ = ["NAME", "read", "read_bench", "INPUT_COLUMNS"]

NAME = "csv"
# What a user's table may set; everything else goes to source_fields.
INPUT_COLUMNS = DEPLOYMENT_COLUMNS + DISAGG_COLUMNS + METRIC_COLUMNS
_NUMERIC = {c.name for c in SCHEMA if c.dtype in {"Int64", "float64"}}
_WHOLE = {c.name for c in SCHEMA if c.dtype == "Int64"}


def _rows(file: Path, label: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]], list[Rejection]]:
    if file.suffix.lower() in {".parquet", ".pq"}:
        try:
            frame = pd.read_parquet(file)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read {file} as parquet: {exc}") from exc
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        return [str(c) for c in frame.columns], list(enumerate(records, start=1)), []
    header, items = read_csv_rows(file, label)
    rows: list[tuple[int, dict[str, Any]]] = []
    rejections: list[Rejection] = []
    for item in items:
        if isinstance(item, Rejection):
            rejections.append(item)
        else:
            rows.append((item.line, {k: (v if v != "" else None) for k, v in item.values.items()}))
    return header, rows, rejections


def _parse_number(name: str, value: Any, column: str | None = None) -> tuple[Any, str]:
    """A numeric cell of canonical ``column`` (written as ``name``; the same by default) as a number, and why it
    cannot be one ('' when it can): not a number, not finite, not whole in a count column (a token length may
    be a mean, read as the nearest whole number by :func:`read`), or a count beyond
    :data:`features.configs.LARGEST_COUNT`."""
    column = column or name
    parsed = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if pd.isna(parsed):
        comma = isinstance(value, str) and re.fullmatch(r"-?\d+,\d+", value.strip())
        hint = " (a decimal comma? write it with a point)" if comma else ""
        return None, f"{name} {value!r} is not a number{hint}"
    number = float(parsed)
    if not math.isfinite(number):
        return None, f"{name} {value!r} is not a finite number"
    if column in _WHOLE:
        if number != round(number) and column not in MEAN_LENGTH_COLUMNS:
            return None, f"{name} {value!r} is not a whole number"
        if abs(number) > LARGEST_COUNT:
            return None, f"{name} {value!r} is too large (at most {LARGEST_COUNT:,})"
    return parsed, ""


def read(path: Path) -> AdapterOutput:
    """One CSV or parquet file in canonical columns."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} is not a file; the csv source reads one .csv or .parquet file")
    label = relative_name(path, path.parent)
    header, rows, rejections = _rows(path, label)
    reading = read_header(header, INPUT_COLUMNS, label)
    known = list(reading.sources)
    if "hardware" not in known or "model" not in known:
        raise DataError(f"{label}:1: needs at least the columns hardware, model, input_len, output_len and a metric "
                        f"(found: {', '.join(header[:12])}){reading.hint(header)}")
    reading.check_metrics(header, METRIC_COLUMNS, label)
    notes = [Note(label, HEADER_LINE, text) for text in reading.notes]
    used = set(reading.sources.values())
    records: list[dict[str, Any]] = []
    for line, values in rows:
        bad = []
        record: dict[str, Any] = {"source_file": label, "source_line": line}
        for name in known:
            value = values.get(reading.sources[name])
            if name in _NUMERIC and value is not None:
                value, problem = _parse_number(reading.sources[name], value, name)
                if problem:
                    bad.append(problem)
                elif reading.divisors[name] != 1.0:
                    value = float(value) / reading.divisors[name]
            record[name] = value
        if bad:
            rejections.append(Rejection(label, line, "; ".join(bad)))
            continue
        extra = {k: v for k, v in values.items() if k not in used and v is not None}
        for name in MEAN_LENGTH_COLUMNS:
            written = record.get(name)
            if written is not None and float(written) != round(float(written)):
                # A mean over requests of varying length: the table keeps whole tokens, the written mean is kept
                # in source_fields, and the note says what was read.
                record[name] = int(nearest_tokens(float(written)))
                extra[f"{name}_written"] = float(written)
                notes.append(Note(label, line, f"{name} {float(written):g} is not a whole number of tokens: read as "
                                  f"{record[name]}, the nearest (a mean length; kept as {name}_written in "
                                  "source_fields)"))
        record["source_fields"] = json.dumps(extra, sort_keys=True, default=str) if extra else None
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=[c for c in MEASUREMENT_COLUMNS if c != "measurement_id"])
    return AdapterOutput(coerce_dtypes(frame), rejections, notes)


def read_bench(path: Path) -> AdapterOutput:
    """The folder ``surrogate bench --out`` wrote (its ``rows.csv``: canonical rows, one per grid point and
    pass), or that ``rows.csv`` itself."""
    path = Path(path)
    if path.is_dir():
        if not (path / "rows.csv").is_file():
            raise DataError(f"{path} has no rows.csv: give the folder `surrogate bench --out` wrote")
        path = path / "rows.csv"
    return read(path)
