"""What people and scripts read: rendered tables, JSON payloads, result and evaluation files, summaries."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_model import tiny_model
from rich.console import Console
from rich.table import Table

from features.configs import CONFIG_COLUMNS
from surrogate.formatting import describe_config, format_seconds
from surrogate.ingest import ingest
from surrogate.ingest.schema import CANONICAL_COLUMNS, METRIC_COLUMNS, empty_frame
from surrogate.model import METRICS, VARIANTS, Evaluation
from surrogate.model._evaluate import summarize
from surrogate.optimize import Inventory, OptimizeOptions, OptimizeResult, Workload, optimize
from surrogate.report import (
    RESULT_COLUMNS,
    account_tables,
    estimate_table,
    groups_table,
    headline,
    launch_command,
    off_support_warning,
    prediction_table,
    print_json,
    recommendation,
    result_payload,
    scores_table,
    summary_dict,
    summary_tables,
    to_jsonable,
    top_table,
    why_line,
    write_evaluation,
    write_files,
)
from surrogate.report._tables import support_line

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _text(table: Table | str, width: int = 200) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(table)
    return console.export_text()


def _cells(text: str) -> dict[str, list[str]]:
    """Body rows of a rendered table: first cell -> the remaining cells, stripped."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def _headers(table: Table) -> list[str]:
    return [str(column.header) for column in table.columns]


# --- one estimate, one prediction -----------------------------------------------------------------

def test_estimate_table_shows_achievable_beside_peak_and_the_step_by_part() -> None:
    parts = {f"achievable_{phase}_{part}_s": value for phase in ("prefill", "decode")
             for part, value in zip(("compute", "memory", "comm", "fixed"), (0.2, 0.028, 0.0198, 0.0054), strict=True)}
    result = pd.Series({"ttft_s": 0.225, "peak_ttft_s": 0.146, "itl_s": 0.00846, "peak_itl_s": 0.00344,
                        "latency_s": 2.38, "peak_latency_s": 1.02, "throughput_tok_s": 8594.0,
                        "output_throughput_tok_s": 1719.0, "mem_kv_gb": 1.3449, "mem_weights_gb": 8.0,
                        "max_batch_size": 745.0, "max_context_tokens": 8192, "fits": False, "bottleneck": "memory",
                        "achievable_bottleneck": "compute", **parts})
    table = estimate_table(result)
    assert _headers(table) == ["metric", "achievable", "peak (bound)"]
    cells = _cells(_text(table))
    assert cells["time to first token"] == ["225 ms", "146 ms"]
    assert cells["inter-token latency"] == ["8.46 ms", "3.44 ms"]
    # Peak throughput follows from the latency ratio: 8,594 x 2.38 / 1.02.
    assert cells["throughput, input+output"] == ["8,594 tok/s", "20,053 tok/s"]
    assert cells["compute"] == ["200 ms", ""] and cells["fixed overhead"] == ["5.4 ms", ""]  # decode, the last
    assert cells["bound by (achievable)"] == ["compute", "memory"]
    assert cells["longest sequence at this load"] == ["8,192 tokens", ""]
    assert cells["fits in memory"] == ["NO", ""] and cells["KV cache"] == ["1.34 GB", ""]


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    """Row 0 on hardware the tiny model trained on, row 1 on hardware it never saw."""
    config = {"model": "meta-llama/Meta-Llama-3-8B", "framework": "vllm", "tp": 1, "batching": "continuous",
              "concurrency": 16, "input_len": 1024, "output_len": 256, "weight_dtype": "bf16"}
    return tiny_model().predict(pd.DataFrame([{**config, "hardware": "h100-sxm"},
                                              {**config, "hardware": "mi300x"}]))


def test_off_support_warning_counts_rows_and_names_the_reasons(predictions: pd.DataFrame) -> None:
    assert off_support_warning(predictions.iloc[:1]) is None
    warning = off_support_warning(predictions)
    reasons = ", ".join(sorted(set(str(predictions.iloc[1]["off_support"]).split(", "))))
    assert warning == (f"warning: 1 of 2 predictions are off the training data ({reasons}): they lean on physics "
                       "and their P10-P90 is wider; measure before relying on them")


