"""LLM-Inference-Bench adapter on a small fixture laid out like the upstream repository.

The fixture (tests/fixtures/ingest/llm_inference_bench) has every quirk of the real files: blank
lines, Fig_22's trailing-space header, Fig_3's precision column, KV cache off, speculative decoding,
TP/EP labels, power in W and mW, malformed rows, an unrecognised file and a hidden checkpoint copy.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import DataError
from surrogate.ingest import IngestResult, ingest
from surrogate.ingest.llm_inference_bench import read

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "llm_inference_bench"


@pytest.fixture(scope="module")
def result() -> IngestResult:
    return ingest("llm-inference-bench", FIXTURE)


def _row(table: pd.DataFrame, file: str, line: int) -> pd.Series:
    rows = table[(table["source_file"] == file) & (table["source_line"] == line)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_account_adds_up_with_hand_counted_numbers(result: IngestResult) -> None:
    a = result.account
    # 31 rows (Fig_22's one line holds two measurements), 10 rejected, 3 merged (2 repeats + 1 copy).
    assert (a.rows_read, a.kept, a.merged, a.rejected) == (31, 18, 3, 10)
    assert (a.exact_copies, a.repeated_measurements) == (1, 2)
    assert a.adds_up


def test_every_malformed_row_is_listed_with_file_and_line(result: IngestResult) -> None:
    listed = {str(r) for r in result.account.rejections}
    expected = [
        "Plots/All_results.csv:6: unknown GPU 'Nvidia A10000 GPU'; did you mean",
        "Plots/All_results.csv:7: Latency is not a number: 'abc'",
        "Plots/All_results.csv:8: latency_s must be positive",
        "Plots/All_results.csv:9: expected 8 fields, found 5",
        "Plots/All_results.csv:13: tp 3 does not divide the 32 attention heads",
        "Plots/Fig_2_a/All_results.csv:2: KV cache disabled",
        "Plots/Fig_4_b/All_results.csv:2: speculative decoding (draft JackFram/llama-68m, 3 tokens)",
        "Plots/Fig_3/A100_H100_quant_all_results.csv:4: kv_cache_dtype does not read",
        "Plots/Fig_5_b/TP_EP_PP_results.csv:5: Parallelism Type is not TP, EP",
        "Plots/Fig_1_b/Heatmap_input_vs_output.csv:2: file layout not recognised",
    ]
    for prefix in expected:
        assert any(text.startswith(prefix) for text in listed), (prefix, listed)
    assert len(listed) == len(expected)


def test_physical_line_numbers_count_blank_lines(result: IngestResult) -> None:
    # All_results.csv line 4 is blank, so the llama.cpp row is line 5.
    row = _row(result.table, "Plots/All_results.csv", 5)
    assert row["framework"] == "llama.cpp"


def test_llama_cpp_rows_are_one_sequence_split_by_layers(result: IngestResult) -> None:
    row = _row(result.table, "Plots/All_results.csv", 5)
    assert (row["tp"], row["pp"], row["batch_size"], row["prefill_chunk_tokens"]) == (1, 2, 1, 16.0)
    assert row["batching"] == "static" and row["input_len"] == row["output_len"] == 256


def test_repeated_measurements_merge_to_their_median(result: IngestResult) -> None:
    row = _row(result.table, "Plots/All_results.csv", 2)
    assert row["n_measurements"] == 3  # lines 2 and 3, and Fig_4_b's run without speculative decoding
    assert row["latency_s"] == pytest.approx(1.654349934309721)
    assert "Plots/Fig_4_b/All_results.csv:3" in row["source_lines"]


def test_fig22_holds_a_ttft_run_and_a_copy_of_the_main_latency(result: IngestResult) -> None:
    ttft = _row(result.table, "Plots/Fig_22/all_results_TTFT_ITL.csv", 3)
    assert (ttft["input_len"], ttft["output_len"], ttft["batch_size"]) == (1024, 1, 16)
    assert ttft["ttft_s"] == pytest.approx(1.029996186029166) and pd.isna(ttft["latency_s"])
    main = _row(result.table, "Plots/All_results.csv", 14)
    assert main["n_measurements"] == 2 and "Fig_22" in main["source_lines"]


def test_precision_kv_block_and_expert_parallel_labels(result: IngestResult) -> None:
    fp8 = _row(result.table, "Plots/Fig_3/A100_H100_quant_all_results.csv", 3)
    assert (fp8["weight_dtype"], fp8["kv_dtype"]) == ("fp8", "fp8")
    assert _row(result.table, "Plots/Fig_2_b/All_results.csv", 2)["kv_block_size"] == 8
    ep = _row(result.table, "Plots/Fig_5_b/TP_EP_PP_results.csv", 2)
    hybrid = _row(result.table, "Plots/Fig_5_b/TP_EP_PP_results.csv", 3)
    tensor = _row(result.table, "Plots/Fig_5_b/TP_EP_PP_results.csv", 4)
    assert (ep["tp"], ep["ep"], ep["moe_tp"]) == (4, 4, 1)
    assert (hybrid["tp"], hybrid["ep"], hybrid["moe_tp"]) == (4, 2, 2)
    assert tensor["ep"] == 1 and pd.isna(tensor["moe_tp"])


def test_power_units_from_evidence(result: IngestResult) -> None:
    table = result.table
    assert _row(table, "Plots/Fig_10/All_results.csv", 2)["power_w"] == pytest.approx(350.0)
    assert _row(table, "Plots/Fig_10/All_results.csv", 3)["power_w"] == pytest.approx(575.4082)  # mW
    assert _row(table, "Plots/Fig_16_a/power_results.csv", 3)["power_w"] == pytest.approx(222.1222711864407)
    over = _row(table, "Plots/Fig_99/power_over_tdp.csv", 2)
    assert pd.isna(over["power_w"]) and over["latency_s"] == pytest.approx(6.9)
    notes = [str(n) for n in result.account.notes]
    assert any(n.startswith("Plots/Fig_99/power_over_tdp.csv:2: avg_power dropped") for n in notes)


def test_faster_than_physics_is_flagged_not_dropped(result: IngestResult) -> None:
    row = _row(result.table, "Plots/All_results.csv", 10)
    assert bool(row["faster_than_physics"])
    assert result.account.faster_than_physics == 1
    assert any(str(n).startswith("Plots/All_results.csv:10: faster than physics") for n in result.account.notes)
    assert not result.training_table()["faster_than_physics"].any()
    assert len(result.training_table(include_faster_than_physics=True)) == len(result.table)


def test_two_labels_of_one_device_stay_apart(result: IngestResult) -> None:
    intel = result.table[result.table["hardware"] == "intel-max-1550"]
    assert sorted(intel["hardware_label"]) == ["Intel Max 1550", "Intel PVC GPU"]


def test_inconsistent_throughput_gets_a_note_not_a_rejection(result: IngestResult) -> None:
    assert any(str(n).startswith("Plots/All_results.csv:15: Throughput 200 differs") for n in result.account.notes)
    assert _row(result.table, "Plots/All_results.csv", 15)["throughput_tok_s"] == 200.0


def test_hidden_checkpoint_copies_are_not_read() -> None:
    output = read(FIXTURE)
    assert not output.records["source_file"].str.contains("ipynb_checkpoints").any()


def test_a_single_file_can_be_ingested(tmp_path: Path) -> None:
    result = ingest("llm-inference-bench", FIXTURE / "Plots" / "Fig_2_b" / "All_results.csv")
    assert result.account.kept == 1 and result.table["source_file"].iloc[0] == "All_results.csv"


def test_directory_without_csv_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no CSV files"):
        read(tmp_path)
