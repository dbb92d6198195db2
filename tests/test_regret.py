"""benchmarks/regret.py: the SLO scenario's arithmetic on a hand-built group (no model, no data)."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from _scripts import load_script

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "regret.py"


@pytest.fixture(scope="module")
def regret() -> ModuleType:
    return load_script("benchmarks/regret.py", "regret_benchmark")


# Five measured configurations of one group: objective (output tokens/s per device) and ITL.
# The limit is the median measured ITL, 30 ms: rows 0, 1, 2 meet it; the best of them is row 2 (300),
# the top 3 are rows 2, 1, 0.
OBJECTIVE = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
ITL_S = np.array([0.010, 0.020, 0.030, 0.040, 0.050])


def _group() -> tuple[pd.DataFrame, pd.DataFrame]:
    cfg = pd.DataFrame({"hardware": "h100-sxm", "num_devices": 1, "tp": 1, "pp": 1, "dp": 1,
                        "batching": "continuous", "concurrency": [8, 16, 32, 64, 128], "batch_size": 1,
                        "input_len": 1024, "output_len": 101})
    throughput = np.array([90.0, 210.0, 350.0, 450.0, 600.0])  # predicted, per device (one device)
    predictions = pd.DataFrame({
        "itl_s": [0.008, 0.018, 0.025, 0.028, 0.045],
        "itl_s_p90": [0.012, 0.025, 0.033, 0.035, 0.060],   # rows 2 and 3 predicted within 30 ms only at the median
        "itl_s_p10": [0.006, 0.014, 0.020, 0.022, 0.035],   # row 3 measured (40 ms) above its P90
        "latency_s": 1.0, "ttft_s": 0.1,
        "mem_per_device_gb": [20.0, 90.0, 20.0, 20.0, 20.0], "mem_usable_gb": 70.0,
        "fits": [True, False, True, True, True],             # the memory model (wrongly) rejects row 1
        # The analytic model alone predicts every row above the limit.
        "analytic_itl_s": 0.05, "analytic_ttft_s": 0.1, "analytic_latency_s": 0.1 + 100 * 0.05,
        "extra_column_from_a_newer_model": "ignored",
    })
    for suffix in ["", "_p10", "_p90"]:
        predictions[f"output_throughput_tok_s{suffix}"] = throughput
    return cfg, predictions


def test_slo_entry_binds_the_p90_like_the_optimizer(regret: ModuleType) -> None:
    cfg, predictions = _group()
    entry = regret.slo_entry("g", OBJECTIVE, ITL_S, cfg, predictions)
    assert entry["limit_itl_s"] == pytest.approx(0.030)
    assert entry["configs_within_limit"] == 3
    assert (entry["itl_below_p10"], entry["itl_above_p90"]) == (0, 1)
    # P90 binding: rows 0 and 1 are within 30 ms at P90, row 1 does not fit -> row 0 (measured 100):
    # regret 300 / 100 - 1 = 2, within the limit, one of the three best that met it.
    assert entry["surrogate_picked"] and not entry["surrogate_breaks"]
    assert entry["surrogate_regret"] == pytest.approx(2.0)
    assert entry["surrogate_top3"]
    # Median binding admits row 3 (predicted 28 ms, 450 tok/s), which measured 40 ms: a break, a miss.
    assert entry["surrogate_p50_picked"] and entry["surrogate_p50_breaks"]
    assert math.isinf(entry["surrogate_p50_regret"]) and not entry["surrogate_p50_top3"]
    # Nothing predicted within the limit: the optimizer would raise InfeasibleError, so no pick, a miss.
    assert not entry["analytic_picked"] and not entry["analytic_breaks"] and not entry["analytic_top3"]
    assert math.isinf(entry["analytic_regret"]) and not entry["analytic_memory_ruled_out"]
    # Without the memory filter the P90 pick is row 1 (measured 200): regret 300 / 200 - 1 = 0.5.
    assert entry["unfiltered_regret"] == pytest.approx(0.5) and entry["unfiltered_top3"]
    # No running count in the predictions: no configuration is known to wait for its KV cache; no TTFT given.
    assert (entry["kv_cache_full"], entry["ttft_measured"], entry["ttft_outside"]) == (0, 0, 0)


def test_the_accuracy_line_scores_the_itl_and_ttft_it_ranked_by_beside_the_analytic_model(regret: ModuleType) -> None:
    cfg, predictions = _group()
    ttft = np.array([0.2, 0.1, np.nan, 0.05, 0.1])  # one configuration did not measure TTFT
    entry = regret.slo_entry("g", OBJECTIVE, ITL_S, cfg, predictions.assign(ttft_s_p10=0.05, ttft_s_p90=0.2), ttft)
    # ITL: 8/10, 18/20, 25/30, 28/40, 45/50 -> APE 0.2, 0.1, 1/6, 0.3, 0.1; analytic 50 ms: 4, 1.5, 2/3, 0.25, 0.
    np.testing.assert_allclose(entry["scored_itl_measured"], ITL_S)
    np.testing.assert_allclose(entry["scored_itl_surrogate"], [0.008, 0.018, 0.025, 0.028, 0.045])
    np.testing.assert_allclose(entry["scored_itl_analytic"], [0.05] * 5)
    np.testing.assert_allclose(entry["scored_ttft_measured"], [0.2, 0.1, 0.05, 0.1])  # the row without a TTFT left out
    np.testing.assert_allclose(entry["scored_ttft_surrogate"], [0.1] * 4)  # APE 0.5, 0, 1, 0
    frame = pd.DataFrame([entry, entry])
    assert regret._accuracy(frame, "itl", "surrogate") == "17.3 / 16.7"  # mean 0.8667 / 5, median 1/6
    assert regret._accuracy(frame, "itl", "analytic") == "128.3 / 66.7"  # mean 6.4167 / 5, median 2/3
    assert regret._accuracy(frame, "ttft", "surrogate") == "37.5 / 25.0"


def test_configurations_beyond_their_kv_cache_are_scored_apart(regret: ModuleType) -> None:
    cfg, predictions = _group()
    # Rows 3 and 4 (64 and 128 in flight) run 48 at once: beyond their KV cache.
    predictions = predictions.assign(running_sequences=[8, 16, 32, 48, 48], ttft_s_p10=0.05, ttft_s_p90=0.2)
    ttft = np.array([0.1, 0.3, 0.1, 0.5, np.nan])  # row 1 and row 3 above P90; row 4 not measured
    entry = regret.slo_entry("g", OBJECTIVE, ITL_S, cfg, predictions, ttft)
    assert regret.kv_cache_full(cfg, predictions).tolist() == [False, False, False, True, True]
    assert (entry["kv_cache_full"], entry["kv_cache_full_itl_outside"]) == (2, 1)  # row 3's 40 ms above 35 ms
    assert (entry["ttft_measured"], entry["kv_cache_full_ttft_measured"]) == (4, 1)
    assert (entry["ttft_outside"], entry["kv_cache_full_ttft_outside"]) == (2, 1)


def test_a_less_cautious_limit_admits_more(regret: ModuleType) -> None:
    cfg, predictions = _group()
    entry = regret.slo_entry("g", OBJECTIVE, ITL_S, cfg, predictions)
    # At P70 row 2 (28.0 ms, 350 tok/s predicted) is within 30 ms, row 3 (30.7 ms) is not: row 2 measured
    # 30 ms, the best that met the limit.
    assert entry["surrogate_p70_picked"] and not entry["surrogate_p70_breaks"]
    assert entry["surrogate_p70_regret"] == pytest.approx(0.0) and entry["surrogate_p70_top3"]
    # Measured above P70 (9.4, 20.6, 28.0, 30.7, 50.6 ms): rows 0, 2 and 3.
    assert entry["itl_above_p70"] == 3


def test_no_pick_when_memory_rules_out_everything_within_the_limit(regret: ModuleType) -> None:
    cfg, predictions = _group()
    pick, within = regret.slo_pick(cfg, predictions.assign(fits=False), 0.030, "p90")
    assert pick is None and within


def test_slo_outcome_counts_misses(regret: ModuleType) -> None:
    assert regret.slo_outcome(OBJECTIVE, ITL_S, 0.030, 2) == {"picked": True, "breaks": False, "regret": 0.0,
                                                               "top3": True}
    broke = regret.slo_outcome(OBJECTIVE, ITL_S, 0.030, 4)
    assert broke["breaks"] and math.isinf(broke["regret"]) and not broke["top3"]


def test_slo_summary(regret: ModuleType) -> None:
    inf = math.inf
    columns: dict[str, list[object]] = {"group": list("abcde")}
    for label in regret.SLO_PREDICTORS:
        columns |= {f"{label}_regret": [0.0, 0.1, 0.5, inf, inf],
                    f"{label}_picked": [True, True, True, True, False],
                    f"{label}_breaks": [False, False, False, True, False],
                    f"{label}_top3": [True, True, False, False, False],
                    f"{label}_memory_ruled_out": [False, False, False, False, True]}
    stats = regret.slo_summary(pd.DataFrame(columns))["surrogate"]
    assert stats["median_regret_pct"] == pytest.approx(50.0)      # median of 0, 0.1, 0.5, inf, inf
    assert stats["mean_regret_met_pct"] == pytest.approx(20.0)    # mean of the picks that met the limit
    assert stats["picks"] == 4 and stats["break_pct"] == pytest.approx(25.0)
    assert stats["no_pick"] == 1 and stats["no_pick_memory"] == 1
    assert stats["top3_hit_rate_pct"] == pytest.approx(40.0)


def test_exact_median_band_power(regret: ModuleType) -> None:
    """The exact-median predictor takes the measured ITL as its median and the surrogate's P90 / median raised
    to the band power: row 0's band 0.012 / 0.008 = 1.5, row 4's 0.060 / 0.045 = 4/3."""
    cfg, predictions = _group()
    own = regret.exact_median_predictions(predictions, OBJECTIVE, ITL_S, cfg)
    half = regret.exact_median_predictions(predictions, OBJECTIVE, ITL_S, cfg, band_power=0.5)
    assert own["itl_s"].tolist() == ITL_S.tolist() and bool(own["fits"].all())
    assert own["itl_s_p90"].iloc[0] == pytest.approx(0.015) and own["itl_s_p90"].iloc[4] == pytest.approx(0.050 * 4 / 3)
    assert half["itl_s_p90"].iloc[0] == pytest.approx(0.010 * 1.5 ** 0.5)
    assert half["itl_s_p90"].iloc[4] == pytest.approx(0.050 * (4 / 3) ** 0.5)
    # The best within the limit (30 ms, the median measured) is row 2, measured at the limit itself: any band
    # above the median puts its P90 over (30 x 1.32 ** 0.5 = 34.5 ms) and the pick falls to row 1; with no band
    # (power 0) the P90 is the measured ITL and row 2 is picked.
    limit = float(np.median(ITL_S))
    assert regret.slo_pick(cfg, own, limit, "p90")[0] == 1
    assert regret.slo_pick(cfg, half, limit, "p90")[0] == 1
    none = regret.exact_median_predictions(predictions, OBJECTIVE, ITL_S, cfg, band_power=0.0)
    assert regret.slo_pick(cfg, none, limit, "p90")[0] == 2


def test_best_at_limit(regret: ModuleType) -> None:
    """Five configurations: the limit is row 2's 30 ms and row 2 is the best within it; with row 2's objective
    below row 1's the best within the limit is row 1, under it."""
    assert regret.best_at_limit(OBJECTIVE, ITL_S, 0.030)
    assert not regret.best_at_limit(np.array([100.0, 300.0, 200.0, 400.0, 500.0]), ITL_S, 0.030)
    assert not regret.best_at_limit(OBJECTIVE, ITL_S, 0.005)   # nothing within the limit
