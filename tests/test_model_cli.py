"""train, evaluate and predict through the command line, on a small synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _tiny_model import synthetic_table
from click.testing import CliRunner

from surrogate.cli import cli

ONE = ["--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "h100-sxm", "--tp", "2", "--concurrency", "16",
       "--input-len", "512", "--output-len", "128"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    csv = root / "mine.csv"
    synthetic_table().iloc[::3].to_csv(csv, index=False)
    result = CliRunner().invoke(cli, ["data", "ingest", "csv", str(csv), "--into", str(root / "store")])
    assert result.exit_code == 0, result.output
    return root / "store"


@pytest.fixture(scope="module")
def bundle(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "m.joblib"
    result = CliRunner().invoke(cli, ["train", "--data", str(dataset), "--out", str(out), "--cv-folds", "0",
                                      "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "trained on" in result.output and out.is_file()
    return out


def test_train_json_reports_metadata(dataset: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--data", str(dataset), "--out", str(tmp_path / "m.joblib"),
                                      "--cv-folds", "2", "--json"])
    assert result.exit_code == 0, result.output
    meta = json.loads(result.output)
    assert meta["seed"] == 0 and meta["rows_by_metric"]["itl_s"] > 0
    assert meta["cv_scores"]["split"] == "random 2-fold"
    assert 0 <= meta["cv_scores"]["itl_s"]["surrogate"]["p10_p90_coverage_pct"] <= 100


def test_predict_one_configuration(bundle: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), *ONE])
    assert result.exit_code == 0, result.output
    assert "inter-token latency" in result.output and "P90" in result.output


def test_predict_csv_keeps_input_columns(bundle: Path, tmp_path: Path) -> None:
    configs = synthetic_table().head(5).drop(columns=["latency_s", "ttft_s", "itl_s"])
    configs.to_csv(tmp_path / "in.csv", index=False)
    result = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), "--input", str(tmp_path / "in.csv"),
                                      "--output", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[: len(configs.columns)]) == list(configs.columns)
    assert {"latency_s", "latency_s_p10", "latency_s_p90", "throughput_tok_s"} <= set(out.columns)
    assert len(out) == 5


def test_predict_json_and_errors(bundle: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), *ONE, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)[0]["itl_s_p90"] > 0
    usage = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), "--model", "meta-llama/Meta-Llama-3-8B"])
    assert usage.exit_code == 2 and "missing --hardware, --input-len, --output-len" in usage.output
    bad = tmp_path / "bad.csv"
    bad.write_text("colour,model\nred,x\n")
    wrong = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), "--input", str(bad)])
    assert wrong.exit_code == 2 and "unexpected columns: colour" in wrong.output
    missing = CliRunner().invoke(cli, ["predict", "--model-file", str(tmp_path / "none.joblib"), *ONE])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert "Traceback" not in wrong.output + missing.output + usage.output


def test_evaluate_writes_json_and_plots(dataset: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(dataset), "--split", "hardware",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy, split = hardware" in result.output
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert set(summary["metrics"]["itl_s"]["by_group"]) == {"h100-sxm", "a100-sxm4-80gb", "l40s"}
    assert (tmp_path / "itl_s.png").stat().st_size > 1000


def test_evaluate_batch_split_prints_predictors_side_by_side_and_rule_checks(tmp_path: Path) -> None:
    # One accelerator and model, sequences 1, 16 and 128; vllm's 16s moved to 24, between the thresholds.
    rows = synthetic_table()
    rows = rows[(rows["hardware"] == "h100-sxm") & (rows["model"] == "meta-llama/Meta-Llama-3-8B")].copy()
    middle = (rows["framework"] == "vllm") & (rows["concurrency"] == 16)
    rows.loc[middle, ["batch_size", "concurrency"]] = 24
    rows.to_csv(tmp_path / "mine.csv", index=False)
    ingest = CliRunner().invoke(cli, ["data", "ingest", "csv", str(tmp_path / "mine.csv"), "--into",
                                      str(tmp_path / "store")])
    assert ingest.exit_code == 0, ingest.output
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(tmp_path / "store"), "--split", "batch",
                                      "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # the table may wrap at the pipe width
    assert "held-out accuracy, split = batch" in out and "median APE % per held-out batch" in out
    assert "split batch: train on sequences <= 16, test on sequences >= 32" in out
    assert f"{middle.sum()} rows in neither training nor test" in out
    assert "surrogate <= achievable on every metric:" in out and "coverage within 70-90%:" in out
    summary = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert set(summary["metrics"]["latency_s"]) == {"peak", "achievable", "lightgbm_no_physics", "surrogate",
                                                    "by_group", "by_engine"}
    assert set(summary["metrics"]["latency_s"]["by_group"]) == {"sequences >= 32"}
    assert set(summary["metrics"]["latency_s"]["by_engine"]) == {
        f"{framework}/continuous" for framework in rows["framework"].unique()}
    assert "surrogate per engine and batching mode" in out
    assert summary["dropped_rows"] == middle.sum() > 0
    assert [c["rule"] for c in summary["rule_checks"]] == ["surrogate <= achievable on every metric",
                                                           "coverage within 70-90%"]


def test_evaluate_rejects_an_unknown_split(dataset: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--data", str(dataset), "--split", "week"])
    assert result.exit_code == 2 and "'week' is not one of" in result.output and "input_length" in result.output


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help(command: str) -> None:
    assert CliRunner().invoke(cli, [command, "--help"]).exit_code == 0


def test_predicting_a_deployment_that_does_not_fit_warns_and_says_what_would(bundle: Path) -> None:
    # vLLM held to a tenth of an H100 (8.6 GB) cannot hold Llama-3-8B's 16 GB of weights on one device.
    result = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), *ONE, "--tp", "1",
                                      "--engine-memory-fraction", "0.1"])
    assert result.exit_code == 0, result.output
    assert "inter-token latency" in result.output
    assert "warning: does not fit in memory: needs " in result.output
    assert "GB usable (" in result.output and "; would fit: " in result.output
    fitting = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), *ONE])
    assert "does not fit" not in fitting.output


def test_predicting_more_requests_than_the_kv_cache_holds_warns(bundle: Path) -> None:
    # Llama-3-8B on two H100s holds 1,788 requests of 512 + 128 / 2 tokens at once; 4,096 are asked for.
    result = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), *ONE, "--concurrency", "4096"])
    assert result.exit_code == 0, result.output
    assert "requests running at once" not in result.output  # a prediction table, not an estimate's
    assert ("warning: 1 of 1 predictions ask for more requests in flight than the KV cache holds (1788 of 4096): "
            "the rest wait for a slot") in " ".join(result.output.split())
    held = CliRunner().invoke(cli, ["predict", "--model-file", str(bundle), *ONE])
    assert "KV cache holds" not in held.output
