"""Scoring: objectives and constraint columns from hand-built predictions, ranking, Pareto fronts, targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from features.errors import ConfigError
from surrogate.optimize import (
    CONSTRAINT_COLUMNS,
    OBJECTIVES,
    PARETO_OBJECTIVES,
    Objective,
    Targets,
    pareto_front,
    rank,
    score,
)

# features/data/hardware.csv: a100-sxm4-40gb on demand, AWS p4d.24xlarge $21.957642/h / 8 GPUs.
A100_40GB_USD_PER_DEVICE_HOUR = 2.7447

_CONFIG_KEYS = ("hardware", "num_devices")
_DEFAULTS: dict[str, Any] = {
    "hardware": "h100-sxm", "num_devices": 1, "output_throughput_tok_s": 100.0, "itl_s": 0.01, "ttft_s": 0.1,
    "latency_s": 1.0, "mem_per_device_gb": 10.0, "mem_usable_gb": 72.0, "fits": True,
}


def _frames(rows: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Configurations and predictions for ``score``; unset P10/P90 columns equal the median."""
    full = [{**_DEFAULTS, **row} for row in rows]
    for row in full:
        for metric in ["output_throughput_tok_s", "itl_s", "ttft_s", "latency_s"]:
            for suffix in ["_p10", "_p90"]:
                row.setdefault(f"{metric}{suffix}", row[metric])
    table = pd.DataFrame(full)
    return table[list(_CONFIG_KEYS)], table.drop(columns=list(_CONFIG_KEYS))


def _score(rows: list[dict[str, Any]], targets: Targets | None = None) -> pd.DataFrame:
    configs, predictions = _frames(rows)
    return score(configs, predictions, targets or Targets())


def test_throughput_per_device_and_per_user_speed() -> None:
    scored = _score([
        {"num_devices": 4, "output_throughput_tok_s": 1000.0, "output_throughput_tok_s_p10": 600.0,
         "output_throughput_tok_s_p90": 1400.0, "itl_s": 0.02},
        {"num_devices": 1, "output_throughput_tok_s": 300.0, "itl_s": 0.004},
    ])
    assert scored["throughput_per_device_tok_s"].tolist() == pytest.approx([250.0, 300.0])
    assert scored["throughput_per_device_tok_s_p10"].tolist() == pytest.approx([150.0, 300.0])
    assert scored["throughput_per_device_tok_s_p90"].tolist() == pytest.approx([350.0, 300.0])
    assert scored["per_user_tok_s"].tolist() == pytest.approx([50.0, 250.0])


def test_cost_per_million_tokens_uses_the_catalog_price() -> None:
    scored = _score([
        {"hardware": "a100-sxm4-40gb", "num_devices": 4, "output_throughput_tok_s": 1000.0},
        {"hardware": "mi300x", "num_devices": 2, "output_throughput_tok_s": 1000.0},  # no catalog price
    ])
    # 4 devices x $2.7447/h = $10.9788/h = $0.00304967/s; at 1000 tok/s that is $3.04967 per million tokens.
    assert A100_40GB_USD_PER_DEVICE_HOUR * 4 / 3600 / 1000 * 1e6 == pytest.approx(3.04967, rel=1e-5)
    assert scored.loc[0, "price_usd_per_device_hour"] == pytest.approx(A100_40GB_USD_PER_DEVICE_HOUR)
    assert scored.loc[0, "cost_usd_per_mtok"] == pytest.approx(3.04967, rel=1e-5)
    assert np.isnan(scored.loc[1, "cost_usd_per_mtok"])


def test_memory_violation_follows_the_fits_verdict() -> None:
    scored = _score([
        {"mem_per_device_gb": 30.0, "mem_usable_gb": 72.0, "fits": True},
        {"mem_per_device_gb": 80.0, "mem_usable_gb": 72.0, "fits": False},
        # The analytic model can reject a layout whose total looks small (one shard overflows) ...
        {"mem_per_device_gb": 70.0, "mem_usable_gb": 72.0, "fits": False},
        # ... and accept one a rounding hair over the total.
        {"mem_per_device_gb": 72.001, "mem_usable_gb": 72.0, "fits": True},
    ])
    over = scored["memory_over_gb"].to_numpy()
    assert over[0] == pytest.approx(-42.0) and over[1] == pytest.approx(8.0)
    assert over[2] > 0 and over[3] <= 0
    assert scored["feasible"].tolist() == [True, False, False, True]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 200.0), st.floats(1.0, 200.0), st.booleans()), min_size=1, max_size=8))
