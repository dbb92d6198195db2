"""csv adapter: a user's own table in the canonical columns, as CSV or parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.errors import DataError
from surrogate.ingest import ingest

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "csv" / "my_measurements.csv"


def test_account_and_rejections() -> None:
    result = ingest("csv", FIXTURE)
    a = result.account
    assert (a.rows_read, a.kept, a.merged, a.rejected) == (6, 2, 1, 3) and a.adds_up
    assert sorted(str(r) for r in a.rejections) == sorted([
        "my_measurements.csv:5: tp 'two' is not a number",
        "my_measurements.csv:6: no metric measured",
        "my_measurements.csv:8: batching must be one of static, continuous: got sideways",
    ])


def test_spellings_of_one_device_and_model_merge() -> None:
    table = ingest("csv", FIXTURE).table
    row = table[table["source_line"] == 2].iloc[0]
    assert row["n_measurements"] == 2 and row["ttft_s"] == pytest.approx(0.088)


def test_unknown_columns_are_kept_in_source_fields() -> None:
    measurements = ingest("csv", FIXTURE).measurements
    assert json.loads(measurements["source_fields"].iloc[0]) == {"operator": "alice"}


def test_defaults_fill_devices_and_parallelism() -> None:
    row = ingest("csv", FIXTURE).table.query("source_line == 7").iloc[0]
    assert (row["tp"], row["pp"], row["dp"], row["num_devices"], row["mode"]) == (2, 1, 1, 2, "aggregated")


def test_parquet_rows_are_numbered_from_one(tmp_path: Path) -> None:
    frame = pd.DataFrame({"hardware": ["h100-sxm", "h100-sxm"], "model": ["qwen3-8b", "qwen3-8b"],
                          "framework": ["sglang", "sglang"], "concurrency": [8, 8], "input_len": [512, 512],
                          "output_len": [64, 64], "itl_s": [0.009, -0.009]})
    path = tmp_path / "runs.parquet"
    frame.to_parquet(path)
    result = ingest("csv", path)
    assert result.account.kept == 1
    assert str(result.account.rejections[0]) == "runs.parquet:2: itl_s must be positive: got -0.009"


def test_a_table_without_hardware_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("model,latency_s\nqwen3-8b,1.0\n")
    with pytest.raises(DataError, match="needs at least the columns hardware"):
        ingest("csv", path)


def _ingest_text(path: Path, text: str) -> Any:
    """The csv source's result for a table written out as ``text``."""
    path.write_text(text)
    return ingest("csv", path)


def test_names_written_with_counts_releases_and_other_spellings_are_read(tmp_path: Path) -> None:
    result = _ingest_text(
        tmp_path / "lab.csv",
        "hardware,model,framework,batching,concurrency,input_len,output_len,ttft_s,itl_s,num_devices\n"
        "8x NVIDIA H100 80GB HBM3,Llama 3.1 70B,vLLM 0.6.3,Continuous batching,64,1024,256,0.5,0.03,\n"
        "H200 SXM 141GB,meta-llama/Llama-3.1-70B,trtllm-serve,in-flight,32,2048,512,0.4,0.02,\n"
        "8x H100,meta-llama/Llama-3.1-70B,vllm,continuous,64,1024,256,0.5,0.03,4\n")
    assert [str(r) for r in result.account.rejections] == [
        "lab.csv:4: hardware '8x H100' counts 8 devices but num_devices says 4"]
    table = result.table.sort_values("source_line")
    assert table["hardware"].tolist() == ["h100-sxm", "h200"]
    assert table["framework"].tolist() == ["vllm", "tensorrt-llm"]
    assert table["num_devices"].tolist() == [8, 1] and table["batching"].tolist() == ["continuous"] * 2
    assert table["framework_version"].iloc[0] == "0.6.3" and pd.isna(table["framework_version"].iloc[1])


def test_a_mean_length_is_kept_as_written_beside_the_whole_number_read(tmp_path: Path) -> None:
    result = _ingest_text(
        tmp_path / "means.csv",
        "hardware,model,framework,batch_size,input_len,output_len,latency_s\n"
        "h100-sxm,meta-llama/Llama-3.1-8B,vllm,8,215.73,128,1.3\n"
        "h100-sxm,meta-llama/Llama-3.1-8B,vllm,8,512,127.5,1.4\n"
        "h100-sxm,meta-llama/Llama-3.1-8B,vllm,8.5,512,128,1.4\n")
    assert [str(r) for r in result.account.rejections] == ["means.csv:4: batch_size '8.5' is not a whole number"]
    table = result.table.sort_values("source_line")
    assert table["input_len"].tolist() == [216, 512] and table["output_len"].tolist() == [128, 128]
    measurements = result.measurements.sort_values("source_line")
    assert [json.loads(f) for f in measurements["source_fields"]] == [{"input_len_written": 215.73},
                                                                      {"output_len_written": 127.5}]
    assert [str(n) for n in result.account.notes if "whole number" in str(n)] == [
        "means.csv:2: input_len 215.73 is not a whole number of tokens: read as 216, the nearest (a mean length; "
        "kept as input_len_written in source_fields)",
        "means.csv:3: output_len 127.5 is not a whole number of tokens: read as 128, the nearest (a mean length; "
        "kept as output_len_written in source_fields)"]


