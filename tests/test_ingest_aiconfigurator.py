"""aiconfigurator adapter on a small silicon_sample.csv in the real column layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import DataError
from surrogate.ingest import IngestResult, ingest

FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "aiconfigurator"


@pytest.fixture(scope="module")
def result() -> IngestResult:
    return ingest("aiconfigurator", FIXTURE)


def _row(result: IngestResult, line: int) -> pd.Series:
    rows = result.table[result.table["source_line"] == line]
    assert len(rows) == 1
    return rows.iloc[0]


def test_account(result: IngestResult) -> None:
    a = result.account
    assert (a.rows_read, a.kept, a.merged, a.rejected) == (14, 7, 2, 5)
    assert (a.exact_copies, a.repeated_measurements) == (1, 1) and a.adds_up


def test_rejections_name_file_line_and_reason(result: IngestResult) -> None:
    listed = sorted(str(r) for r in result.account.rejections)
    assert listed == sorted([
        "silicon_sample.csv:5: client concurrency 20 is not batch_size 16 x attention_dp_size 1",
        "silicon_sample.csv:6: silicon_tpot_ms is missing",
        "silicon_sample.csv:7: tp 36 does not divide the 128 attention heads",
        "silicon_sample.csv:13: prefill_moe_tp_size is not a positive whole number: '0'",
        "silicon_sample.csv:15: unknown GPU 'h300_sxm'; did you mean: h100-sxm, mi300x, h800?",
    ])


def test_aggregated_mapping(result: IngestResult) -> None:
    row = _row(result, 2)
    assert (row["hardware"], row["framework"], row["framework_version"]) == ("h200", "tensorrt-llm", "1.1.0rc2")
    assert (row["tp"], row["pp"], row["dp"], row["ep"], row["moe_tp"], row["num_devices"]) == (8, 1, 1, 8, 1, 8)
    assert (row["batching"], row["mode"], row["concurrency"]) == ("continuous", "aggregated", 16)
    assert row["weight_dtype"] == "fp8" and row["quant_scheme"] == "gemm=fp8_block;moe=fp8_block"
    assert pd.isna(row["kv_dtype"])
    # No latency or throughput is derived from TTFT and TPOT.
    assert pd.isna(row["latency_s"]) and pd.isna(row["throughput_tok_s"])
    # Two measurements of this configuration: their median.
    assert row["n_measurements"] == 2
    assert row["ttft_s"] == pytest.approx((0.1805 + 0.185) / 2) and row["itl_s"] == pytest.approx(0.0216)


def test_attention_data_parallelism(result: IngestResult) -> None:
    explicit = _row(result, 3)
    assert (explicit["tp"], explicit["dp"], explicit["num_devices"], explicit["concurrency"]) == (1, 8, 8, 8)
    inferred = _row(result, 4)
    assert (inferred["tp"], inferred["dp"], inferred["concurrency"]) == (1, 4, 28)
    assert any(str(n).startswith("silicon_sample.csv:4: attention data parallelism inferred")
               for n in result.account.notes)


def test_disaggregated_rows_keep_worker_shapes(result: IngestResult) -> None:
    row = _row(result, 8)
    assert row["mode"] == "disaggregated" and pd.isna(row["tp"])
    assert (row["prefill_workers"], row["prefill_tp"], row["prefill_ep"]) == (1, 4, 4)
    assert (row["decode_workers"], row["decode_tp"], row["decode_ep"], row["decode_batch_size"]) == (2, 8, 8, 64)
    assert row["num_devices"] == 1 * 4 + 2 * 8 and row["concurrency"] == 64


def test_incomplete_disaggregated_rows_merge_only_with_copies(result: IngestResult) -> None:
    copies = _row(result, 9)
    assert copies["n_measurements"] == 2 and pd.isna(copies["num_devices"])
    other = _row(result, 11)  # same recorded shape, different metrics: not merged
    assert other["n_measurements"] == 1


def test_blank_precision_is_the_checkpoint_format_with_a_note(result: IngestResult) -> None:
    assert _row(result, 14)["weight_dtype"] == "bf16"
    assert any(str(n).startswith("silicon_sample.csv:14: weight format not recorded") for n in result.account.notes)


def test_not_a_silicon_file(tmp_path: Path) -> None:
    bad = tmp_path / "silicon_sample.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not an aiconfigurator silicon file"):
        ingest("aiconfigurator", bad)


def test_attention_dp_rows_record_the_ranks_their_experts_spread_over() -> None:
    from surrogate.ingest.aiconfigurator import expert_ranks

    assert expert_ranks(tp=1, dp=32, moe_ep=1, moe_tp=32) == 32  # experts split by TP over 32 DP ranks
    assert expert_ranks(tp=4, dp=4, moe_ep=4, moe_tp=4) == 16
    assert expert_ranks(tp=1, dp=8, moe_ep=8, moe_tp=1) == 8
    assert expert_ranks(tp=8, dp=1, moe_ep=4, moe_tp=2) == 4  # no attention DP: moe_ep as recorded
    assert expert_ranks(tp=1, dp=8, moe_ep=2, moe_tp=None) == 2  # moe_tp unknown: as recorded
    assert expert_ranks(tp=1, dp=8, moe_ep=2, moe_tp=2) == 2  # 4 != 8 ranks: not the whole worker, as recorded
