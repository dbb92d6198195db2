"""Roofline step cost against hand arithmetic (datasheets, config.json) and its invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _specs import LLAMA3_8B, arr, specs_for
from hypothesis import given, settings, strategies as st

from features.roofline import (
    Collectives,
    StepCost,
    kv_shards,
    link_bandwidth_gbps,
    numeric_columns,
    step_cost,
    weight_bytes_per_device,
    window_tokens,
)

MIXTRAL = "mistralai/Mixtral-8x7B-v0.1"
# Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 32 heads / 8 KV heads of 128, intermediate 14336,
# vocab 128256, untied. All params: 32 * (41,943,040 attention + 176,160,768 MLP) + 2 * 525,336,576 embeddings.
LLAMA3_8B_PARAMS = 32 * (4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336) + 2 * 128256 * 4096
# Multiplied per token: everything but the input embedding lookup (the LM head is a matmul).
LLAMA3_8B_MATMUL_PARAMS = LLAMA3_8B_PARAMS - 128256 * 4096
LLAMA3_8B_KV_VALUES = 32 * 2 * 8 * 128  # layers * (K, V) * KV heads * head_dim = 65,536
LLAMA3_8B_ATTN_FLOPS_PER_CTX = 32 * 2 * 32 * (128 + 128)  # layers * 2 * heads * (qk + v dims) = 524,288
# Mixtral-8x7B: 32 layers * 8 experts * 3 * 4096 * 14336 routed-expert params; 46,702,526,464 in all.
MIXTRAL_EXPERTS = 32 * 8 * 3 * 4096 * 14336
MIXTRAL_DENSE = 46_702_526_464 - MIXTRAL_EXPERTS
P2P_S = 10e-6  # aiconfigurator systems yaml p2p_latency
NETWORK_S = 25e-6  # NCCL's cost model for a small all-reduce across H100 nodes (NVIDIA/nccl issue 1453)
H100_BW = 3350e9  # H100 SXM HBM3, B/s
H100_BF16 = 989.4e12  # H100 SXM dense bf16 FLOP/s
H100_NVLINK = 450e9  # H100 SXM NVLink 4, B/s per direction
H100_NETWORK = 50e9  # 400 Gb/s InfiniBand NDR per GPU


def cost(specs: pd.DataFrame, tp: float = 1, pp: float = 1, ep: float = 1, decode_seqs: float = 0,
         decode_context: float = 0, prefill_seqs: float = 0, prefill_len: float = 0,
         chunk: float | None = None) -> StepCost:
    chunk_tokens = None if chunk is None else arr(chunk)
    return step_cost(specs, arr(tp), arr(pp), arr(ep), decode_seqs, decode_context, prefill_seqs, prefill_len,
                     chunk_tokens)


def test_llama3_8b_decode_step_on_h100_sxm_by_hand() -> None:
    c = cost(specs_for(), decode_seqs=1, decode_context=1023)
    assert LLAMA3_8B_MATMUL_PARAMS == 7_504_658_432
    # 2 FLOPs per multiplied weight + attention over 1023 earlier tokens and itself
    assert c.flops[0] == pytest.approx(2 * 7_504_658_432 + 524_288 * 1024, rel=1e-12)
    assert c.compute_s[0] == pytest.approx((2 * 7_504_658_432 + 524_288 * 1024) / H100_BF16, rel=1e-12)
    assert c.weight_bytes[0] == pytest.approx(LLAMA3_8B_PARAMS * 2, rel=1e-12)  # bf16
    # read 1023 cached tokens, write 1: 65,536 values * 1024 * 2 bytes (fp16)
    assert c.kv_bytes[0] == pytest.approx(LLAMA3_8B_KV_VALUES * 1024 * 2, rel=1e-12)
    # 8 matmul inputs/outputs of 4096 per layer * 32 layers + 7,504,658,432 / 4096 = 2,880,768 values * 2 bytes
    assert c.activation_bytes[0] == pytest.approx((8 * 4096 * 32 + 7_504_658_432 / 4096) * 2, rel=1e-12)
    assert c.bytes_moved[0] == pytest.approx(16_059_990_016 + 134_217_728 + 5_761_536, rel=1e-12)
    # 16.2 GB at 3350 GB/s = 4.84 ms; compute is 16 us, so the step is bandwidth bound
    assert c.memory_s[0] == pytest.approx(16_199_969_280 / H100_BW, rel=1e-12)
    assert c.comm_bytes[0] == 0 and c.comm_s[0] == 0
    assert c.time_s[0] == pytest.approx(c.memory_s[0], rel=1e-12)


def test_tensor_parallel_pays_two_ring_all_reduces_per_layer() -> None:
    specs = specs_for()
    payload = 1000 * 4096 * 2  # 1000 prefill tokens * hidden 4096 * 2 bytes
    tp2 = cost(specs, tp=2, prefill_seqs=1, prefill_len=1000)
    # ring all-reduce moves 2 * (tp - 1) / tp of the payload; 2 per layer * 32 layers = 64
    assert tp2.comm_bytes[0] == pytest.approx(64 * payload, rel=1e-12)
    assert tp2.comm_s[0] == pytest.approx(64 * (P2P_S + payload / H100_NVLINK), rel=1e-12)
    # 16 ranks leave the 8-GPU NVLink domain: one ring per device's NIC, 8 x 50 GB/s = 400 GB/s (below NVLink),
    # each all-reduce paying the network's latency
    tp16 = cost(specs, tp=16, prefill_seqs=1, prefill_len=1000)
    assert tp16.comm_s[0] == pytest.approx(64 * (NETWORK_S + 2 * 15 / 16 * payload / (8 * H100_NETWORK)),
                                           rel=1e-12)
    assert tp16.flops[0] == pytest.approx(cost(specs, prefill_seqs=1, prefill_len=1000).flops[0] / 16, rel=1e-12)


def test_pipeline_stages_run_one_after_another() -> None:
    specs = specs_for()
    one = cost(specs, pp=1, prefill_seqs=2, prefill_len=500)
    two = cost(specs, pp=2, prefill_seqs=2, prefill_len=500)
    payload = 1000 * 4096 * 2
    # one activation hand-off at the single stage boundary, over NVLink
    assert two.comm_bytes[0] == pytest.approx(payload, rel=1e-12)
    assert two.comm_s[0] == pytest.approx(P2P_S + payload / H100_NVLINK, rel=1e-12)
    # each device does half the work, but for one batch the stages run in sequence: no speed-up
    assert two.flops[0] == pytest.approx(one.flops[0] / 2, rel=1e-12)
    assert two.weight_bytes[0] == pytest.approx(one.weight_bytes[0] / 2, rel=1e-12)
    assert two.compute_s[0] == pytest.approx(one.compute_s[0], rel=1e-12)
    assert two.memory_s[0] == pytest.approx(one.memory_s[0], rel=1e-12)
    # tp 8 * pp 2 spans two nodes: the hand-off goes over the network
    across = cost(specs, tp=8, pp=2, prefill_seqs=2, prefill_len=500)
    allreduce = 64 * (P2P_S + 2 * 7 / 8 * payload / H100_NVLINK)
    assert across.comm_s[0] == pytest.approx(allreduce + NETWORK_S + payload / H100_NETWORK, rel=1e-12)


def test_expert_parallel_dispatch_and_combine_per_moe_layer() -> None:
    c = cost(specs_for(model=MIXTRAL), ep=2, decode_seqs=1)
    # one token * 4096 * 2 bytes, sent to top-2 experts, half of them on the other rank: 8192 bytes;
    # a dispatch and a combine in each of 32 MoE layers
    ep_bytes = 4096 * 2 * 2 * (2 - 1) / 2
    assert c.comm_bytes[0] == pytest.approx(64 * ep_bytes, rel=1e-12)
    assert c.comm_s[0] == pytest.approx(64 * (P2P_S + ep_bytes / H100_NVLINK), rel=1e-12)


def test_experts_inside_the_tensor_parallel_group_need_no_dispatch() -> None:
    specs = specs_for(model=MIXTRAL)
    # tp 4 holds every token on each rank: 4 expert ranks inside it add nothing to the two all-reduces per layer
    assert cost(specs, tp=4, ep=4, decode_seqs=8).comm_s[0] == pytest.approx(
        cost(specs, tp=4, decode_seqs=8).comm_s[0], rel=1e-12)


def test_dispatch_past_the_domain_sends_each_ranks_share_over_its_network_link() -> None:
    specs = specs_for(model=MIXTRAL)
    # attention data parallelism over two 8-GPU nodes: tp 4, experts over 16 ranks. Each rank sends its quarter
    # of the 1,000 tokens to top-2 experts: to the 4 ranks of its node outside its group over NVLink, to the 8 of
    # the other node over its 50 GB/s NIC; a dispatch and a combine per layer on each link.
    c = cost(specs, tp=4, ep=16, prefill_seqs=1, prefill_len=1000)
    routed = 1000 / 4 * 4096 * 2 * 2
    near, far = routed * 4 / 16, routed * 8 / 16
    allreduce = 64 * (P2P_S + 2 * 3 / 4 * 1000 * 4096 * 2 / H100_NVLINK)
    assert c.comm_bytes[0] == pytest.approx(64 * 2 * 3 / 4 * 1000 * 4096 * 2 + 64 * (near + far), rel=1e-12)
    assert c.comm_s[0] == pytest.approx(
        allreduce + 64 * (P2P_S + near / H100_NVLINK) + 64 * (NETWORK_S + far / H100_NETWORK), rel=1e-12)


def test_moe_streams_only_the_experts_its_tokens_touch() -> None:
    specs = specs_for(model=MIXTRAL)
    # one token picks 2 of 8 experts: dense + 1/4 of the experts = 12.88e9 active params * 2 bytes
    one = cost(specs, decode_seqs=1)
    assert one.weight_bytes[0] == pytest.approx(2 * (MIXTRAL_DENSE + MIXTRAL_EXPERTS * 2 / 8), rel=1e-12)
    assert one.weight_bytes[0] == pytest.approx(2 * 12.88e9, rel=1e-3)
    # two tokens touch an expert unless both miss it: 1 - (6/8)^2 = 0.4375
    two = cost(specs, decode_seqs=2)
    assert two.weight_bytes[0] == pytest.approx(2 * (MIXTRAL_DENSE + MIXTRAL_EXPERTS * 0.4375), rel=1e-12)
    # a 4096-token prefill touches every expert
    many = cost(specs, prefill_seqs=1, prefill_len=4096)
    assert many.weight_bytes[0] == pytest.approx(2 * (MIXTRAL_DENSE + MIXTRAL_EXPERTS), rel=1e-12)
    # in one-token chunks each pass touches only its own token's 2 experts again
    chunked = cost(specs, prefill_seqs=1, prefill_len=2, chunk=1)
    assert chunked.weight_bytes[0] == pytest.approx(2 * one.weight_bytes[0], rel=1e-12)


@pytest.mark.parametrize(("chunk", "passes"), [(None, 1), (math.nan, 1), (1000, 1), (999, 2), (256, 4), (1, 1000)])
def test_each_prefill_chunk_streams_the_weights_again(chunk: float | None, passes: int) -> None:
    specs = specs_for()
    c = cost(specs, prefill_seqs=1, prefill_len=1000, chunk=chunk)
    assert c.weight_bytes[0] == pytest.approx(passes * LLAMA3_8B_PARAMS * 2, rel=1e-12)
    # chunking changes traffic, not arithmetic
    assert c.flops[0] == pytest.approx(cost(specs, prefill_seqs=1, prefill_len=1000).flops[0], rel=1e-12)


def test_sliding_window_layers_stop_growing_at_the_window() -> None:
    # gpt-oss-120b: 18 full + 18 sliding (128) layers, each 2 * 8 KV heads * 64 = 1024 values -> 18,432 per kind;
    # attention 2 * 64 heads * (64 + 64) = 16,384 FLOPs per context token per layer -> 294,912 per kind.
    specs = specs_for(model="openai/gpt-oss-120b", weight_dtype="fp4")
    short = cost(specs, decode_seqs=1, decode_context=1000)
    long = cost(specs, decode_seqs=1, decode_context=2000)
    # read 1000 full-layer and 128 windowed tokens, write one token on both kinds; fp16 KV
    assert short.kv_bytes[0] == pytest.approx((18432 * 1000 + 18432 * 128 + 2 * 18432) * 2, rel=1e-12)
    # 1000 more context tokens only cost attention on the 18 full layers
    assert long.flops[0] - short.flops[0] == pytest.approx(294_912 * 1000, rel=1e-9)
    assert long.kv_bytes[0] - short.kv_bytes[0] == pytest.approx(18432 * 1000 * 2, rel=1e-9)


def test_each_sequence_reads_and_writes_its_recurrent_state_every_step() -> None:
    # Qwen3.5-27B: 48 Gated DeltaNet layers keep 153,944,064 bytes of state per sequence (test_memory); 16
    # full-attention layers cache 16 x 2 x 4 x 256 values per token, split over 4 KV heads.
    specs = specs_for(model="Qwen/Qwen3.5-27B", weight_dtype="bf16")
    state, kv_values = 153_944_064, 16 * 2 * 4 * 256
    c = cost(specs, tp=2, decode_seqs=8, decode_context=999)
    cached = 8 * kv_values * 1000 * 2 / 2  # 999 read and 1 written per sequence, fp16, 2 KV-head shards
    assert c.kv_bytes[0] == pytest.approx(cached + 2 * 8 * state / 2, rel=1e-12)
    prefill = cost(specs, prefill_seqs=3, prefill_len=100)
    assert prefill.kv_bytes[0] == pytest.approx(3 * kv_values * (100 + 100) * 2 + 2 * 3 * state, rel=1e-12)


def test_matmul_peak_follows_the_weight_format_attention_stays_fp16() -> None:
    # H100 SXM fp8 1978.9 TFLOPS for matmuls; attention (fp16 activations) at 989.4
    c = cost(specs_for(weight_dtype="fp8"), prefill_seqs=1, prefill_len=2000)
    matmul = 2000 * 2 * 7_504_658_432
    attention = 2000 * 524_288 * (2000 + 1) / 2
    assert c.compute_s[0] == pytest.approx(matmul / 1978.9e12 + attention / 989.4e12, rel=1e-12)
    assert c.weight_bytes[0] == pytest.approx(LLAMA3_8B_PARAMS * 1, rel=1e-12)  # fp8: 1 byte


def test_step_time_is_the_roofline_plus_communication() -> None:
    none = (arr(0, 0),)
    c = StepCost(flops=arr(1, 1), weight_bytes=arr(10, 1), kv_bytes=arr(2, 3), activation_bytes=arr(1, 0),
                 comm_bytes=arr(0, 4), compute_s=arr(2.0, 5.0), memory_s=arr(3.0, 1.0), comm_s=arr(0.5, 0.0),
                 matmul_flops=arr(1, 1), attention_flops=arr(0, 0), matmul_peak_flops=arr(1, 1),
                 attention_peak_flops=arr(1, 1), mem_bw_bps=arr(1, 1), tokens_per_chunk=arr(1, 1), chunks=arr(1, 1),
                 shard_matmul_params=arr(1, 1), layers=arr(1, 1), pp=arr(1, 1),
                 collectives=Collectives(count=none, bytes_each=none, link_bw_bps=none, latency_s=none))
    np.testing.assert_allclose(c.time_s, [3.5, 5.0])
    np.testing.assert_allclose(c.bytes_moved, [13, 4])


@pytest.mark.parametrize(("hardware", "group", "expected_gbps"), [
    ("h100-sxm", 1, 450), ("h100-sxm", 8, 450), ("h100-sxm", 9, 50),  # HGX H100: 8 GPUs on NVLink, then NDR
    ("gb200", 72, 900), ("gb200", 73, 100),                             # GB200 NVL72 rack, then the network
    ("mi300x", 8, 448),                                                 # MI300X xGMI 7 links * 64 GB/s
])
def test_link_bandwidth_inside_and_outside_the_scale_up_domain(hardware: str, group: int, expected_gbps: float) -> None:
    assert link_bandwidth_gbps(specs_for(hardware=hardware), arr(group))[0] == expected_gbps


def test_kv_shards_split_gqa_heads_and_replicate_mla() -> None:
    gqa = {"is_mla": arr(0, 0, 0, 0, 0, 0), "num_kv_heads": arr(8, 8, 8, 8, 8, 1)}
    np.testing.assert_array_equal(kv_shards(gqa, arr(1, 2, 8, 16, 16, 8), arr(1, 1, 1, 1, 2, 1)),
                                  [1, 2, 8, 8, 16, 1])  # MQA (one KV head) never splits
    mla = {"is_mla": arr(1, 1), "num_kv_heads": arr(128, 128)}
    np.testing.assert_array_equal(kv_shards(mla, arr(8, 8), arr(1, 4)), [1, 4])


def test_window_tokens() -> None:
    np.testing.assert_array_equal(window_tokens(arr(0, 100, 128, 1000), arr(128, 128, 128, 128)), [0, 100, 128, 128])
    np.testing.assert_array_equal(window_tokens(arr(5, 5000), arr(0, 0)), [0, 0])  # no windowed layers


def test_weight_shard_splits_dense_by_tp_pp_and_experts_by_max_tp_ep() -> None:
    s = {"total_params": arr(100, 100), "expert_params": arr(80, 80), "weight_bytes_per_value": arr(2, 0.5)}
    # 2 * (20 / 2 + 80 / max(2, 4)) = 60 ; 0.5 * (20 / 8 + 80 / (4 * 2)) = 6.25
    np.testing.assert_allclose(weight_bytes_per_device(s, arr(2, 4), arr(1, 2), arr(4, 1)), [60, 6.25])
    # only half the experts touched: 2 * (10 + 40 / 4) = 40
    np.testing.assert_allclose(weight_bytes_per_device(s, arr(2, 2), arr(1, 1), arr(4, 4), 0.5)[0], 40)


def test_numeric_columns_skips_strings() -> None:
    specs = specs_for()
    s = numeric_columns(specs)
    assert "vendor" not in s and "fw_vendors" not in s
    assert s["mem_bw_gbps"].dtype == np.float64 and s["mem_bw_gbps"][0] == 3350.0
    assert s["num_layers"][0] == 32.0


def test_rows_are_independent() -> None:
    rows = pd.concat([specs_for(), specs_for(model=MIXTRAL, hardware="mi300x")], ignore_index=True)
    together = step_cost(rows, arr(2, 4), arr(1, 2), arr(1, 4), arr(8, 3), arr(300, 50), arr(1, 2), arr(100, 900),
                         arr(64, np.nan))
    for i, args in enumerate([(2, 1, 1, 8, 300, 1, 100, 64), (4, 2, 4, 3, 50, 2, 900, math.nan)]):
        tp, pp, ep, d_seqs, d_ctx, p_seqs, p_len, chunk = args
        alone = cost(rows.iloc[[i]].reset_index(drop=True), tp, pp, ep, d_seqs, d_ctx, p_seqs, p_len, chunk)
        assert together.time_s[i] == pytest.approx(alone.time_s[0], rel=1e-12)
        assert together.comm_bytes[i] == pytest.approx(alone.comm_bytes[0], rel=1e-12)


# --- invariants -----------------------------------------------------------------------------

MODELS = [LLAMA3_8B, MIXTRAL, "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b", "mistralai/Mistral-7B-v0.1",
          "Qwen/Qwen3-30B-A3B"]
HARDWARE = ["a100-sxm4-80gb", "h100-sxm", "mi300x", "gb200"]
_SPECS = {(m, h): specs_for(model=m, hardware=h, weight_dtype="fp16") for m in MODELS for h in HARDWARE}
specs_st = st.sampled_from(sorted(_SPECS)).map(_SPECS.__getitem__)
parallel = st.sampled_from([1, 2, 4, 8, 16])
counts = st.integers(0, 256)
lengths = st.integers(0, 16384)
chunks = st.one_of(st.none(), st.just(math.nan), st.integers(1, 16384).map(float))


@settings(max_examples=50, deadline=None)
@given(specs=specs_st, tp=parallel, pp=st.integers(1, 4), ep=parallel, base=st.tuples(counts, lengths, counts, lengths),
       which=st.integers(0, 3), extra=st.integers(1, 4096), chunk=chunks)
def test_more_tokens_never_cost_less(
    specs: pd.DataFrame, tp: int, pp: int, ep: int, base: tuple[int, int, int, int], which: int, extra: int,
    chunk: float | None,
) -> None:
    grown = list(base)
    grown[which] += extra
    before = cost(specs, tp, pp, ep, *base, chunk=chunk)
    after = cost(specs, tp, pp, ep, *grown, chunk=chunk)
    for field in ("time_s", "flops", "bytes_moved", "comm_s", "compute_s", "memory_s"):
        assert getattr(after, field)[0] >= getattr(before, field)[0] * (1 - 1e-12), field


@settings(max_examples=40, deadline=None)
@given(specs=specs_st, tp=parallel, pp=st.integers(1, 4), d_seqs=counts, d_ctx=lengths, p_seqs=counts, p_len=lengths)
def test_flops_per_device_divide_by_tp_times_pp(
    specs: pd.DataFrame, tp: int, pp: int, d_seqs: int, d_ctx: int, p_seqs: int, p_len: int
) -> None:
    alone = cost(specs, 1, 1, 1, d_seqs, d_ctx, p_seqs, p_len)
    split = cost(specs, tp, pp, 1, d_seqs, d_ctx, p_seqs, p_len)
    assert split.flops[0] * tp * pp == pytest.approx(alone.flops[0], rel=1e-12)
    assert split.compute_s[0] * tp == pytest.approx(alone.compute_s[0], rel=1e-12)
    if tp == 1 and pp == 1:
        assert split.comm_s[0] == 0
