"""The faster-than-physics check: bounds computed by hand, flags only below half of them."""

from __future__ import annotations

import pandas as pd
import pytest

from features import catalog
from surrogate.ingest.physics import PHYSICS_FLOOR_RATIO, flag_faster_than_physics, lower_bounds
from surrogate.ingest.schema import MEASUREMENT_COLUMNS, empty_frame


def _rows(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    frame = empty_frame(MEASUREMENT_COLUMNS).reindex(range(n))
    base = {"hardware": "h100-sxm", "model": "Qwen/Qwen2-7B", "framework": "tensorrt-llm", "mode": "aggregated",
            "batching": "static", "batch_size": 1, "tp": 1, "pp": 1, "dp": 1, "ep": 1, "num_devices": 1,
            "weight_dtype": "fp16", "kv_dtype": "fp16", "input_len": 2048, "output_len": 2048,
            "source_file": "f.csv", "source_line": 2}
    for name, value in {**base, **columns}.items():
        frame[name] = value
    return frame


def test_static_bound_is_at_least_streaming_the_weights_once_per_step() -> None:
    # 2047 decode steps of a 15.2 GB fp16 model at 3.35 TB/s (H100 SXM datasheet) is over 9 s.
    weights_gb = catalog.get_model("Qwen/Qwen2-7B").total_params * 2 / 1e9
    per_step_s = weights_gb / catalog.get_hardware("h100-sxm").mem_bw_gbps
    bound = lower_bounds(_rows(latency_s=[1.0]))["latency_s"].iloc[0]
    assert bound >= 2047 * per_step_s and bound < 2 * 2047 * per_step_s


def test_flags_below_half_the_bound_only() -> None:
    bound = lower_bounds(_rows(latency_s=[1.0]))["latency_s"].iloc[0]
    rows = _rows(latency_s=[0.0826, 0.4 * bound, 0.6 * bound, 2 * bound], source_line=[2, 3, 4, 5])
    flagged, notes = flag_faster_than_physics(rows)
    assert flagged.tolist() == [True, True, False, False]
    assert PHYSICS_FLOOR_RATIO == 0.5
    assert str(notes[0]).startswith("f.csv:2: faster than physics: latency_s 0.0826 s is 0.009x")


def test_serving_rows_are_bounded_by_one_request_not_by_their_concurrency() -> None:
    rows = _rows(batching=["continuous"], concurrency=[512], batch_size=[pd.NA], input_len=[1024], output_len=[1024],
                 itl_s=[1.0], ttft_s=[1.0])
    bounds = lower_bounds(rows).iloc[0]
    # One sequence: a decode step streams the 15.2 GB of weights once, about 4.5 ms at 3.35 TB/s. With
    # all 512 requests decoding every step it would be several times longer.
    weights_s = catalog.get_model("Qwen/Qwen2-7B").total_params * 2 / 1e9 / catalog.get_hardware("h100-sxm").mem_bw_gbps
    assert bounds["itl_s"] == pytest.approx(weights_s, rel=0.1)
    assert pd.isna(bounds["latency_s"])


def test_disaggregated_rows_use_their_worker_shapes() -> None:
    rows = _rows(mode=["disaggregated"], batching=["continuous"], concurrency=[64], tp=[pd.NA], pp=[pd.NA],
                 dp=[pd.NA], ep=[pd.NA], num_devices=[pd.NA], batch_size=[pd.NA], prefill_tp=[2], prefill_pp=[1],
                 prefill_dp=[1], prefill_ep=[1], decode_tp=[4], decode_pp=[1], decode_dp=[1], decode_ep=[1],
                 ttft_s=[1.0], itl_s=[1.0], input_len=[1024], output_len=[256])
    bounds = lower_bounds(rows).iloc[0]
    assert bounds[["ttft_s", "itl_s"]].notna().all()


def _attention_dp_row(**columns: list) -> pd.DataFrame:
    return _rows(model=["deepseek-ai/DeepSeek-V3"], hardware=["h200"], framework=["sglang"], weight_dtype=["fp8"],
                 kv_dtype=["fp8"], batching=["continuous"], batch_size=[pd.NA], concurrency=[64], input_len=[1024],
                 output_len=[256], itl_s=[1.0], ttft_s=[1.0], **columns)


def test_one_request_under_attention_data_parallelism_spans_every_device_its_experts_do() -> None:
    # tp 2 x dp 4 replicas with experts over all 8 devices: one replica of dp = 1 could not hold ep 8
    # (it once had no bound at all); the request is bounded as tp 8, ep 8 serving it alone.
    spread = lower_bounds(_attention_dp_row(tp=[2], dp=[4], ep=[8], num_devices=[8])).iloc[0]
    alone = lower_bounds(_attention_dp_row(tp=[8], dp=[1], ep=[8], num_devices=[8])).iloc[0]
    assert spread[["ttft_s", "itl_s"]].notna().all()
    assert spread["itl_s"] == pytest.approx(alone["itl_s"], rel=1e-12)
    assert spread["ttft_s"] == pytest.approx(alone["ttft_s"], rel=1e-12)


def test_an_impossible_one_request_shape_leaves_the_other_rows_bounded() -> None:
    # tp 64 does not divide Qwen2-7B's 28 heads: that row has no bound, its neighbours keep theirs.
    rows = _rows(batching=["continuous"] * 3, batch_size=[pd.NA] * 3, concurrency=[8] * 3, input_len=[1024] * 3,
                 output_len=[256] * 3, itl_s=[1.0] * 3, tp=[1, 64, 2], dp=[1, 1, 1], ep=[1, 1, 1],
                 num_devices=[1, 64, 2])
    bounds = lower_bounds(rows)
    assert bounds["itl_s"].notna().tolist() == [True, False, True]
    assert bounds.loc[2, "itl_s"] < bounds.loc[0, "itl_s"]
