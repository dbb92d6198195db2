"""Engine software versions as dates, so that a model can order them.

The same engine on the same hardware gets faster release by release (new kernels, schedulers), so a
latency model needs to know *when* its software is from. A version string is only a label; a date is
an ordered quantity that also places tags (``nightly-dev``), versions no table lists and sources that
never recorded one. ``data/framework_versions.csv`` (written by ``scripts/framework_versions.py``)
dates every version the shared data names, each with the basis of its date; most are the earliest
``measured=`` stamp of aiconfigurator rows, an upper bound on the release date, and these are the dates
the model trained on. ``data/engine_releases.csv`` (``scripts/engine_releases.py``) dates every other
release on the package index, so vLLM 0.8.5 is April 2025, not the nearest data-named version's date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt
import pandas as pd
from packaging.version import InvalidVersion, Version

from features import catalog
from features.distinct import per_distinct
from features.errors import ConfigError, DataError, UnknownNameError, closest_names

__all__ = ["SOURCE_ERA_DATES", "DYNAMO_IMAGE_NOTE", "release_date", "first_release", "before_first_release",
           "software_years"]

# What software a source ran when its rows record no version, as "YYYY-MM-DD" (the engine as of that date);
# pass it as the version: ``versions.fillna(sources.map(SOURCE_ERA_DATES))``.
SOURCE_ERA_DATES: dict[str, str] = {
    # LLM-Inference-Bench (Argonne, arXiv 2411.00136, November 2024) records no engine versions; its runs
    # used the releases of mid-2024.
    "llm-inference-bench": "2024-07-01",
    # aiconfigurator silicon_sample.csv rows without backend_version were mostly measured between
    # 2025-10-29 and 2025-12-05 (their measured= stamps: 708 of the 755 such rows ingested, 441 of them on
    # 2025-10-29; the other 47 on 2026-04-02), before any row that names a version (2025-12-08 onwards).
    "aiconfigurator": "2025-11-15",
    # MLPerf Inference v4.1 (published 2024-08-28): NVIDIA's TensorRT-LLM harness records no engine
    # version; its runs used the releases available before that date.
    "mlperf": "2024-08-28",
}

_FILE = "framework_versions.csv"
_RELEASES_FILE = "engine_releases.csv"
# How framework_versions.csv marks a "version" that numbers NVIDIA Dynamo's runtime image, not the engine
# (TensorRT-LLM "0.8.1.post2" ran in 2026): it keeps its own date but places no engine release.
DYNAMO_IMAGE_NOTE = "a version of the NVIDIA Dynamo runtime image (nvcr.io/nvidia/ai-dynamo), not of the engine"
# An unknown version's error lists this many of the known ones that look most like it.
_SUGGESTED = 5
# Years are counted from here so the feature is a small positive number for every engine we know.
_EPOCH = dt.date(2020, 1, 1)
_DAYS_PER_YEAR = 365.25  # Julian year
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A build date inside a tag, between separators: nightly-dev-20260216-d3bae71e.
_TAG_DATE = re.compile(r"(?:^|[-_.+])(\d{8})(?=$|[-_.+])")


@cache
def _table() -> pd.DataFrame:
    """The versions the data names (framework_versions.csv), checked."""
    return _checked(_FILE)


@cache
def _releases() -> pd.DataFrame:
    """Every published engine release (engine_releases.csv), checked."""
    return _checked(_RELEASES_FILE)


def _checked(name: str) -> pd.DataFrame:
    """A packaged version table, checked: known frameworks, ISO dates, one row per (framework, version)."""
    path = resources.files("features") / "data" / name
    with path.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    for line, row in enumerate(table.itertuples(index=False), start=2):
        if row.framework not in catalog.framework_ids():
            raise DataError(f"{name} line {line}: unknown framework '{row.framework}'")
        try:
            dt.date.fromisoformat(row.date)
        except ValueError:
            raise DataError(f"{name} line {line}: date '{row.date}' is not YYYY-MM-DD") from None
    if table.duplicated(["framework", "version"]).any():
        first = int(table.duplicated(["framework", "version"]).to_numpy().argmax()) + 2
        raise DataError(f"{name} line {first}: repeats a (framework, version) pair")
    return table


@cache
def _known(framework: str) -> dict[str, dt.date]:
    """Dated versions of one canonical framework, oldest first: those the data names at their table date,
    the other releases at theirs (:func:`_between_named`)."""
    named = _table()[_table()["framework"].eq(framework)]
    dates = {str(v): dt.date.fromisoformat(str(d)) for v, d in zip(named["version"], named["date"], strict=True)}
    published = _releases()[_releases()["framework"].eq(framework) & ~_releases()["version"].isin(named["version"])]
    bounds = _between_named(framework, dates)
    for version, date in zip(published["version"], published["date"], strict=True):
        dates[str(version)] = bounds(str(version), dt.date.fromisoformat(str(date)))
    return dict(sorted(dates.items(), key=lambda item: (item[1], item[0])))


def _between_named(framework: str, named: dict[str, dt.date]) -> Callable[[str, dt.date], dt.date]:
    """A release's date held between those of the data-named engine versions around it by number: no earlier
    than any older one's, no later than any newer one's. The data-named dates are measurement bounds, weeks
    after release (vLLM 0.12.0: released 2025-12-03, first measured 2026-01-23), and the model learned its
    time axis from them; unheld, 0.13.0 (released 2025-12-19) would read as older than 0.12.0."""
    images = _image_numbered(framework)
    engine = sorted((v, d) for name, d in named.items() if name not in images and (v := _pep440(name)) is not None)

    def bounded(version: str, date: dt.date) -> dt.date:
        own = _pep440(version)
        if own is None:
            return date
        older = [d for v, d in engine if v < own]
        newer = [d for v, d in engine if v > own]
        if older:
            date = max(date, max(older))
        if newer:
            date = min(date, min(newer))
        return date

    return bounded


@cache
def _image_numbered(framework: str) -> frozenset[str]:
    """The framework's "versions" that number Dynamo's runtime image (:data:`DYNAMO_IMAGE_NOTE`)."""
    table = _table()
    mine = table["framework"].eq(framework) & table["basis"].str.contains(DYNAMO_IMAGE_NOTE, regex=False)
    return frozenset(table.loc[mine, "version"])


@cache
def _ordered(framework: str) -> list[tuple[Version, dt.date]]:
    """The engine's PEP 440 versions among the known ones, in version order (tags like ``nightly-dev`` and
    Dynamo image numbers left out: TensorRT-LLM 0.17.0 is not newer than the 2026 image "0.8.1.post3")."""
    images = _image_numbered(framework)
    parsed = [(_pep440(v), d) for v, d in _known(framework).items() if v not in images]
    return sorted((v, d) for v, d in parsed if v is not None)


def _pep440(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _date_in(version: str) -> dt.date | None:
    """The date a version string states: all of it as YYYY-MM-DD, or a YYYYMMDD build date in a tag."""
    if _ISO_DATE.fullmatch(version):
        try:
            return dt.date.fromisoformat(version)
        except ValueError:
            return None
    for match in _TAG_DATE.finditer(version):
        text = match.group(1)
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            continue
    return None


def _placed(framework: str, version: Version) -> dt.date | None:
    """Date of the newest known version <= ``version`` (the oldest known when it precedes them all)."""
    ordered = _ordered(framework)
    if not ordered:
        return None
    below = [d for v, d in ordered if v <= version]
    return below[-1] if below else ordered[0][1]


def _missing(version: object) -> bool:
    return version is None or (not isinstance(version, str) and bool(pd.isna(version))) or str(version).strip() == ""


def release_date(framework: str, version: str | None) -> dt.date | None:
    """When ``version`` of ``framework`` came out (an upper bound for most); None when no version is given.

    In order: a version the table lists; a version that is itself a date, ``YYYY-MM-DD`` (the engine as of
    that day, as :data:`SOURCE_ERA_DATES` gives); a tag with a ``YYYYMMDD`` build date
    (``nightly-dev-20260216-d3bae71e``); a PEP 440 version the table lacks, which gets the date of the
    newest known version not newer than it (the newest known date when it is newer than all, the oldest
    when older than all). Anything else raises :class:`UnknownNameError` listing the known versions.
    """
    if _missing(version):
        return None
    return _release_date(catalog.resolve_framework(framework), str(version).strip())


@cache
def _release_date(framework: str, version: str) -> dt.date:
    known = _known(framework)
    if version in known:
        return known[version]
    stated = _date_in(version)
    if stated is not None:
        if too_early := before_first_release(framework, stated):
            raise ConfigError(f"{too_early}; give a date from then on")
        return stated
    parsed = _pep440(version)
    placed = _placed(framework, parsed) if parsed is not None else None
    if placed is not None:
        return placed
    names = list(known)
    error = UnknownNameError(f"{framework} version", version, closest_names(version, names, limit=_SUGGESTED))
    if _ordered(framework):
        close = ", ".join(error.suggestions) or "none alike"
        hint = (f"{len(names)} known, {names[0]} to {names[-1]}; closest: {close}; give a known one, a PEP 440 "
                "version or the engine's date as YYYY-MM-DD")
    else:
        hint = f"no {framework} versions are dated; give the engine's date as YYYY-MM-DD"
    error.args = (f"unknown {framework} version '{version}' ({hint})",)
    raise error


def first_release(framework: str) -> tuple[str, dt.date] | None:
    """The engine's earliest dated release and its date (None for an engine with no dated releases)."""
    return _first(_known(catalog.resolve_framework(framework)))


