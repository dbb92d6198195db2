"""The analytic model against hand arithmetic, and its physical invariants."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings, strategies as st

from features import catalog
from features.analytic import beyond_kv_cache, estimate
from features.configs import gather_specs, normalize_configs
from features.efficiency import default_efficiency
from features.errors import ConfigError
from features.roofline import step_cost


def one(**kwargs: object) -> pd.DataFrame:
    base = {"hardware": "a100-sxm4-40gb", "model": "meta-llama/Llama-2-7b-hf", "framework": "vllm",
            "tp": 1, "weight_dtype": "fp16", "kv_dtype": "fp16", "batching": "static", "batch_size": 1,
            "input_len": 128, "output_len": 128}
    base.update(kwargs)
    return pd.DataFrame([base])


def test_the_peak_bound_counts_compute_and_memory_not_the_collectives() -> None:
    # aiconfigurator measured Kimi-K2.5 (NVFP4) on 16 B200s, 4 attention-DP ranks of tp 4, experts over 16,
    # one client with an 8,192-token prompt: TTFT 0.255 s (silicon_sample.csv). With the catalog's link
    # figures the collectives of that one prompt alone price 2.2 s, which the old bound added.
    row = one(hardware="b200", model="moonshotai/Kimi-K2.5", framework="vllm", tp=4, ep=16, dp=4,
              weight_dtype="fp4", batching="continuous", concurrency=1, input_len=8192, output_len=1024)
    cfg = normalize_configs(row)
    result = estimate(cfg, normalized=True).iloc[0]
    measured_ttft_s = 0.254564
    assert result["peak_ttft_s"] < measured_ttft_s
    # A static batch's bound is its prefill step at the peaks, whatever the links: the larger of the two.
    static = estimate(one(hardware="h100-sxm", model="meta-llama/Llama-3.1-70B", tp=8, batch_size=16,
                          input_len=2048, output_len=2)).iloc[0]
    assert static["prefill_comm_s"] > 0
    assert static["peak_ttft_s"] == max(static["prefill_compute_s"], static["prefill_memory_s"])


def test_llama2_7b_decode_step_on_a100_40gb_is_bandwidth_bound() -> None:
    cfg = normalize_configs(one())
    specs = gather_specs(cfg)
    cost = step_cost(specs, np.array([1.0]), np.array([1.0]), np.array([1.0]), 1.0, 0.0, 0.0, 0.0)
    # 6.74e9 params * 2 bytes = 13.48e9 bytes streamed at 1.555e12 B/s = 8.67 ms
    assert cost.memory_s[0] == pytest.approx(13.48e9 / 1.555e12, rel=0.01)
    # 2 FLOPs per matmul weight: (6.74e9 - 0.131e9 embedding lookup) * 2 / 312e12 = 42 us
    assert cost.compute_s[0] == pytest.approx(2 * 6.607e9 / 312e12, rel=0.01)
    assert cost.memory_s[0] > 100 * cost.compute_s[0]
    result = estimate(cfg, normalized=True).iloc[0]
    assert result["decode_bottleneck"] == "memory"


def test_prefill_flops_are_two_per_weight_per_token_plus_attention() -> None:
    cfg = normalize_configs(one(batch_size=4, input_len=1000))
    arch = catalog.get_model("meta-llama/Llama-2-7b-hf")
    specs = gather_specs(cfg)
    cost = step_cost(specs, np.array([1.0]), np.array([1.0]), np.array([1.0]), 0.0, 0.0, 4.0, 1000.0)
    tokens = 4 * 1000
    # causal attention: token t sees t tokens; 2 * heads * (qk + v) FLOPs per layer per seen token
    attention = tokens * (1000 + 1) / 2 * 32 * 2 * 32 * (128 + 128)
    assert cost.flops[0] == pytest.approx(tokens * 2 * arch.matmul_params_per_token + attention, rel=1e-9)


def test_static_latency_is_prefill_plus_decode_steps() -> None:
    result = estimate(one(batch_size=8, input_len=512, output_len=64)).iloc[0]
    assert result["latency_s"] == pytest.approx(result["ttft_s"] + 63 * result["itl_s"])
    assert result["throughput_tok_s"] == pytest.approx(8 * (512 + 64) / result["latency_s"])
    assert result["output_throughput_tok_s"] == pytest.approx(8 * 64 / result["latency_s"])


def test_memory_parts_add_up_and_70b_does_not_fit_one_a100() -> None:
    result = estimate(one(model="meta-llama/Llama-2-70b-hf")).iloc[0]
    parts = result[["mem_weights_gb", "mem_kv_gb", "mem_state_gb", "mem_activations_gb", "mem_overhead_gb"]].sum()
    assert result["mem_per_device_gb"] == pytest.approx(parts)
    assert result["mem_weights_gb"] == pytest.approx(137.96, rel=0.01)  # 68.98e9 params * 2 bytes
    assert not result["fits"]


def test_a_linear_attention_models_state_is_its_own_memory_part() -> None:
    # Qwen3.5-27B: 153,944,064 bytes of state per sequence (test_catalog), 8 sequences held whole in a static batch.
    result = estimate(one(model="Qwen/Qwen3.5-27B", tp=2, num_devices=2, batch_size=8, input_len=1000,
                          output_len=100)).iloc[0]
    assert result["mem_state_gb"] == pytest.approx(8 * 153_944_064 / 2 / 1e9, rel=1e-12)
    parts = result[["mem_weights_gb", "mem_kv_gb", "mem_state_gb", "mem_activations_gb", "mem_overhead_gb"]].sum()
    assert result["mem_per_device_gb"] == pytest.approx(parts)
    assert estimate(one()).iloc[0]["mem_state_gb"] == 0


def test_llama_cpp_layer_split_uses_pipeline_not_tensor_parallel() -> None:
    cfg = normalize_configs(one(framework="llama.cpp", tp=None, num_devices=4).drop(columns=["tp"]))
    assert (cfg["tp"].iloc[0], cfg["pp"].iloc[0]) == (1, 4)


def test_continuous_batching_ttft_includes_waiting_and_interference() -> None:
    common = {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "batching": "continuous",
              "input_len": 1024, "output_len": 1024, "weight_dtype": "fp8"}
    alone = estimate(one(**common, concurrency=1)).iloc[0]
    busy = estimate(one(**common, concurrency=64)).iloc[0]
    assert busy["itl_s"] > alone["itl_s"]
    assert busy["ttft_s"] > alone["ttft_s"]
    assert busy["output_throughput_tok_s"] > 10 * alone["output_throughput_tok_s"]
    assert busy["latency_s"] == pytest.approx(busy["ttft_s"] + 1023 * busy["itl_s"])


def test_poisson_arrivals_spread_prefill_over_every_step_and_reach_their_token_alone() -> None:
    common = {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "batching": "continuous",
              "input_len": 4096, "output_len": 256, "weight_dtype": "fp8"}
    closed = estimate(one(**common, concurrency=64)).iloc[0]
    poisson = estimate(one(**common, concurrency=64, request_rate_per_s=10.0)).iloc[0]
    # Closed loop: a request's steps carry half the steady-state share of arrivals' prompts.
    assert poisson["itl_s"] > closed["itl_s"]
    # A Poisson arrival waits half a step, then rides the step that prefills its prompt alone; one closed-loop
    # client waits the fitted steps before its first token, then the same prompt.
    shipped = default_efficiency()
    alone = estimate(one(**common, concurrency=1)).iloc[0]
    waits = shipped.first_token_steps * np.exp(shipped.framework_log_wait.get("vllm", 0.0))  # one()'s engine
    prompt_s = alone["ttft_s"] - waits * alone["itl_s"]
    assert poisson["ttft_s"] == pytest.approx(1.5 * poisson["itl_s"] + prompt_s, rel=1e-9)
    # The hard bounds do not depend on how requests arrive.
    for bound in ("peak_ttft_s", "peak_itl_s"):
        assert poisson[bound] == closed[bound]


def test_a_closed_loop_first_token_waits_its_steps_then_its_own_prompt_by_hand() -> None:
    common = {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "batching": "continuous",
              "input_len": 2048, "output_len": 512, "weight_dtype": "fp8", "concurrency": 32}
    efficiency = replace(default_efficiency(), first_token_steps=10.0, framework_log_wait={}, wave_fraction=0.0)
    closed = estimate(one(**common), efficiency=efficiency).iloc[0]
    poisson = estimate(one(**common, request_rate_per_s=5.0), efficiency=efficiency).iloc[0]
    # Both prefill the prompt alone; the Poisson one waits 1.5 of its steps for it (no preemption at 32).
    assert closed["max_batch_size"] > 32
    prompt_s = poisson["ttft_s"] - 1.5 * poisson["itl_s"]
    # The closed loop waits 10 steps, then its prompt's own prefill.
    assert closed["ttft_s"] == pytest.approx(10.0 * closed["itl_s"] + prompt_s, rel=1e-9)
    # Steps, not a wave of prompts: 32 clients wait no more steps than one (their steps are longer).
    alone = estimate(one(**{**common, "concurrency": 1}), efficiency=efficiency).iloc[0]
    assert (closed["ttft_s"] - prompt_s) / closed["itl_s"] == pytest.approx(
        (alone["ttft_s"] - prompt_s) / alone["itl_s"], rel=1e-9)


def test_attention_data_parallelism_waits_its_engines_extra_steps_before_a_first_token_by_hand() -> None:
    # DeepSeek-R1 on 8 B200s as 8 attention-DP ranks (experts over all 8), 16 clients: TensorRT-LLM waits three
    # times its steps, vLLM (no offset) its own.
    common = {"hardware": "b200", "model": "deepseek-ai/DeepSeek-R1", "weight_dtype": "fp8", "kv_dtype": "fp8",
              "batching": "continuous", "concurrency": 16, "input_len": 1024, "output_len": 1024}
    plain = replace(default_efficiency(), first_token_steps=10.0, framework_log_wait={},
                    framework_log_attention_dp_wait={}, wave_fraction=0.0)
    balancing = replace(plain, framework_log_attention_dp_wait={"tensorrt-llm": float(np.log(3.0))})
    adp = one(**common, framework="tensorrt-llm", tp=1, ep=8, dp=8)
    waited, not_waited = (estimate(adp, efficiency=e).iloc[0] for e in (balancing, plain))
    assert waited["itl_s"] == not_waited["itl_s"]
    assert waited["ttft_s"] - not_waited["ttft_s"] == pytest.approx(20.0 * waited["itl_s"], rel=1e-9)
    # Not under attention data parallelism (experts over 8 tensor-parallel ranks), another engine, or arriving
    # one by one (Poisson: half a step's wait): the same TTFT either way.
    for row in (one(**common, framework="tensorrt-llm", tp=8, ep=8, dp=1),
                one(**common, framework="vllm", tp=1, ep=8, dp=8),
                one(**common, framework="tensorrt-llm", tp=1, ep=8, dp=8, request_rate_per_s=2.0)):
        ttfts = [estimate(row, efficiency=e).iloc[0]["ttft_s"] for e in (balancing, plain)]
        assert ttfts[0] == ttfts[1]


def test_a_closed_loop_prompt_waits_its_share_of_the_other_running_prompts_prefill_by_hand() -> None:
    common = {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "input_len": 2048, "weight_dtype": "fp8"}
    served = {**common, "batching": "continuous", "output_len": 512, "concurrency": 32}
    spread = replace(default_efficiency(), wave_fraction=0.0)
    lockstep = replace(default_efficiency(), wave_fraction=0.25)
    # The other 31 running prompts are a static batch's prefill of 31 prompts (same engine, same chunks).
    others = estimate(one(**common, batching="static", batch_size=31, output_len=1), efficiency=lockstep).iloc[0]
    ahead = estimate(one(**served), efficiency=lockstep).iloc[0]
    even = estimate(one(**served), efficiency=spread).iloc[0]
    assert ahead["ttft_s"] - even["ttft_s"] == pytest.approx(0.25 * others["ttft_s"], rel=1e-9)
    assert ahead["itl_s"] == even["itl_s"]
    # One client has nobody ahead, and Poisson arrivals spread over the steps: no wave for either.
    for alone in ({**served, "concurrency": 1}, {**served, "request_rate_per_s": 5.0}):
        assert estimate(one(**alone), efficiency=lockstep).iloc[0]["ttft_s"] == \
            estimate(one(**alone), efficiency=spread).iloc[0]["ttft_s"]


def test_a_request_rate_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="column 'request_rate_per_s' must be a positive number of requests per "
                                          "second \\(empty for a closed loop\\); got -3"):
        normalize_configs(one(batching="continuous", concurrency=8, request_rate_per_s=-3.0))


def test_concurrency_beyond_kv_capacity_is_time_shared() -> None:
    common = {"hardware": "l4", "model": "meta-llama/Llama-3.1-8B", "batching": "continuous",
              "input_len": 4096, "output_len": 1024, "weight_dtype": "fp8"}
    result = estimate(one(**common, concurrency=256)).iloc[0]
    # The engine admits what its KV cache holds and queues the rest: it runs (fits), more slowly.
    assert result["max_batch_size"] < 64 and result["fits"]
    fewer = estimate(one(**common, concurrency=int(result["max_batch_size"]))).iloc[0]
    # Four times the requests the cache holds: each progresses at most a quarter of the time.
    assert result["itl_s"] > 4 * fewer["itl_s"]
    # How many run at once is said (at the mean length, input + output / 2, more than the full-length maximum).
    assert fewer["running_sequences"] == fewer["max_batch_size"]
    assert result["max_batch_size"] <= result["running_sequences"] < 256
    assert result["output_throughput_tok_s"] < 1.5 * fewer["output_throughput_tok_s"]


def test_a_static_batch_runs_whole_and_served_requests_never_run_more_than_are_in_flight() -> None:
    assert estimate(one(batch_size=48)).iloc[0]["running_sequences"] == 48
    served = estimate(pd.concat([one(batching="continuous", concurrency=c) for c in (1, 8, 64)])).reset_index()
    assert served["running_sequences"].tolist() == [1, 8, 64]


def test_only_served_rows_asking_for_more_than_the_cache_holds_are_beyond_it() -> None:
    # static (no concurrency), served within the cache, served beyond it, served with nothing known
    flags = beyond_kv_cache(["static", "continuous", "continuous", "continuous"], [np.nan, 64, 64, None],
                            [32, 64, 40, 8])
    assert flags.tolist() == [False, False, True, False]


def test_impossible_tp_is_refused_with_reason() -> None:
    with pytest.raises(ConfigError, match="tp 3 does not divide the 32 attention heads"):
        estimate(one(tp=3))
    with pytest.raises(ConfigError, match="tensorrt-llm does not run on AMD hardware"):
        estimate(one(hardware="mi300x", framework="tensorrt-llm"))


def test_vectorised_rows_match_single_rows() -> None:
    rows = pd.concat([one(batch_size=b) for b in (1, 16, 64)], ignore_index=True)
    together = estimate(rows)
    for i, b in enumerate((1, 16, 64)):
        alone = estimate(one(batch_size=b)).iloc[0]
        assert together.iloc[i]["latency_s"] == pytest.approx(alone["latency_s"])


models = st.sampled_from(["meta-llama/Llama-2-7b-hf", "meta-llama/Meta-Llama-3-70B", "mistralai/Mixtral-8x7B-v0.1",
                          "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b", "Qwen/Qwen2-7B"])
hardware = st.sampled_from(["a100-sxm4-80gb", "h100-sxm", "mi300x", "b200", "gaudi2", "l40s"])


@settings(max_examples=40, deadline=None)
@given(model=models, hw=hardware, batch=st.integers(1, 256), in_len=st.integers(1, 8192),
       out_len=st.integers(1, 4096), batching=st.sampled_from(["static", "continuous"]))
def test_more_tensor_parallel_devices_never_need_more_memory_per_device(
    model: str, hw: str, batch: int, in_len: int, out_len: int, batching: str
) -> None:
    assume(in_len + out_len <= catalog.get_model(model).max_position_embeddings)  # beyond: refused
    heads = catalog.get_model(model).num_attention_heads
    tps = [t for t in (1, 2, 4, 8) if heads % t == 0]
    rows = pd.concat([one(model=model, hardware=hw, tp=t, batch_size=batch, input_len=in_len, output_len=out_len,
                          batching=batching, weight_dtype="fp16") for t in tps], ignore_index=True)
    est = estimate(rows)
    # A continuous engine spends what it gains on more sequences (mem_kv_gb is what it holds), so compare
    # what is not KV cache and how many sequences fit.
    fixed = (est["mem_per_device_gb"] - est["mem_kv_gb"]).to_numpy()
    assert np.all(np.diff(fixed) <= 1e-9)
    assert np.all(np.diff(est["max_batch_size"].to_numpy()) >= 0)


@settings(max_examples=40, deadline=None)
@given(model=models, hw=hardware, batch=st.integers(1, 64), in_len=st.integers(1, 4096),
       out_len=st.integers(1, 2048), extra=st.integers(1, 2048))
def test_more_tokens_never_fewer_flops_or_less_time(
    model: str, hw: str, batch: int, in_len: int, out_len: int, extra: int
) -> None:
    assume(in_len + out_len + extra <= catalog.get_model(model).max_position_embeddings)  # beyond: refused
    heads = catalog.get_model(model).num_attention_heads
    tp = next(t for t in (4, 2, 1) if heads % t == 0)
    rows = pd.concat([one(model=model, hardware=hw, tp=tp, batch_size=batch,
                          input_len=i, output_len=o, weight_dtype="fp16")
                      for i, o in ((in_len, out_len), (in_len + extra, out_len), (in_len, out_len + extra))],
                     ignore_index=True)
    result = estimate(rows)
    assert result["prefill_flops"].iloc[1] >= result["prefill_flops"].iloc[0]
    assert result["ttft_s"].iloc[1] >= result["ttft_s"].iloc[0]
    assert (result["latency_s"].iloc[1:] >= result["latency_s"].iloc[0] * (1 - 1e-12)).all()


@settings(max_examples=40, deadline=None)
@given(model=models, batch=st.integers(1, 64), in_len=st.integers(1, 4096), ctx=st.integers(0, 8192))
def test_doubling_bandwidth_never_slows_a_memory_bound_phase(model: str, batch: int, in_len: int, ctx: int) -> None:
    cfg = normalize_configs(one(model=model, hardware="h100-sxm", tp=4, batch_size=batch, input_len=in_len))
    specs = gather_specs(cfg)
    faster = specs.copy()
    faster["mem_bw_gbps"] *= 2
    args = (np.array([4.0]), np.array([1.0]), np.array([1.0]), float(batch), float(ctx), 0.0, 0.0)
    slow, fast = step_cost(specs, *args), step_cost(faster, *args)
    assert fast.time_s[0] <= slow.time_s[0]
    if slow.memory_s[0] > slow.compute_s[0]:
        assert fast.memory_s[0] == pytest.approx(slow.memory_s[0] / 2)


def test_deepspeed_autotp_may_split_heads_unevenly() -> None:
    # LLM-Inference-Bench ran Qwen2-7B (28 heads) on 8 Gaudi2 with DeepSpeed; vLLM refuses that split.
    assert estimate(one(model="Qwen/Qwen2-7B", hardware="gaudi2", framework="deepspeed", tp=8))["fits"].iloc[0]
    with pytest.raises(ConfigError, match="tp 8 does not divide the 28 attention heads"):
        estimate(one(model="Qwen/Qwen2-7B", hardware="h100-sxm", framework="vllm", tp=8))


def test_a_static_batch_decode_step_pays_the_engine_s_host_cost_per_sequence_by_hand() -> None:
    none = replace(default_efficiency(), framework_sequence_s={})
    vllm_50us = replace(default_efficiency(), framework_sequence_s={"vllm": 50e-6})
    static = one(batch_size=64, output_len=101)
    base, slower = estimate(static, efficiency=none).iloc[0], estimate(static, efficiency=vllm_50us).iloc[0]
    # 64 sequences x 50 us on each decode step, 100 of them after the first token; the prefill is as it was.
    assert slower["itl_s"] - base["itl_s"] == pytest.approx(64 * 50e-6, rel=1e-9)
    assert slower["ttft_s"] == base["ttft_s"]
    assert slower["latency_s"] - base["latency_s"] == pytest.approx(100 * 64 * 50e-6, rel=1e-9)
    # Another engine, and vLLM serving under continuous batching, pay nothing.
    for other in (one(batch_size=64, framework="tensorrt-llm"), one(batching="continuous", concurrency=64)):
        paid, unpaid = estimate(other, efficiency=vllm_50us).iloc[0], estimate(other, efficiency=none).iloc[0]
        assert paid["itl_s"] == unpaid["itl_s"]
