"""A trained bundle scored on measured rows as they are: `surrogate evaluate --model-file`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from features.configs import CONFIG_COLUMNS
from surrogate.cli import cli
from surrogate.model import error_summary, load_default, score_bundle, training_rows
from surrogate.model._score import OFF_THE_DATA, ON_THE_DATA

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "csv" / "my_measurements.csv"


def _rows() -> pd.DataFrame:
    frame = pd.DataFrame([
        {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "framework": "vllm", "tp": 1, "pp": 1,
         "dp": 1, "ep": 1, "num_devices": 1, "batching": "continuous", "concurrency": 32, "batch_size": 32,
         "input_len": 1024, "output_len": 256, "ttft_s": 0.085, "itl_s": 0.0121, "latency_s": np.nan,
         "source": "csv", "weight_dtype": "bf16", "kv_dtype": "fp16", "mode": "aggregated"},
        {"hardware": "a100-sxm4-80gb", "model": "meta-llama/Llama-3.1-8B", "framework": "vllm", "tp": 2, "pp": 1,
         "dp": 1, "ep": 1, "num_devices": 2, "batching": "static", "concurrency": np.nan, "batch_size": 8,
         "input_len": 512, "output_len": 512, "ttft_s": np.nan, "itl_s": np.nan, "latency_s": 7.5,
         "source": "csv", "weight_dtype": "bf16", "kv_dtype": "fp16", "mode": "aggregated"},
        {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "framework": "vllm", "tp": 3, "pp": 1,
         "dp": 1, "ep": 1, "num_devices": 3, "batching": "static", "concurrency": np.nan, "batch_size": 8,
         "input_len": 512, "output_len": 512, "ttft_s": np.nan, "itl_s": np.nan, "latency_s": 7.5,
         "source": "csv", "weight_dtype": "bf16", "kv_dtype": "fp16", "mode": "aggregated"},
    ])
    return frame


def test_a_bundle_is_scored_on_rows_as_its_predictions_are() -> None:
    rows = _rows()
    evaluation, errors = score_bundle(load_default(), rows)
    assert errors == {2: "tp 3 does not divide the 32 attention heads"}  # named, not dropped
    predicted = load_default().predict(rows.iloc[[0]][[c for c in rows.columns if c in CONFIG_COLUMNS]])
    itl = evaluation.summary["metrics"]["itl_s"]
    expected = error_summary(np.array([0.0121]), predicted["itl_s"].to_numpy(), predicted["itl_s_p10"].to_numpy(),
                             predicted["itl_s_p90"].to_numpy())
    assert itl["surrogate"] == expected
    assert itl["achievable"]["mape_pct"] == error_summary(np.array([0.0121]),
                                                          predicted["analytic_itl_s"].to_numpy())["mape_pct"]
    assert "lightgbm_no_physics" not in itl  # nothing retrained, so no twin without physics
    assert evaluation.summary["split"] == "bundle" and evaluation.summary["dropped_rows"] == 1


def test_evaluate_model_file_default_scores_an_ingested_table(tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "data"
    assert runner.invoke(cli, ["data", "ingest", "csv", str(FIXTURE), "--into", str(data)]).exit_code == 0
    out = tmp_path / "scored"
    result = runner.invoke(cli, ["evaluate", "--model-file", "default", "--data", str(data), "--json", "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"evaluation.json", "predictions.csv", "ttft_s.png"}
    summary = json.loads(result.stdout)
    rows = training_rows(pd.read_parquet(data / "table.parquet"))
    assert summary["split"] == "bundle"
    assert sum(entry["surrogate"]["rows"] for entry in summary["metrics"].values()) == int(
        rows[["latency_s", "ttft_s", "itl_s"]].notna().sum().sum())


def test_training_flags_with_a_model_file_are_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--model-file", "default", "--split", "hardware"])
    assert result.exit_code == 2
    assert ("--model-file scores a trained bundle as it is; --split choose how models are trained and do not "
            "apply") in " ".join(result.output.split())


def test_the_table_says_what_was_scored_and_a_dataset_of_several_sources_prints(tmp_path: Path) -> None:
    rows = pd.concat([_rows().iloc[[0]], _rows().iloc[[0]].assign(source="lab", itl_s=0.013)], ignore_index=True)
    evaluation, _ = score_bundle(load_default(), rows)
    from rich.console import Console

    from surrogate.report import evaluation_report
    console = Console(width=200, record=True)
    for part in evaluation_report(evaluation.summary):
        console.print(part)
    text = console.export_text()
    assert "accuracy of the trained bundle on these rows, as it is (MAPE / median APE %)" in text
    assert "split bundle: every row predicted by the trained bundle given, without retraining" in text
    assert "per data source" in text  # the table with a column no scored bundle has ('-' there)


def test_rows_are_scored_on_and_off_the_training_data_per_metric() -> None:
    rows = pd.concat([_rows().iloc[[0]], _rows().iloc[[0]].assign(model="google/gemma-4-26B-A4B", itl_s=0.02)],
                     ignore_index=True)
    evaluation, errors = score_bundle(load_default(), rows)
    assert errors == {}
    groups = evaluation.summary["metrics"]["itl_s"]["by_group"]
    assert set(groups) == {ON_THE_DATA, OFF_THE_DATA}  # Llama-3.1-8B on H100 was trained on; Gemma 4 never was
    assert groups[OFF_THE_DATA]["surrogate"]["rows"] == 1
