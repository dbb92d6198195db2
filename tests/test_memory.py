"""Memory per device against hand arithmetic from datasheets and config.json, and its invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _specs import LLAMA3_8B, arr, specs_for
from hypothesis import example, given, settings, strategies as st

from features import catalog
from features.memory import RUNTIME_BYTES, MemoryBreakdown, memory_per_device, nccl_bytes, sglang_reserved_bytes

# Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads (head_dim 128), intermediate 14336,
# vocab 128256, untied LM head. Parameters:
#   32 * (4096 * (4096 + 2 * 1024 + 4096) attention + 3 * 4096 * 14336 MLP) + 2 * 128256 * 4096 = 8,029,995,008
LLAMA3_8B_PARAMS = 32 * (4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336) + 2 * 128256 * 4096
# K and V, 8 KV heads of 128 values, 32 layers: 65,536 values per token.
LLAMA3_8B_KV_VALUES = 32 * 2 * 8 * 128
# aiconfigurator systems yaml `nccl_mem`: 342 MiB at tp 2, 392 MiB at tp >= 4.
NCCL_TP2_BYTES = 342 * 2**20
NCCL_TP4_BYTES = 392 * 2**20


def memory(specs: pd.DataFrame, tp: float = 1, pp: float = 1, ep: float = 1, sequences: float = 1,
           seq_len: float = 1, prefill_tokens: float = 1) -> MemoryBreakdown:
    return memory_per_device(specs, arr(tp), arr(pp), arr(ep), arr(sequences), arr(seq_len), arr(prefill_tokens))


def test_llama3_8b_on_one_h100_sxm_by_hand() -> None:
    mem = memory(specs_for(), sequences=4, seq_len=1000, prefill_tokens=2048)
    # bf16 weights: 8,029,995,008 params * 2 bytes
    assert LLAMA3_8B_PARAMS == 8_029_995_008
    assert mem.weight_bytes[0] == pytest.approx(LLAMA3_8B_PARAMS * 2, rel=1e-12)
    # fp16 KV: 65,536 values/token * 2 bytes * 1000 tokens = 131,072,000 bytes per sequence, 4 sequences
    assert mem.kv_bytes_per_sequence[0] == pytest.approx(LLAMA3_8B_KV_VALUES * 2 * 1000, rel=1e-12)
    assert mem.kv_bytes[0] == pytest.approx(4 * 131_072_000, rel=1e-12)
    # 2048 prefill tokens * (2 * 4096 residual + 3 * 14336 MLP width) * 2 bytes
    # + fp32 logits for 4 sequences: 4 * 128256 * 4 bytes  -> 209,715,200 + 2,052,096
    assert mem.activation_bytes[0] == pytest.approx(2048 * (2 * 4096 + 3 * 14336) * 2 + 4 * 128256 * 4, rel=1e-12)
    assert mem.activation_bytes[0] == pytest.approx(211_767_296, rel=1e-12)
    # one device: CUDA context/workspaces only, no NCCL buffers
    assert np.broadcast_to(mem.overhead_bytes, (1,))[0] == pytest.approx(551e6)
    # H100 SXM 80 GiB, vLLM gpu_memory_utilization 0.9 -> 77,309,411,328 bytes usable
    assert mem.usable_bytes[0] == pytest.approx(0.9 * 80 * 2**30)
    expected_total = 16_059_990_016 + 524_288_000 + 211_767_296 + 551e6
    assert mem.total_bytes[0] == pytest.approx(expected_total, rel=1e-12)
    assert bool(mem.fits[0])
    # (77,309,411,328 - 16,059,990,016 - 211,767,296 - 551e6) / 131,072,000 = 461.48 -> 461 sequences
    assert mem.max_sequences[0] == 461


def test_tensor_parallel_splits_weights_and_kv_heads_then_replicates_kv() -> None:
    specs = specs_for()
    one = memory(specs, tp=1, sequences=1, seq_len=1000)
    eight = memory(specs, tp=8, sequences=1, seq_len=1000)
    sixteen = memory(specs, tp=16, sequences=1, seq_len=1000)
    assert eight.weight_bytes[0] == pytest.approx(LLAMA3_8B_PARAMS * 2 / 8, rel=1e-12)
    assert sixteen.weight_bytes[0] == pytest.approx(LLAMA3_8B_PARAMS * 2 / 16, rel=1e-12)
    # 8 KV heads: tp 8 holds one head per rank (131,072,000 / 8); tp 16 cannot split a head, so KV is replicated.
    assert eight.kv_bytes_per_sequence[0] == pytest.approx(131_072_000 / 8, rel=1e-12)
    assert sixteen.kv_bytes_per_sequence[0] == pytest.approx(eight.kv_bytes_per_sequence[0], rel=1e-12)
    assert one.kv_bytes_per_sequence[0] == pytest.approx(131_072_000, rel=1e-12)
    # NCCL buffers join the runtime overhead once devices talk
    assert np.broadcast_to(eight.overhead_bytes, (1,))[0] == pytest.approx(RUNTIME_BYTES + NCCL_TP4_BYTES)


def test_pipeline_stages_hold_their_own_layers_and_kv() -> None:
    specs = specs_for()
    one = memory(specs, pp=1, sequences=2, seq_len=4096)
    four = memory(specs, pp=4, sequences=2, seq_len=4096)
    assert four.weight_bytes[0] == pytest.approx(one.weight_bytes[0] / 4, rel=1e-12)
    assert four.kv_bytes[0] == pytest.approx(one.kv_bytes[0] / 4, rel=1e-12)
    # pipeline stages exchange activations point to point: no NCCL all-reduce buffers
    assert np.broadcast_to(four.overhead_bytes, (1,))[0] == pytest.approx(RUNTIME_BYTES)


def test_mla_latent_cache_is_replicated_across_tensor_parallel_ranks() -> None:
    # DeepSeek-V3: kv_lora_rank 512 + qk_rope_head_dim 64 = 576 values per layer, 61 layers = 35,136 per token
    specs = specs_for(model="deepseek-ai/DeepSeek-V3", weight_dtype="fp8", kv_dtype="fp8")
    tp1 = memory(specs, tp=1, seq_len=1000)
    tp8 = memory(specs, tp=8, seq_len=1000)
    pp2 = memory(specs, tp=8, pp=2, seq_len=1000)
    assert tp1.kv_bytes_per_sequence[0] == pytest.approx(576 * 61 * 1 * 1000, rel=1e-12)  # fp8 KV: 1 byte
    assert tp8.kv_bytes_per_sequence[0] == pytest.approx(tp1.kv_bytes_per_sequence[0], rel=1e-12)
    assert pp2.kv_bytes_per_sequence[0] == pytest.approx(576 * 61 * 1000 / 2, rel=1e-12)


def test_sliding_window_layers_cap_their_kv_at_the_window() -> None:
    # gpt-oss-120b: 18 full + 18 sliding (window 128) layers, 8 KV heads * 64 head_dim * 2 (K, V) = 1024 values
    # per layer -> 18,432 values per token on each kind of layer.
    specs = specs_for(model="openai/gpt-oss-120b", weight_dtype="fp4")
    short = memory(specs, seq_len=100)
    long = memory(specs, seq_len=4096)
    assert short.kv_bytes_per_sequence[0] == pytest.approx(18432 * (100 + 100) * 2, rel=1e-12)
    assert long.kv_bytes_per_sequence[0] == pytest.approx(18432 * (4096 + 128) * 2, rel=1e-12)
    # fp4 weights: 0.5 bytes per parameter
    assert short.weight_bytes[0] == pytest.approx(catalog.get_model("openai/gpt-oss-120b").total_params * 0.5)


# Qwen3.5-27B config.json: 48 of 64 layers Gated DeltaNet, each keeping per sequence 48 value heads x 128 x 128
# of fp32 state (mamba_ssm_dtype) and the conv's last 3 inputs of 2 x 16 x 128 + 48 x 128 channels in bf16.
QWEN35_27B_STATE_BYTES = 48 * (48 * 128 * 128 * 4 + (2 * 16 * 128 + 48 * 128) * 3 * 2)
# 16 full-attention layers, 4 KV heads of 256.
QWEN35_27B_KV_VALUES = 16 * 2 * 4 * 256


def test_a_linear_attention_sequence_holds_its_state_whatever_its_length() -> None:
    specs = specs_for(model="Qwen/Qwen3.5-27B", weight_dtype="bf16")
    assert QWEN35_27B_STATE_BYTES == 153_944_064
    one = memory(specs, seq_len=1)
    long = memory(specs, seq_len=10_000)
    assert one.kv_bytes_per_sequence[0] == pytest.approx(QWEN35_27B_STATE_BYTES + QWEN35_27B_KV_VALUES * 2, rel=1e-12)
    assert long.kv_bytes_per_sequence[0] == pytest.approx(QWEN35_27B_STATE_BYTES + QWEN35_27B_KV_VALUES * 2 * 10_000,
                                                          rel=1e-12)
    # Heads split over tp ranks, layers over pipeline stages.
    split = memory(specs, tp=2, pp=2, seq_len=1)
    assert split.kv_bytes_per_sequence[0] == pytest.approx(QWEN35_27B_STATE_BYTES / 4 + QWEN35_27B_KV_VALUES * 2 / 4,
                                                           rel=1e-12)
    # The state takes its share of the budget before any token does.
    room = one.free_for_kv_bytes[0]
    assert one.max_sequences[0] == np.floor(room / (QWEN35_27B_STATE_BYTES + QWEN35_27B_KV_VALUES * 2))
    many = memory(specs, sequences=int(room // QWEN35_27B_STATE_BYTES) + 1, seq_len=1)
    assert many.max_context_tokens[0] == 0


def test_experts_split_over_the_larger_of_tp_and_ep() -> None:
    # Mixtral-8x7B: 45,097,156,608 routed-expert params (32 layers * 8 experts * 3 * 4096 * 14336), the rest
    # (46,702,526,464 - 45,097,156,608 = 1,605,369,856) dense; bf16 = 2 bytes each.
    specs = specs_for(model="mistralai/Mixtral-8x7B-v0.1")
    experts = 32 * 8 * 3 * 4096 * 14336
    dense = 46_702_526_464 - experts
    assert experts == 45_097_156_608
    tp2_ep8 = memory(specs, tp=2, ep=8)
    tp4_ep2 = memory(specs, tp=4, ep=2)
    assert tp2_ep8.weight_bytes[0] == pytest.approx(2 * (dense / 2 + experts / 8), rel=1e-12)
    assert tp4_ep2.weight_bytes[0] == pytest.approx(2 * (dense / 4 + experts / 4), rel=1e-12)


@pytest.mark.parametrize(("group", "expected"), [
    (1, 0.0), (2, NCCL_TP2_BYTES), (3, NCCL_TP2_BYTES), (4, NCCL_TP4_BYTES), (8, NCCL_TP4_BYTES),
    (64, NCCL_TP4_BYTES),
])
def test_nccl_buffers_by_tensor_parallel_size(group: int, expected: float) -> None:
    assert nccl_bytes(arr(group))[0] == expected


def test_runtime_overhead_is_aiconfigurator_other_mem() -> None:
    assert RUNTIME_BYTES == 551e6
    assert NCCL_TP2_BYTES == 358_612_992 and NCCL_TP4_BYTES == 411_041_792


@pytest.mark.parametrize(("hardware", "framework", "usable"), [
    ("h100-sxm", "vllm", 80 * 2**30 * 0.90),  # 80 GiB, gpu_memory_utilization 0.9
    ("a100-sxm4-40gb", "llama.cpp", 40 * 2**30),  # llama.cpp reserves no fraction
    ("mi300x", "vllm", 192e9 * 0.90),        # MI300X 192 GB HBM3
])
def test_usable_memory_is_capacity_times_framework_fraction(hardware: str, framework: str, usable: float) -> None:
    mem = memory(specs_for(hardware=hardware, framework=framework))
    assert mem.usable_bytes[0] == pytest.approx(usable)


# Llama-3-8B bf16 on one H100 with 2048 prefill tokens and 4 sequences (see the by-hand test above):
# weights 16,059,990,016 + activations 211,767,296 + runtime 551,000,000 = 16,822,757,312 bytes besides the KV.
FIXED_8B_BYTES = 16_059_990_016 + 211_767_296 + 551_000_000
KV_8B_1000_TOKENS = 131_072_000


def test_tensorrt_llm_gives_the_kv_cache_90_percent_of_the_free_memory() -> None:
    # KvCacheConfig.free_gpu_memory_fraction 0.9: pool = 0.9 * (80 GiB - 16,822,757,312) = 62,168,929,747 bytes.
    mem = memory(specs_for(framework="tensorrt-llm"), sequences=4, seq_len=1000, prefill_tokens=2048)
    assert mem.usable_bytes[0] == pytest.approx(FIXED_8B_BYTES + 0.9 * (80 * 2**30 - FIXED_8B_BYTES), rel=1e-12)
    assert mem.usable_bytes[0] == pytest.approx(78_991_687_059.2, rel=1e-12)
    assert mem.max_sequences[0] == 474  # 62,168,929,747 / 131,072,000 = 474.3


def test_deepspeed_fastgen_keeps_one_gigabyte_out_of_the_free_memory() -> None:
    # MemoryConfig RESERVE 1_000_000_000: usable = 80 GiB - 1e9 = 84,899,345,920;
    # (84,899,345,920 - 16,822,757,312) / 131,072,000 = 519.4
    mem = memory(specs_for(framework="deepspeed-mii"), sequences=4, seq_len=1000, prefill_tokens=2048)
    assert mem.usable_bytes[0] == pytest.approx(80 * 2**30 - 1e9)
    assert mem.max_sequences[0] == 519


@pytest.mark.parametrize(("hardware", "tp", "reserved_mib"), [
    # 512 + 1.5 * chunked_prefill_size + 2 * cuda_graph_max_bs + 1024 * tp / 8 (server_args.py defaults by GPU)
    ("l4", 1, 512 + 1.5 * 2048 + 2 * 24 + 128),               # < 35 GiB: chunk 2048, graphs 24 below tp 4
    ("a100-sxm4-40gb", 1, 512 + 1.5 * 4096 + 2 * 32 + 128),   # < 60 GiB: chunk 4096, graphs 32; no 10 GiB floor
    ("a100-sxm4-40gb", 8, 512 + 1.5 * 4096 + 2 * 160 + 1024),  # tp >= 4: graphs 160
    ("h100-sxm", 1, 512 + 1.5 * 8192 + 2 * 256 + 128),        # < 90 GiB: chunk 8192, graphs 256 = 13,440 MiB
    ("h100-sxm", 8, 512 + 1.5 * 8192 + 2 * 512 + 1024),       # 14,848 MiB
    ("b200", 1, 512 + 1.5 * 16384 + 2 * 512 + 128),           # 180 GiB = 184,320 MiB > 160 GiB: chunk 16k
])
def test_sglang_reserve_follows_its_default_mem_fraction_static(hardware: str, tp: int, reserved_mib: float) -> None:
    capacity = specs_for(hardware=hardware)["memory_gb"].to_numpy() * 1e9
    assert sglang_reserved_bytes(capacity, arr(tp), arr(1))[0] == pytest.approx(reserved_mib * 2**20)


def test_sglang_usable_is_capacity_less_its_reserve_with_activations_inside_it() -> None:
    # 80 GiB - 13,440 MiB (14,092,861,440) + the 211,767,296 bytes of activations that live in the reserve
    mem = memory(specs_for(framework="sglang"), sequences=4, seq_len=1000, prefill_tokens=2048)
    assert mem.usable_bytes[0] == pytest.approx(80 * 2**30 - 13_440 * 2**20 + 211_767_296, rel=1e-12)
    assert mem.max_sequences[0] == 421  # (72,018,251,776 - 16,822,757,312) / 131,072,000 = 421.1


def test_vllm_cuda_graphs_come_from_what_its_budget_leaves() -> None:
    # 0.698 GB of graphs fit in the 10% vLLM leaves of any catalog GPU; on a 5 GB device they would not:
    # usable = min(0.9 * 5e9, 5e9 - 0.698e9) = 4.302e9.
    specs = specs_for()
    assert memory(specs).usable_bytes[0] == pytest.approx(0.9 * 80 * 2**30)
    tiny = specs.assign(memory_gb=5.0)
    assert memory(tiny).usable_bytes[0] == pytest.approx(5e9 - 0.698e9)


def test_llama2_70b_fits_two_h100_but_not_one() -> None:
    # 68,975,329,280 params * 2 bytes = 137.95 GB of weights: over one H100's 77.3 GB usable; 68.98 GB each on two,
    # + 0.551 GB runtime + 0.359 GB NCCL + a few MB of KV and activations = 69.9 GB <= 77.3 GB.
    specs = specs_for(model="meta-llama/Llama-2-70b-hf", weight_dtype="fp16")
    assert not memory(specs, tp=1).fits[0]
    two = memory(specs, tp=2, seq_len=128)
    assert two.weight_bytes[0] == pytest.approx(68_975_329_280, rel=1e-12)
    assert two.total_bytes[0] == pytest.approx(69.9e9, rel=2e-3)
    assert two.fits[0]
    # KV: 80 layers * 2 (K, V) * 8 KV heads * 128 * 2 bytes = 327,680 B/token, / 2 ranks * 128 tokens = 21.0 MB
    assert two.kv_bytes_per_sequence[0] == pytest.approx(80 * 2 * 8 * 128 * 2 / 2 * 128, rel=1e-12)


def test_nccl_buffers_outweigh_the_saving_for_a_tiny_model() -> None:
    # JackFram/llama-68m: 68,026,368 params * 2 bytes = 136 MB; tp 2 saves 68 MB of weights but adds 342 MiB of NCCL.
    specs = specs_for(model="JackFram/llama-68m", weight_dtype="fp16")
    one, two = memory(specs, tp=1), memory(specs, tp=2)
    assert one.weight_bytes[0] - two.weight_bytes[0] == pytest.approx(68_026_368, rel=1e-12)
    assert np.broadcast_to(two.overhead_bytes, (1,))[0] - np.broadcast_to(one.overhead_bytes, (1,))[0] \
        == pytest.approx(NCCL_TP2_BYTES)
    assert two.total_bytes[0] > one.total_bytes[0]


def test_rows_are_independent() -> None:
    rows = pd.concat([specs_for(), specs_for(hardware="mi300x", model="deepseek-ai/DeepSeek-V3", weight_dtype="fp8")],
                     ignore_index=True)
    together = memory_per_device(rows, arr(2, 8), arr(1, 1), arr(1, 8), arr(3, 5), arr(100, 2000), arr(64, 512))
    for i, (tp, ep, seqs, seq_len, prefill) in enumerate([(2, 1, 3, 100, 64), (8, 8, 5, 2000, 512)]):
        alone = memory(rows.iloc[[i]].reset_index(drop=True), tp=tp, ep=ep, sequences=seqs, seq_len=seq_len,
                       prefill_tokens=prefill)
        assert together.total_bytes[i] == pytest.approx(alone.total_bytes[0], rel=1e-12)
        assert together.max_sequences[i] == alone.max_sequences[0]


# --- invariants -----------------------------------------------------------------------------

MODELS = ["meta-llama/Llama-2-7b-hf", LLAMA3_8B, "mistralai/Mixtral-8x7B-v0.1", "deepseek-ai/DeepSeek-V3",
          "openai/gpt-oss-120b", "Qwen/Qwen2-7B", "mistralai/Mistral-7B-v0.1", "google/gemma-2-9b",
          # per-sequence recurrent state beside (or instead of) a per-token cache
          "Qwen/Qwen3.5-27B", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]
HARDWARE = ["a100-sxm4-80gb", "h100-sxm", "mi300x", "l4"]
_SPECS = {(m, h): specs_for(model=m, hardware=h, weight_dtype="fp16") for m in MODELS for h in HARDWARE}
specs_st = st.sampled_from(sorted(_SPECS)).map(_SPECS.__getitem__)
sizes = st.integers(1, 512)
lengths = st.integers(1, 32768)
parallel = st.sampled_from([1, 2, 4, 8, 16])


def _cache_full(m: MemoryBreakdown, sequences: int) -> bool:
    """An engine that admits by KV holding fewer than the ``sequences`` asked for."""
    return bool(m.admits_by_kv[0]) and m.kv_bytes[0] < sequences * m.kv_bytes_per_sequence[0]


def _assert_kv_within_budget(m: MemoryBreakdown) -> None:
    free = m.usable_bytes[0] - m.weight_bytes[0] - m.activation_bytes[0] - m.overhead_bytes[0]
    assert m.kv_bytes[0] <= max(free, m.kv_bytes_per_sequence[0]) * (1 + 1e-12)  # at least one held


@settings(max_examples=30, deadline=None)
@given(specs=specs_st, tp=parallel, pp=st.integers(1, 4), ep=parallel, seqs=st.tuples(sizes, sizes),
       lens=st.tuples(lengths, lengths), prefill=st.integers(1, 16384))
# Found by CI: 306 sequences' activations left room for 166 whole sequences where 167's left room for 167.
@example(specs=_SPECS[("google/gemma-2-9b", "a100-sxm4-80gb")], tp=1, pp=3, ep=1, seqs=(167, 306),
         lens=(3379, 3379), prefill=2564)
def test_memory_never_decreases_with_more_or_longer_sequences(
    specs: pd.DataFrame, tp: int, pp: int, ep: int, seqs: tuple[int, int], lens: tuple[int, int], prefill: int
) -> None:
    (s_lo, s_hi), (l_lo, l_hi) = sorted(seqs), sorted(lens)
    base = memory(specs, tp, pp, ep, s_lo, l_lo, prefill)
    more = memory(specs, tp, pp, ep, s_hi, l_lo, prefill)
    longer = memory(specs, tp, pp, ep, s_lo, l_hi, prefill)
    # An engine that admits by KV holds whole sequences only: once its cache is full, more sequences (more
    # activation memory) or longer ones mean fewer held, and the rounding down may leave a little less in
    # use; it never exceeds the budget.
    if _cache_full(more, s_hi):
        _assert_kv_within_budget(more)
    else:
        assert more.total_bytes[0] >= base.total_bytes[0]
    if _cache_full(base, s_lo) or _cache_full(longer, s_lo):
        _assert_kv_within_budget(longer)
    else:
        assert longer.total_bytes[0] >= base.total_bytes[0]
    assert longer.kv_bytes_per_sequence[0] >= base.kv_bytes_per_sequence[0]
    assert more.max_sequences[0] <= base.max_sequences[0]


@settings(max_examples=30, deadline=None)
@given(specs=specs_st, seqs=sizes, seq_len=lengths, prefill=st.integers(1, 16384), pp=st.integers(1, 4))
def test_more_devices_never_need_more_memory_per_device(
    specs: pd.DataFrame, seqs: int, seq_len: int, prefill: int, pp: int
) -> None:
    # Every model sampled here has >= 7e9 params: halving the weights saves more than NCCL's 342 MiB
    # (see test_nccl_buffers_outweigh_the_saving_for_a_tiny_model for where that stops holding). A
    # continuous engine fills what it gains with more sequences, so compare what is not KV cache, the
    # room left for the KV cache, and one sequence's KV.
    def check(breakdowns: list[MemoryBreakdown]) -> None:
        fixed = [m.total_bytes[0] - m.kv_bytes[0] for m in breakdowns]
        assert np.all(np.diff(fixed) <= 0)
        assert np.all(np.diff([m.free_for_kv_bytes[0] for m in breakdowns]) >= 0)
        assert np.all(np.diff([m.kv_bytes_per_sequence[0] for m in breakdowns]) <= 0)
        assert np.all(np.diff([m.max_sequences[0] for m in breakdowns]) >= 0)

    check([memory(specs, tp, pp, 1, seqs, seq_len, prefill) for tp in (1, 2, 4, 8, 16)])
    check([memory(specs, 2, p, 1, seqs, seq_len, prefill) for p in (1, 2, 3, 4)])
    check([memory(specs, 2, pp, e, seqs, seq_len, prefill) for e in (1, 2, 4, 8)])


@settings(max_examples=30, deadline=None)
@given(specs=specs_st, tp=parallel, seq_len=lengths)
def test_max_sequences_is_the_largest_count_whose_kv_fits(specs: pd.DataFrame, tp: int, seq_len: int) -> None:
    # With a one-token prefill the activation peak does not depend on the sequence count.
    n = memory(specs, tp=tp, seq_len=seq_len).max_sequences[0]
    static = specs.assign(engine_batching="static")  # an engine that must hold the whole batch
    if n >= 1:
        assert memory(static, tp=tp, sequences=n, seq_len=seq_len).fits[0]
    assert not memory(static, tp=tp, sequences=n + 1, seq_len=seq_len).fits[0]
    # vLLM admits the n that fit and queues the rest: it runs whenever one sequence fits.
    more = memory(specs, tp=tp, sequences=n + 1, seq_len=seq_len)
    assert more.fits[0] == (n >= 1)
    assert more.kv_bytes[0] == pytest.approx(max(n, 1) * more.kv_bytes_per_sequence[0])


@settings(max_examples=30, deadline=None)
@given(specs=specs_st, tp=parallel, pp=st.integers(1, 4), seqs=sizes, seq_len=lengths, prefill=st.integers(1, 16384))
def test_max_context_tokens_inverts_the_kv_formula(specs: pd.DataFrame, tp: int, pp: int, seqs: int, seq_len: int,
                                                   prefill: int) -> None:
    mem = memory(specs, tp, pp, 1, seqs, seq_len, prefill)
    longest = mem.max_context_tokens[0]
    assert longest <= specs["max_position_embeddings"].iloc[0]
    budget = mem.free_for_kv_bytes[0] / seqs
    if longest >= 1:  # the requested sequences hold their KV at this length
        assert memory(specs, tp, pp, 1, seqs, longest, prefill).kv_bytes_per_sequence[0] <= budget * (1 + 1e-12)
    if longest < specs["max_position_embeddings"].iloc[0]:  # memory binds: one token more does not fit
        assert memory(specs, tp, pp, 1, seqs, longest + 1, prefill).kv_bytes_per_sequence[0] > budget
    # The dual of max_sequences: the batch fits at this length exactly when the length fits at this batch.
    if seq_len <= specs["max_position_embeddings"].iloc[0]:
        assert (mem.max_sequences[0] >= seqs) == (longest >= seq_len)


def _with_share(framework: str, share: float) -> MemoryBreakdown:
    return memory_per_device(specs_for(framework=framework), arr(1), arr(1), arr(1), arr(4), arr(1000), arr(2048),
                             fraction=arr(share))


def test_a_set_memory_share_is_read_by_each_engines_own_rule() -> None:
    capacity = 80 * 2**30
    # vLLM --gpu-memory-utilization 0.95: 0.95 of the device (its 0.698 GB of graphs still fit in the rest).
    assert _with_share("vllm", 0.95).usable_bytes[0] == pytest.approx(0.95 * capacity, rel=1e-12)
    # TensorRT-LLM --kv_cache_free_gpu_memory_fraction 0.5: half of what weights, activations and runtime leave.
    assert _with_share("tensorrt-llm", 0.5).usable_bytes[0] == pytest.approx(
        FIXED_8B_BYTES + 0.5 * (capacity - FIXED_8B_BYTES), rel=1e-12)
    # SGLang --mem-fraction-static 0.9: weights and KV in 0.9 of the device, the 211,767,296 bytes of
    # activations in the other 0.1 (8.59 GB), instead of its default 13,440 MiB reserve.
    assert _with_share("sglang", 0.9).usable_bytes[0] == pytest.approx(0.9 * capacity + 211_767_296, rel=1e-12)
    # Activations larger than the reserve left: the part beyond it comes out of the share.
    assert _with_share("sglang", 0.999).usable_bytes[0] == pytest.approx(0.999 * capacity + 0.001 * capacity,
                                                                         rel=1e-12)


def test_an_unset_memory_share_is_the_engines_default() -> None:
    for framework in ("vllm", "sglang", "tensorrt-llm"):
        default = memory(specs_for(framework=framework), sequences=4, seq_len=1000, prefill_tokens=2048)
        assert _with_share(framework, np.nan).usable_bytes[0] == default.usable_bytes[0]