def test_memory_violation_sign_agrees_with_fits(rows: list[tuple[float, float, bool]]) -> None:
    scored = _score([{"mem_per_device_gb": m, "mem_usable_gb": u, "fits": f} for m, u, f in rows])
    assert ((scored["memory_over_gb"] > 0) == ~scored["fits"]).all()
    assert (scored["feasible"] == scored["fits"]).all()  # no latency targets: memory alone decides


@pytest.mark.parametrize(("risk", "feasible"), [("p90", [True, False]), ("p50", [True, True])])
def test_latency_targets_use_the_risk_quantile(risk: str, feasible: list[bool]) -> None:
    rows = [{"itl_s": 0.01, "itl_s_p90": 0.02, "ttft_s": 0.1, "ttft_s_p90": 0.2, "latency_s": 1.0},
            {"itl_s": 0.02, "itl_s_p90": 0.04, "ttft_s": 0.2, "ttft_s_p90": 0.5, "latency_s": 1.0}]
    targets = Targets(max_itl_s=0.03, max_ttft_s=0.25, risk=risk)
    scored = _score(rows, targets)
    suffix = "_p90" if risk == "p90" else ""
    for metric, limit in [("itl", 0.03), ("ttft", 0.25)]:
        expected = [row[f"{metric}_s{suffix}"] - limit for row in rows]
        assert scored[f"{metric}_over_s"].tolist() == pytest.approx(expected)
    assert (scored["latency_over_s"] == 0.0).all()  # no limit given: never violated
    assert scored["feasible"].tolist() == feasible


def test_a_p80_limit_binds_the_level_read_off_the_band() -> None:
    # ITL 10 ms, P90 20 ms: P80 = 10 ms x 2 ** (z_0.8 / z_0.9) = 10 ms x 2 ** 0.6567 = 15.765 ms.
    rows = [{"itl_s": 0.01, "itl_s_p90": 0.02, "ttft_s": 0.1, "ttft_s_p90": 0.2, "latency_s": 1.0}]
    scored = _score(rows, Targets(max_itl_s=0.016, risk="p80"))
    assert scored.loc[0, "itl_s_p80"] == pytest.approx(0.015765, abs=1e-6)
    assert scored.loc[0, "itl_over_s"] == pytest.approx(0.015765 - 0.016, abs=1e-6)
    assert bool(scored.loc[0, "feasible"])
    assert not bool(_score(rows, Targets(max_itl_s=0.015, risk="p80")).loc[0, "feasible"])
    assert "ttft_s_p80" not in scored  # only the metrics with a limit are read off


def test_a_value_exactly_at_the_limit_is_feasible() -> None:
    scored = _score([{"latency_s": 0.5, "latency_s_p90": 0.5}], Targets(max_latency_s=0.5))
    assert scored.loc[0, "latency_over_s"] == 0.0 and bool(scored.loc[0, "feasible"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.005, 0.01, 0.02, 0.04]), st.sampled_from([0.05, 0.1, 0.5]),
                          st.booleans()), min_size=1, max_size=8),
       st.sampled_from(["p50", "p90"]))
def test_feasible_iff_every_constraint_is_at_most_zero(rows: list[tuple[float, float, bool]], risk: str) -> None:
    scored = _score([{"itl_s": itl, "itl_s_p90": 2 * itl, "ttft_s": ttft, "ttft_s_p90": 1.5 * ttft, "fits": fits}
                     for itl, ttft, fits in rows], Targets(max_itl_s=0.02, max_ttft_s=0.1, risk=risk))
    expected = (scored[CONSTRAINT_COLUMNS] <= 0).all(axis=1)
    assert (scored["feasible"] == expected).all()


def test_rank_breaks_ties_by_devices_then_latency_then_input_order() -> None:
    scored = _score([
        {"num_devices": 2, "output_throughput_tok_s": 200.0, "latency_s": 1.0},  # 100 per device, 2 devices
        {"num_devices": 1, "output_throughput_tok_s": 100.0, "latency_s": 2.0},  # 100, 1 device, slower
        {"num_devices": 1, "output_throughput_tok_s": 100.0, "latency_s": 1.0},  # 100, 1 device, faster
        {"num_devices": 1, "output_throughput_tok_s": 100.0, "latency_s": 1.0},  # same as the row above
        {"num_devices": 1, "output_throughput_tok_s": 900.0, "fits": False},  # best, but does not fit
        {"num_devices": 4, "output_throughput_tok_s": 200.0, "latency_s": 0.1},  # 50 per device
    ])
    ranked = rank(scored, OBJECTIVES["throughput"])
    assert ranked.index.tolist() == [2, 3, 1, 0, 5]
    by_latency = rank(scored, OBJECTIVES["latency"])
    assert by_latency.index.tolist() == [5, 2, 3, 0, 1]  # 1.0 s rows: 1 device before 2, then input order


