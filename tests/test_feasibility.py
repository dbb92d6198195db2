"""What would fit and what binds: smallest replicas, fit alternatives, and why a search found nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from features import catalog
from features.analytic import estimate
from features.configs import invalid_reasons, normalize_configs
from surrogate.formatting import describe_config, format_seconds
from surrogate.model import AnalyticPredictor
from surrogate.optimize import (
    Inventory,
    SearchSpace,
    Targets,
    Workload,
    enumerate_candidates,
    explain_infeasible,
    fewest_devices,
    fit_alternatives,
    score,
)

LLAMA2_70B = "meta-llama/Llama-2-70b-hf"  # 68.98e9 parameters: 137.95 GB of fp16 weights
LLAMA3_8B = "meta-llama/Meta-Llama-3-8B"
# 70B at fp16 with one short request needs ~138.6 GB in all (README `surrogate estimate` example):
# 2 x 38.65 GB usable on a100-sxm4-40gb (0.9 x 40 GiB) = 77.3 GB is too little, 4 x 38.65 GB = 154.6 GB holds it;
# 2 x 77.3 GB usable on h100-sxm (0.9 x 80 GiB) = 154.6 GB holds it.
LLAMA2_70B_TOTAL_GB = 138.6


def _config(**overrides: Any) -> dict[str, Any]:
    base = {"hardware": "a100-sxm4-40gb", "model": LLAMA2_70B, "framework": "vllm", "weight_dtype": "fp16",
            "kv_dtype": "fp16", "batching": "continuous", "batch_size": 1, "concurrency": 1, "input_len": 128,
            "output_len": 128}
    return {**base, **overrides}


def _normalized(**overrides: Any) -> pd.DataFrame:
    return normalize_configs(pd.DataFrame([{"tp": 1, **_config(**overrides)}]))


def _usable_gb(hardware: str) -> float:
    return float(estimate(_normalized(hardware=hardware), normalized=True)["mem_usable_gb"].iloc[0])


def test_llama2_70b_needs_four_a100_40gb_at_tp4() -> None:
    usable = _usable_gb("a100-sxm4-40gb")
    assert usable == pytest.approx(0.9 * 40 * 2**30 / 1e9)
    assert 2 * usable < LLAMA2_70B_TOTAL_GB < 4 * usable
    assert fewest_devices(_config()) == (4, 4, 1)


def test_llama2_70b_needs_two_h100() -> None:
    usable = _usable_gb("h100-sxm")
    assert usable < LLAMA2_70B_TOTAL_GB < 2 * usable
    assert fewest_devices(_config(hardware="h100-sxm")) == (2, 2, 1)


def test_layer_split_engines_get_pipeline_stages_only() -> None:
    assert fewest_devices(_config(framework="llama.cpp", batching="static")) == (4, 1, 4)


def test_nothing_fits_even_at_the_most_devices_tried() -> None:
    assert fewest_devices(_config(), max_devices=2) is None  # 2 x 38.65 GB < 138.6 GB
    assert fewest_devices(_config(model="meta-llama/Llama-3.1-405B", hardware="l4"), max_devices=8) is None


def _layouts(hw: catalog.HardwareSpec, layer_split: bool, devices: int, layers: int) -> list[tuple[int, int]]:
    """Every (tp, pp) of powers of two on exactly ``devices`` devices, tp within the NVLink domain."""
    tps = [1] if layer_split else [2**k for k in range(8) if 2**k <= min(devices, hw.scale_up_domain_devices)]
    return [(tp, devices // tp) for tp in tps if devices % tp == 0 and devices // tp <= layers]


def _fitting(config: dict[str, Any], layouts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The valid layouts among ``layouts`` that hold ``config``, by the analytic model."""
    if not layouts:
        return []
    rows = pd.DataFrame([{**config, "tp": tp, "pp": pp, "dp": 1, "num_devices": tp * pp} for tp, pp in layouts])
    configs = normalize_configs(rows)
    valid = invalid_reasons(configs).eq("").to_numpy()
    fits = estimate(configs[valid], normalized=True)["fits"].to_numpy(dtype=bool)
    kept = configs[valid][fits]
    return list(zip(kept["tp"].astype(int), kept["pp"].astype(int), strict=True))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(hardware=st.sampled_from(["l4", "a100-sxm4-40gb", "l40s", "h100-sxm", "mi300x"]),
       model=st.sampled_from([LLAMA2_70B, "Qwen/Qwen2-72B", "Qwen/Qwen2.5-32B"]),
       framework=st.sampled_from(["vllm", "llama.cpp"]), weight_dtype=st.sampled_from(["fp16", "int4"]),
       sequences=st.sampled_from([1, 16, 256]), input_len=st.sampled_from([128, 2048]))
