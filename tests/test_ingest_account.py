"""The account always adds up: rows read = kept + merged + rejected, for any mix of rows (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from surrogate.ingest import ingest
from surrogate.ingest.account import Account, Note, Rejection, merge_measurements, reason_kind
from surrogate.ingest.schema import MEASUREMENT_COLUMNS, empty_frame

HEADER = "hardware,model,framework,batching,batch_size,input_len,output_len,tp,latency_s"
# Six distinct configurations; latencies far above the physical floor so none is flagged.
CONFIGS = [(batch, length) for batch in (1, 2, 4) for length in (128, 256)]
BAD = {
    "negative": "a100-sxm4-80gb,llama-3.1-8b,vllm,static,1,128,128,1,-5.0",
    "unknown_gpu": "a100-sxm9,llama-3.1-8b,vllm,static,1,128,128,1,500.0",
    "tp_3": "a100-sxm4-80gb,llama-3.1-8b,vllm,static,1,128,128,3,500.0",
    "no_metric": "a100-sxm4-80gb,llama-3.1-8b,vllm,static,1,128,128,1,",
    "not_a_number": "a100-sxm4-80gb,llama-3.1-8b,vllm,static,x,128,128,1,500.0",
    "short_row": "a100-sxm4-80gb,llama-3.1-8b",
}

row_strategy = st.one_of(
    st.tuples(st.just("good"), st.integers(0, len(CONFIGS) - 1), st.floats(500.0, 900.0)),
    st.tuples(st.just("bad"), st.sampled_from(sorted(BAD)), st.just(0.0)),
    st.tuples(st.just("blank"), st.just(0), st.just(0.0)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_strategy, min_size=1, max_size=14))
def test_account_adds_up_for_any_mix(rows: list[tuple[str, Any, float]]) -> None:
    lines, bad_lines, good = [HEADER], [], []
    for kind, which, latency in rows:
        if kind == "good":
            batch, length = CONFIGS[int(which)]
            lines.append(f"a100-sxm4-80gb,llama-3.1-8b,vllm,static,{batch},{length},{length},1,{latency!r}")
            good.append(which)
        elif kind == "bad":
            lines.append(BAD[str(which)])
            bad_lines.append(len(lines))
        else:
            lines.append("")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "runs.csv"
        path.write_text("\n".join(lines) + "\n")
        if not good and not bad_lines:
            return
        a = ingest("csv", path).account
    assert a.adds_up
    assert a.rows_read == len(good) + len(bad_lines)
    assert a.rejected == len(bad_lines)
    assert sorted(r.line for r in a.rejections) == bad_lines
    assert a.kept == len(set(good))
    assert a.merged == len(good) - len(set(good))


def _measurements(latencies: list[float], flagged: list[bool]) -> pd.DataFrame:
    frame = empty_frame(MEASUREMENT_COLUMNS).reindex(range(len(latencies)))
    fixed = {"source": "csv", "hardware": "h100-sxm", "hardware_label": "h100-sxm", "model": "Qwen/Qwen3-8B",
             "framework": "vllm", "mode": "aggregated", "batching": "static", "batch_size": 1, "input_len": 64,
             "output_len": 64, "tp": 1, "pp": 1, "dp": 1, "ep": 1, "num_devices": 1, "weight_dtype": "bf16",
             "source_file": "runs.csv"}
    for name, value in fixed.items():
        frame[name] = value
    frame["source_line"] = range(2, 2 + len(latencies))
    frame["latency_s"] = latencies
    frame["faster_than_physics"] = flagged
    return frame


def test_merge_takes_the_median_and_reports_the_spread() -> None:
    table = merge_measurements(_measurements([1.0, 1.1, 1.3], [False] * 3))
    row = table.iloc[0]
    assert (row["latency_s"], row["n_measurements"]) == (1.1, 3)
    assert row["spread_frac"] == pytest.approx(0.3 / 1.1)
    assert row["source_lines"] == "runs.csv:2;runs.csv:3;runs.csv:4"


def test_rows_faster_than_physics_are_left_out_of_the_median() -> None:
    row = merge_measurements(_measurements([0.01, 1.0, 1.2], [True, False, False])).iloc[0]
    assert row["latency_s"] == pytest.approx(1.1) and not row["faster_than_physics"]
    only_flagged = merge_measurements(_measurements([0.01, 0.02], [True, True])).iloc[0]
    assert only_flagged["faster_than_physics"] and only_flagged["latency_s"] == pytest.approx(0.015)


def test_reason_kind_drops_row_specific_parts() -> None:
    assert reason_kind("unknown GPU 'x'; did you mean: a, b?") == "unknown GPU"
    assert reason_kind("tp 3 does not divide the 32 attention heads") == "tp does not divide the attention heads"
    assert reason_kind("KV cache disabled (the whole context ...)") == "KV cache disabled"


def test_combined_account_sums_and_lists() -> None:
    one = Account("a", "p", rows_read=3, kept=2, merged=0, rejected=1, rejections=[Rejection("f", 2, "bad")],
                  notes=[Note("f", 3, "n")])
    two = Account("b", "q", rows_read=2, kept=1, merged=1, rejected=0, exact_copies=1)
    total = Account.combine([one, two])
    assert (total.rows_read, total.kept, total.merged, total.rejected) == (5, 3, 1, 1)
    assert total.adds_up and total.to_dict()["rejections"] == ["f:2: bad"]
    assert np.isclose(len(total.notes), 1)
