"""Ingest measurements from every source into one canonical table, losing nothing silently.

``ingest(source, path)`` runs the source's adapter, the common checks (catalog names, defaults,
possible configurations), flags rows faster than physics, merges repeated measurements of a
configuration to their median, and returns an :class:`IngestResult` whose account adds up:
rows read = kept + merged + rejected. ``load_shared()`` does this for every shared source.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataError, MissingPathError
from surrogate.ingest import aiconfigurator, csv_table, llm_inference_bench, mlperf, vllm_bench
from surrogate.ingest.account import (
    HEADER_LINE,
    Account,
    exact_copy_mask,
    key_strings,
    merge_measurements,
    noise_floor,
)
from surrogate.ingest.base import AdapterOutput, IngestContext
from surrogate.ingest.cache import cached
from surrogate.ingest.checks import check_records
from surrogate.ingest.physics import flag_faster_than_physics
from surrogate.ingest.schema import CANONICAL_COLUMNS, MEASUREMENT_COLUMNS, empty_frame

__all__ = ["AdapterSpec", "ADAPTERS", "IngestContext", "IngestResult", "ingest", "account_against",
           "load_shared", "shared_datasets_dir", "SHARED_SOURCES"]


@dataclass(frozen=True)
class AdapterSpec:
    """A registered source: its reader and a one-line description."""

    name: str
    read: Callable[[Path, IngestContext], AdapterOutput]
    help: str
    uses_context: bool = False


ADAPTERS: dict[str, AdapterSpec] = {
    spec.name: spec for spec in (
        AdapterSpec(llm_inference_bench.NAME, lambda p, c: llm_inference_bench.read(p),
                    "a directory laid out like argonne-lcf/LLM-Inference-Bench (every CSV under it)"),
        AdapterSpec(aiconfigurator.NAME, lambda p, c: aiconfigurator.read(p),
                    "aiconfigurator's silicon_sample.csv (aggregated and disaggregated serving)"),
        AdapterSpec(mlperf.NAME, lambda p, c: mlperf.read(p),
                    "an MLPerf Inference results tree (mlcommons/inference_results_v4.1 layout): LLM summaries"),
        AdapterSpec(vllm_bench.NAME, vllm_bench.read,
                    "JSON from vLLM benchmark_serving/latency/throughput or SGLang bench_serving (file or dir)",
                    uses_context=True),
        AdapterSpec(csv_table.NAME, lambda p, c: csv_table.read(p),
                    "your own CSV or parquet in the canonical columns"),
        AdapterSpec("bench", lambda p, c: csv_table.read_bench(p),
                    "the folder `surrogate bench --out` wrote (its rows.csv: canonical rows, one per repeat)"),
    )
}
# Where each shared source lives under ../shared/datasets/.
SHARED_SOURCES = {llm_inference_bench.NAME: "llm-inference-bench", aiconfigurator.NAME: "aiconfigurator",
                  mlperf.NAME: "mlperf-inference"}


@dataclass
class IngestResult:
    """The canonical table (one row per configuration), every accepted measurement, and the account."""

    table: pd.DataFrame
    measurements: pd.DataFrame
    account: Account
    accounts: list[Account] = field(default_factory=list)

    def rejections(self) -> pd.DataFrame:
        """Rejected rows as a frame: file, line, reason."""
        rows = [(r.file, r.line, r.reason) for a in (self.accounts or [self.account]) for r in a.rejections]
        return pd.DataFrame(rows, columns=["file", "line", "reason"])

    def training_table(self, include_faster_than_physics: bool = False) -> pd.DataFrame:
        """The rows a model may learn from: rows faster than physics only when asked for."""
        if include_faster_than_physics:
            return self.table.copy()
        return self.table[~self.table["faster_than_physics"]].reset_index(drop=True)


def account_against(account: Account, new: pd.DataFrame, existing: pd.DataFrame) -> pd.DataFrame:
    """Fill ``account``'s kept/merged numbers for accepted rows ``new`` given the rows ``existing`` already
    in the dataset; returns the measurements to store (existing + the new ones not already there)."""
    stored_ids = set(existing["measurement_id"].astype(str)) if len(existing) else set()
    already = new["measurement_id"].astype(str).isin(stored_ids).to_numpy()
    fresh = new[~already]
    combined = pd.concat([existing, fresh], ignore_index=True) if len(existing) else fresh.reset_index(drop=True)
    all_keys = key_strings(combined)
    fresh_part = np.arange(len(existing), len(combined))
    keys = all_keys.iloc[fresh_part]
    first_new = ~keys.isin(set(all_keys.iloc[:len(existing)])) & ~keys.duplicated()
    merged = ~first_new.to_numpy()
    exact = merged & exact_copy_mask(all_keys, combined)[fresh_part]
    account.already_stored = int(already.sum())
    account.kept = int(first_new.sum())
    account.exact_copies = int(exact.sum())
    account.repeated_measurements = int((merged & ~exact).sum())
    account.merged = account.already_stored + account.exact_copies + account.repeated_measurements
    account.faster_than_physics = int(fresh["faster_than_physics"].sum())
    account.noise = noise_floor(combined)
    if not account.adds_up:  # pragma: no cover - an invariant, tested with hypothesis
        raise DataError(f"ingest account does not add up: read {account.rows_read} != kept {account.kept} + merged "
                        f"{account.merged} + rejected {account.rejected}")
    return combined


def ingest(source: str, path: str | Path, context: IngestContext | None = None,
           existing: pd.DataFrame | None = None) -> IngestResult:
    """Read ``path`` with the ``source`` adapter and return the checked, merged result.

    ``existing`` (measurements already in a dataset) makes the account count rows it already holds
    as merged, and the returned table covers both.
    """
    if source not in ADAPTERS:
        raise ConfigError(f"unknown source '{source}'; choose from: {', '.join(ADAPTERS)}")
    spec = ADAPTERS[source]
    context = context or IngestContext()
    if context.given() and not spec.uses_context:
        raise ConfigError(f"--{next(iter(context.given())).replace('_', '-')} only applies to "
                          f"{', '.join(n for n, s in ADAPTERS.items() if s.uses_context)}")
    output = spec.read(Path(path), context)
    measurements, rejections, notes = check_records(output.records, source)
    flagged, physics_notes = flag_faster_than_physics(measurements)
    measurements["faster_than_physics"] = flagged.to_numpy()
    account = Account(source=source, path=str(path), rows_read=output.rows_read,
                      rejected=len(output.rejections) + len(rejections),
                      rejections=output.rejections + rejections, notes=output.notes + notes + physics_notes)
    base = existing if existing is not None else empty_frame(MEASUREMENT_COLUMNS)
    kept_lines = set(zip(measurements["source_file"].astype(str), measurements["source_line"].astype(int),
                         strict=True))
    account.notes = [n for n in account.notes if (n.file, n.line) in kept_lines or n.line == HEADER_LINE]
    combined = account_against(account, measurements, base)
    table = merge_measurements(combined)
    return IngestResult(table=table, measurements=combined, account=account, accounts=[account])


def shared_datasets_dir(shared_dir: str | Path | None = None) -> Path:
    """``shared_dir``, else ``$SURROGATE_SHARED_DIR``, else ``../shared/datasets`` beside the repository."""
    if shared_dir is not None:
        return Path(shared_dir)
    override = os.environ.get("SURROGATE_SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def load_shared(shared_dir: str | Path | None = None) -> IngestResult:
    """The shared sources (LLM-Inference-Bench, aiconfigurator, MLPerf Inference v4.1) ingested in memory
    (from the user's cache where nothing that decides the result changed: :mod:`surrogate.ingest.cache`)."""
    root = shared_datasets_dir(shared_dir)
    missing = [name for name in SHARED_SOURCES.values() if not (root / name).exists()]
    if missing:
        raise MissingPathError(f"shared datasets not found at {root} (missing {', '.join(missing)}); set "
                        "SURROGATE_SHARED_DIR or download them with `surrogate data fetch`")
    return cached(root, lambda: _ingest_shared(root))


def _ingest_shared(root: Path) -> IngestResult:
    results = [ingest(source, root / folder) for source, folder in SHARED_SOURCES.items()]
    measurements = pd.concat([r.measurements for r in results], ignore_index=True)
    table = pd.concat([r.table for r in results], ignore_index=True)[CANONICAL_COLUMNS]
    accounts = [r.account for r in results]
    combined = Account.combine(accounts)
    combined.noise = noise_floor(measurements)
    return IngestResult(table=table, measurements=measurements, account=combined, accounts=accounts)