def test_the_smallest_replica_fits_and_half_of_it_does_not(hardware: str, model: str, framework: str,
                                                           weight_dtype: str, sequences: int, input_len: int) -> None:
    config = _config(hardware=hardware, model=model, framework=framework, weight_dtype=weight_dtype,
                     batching=catalog.get_framework(framework).batching, batch_size=sequences,
                     concurrency=sequences, input_len=input_len)
    layout = fewest_devices(config, max_devices=64)
    hw = catalog.get_hardware(hardware)
    layer_split = framework == "llama.cpp"
    layers = catalog.get_model(model).num_layers
    if layout is None:  # then no replica of up to 64 devices holds it
        assert all(_fitting(config, _layouts(hw, layer_split, 2**k, layers)) == [] for k in range(7))
        return
    devices, tp, pp = layout
    assert devices == tp * pp and devices & (devices - 1) == 0
    assert tp <= hw.scale_up_domain_devices and (tp == 1 or not layer_split)
    fitting = _fitting(config, _layouts(hw, layer_split, devices, layers))
    assert (tp, pp) in fitting
    assert tp == max(t for t, _ in fitting)  # the widest tensor parallelism that fits wins
    if devices > 1:
        assert _fitting(config, _layouts(hw, layer_split, devices // 2, layers)) == []


def test_fit_alternatives_on_a100_suggest_devices_and_int4_but_never_fp8() -> None:
    # A100's catalog row has no fp8 peak: fp8 weights would not run natively there.
    assert np.isnan(catalog.hardware_table().loc["a100-sxm4-40gb", "fp8_tflops"])
    options = fit_alternatives(_normalized())
    assert options == ["4x a100-sxm4-40gb (tp=4)", "int4 weights on 1x a100-sxm4-40gb"]
    assert not any("fp8" in option for option in options)


def test_fit_alternatives_on_h100_suggest_fp8() -> None:
    assert fit_alternatives(_normalized(hardware="h100-sxm")) == ["2x h100-sxm (tp=2)", "fp8 weights on 1x h100-sxm"]


def test_fit_alternatives_for_pipeline_engines_name_the_stages() -> None:
    options = fit_alternatives(_normalized(framework="llama.cpp", batching="static"))
    assert options[0] == "4x a100-sxm4-40gb (pp=4)"


def test_fit_alternatives_suggest_the_largest_batch_that_fits() -> None:
    # A static engine must hold its whole batch (a continuous one queues what its KV cache cannot hold);
    # prefill in 2048-token chunks keeps the activation peak the same at every batch size.
    config = _normalized(hardware="gaudi2", framework="deepspeed", batching="static", model=LLAMA3_8B,
                         weight_dtype="bf16", kv_dtype="bf16", batch_size=256, concurrency=256, input_len=2048,
                         output_len=2048, prefill_chunk_tokens=2048)
    options = fit_alternatives(config)
    batch = [o for o in options if o.startswith("batch size")]
    assert len(batch) == 1 and batch[0].endswith(" or less")
    largest = int(batch[0].split()[2])
    for size, fits in [(largest, True), (largest + 1, False)]:
        trial = config.assign(batch_size=size, concurrency=size)
        assert bool(estimate(trial, normalized=True)["fits"].iloc[0]) is fits
    assert options[0] == "2x gaudi2 (tp=2)"


def _scored(pools: list[str], workload: Workload, targets: Targets, max_sequences: int = 4) -> pd.DataFrame:
    configs = enumerate_candidates(Inventory.parse(pools), workload,
                                   SearchSpace(frameworks=("vllm",), max_sequences=max_sequences)).configs
    return score(configs, AnalyticPredictor().predict(configs, normalized=True), targets)


def test_memory_bound_names_devices_needed_per_precision() -> None:
    pools = ["a100-sxm4-40gb:2", "l4:2"]
    workload = Workload(LLAMA2_70B, 128, 128, concurrency=4)
    scored = _scored(pools, workload, Targets())
    assert not scored["fits"].any()
    message = explain_infeasible(scored, Targets(), Inventory.parse(pools), workload, "exhaustive over 9")
    assert message.startswith("nothing fits in memory: the smallest configuration needs ")
    # 4 x 36 GB holds the 70B at fp16 (see above); A100 has no fp8 units, so fp8 is not offered there.
    assert ("needs 4x a100-sxm4-40gb at fp16, or 1x at int4 (not searched: add it to the precisions) "
            "for 4 requests in flight (you have 2)") in message
    assert "; needs 8x l4 at fp16, or 4x at fp8, or 2x at int4" in message
    assert message.endswith("(you have 2) [exhaustive over 9]")
    smallest = scored.loc[scored["memory_over_gb"].idxmin()]
    assert f"({describe_config(smallest, compact=True)})" in message


@pytest.mark.parametrize("risk", ["p50", "p80", "p90"])
def test_latency_bound_names_the_best_value_and_its_configuration(risk: str) -> None:
    workload = Workload(LLAMA3_8B, 512, 128)
    targets = Targets(max_itl_s=1e-3, max_ttft_s=10.0, risk=risk)
    scored = _scored(["h100-sxm:2"], workload, targets)
    assert scored["fits"].any() and not scored["feasible"].any()
    column = "itl_s" if risk == "p50" else f"itl_s_{risk}"
    best = scored.loc[scored.loc[scored["fits"], column].idxmin()]
    message = explain_infeasible(scored, targets, Inventory.parse(["h100-sxm:2"]), workload, "searched")
    median = "" if risk == "p50" else f"; lowest median {format_seconds(scored.loc[scored['fits'], 'itl_s'].min())}"
    assert message == (f"lowest predicted {risk.upper()} ITL is {format_seconds(best[column])} > 1 ms "
                       f"({describe_config(best, compact=True)}{median}) [searched]")
    assert "TTFT" not in message  # 10 s is reachable: only the binding target is named


def test_a_limit_the_median_meets_but_the_p90_does_not_says_that_binding_the_median_would_reach_it() -> None:
    workload = Workload(LLAMA3_8B, 512, 128)
    configs = enumerate_candidates(Inventory.parse(["h100-sxm:1"]), workload,
                                   SearchSpace(frameworks=("vllm",), max_sequences=8)).configs
    predictions = AnalyticPredictor().predict(configs, normalized=True)
    predictions["itl_s_p90"] = predictions["itl_s"] * 1.5  # a band: P90 half again the median
    lowest_median = predictions.loc[predictions["fits"], "itl_s"].min()
    targets = Targets(max_itl_s=lowest_median * 1.2)  # the median meets it, no P90 does
    scored = score(configs, predictions, targets)
    message = explain_infeasible(scored, targets, Inventory.parse(["h100-sxm:1"]), workload, "searched")
    assert message.endswith(f"; lowest median {format_seconds(lowest_median)}, within it: --risk p50 binds the "
                            "median, at more risk of breaking it) [searched]")


def test_conflicting_latency_targets_are_each_reachable_alone() -> None:
    # L40S (fp8 tensor cores) has the lowest TTFT, A100 80GB (2 TB/s) the lowest ITL: asking for
    # (nearly) both minima at once is infeasible although each alone is met.
    pools = ["l40s:1", "a100-sxm4-80gb:1"]
    workload = Workload(LLAMA3_8B, 512, 128)
    fitting = _scored(pools, workload, Targets(), max_sequences=8)
    fitting = fitting[fitting["fits"]]
    fastest_ttft, fastest_itl = fitting["ttft_s_p90"].min(), fitting["itl_s_p90"].min()
    targets = Targets(max_ttft_s=fastest_ttft * 1.01, max_itl_s=fastest_itl * 1.01)
    scored = _scored(pools, workload, targets, max_sequences=8)
    assert not scored["feasible"].any()
    assert (scored["ttft_over_s"] <= 0).any() and (scored["itl_over_s"] <= 0).any()
    message = explain_infeasible(scored, targets, Inventory.parse(pools), workload, "searched")
    assert message.startswith("each latency target is reachable alone but not all at once; closest: ")
    assert "lowest predicted" not in message
    # The closest compromise: smallest worst ratio of predicted value to limit.
    fits = scored[scored["fits"]]
    worst = np.maximum(fits["ttft_s_p90"] / targets.max_ttft_s, fits["itl_s_p90"] / targets.max_itl_s)
    closest = fits.loc[worst.idxmin()]
    assert f"closest: {describe_config(closest, compact=True)} with P90 " in message
    assert message.endswith(" [searched]")


def test_nothing_evaluated_says_so() -> None:
    empty = _scored(["h100-sxm:1"], Workload(LLAMA3_8B, 128, 128), Targets()).iloc[0:0]
    message = explain_infeasible(empty, Targets(), Inventory.parse(["h100-sxm:1"]), Workload(LLAMA3_8B, 128, 128),
                                 "TPE search: 0 trials")
    assert message == "nothing was evaluated (TPE search: 0 trials)"
