"""Engine versions as dates: the packaged table, the rules that place other versions, the year feature.

Expected dates are read by hand from features/data/framework_versions.csv (earliest measured= stamps
of aiconfigurator silicon_sample.csv rows) and engine_releases.csv (every release on the package index);
years count days from 2020-01-01 over 365.25.
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
from packaging.version import Version

from features.errors import ConfigError, UnknownNameError
from features.versions import DYNAMO_IMAGE_NOTE, SOURCE_ERA_DATES, first_release, release_date, software_years

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "framework_versions.py"


def packaged() -> pd.DataFrame:
    with (resources.files("features") / "data" / "framework_versions.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype=str, keep_default_na=False)


@pytest.mark.parametrize(("framework", "version", "expected"), [
    ("vllm", "0.19.0", date(2026, 4, 3)),
    ("trtllm", "1.2.0rc6.post3", date(2026, 2, 5)),  # the catalog alias resolves to tensorrt-llm
    ("sglang", "nightly-dev", date(2026, 2, 20)),  # a tag without a date: its earliest measured= stamp
    ("sglang", "0.5.6.post2", date(2026, 2, 7)),  # no stamps: bounded by the newer 0.5.8.post1
    ("tensorrt-llm", "0.8.1.post2", date(2026, 2, 3)),  # a Dynamo image number: its stamp, not index 0.8.x's
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
    ("0.6.0", date(2024, 9, 5), "a release the data never names: its own (it took 0.5.2's 2024-08-28 before)"),
    ("0.8.5", date(2025, 4, 28), "a release the data never names: its own"),
    ("0.34.0", date(2026, 11, 16), "newer than every data-named version: its own"),
    ("0.13.0", date(2026, 1, 23), "released 2025-12-19, held at the data-named 0.12.0's 2026-01-23 below it"),
    ("0.5.0", date(2024, 8, 28), "released 2024-06-11, held at MLPerf's 0.4.3+rocm614 (2024-08-28) below it"),
    ("0.4.3", date(2024, 6, 1), "released before every data-named version: its own"),
])
def test_a_release_the_data_never_names_takes_its_release_date_between_the_named_ones(
        version: str, expected: date, why: str) -> None:
    assert release_date("vllm", version) == expected, why


@pytest.mark.parametrize(("version", "expected", "why"), [
    ("0.99.0", date(2026, 11, 16), "newer than all known: the newest known (0.34.0)"),
    ("0.13.5", date(2026, 1, 23), "between known ones: the newest known below it (0.13.0)"),
    ("0.6.3+rocm624", date(2024, 10, 14), "a local build: placed just after its public release 0.6.3"),
    ("0.0.0.1", date(2023, 6, 19), "older than all known: the oldest known (0.0.1)"),
    ("v0.16", date(2026, 3, 1), "the same PEP 440 version as 0.16.0"),
])
def test_unlisted_pep440_versions_take_the_newest_known_not_newer(version: str, expected: date, why: str) -> None:
    assert release_date("vllm", version) == expected, why


def test_every_published_release_keeps_the_order_of_the_data_named_versions() -> None:
    with (resources.files("features") / "data" / "engine_releases.csv").open("r", encoding="utf-8") as f:
        published = pd.read_csv(f, dtype=str)
    table = packaged()
    # image numbers and tags order nothing
    engine = table[~table["basis"].str.contains(DYNAMO_IMAGE_NOTE, regex=False) & table["version"].str.match(r"^\d")]
    named = set(zip(table["framework"], table["version"], strict=True))  # these keep their table date
    for framework, version in zip(published["framework"], published["version"], strict=True):
        if (framework, version) in named:
            continue
        when, own = release_date(framework, version), Version(version)
        mine = engine[engine["framework"].eq(framework)]
        parsed = [(Version(v), date.fromisoformat(d)) for v, d in zip(mine["version"], mine["date"], strict=True)]
        older = [d for v, d in parsed if v < own]
        newer = [d for v, d in parsed if v > own]
        assert when is not None and (not newer or when <= min(newer)), (framework, version)
        if older and (not newer or max(older) <= min(newer)):  # the data's own dates may cross (0.5.8, .post1)
            assert when >= max(older), (framework, version)


def test_dynamo_image_numbers_place_no_engine_release() -> None:
    # TensorRT-LLM 0.17.0 is on the index (2025-01-30); 0.17.5 is not, and the newest engine release below it
    # is 0.17.0.post1. The 2026 Dynamo images "0.8.1.post3" and "1.1.0-dev.2" order below and above it by
    # number but are not TensorRT-LLM releases: before they were left out, 0.17.5 took 0.8.1.post3's 2026-02-08.
    assert release_date("tensorrt-llm", "0.17.0") == date(2025, 1, 30)
    assert release_date("tensorrt-llm", "0.17.5") == date(2025, 2, 2)
    # SGLang 0.4.6 predates every version aiconfigurator names: it took the oldest of them, 2025-12-15.
    assert release_date("sglang", "0.4.6") == date(2025, 4, 27)


def test_missing_versions_have_no_date() -> None:
    assert release_date("vllm", None) is None
    assert release_date("vllm", "") is None
    assert release_date("vllm", pd.NA) is None  # type: ignore[arg-type]  # what a pandas column holds


def test_an_undatable_version_names_the_known_ones() -> None:
    # 102 releases on the index, the data's ROCm build 0.4.3+rocm614 and its nightly tag
    with pytest.raises(UnknownNameError, match=r"unknown vllm version 'banana' \(104 known, 0\.0\.1 to 0\.34\.0; "
                       r"closest: none alike; give a known one") as info:
        release_date("vllm", "banana")
    with pytest.raises(UnknownNameError, match=r"closest: nightly-5b8c30d62b754b57"):
        release_date("vllm", "nightly-5b8c30d6")
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
    vllm = ["0.4.3", "0.6.0", "0.8.5", "0.11.2", "0.12.0", "0.15.1", "0.16.0", "0.17.0", "0.18.0", "0.19.0"]
    years = software_years(pd.Series(["vllm"] * len(vllm)), pd.Series(vllm))
    assert (np.diff(years) > 0).all()
    eras = [date.fromisoformat(SOURCE_ERA_DATES[s]) for s in ["llm-inference-bench", "mlperf", "aiconfigurator"]]
    # Unversioned aiconfigurator rows were measured before any versioned row: their era precedes every date
    # aiconfigurator gives a version (the MLPerf-named vLLM versions are older).
    table = packaged()
    from_aic = table[table["basis"].str.contains("aiconfigurator")]
    assert eras[0] < eras[1] < eras[2] < min(date.fromisoformat(d) for d in from_aic["date"])


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


def test_a_date_before_an_engines_first_release_is_refused() -> None:
    # engine_releases.csv: vLLM 0.0.1 reached the package index 2023-06-19, SGLang 0.1.3 2024-01-16.
    assert first_release("vllm") == ("0.0.1", date(2023, 6, 19))
    assert first_release("sglang") == ("0.1.3", date(2024, 1, 16))
    assert first_release("llama.cpp") is None  # no dated releases: any date is taken as given
    with pytest.raises(ConfigError, match=r"^vllm as of 2019-01-01 is before its first release \(0\.0\.1, "
                                          r"2023-06-19\); give a date from then on$"):
        release_date("vllm", "2019-01-01")
    assert release_date("vllm", "2023-06-19") == date(2023, 6, 19)
