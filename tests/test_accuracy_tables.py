"""scripts/accuracy_tables.py: the per-engine table of a split's summary (hand-built, no evaluation run)."""

from __future__ import annotations

from _scripts import load_script

from surrogate.model import MIN_CELL_ROWS


def test_engine_table_names_the_cell_threshold_and_formats_each_cell() -> None:
    tables = load_script("scripts/accuracy_tables.py", "accuracy_tables_script")
    surrogate = {"rows": 412, "mape_pct": 12.345, "median_ape_pct": 4.56, "p10_p90_coverage_pct": 81.25}
    summary = {"metrics": {"latency_s": {"by_engine": {"vllm/static": {"surrogate": surrogate}}},
                           "ttft_s": {}}}
    lines = tables.engine_table(summary)
    assert f"training had {MIN_CELL_ROWS} or more of its out-of-fold residuals" in lines[0]
    assert "| latency_s | vllm/static | 412 | 12.3 / 4.6 | 81.2 |" in lines
    assert lines[-1] == ""


def test_engine_table_is_empty_without_per_engine_results() -> None:
    tables = load_script("scripts/accuracy_tables.py", "accuracy_tables_script")
    assert tables.engine_table({"metrics": {"itl_s": {}}}) == []