def before_first_release(framework: str, day: dt.date) -> str | None:
    """Why the engine as of ``day`` cannot be priced (the day precedes its first dated release), or None."""
    first = first_release(framework)
    if first is None or first[1] <= day:
        return None
    return f"{catalog.resolve_framework(framework)} as of {day} is before its first release ({first[0]}, {first[1]})"


def _first(known: dict[str, dt.date]) -> tuple[str, dt.date] | None:
    if not known:
        return None
    version = min(known, key=lambda name: known[name])
    return version, known[version]


def software_years(frameworks: pd.Series, versions: pd.Series) -> npt.NDArray[np.float64]:
    """Years from 2020-01-01 to each row's :func:`release_date` (days / 365.25); NaN where it is None.

    Each distinct (framework, version) pair is dated once, so a table of measurements costs a few lookups.
    """
    if len(frameworks) != len(versions):
        raise ValueError(f"{len(frameworks)} frameworks for {len(versions)} versions")
    years: npt.NDArray[np.float64] = per_distinct(_years_since_epoch, frameworks, versions, dtype=float)
    return years


def _years_since_epoch(framework: object, version: object) -> float:
    if _missing(version):
        return np.nan
    when = release_date(str(None if _missing(framework) else framework), str(version))
    return np.nan if when is None else (when - _EPOCH).days / _DAYS_PER_YEAR