def test_prediction_table_shows_median_interval_and_analytic(predictions: pd.DataFrame) -> None:
    row = predictions.iloc[0]
    table = prediction_table(row)
    assert _headers(table) == ["metric", "predicted", "P10", "P90", "achievable", "peak (bound)"]
    cells = _cells(_text(table))
    for metric, label in [("ttft_s", "time to first token"), ("itl_s", "inter-token latency"),
                          ("latency_s", "latency (batch / request)")]:
        assert cells[label] == [format_seconds(row[metric]), format_seconds(row[f"{metric}_p10"]),
                                format_seconds(row[f"{metric}_p90"]), format_seconds(row[f"analytic_{metric}"]),
                                format_seconds(row[f"peak_{metric}"])]
    assert cells["throughput, output"] == [f"{row[c]:,.0f} tok/s" for c in
                                           ("output_throughput_tok_s", "output_throughput_tok_s_p10",
                                            "output_throughput_tok_s_p90")] + ["", ""]
    assert cells["memory per device"][0] == f"{row['mem_per_device_gb']:.1f} GB"
    assert cells["fits in memory"][0] == "yes"
    assert cells["bottleneck (peak)"][0] == row["bottleneck"]
    assert cells["training data"][0] == "on the data"
    assert cells["software"][0] == "vllm (version unknown)"  # the tiny model's rows record no version


def test_prediction_table_says_what_the_row_is_off_and_how_much_the_correction_counts(
        predictions: pd.DataFrame) -> None:
    row = predictions.iloc[1]
    assert row["off_support"].startswith("vendor, hardware")  # a vendor the tiny model never saw
    # Served: latency is derived from TTFT and ITL, so the trust shown is the least of theirs.
    weight = min(row["ttft_s_correction_weight"], row["itl_s_correction_weight"])
    assert row["correction_weight"] == weight
    cells = _cells(_text(prediction_table(row)))
    distance = (f" {row['support_distance']:.1f}: {row['support_nearest']}" if "distance" in row["off_support"]
                else "")
    assert cells["training data"][0] == (f"OFF: {row['off_support']}{distance}; correction weight {weight:.2f}; "
                                         "wider interval")
    # Off by distance: what the nearest trained deployment of its model differs in follows the distance.
    far = row.copy()
    far["off_support"], far["support_distance"] = "distance", 2.5
    far["support_nearest"] = "KV bytes per value 1 (nearest trained: 2)"
    assert _cells(_text(prediction_table(far)))["training data"][0] == (
        f"OFF: distance 2.5: KV bytes per value 1 (nearest trained: 2); correction weight {weight:.2f}; "
        "wider interval")
    # Beyond the workload its model's size was trained at: which range, after "workload".
    far["off_support"] = "model, workload, distance"
    far["support_workload"] = "trained at 4-128 in flight on models of its size"
    assert support_line(far) == (  # the table's cell wraps this line
        "OFF: model, workload (trained at 4-128 in flight on models of its size), distance 2.5: KV bytes per "
        f"value 1 (nearest trained: 2); correction weight {weight:.2f}; wider interval")
    # Also for a hand-made row: off in the model too, memory that does not fit, no analytic column.
    row = predictions.iloc[0].drop([f"analytic_{m}" for m in METRICS]).copy()
    row["off_support"], row["fits"] = "model", False
    cells = _cells(_text(prediction_table(row)))
    assert cells["training data"][0].startswith("OFF: model; correction weight ")
    assert cells["fits in memory"][0] == "NO"
    assert cells["time to first token"][3] == ""


# --- accuracy scores ------------------------------------------------------------------------------

SUMMARY = {"split": "framework", "metrics": {"latency_s": {
    "peak": {"rows": 10, "mape_pct": 66.04, "median_ape_pct": 69.46, "p90_ape_pct": 90.0},
    "achievable": {"rows": 10, "mape_pct": 30.2, "median_ape_pct": 25.1, "p90_ape_pct": 60.0},
    "lightgbm_no_physics": {"rows": 10, "mape_pct": 26.8, "median_ape_pct": 20.2, "p90_ape_pct": 50.0},
    "surrogate": {"rows": 10, "mape_pct": 8.12, "median_ape_pct": 3.49, "p90_ape_pct": 14.7,
                  "p10_p90_coverage_pct": 84.56},
    "by_group": {
        group: {variant: {"rows": rows, "median_ape_pct": ape} for variant, ape in zip(VARIANTS, apes, strict=True)}
        for group, rows, apes in [("vllm", 7, [72.81, 40.0, 30.5, 26.06]), ("sglang", 3, [83.0, 41.0, 37.1, 49.64])]
    }}}}


