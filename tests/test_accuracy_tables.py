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


def test_headline_rows_list_the_physics_only_metrics_after_the_learned_ones() -> None:
    tables = load_script("scripts/accuracy_tables.py", "accuracy_tables_script")

    def scores(mape: float, median: float, coverage: float, rows: int) -> dict[str, dict[str, float]]:
        variant = {"rows": rows, "mape_pct": mape, "median_ape_pct": median}
        return {"peak": variant, "achievable": variant,
                "surrogate": {**variant, "p10_p90_coverage_pct": coverage}}

    summary = {"metrics": {"ttft_s": scores(66.5, 73.1, 55.6, 9)},
               "physics_only": {"latency_s": {**scores(767.4, 733.5, 0.0, 44), "note": "too few"}},
               "rule_checks": [{"line": "coverage within 70-90%: NO (ttft_s 55.6%)"}]}
    assert tables.headline_rows(summary, "vendor") == [
        "| vendor | ttft_s | 9 | 66.5 / 73.1 | 66.5 / 73.1 | 66.5 / 73.1 | 55.6 | "
        "coverage within 70-90%: NO (ttft_s 55.6%) |",
        "| vendor | latency_s (physics only) | 44 | 767.4 / 733.5 | 767.4 / 733.5 | 767.4 / 733.5 | 0.0 |  |"]
