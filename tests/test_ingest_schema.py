"""The canonical schema: one declaration, derived column lists, validation with named problems."""

from __future__ import annotations

import pandas as pd
import pytest

import surrogate.ingest as ingest_pkg
from features.errors import DataError
from surrogate.ingest.schema import (
    CANONICAL_COLUMNS,
    DEPLOYMENT_COLUMNS,
    KEY_COLUMNS,
    METRIC_COLUMNS,
    SCHEMA,
    schema_markdown,
    validate_canonical,
)


def test_issue_columns_are_all_there() -> None:
    wanted = ["hardware", "num_devices", "tp", "pp", "dp", "ep", "framework", "framework_version", "model",
              "weight_dtype", "kv_dtype", "batching", "batch_size", "concurrency", "input_len", "output_len", "mode",
              "latency_s", "ttft_s", "itl_s", "throughput_tok_s", "output_throughput_tok_s", "power_w", "source",
              "source_file", "source_line", "prefill_tp", "decode_tp", "prefill_chunk_tokens"]
    assert not [c for c in wanted if c not in CANONICAL_COLUMNS]
    assert METRIC_COLUMNS == ["latency_s", "ttft_s", "itl_s", "throughput_tok_s", "output_throughput_tok_s",
                              "power_w"]
    assert set(DEPLOYMENT_COLUMNS) < set(KEY_COLUMNS)
    assert len({c.name for c in SCHEMA}) == len(SCHEMA)


def test_units_are_in_metric_names() -> None:
    assert all(m.endswith(("_s", "_tok_s", "_w")) for m in METRIC_COLUMNS)


def test_validate_fills_optional_columns_and_names_problems() -> None:
    frame = pd.DataFrame({"hardware": ["h100-sxm"], "framework": ["vllm"], "model": ["qwen3-8b"],
                          "weight_dtype": ["bf16"], "batching": ["static"], "input_len": [128], "output_len": [128],
                          "mode": ["aggregated"], "source": ["csv"], "source_file": ["x.csv"], "source_line": [2],
                          "latency_s": ["1.5"]})
    out = validate_canonical(frame)
    assert list(out.columns) == CANONICAL_COLUMNS and out["latency_s"].iloc[0] == 1.5
    with pytest.raises(DataError, match="missing required columns: hardware"):
        validate_canonical(frame.drop(columns="hardware"))
    with pytest.raises(DataError, match="batching"):
        validate_canonical(frame.assign(batching="sideways"))
    with pytest.raises(DataError, match="'input_len': 1.5 is not a whole number"):
        validate_canonical(frame.assign(input_len=1.5))
    with pytest.raises(DataError, match="unknown columns: colour"):
        validate_canonical(frame.assign(colour="red"))


def test_markdown_table_lists_every_canonical_column() -> None:
    text = schema_markdown()
    assert all(f"`{c}`" in text for c in CANONICAL_COLUMNS)


def test_public_api_is_pinned() -> None:
    assert sorted(ingest_pkg.__all__) == sorted([
        "AdapterSpec", "ADAPTERS", "IngestContext", "IngestResult", "ingest", "account_against", "load_shared",
        "shared_datasets_dir", "SHARED_SOURCES"])
    assert sorted(ingest_pkg.ADAPTERS) == ["aiconfigurator", "bench", "csv", "llm-inference-bench", "mlperf",
                                           "vllm-bench"]


def test_the_model_reads_a_subset_of_the_recorded_deployment_columns() -> None:
    """Beside engine settings no source records (every measured row ran the engine's default)."""
    from features.configs import CONFIG_COLUMNS, ENGINE_SETTING_COLUMNS

    assert ENGINE_SETTING_COLUMNS == ["engine_memory_fraction"]
    assert not set(ENGINE_SETTING_COLUMNS) & set(DEPLOYMENT_COLUMNS)
    assert set(CONFIG_COLUMNS) - set(ENGINE_SETTING_COLUMNS) <= set(DEPLOYMENT_COLUMNS)
    assert set(DEPLOYMENT_COLUMNS) - set(CONFIG_COLUMNS) == {"moe_tp", "quant_scheme", "kv_block_size", "mode",
                                                            "input_len_assumed"}
