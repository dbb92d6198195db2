"""The on-disk dataset: a directory of parquet files that ingesting into is idempotent.

Layout of ``DIR`` (default ``./surrogate-data``; ``$SURROGATE_DATA_DIR`` overrides):

* ``measurements.parquet``: every accepted measurement, with its ``measurement_id`` (sha1 of source,
  file, line, configuration and metrics); an ingest adds only ids it does not hold, so ingesting the
  same thing twice adds nothing;
* ``table.parquet``: the canonical table (one row per configuration, medians), rebuilt from the
  measurements after each ingest;
* ``ingest_log.jsonl``: one line per ingest with its account.

Files are written to a temporary name and renamed, so an interrupted ingest leaves the old dataset.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import DataError, MissingPathError
from surrogate.ingest import IngestContext, IngestResult, ingest
from surrogate.ingest.schema import CANONICAL_COLUMNS, MEASUREMENT_COLUMNS, coerce_dtypes, empty_frame

__all__ = ["DATA_DIR_ENV", "DEFAULT_DATA_DIR", "default_data_dir", "read_measurements", "read_table", "ingest_into",
           "read_log"]

DATA_DIR_ENV = "SURROGATE_DATA_DIR"
_MEASUREMENTS = "measurements.parquet"
_TABLE = "table.parquet"
_LOG = "ingest_log.jsonl"


DEFAULT_DATA_DIR = "surrogate-data"


def default_data_dir() -> Path:
    """``$SURROGATE_DATA_DIR``, else ``./surrogate-data`` in the current directory.

    Project-local and visible, like a build directory: the dataset is derived from the source files
    and re-ingesting them rebuilds it.
    """
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser() if override else Path.cwd() / DEFAULT_DATA_DIR


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        return empty_frame(columns)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}; delete it and ingest again") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks columns {', '.join(missing)} (written by another version?); delete the "
                        "dataset directory and ingest again")
    return coerce_dtypes(frame[columns])


def read_measurements(data_dir: Path) -> pd.DataFrame:
    """Every stored measurement (an empty frame when the dataset does not exist yet)."""
    return _read(Path(data_dir) / _MEASUREMENTS, MEASUREMENT_COLUMNS)


def has_table(data_dir: Path) -> bool:
    """Whether something was ingested into ``data_dir``."""
    return (Path(data_dir) / _TABLE).is_file()


def read_table(data_dir: Path) -> pd.DataFrame:
    """The canonical table; ``DataError`` telling what to run when nothing was ingested."""
    path = Path(data_dir) / _TABLE
    if not path.is_file():
        raise MissingPathError(f"no dataset at {data_dir}; run `surrogate data ingest SOURCE PATH` first (or set "
                        f"{DATA_DIR_ENV})")
    return _read(path, CANONICAL_COLUMNS)


def read_log(data_dir: Path) -> list[dict[str, Any]]:
    """The accounts of past ingests, oldest first."""
    path = Path(data_dir) / _LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def ingest_into(source: str, path: str | Path, data_dir: str | Path | None = None,
                context: IngestContext | None = None) -> IngestResult:
    """Ingest ``path`` with the ``source`` adapter into the dataset at ``data_dir``.

    The account counts rows the dataset already holds as merged; the returned table is the whole
    dataset's.
    """
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"{data_dir} exists and is not a directory")
    existing = read_measurements(data_dir)
    result = ingest(source, path, context, existing=existing)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        if len(result.measurements) != len(existing) or not (data_dir / _TABLE).is_file():
            _write_parquet(result.measurements[MEASUREMENT_COLUMNS], data_dir / _MEASUREMENTS)
            _write_parquet(result.table[CANONICAL_COLUMNS], data_dir / _TABLE)
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source, "path": str(path),
                 **{k: v for k, v in result.account.to_dict().items() if k in {
                     "rows_read", "kept", "merged", "rejected", "merged_detail", "faster_than_physics",
                     "rejected_by_reason"}}}
        with (data_dir / _LOG).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
    except OSError as exc:
        raise DataError(f"cannot write the dataset at {data_dir}: {exc.strerror or exc}") from exc
    return result