def test_other_labs_column_names_are_read_as_the_canonical_ones_and_said(tmp_path: Path) -> None:
    # isl/osl, num_gpus, ttft_ms/tpot_ms: how serving benchmarks write them; milliseconds become seconds.
    result = _ingest_text(tmp_path / "lab.csv",
                          "GPU,num_gpus,model_name,engine,max_concurrency,isl,osl,ttft_ms,tpot_ms\n"
                          "H100,8,meta-llama/Llama-3.1-70B,vllm,64,1024,256,350,25\n")
    row = result.table.iloc[0]
    assert (row["hardware"], row["num_devices"], row["tp"], row["framework"], row["concurrency"]) == \
        ("h100-sxm", 8, 8, "vllm", 64)
    assert (row["input_len"], row["output_len"], row["ttft_s"], row["itl_s"]) == (1024, 256, 0.35, 0.025)
    assert [str(n) for n in result.account.notes if "other names" in str(n)] == [
        "lab.csv (header): columns read under other names: GPU as hardware, num_gpus as num_devices, model_name as "
        "model, engine as framework, max_concurrency as concurrency, isl as input_len, osl as output_len, ttft_ms as "
        "ttft_s (ms / 1,000), tpot_ms as itl_s (ms / 1,000)"]


def test_a_canonical_column_wins_and_two_other_names_for_one_column_are_refused(tmp_path: Path) -> None:
    both = _ingest_text(tmp_path / "both.csv", "hardware,gpu,model,framework,concurrency,input_len,output_len,itl_s\n"
                                               "h100-sxm,H100 80GB,meta-llama/Llama-3.1-8B,vllm,8,128,32,0.01\n")
    assert both.table["hardware"].tolist() == ["h100-sxm"]
    assert json.loads(both.measurements["source_fields"].iloc[0]) == {"gpu": "H100 80GB"}
    with pytest.raises(DataError, match=r"^two.csv:1: columns 'gpu' and 'accelerator' both give hardware; keep one or "
                                        r"name it hardware$"):
        _ingest_text(tmp_path / "two.csv", "gpu,accelerator,model,input_len,output_len,itl_s\nh100,h100,x,1,1,1\n")
    # a time without its unit is not guessed
    with pytest.raises(DataError, match=r"^unitless.csv:1: no metric column read; 'ttft' \(say its unit: ttft_s or "
                                        r"ttft_ms\)$"):
        _ingest_text(tmp_path / "unitless.csv", "hardware,model,input_len,output_len,ttft\nh100-sxm,x,1,1,300\n")


def test_a_row_without_a_weight_format_takes_the_one_its_model_name_states(tmp_path: Path) -> None:
    # The catalog id the name resolves to is the 16-bit base; the publisher's name says int4 (AWQ).
    result = _ingest_text(tmp_path / "awq.csv",
                          "hardware,model,framework,concurrency,input_len,output_len,itl_s\n"
                          "h100-sxm,TheBloke/Llama-2-70B-Chat-AWQ,vllm,8,128,32,0.02\n"
                          "h100-sxm,meta-llama/Llama-2-70b-hf,vllm,8,128,32,0.03\n"
                          "h100-sxm,amd/Llama-3.1-8B-Instruct-FP8-KV,vllm,8,128,32,0.01\n")
    table = result.table.sort_values("source_line")
    assert table["model"].tolist() == ["meta-llama/Llama-2-70b-hf"] * 2 + ["meta-llama/Llama-3.1-8B"]
    assert table["weight_dtype"].tolist() == ["int4", "fp16", "fp8"]
    assert table["kv_dtype"].iloc[2] == "fp8"  # '-FP8-KV' states the KV cache too
    assert [str(n) for n in result.account.notes if "weight format" in str(n)] == [
        "awq.csv:2: weight format not recorded: the checkpoint's int4 assumed",
        "awq.csv:3: weight format not recorded: the checkpoint's fp16 assumed",
        "awq.csv:4: weight format not recorded: the checkpoint's fp8 assumed"]


def test_a_table_separated_by_semicolons_or_tabs_is_read(tmp_path: Path) -> None:
    # Spreadsheets export ';' where the decimal mark is a comma; a header without a comma names the separator.
    semi = _ingest_text(tmp_path / "semi.csv", "hardware;model;framework;concurrency;input_len;output_len;itl_s\n"
                                               "h100-sxm;meta-llama/Llama-3.1-8B;vllm;8;128;32;0.01\n"
                                               "h100-sxm;meta-llama/Llama-3.1-8B;vllm;16;128;32;0,02\n")
    assert semi.table["itl_s"].tolist() == [0.01]
    assert [str(r) for r in semi.account.rejections] == [
        "semi.csv:3: itl_s '0,02' is not a number (a decimal comma? write it with a point)"]
    tabs = _ingest_text(tmp_path / "tabs.tsv", "hardware\tmodel\tframework\tconcurrency\tinput_len\toutput_len\titl_s\n"
                                               "h100-sxm\tmeta-llama/Llama-3.1-8B\tvllm\t8\t128\t32\t0.01\n")
    assert tabs.table["concurrency"].tolist() == [8]
