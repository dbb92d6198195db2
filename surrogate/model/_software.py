"""Which engine software a row reflects: sources' eras for training rows, the newest seen for predictions.

Training rows that record no version take their source's documented era
(``features.versions.SOURCE_ERA_DATES``; an ISO date is a valid version meaning "the engine as of
that date"). A prediction that names no version gets the newest release of that engine the training rows ran on
that accelerator (else on any), and its ``software_era`` says which one its answer reflects (``software_date``:
that release's date): an accelerator measured only with 2024 releases answers for 2024 software unless asked
otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from features.configs import CONFIG_COLUMNS, normalize_configs
from features.distinct import distinct_values, lookup, names_at, per_distinct
from features.versions import SOURCE_ERA_DATES, release_date, software_years

__all__ = ["with_source_eras", "newest_software", "newest_software_of", "with_newest_software", "software_labels"]


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
    """The newest version (by release date) among the training rows, per engine (key ``framework``) and per
    accelerator and engine (key ``hardware/framework``), with its date in years."""
    years = feats["software_year"].to_numpy(dtype=float)
    out: dict[str, dict[str, Any]] = {}
    if "framework_version" not in cfg:
        return out
    versions = cfg["framework_version"].astype("string").to_numpy()
    frameworks = cfg["framework"].astype(str).to_numpy()
    keys = np.concatenate([frameworks, cfg["hardware"].astype(str).to_numpy() + "/" + frameworks])
    years2, versions2 = np.concatenate([years, years]), np.concatenate([versions, versions])
    for key in sorted(set(keys)):
        rows = (keys == key) & np.isfinite(years2)
        if not rows.any():
            continue
        newest = float(np.max(years2[rows]))
        labels = sorted({str(v) for v in versions2[rows & (years2 == newest)]})
        out[key] = {"version": labels[0], "year": newest}
    return out


def newest_software_of(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """:func:`newest_software` of canonical training rows (their source's era where they record no version),
    without pricing them: what a bundle trained on ``table`` records (``scripts/fit_efficiency.py`` ships it
    beside the parameters, for ``surrogate estimate``)."""
    cfg = normalize_configs(with_source_eras(table)[[c for c in CONFIG_COLUMNS if c in table]])
    years = software_years(cfg["framework"], cfg["framework_version"])
    return newest_software(cfg, pd.DataFrame({"software_year": years}, index=cfg.index))


def with_newest_software(cfg: pd.DataFrame, newest: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Normalised rows with no engine version given the newest one training saw for that engine on that
    accelerator, else for that engine anywhere."""
    if not newest:
        return cfg
    given = cfg["framework_version"] if "framework_version" in cfg else pd.Series(pd.NA, index=cfg.index)
    given = given.astype("string")
    if not given.isna().any():
        return cfg
    versions = {key: value["version"] for key, value in newest.items()}
    on_part = per_distinct(lambda hardware, framework: versions.get(f"{hardware}/{framework}"),
                           cfg["hardware"].astype(str), cfg["framework"].astype(str))
    anywhere = lookup(cfg["framework"].astype(str), versions)
    out = cfg.copy()
    out["framework_version"] = given.fillna(pd.Series(on_part, index=cfg.index, dtype="string")).fillna(
        pd.Series(anywhere, index=cfg.index, dtype="string"))
    return out


def software_labels(cfg: pd.DataFrame) -> tuple[Any, Any]:
    """Per row, the engine and the software it reflects, e.g. ``vllm 0.19.0 (2026-04-03)``, and that release's
    date (ISO ``2026-04-03``; missing where no version is known): the label for people, the date what a caller
    compares eras by. Two pandas string arrays, each distinct engine and version labelled once for both."""
    versions = (cfg["framework_version"].astype("string") if "framework_version" in cfg
                else pd.Series(pd.NA, index=cfg.index, dtype="string"))
    codes, (frameworks, named) = distinct_values(cfg["framework"].astype(str), versions.fillna(""))
    pairs = list(zip(frameworks, named, strict=True))
    dates = [release_date(framework, version) if version else None for framework, version in pairs]
    labels = [_era_label(framework, version, date) for (framework, version), date in zip(pairs, dates, strict=True)]
    return names_at(labels, codes), names_at([None if date is None else date.isoformat() for date in dates], codes)


def _era_label(framework: str, version: str, date: dt.date | None) -> str:
    """The label of one engine at one version (``date``: its release date, None where unknown)."""
    if not version:
        return f"{framework} (version unknown)"
    if date is not None and str(date) == version:
        return f"{framework} as of {date}"
    return f"{framework} {version}" + (f" ({date})" if date else "")
