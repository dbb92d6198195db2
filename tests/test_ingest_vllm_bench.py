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
    assert (a.rows_read, a.kept, a.rejected) == (3, 2, 1) and a.adds_up
    assert [str(r) for r in a.rejections][0].startswith("sglang_bench_serving.jsonl:2: not JSON")
    row = result.table.iloc[0]
    assert (row["framework"], row["concurrency"], row["input_len"], row["output_len"]) == ("sglang", 32, 2048, 256)
    assert pd.isna(row["request_rate_per_s"])  # request_rate inf: closed loop at max_concurrency
    assert row["latency_s"] == pytest.approx(9.42)
    assert row["throughput_tok_s"] == pytest.approx(6876.8 + 859.6)
    # line 4: Poisson arrivals at 8/s, no cap: open loop, in flight = SGLang's measured mean concurrency 31.6
    rate = result.table.iloc[1]
    assert (rate["request_rate_per_s"], rate["concurrency"], rate["source_line"]) == (8.0, 32, 4)
    assert "sglang_bench_serving.jsonl:4: open loop at 8 requests/s: 32 in flight per replica (the run's mean " \
        "concurrency)" in [str(n) for n in a.notes]


def test_vllm_open_loop_runs_count_what_was_in_flight_by_little_s_law() -> None:
    # --request-rate 2: 1.95 requests/s completed x 5.573 s mean end-to-end = 10.87 in flight, not a client cap
    result = ingest("vllm-bench", FIXTURES / "open_loop" / "rate_vllm.json")
    row = result.table.iloc[0]
    assert (row["batching"], row["request_rate_per_s"], row["concurrency"]) == ("continuous", 2.0, 11)
    assert ("rate_vllm.json:1: open loop at 2 requests/s: 11 in flight per replica (Little's law: 1.95 requests/s x "
            "5.573 s)") in [str(n) for n in result.account.notes]
    # two replicas share the arrivals: 10.87 / 2 = 5.4 each; a cap of 4 per replica (8 over both) is the most
    two = ingest("vllm-bench", FIXTURES / "open_loop" / "rate_vllm.json", IngestContext(dp=2, num_devices=2))
    assert two.table.iloc[0]["concurrency"] == 5
    capped = ingest("vllm-bench", FIXTURES / "open_loop" / "rate_vllm.json",
                    IngestContext(dp=2, num_devices=2, concurrency=8))
    assert capped.table.iloc[0]["concurrency"] == 4


def test_conflicting_flag_and_file_value_reject_the_row() -> None:
    result = ingest("vllm-bench", FIXTURES / "serving_vllm.json", IngestContext(tp=2))
    assert result.account.rejected == 1
    assert "--tp 2 conflicts with the file's tp '1'" in str(result.account.rejections[0])


def test_unknown_json_is_rejected_not_dropped() -> None:
    result = ingest("vllm-bench", FIXTURES / "not_a_benchmark.json", IngestContext(hardware="h200"))
    assert "not a vLLM/SGLang benchmark result" in str(result.account.rejections[0])


def test_a_directory_reads_every_json_file() -> None:
    result = ingest("vllm-bench", FIXTURES, IngestContext(hardware="h100-sxm", model="meta-llama/Llama-3.1-8B"))
    assert result.account.rows_read == 8 and result.account.adds_up  # sub-folders too (open_loop/)
    assert sorted(result.table["framework"]) == ["sglang", "sglang", "vllm", "vllm"]


def test_context_flags_only_apply_to_vllm_bench() -> None:
    with pytest.raises(ConfigError, match="only applies to vllm-bench"):
        ingest("csv", FIXTURES / "serving_vllm.json", IngestContext(tp=2))


def test_a_mean_length_from_token_totals_rounds_half_up(tmp_path: Path) -> None:
    # 200 requests, 102,500 prompt tokens: a mean of 512.5, read as 513 (half up, as the csv source reads a
    # written mean; Python's round() would give 512).
    import json

    run = json.loads((FIXTURES / "serving_vllm.json").read_text())
    run.update(total_input_tokens=102_500, input_lens=[], output_lens=[])
    path = tmp_path / "serving.json"
    path.write_text(json.dumps(run))
    result = ingest("vllm-bench", path)
    assert result.table["input_len"].tolist() == [513]
    assert any("input_len 513 is the mean over 200 requests" in str(n) for n in result.account.notes)
