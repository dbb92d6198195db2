"""`surrogate data ingest|summary|fetch` through click's CliRunner: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from surrogate.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
LIB = str(FIXTURES / "llm_inference_bench")


def run(args: list[str], env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(cli, args, env=env)


@pytest.mark.parametrize("command", [["data"], ["data", "ingest"], ["data", "summary"], ["data", "fetch"]])
def test_help(command: list[str]) -> None:
    result = run([*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_ingest_prints_an_account_that_adds_up(tmp_path: Path) -> None:
    result = run(["data", "ingest", "llm-inference-bench", LIB, "--into", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "adds up" in result.output and "yes" in result.output
    assert "Plots/All_results.csv:7: Latency is not a number: 'abc'" in result.output
    assert "Plots/All_results.csv:10: faster than physics" in result.output
    assert (tmp_path / "table.parquet").is_file() and (tmp_path / "measurements.parquet").is_file()


def test_ingest_json_and_reingest(tmp_path: Path) -> None:
    first = run(["data", "ingest", "llm-inference-bench", LIB, "--into", str(tmp_path), "--json"])
    again = run(["data", "ingest", "llm-inference-bench", LIB, "--into", str(tmp_path), "--json"])
    one, two = json.loads(first.stdout), json.loads(again.stdout)
    assert one["adds_up"] and two["adds_up"]
    assert (one["rows_read"], one["kept"], one["merged"], one["rejected"]) == (31, 18, 3, 10)
    assert (two["kept"], two["merged_detail"]["already_in_dataset"]) == (0, 21)


def test_strict_turns_rejections_into_exit_1(tmp_path: Path) -> None:
    result = run(["data", "ingest", "llm-inference-bench", LIB, "--into", str(tmp_path), "--strict"])
    assert result.exit_code == 1
    assert "10 rows rejected (--strict)" in result.output and "Traceback" not in result.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(["data", "ingest", "nope", LIB]).exit_code == 2
    assert run(["data", "ingest", "csv", str(tmp_path / "missing.csv")]).exit_code == 2
    wrong = run(["data", "ingest", "llm-inference-bench", LIB, "--into", str(tmp_path), "--tp", "2"])
    assert wrong.exit_code == 2 and "only applies to vllm-bench" in wrong.output


def test_data_errors_exit_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(["data", "ingest", "llm-inference-bench", str(empty), "--into", str(tmp_path / "d")])
    assert result.exit_code == 1 and "no CSV files" in result.output and "Traceback" not in result.output


def test_vllm_bench_flags(tmp_path: Path) -> None:
    result = run(["data", "ingest", "vllm-bench", str(FIXTURES / "vllm_bench" / "latency_vllm.json"), "--into",
                  str(tmp_path), "--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--input-len", "1024",
                  "--output-len", "128", "--batch-size", "8", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kept"] == 1


def test_summary_after_ingest_and_env_override(tmp_path: Path) -> None:
    env = {"SURROGATE_DATA_DIR": str(tmp_path / "ds")}
    assert run(["data", "ingest", "aiconfigurator", str(FIXTURES / "aiconfigurator")], env=env).exit_code == 0
    assert run(["data", "ingest", "llm-inference-bench", LIB], env=env).exit_code == 0
    text = run(["data", "summary"], env=env)
    assert text.exit_code == 0, text.output
    assert "aiconfigurator" in text.output and "llm-inference-bench" in text.output
    info = json.loads(run(["data", "summary", "--json"], env=env).stdout)
    assert info["configurations"] == 7 + 18
    assert info["by_source"] == {"llm-inference-bench": 18, "aiconfigurator": 7}
    assert info["by_metric"]["power_w"] == 3 and info["faster_than_physics"] == 1
    assert info["ranges_by_source"]["llm-inference-bench"]["input_len"] == [128, 2048]


def test_summary_without_a_dataset_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["data", "summary", "--data", str(tmp_path / "none")])
    assert result.exit_code == 2 and "surrogate data ingest" in result.output