def test_scores_table_one_row_per_metric_and_predictor() -> None:
    scores = {"split": "random 5-fold", **{m: {v: SUMMARY["metrics"]["latency_s"][v] for v in VARIANTS}
                                           for m in ["latency_s"]}}
    table = scores_table(scores, "held out")
    assert table.title == "held out"
    assert _headers(table) == ["metric", "predictor", "rows", "MAPE %", "median APE %", "p90 APE %",
                               "P10-P90 coverage %"]
    assert table.row_count == 4  # 'split' is not a metric
    lines = [line for line in _text(table).splitlines() if line.startswith("│")]
    assert [c.strip() for c in lines[1].strip("│").split("│")] == [
        "latency_s", "achievable", "10", "30.2", "25.1", "60.0", ""]
    assert [c.strip() for c in lines[2].strip("│").split("│")] == [
        "latency_s", "lightgbm no physics", "10", "26.8", "20.2", "50.0", ""]
    assert [c.strip() for c in lines[3].strip("│").split("│")] == [
        "latency_s", "surrogate", "10", "8.1", "3.5", "14.7", "84.6"]


def test_groups_table_median_ape_per_held_out_group() -> None:
    table = groups_table(SUMMARY)
    assert table.title == "median APE % per held-out framework"
    assert _headers(table) == ["metric", "framework", "rows", "peak", "achievable", "lightgbm no physics",
                               "surrogate"]
    lines = [[c.strip() for c in line.strip("│").split("│")] for line in _text(table).splitlines()
             if line.startswith("│")]
    assert lines == [["latency_s", "vllm", "7", "72.8", "40.0", "30.5", "26.1"],
                     ["latency_s", "sglang", "3", "83.0", "41.0", "37.1", "49.6"]]


# --- JSON -----------------------------------------------------------------------------------------

def test_to_jsonable_gives_plain_types_and_null_for_non_finite() -> None:
    value = {1: np.float64(1.5), "pair": (np.int64(2), float("nan")), "list": [np.float32("inf"), -math.inf],
             "flag": np.bool_(True), "nested": {"n": np.int32(7), "s": "text", "none": None}}
    out = to_jsonable(value)
    assert out == {"1": 1.5, "pair": [2, None], "list": [None, None], "flag": True,
                   "nested": {"n": 7, "s": "text", "none": None}}
    assert type(out["pair"][0]) is int and type(out["flag"]) is bool and type(out["1"]) is float
    assert json.loads(json.dumps(out, allow_nan=False)) == out


def test_print_json_writes_indented_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"x": np.float64(0.5), "y": float("nan")})
    printed = capsys.readouterr().out
    assert json.loads(printed) == {"x": 0.5, "y": None}
    assert printed.startswith("{\n  ")


# --- an optimisation result -----------------------------------------------------------------------

INVENTORY = ["h100-sxm:2"]
WORKLOAD = Workload("meta-llama/Meta-Llama-3-8B", 256, 64)


@pytest.fixture(scope="module")
def result() -> OptimizeResult:
    return optimize(tiny_model(), Inventory.parse(INVENTORY), WORKLOAD)


@pytest.fixture(scope="module")
def pareto_result() -> OptimizeResult:
    return optimize(tiny_model(), Inventory.parse(INVENTORY), WORKLOAD, OptimizeOptions(pareto=True))


