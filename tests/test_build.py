"""The feature matrix: hand-checked values, fixed categories, and row-wise determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from features import catalog
from features.analytic import estimate
from features.build import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    HARDWARE_ID_FEATURE,
    PHYSICS_FEATURES,
    REFERENCE_FEATURES,
    SOFTWARE_FEATURES,
    SPEC_FEATURES,
    build_features,
)
from features.configs import normalize_configs

LLAMA3_8B = "meta-llama/Meta-Llama-3-8B"
# Meta-Llama-3-8B: 32 * (41,943,040 attention + 176,160,768 MLP) + 2 * 128256 * 4096 embeddings (untied) params
LLAMA3_8B_PARAMS = 32 * (4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336) + 2 * 128256 * 4096
DTYPES = ["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"]


def one(**kwargs: object) -> pd.DataFrame:
    base = {"hardware": "h100-sxm", "model": LLAMA3_8B, "framework": "vllm", "tp": 2, "num_devices": 2,
            "weight_dtype": "bf16", "kv_dtype": "fp16", "batching": "static", "batch_size": 8, "concurrency": 8,
            "input_len": 1000, "output_len": 200}
    base.update(kwargs)
    return pd.DataFrame([base])


def test_columns_and_index() -> None:
    frame = pd.concat([one(), one(batch_size=2)])
    frame.index = ["a", "b"]
    f = build_features(frame)
    assert f.columns.tolist() == FEATURE_COLUMNS
    assert f.index.tolist() == ["a", "b"]
    assert FEATURE_COLUMNS[-len(CATEGORICAL_FEATURES):] == CATEGORICAL_FEATURES
    assert set(PHYSICS_FEATURES) <= set(FEATURE_COLUMNS)
    # datasheet numbers and the SKU id are opt-in (README "Accuracy": they fingerprint the SKU)
    assert not set(SPEC_FEATURES) & set(FEATURE_COLUMNS) and HARDWARE_ID_FEATURE not in FEATURE_COLUMNS
    both = build_features(frame, with_specs=True, with_hardware_id=True)
    assert both.columns.tolist() == SPEC_FEATURES + FEATURE_COLUMNS + [HARDWARE_ID_FEATURE]
    pd.testing.assert_frame_equal(both[FEATURE_COLUMNS], f)


def test_llama3_8b_on_two_h100_by_hand() -> None:
    f = build_features(one(), with_specs=True).iloc[0]
    assert f["log_mem_bw_gbps"] == pytest.approx(math.log(3350))  # H100 SXM HBM3 3350 GB/s
    assert f["log_matmul_peak_tflops"] == pytest.approx(math.log(989.4))  # dense bf16
    assert f["log_attention_peak_tflops"] == pytest.approx(math.log(989.4))  # dense fp16
    assert f["log_memory_gb"] == pytest.approx(math.log(80 * 2**30 / 1e9))  # 80 GiB
    assert f["log_link_bw_gbps"] == pytest.approx(math.log(450))  # tp 2 inside the NVLink domain
    assert f["ridge_flops_per_byte"] == pytest.approx(989.4e12 / 3350e9)  # 295.3 FLOP/byte
    assert f["log_total_params"] == pytest.approx(math.log(LLAMA3_8B_PARAMS))
    assert f["log_active_params"] == pytest.approx(math.log(LLAMA3_8B_PARAMS))  # dense: all active
    assert f["num_layers"] == 32
    assert f["log_hidden_size"] == pytest.approx(math.log(4096))
    # 32 layers * 2 (K, V) * 8 KV heads * 128 head_dim * 2 bytes (fp16) = 131,072 bytes per token
    assert f["log_kv_bytes_per_token"] == pytest.approx(math.log1p(131_072))
    assert (f["num_experts"], f["experts_per_token"], f["is_mla"]) == (0, 0, 0)
    assert f["log_input_len"] == pytest.approx(math.log(1000))
    assert f["log_output_len"] == pytest.approx(math.log(200))
    assert f["log_sequences"] == pytest.approx(math.log(8))  # static: the batch
    assert (f["tp"], f["pp"], f["attention_dp"], f["ep"]) == (2.0, 1.0, 1.0, 1.0)
    assert (f["weight_bytes_per_value"], f["kv_bytes_per_value"]) == (2.0, 2.0)
    assert (f["framework"], f["batching"], f["weight_dtype"], f["kv_dtype"], f["vendor"]) == (
        "vllm", "static", "bf16", "fp16", "NVIDIA")


def test_continuous_rows_count_concurrency_and_wide_tp_uses_the_network() -> None:
    f = build_features(one(batching="continuous", batch_size=1, concurrency=64, tp=16, num_devices=16,
                           kv_dtype="fp8"), with_specs=True).iloc[0]
    assert f["log_sequences"] == pytest.approx(math.log(64))
    # 16 > 8 NVLink GPUs: one ring per 400 Gb/s NDR rail, 8 x 50 GB/s together (below NVLink's 450)
    assert f["log_link_bw_gbps"] == pytest.approx(math.log(400))
    assert f["kv_bytes_per_value"] == 1.0
    assert f["log_kv_bytes_per_token"] == pytest.approx(math.log1p(65_536))


def test_moe_and_mla_architecture_features() -> None:
    # DeepSeek-V3: 256 routed experts, top-8, MLA caching 576 values per layer over 61 layers
    f = build_features(one(hardware="h200", model="deepseek-ai/DeepSeek-V3", tp=8, num_devices=8,
                           weight_dtype="fp8", kv_dtype="fp8")).iloc[0]
    assert (f["num_experts"], f["experts_per_token"], f["is_mla"], f["num_layers"]) == (256, 8, 1, 61)
    assert f["log_kv_bytes_per_token"] == pytest.approx(math.log1p(576 * 61 * 1))
    assert f["log_total_params"] == pytest.approx(math.log(671e9), abs=0.01)  # paper: 671B total
    assert f["log_active_params"] == pytest.approx(math.log(37e9), abs=0.03)  # and 37B activated


def test_plain_replicas_look_like_one_and_attention_dp_ranks_do_not() -> None:
    # Eight replicas of a dense model (sequences per replica) serve each request as one does: same features.
    one_replica = build_features(one(batching="continuous", concurrency=16))
    eight = build_features(one(batching="continuous", concurrency=16, dp=8, num_devices=16))
    pd.testing.assert_frame_equal(one_replica, eight)
    assert eight["attention_dp"].iloc[0] == 1.0
    # Attention-DP (ep > 1 and dp > 1): the four replicas' tokens meet in the experts spread over 8 devices.
    moe = build_features(one(hardware="h200", model="deepseek-ai/DeepSeek-V3", tp=2, dp=4, ep=8, num_devices=8,
                             weight_dtype="fp8", kv_dtype="fp8", batching="continuous", concurrency=16)).iloc[0]
    assert moe["attention_dp"] == 4.0
    # dp without expert parallelism is plain replication, even for a mixture of experts.
    plain = build_features(one(model="mistralai/Mixtral-8x7B-v0.1", tp=2, dp=2, num_devices=4)).iloc[0]
    assert plain["attention_dp"] == 1.0


def test_physics_features_come_from_the_analytic_estimate() -> None:
    frame = pd.concat([one(), one(batching="continuous", concurrency=512, input_len=4000, hardware="l40s",
                                  weight_dtype="fp8")], ignore_index=True)
    f = build_features(frame)
    est = estimate(frame)
    np.testing.assert_allclose(f["log_analytic_ttft_s"], np.log(est["ttft_s"]))
    np.testing.assert_allclose(f["log_analytic_itl_s"], np.log(est["itl_s"]))
    np.testing.assert_allclose(f["log_analytic_latency_s"], np.log(est["latency_s"]))
    prefill = est[["prefill_compute_s", "prefill_memory_s", "prefill_comm_s"]].sum(axis=1)
    np.testing.assert_allclose(f["prefill_compute_share"], est["prefill_compute_s"] / prefill)
    np.testing.assert_allclose(f["log_prefill_intensity"], np.log(est["prefill_flops"] / est["prefill_bytes"]))
    np.testing.assert_allclose(f["log_batch_over_max"],
                               np.log(np.array([8, 512]) / np.maximum(est["max_batch_size"], 1)))
    # 512 requests of 4000 tokens do not fit 2 L40S: the KV cache would hold fewer than asked for
    assert f["log_batch_over_max"].iloc[1] > 0 and f["log_batch_over_max"].iloc[0] < 0


def test_reference_times_are_the_deployment_at_one_small_workload_by_hand() -> None:
    f = build_features(one()).iloc[0]
    # the same deployment (2 H100, Llama 3 8B, vLLM, bf16) serving one 512-token prompt and 64 tokens
    ref = estimate(one(batch_size=1, concurrency=1, input_len=512, output_len=64)).iloc[0]
    for metric in ("ttft_s", "itl_s", "latency_s"):
        assert f[f"log_reference_{metric}"] == pytest.approx(math.log(ref[metric]))
    assert set(REFERENCE_FEATURES) <= set(FEATURE_COLUMNS)


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 256), input_len=st.integers(1, 6000), output_len=st.integers(1, 2000),
       rate=st.one_of(st.none(), st.floats(0.1, 50.0)), continuous=st.booleans())
def test_reference_times_do_not_move_with_the_workload(batch: int, input_len: int, output_len: int,
                                                       rate: float | None, continuous: bool) -> None:
    """Why the trees may use them in any direction: along batch and lengths they are constants."""
    mode = {"batching": "continuous" if continuous else "static", "request_rate_per_s": rate if continuous else None}
    base = build_features(one(**mode))[REFERENCE_FEATURES]
    moved = build_features(one(batch_size=batch, concurrency=batch, input_len=input_len, output_len=output_len,
                               **mode))[REFERENCE_FEATURES]
    pd.testing.assert_frame_equal(moved, base)


def test_reference_prompt_fits_a_short_context_window() -> None:
    from features.build import reference_workload
    from features.configs import gather_specs

    cfg = normalize_configs(one())
    specs = gather_specs(cfg).assign(max_position_embeddings=[300])
    ref = reference_workload(cfg, specs).iloc[0]
    assert (ref["input_len"], ref["output_len"], ref["batch_size"], ref["concurrency"]) == (236, 64, 1, 1)
    assert np.isnan(ref["request_rate_per_s"])


def test_precomputed_estimate_is_used_as_given() -> None:
    frame = one()
    est = estimate(frame)
    slower = est.copy()
    slower["latency_s"] *= 2.0
    base = build_features(frame, est)
    shifted = build_features(frame, slower)
    assert shifted["log_analytic_latency_s"].iloc[0] == pytest.approx(base["log_analytic_latency_s"].iloc[0]
                                                                     + math.log(2.0))
    pd.testing.assert_frame_equal(base, build_features(frame))


def test_normalized_input_gives_the_same_features() -> None:
    frame = one(hardware="NVIDIA H100 80GB HBM3", weight_dtype="bfloat16", framework="vLLM")
    pd.testing.assert_frame_equal(build_features(normalize_configs(frame), normalized=True), build_features(frame))


def test_categories_are_fixed_lists_whatever_the_rows_hold() -> None:
    train = build_features(one(), with_hardware_id=True)
    unseen = build_features(one(hardware="mi300x", framework="llama.cpp", tp=1, num_devices=1,
                                weight_dtype="int4", kv_dtype="int8", batching="continuous"), with_hardware_id=True)
    expected = {
        "framework": catalog.framework_ids(),
        "batching": ["static", "continuous"],
        "weight_dtype": DTYPES,
        "kv_dtype": DTYPES,
        "vendor": ["AMD", "Intel", "Intel (Habana)", "NVIDIA", "SambaNova", "AMD (CPU)"],  # CPUs after GPUs
        HARDWARE_ID_FEATURE: catalog.hardware_ids(),
    }
    for name, categories in expected.items():
        assert train[name].dtype == "category", name
        assert train[name].cat.categories.tolist() == categories, name
        assert unseen[name].cat.categories.tolist() == categories, name
    row = unseen.iloc[0]
    codes = {name: unseen[name].cat.codes.iloc[0] for name in expected}
    assert codes["framework"] == catalog.framework_ids().index("llama.cpp")
    assert codes["batching"] == 1 and codes["weight_dtype"] == 6 and codes["vendor"] == 0
    assert codes["kv_dtype"] == DTYPES.index("int8")  # llama.cpp's q8_0 cache (it runs no fp8 KV cache)
    assert codes[HARDWARE_ID_FEATURE] == catalog.hardware_ids().index("mi300x")
    assert row["framework"] == "llama.cpp"


# --- invariants -----------------------------------------------------------------------------

MODELS = [LLAMA3_8B, "mistralai/Mixtral-8x7B-v0.1", "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b",
          "meta-llama/Llama-2-70b-hf"]  # 32, 32, 128, 64, 64 heads: tp 1-8 divides all
row_st = st.fixed_dictionaries({
    "hardware": st.sampled_from(["a100-sxm4-80gb", "h100-sxm", "h200", "b200", "mi300x", "l4"]),
    "model": st.sampled_from(MODELS),
    "framework": st.sampled_from(["vllm", "sglang"]),
    "tp": st.sampled_from([1, 2, 4, 8]),
    "weight_dtype": st.sampled_from(["fp16", "bf16", "fp8"]),
    "kv_dtype": st.sampled_from(["fp16", "fp8"]),
    "batching": st.sampled_from(["static", "continuous"]),
    "batch_size": st.integers(1, 128),
    "concurrency": st.integers(1, 512),
    "input_len": st.integers(1, 2048),  # with the output, within Llama-2's 4096-token context window
    "output_len": st.integers(1, 2048),
})
labels = st.lists(st.one_of(st.integers(-1000, 1000), st.text(min_size=1, max_size=4)), min_size=1, max_size=4,
                  unique=True)


@settings(max_examples=15, deadline=None)
@given(rows=st.lists(row_st, min_size=4, max_size=4), index=labels)
def test_features_are_row_wise_deterministic_and_finite(rows: list[dict[str, object]], index: list[object]) -> None:
    frame = pd.DataFrame(rows[:len(index)], index=pd.Index(index, dtype=object))
    f = build_features(frame)
    assert f.columns.tolist() == FEATURE_COLUMNS
    assert f.index.equals(frame.index)
    # each row's features depend on that row alone: reversing the table reverses the features
    pd.testing.assert_frame_equal(build_features(frame.iloc[::-1]), f.iloc[::-1])
    numeric = f.drop(columns=CATEGORICAL_FEATURES + SOFTWARE_FEATURES).to_numpy(dtype=float)
    assert np.isfinite(numeric).all()
    assert f["software_year"].isna().all()  # no version given, no source era: unknown, left to the trees
    assert ((f["prefill_compute_share"] >= 0) & (f["prefill_compute_share"] <= 1)).all()
    for name in CATEGORICAL_FEATURES:
        assert (f[name].cat.codes >= 0).all(), name
