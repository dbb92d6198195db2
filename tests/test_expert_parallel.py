"""Expert parallelism with attention data parallelism (wide EP): the physics, the search space, the launch flags."""

from __future__ import annotations

import pandas as pd
import pytest

from features import catalog
from features.analytic import estimate
from surrogate.optimize import Inventory, SearchSpace, Workload, enumerate_candidates, enumerate_disaggregated
from surrogate.report import launch_command

DEEPSEEK = "deepseek-ai/DeepSeek-V3"
BASE = {"hardware": "h200-sxm", "model": DEEPSEEK, "framework": "vllm", "weight_dtype": "fp8", "kv_dtype": "fp8",
        "input_len": 1024, "output_len": 128, "batching": "continuous", "concurrency": 8, "pp": 1}


def _weights_gb(**layout: int) -> float:
    return float(estimate(pd.DataFrame([{**BASE, **layout}]))["mem_weights_gb"].iloc[0])


def test_attention_data_parallel_spreads_the_experts_over_every_rank() -> None:
    """DeepSeek-V3 in fp8 (one byte a weight): each rank keeps the dense part (attention, embeddings, shared
    experts) divided by its tp, and 1/(tp x dp) of the routed experts, as aiconfigurator's rows record it
    (moe_tp x moe_ep = tp x attention_dp)."""
    arch = catalog.get_model(DEEPSEEK)
    dense, experts = arch.total_params - arch.expert_params, arch.expert_params
    assert _weights_gb(tp=1, dp=8, ep=8) == pytest.approx((dense + experts / 8) / 1e9, rel=1e-9)
    assert _weights_gb(tp=4, dp=2, ep=8) == pytest.approx((dense / 4 + experts / 8) / 1e9, rel=1e-9)
    assert _weights_gb(tp=4, dp=4, ep=4) == pytest.approx((dense / 4 + experts / 16) / 1e9, rel=1e-9)
    # Replicas without expert parallelism each hold every expert; without replicas nothing changed.
    assert _weights_gb(tp=1, dp=8, ep=1) == pytest.approx((dense + experts) / 1e9, rel=1e-9)
    assert _weights_gb(tp=8, dp=1, ep=8) == pytest.approx((dense / 8 + experts / 8) / 1e9, rel=1e-9)


def test_every_ranks_tokens_meet_in_the_experts() -> None:
    """Sharing experts costs a replica the experts the other ranks' tokens pick: a decode step of 8 ranks with
    one request each streams more expert bytes per device than 1/8 of one rank's, so ITL exceeds that of
    tp 1 with one request alone and an eighth of the experts (what the ranks' own tokens would touch)."""
    shared = estimate(pd.DataFrame([{**BASE, "tp": 1, "dp": 8, "ep": 8, "concurrency": 1}])).iloc[0]
    assert shared["fits"]
    alone = estimate(pd.DataFrame([{**BASE, "tp": 8, "dp": 1, "ep": 8, "concurrency": 1}])).iloc[0]
    assert shared["decode_bytes"] > alone["decode_bytes"] / 8


def test_the_search_offers_wide_ep_for_moe_models_on_engines_that_run_it() -> None:
    space = SearchSpace(precisions=("fp8",), max_sequences=8)
    configs = enumerate_candidates(Inventory.parse(["h200-sxm:12"]), Workload(DEEPSEEK, 1024, 128), space).configs
    wide = configs[configs["ep"] > 1]
    assert not wide.empty and (wide["ep"] == wide["tp"] * wide["dp"]).all() and (wide["dp"] > 1).all()
    assert (256 % wide["ep"] == 0).all()  # DeepSeek-V3's 256 routed experts, whole on each rank
    assert set(wide["framework"]) == {"vllm", "sglang", "tensorrt-llm"}
    assert 6 not in set(wide["ep"]) and 12 not in set(wide["ep"])
    dense = enumerate_candidates(Inventory.parse(["h200-sxm:8"]), Workload("meta-llama/Llama-3.1-70B", 1024, 128),
                                 space).configs
    assert set(dense["ep"]) == {1}


def test_wide_ep_launch_flags() -> None:
    row = pd.Series({**BASE, "tp": 1, "dp": 8, "ep": 8, "num_devices": 8, "batch_size": 64, "concurrency": 64})
    assert "--data-parallel-size 8 --enable-expert-parallel" in launch_command(row)
    sglang = launch_command(row.copy().replace("vllm", "sglang"))
    assert "--tp 8 --dp 8 --enable-dp-attention --ep-size 8" in sglang
    trtllm = launch_command(row.copy().replace("vllm", "tensorrt-llm"))
    assert "--tp_size 8 --ep_size 8" in trtllm and "enable_attention_dp: true" in trtllm
    native = row.copy().replace("vllm", "tensorrt-llm")
    native["kv_dtype"] = "bf16"
    assert "Model Optimizer" not in launch_command(native)  # DeepSeek-V3 ships FP8 weights


def test_disaggregated_decode_workers_may_run_attention_data_parallel() -> None:
    space = SearchSpace(frameworks=("sglang",), precisions=("fp8",), max_sequences=8, serving="disaggregated")
    configs, _ = enumerate_disaggregated(Inventory.parse(["h200-sxm:16"]), Workload(DEEPSEEK, 1024, 128), space)
    wide = configs[configs["decode_dp"] > 1]
    assert not wide.empty and (wide["decode_ep"] == wide["decode_dp"]).all() and (wide["decode_tp"] == 1).all()
    assert (configs["num_devices"] == configs["prefill_workers"] * configs["prefill_tp"]
            + configs["decode_workers"] * configs["decode_tp"] * configs["decode_dp"]).all()
    assert "--enable-dp-attention" in launch_command(wide.iloc[0])


def test_with_a_fixed_concurrency_wide_ep_keeps_each_replicas_share() -> None:
    space = SearchSpace(precisions=("fp8",), frameworks=("sglang",))
    workload = Workload(DEEPSEEK, 1024, 128, concurrency=64)
    configs = enumerate_candidates(Inventory.parse(["h200-sxm:12"]), workload, space).configs
    wide = configs[configs["ep"] > 1]
    assert set(zip(wide["tp"], wide["dp"], strict=True)) >= {(1, 2), (1, 4), (1, 8), (2, 2), (2, 4), (4, 2)}
    assert (256 % wide["ep"] == 0).all() and (wide["ep"] == wide["tp"] * wide["dp"]).all()
    assert (wide["concurrency"] == -(-64 // wide["dp"])).all()  # each replica's share of the 64 requests
