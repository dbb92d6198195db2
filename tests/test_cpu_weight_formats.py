"""A CPU runs llama.cpp's q8_0: int8 weights are offered there without int8 units in the catalog, and the
launch line for a CPU has no GPU offload flag."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from features import catalog
from features.configs import config_warnings, normalize_configs
from surrogate.cli import cli
from surrogate.optimize._space import weight_runs_on
from surrogate.report import launch_command


def test_int8_weights_run_on_a_cpu_but_not_on_an_accelerator_without_int8_units() -> None:
    epyc, sn40l = catalog.get_hardware("epyc-9654"), catalog.get_hardware("sn40l")
    assert weight_runs_on("int8", epyc) and weight_runs_on("int4", epyc)
    assert not weight_runs_on("fp8", epyc)  # no fp8 format in llama.cpp, no fp8 units
    assert not weight_runs_on("int8", sn40l)
    assert weight_runs_on("int8", catalog.get_hardware("h100-sxm"))


def test_optimize_on_a_cpu_with_q8_0_recommends_a_q8_0_gguf_without_gpu_offload() -> None:
    result = CliRunner().invoke(cli, ["optimize", "--model", "meta-llama/Llama-3.1-8B", "--gpus", "epyc-9654:1",
                                       "--precisions", "int8", "--input-len", "512", "--output-len", "128"])
    assert result.exit_code == 0, result.output
    assert "int8/int8kv" in result.output
    assert "llama-server -m <meta-llama/Llama-3.1-8B Q8_0>.gguf -c 640 --parallel 1" in result.output
    assert "-ngl" not in result.output


def test_a_gpu_launch_line_offloads_every_layer() -> None:
    row = pd.Series({"hardware": "rtx-4090", "model": "meta-llama/Llama-3.1-8B", "framework": "llama.cpp",
                     "weight_dtype": "int4", "kv_dtype": "fp16", "tp": 1, "pp": 1, "dp": 1, "ep": 1,
                     "batch_size": 1, "concurrency": 1, "input_len": 512, "output_len": 128})
    assert launch_command(row).startswith("llama-server -m <meta-llama/Llama-3.1-8B Q4_0>.gguf -ngl 99 ")


def test_predicting_int8_weights_on_a_cpu_warns_of_nothing_but_on_an_accelerator_without_int8_units_it_does() -> None:
    rows = normalize_configs(pd.DataFrame([
        {"hardware": hw, "model": "meta-llama/Llama-3.1-8B", "framework": fw, "weight_dtype": "int8",
         "batch_size": 1, "input_len": 256, "output_len": 64} for hw, fw in [("epyc-9654", "llama.cpp"),
                                                                            ("sn40l", "sambaflow")]]))
    warnings = config_warnings(rows).tolist()
    assert warnings[0] == ""
    assert warnings[1].startswith("int8 weights on sn40l: it has no int8 tensor cores, so this is weight-only int8")
