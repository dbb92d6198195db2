"""The dataset as tables: an ingest account, and counts and ranges of what the table holds."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from surrogate.ingest.account import Account, reason_kind
from surrogate.ingest.schema import METRIC_COLUMNS

__all__ = ["account_tables", "summary_dict", "summary_tables"]


def account_tables(account: Account) -> list[Table]:
    """The account as rich tables: totals, rejections by reason, notes by kind, noise floor."""
    totals = Table(title=f"{account.source}: {account.path}", show_header=True, header_style="bold")
    for name in ("rows read", "kept", "merged", "rejected", "adds up"):
        totals.add_column(name, justify="right")
    totals.add_row(str(account.rows_read), str(account.kept), str(account.merged), str(account.rejected),
                   "yes" if account.adds_up else "NO")
    merged = Table(title="merged rows", header_style="bold")
    merged.add_column("kind")
    merged.add_column("rows", justify="right")
    merged.add_row("exact copies of a measurement", str(account.exact_copies))
    merged.add_row("repeated measurements (median kept)", str(account.repeated_measurements))
    merged.add_row("already in the dataset", str(account.already_stored))
    tables = [totals, merged]
    if account.rejections:
        reasons = Table(title="rejected rows by reason", header_style="bold")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for reason, count in account.rejections_by_reason().items():
            reasons.add_row(reason, str(count))
        tables.append(reasons)
    if account.notes:
        notes = Table(title="notes on kept rows", header_style="bold")
        notes.add_column("kind")
        notes.add_column("rows", justify="right")
        notes.add_column("example")
        examples: dict[str, str] = {}
        for note in account.notes:
            examples.setdefault(reason_kind(note.message), str(note))
        for kind, count in account.notes_by_kind().items():
            notes.add_row(kind, str(count), examples.get(kind, ""))
        tables.append(notes)
    if account.noise:
        noise = Table(title="noise floor: spread (max - min) / median of repeated measurements",
                      header_style="bold")
        for name in ("metric", "configurations", "median", "p90", "max"):
            noise.add_column(name, justify="right")
        for n in account.noise:
            noise.add_row(n.metric, str(n.configurations), f"{n.median_spread_frac:.2%}", f"{n.p90_spread_frac:.2%}",
                          f"{n.max_spread_frac:.2%}")
        tables.append(noise)
    return tables


def summary_dict(table: pd.DataFrame) -> dict[str, Any]:
    """Counts by source, hardware, framework, model, batching and metric; ranges of lengths and batches."""
    out: dict[str, Any] = {"configurations": int(len(table))}
    for column in ("source", "hardware", "framework", "model", "batching", "mode"):
        out[f"by_{column}"] = {str(k): int(v) for k, v in table[column].value_counts(dropna=False).items()}
    out["by_metric"] = {m: int(table[m].notna().sum()) for m in METRIC_COLUMNS}
    out["faster_than_physics"] = int(table["faster_than_physics"].sum())
    ranges: dict[str, Any] = {}
    for source, group in table.groupby("source"):
        ranges[str(source)] = {c: [_int(group[c].min()), _int(group[c].max())]
                               for c in ("input_len", "output_len", "batch_size", "concurrency", "num_devices")}
    out["ranges_by_source"] = ranges
    return out


def _int(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


def summary_tables(info: dict[str, Any]) -> list[Table | str]:
    """``summary_dict`` as a headline and rich tables."""
    out: list[Table | str] = [f"[bold]{info['configurations']} configurations[/bold] ({info['faster_than_physics']} "
                              "faster than physics, kept out of training)"]
    for key in ("by_source", "by_hardware", "by_framework", "by_batching", "by_mode", "by_metric", "by_model"):
        counts = Table(title=key.replace("_", " "), header_style="bold")
        counts.add_column(key[3:])
        counts.add_column("rows", justify="right")
        for name, count in info[key].items():
            counts.add_row(name, str(count))
        out.append(counts)
    ranges = Table(title="ranges (min - max)", header_style="bold")
    ranges.add_column("source")
    columns = ("input_len", "output_len", "batch_size", "concurrency", "num_devices")
    for column in columns:
        ranges.add_column(column, justify="right")
    for source, values in info["ranges_by_source"].items():
        ranges.add_row(source, *(f"{values[c][0]} - {values[c][1]}" if values[c][0] is not None else "-"
                                 for c in columns))
    out.append(ranges)
    return out
