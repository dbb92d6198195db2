"""benchmarks/slo_accuracy.py: the ideal calibrated predictor's picks on a hand-built group (no model, no data)."""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest
from _scripts import load_script


@pytest.fixture(scope="module")
def slo() -> ModuleType:
    return load_script("benchmarks/slo_accuracy.py", "slo_accuracy_benchmark")


# Three configurations: objective (output tokens/s per device) and ITL. The limit is the median ITL, 20 ms:
# rows 0 and 1 meet it, and the best of them is row 1.
OBJECTIVE = np.array([10.0, 20.0, 30.0])
ITL_S = np.array([0.010, 0.020, 0.030])


def test_median_ape_of_a_log_normal_error(slo: ModuleType) -> None:
    # median |eps| = 0.6745 sigma; as a percentage of the measured value: e^(0.06745) - 1 at sigma 0.1.
    assert slo.median_ape_pct(0.1) == pytest.approx(6.977, abs=1e-3)
    assert slo.median_ape_pct(0.0) == 0.0


def test_exact_prediction_without_spread_picks_the_best_within_the_limit(slo: ModuleType) -> None:
    regret, picked, breaks, top3 = slo.group_outcomes(OBJECTIVE, ITL_S, np.zeros((1, 3)), 0.0)
    assert picked.tolist() == [True] and breaks.tolist() == [False] and top3.tolist() == [True]
    assert regret.tolist() == [0.0]


def test_a_calibrated_p90_rules_out_the_best_at_the_limit(slo: ModuleType) -> None:
    # With sigma 0.1 the P90 is 2.0 ms x e^0.128 above the 20 ms limit: only row 0 is vouched for, 20/10 - 1 = 1.
    regret, picked, breaks, top3 = slo.group_outcomes(OBJECTIVE, ITL_S, np.zeros((1, 3)), 0.1)
    assert picked.tolist() == [True] and not breaks[0] and top3[0]
    assert regret[0] == pytest.approx(1.0)


def test_a_prediction_too_fast_breaks_the_limit(slo: ModuleType) -> None:
    # Every ITL predicted e^-0.5 of measured: row 2's 30 ms reads 18.2 ms, within the limit, and it is picked.
    regret, picked, breaks, top3 = slo.group_outcomes(OBJECTIVE, ITL_S, np.full((1, 3), -0.5), 0.0)
    assert picked[0] and breaks[0] and not top3[0]
    assert math.isinf(regret[0])


def test_a_prediction_too_slow_picks_nothing(slo: ModuleType) -> None:
    regret, picked, breaks, top3 = slo.group_outcomes(OBJECTIVE, ITL_S, np.full((1, 3), 1.0), 0.0)
    assert not picked[0] and not breaks[0] and not top3[0]
    assert math.isinf(regret[0])


def test_each_draw_scores_its_pick_as_the_regret_benchmark_does(slo: ModuleType) -> None:
    # group_outcomes is slo_outcome vectorised over draws: the same regret, break and top-3 for the pick it makes.
    regret_benchmark = load_script("benchmarks/regret.py", "regret_benchmark_for_slo")
    objective, itl_s = np.array([10.0, 40.0, 20.0, 30.0, 5.0]), np.array([0.010, 0.025, 0.020, 0.030, 0.005])
    eps = np.random.default_rng(7).normal(0.0, 0.3, size=(40, 5))
    regret, picked, breaks, top3 = slo.group_outcomes(objective, itl_s, eps, 0.1)
    limit_s = float(np.median(itl_s))
    for draw in range(len(eps)):
        feasible = itl_s * np.exp(eps[draw] + slo.Z_90 * 0.1) <= limit_s
        pick = int(np.argmax(np.where(feasible, objective * np.exp(-eps[draw]), -np.inf))) if feasible.any() else None
        expected = regret_benchmark.slo_outcome(objective, itl_s, limit_s, pick)
        assert (picked[draw], breaks[draw], top3[draw]) == (expected["picked"], expected["breaks"], expected["top3"])
        assert regret[draw] == expected["regret"]


def test_simulation_is_seeded_and_exact_without_spread(slo: ModuleType) -> None:
    groups = [(OBJECTIVE, ITL_S), (OBJECTIVE[::-1].copy(), ITL_S)]
    first = slo.simulate(groups, 0.1, 0.5, 50, np.random.default_rng(3))
    again = slo.simulate(groups, 0.1, 0.5, 50, np.random.default_rng(3))
    assert first == again
    exact = slo.simulate(groups, 0.0, 0.0, 5, np.random.default_rng(0))
    assert exact["median_regret_pct"] == 0.0 and exact["break_pct"] == 0.0 and exact["top3_hit_rate_pct"] == 100.0


def test_wider_spread_never_helps_on_average(slo: ModuleType) -> None:
    groups = [(OBJECTIVE, ITL_S)] * 5
    narrow = slo.simulate(groups, 0.02, 0.0, 400, np.random.default_rng(1))
    wide = slo.simulate(groups, 0.3, 0.0, 400, np.random.default_rng(1))
    assert narrow["top3_hit_rate_pct"] > wide["top3_hit_rate_pct"]
    assert narrow["break_pct"] < wide["break_pct"]


def test_widest_sigma_meeting_the_aims_stops_at_the_first_miss(slo: ModuleType) -> None:
    met = {"median_regret_pct": 0.0, "break_pct": 1.0, "top3_hit_rate_pct": 90.0}
    missed = {"median_regret_pct": 30.0, "break_pct": 1.0, "top3_hit_rate_pct": 90.0}
    rows = [{"sigma": 0.01, "rho": 0.0, **met}, {"sigma": 0.01, "rho": 1.0, **met},
            {"sigma": 0.05, "rho": 0.0, **met}, {"sigma": 0.05, "rho": 1.0, **missed},
            {"sigma": 0.10, "rho": 0.0, **met}, {"sigma": 0.10, "rho": 1.0, **met}]
    assert slo.widest_meeting(rows) == 0.01
    assert slo.widest_meeting([{"sigma": 0.01, "rho": 0.0, **missed}]) is None
    assert not slo.meets_aims({**met, "break_pct": 10.5})