def test_result_payload_is_json_ready_and_complete(result: OptimizeResult) -> None:
    request = {"gpus": INVENTORY, "max_itl_s": None}
    payload = result_payload(result, request)
    assert set(payload) == {"request", "objective", "objective_column", "method", "searched", "space_size",
                            "evaluated", "feasible", "seed", "study_name", "best", "top", "why", "recommendation",
                            "notes", "skipped", "pareto", "by_serving", "disaggregated_over_aggregated"}
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload["request"] == request
    assert (payload["objective"], payload["method"], payload["pareto"]) == ("throughput", "exhaustive", None)
    assert payload["feasible"] == len(result.ranked) and payload["evaluated"] == len(result.evaluated)
    best = payload["best"]
    assert payload["top"][0] == best and len(payload["top"]) == min(5, len(result.ranked))
    for column in ["hardware", "framework", "tp", "pp", "dp", "concurrency", "weight_dtype", "kv_dtype"]:
        assert best[column] == result.best[column]
    assert best["throughput_per_device_tok_s"] == pytest.approx(result.best["throughput_per_device_tok_s"])
    assert best["max_model_len"] == 256 + 64
    assert best["launch_command"] == launch_command(result.best)
    assert payload["recommendation"] == recommendation(result.best)
    assert isinstance(payload["skipped"], list) and isinstance(payload["notes"], list)


