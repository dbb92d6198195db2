"""Which software a row reflects: sources' eras in training, the newest seen on that part for predictions."""

from __future__ import annotations

import pandas as pd

from surrogate.model._software import newest_software, software_labels, with_newest_software, with_source_eras

ROWS = pd.DataFrame({"hardware": ["h100-sxm", "h100-sxm", "b200", "mi300x"],
                     "framework": ["vllm", "vllm", "vllm", "vllm"],
                     "framework_version": ["0.18.0", "0.11.2", "0.19.0", "2024-07-01"]})
YEARS = pd.DataFrame({"software_year": [6.2, 5.9, 6.25, 4.5]})


def test_rows_without_a_version_take_their_sources_era() -> None:
    table = pd.DataFrame({"framework_version": [None, "0.19.0", None], "source": ["llm-inference-bench",
                                                                                  "aiconfigurator", "mine"]})
    filled = with_source_eras(table)["framework_version"]
    assert filled.tolist()[:2] == ["2024-07-01", "0.19.0"] and pd.isna(filled.iloc[2])


def test_newest_is_kept_per_engine_and_per_part() -> None:
    newest = newest_software(ROWS, YEARS)
    assert newest["vllm"] == {"version": "0.19.0", "year": 6.25}
    assert newest["h100-sxm/vllm"] == {"version": "0.18.0", "year": 6.2}
    assert newest["mi300x/vllm"] == {"version": "2024-07-01", "year": 4.5}


def test_a_row_without_a_version_answers_for_the_newest_its_part_ran() -> None:
    ask = pd.DataFrame({"hardware": ["mi300x", "h100-sxm", "l40s", "b200"], "framework": ["vllm"] * 4,
                        "framework_version": [None, None, None, "0.11.2"]})
    filled = with_newest_software(ask, newest_software(ROWS, YEARS))["framework_version"].tolist()
    # mi300x only ran 2024 releases; l40s never ran: the engine's newest; a given version is kept
    assert filled == ["2024-07-01", "0.18.0", "0.19.0", "0.11.2"]
    eras, _ = software_labels(with_newest_software(ask, newest_software(ROWS, YEARS)))
    assert eras[0] == "vllm as of 2024-07-01"
    assert eras[1].startswith("vllm 0.18.0 (") and eras[1].endswith(")")


def test_nothing_to_fill_leaves_the_table_alone() -> None:
    ask = ROWS.copy()
    assert with_newest_software(ask, newest_software(ROWS, YEARS)) is ask
    assert with_newest_software(ask, {}) is ask


def test_a_release_no_training_row_names_reports_its_own_date() -> None:
    # vLLM 0.8.5 is in no shared table; the package index dates it 2025-04-28 (it used to read 2024-08-28,
    # the date of 0.5.2, the newest data-named version below it).
    ask = pd.DataFrame({"hardware": ["mi300x"], "framework": ["vllm"], "framework_version": ["0.8.5"]})
    assert software_labels(ask)[0][0] == "vllm 0.8.5 (2025-04-28)"


def test_each_answer_carries_the_date_of_its_release() -> None:
    ask = pd.DataFrame({"hardware": ["mi300x"] * 5, "framework": ["vllm"] * 5,
                        "framework_version": ["0.8.5", "2024-07-01", "nightly-dev-20260216-d3bae71e", None, "0.8.5"]})
    eras, dates = software_labels(ask)
    # a release, a date as the version, a nightly's build date, no version (no date), the first again
    assert list(dates[:3]) == ["2025-04-28", "2024-07-01", "2026-02-16"] and dates[4] == "2025-04-28"
    assert pd.isna(dates[3])
    assert eras[3] == "vllm (version unknown)"
