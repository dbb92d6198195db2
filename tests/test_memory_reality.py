"""The memory model against runs that happened: what real engines ran fits, and the fits rule by hand.

"Fits" means the engine can run the configuration. A continuous-batching engine (vLLM, TensorRT-LLM,
SGLang, DeepSpeed-MII) admits as many sequences as its KV pool holds and queues the rest, whatever the
client submits, so one sequence at full length has to fit; a static engine must hold the whole batch.
``benchmarks/memory_check.py`` runs the same check over the shared data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from features.analytic import estimate
from features.configs import CONFIG_COLUMNS
from surrogate.ingest import IngestContext, ingest

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
LLAMA3_8B = "meta-llama/Meta-Llama-3-8B"
# Meta-Llama-3-8B: 8,029,995,008 bf16 parameters (tests/test_memory.py); K and V of 8 heads x 128 values on
# 32 layers = 65,536 fp16 values = 131,072 bytes per token; hidden 4096, vocab 128,256; the activation peak
# per prefill token is the residual stream (2 x 4096) and the gate, up and down widths (3 x 14,336).
WEIGHT_BYTES = 16_059_990_016
KV_BYTES_PER_TOKEN = 131_072
RUNTIME_BYTES = 551e6
# Synthetic fixture rows that no engine could run, kept because they test the ingest, not the memory model.
IMPOSSIBLE_FIXTURES = {
    # agg_inferred_dp_c112: DeepSeek-R1 at fp8 (671 GB) on 4 H200 (141 GB each) with its experts split 4 ways:
    # 17 GB of dense weights + 654 GB / 4 of experts = 181 GB per device.
    ("aiconfigurator", "silicon_sample.csv", 4),
}


def _fixture_tables() -> pd.DataFrame:
    context = IngestContext(hardware="h100-sxm", model="meta-llama/Llama-3.1-8B", input_len=1024, output_len=128,
                            batch_size=8)
    results = [ingest("llm-inference-bench", FIXTURES / "llm_inference_bench"),
               ingest("aiconfigurator", FIXTURES / "aiconfigurator"),
               ingest("csv", FIXTURES / "csv" / "my_measurements.csv"),
               ingest("vllm-bench", FIXTURES / "vllm_bench", context)]
    return pd.concat([r.table for r in results], ignore_index=True)


def _configs(frame: pd.DataFrame) -> pd.DataFrame:
    cols = frame[[c for c in CONFIG_COLUMNS if c in frame]].astype(object)  # no engine settings: their defaults
    return cols.where(cols.notna(), None)


def test_every_aggregated_fixture_row_fits() -> None:
    table = _fixture_tables()
    aggregated = table[table["mode"].eq("aggregated")].reset_index(drop=True)
    assert len(aggregated) >= 25 and set(aggregated["source"]) == {"llm-inference-bench", "aiconfigurator", "csv",
                                                                   "vllm-bench"}
    fits = estimate(_configs(aggregated))["fits"].to_numpy(dtype=bool)
    keys = list(zip(aggregated["source"], aggregated["source_file"], aggregated["source_line"], strict=True))
    not_fitting = {key for key, ok in zip(keys, fits, strict=True) if not ok}
    assert not_fitting == IMPOSSIBLE_FIXTURES


def row(**overrides: object) -> pd.DataFrame:
    base = {"hardware": "a100-sxm4-40gb", "model": LLAMA3_8B, "framework": "vllm", "tp": 1, "weight_dtype": "bf16",
            "kv_dtype": "fp16", "batching": "static", "batch_size": 1, "input_len": 2048, "output_len": 2048}
    base.update(overrides)
    return pd.DataFrame([base])


def test_vllm_runs_an_offline_batch_its_kv_cache_cannot_hold() -> None:
    # LLM-Inference-Bench's vLLM rows: 256 prompts of 2048 + 2048 tokens to one generate() call on an A100 40GB.
    result = estimate(row(batch_size=256)).iloc[0]
    # vLLM profiles a forward pass of max_num_batched_tokens (8192): 8192 x (2 x 4096 + 3 x 14,336) x 2 bytes
    # = 838,860,800, plus fp32 logits of 256 sequences: 256 x 128,256 x 4 = 131,334,144.
    activations = 8192 * (2 * 4096 + 3 * 14336) * 2 + 256 * 128256 * 4
    assert result["mem_activations_gb"] * 1e9 == pytest.approx(activations)
    # 0.9 x 40 GiB - weights - activations - runtime = 21,073,520,704 bytes for the KV cache; one sequence
    # holds 4096 x 131,072 = 536,870,912 bytes: 39 sequences at once (39.3), the other 217 wait.
    free = 0.9 * 40 * 2**30 - WEIGHT_BYTES - activations - RUNTIME_BYTES
    assert free == pytest.approx(21_073_520_704)
    assert result["max_batch_size"] == 39
    assert result["mem_kv_gb"] * 1e9 == pytest.approx(39 * 4096 * KV_BYTES_PER_TOKEN)
    assert result["fits"]
    # 21,073,520,704 / 256 sequences / 131,072 bytes per token = 628.0: the longest context 256 hold at once.
    assert result["max_context_tokens"] == 628


def test_a_static_engine_must_hold_the_whole_batch() -> None:
    # DeepSpeed on Gaudi 2 (96 GB, fraction 0.9 = 86.4 GB) prefills the whole batch in one pass, unchunked.
    def activations(batch: int) -> int:
        return batch * 2048 * (2 * 4096 + 3 * 14336) * 2 + batch * 128256 * 4

    common = {"hardware": "gaudi2", "framework": "deepspeed"}
    for batch, most in [(64, 104), (128, 79)]:
        # (86.4e9 - 16,059,990,016 - activations - 551e6) / 536,870,912: 104.9 at batch 64, 79.9 at 128
        free = 0.9 * 96e9 - WEIGHT_BYTES - activations(batch) - RUNTIME_BYTES
        assert free // (4096 * KV_BYTES_PER_TOKEN) == most
        result = estimate(row(**common, batch_size=batch)).iloc[0]
        assert result["max_batch_size"] == most
        assert result["mem_kv_gb"] * 1e9 == pytest.approx(batch * 4096 * KV_BYTES_PER_TOKEN)
        assert bool(result["fits"]) is (batch <= most)


def test_continuous_engines_fit_when_one_full_sequence_fits() -> None:
    # Meta-Llama-3-70B bf16 on one H200 (141 GiB): 141.1 GB of weights leave vLLM's 136.3 GB no room at all;
    # on two, 70.6 GB each leave about 65 GB, so any concurrency runs (the rest queue).
    one_gpu = estimate(row(hardware="h200", model="meta-llama/Meta-Llama-3-70B", batching="continuous",
                           concurrency=512)).iloc[0]
    assert not one_gpu["fits"] and one_gpu["max_batch_size"] == 0 and one_gpu["max_context_tokens"] == 0
    two = estimate(row(hardware="h200", model="meta-llama/Meta-Llama-3-70B", batching="continuous", tp=2,
                       concurrency=512)).iloc[0]
    assert two["fits"] and 0 < two["max_batch_size"] < 512
    assert two["mem_per_device_gb"] <= two["mem_usable_gb"]


def test_longest_context_is_capped_at_the_model_window() -> None:
    # One Llama-3-8B sequence on an H100 could hold ~463,000 tokens of KV, but the model takes 8192.
    result = estimate(row(hardware="h100-sxm", batching="continuous", concurrency=1)).iloc[0]
    assert result["max_context_tokens"] == 8192


# --- invariants -----------------------------------------------------------------------------

CASES = [("h100-sxm", "vllm", LLAMA3_8B), ("a100-sxm4-40gb", "tensorrt-llm", "meta-llama/Llama-2-13b-hf"),
         ("h200", "sglang", "mistralai/Mixtral-8x7B-v0.1"), ("gaudi2", "deepspeed", LLAMA3_8B),
         ("l4", "vllm", "google/gemma-2-9b"), ("mi300x", "vllm", "openai/gpt-oss-120b")]


@settings(max_examples=25, deadline=None)
@given(case=st.sampled_from(CASES), tp=st.sampled_from([1, 2, 4]), sizes=st.tuples(st.integers(1, 512),
       st.integers(1, 512)), lengths=st.tuples(st.integers(1, 2048), st.integers(1, 2048)))  # within every window
def test_longest_context_shrinks_and_fit_holds_with_fewer_sequences(case: tuple[str, str, str], tp: int,
                                                                     sizes: tuple[int, int],
                                                                     lengths: tuple[int, int]) -> None:
    hardware, framework, model = case
    fewer, more = sorted(sizes)
    batching = "static" if framework == "deepspeed" else "continuous"
    rows = pd.concat([row(hardware=hardware, framework=framework, model=model, tp=tp, batching=batching,
                          batch_size=n, concurrency=n, input_len=lengths[0], output_len=lengths[1])
                      for n in (fewer, more)], ignore_index=True)
    result = estimate(rows)
    assert result["max_context_tokens"].iloc[0] >= result["max_context_tokens"].iloc[1]
    if result["fits"].iloc[1]:
        assert result["fits"].iloc[0]
