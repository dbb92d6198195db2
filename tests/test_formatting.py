"""How numbers and deployments are written for people: exact strings, as the README shows them."""

from __future__ import annotations

import pytest

from surrogate.formatting import describe_config, describe_load, format_amount, format_seconds

# A deployment row as the optimizer and the CLI hand it over (features.configs.CONFIG_COLUMNS).
ROW = {"model": "meta-llama/Meta-Llama-3-8B", "hardware": "h100-sxm", "framework": "vllm", "num_devices": 4,
       "tp": 2, "pp": 1, "dp": 2, "ep": 1, "weight_dtype": "fp8", "kv_dtype": "fp8", "batching": "continuous",
       "concurrency": 64, "batch_size": 1, "input_len": 1024, "output_len": 256}
STATIC = {**ROW, "batching": "static", "batch_size": 16, "concurrency": 1}


@pytest.mark.parametrize(("seconds", "expected"), [
    (0.0123, "12.3 ms"),
    (1.0, "1 s"),
    (2.345, "2.35 s"),
    (0.000456, "0.456 ms"),
    (0.999, "999 ms"),
    (0.5, "500 ms"),
    (12.0, "12 s"),
])
def test_format_seconds_three_significant_digits(seconds: float, expected: str) -> None:
    assert format_seconds(seconds) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (10431.2, "10,431"),  # the first screen's "Why #1" once wrote 1.043e+04
    (9203.4, "9,203"),
    (999.94, "999.9"),
    (0.18345, "0.1835"),
    (1234567.0, "1,234,567"),
])
def test_format_amount_four_digits_no_exponent(value: float, expected: str) -> None:
    assert format_amount(value) == expected


def test_format_seconds_never_writes_scientific_notation() -> None:
    assert format_seconds(0.9996) == "1 s"
    assert format_seconds(0.9994) == "999 ms"
    assert format_seconds(1234.5) == "1,234 s"
    assert format_seconds(999.4) == "999 s"


def test_describe_config_full_names_model_layout_formats_and_workload() -> None:
    assert describe_config(ROW) == ("meta-llama/Meta-Llama-3-8B on 4x h100-sxm with vllm (tp=2 pp=1 dp=2 ep=1), "
                                    "fp8 weights, fp8 KV, 64 concurrent requests, 1024 in / 256 out tokens")


def test_describe_config_compact_is_one_table_cell() -> None:
    assert describe_config(ROW, compact=True) == "4x h100-sxm vllm tp2 pp1 dp2 fp8/fp8kv 64 in flight"
    assert describe_config(STATIC, compact=True) == "4x h100-sxm vllm tp2 pp1 dp2 fp8/fp8kv batch 16"
    # An MoE layout with experts spread says so; without it two such rows of a table read the same.
    assert describe_config({**ROW, "ep": 4}, compact=True) == "4x h100-sxm vllm tp2 pp1 dp2 ep4 fp8/fp8kv 64 in flight"


def test_static_load_names_the_batch_and_continuous_the_requests_in_flight() -> None:
    assert describe_load(STATIC) == "batch 16"
    assert describe_load(STATIC, compact=False) == "static batch 16"
    assert describe_load(ROW) == "64 in flight"
    assert describe_load(ROW, compact=False) == "64 concurrent requests"
    # The full description uses the long wording, and never the field that does not apply.
    assert "static batch 16," in describe_config(STATIC)
    assert "concurrent" not in describe_config(STATIC)
    assert "batch" not in describe_config(ROW)
