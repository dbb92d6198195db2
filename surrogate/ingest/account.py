"""Merging repeated measurements and the account of an ingest, which always adds up.

Every row an adapter reads ends in exactly one place: it is *kept* (the first measurement of a
configuration), *merged* (another measurement of a configuration already seen in this ingest or in
the dataset) or *rejected* (listed with ``file:line: reason``). ``rows_read == kept + merged +
rejected`` is checked, not hoped for.

Merging takes the median of each metric over a configuration's measurements. Rows faster than
physics are left out of the median when the configuration has a plausible measurement; the spread
of repeated (not copied) measurements is the noise floor any prediction is judged against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from surrogate.ingest.schema import (
    CANONICAL_COLUMNS,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    empty_frame,
)

__all__ = ["Rejection", "Note", "NoiseFloor", "Account", "merge_measurements", "noise_floor", "group_ids",
           "exact_copy_mask",
           "row_strings", "key_strings", "metric_strings"]


@dataclass(frozen=True)
class Rejection:
    """A row that did not make it into the dataset, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


# The line of a note on the file's header (how a column was read), not on a row: a parquet file numbers its rows
# from 1, so the header cannot be line 1.
HEADER_LINE = 0


@dataclass(frozen=True)
class Note:
    """A remark on a row that was kept (a reinterpretation, a dropped field, a suspicious value), or on the
    header (``line`` :data:`HEADER_LINE`: how a column was read)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}{' (header)' if self.line == HEADER_LINE else f':{self.line}'}: {self.message}"


@dataclass(frozen=True)
class NoiseFloor:
    """Relative spread (max - min) / median of repeated measurements of one metric."""

    metric: str
    configurations: int
    median_spread_frac: float
    p90_spread_frac: float
    max_spread_frac: float


@dataclass
class Account:
    """Where every row of an ingest went."""

    source: str
    path: str
    rows_read: int = 0
    kept: int = 0
    merged: int = 0
    rejected: int = 0
    exact_copies: int = 0
    repeated_measurements: int = 0
    already_stored: int = 0
    faster_than_physics: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    noise: list[NoiseFloor] = field(default_factory=list)

    @property
    def adds_up(self) -> bool:
        return (self.rows_read == self.kept + self.merged + self.rejected
                and self.rejected == len(self.rejections)
                and self.merged == self.exact_copies + self.repeated_measurements + self.already_stored)

    def rejections_by_reason(self) -> dict[str, int]:
        """Rejection counts by reason with row-specific numbers and names folded away."""
        counts: dict[str, int] = {}
        for rejection in self.rejections:
            key = reason_kind(rejection.reason)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def notes_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for note in self.notes:
            key = reason_kind(note.message)
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    @classmethod
    def combine(cls, accounts: list[Account]) -> Account:
        """One account for several ingests (numbers summed, lists joined; noise floors are not summed)."""
        total = cls(source="+".join(a.source for a in accounts), path="; ".join(a.path for a in accounts))
        for a in accounts:
            for name in ("rows_read", "kept", "merged", "rejected", "exact_copies", "repeated_measurements",
                         "already_stored", "faster_than_physics"):
                setattr(total, name, getattr(total, name) + getattr(a, name))
            total.rejections += a.rejections
            total.notes += a.notes
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "path": self.path, "rows_read": self.rows_read, "kept": self.kept,
            "merged": self.merged, "rejected": self.rejected, "adds_up": self.adds_up,
            "merged_detail": {"exact_copies": self.exact_copies, "repeated_measurements": self.repeated_measurements,
                              "already_in_dataset": self.already_stored},
            "faster_than_physics": self.faster_than_physics,
            "rejected_by_reason": self.rejections_by_reason(),
            "rejections": [str(r) for r in self.rejections],
            "notes_by_kind": self.notes_by_kind(),
            "notes": [str(n) for n in self.notes],
            "noise_floor": [n.__dict__ for n in self.noise],
        }


def reason_kind(reason: str) -> str:
    """A reason with its row-specific part cut off ('unknown GPU 'x'; did you mean' -> 'unknown GPU')."""
    cuts = [reason.find(m) for m in (" '", ": ", " (", " = ", "; ") if m in reason]
    if cuts:
        reason = reason[:min(cuts)]
    words = [w for w in reason.split() if not any(ch.isdigit() for ch in w)]
    return " ".join(words) or reason


def row_strings(frame: pd.DataFrame, columns: list[str], sep: str = "\x1f") -> pd.Series:
    """Each row's ``columns`` joined into one string (NA written as 'NA'), vectorised."""
    parts = [frame[c].astype("string").fillna("NA").astype(object) for c in columns]
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    out = parts[0].copy()
    for part in parts[1:]:
        out = out + sep + part
    return out


def key_strings(frame: pd.DataFrame) -> pd.Series:
    """The configuration key of each row as one string.

    A disaggregated row without its worker counts does not describe its deployment fully; it merges
    only with exact copies of itself (same metrics), never with a different measurement.
    """
    label = frame["hardware_label"].astype("string").str.lower().str.replace(r"[^a-z0-9]", "", regex=True)
    keys = row_strings(frame.assign(hardware_label=label), KEY_COLUMNS)
    incomplete = (frame["mode"].eq("disaggregated") & (frame["prefill_workers"].isna()
                                                        | frame["decode_workers"].isna())).fillna(False)
    if incomplete.any():
        keys = keys.where(~incomplete.to_numpy(), keys + "\x1d" + metric_strings(frame))
    return keys


