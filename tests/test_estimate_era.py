"""`surrogate estimate` prices a row that names no engine release in the era the default model predicts it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from features.configs import normalize_configs
from features.efficiency import default_newest_software
from surrogate.cli import cli
from surrogate.model import estimate_valid, in_measured_era, load_default, training_rows
from surrogate.model._software import newest_software_of

ROW = {"hardware": "mi300x", "model": "meta-llama/Llama-3.1-8B", "framework": "vllm", "batching": "static",
       "batch_size": 1, "input_len": 512, "output_len": 128}


def test_the_shipped_era_table_is_the_one_the_default_model_records() -> None:
    # Two artifacts of the same shared rows: efficiency.json (scripts/fit_efficiency.py) and the default bundle.
    assert default_newest_software() == load_default().newest_software_


def test_the_era_table_is_what_the_shared_rows_ran(shared_datasets: Path) -> None:
    from surrogate.ingest import load_shared

    assert newest_software_of(training_rows(load_shared(shared_datasets).table)) == default_newest_software()


def test_an_undated_row_is_estimated_as_predict_prices_it() -> None:
    # MI300X's rows are 2024 vLLM; its newest, AMD's own MLPerf v4.1 run (vLLM 0.4.3), kept 0.3 of the offsets
    # its first release measured. Undated, the estimate took them in full (12.7 ms a decode step).
    cfg = normalize_configs(pd.DataFrame([ROW]))
    dated = in_measured_era(cfg)
    assert dated["framework_version"].iloc[0] == default_newest_software()["mi300x/vllm"]["version"]
    estimate = estimate_valid(cfg).iloc[0]
    predicted = load_default().predict(pd.DataFrame([ROW])).iloc[0]
    # (the bundle keeps the parameters it fitted itself on the same rows: the shipped ones to 1e-8 here)
    assert estimate["achievable_itl_s"] == pytest.approx(predicted["analytic_itl_s"], rel=1e-6)
    assert estimate["software_era"] == predicted["software_era"] == "vllm 0.4.3+rocm614 (2024-08-28)"
    # a release the row names is kept
    asked = estimate_valid(normalize_configs(pd.DataFrame([{**ROW, "framework_version": "0.19.0"}]))).iloc[0]
    assert asked["software_era"] == "vllm 0.19.0 (2026-04-03)"
    assert asked["achievable_itl_s"] < estimate["achievable_itl_s"]  # MI300X's 2024 offsets fade past AMD's era


def test_an_accelerator_no_row_measured_takes_the_engines_newest_release() -> None:
    row = {**ROW, "hardware": "arc-pro-b60"}
    assert in_measured_era(normalize_configs(pd.DataFrame([row])))["framework_version"].iloc[0] == \
        default_newest_software()["vllm"]["version"]


def test_the_cli_says_which_era_its_estimate_reflects(tmp_path: Path) -> None:
    flags = ["--model", ROW["model"], "--hardware", "mi300x", "--batch-size", "1", "--input-len", "512",
             "--output-len", "128"]
    table = CliRunner().invoke(cli, ["estimate", *flags])
    assert table.exit_code == 0, table.output
    assert "software" in table.output and "vllm 0.4.3+rocm614 (2024-08-28)" in table.output
    data = json.loads(CliRunner().invoke(cli, ["estimate", *flags, "--json"]).stdout)
    assert data["config"]["framework_version"] == "0.4.3+rocm614"
    assert data["estimate"]["software_era"] == "vllm 0.4.3+rocm614 (2024-08-28)"
    assert "achievable_itl_s" not in data["estimate"]  # one deployment's JSON keeps the estimate's own names
    csv = tmp_path / "rows.csv"
    pd.DataFrame([ROW, {**ROW, "framework_version": "0.19.0"}]).to_csv(csv, index=False)
    out = tmp_path / "estimates.csv"
    assert CliRunner().invoke(cli, ["estimate", "--input", str(csv), "--output", str(out)]).exit_code == 0
    written = pd.read_csv(out)
    assert written["software_era"].tolist() == ["vllm 0.4.3+rocm614 (2024-08-28)", "vllm 0.19.0 (2026-04-03)"]
    assert written["achievable_itl_s"].iloc[0] == pytest.approx(data["estimate"]["itl_s"])
