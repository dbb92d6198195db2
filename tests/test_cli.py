"""The command line, driven with click's CliRunner: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from surrogate import __version__
from surrogate.cli import cli

ESTIMATE = ["estimate", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "h100-sxm", "--num-devices", "2",
            "--tp", "2", "--batch-size", "16", "--input-len", "1024", "--output-len", "256"]


def run(args: list[str]) -> object:
    return CliRunner().invoke(cli, args)


def test_version() -> None:
    result = run(["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("command", [[], ["estimate"]])
def test_help_on_every_command(command: list[str]) -> None:
    result = run([*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_estimate_prints_a_table() -> None:
    result = run(ESTIMATE)
    assert result.exit_code == 0, result.output
    assert "time to first token" in result.output and "memory per device" in result.output


def test_estimate_json_parses() -> None:
    result = run([*ESTIMATE, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["config"]["tp"] == 2 and payload["config"]["hardware"] == "h100-sxm"
    assert payload["estimate"]["fits"] is True
    assert payload["estimate"]["latency_s"] > payload["estimate"]["ttft_s"] > 0


def test_estimate_shows_a_recurrent_state_only_where_a_model_keeps_one() -> None:
    # Qwen3.5-27B keeps 153,944,064 bytes of Gated DeltaNet state per sequence (test_catalog): 4 sequences, 0.62 GB.
    qwen = run(["estimate", "--model", "Qwen/Qwen3.5-27B", "--hardware", "h100-sxm", "--batch-size", "4",
                "--input-len", "1000", "--output-len", "100"])
    assert qwen.exit_code == 0, qwen.output
    assert "recurrent state" in qwen.output and "0.62 GB" in qwen.output
    assert "recurrent state" not in run(ESTIMATE).output


def test_unknown_gpu_is_a_usage_error_with_suggestions() -> None:
    result = run(["estimate", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "h1000", "--input-len", "8",
                  "--output-len", "8"])
    assert result.exit_code == 2
    assert "unknown GPU 'h1000'; did you mean:" in result.output
    assert "h100-sxm" in result.output
    assert "Traceback" not in result.output


def test_a_cpu_the_catalog_lacks_is_pointed_to_the_probe() -> None:
    result = run(["estimate", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "xeon-8480", "--input-len", "8",
                  "--output-len", "8"])
    assert result.exit_code == 2
    assert ("Error: unknown GPU 'xeon-8480'; for a CPU the catalog lacks, run `surrogate hardware probe` on it, "
            "then name it 'host'") in result.output


def test_an_engine_that_does_not_run_on_the_hardware_names_those_that_do() -> None:
    result = run(["estimate", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "epyc-9654", "--framework",
                  "vllm", "--input-len", "8", "--output-len", "8"])
    assert result.exit_code == 2
    assert "vllm does not run on AMD (CPU) hardware (engines that do: llama.cpp)" in result.output


def test_no_engine_named_on_a_cpu_is_priced_for_one_that_runs_there() -> None:
    result = run(["estimate", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "epyc-9654", "--input-len", "8",
                  "--output-len", "8", "--json"])
    assert result.exit_code == 0, result.output
    assert ("note: no --framework given and vllm does not run on AMD (CPU) hardware: priced for llama.cpp"
            in result.output)
    assert '"framework": "llama.cpp"' in result.output


def test_names_as_a_lab_table_writes_them() -> None:
    result = CliRunner().invoke(cli, ["estimate", "--model", "llama2-70b", "--hardware", "8x NVIDIA H100 80GB HBM3",
                                      "--framework", "vLLM 0.8.5", "--concurrency", "32", "--input-len", "1024",
                                      "--output-len", "256", "--json"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)["config"]  # the name rules' notes go to stderr
    assert (config["hardware"], config["model"], config["framework"], config["framework_version"]) == (
        "h100-sxm", "meta-llama/Llama-2-70b-hf", "vllm", "0.8.5")
    assert (config["num_devices"], config["tp"]) == (8, 8)  # the count in the name, tp following it


def test_unknown_model_and_framework_suggest_names() -> None:
    # (Meta's own 'meta-llama/Llama-2-7b' resolves: its repository name is the catalog's short name llama-2-7b)
    model = run(["estimate", "--model", "meta-llama/Llama-5-7b", "--hardware", "h100-sxm", "--input-len", "8",
                 "--output-len", "8"])
    assert model.exit_code == 2 and "unknown model 'meta-llama/Llama-5-7b'; did you mean:" in model.output
    framework = run([*ESTIMATE, "--framework", "vlm"])
    assert framework.exit_code == 2 and "unknown framework 'vlm'; did you mean: vllm" in framework.output


def test_infeasible_exits_1_with_reason_and_alternatives() -> None:
    result = run(["estimate", "--model", "meta-llama/Llama-2-70b-hf", "--hardware", "a100-sxm4-40gb",
                  "--input-len", "128", "--output-len", "128", "--weight-dtype", "fp16"])
    assert result.exit_code == 1
    assert "does not fit: needs" in result.output and "GB usable on a100-sxm4-40gb" in result.output
    assert "Would fit: 4x a100-sxm4-40gb (tp=4)" in result.output
    assert "Traceback" not in result.output


def test_impossible_parallelism_is_a_usage_error() -> None:
    result = run([*ESTIMATE[:-6], "--tp", "3", "--num-devices", "3", "--input-len", "8", "--output-len", "8"])
    assert result.exit_code == 2 and "does not divide" in result.output


@pytest.mark.parametrize("args", [
    ["train", "--data", "{missing}", "--out", "{tmp}/m.joblib"],
    ["evaluate", "--data", "{missing}"],
    ["train", "--shared", "{missing}", "--out", "{tmp}/m.joblib"],
    ["data", "summary", "--data", "{missing}"],
    ["data", "ingest", "csv", "{missing}/runs.csv"],
    ["predict", "--input", "{missing}/configs.csv"],
    ["predict", "--model-file", "{missing}/m.joblib", "--model", "meta-llama/Llama-3.1-8B", "--hardware", "h100-sxm",
     "--input-len", "8", "--output-len", "8"],
    ["optimize", "--model-file", "{missing}/m.joblib", "--model", "meta-llama/Llama-3.1-8B", "--gpus", "h100-sxm:1",
     "--input-len", "8", "--output-len", "8"],
])
def test_a_missing_path_is_a_usage_error_through_every_command(args: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    result = CliRunner().invoke(cli, [a.format(missing=missing, tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert str(missing) in result.output and "Traceback" not in result.output


def test_estimate_a_csv_writes_every_row_it_can_and_lists_the_others_by_line(tmp_path: Path) -> None:
    import pandas as pd

    csv = tmp_path / "configs.csv"
    csv.write_text("hardware,model,tp,batch_size,input_len,output_len\n"
                   "h100-sxm,meta-llama/Llama-3.1-8B,1,8,512,128\n"
                   "h1000,meta-llama/Llama-3.1-8B,1,8,512,128\n"
                   "h100-sxm,meta-llama/Llama-3.1-8B,3,8,512,128\n"
                   "a100-sxm4-80gb,meta-llama/Llama-3.1-70B,4,1,128,128\n")
    out = tmp_path / "estimates.csv"
    result = run(["estimate", "--input", str(csv), "--output", str(out)])
    assert result.exit_code == 0, result.output  # the rows it could estimate are written; a warning counts the rest
    assert f"{csv}:3: unknown GPU 'h1000'" in result.output
    assert f"{csv}:4: tp 3 does not divide the 32 attention heads" in result.output
    assert "warning: 2 of 4 rows" in result.output and "Traceback" not in result.output
    strict = run(["estimate", "--input", str(csv), "--output", str(tmp_path / "strict.csv"), "--strict"])
    assert strict.exit_code == 1 and "2 of 4 rows" in strict.output and "(--strict)" in strict.output
    assert (tmp_path / "strict.csv").is_file()  # written before the exit
    written = pd.read_csv(out)
    assert list(written["hardware"]) == ["h100-sxm", "a100-sxm4-80gb"]
    assert {"peak_ttft_s", "peak_itl_s", "peak_latency_s", "achievable_ttft_s", "achievable_itl_s",
            "achievable_latency_s", "fits", "mem_per_device_gb"} <= set(written.columns)
    assert (written["achievable_latency_s"] >= written["peak_latency_s"]).all()
