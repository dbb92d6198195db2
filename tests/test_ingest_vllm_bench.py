"""vllm-bench adapter: vLLM benchmark_serving/latency/throughput JSON and SGLang bench_serving JSONL.

Fixtures use the key names the scripts write (vLLM benchmarks/benchmark_serving.py ``result_json``,
benchmark_latency.py and benchmark_throughput.py ``--output-json``, SGLang bench_serving's result
line), with made-up numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import ConfigError
from surrogate.ingest import IngestContext, ingest

FIXTURES = Path(__file__).parent / "fixtures" / "ingest" / "vllm_bench"


def test_serving_json_with_metadata() -> None:
    result = ingest("vllm-bench", FIXTURES / "serving_vllm.json")
    row = result.table.iloc[0]
    assert (row["hardware"], row["model"], row["framework"], row["framework_version"]) == (
        "h100-sxm", "meta-llama/Llama-3.1-8B", "vllm", "0.8.5")
    assert (row["batching"], row["concurrency"], row["input_len"], row["output_len"]) == ("continuous", 16, 1024, 128)
    assert row["ttft_s"] == pytest.approx(0.0612) and row["itl_s"] == pytest.approx(0.0434)
    assert row["latency_s"] == pytest.approx(5.573)
    assert row["throughput_tok_s"] == pytest.approx(3266.7) and row["output_throughput_tok_s"] == pytest.approx(362.96)
    assert (row["source_file"], row["source_line"]) == ("serving_vllm.json", 1)


def test_latency_json_needs_the_run_facts() -> None:
    missing = ingest("vllm-bench", FIXTURES / "latency_vllm.json", IngestContext(hardware="h100-sxm"))
    assert missing.account.rejected == 1
    assert "pass --model" in str(missing.account.rejections[0])
    context = IngestContext(hardware="h100-sxm", model="llama-3.1-8b", input_len=1024, output_len=128, batch_size=8)
    result = ingest("vllm-bench", FIXTURES / "latency_vllm.json", context)
    row = result.table.iloc[0]
    assert (row["batching"], row["batch_size"], row["latency_s"]) == ("static", 8, pytest.approx(3.061))
    assert pd.isna(row["ttft_s"])


def test_throughput_json_is_one_offline_batch() -> None:
    context = IngestContext(hardware="a100-sxm4-80gb", model="llama-3.1-8b", input_len=1024, output_len=512)
    row = ingest("vllm-bench", FIXTURES / "throughput_vllm.json", context).table.iloc[0]
    assert (row["batch_size"], row["latency_s"], row["throughput_tok_s"]) == (256, 41.2, 9544.08)


def test_sglang_jsonl_lines_and_malformed_lines() -> None:
    context = IngestContext(hardware="h200", model="meta-llama/Llama-3.1-8B")
    result = ingest("vllm-bench", FIXTURES / "sglang_bench_serving.jsonl", context)
    a = result.account
    assert (a.rows_read, a.kept, a.rejected) == (3, 1, 2) and a.adds_up
    reasons = [str(r) for r in a.rejections]
    assert reasons[0].startswith("sglang_bench_serving.jsonl:2: not JSON")
    assert reasons[1].startswith("sglang_bench_serving.jsonl:4: no max_concurrency")
    row = result.table.iloc[0]
    assert (row["framework"], row["concurrency"], row["input_len"], row["output_len"]) == ("sglang", 32, 2048, 256)
    assert row["latency_s"] == pytest.approx(9.42)
    assert row["throughput_tok_s"] == pytest.approx(6876.8 + 859.6)


def test_conflicting_flag_and_file_value_reject_the_row() -> None:
    result = ingest("vllm-bench", FIXTURES / "serving_vllm.json", IngestContext(tp=2))
    assert result.account.rejected == 1
    assert "--tp 2 conflicts with the file's tp '1'" in str(result.account.rejections[0])


def test_unknown_json_is_rejected_not_dropped() -> None:
    result = ingest("vllm-bench", FIXTURES / "not_a_benchmark.json", IngestContext(hardware="h200"))
    assert "not a vLLM/SGLang benchmark result" in str(result.account.rejections[0])


def test_a_directory_reads_every_json_file() -> None:
    result = ingest("vllm-bench", FIXTURES, IngestContext(hardware="h100-sxm", model="meta-llama/Llama-3.1-8B"))
    assert result.account.rows_read == 7 and result.account.adds_up
    assert sorted(result.table["framework"]) == ["sglang", "vllm"]


def test_context_flags_only_apply_to_vllm_bench() -> None:
    with pytest.raises(ConfigError, match="only applies to vllm-bench"):
        ingest("csv", FIXTURES / "serving_vllm.json", IngestContext(tp=2))
