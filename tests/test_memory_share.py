"""surrogate.optimize._memory_share: SGLang's memory share raised only where its default leaves too little."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.analytic import estimate
from features.configs import normalize_configs
from surrogate.formatting import describe_config
from surrogate.optimize import (
    RAISED_MEMORY_SHARES,
    Inventory,
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