def metric_strings(frame: pd.DataFrame) -> pd.Series:
    """The metrics of each row as one string (rounded to 12 digits so float noise does not matter)."""
    return row_strings(frame[METRIC_COLUMNS].round(12), METRIC_COLUMNS, "|")


def group_ids(frame: pd.DataFrame) -> np.ndarray:
    """An integer per row: equal for rows of the same configuration (NA equals NA)."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    codes: np.ndarray = pd.factorize(key_strings(frame))[0]
    return codes.astype(np.int64)


# Empirical: two values of a metric closer than this (relative) are one measurement written with
# different rounding. aiconfigurator's silicon_sample.csv repeats rows from several exports that differ
# by < 1e-5 (e.g. 0.7654942 s vs 0.76549 s); LLM-Inference-Bench's real repeats differ by >= 5.7e-4.
COPY_REL_TOL = 1e-4


def _value_buckets(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Two log-scale grids, offset by half a bucket: values within ``COPY_REL_TOL`` share a bucket in at
    least one of them."""
    logs = np.log(values.astype(float).to_numpy()) / np.log1p(2 * COPY_REL_TOL)
    return np.floor(logs), np.floor(logs + 0.5)


def exact_copy_mask(keys: pd.Series, frame: pd.DataFrame) -> np.ndarray:
    """Per row, whether every metric it has repeats (within ``COPY_REL_TOL``) a value an earlier row of its
    configuration had: a copy of a measurement, adding nothing. The main table's latency repeated
    beside a new power column is not a copy; the power is new."""
    all_seen = np.ones(len(frame), dtype=bool)
    any_metric = np.zeros(len(frame), dtype=bool)
    for metric in METRIC_COLUMNS:
        values = frame[metric].astype(float)
        present = values.notna().to_numpy()
        seen = np.zeros(len(frame), dtype=bool)
        for bucket in _value_buckets(values):
            seen |= pd.DataFrame({"k": keys.to_numpy(), "v": bucket}).duplicated().to_numpy()
        all_seen &= ~present | seen
        any_metric |= present
    return all_seen & any_metric


def merge_measurements(measurements: pd.DataFrame) -> pd.DataFrame:
    """The merged table: one row per configuration.

    Medians are over the configuration's plausible measurements; a configuration whose every
    measurement is faster than physics keeps them and is flagged.
    """
    if measurements.empty:
        return empty_frame(CANONICAL_COLUMNS)
    m = measurements.reset_index(drop=True).copy()
    m["_group"] = group_ids(m)
    m["_order"] = np.arange(len(m))
    m = m.sort_values(["_group", "source_file", "source_line", "_order"], kind="stable")
    flagged = m["faster_than_physics"].fillna(False).astype(bool)
    any_ok = (~flagged).groupby(m["_group"]).transform("any")
    use = ~flagged | ~any_ok
    used = m[use]
    medians = used.groupby("_group")[METRIC_COLUMNS].median()
    lo = used.groupby("_group")[METRIC_COLUMNS].min()
    hi = used.groupby("_group")[METRIC_COLUMNS].max()
    spread = ((hi - lo) / medians).max(axis=1, skipna=True).fillna(0.0)
    first = m.groupby("_group", sort=True).head(1).set_index("_group")
    lines = (m["source_file"].astype(str) + ":" + m["source_line"].astype(str)).groupby(m["_group"]).agg(
        lambda s: ";".join(s))
    table = first.copy()
    table[METRIC_COLUMNS] = medians.reindex(first.index)[METRIC_COLUMNS]
    table["source_lines"] = lines.reindex(first.index)
    table["n_measurements"] = m.groupby("_group").size().reindex(first.index)
    table["spread_frac"] = spread.reindex(first.index).fillna(0.0)
    table["faster_than_physics"] = (~any_ok).groupby(m["_group"]).first().reindex(first.index)
    out = table.sort_values(["source", "source_file", "source_line"], kind="stable").reset_index(drop=True)
    return out.reindex(columns=CANONICAL_COLUMNS).astype(empty_frame(CANONICAL_COLUMNS).dtypes.to_dict())


def noise_floor(measurements: pd.DataFrame) -> list[NoiseFloor]:
    """Spread of repeated measurements per metric over configurations measured more than once with
    different results (copies of one measurement, within ``COPY_REL_TOL``, say nothing about noise)."""
    if measurements.empty:
        return []
    m = measurements[~measurements["faster_than_physics"].fillna(False).astype(bool)].copy()
    m["_group"] = group_ids(m)
    out = []
    for metric in METRIC_COLUMNS:
        values = m[["_group", metric]].dropna()
        values = values[~pd.DataFrame({"g": values["_group"].to_numpy(),
                                       "b": _value_buckets(values[metric])[0]}).duplicated().to_numpy()]
        grouped = values.groupby("_group")[metric]
        stats = pd.DataFrame({"n": grouped.size(), "lo": grouped.min(), "hi": grouped.max(),
                              "med": grouped.median()})
        stats = stats[stats["n"] > 1]
        if stats.empty:
            continue
        frac = (stats["hi"] - stats["lo"]) / stats["med"]
        out.append(NoiseFloor(metric, int(len(frac)), float(frac.median()), float(frac.quantile(0.9)),
                              float(frac.max())))
    return out
