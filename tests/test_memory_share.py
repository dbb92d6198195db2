"""surrogate.optimize._memory_share: SGLang's memory share raised only where its default leaves too little."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.analytic import estimate
from features.configs import normalize_configs
from features.errors import ConfigError
from surrogate.formatting import describe_config
from surrogate.optimize import (
    RAISED_MEMORY_SHARES,
    Inventory,
    SearchSpace,
    Workload,
    enumerate_candidates,
    with_raised_memory_shares,
)
from surrogate.report import launch_command

# aiconfigurator's DeepSeek-V3 FP8 on 4 B200 under SGLang, 8192 + 1024 tokens (silicon_sample.csv:302): 169.8 GB
# per device against the 165.8 GB SGLang's default leaves (benchmarks/results/memory_check.txt), so it ran with
# the flag set.
DEEPSEEK_ON_4_B200 = {"hardware": "b200", "model": "deepseek-ai/DeepSeek-V3", "framework": "sglang", "tp": 4, "pp": 1,
                      "dp": 1, "ep": 1, "num_devices": 4, "weight_dtype": "fp8", "kv_dtype": "fp8",
                      "batching": "continuous", "concurrency": 8, "input_len": 8192, "output_len": 1024}


def _raised(rows: list[dict[str, object]]) -> pd.DataFrame:
    return with_raised_memory_shares(normalize_configs(pd.DataFrame(rows)))


def test_a_model_that_does_not_fit_under_sglangs_default_gets_its_documented_share() -> None:
    assert RAISED_MEMORY_SHARES == {"sglang": 0.9}
    default = estimate(pd.DataFrame([DEEPSEEK_ON_4_B200])).iloc[0]
    assert not default["fits"]
    assert default["mem_usable_gb"] < default["mem_per_device_gb"]
    raised = _raised([DEEPSEEK_ON_4_B200])
    assert raised["engine_memory_fraction"].tolist() == [0.9]
    assert bool(estimate(raised, normalized=True)["fits"].iloc[0])


def test_what_fits_by_default_what_fits_at_no_share_and_other_engines_keep_their_default() -> None:
    rows = [{**DEEPSEEK_ON_4_B200, "tp": 8, "num_devices": 8},   # fits as SGLang sizes it
            {**DEEPSEEK_ON_4_B200, "tp": 2, "num_devices": 2},   # 335 GB of weights per device: never
            {**DEEPSEEK_ON_4_B200, "framework": "vllm"},         # vLLM's default 0.9 holds it
            {**DEEPSEEK_ON_4_B200, "engine_memory_fraction": 0.95}]  # the user's own share stays
    raised = _raised(rows)["engine_memory_fraction"].to_numpy()
    assert np.isnan(raised[:3]).all()
    assert raised[3] == 0.95


def test_the_search_offers_the_raised_configuration_and_its_launch_line_sets_the_flag() -> None:
    candidates = enumerate_candidates(Inventory.parse(["b200:4"]), Workload(
        model="deepseek-ai/DeepSeek-V3", input_len=8192, output_len=1024)).configs
    sglang_tp4 = candidates[candidates["framework"].eq("sglang") & candidates["tp"].eq(4)
                            & candidates["weight_dtype"].eq("fp8")]
    assert len(sglang_tp4) > 0
    assert (sglang_tp4["engine_memory_fraction"] == 0.9).all()
    row = sglang_tp4.iloc[0]
    assert launch_command(row).endswith("--mem-fraction-static 0.9")
    assert describe_config(row, compact=True).endswith(" mem0.9")
    assert ", memory share 0.9)" in describe_config(row)


def test_each_engine_launches_with_its_own_flag() -> None:
    base = normalize_configs(pd.DataFrame([{**DEEPSEEK_ON_4_B200, "tp": 8, "num_devices": 8}])).iloc[0]
    assert launch_command(base.copy()).count("fraction") == 0
    for framework, flag in [("vllm", "--gpu-memory-utilization 0.95"), ("sglang", "--mem-fraction-static 0.95"),
                            ("tensorrt-llm", "--kv_cache_free_gpu_memory_fraction 0.95")]:
        row = base.copy()
        row["framework"], row["engine_memory_fraction"] = framework, 0.95
        assert flag in launch_command(row)


def test_a_share_the_user_sets_goes_to_every_engine_that_takes_one_and_nothing_is_raised_over_it() -> None:
    candidates = enumerate_candidates(Inventory.parse(["b200:4"]), Workload(
        model="deepseek-ai/DeepSeek-V3", input_len=8192, output_len=1024),
        SearchSpace(engine_memory_fraction=0.8)).configs
    settable = candidates["framework"].isin(["vllm", "sglang", "tensorrt-llm"])
    assert set(candidates["framework"]) > {"vllm", "sglang", "tensorrt-llm"}
    assert (candidates.loc[settable, "engine_memory_fraction"] == 0.8).all()
    assert candidates.loc[~settable, "engine_memory_fraction"].isna().all()  # llama.cpp, FastGen: no such setting
    with pytest.raises(ConfigError, match="engine_memory_fraction must be above 0 and at most 1, got 1.2"):
        SearchSpace(engine_memory_fraction=1.2)


def test_a_study_stored_before_the_setting_existed_still_matches_a_request_that_leaves_it_unset() -> None:
    from surrogate.optimize import OptimizeOptions
    from surrogate.optimize._search import _request

    inventory, workload = Inventory.parse(["h100-sxm:1"]), Workload(model="meta-llama/Llama-3.1-8B", input_len=128,
                                                                     output_len=32)
    assert "engine_memory_fraction" not in _request(inventory, workload, SearchSpace(), OptimizeOptions())["space"]
    assert _request(inventory, workload, SearchSpace(engine_memory_fraction=0.5), OptimizeOptions())["space"][
        "engine_memory_fraction"] == 0.5


def test_a_disaggregated_deployment_is_raised_as_a_whole_where_a_worker_needs_it() -> None:
    from features.disaggregated import estimate_disaggregated
    from surrogate.optimize import enumerate_disaggregated

    table, _ = enumerate_disaggregated(Inventory.parse(["b200:8"]), Workload(
        model="deepseek-ai/DeepSeek-V3", input_len=8192, output_len=1024), SearchSpace(frameworks=("sglang",)))
    raised = table["engine_memory_fraction"].eq(0.9).to_numpy()
    assert 0 < raised.sum() < len(table)
    # 1 prefill and 1 decode worker of tp 4 with FP8 weights: each needs the raise, and holds with it.
    assert (table.loc[raised, ["prefill_tp", "decode_tp", "weight_dtype"]].drop_duplicates().to_numpy().tolist()
            == [[4, 4, "fp8"]])
    assert estimate_disaggregated(table[raised])["fits"].all()
    assert not estimate_disaggregated(table[raised].assign(engine_memory_fraction=np.nan))["fits"].any()
    row = table[raised].iloc[0]
    assert launch_command(row).count("--mem-fraction-static 0.9 --disaggregation-mode") == 2
    assert describe_config(row, compact=True).endswith(" mem0.9")


def test_what_would_fit_counts_the_devices_the_raised_share_needs() -> None:
    from surrogate.optimize import fewest_devices

    sglang = {k: v for k, v in DEEPSEEK_ON_4_B200.items() if k not in ("tp", "num_devices")}
    assert fewest_devices(sglang) == (4, 4, 1)  # with --mem-fraction-static 0.9, as the search would raise it
    assert fewest_devices({**sglang, "engine_memory_fraction": 0.85}) == (8, 8, 1)  # a user's share is kept