def test_rank_of_nothing_feasible_is_empty() -> None:
    assert rank(_score([{"fits": False}, {"fits": False}]), OBJECTIVES["cost"]).empty


def _pareto_rows(points: list[tuple[float, float, bool]]) -> list[dict[str, Any]]:
    """(throughput per device, per-user tok/s, fits) as score inputs on one device."""
    return [{"output_throughput_tok_s": t, "itl_s": 1.0 / u, "fits": f} for t, u, f in points]


def test_pareto_front_keeps_exactly_the_non_dominated_points() -> None:
    scored = _score(_pareto_rows([
        (100.0, 10.0, True),
        (80.0, 20.0, True),
        (80.0, 20.0, True),  # duplicate of the point above: one of the two is kept
        (70.0, 15.0, True),  # dominated by (80, 20)
        (50.0, 30.0, True),
        (120.0, 10.0, False),  # would dominate (100, 10), but does not fit
        (40.0, 30.0, True),  # ties (50, 30) on per-user speed, worse on throughput
    ]))
    front = pareto_front(scored, PARETO_OBJECTIVES)
    assert front["throughput_per_device_tok_s"].tolist() == pytest.approx([100.0, 80.0, 50.0])
    assert front["per_user_tok_s"].tolist() == pytest.approx([10.0, 20.0, 30.0])
    assert len(set(front.index) & {1, 2}) == 1 and {0, 4} <= set(front.index)


def test_pareto_front_of_nothing_feasible_is_empty() -> None:
    assert pareto_front(_score(_pareto_rows([(1.0, 1.0, False)])), PARETO_OBJECTIVES).empty


def test_pareto_front_respects_minimised_objectives() -> None:
    # Catalog prices: l4 $0.8048/h -> $2.24 per million tokens at 100 tok/s; h100-sxm $6.88/h -> $3.82 at 500.
    cheap_slow = {"hardware": "l4", "output_throughput_tok_s": 100.0}
    dear_fast = {"hardware": "h100-sxm", "output_throughput_tok_s": 500.0}
    dear_slow = {"hardware": "h100-sxm", "output_throughput_tok_s": 50.0}  # worse than both on both axes
    scored = _score([cheap_slow, dear_fast, dear_slow])
    objectives = (OBJECTIVES["throughput"], OBJECTIVES["cost"])
    assert sorted(pareto_front(scored, objectives).index.tolist()) == [0, 1]


def _oriented(frame: pd.DataFrame, objectives: tuple[Objective, ...]) -> np.ndarray:
    """Objective values with larger always better."""
    return np.column_stack([frame[o.column].to_numpy(dtype=float) * (1 if o.maximize else -1) for o in objectives])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6).map(float), st.sampled_from([5.0, 10.0, 20.0, 40.0]), st.booleans()),
                min_size=1, max_size=12))
def test_pareto_front_property(points: list[tuple[float, float, bool]]) -> None:
    scored = _score(_pareto_rows(points))
    front = pareto_front(scored, PARETO_OBJECTIVES)
    feasible = scored[scored["feasible"]]
    assert set(front.index) <= set(feasible.index)
    if feasible.empty:
        assert front.empty
        return
    front_values = _oriented(front, PARETO_OBJECTIVES)
    all_values = _oriented(feasible, PARETO_OBJECTIVES)
    for point in front_values:  # no feasible row beats a front point
        dominated = (all_values >= point).all(axis=1) & (all_values > point).any(axis=1)
        assert not dominated.any()
    for label, point in zip(feasible.index, all_values, strict=True):  # the rest are covered by the front
        if label not in front.index:
            assert (front_values >= point).all(axis=1).any()
    # No two front points are equal.
    assert len({tuple(p) for p in front_values}) == len(front_values)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_itl_s": 0.0}, "--max-itl-s must be positive, got 0.0"),
    ({"max_ttft_s": -1.0}, "--max-ttft-s must be positive, got -1.0"),
    ({"max_latency_s": float("nan")}, "--max-latency-s must be positive, got nan"),
    ({"risk": "p99"}, "risk must be one of p50, p80, p90, got 'p99'"),
])
def test_targets_reject_bad_limits_and_risks(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Targets(**kwargs)
    assert str(info.value) == message


def test_targets_name_the_checked_column() -> None:
    assert Targets(risk="p90").column("itl_s") == "itl_s_p90"
    assert Targets(risk="p50").column("itl_s") == "itl_s"
    assert Targets(risk="p80").column("itl_s") == "itl_s_p80"
    assert Targets(max_itl_s=0.05, max_latency_s=2.0).given() == {"itl_s": 0.05, "latency_s": 2.0}
