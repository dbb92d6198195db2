"""The achievable model: efficiency curves, the peak bound, and hand-computed steps on one GPU."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from _specs import LLAMA3_8B, arr, specs_for
from hypothesis import given, settings, strategies as st

from features.analytic import estimate
from features.efficiency import (
    Efficiency,
    achievable_step,
    default_efficiency,
    link_efficiency,
    matmul_efficiency,
)
from features.errors import DataError
from features.roofline import P2P_LATENCY_S, step_cost

# A parameter set with round numbers, so the expected times below can be worked out by hand.
ROUND = Efficiency(matmul_fraction=0.8, matmul_half_tokens=100.0, matmul_half_params=1e6, attention_fraction=0.5,
                   memory_fraction=0.8, link_fraction=0.5, link_half_bytes=1e6, layer_overhead_s=10e-6,
                   step_overhead_s=1e-3)
H100_BF16_FLOPS = 989.4e12  # features/data/hardware.csv, dense bf16
H100_BW = 3350e9  # B/s
LLAMA3_8B_MATMUL_PARAMS = 7_504_658_432  # active params without embeddings (features/data/hf_configs)


def _rows(e: Efficiency, n: int = 1, vendor: str = "NVIDIA", framework: str = "vllm") -> object:
    return e.rows([vendor] * n, [framework] * n)


@settings(max_examples=50, deadline=None)
@given(tokens=st.lists(st.floats(1, 1e6), min_size=2, max_size=2), params=st.lists(st.floats(1e3, 1e10),
       min_size=2, max_size=2), message=st.lists(st.floats(1, 1e10), min_size=2, max_size=2))
def test_efficiency_curves_lie_in_0_1_and_never_fall(tokens: list[float], params: list[float],
                                                     message: list[float]) -> None:
    e = _rows(default_efficiency(), 2)
    t, p, m = (np.sort(np.array(v)) for v in (tokens, params, message))
    mm = matmul_efficiency(t, p, e)
    link = link_efficiency(m, e)
    assert ((mm > 0) & (mm <= 1)).all() and ((link > 0) & (link <= 1)).all()
    assert mm[1] >= mm[0] and link[1] >= link[0]


def test_offsets_scale_every_rate_and_never_push_a_fraction_above_one() -> None:
    e = Efficiency(memory_fraction=0.8, vendor_log_speed={"AMD": np.log(0.5), "NVIDIA": 1.0},
                   framework_log_overhead={"sglang": np.log(3.0)})
    rows = e.rows(["AMD", "NVIDIA", "Intel"], ["vllm", "vllm", "sglang"])
    np.testing.assert_allclose(rows.memory_fraction, [0.4, 1.0, 0.8])  # e^1 * 0.8 > 1 is clipped to 1
    np.testing.assert_allclose(rows.step_overhead_s, [e.step_overhead_s, e.step_overhead_s, 3 * e.step_overhead_s])


def test_an_accelerators_offsets_add_to_its_vendors_and_one_without_takes_its_vendors_alone() -> None:
    e = Efficiency(memory_fraction=0.8, matmul_fraction=0.8, vendor_log_speed={"AMD": np.log(0.5)},
                   vendor_log_compute={"AMD": np.log(0.5)}, hardware_log_speed={"mi250": np.log(1.5)},
                   hardware_log_compute={"mi250": np.log(2.0), "mi300x": np.log(0.5)},
                   vendor_software_year={"AMD": 4.5})
    rows = e.rows(["AMD"] * 3, ["vllm"] * 3, [4.0, 4.0, 4.0], ["mi250", "mi300x", "mi325x"])
    np.testing.assert_allclose(rows.memory_fraction, [0.8 * 0.5 * 1.5, 0.4, 0.4])
    np.testing.assert_allclose(rows.matmul_fraction, [0.8 * 0.25 * 1.5 * 2.0, 0.8 * 0.25 * 0.5, 0.8 * 0.25])
    # Without accelerators named, the vendor's alone; past the vendor's newest release both fade alike.
    np.testing.assert_allclose(e.rows(["AMD"], ["vllm"]).matmul_fraction, [0.8 * 0.25])
    np.testing.assert_allclose(e.rows(["AMD"], ["vllm"], [5.5], ["mi300x"]).matmul_fraction, [0.8 * 0.125 ** 0.5])


def test_one_gcd_of_an_mi250_is_priced_with_the_mi250s_offsets() -> None:
    e = Efficiency(memory_fraction=0.8, hardware_log_speed={"mi250": np.log(0.5)})
    row = {"model": "meta-llama/Meta-Llama-3-8B", "framework": "vllm", "tp": 1, "batching": "continuous",
           "batch_size": 1, "concurrency": 1, "input_len": 128, "output_len": 64}
    rows = pd.DataFrame([{**row, "hardware": "mi250-gcd"}, {**row, "hardware": "mi250"}])
    slow, plain = estimate(rows, efficiency=e), estimate(rows, efficiency=replace(e, hardware_log_speed={}))
    # A decode step of one sequence is memory-bound: at half the memory rate it takes about twice as long
    # (the fixed costs carry no offset).
    for at in (0, 1):
        assert 1.6 < slow["itl_s"].iloc[at] / plain["itl_s"].iloc[at] <= 2.0


def test_a_decode_step_on_one_gpu_by_hand() -> None:
    # Llama-3-8B bf16 on one H100 SXM, 8 sequences decoding at context 1000.
    specs = specs_for()
    step = step_cost(specs, arr(1), arr(1), arr(1), 8.0, 1000.0, 0.0, 0.0)
    got = achievable_step(step, _rows(ROUND))
    matmul_rate = H100_BF16_FLOPS * 0.8 * 8 / (8 + 100) * step.shard_matmul_params[0] / (
        step.shard_matmul_params[0] + 1e6)
    attention_rate = H100_BF16_FLOPS * 0.5
    expected_compute = step.matmul_flops[0] / matmul_rate + step.attention_flops[0] / attention_rate
    assert step.matmul_flops[0] == pytest.approx(8 * 2 * LLAMA3_8B_MATMUL_PARAMS)
    assert got.compute_s[0] == pytest.approx(expected_compute, rel=1e-12)
    assert got.memory_s[0] == pytest.approx(step.bytes_moved[0] / (H100_BW * 0.8), rel=1e-12)
    assert got.comm_s[0] == 0.0  # one device: no collectives
    assert got.fixed_s[0] == pytest.approx(32 * 10e-6 + 1e-3)  # 32 layers, one pass, one step
    assert got.time_s[0] == pytest.approx(max(expected_compute, got.memory_s[0]) + 32 * 10e-6 + 1e-3)
    # Decode of 8 sequences streams the 16 GB of weights: memory-bound, as at the peak.
    assert got.memory_s[0] > got.compute_s[0]


def test_a_prefill_step_with_tensor_parallelism_by_hand() -> None:
    # One 2048-token prompt on 2 H100s (tp 2): compute-bound, plus 64 all-reduces over NVLink.
    specs = pd.concat([specs_for()] * 1, ignore_index=True)
    step = step_cost(specs, arr(2), arr(1), arr(1), 0.0, 0.0, 1.0, 2048.0)
    got = achievable_step(step, _rows(ROUND))
    assert step.tokens_per_chunk[0] == 2048
    eff = 0.8 * 2048 / 2148 * step.shard_matmul_params[0] / (step.shard_matmul_params[0] + 1e6)
    assert got.compute_s[0] == pytest.approx(step.matmul_flops[0] / (H100_BF16_FLOPS * eff)
                                             + step.attention_flops[0] / (H100_BF16_FLOPS * 0.5), rel=1e-12)
    # 2 all-reduces per layer of 2048 tokens x 4096 values x 2 bytes, ring over 2 ranks: (2-1)/2 x 2 x payload.
    each = 2.0 * (2 - 1) / 2 * 2048 * 4096 * 2
    link = 450e9 * 0.5 * each / (each + 1e6)
    assert got.comm_s[0] == pytest.approx(64 * (P2P_LATENCY_S + each / link), rel=1e-12)
    assert got.compute_s[0] > got.memory_s[0]


CONFIGS = st.fixed_dictionaries({
    "hardware": st.sampled_from(["h100-sxm", "a100-sxm4-80gb", "mi300x", "l40s", "gaudi2"]),
    "model": st.sampled_from([LLAMA3_8B, "mistralai/Mixtral-8x7B-v0.1", "Qwen/Qwen2.5-14B"]),
    "tp": st.sampled_from([1, 2, 4]),
    "batching": st.sampled_from(["static", "continuous"]),
    "batch_size": st.integers(1, 256),
    "input_len": st.integers(1, 4096),
    "output_len": st.integers(1, 1024),
})


@settings(max_examples=60, deadline=None)
@given(config=CONFIGS)
def test_achievable_time_is_never_below_the_peak_time(config: dict[str, object]) -> None:
    framework = "deepspeed" if config["hardware"] == "gaudi2" else "vllm"
    row = pd.DataFrame([{**config, "framework": framework, "concurrency": config["batch_size"]}])
    result = estimate(row).iloc[0]
    for metric in ("ttft_s", "itl_s", "latency_s"):
        assert result[metric] >= result[f"peak_{metric}"] * (1 - 1e-12), metric


def test_efficiency_round_trips_and_refuses_unknown_names() -> None:
    e = Efficiency(vendor_log_speed={"AMD": -1.0}, source="test")
    assert Efficiency.from_dict(e.to_dict()) == e
    with pytest.raises(DataError, match="unknown names mtmul_fraction"):
        Efficiency.from_dict({"mtmul_fraction": 0.5})


def test_the_shipped_parameters_are_fitted_and_within_their_bounds() -> None:
    from features.efficiency import GLOBAL_PARAMETERS

    e = default_efficiency()
    assert e.source.startswith("fitted on")
    for name, (low, high) in GLOBAL_PARAMETERS.items():
        assert low <= getattr(e, name) <= high, name


def test_a_vendors_offsets_fade_past_the_newest_release_measured_on_it() -> None:
    e = Efficiency(memory_fraction=0.8, matmul_fraction=0.7, vendor_log_speed={"AMD": np.log(0.5)},
                   vendor_log_compute={"AMD": np.log(0.25)}, vendor_software_year={"AMD": 4.5})
    # Unknown date, older, the newest measured, one and three years past it (VENDOR_ERA_HALF_YEARS = 1), and a
    # vendor with no measured date.
    rows = e.rows(["AMD"] * 5 + ["NVIDIA"], ["vllm"] * 6, [np.nan, 4.0, 4.5, 5.5, 7.5, 9.0])
    weights = np.array([1.0, 1.0, 1.0, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(rows.vendor_era_weight, weights)
    amd = np.array([1, 1, 1, 1, 1, 0])
    np.testing.assert_allclose(rows.memory_fraction, 0.8 * 0.5 ** (weights * amd))
    np.testing.assert_allclose(rows.matmul_fraction, 0.7 * (0.5 * 0.25) ** (weights * amd))
    # Without dates, or without any measured, every offset applies in full.
    np.testing.assert_allclose(e.rows(["AMD"], ["vllm"]).memory_fraction, [0.4])
    np.testing.assert_allclose(replace(e, vendor_software_year={}).rows(["AMD"], ["vllm"], [9.0]).memory_fraction,
                               [0.4])


def test_an_accelerators_later_releases_take_its_fitted_share_of_the_offsets() -> None:
    e = Efficiency(memory_fraction=0.8, matmul_fraction=0.7, vendor_log_speed={"AMD": np.log(0.5)},
                   hardware_log_compute={"mi300x": np.log(0.25)}, vendor_software_year={"AMD": 5.5},
                   hardware_first_year={"mi300x": 4.5, "mi250": 4.5}, hardware_era_share={"mi300x": 0.3})
    # MI300X: unknown date, its first release, a day later (the same release), later, and past AMD's newest
    # (faded on by 1 / (1 + 1)); MI250 later (no share of its own: whole).
    hardware = ["mi300x"] * 5 + ["mi250"]
    rows = e.rows(["AMD"] * 6, ["vllm"] * 6, [np.nan, 4.5, 4.5 + 0.5 / 365.25, 5.0, 6.5, 5.0], hardware)
    share = np.array([1.0, 1.0, 1.0, 0.3, 0.3 * 0.5, 1.0])
    np.testing.assert_allclose(rows.memory_fraction, 0.8 * 0.5 ** share)
    np.testing.assert_allclose(rows.matmul_fraction, 0.7 * (0.5 * np.where(np.arange(6) < 5, 0.25, 1.0)) ** share)
    np.testing.assert_allclose(rows.vendor_era_weight, [1, 1, 1, 1, 0.5, 1])  # the fade alone (the band's spread)
    # Without dates, every offset applies in full.
    np.testing.assert_allclose(e.rows(["AMD"], ["vllm"], None, ["mi300x"]).memory_fraction, [0.4])


def test_a_newer_engine_release_than_any_measured_on_the_vendor_takes_its_offsets_faded() -> None:
    from features.versions import software_years

    e = default_efficiency()
    amd_newest = e.vendor_software_year["AMD"]
    row = pd.DataFrame([{"hardware": "mi300x", "model": "meta-llama/Meta-Llama-3-8B", "framework": "vllm", "tp": 1,
                         "batching": "continuous", "batch_size": 16, "concurrency": 16, "input_len": 1024,
                         "output_len": 256}])
    measured, later = row.assign(framework_version="2024-07-01"), row.assign(framework_version="2026-01-01")
    later_years = software_years(later["framework"], later["framework_version"])[0]
    weight = 1.0 / (1.0 + (later_years - amd_newest))
    assert 0.3 < weight < 0.5
    as_measured = estimate(measured, efficiency=e)
    faded = estimate(later, efficiency=e)
    by_hand = estimate(later, efficiency=replace(e, vendor_software_year={}, vendor_log_speed={
        **e.vendor_log_speed, "AMD": weight * e.vendor_log_speed["AMD"]}, vendor_log_compute={
        **e.vendor_log_compute, "AMD": weight * e.vendor_log_compute["AMD"]}, hardware_log_speed={
        **e.hardware_log_speed, "mi300x": weight * e.hardware_log_speed["mi300x"]}, hardware_log_compute={
        **e.hardware_log_compute, "mi300x": weight * e.hardware_log_compute["mi300x"]}))
    for metric in ("ttft_s", "itl_s", "latency_s"):
        assert faded[metric].iloc[0] == pytest.approx(by_hand[metric].iloc[0], rel=1e-12)
        assert faded[metric].iloc[0] < as_measured[metric].iloc[0]  # AMD's 2024 offsets slow every rate
    assert faded["vendor_era_weight"].iloc[0] == pytest.approx(weight)
    assert as_measured["vendor_era_weight"].iloc[0] == 1.0
