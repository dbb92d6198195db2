"""Which engine software a row reflects: sources' eras for training rows, the newest seen for predictions.

Training rows that record no version take their source's documented era
(``features.versions.SOURCE_ERA_DATES``; an ISO date is a valid version meaning "the engine as of
that date"). A prediction that names no version gets the newest release of that engine in the
training rows, and ``software_era`` says which one its answer reflects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.versions import SOURCE_ERA_DATES, release_date

__all__ = ["with_source_eras", "newest_software", "with_newest_software", "software_era"]


def with_source_eras(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with missing ``framework_version`` filled by its source's era date (where it has one)."""
    if "source" not in table:
        return table
    era = table["source"].map(SOURCE_ERA_DATES)
    out = table.copy()
    recorded = out["framework_version"] if "framework_version" in out else pd.Series(pd.NA, index=out.index)
    out["framework_version"] = recorded.astype("string").fillna(era.astype("string"))
    return out


def newest_software(cfg: pd.DataFrame, feats: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per engine, the newest version among the training rows (by release date) and its date in years."""
    years = feats["software_year"].to_numpy(dtype=float)
    out: dict[str, dict[str, Any]] = {}
    if "framework_version" not in cfg:
        return out
    versions = cfg["framework_version"].astype("string").to_numpy()
    frameworks = cfg["framework"].astype(str).to_numpy()
    for framework in sorted(set(frameworks)):
        rows = (frameworks == framework) & np.isfinite(years)
        if not rows.any():
            continue
        newest = float(np.max(years[rows]))
        labels = sorted({str(v) for v in versions[rows & (years == newest)]})
        out[framework] = {"version": labels[0], "year": newest}
    return out


def with_newest_software(cfg: pd.DataFrame, newest: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Normalised rows with no engine version given the newest one training saw for that engine."""
    if not newest:
        return cfg
    fill = cfg["framework"].map({f: v["version"] for f, v in newest.items()}).astype("string")
    given = cfg["framework_version"] if "framework_version" in cfg else pd.Series(pd.NA, index=cfg.index)
    given = given.astype("string")
    if not given.isna().any():
        return cfg
    out = cfg.copy()
    out["framework_version"] = given.fillna(fill)
    return out


def software_era(cfg: pd.DataFrame) -> list[str]:
    """Per row, the engine and the software it reflects, e.g. ``vllm 0.19.0 (2026-04-03)``."""
    versions = (cfg["framework_version"].astype("string") if "framework_version" in cfg
                else pd.Series(pd.NA, index=cfg.index, dtype="string"))
    labels = {}
    for framework, version in set(zip(cfg["framework"].astype(str), versions.fillna(""), strict=True)):
        date = release_date(framework, version or None)
        if not version:
            labels[(framework, version)] = f"{framework} (version unknown)"
        elif date is not None and str(date) == version:
            labels[(framework, version)] = f"{framework} as of {date}"
        else:
            labels[(framework, version)] = f"{framework} {version}" + (f" ({date})" if date else "")
    return [labels[(f, v)] for f, v in zip(cfg["framework"].astype(str), versions.fillna(""), strict=True)]