def test_write_files_top_csv_and_result_json(result: OptimizeResult, tmp_path: Path) -> None:
    payload = result_payload(result, {})
    written = write_files(result, tmp_path / "out", payload)
    assert [p.name for p in written] == ["top.csv", "result.json"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result.json", "top.csv"]
    top = pd.read_csv(tmp_path / "out" / "top.csv")
    assert top.columns.tolist() == [c for c in [*CONFIG_COLUMNS, *RESULT_COLUMNS, "serving"]
                                    if c in result.ranked.columns]
    assert {"hardware", "tp", "throughput_per_device_tok_s", "itl_s_p90", "feasible"} <= set(top.columns)
    assert len(top) == len(result.top)
    assert top["throughput_per_device_tok_s"].tolist() == pytest.approx(
        result.top["throughput_per_device_tok_s"].tolist())
    assert json.loads((tmp_path / "out" / "result.json").read_text()) == payload


def test_write_files_adds_the_pareto_front_only_for_pareto_runs(pareto_result: OptimizeResult,
                                                                 tmp_path: Path) -> None:
    assert pareto_result.front is not None and len(pareto_result.front) > 0
    payload = result_payload(pareto_result, {})
    assert len(payload["pareto"]) == len(pareto_result.front)
    written = write_files(pareto_result, tmp_path, payload)
    assert [p.name for p in written] == ["top.csv", "result.json", "pareto.csv", "pareto.png"]
    front = pd.read_csv(tmp_path / "pareto.csv")
    assert len(front) == len(pareto_result.front)
    assert front.columns.tolist() == pd.read_csv(tmp_path / "top.csv").columns.tolist()
    assert (tmp_path / "pareto.png").read_bytes()[:8] == PNG_MAGIC


def test_top_table_headline_and_why_name_the_winner(result: OptimizeResult) -> None:
    text = _text(top_table(result), width=250)
    assert f"Top 5 of {len(result.ranked):,} feasible by {result.objective.label}" in text
    first = next(line for line in text.splitlines() if line.startswith("│ 1 "))
    assert describe_config(result.best, compact=True) in first
    assert f"{result.best['throughput_per_device_tok_s']:,.0f} [" in first
    assert headline(result) == f"Search: {result.searched}."
    assert why_line(result).startswith(f"Why #1 ({describe_config(result.best, compact=True)}): ")
    assert f"; predicted for {result.best['software_era']}" in why_line(result)


def test_why_line_says_when_the_winner_is_off_the_training_data(result: OptimizeResult) -> None:
    ranked = result.ranked.copy()
    ranked["off_support"] = ranked["off_support"].astype(object)
    ranked.iloc[0, ranked.columns.get_loc("off_support")] = "hardware, software"
    line = why_line(dataclasses.replace(result, ranked=ranked))
    assert line.endswith("; OFF the training data (hardware, software): it leans on physics, "
                         "measure before relying on it")
    ranked["support_nearest"] = "tp 16 (nearest trained: 8)"
    ranked.iloc[0, ranked.columns.get_loc("off_support")] = "model, distance"
    assert why_line(dataclasses.replace(result, ranked=ranked)).endswith(
        "; OFF the training data (model, distance: tp 16 (nearest trained: 8)): it leans on physics, measure "
        "before relying on it")
    ranked["support_workload"] = "trained at 4-128 in flight on models of its size"
    ranked.iloc[0, ranked.columns.get_loc("off_support")] = "workload"
    assert why_line(dataclasses.replace(result, ranked=ranked)).endswith(
        "; OFF the training data (workload (trained at 4-128 in flight on models of its size)): it leans on "
        "physics, measure before relying on it")
    ranked.iloc[0, ranked.columns.get_loc("off_support")] = ""
    assert "OFF" not in why_line(dataclasses.replace(result, ranked=ranked))


def test_why_line_says_when_the_winners_kv_cache_holds_fewer_requests_than_are_in_flight(
        result: OptimizeResult) -> None:
    assert "KV cache holds" not in why_line(result)
    ranked = result.ranked.copy()
    ranked["batching"], ranked["concurrency"], ranked["running_sequences"] = "continuous", 256, 100
    assert ("; its KV cache holds 100 of the 256 requests in flight: the rest wait for a slot, and its P10-P90 is "
            "the wider one such configurations need") in why_line(dataclasses.replace(result, ranked=ranked))


def test_recommendation_names_where_and_the_command() -> None:
    row = pd.Series({"framework": "vllm", "model": "m", "tp": 2, "pp": 1, "dp": 1, "num_devices": 2,
                     "hardware": "h100-sxm", "weight_dtype": "bf16", "kv_dtype": "bf16", "batching": "continuous",
                     "batch_size": 32, "concurrency": 32, "input_len": 1000, "output_len": 24})
    assert recommendation(row) == ("Recommended on 2x h100-sxm: vllm serve m --tensor-parallel-size 2 "
                                   "--pipeline-parallel-size 1 --max-model-len 1024 --max-num-seqs 32")


# --- an evaluation --------------------------------------------------------------------------------

def _evaluation() -> Evaluation:
    """Held-out predictions where only latency was measured (TTFT and ITL are NaN)."""
    measured = np.array([1.0, 2.0, 4.0, 5.0])
    predictions = pd.DataFrame({"fold": [0, 0, 1, 1], "group": ["0", "0", "1", "1"]})
    for metric in METRICS:
        predictions[f"{metric}_measured"] = measured if metric == "latency_s" else np.nan
        for variant, factor in zip(VARIANTS, [0.5, 0.9, 1.5, 1.1], strict=True):
            predictions[f"{metric}_{variant}"] = measured * factor
        predictions[f"{metric}_surrogate_p10"] = measured * 0.9
        predictions[f"{metric}_surrogate_p90"] = measured * 1.2
    return Evaluation(split="random", seed=4, predictions=predictions, summary=summarize(predictions, "random"))


def test_write_evaluation_writes_json_csv_and_a_plot_per_measured_metric(tmp_path: Path) -> None:
    pyplot_before = "matplotlib.pyplot" in sys.modules
    evaluation = _evaluation()
    written = write_evaluation(evaluation, tmp_path / "eval")
    assert [p.name for p in written] == ["evaluation.json", "predictions.csv", "latency_s.png"]
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == sorted(p.name for p in written)
    saved = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert saved["seed"] == 4 and saved["split"] == "random"
    assert list(saved["metrics"]) == ["latency_s"]
    surrogate = saved["metrics"]["latency_s"]["surrogate"]
    assert surrogate["mape_pct"] == pytest.approx(10.0)
    assert surrogate["p10_p90_coverage_pct"] == pytest.approx(100.0)
    assert saved["metrics"]["latency_s"]["peak"]["median_ratio_measured_over_predicted"] == pytest.approx(2.0)
    csv = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(csv) == 4 and set(evaluation.predictions.columns) == set(csv.columns)
    assert (tmp_path / "eval" / "latency_s.png").read_bytes()[:8] == PNG_MAGIC
    # Figures are drawn without pyplot: no global figure registry or backend is touched.
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_before


# --- the dataset ----------------------------------------------------------------------------------

def _canonical(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = empty_frame(CANONICAL_COLUMNS)
    filled = pd.DataFrame(rows).reindex(columns=CANONICAL_COLUMNS)
    return pd.concat([frame, filled.astype(frame.dtypes.to_dict())], ignore_index=True)


SMALL_TABLE = [
    {"source": "llm-inference-bench", "hardware": "h100-sxm", "framework": "vllm", "model": "m/a",
     "batching": "static", "mode": "aggregated", "input_len": 128, "output_len": 128, "batch_size": 8,
     "num_devices": 1, "latency_s": 1.0, "faster_than_physics": False},
    {"source": "llm-inference-bench", "hardware": "mi300x", "framework": "vllm", "model": "m/b",
     "batching": "static", "mode": "aggregated", "input_len": 1024, "output_len": 256, "batch_size": 64,
     "num_devices": 2, "latency_s": 2.0, "faster_than_physics": True},
    {"source": "aiconfigurator", "hardware": "h100-sxm", "framework": "tensorrt-llm", "model": "m/a",
     "batching": "continuous", "mode": "disaggregated", "input_len": 4096, "output_len": 512, "batch_size": 4,
     "concurrency": 32, "num_devices": 8, "ttft_s": 0.1, "itl_s": 0.01, "faster_than_physics": False},
]


def test_summary_dict_counts_and_ranges_by_hand() -> None:
    info = summary_dict(_canonical(SMALL_TABLE))
    assert info["configurations"] == 3
    assert info["by_source"] == {"llm-inference-bench": 2, "aiconfigurator": 1}
    assert info["by_hardware"] == {"h100-sxm": 2, "mi300x": 1}
    assert info["by_framework"] == {"vllm": 2, "tensorrt-llm": 1}
    assert info["by_batching"] == {"static": 2, "continuous": 1}
    assert info["by_mode"] == {"aggregated": 2, "disaggregated": 1}
    assert info["by_metric"] == {m: {"latency_s": 2, "ttft_s": 1, "itl_s": 1}.get(m, 0) for m in METRIC_COLUMNS}
    assert info["faster_than_physics"] == 1
    assert info["ranges_by_source"] == {
        "aiconfigurator": {"input_len": [4096, 4096], "output_len": [512, 512], "batch_size": [4, 4],
                           "concurrency": [32, 32], "num_devices": [8, 8]},
        "llm-inference-bench": {"input_len": [128, 1024], "output_len": [128, 256], "batch_size": [8, 64],
                                "concurrency": [None, None], "num_devices": [1, 2]},
    }
    assert json.loads(json.dumps(info)) == info


def test_summary_tables_render_the_summary() -> None:
    parts = summary_tables(summary_dict(_canonical(SMALL_TABLE)))
    assert parts[0] == "[bold]3 configurations[/bold] (1 faster than physics, kept out of training)"
    tables = [p for p in parts if isinstance(p, Table)]
    assert [t.title for t in tables] == ["by source", "by hardware", "by framework", "by batching", "by mode",
                                         "by metric", "by model", "ranges (min - max)"]
    assert _cells(_text(tables[0])) == {"llm-inference-bench": ["2"], "aiconfigurator": ["1"]}
    assert _cells(_text(tables[-1])) == {"aiconfigurator": ["4096 - 4096", "512 - 512", "4 - 4", "32 - 32", "8 - 8"],
                                         "llm-inference-bench": ["128 - 1024", "128 - 256", "8 - 64", "-", "1 - 2"]}


def test_summary_and_account_of_an_ingested_fixture() -> None:
    ingested = ingest("llm-inference-bench", FIXTURES / "llm_inference_bench")
    info = summary_dict(ingested.table)
    assert info["configurations"] == len(ingested.table) == ingested.account.kept == 18
    assert info["by_source"] == {"llm-inference-bench": 18}
    assert info["faster_than_physics"] == int(ingested.table["faster_than_physics"].sum()) >= 1
    assert sum(info["by_hardware"].values()) == 18
    titles = [t.title for t in account_tables(ingested.account)]
    assert titles[:2] == [f"llm-inference-bench: {FIXTURES / 'llm_inference_bench'}", "merged rows"]
    assert "rejected rows by reason" in titles
    totals = _cells(_text(account_tables(ingested.account)[0]))
    assert list(totals.values()) == [["18", "3", "10", "yes"]]
