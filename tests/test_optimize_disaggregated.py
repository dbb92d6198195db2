"""optimize --serving agg|disagg|both: the xPyD search space, its exact optimum, the comparison, the launch sketch."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _tiny_model import tiny_model
from click.testing import CliRunner

from features.errors import InfeasibleError
from surrogate.cli import cli
from surrogate.model import SurrogateModel
from surrogate.optimize import (
    OBJECTIVES,
    Inventory,
    OptimizeOptions,
    SearchSpace,
    Targets,
    Workload,
    enumerate_disaggregated,
    optimize,
    score,
)
from surrogate.optimize._disaggregated_space import MAX_WORKERS_PER_POOL, settle_at_rate
from surrogate.report import launch_command, serving_line

LLAMA_8B = "meta-llama/Meta-Llama-3-8B"
SPACE = SearchSpace(frameworks=("sglang",), precisions=("fp16",), max_sequences=32, serving="both")


@pytest.fixture(scope="module")
def model() -> SurrogateModel:
    return tiny_model()


def test_without_a_load_ratios_in_lowest_terms_fill_the_pool() -> None:
    configs, _ = enumerate_disaggregated(Inventory.parse(["h100-sxm:8"]), Workload(LLAMA_8B, 1024, 128), SPACE)
    units = configs["units"].to_numpy()
    x, y = configs["prefill_workers"] // units, configs["decode_workers"] // units
    assert all(math.gcd(int(a), int(b)) == 1 for a, b in zip(x, y, strict=True))
    unit_devices = x * configs["prefill_tp"] + y * configs["decode_tp"]
    assert (configs["num_devices"] == units * unit_devices).all()
    assert ((configs["num_devices"] <= 8) & (configs["num_devices"] + unit_devices > 8)).all()  # no unit more fits
    # 1P1D of tp1 on 8 devices: four units, 4 prefill + 4 decode workers; the load per decode worker on the grid.
    one_one = configs[(configs["prefill_tp"] == 1) & (configs["decode_tp"] == 1) & (x == 1) & (y == 1)]
    assert set(one_one["prefill_workers"]) == {4} and set(one_one["decode_workers"]) == {4}
    assert sorted(set(one_one["decode_batch_size"])) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    assert (one_one["concurrency"] == 4 * one_one["decode_batch_size"]).all()
    assert set(configs["mode"]) == {"disaggregated"} and set(configs["framework"]) == {"sglang"}


def test_a_fixed_concurrency_is_shared_by_the_decode_workers() -> None:
    configs, _ = enumerate_disaggregated(Inventory.parse(["h100-sxm:8"]), Workload(LLAMA_8B, 1024, 128, concurrency=50),
                                         SPACE)
    assert set(configs["concurrency"]) == {50} and set(configs["units"]) == {1}
    assert (configs["decode_batch_size"] == np.ceil(50 / configs["decode_workers"])).all()
    assert configs["prefill_workers"].max() <= MAX_WORKERS_PER_POOL
    # Every worker count that fits is tried, not only ratios in lowest terms: 2P2D of tp1 is there.
    assert ((configs["prefill_workers"] == 2) & (configs["decode_workers"] == 2) & (configs["prefill_tp"] == 1)
            & (configs["decode_tp"] == 1)).any()


def test_no_engine_that_disaggregates_is_a_clear_error() -> None:
    space = SearchSpace(frameworks=("llama.cpp",), serving="disaggregated")
    with pytest.raises(InfeasibleError, match="llama.cpp does not serve prefill and decode on separate workers"):
        enumerate_disaggregated(Inventory.parse(["h100-sxm:8"]), Workload(LLAMA_8B, 512, 64), space)
    with pytest.raises(InfeasibleError, match="one prefill and one decode worker need 2 devices, 1 available"):
        enumerate_disaggregated(Inventory.parse(["h100-sxm:1"]), Workload(LLAMA_8B, 512, 64), SPACE)


def test_disaggregated_search_is_exact(model: SurrogateModel) -> None:
    inventory, workload = Inventory.parse(["h100-sxm:4"]), Workload(LLAMA_8B, 2048, 128)
    targets = Targets(max_itl_s=0.05)
    space = SearchSpace(frameworks=("sglang", "vllm"), max_sequences=32, serving="disaggregated")
    result = optimize(model, inventory, workload, OptimizeOptions(targets=targets), space)
    configs, _ = enumerate_disaggregated(inventory, workload, space)
    predictions = model.predict(configs.drop(columns=["units"])).drop(columns=["mode"])
    predictions["itl_s_p90"] = predictions["itl_s_p90"].fillna(predictions["itl_s"])  # physics alone: the median
    scored = score(configs, predictions, targets)
    best = scored[scored["feasible"]]["throughput_per_device_tok_s"].max()
    assert result.best["throughput_per_device_tok_s"] == pytest.approx(best)
    assert result.best["serving"] == "disaggregated" and result.best["itl_s"] <= 0.05
    assert "disaggregated: exhaustive over" in result.searched
    assert any("learned no disaggregated correction" in note for note in result.notes)


def test_both_ranks_the_two_modes_together_and_reports_the_ratio(model: SurrogateModel) -> None:
    result = optimize(model, Inventory.parse(["h100-sxm:8"]), Workload(LLAMA_8B, 4096, 256),
                      OptimizeOptions(pareto=True), SPACE)
    agg, disagg = result.by_serving["aggregated"], result.by_serving["disaggregated"]
    column = OBJECTIVES["throughput"].column
    assert result.best[column] == max(agg[column], disagg[column])
    assert result.serving_ratio() == pytest.approx(disagg[column] / agg[column])
    assert set(result.evaluated["serving"]) == {"aggregated", "disaggregated"}
    line = serving_line(result)
    assert line is not None and f"disaggregated / aggregated = {result.serving_ratio():.2f}x" in line
    assert result.front is not None and "serving" in result.front


def test_aggregated_only_is_the_default_and_unchanged(model: SurrogateModel) -> None:
    space = SearchSpace(frameworks=("sglang",), precisions=("fp16",), max_sequences=32)
    result = optimize(model, Inventory.parse(["h100-sxm:8"]), Workload(LLAMA_8B, 4096, 256), space=space)
    assert set(result.evaluated["serving"]) == {"aggregated"} and result.by_serving == {}
    assert serving_line(result) is None and "disaggregated" not in result.searched


def test_settling_under_a_rate_takes_the_lightest_load_that_keeps_up() -> None:
    base = {"hardware": "h100-sxm", "framework": "sglang", "weight_dtype": "bf16", "kv_dtype": "bf16",
            "prefill_workers": 1, "prefill_tp": 1, "decode_tp": 1, "decode_dp": 1, "output_len": 100}
    configs = pd.DataFrame([{**base, "decode_workers": 1, "concurrency": c} for c in (1, 2, 4)]
                           + [{**base, "decode_workers": 2, "concurrency": c} for c in (2, 4)])
    # Requests/s served = output tokens/s / 100: 1P1D serves 1, 3, 5; 1P2D serves 1.5, 2.5.
    predictions = pd.DataFrame({"output_throughput_tok_s": [100.0, 300.0, 500.0, 150.0, 250.0]})
    chosen, predicted = settle_at_rate(configs, predictions, rate=3.0)
    assert chosen["decode_workers"].tolist() == [1, 2] and chosen["concurrency"].tolist() == [2, 4]
    assert predicted["capacity_over_req_s"].tolist() == pytest.approx([0.0, 0.5])  # 1P2D misses 0.5 requests/s
    assert predicted["capacity_req_s"].tolist() == pytest.approx([3.0, 2.5])


def test_launch_sketches_name_each_engines_disaggregation_flags() -> None:
    row = pd.Series({"mode": "disaggregated", "model": LLAMA_8B, "framework": "sglang", "input_len": 1000,
                     "output_len": 24, "weight_dtype": "fp8", "kv_dtype": "fp8", "prefill_workers": 3.0,
                     "prefill_tp": 1.0, "decode_workers": 2.0, "decode_tp": 4.0, "decode_batch_size": 64.0})
    sglang = launch_command(row)
    assert sglang.startswith("sketch")
    assert (f"3x `python -m sglang.launch_server --model-path {LLAMA_8B} --context-length 1024 --quantization fp8 "
            "--kv-cache-dtype fp8_e4m3 --disaggregation-mode prefill --tp 1`") in sglang
    assert "--disaggregation-mode decode --tp 4 --max-running-requests 64" in sglang
    assert "sglang_router.launch_router --pd-disaggregation" in sglang
    vllm = launch_command(row.copy().replace("sglang", "vllm"))
    assert '"kv_connector":"NixlConnector"' in vllm and "--tensor-parallel-size 4 --max-num-seqs 64" in vllm
    trtllm = launch_command(row.copy().replace("sglang", "tensorrt-llm"))
    assert "trtllm-serve disaggregated" in trtllm and "num_instances: 2, tensor_parallel_size: 4" in trtllm


def test_cli_serving_both_prints_the_comparison(tmp_path: object) -> None:
    args = ["optimize", "--model", LLAMA_8B, "--gpus", "h100-sxm:8", "--input-len", "2048", "--output-len", "128",
            "--frameworks", "sglang", "--precisions", "fp16", "--max-sequences", "32", "--serving", "both"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Serving: best aggregated: " in result.output and "disaggregated / aggregated = " in result.output


def test_cli_disaggregated_with_no_engine_for_it_exits_1() -> None:
    args = ["optimize", "--model", LLAMA_8B, "--gpus", "h100-sxm:8", "--input-len", "512", "--output-len", "64",
            "--frameworks", "llama.cpp", "--serving", "disagg"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "llama.cpp does not serve prefill and decode on separate workers" in result.output
    assert "Traceback" not in result.output
