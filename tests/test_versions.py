"""Engine versions as dates: the packaged table, the rules that place other versions, the year feature.

Expected dates are read by hand from features/data/framework_versions.csv (earliest measured= stamps
of aiconfigurator silicon_sample.csv rows); years count days from 2020-01-01 over 365.25.
"""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from _scripts import load_script

from features.errors import ConfigError, UnknownNameError
from features.versions import SOURCE_ERA_DATES, newest_known, release_date, software_years

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "framework_versions.py"


def packaged() -> pd.DataFrame:
    with (resources.files("features") / "data" / "framework_versions.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


@pytest.mark.parametrize(("framework", "version", "expected"), [
    ("vllm", "0.19.0", date(2026, 4, 3)),
    ("trtllm", "1.2.0rc6.post3", date(2026, 2, 5)),  # the catalog alias resolves to tensorrt-llm
    ("sglang", "nightly-dev", date(2026, 2, 20)),  # a tag without a date: its earliest measured= stamp
    ("sglang", "0.5.6.post2", date(2026, 2, 7)),  # no stamps: bounded by the newer 0.5.8.post1
])
def test_known_versions_get_their_table_date(framework: str, version: str, expected: date) -> None:
    assert release_date(framework, version) == expected


def test_every_table_row_is_its_own_answer() -> None:
    table = packaged()
    assert len(table) == 37 and table["basis"].ne("").all()  # 35 from aiconfigurator, 2 named by MLPerf v4.1
    for row in table.itertuples(index=False):
        assert release_date(row.framework, row.version) == date.fromisoformat(row.date)


def test_a_date_as_the_version_means_the_engine_as_of_that_day() -> None:
    assert release_date("llama.cpp", "2024-07-01") == date(2024, 7, 1)  # no llama.cpp versions are dated
    assert release_date("vllm", SOURCE_ERA_DATES["aiconfigurator"]) == date(2025, 11, 15)


def test_a_nightly_tag_is_dated_by_its_build_date() -> None:
    assert release_date("sglang", "nightly-dev-20260301-0123abcd") == date(2026, 3, 1)
    assert release_date("sglang", "nightly-dev-20260216-d3bae71e") == date(2026, 2, 16)  # listed, same date


@pytest.mark.parametrize(("version", "expected", "why"), [
    ("0.20.1", date(2026, 4, 3), "newer than all known: the newest known (0.19.0)"),
    ("0.13.0", date(2026, 1, 23), "between known ones: the newest known below it (0.12.0)"),
    ("0.4.2", date(2024, 8, 28), "older than all known: the oldest known (0.4.3+rocm614, MLPerf v4.1)"),
    ("0.6.0", date(2024, 8, 28), "between 0.5.2 (MLPerf v4.1) and 0.11.2: takes 0.5.2's date"),
    ("v0.16", date(2026, 3, 1), "the same PEP 440 version as 0.16.0"),
])
def test_unlisted_pep440_versions_take_the_newest_known_not_newer(version: str, expected: date, why: str) -> None:
    assert release_date("vllm", version) == expected, why


def test_missing_versions_have_no_date() -> None:
    assert release_date("vllm", None) is None
    assert release_date("vllm", "") is None
    assert release_date("vllm", pd.NA) is None  # type: ignore[arg-type]  # what a pandas column holds


def test_an_undatable_version_names_the_known_ones() -> None:
    known = r"\(known: 0\.4\.3\+rocm614, 0\.5\.2, 0\.11\.2, .*0\.19\.0"
    with pytest.raises(UnknownNameError, match=r"unknown vllm version 'banana' " + known) as info:
        release_date("vllm", "banana")
    assert isinstance(info.value, ConfigError)  # a usage error at the CLI (exit 2)
    with pytest.raises(UnknownNameError) as info:
        release_date("sglang", "nightly")
    assert "nightly-dev" in info.value.suggestions
    with pytest.raises(UnknownNameError, match="no llama.cpp versions are dated; give the engine's date"):
        release_date("llama.cpp", "0.2")
    with pytest.raises(UnknownNameError, match="unknown framework"):
        release_date("vlm", "0.19.0")


def test_software_years_counts_from_2020_and_is_nan_without_a_version() -> None:
    frameworks = pd.Series(["vllm", "vllm", "vllm", "vllm", "llama.cpp", "vllm"], index=[5, 4, 3, 2, 1, 0])
    versions = pd.Series(["0.19.0", None, np.nan, pd.NA, "2024-07-01", "0.19.0"], dtype=object)
    years = software_years(frameworks, versions)
    # 2020-01-01 -> 2026-04-03: 2192 days to 2026-01-01 plus 92 = 2284; -> 2024-07-01: 1461 + 182 = 1643.
    np.testing.assert_allclose(years, [2284 / 365.25, np.nan, np.nan, np.nan, 1643 / 365.25, 2284 / 365.25])
    assert software_years(pd.Series([], dtype=object), pd.Series([], dtype=object)).shape == (0,)


def test_years_order_the_releases_and_the_source_eras() -> None:
    vllm = ["0.11.2", "0.12.0", "0.15.1", "0.16.0", "0.17.0", "0.18.0", "0.19.0"]
    years = software_years(pd.Series(["vllm"] * len(vllm)), pd.Series(vllm))
    assert (np.diff(years) > 0).all()
    eras = [date.fromisoformat(SOURCE_ERA_DATES[s]) for s in ["llm-inference-bench", "mlperf", "aiconfigurator"]]
    # Unversioned aiconfigurator rows were measured before any versioned row: their era precedes every date
    # aiconfigurator gives a version (the MLPerf-named vLLM versions are older).
    table = packaged()
    from_aic = table[table["basis"].str.contains("aiconfigurator")]
    assert eras[0] < eras[1] < eras[2] < min(date.fromisoformat(d) for d in from_aic["date"])


def test_newest_known_prefers_a_release_to_a_tag_of_the_same_day() -> None:
    assert newest_known("vllm") == ("0.19.0", date(2026, 4, 3))  # nightly-5b8c30d62b754b57 is also 2026-04-03
    assert newest_known("SGLang") == ("nightly-dev-20260402-d7256eb6", date(2026, 4, 2))
    assert newest_known("llama.cpp") is None


# --- the table against the shared data it was generated from --------------------------------


def _script() -> ModuleType:
    return load_script("scripts/framework_versions.py", "framework_versions_script")


def test_table_has_one_row_per_version_in_the_raw_file_and_is_current(shared_datasets: Path) -> None:
    script = _script()
    raw = pd.read_csv(shared_datasets / script.RAW_FILE, dtype=str, keep_default_na=False, na_values=[""])
    backend = {"trtllm": "tensorrt-llm", "vllm": "vllm", "sglang": "sglang"}
    recorded = raw.dropna(subset=["backend_version"])
    in_raw = set(zip(recorded["backend"].map(backend), recorded["backend_version"], strict=True))
    table = packaged()
    mlperf = script.mlperf_versions(shared_datasets)
    assert set(zip(mlperf["framework"], mlperf["version"], strict=True)) == {("vllm", "0.4.3+rocm614"),
                                                                               ("vllm", "0.5.2")}
    assert set(zip(table["framework"], table["version"], strict=True)) == in_raw | {("vllm", "0.4.3+rocm614"),
                                                                                    ("vllm", "0.5.2")}
    assert not table.duplicated(["framework", "version"]).any()
    pd.testing.assert_frame_equal(script.full_table(raw, shared_datasets), table,
                                  obj="framework_versions.csv is stale: run python scripts/framework_versions.py")
