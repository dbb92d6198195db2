"""The search driver: Optuna agrees with enumeration, predicts each row once, starts from the roofline's picks."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from _tiny_model import tiny_model

from features.configs import CONFIG_COLUMNS
from features.errors import ConfigError, InfeasibleError
from surrogate.model import AnalyticPredictor, SurrogateModel
from surrogate.optimize import (
    OBJECTIVES,
    Inventory,
    OptimizeOptions,
    SearchSpace,
    Targets,
    Workload,
    enumerate_candidates,
    optimize,
    rank,
    score,
)

LLAMA_8B = "meta-llama/Meta-Llama-3-8B"
WORKLOAD = Workload(LLAMA_8B, 512, 128)
# 36 slices of 10 sequence counts (1, 2, 3, 4, 6, ..., 32: 360 rows): more trials than that must revisit slices.
SMALL = (Inventory.parse(["h100-sxm:2", "a100-sxm4-80gb:2"]), SearchSpace(frameworks=("vllm", "sglang"),
                                                                           max_sequences=32))
# 108 slices of 12 sequence counts (1, 2, 3, 4, 6, ..., 64: 1,296 rows): 64 trials evaluate under half of it.
LARGER = (Inventory.parse(["h100-sxm:4", "a100-sxm4-80gb:4"]),
          SearchSpace(frameworks=("vllm", "sglang", "tensorrt-llm"), max_sequences=64))


@pytest.fixture(scope="module")
def model() -> SurrogateModel:
    return tiny_model()


class _Counting:
    """A predictor that records every row it is asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[pd.DataFrame] = []

    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame:
        self.calls.append(configs[CONFIG_COLUMNS].copy())
        return self.inner.predict(configs, normalized=normalized)

    def rows(self) -> int:
        return sum(len(call) for call in self.calls)


def _keys(frame: pd.DataFrame) -> set[tuple[str, ...]]:
    """Configurations as hashable rows."""
    return set(frame[CONFIG_COLUMNS].astype(str).itertuples(index=False, name=None))


# A search of 64 trials need not find the optimum on every seed: for cost, seeds 0, 2, 4 and 5 of 0-5 do on the
# tiny model, seeds 1 and 3 stop at 0.283 and 0.248 against 0.230 (latency and throughput: all six find it).
@pytest.mark.parametrize(("objective", "seed"), [("latency", 0), ("cost", 0), ("throughput", 2)])
def test_tpe_with_few_trials_finds_the_exhaustive_optimum(model: SurrogateModel, objective: str, seed: int) -> None:
    inventory, space = LARGER
    targets = Targets(max_itl_s=0.03)
    exact = optimize(model, inventory, WORKLOAD, OptimizeOptions(objective=objective, targets=targets), space)
    searched = optimize(model, inventory, WORKLOAD, OptimizeOptions(objective=objective, targets=targets,
                                                                    search="optuna", trials=64, seed=seed), space)
    assert exact.method == "exhaustive" and searched.method == "tpe"
    assert len(searched.evaluated) < exact.space_size / 2  # a search, not an enumeration in disguise
    column = OBJECTIVES[objective].column
    assert searched.best[column] == pytest.approx(exact.best[column], rel=0.01)
    assert (searched.ranked["itl_s_p90"] <= 0.03).all()


def test_optuna_never_predicts_a_candidate_twice(model: SurrogateModel) -> None:
    inventory, space = SMALL
    counting = _Counting(model)
    result = optimize(counting, inventory, WORKLOAD, OptimizeOptions(search="optuna", trials=48, seed=0), space)
    assert result.history is not None and len(result.history) == 48  # > 36 slices: some came up again
    predicted = pd.concat(counting.calls)
    assert counting.rows() == len(_keys(predicted)) == len(result.evaluated)
    assert _keys(predicted) == _keys(result.evaluated)
    assert "48 trials" in result.searched and f"{len(result.evaluated):,} of {result.space_size:,}" in result.searched


def test_the_roofline_picks_the_first_trials(model: SurrogateModel) -> None:
    inventory, space = SMALL
    targets = Targets(max_itl_s=0.03)
    configs = enumerate_candidates(inventory, WORKLOAD, space).configs
    roofline = rank(score(configs, AnalyticPredictor().predict(configs, normalized=True), targets),
                    OBJECTIVES["throughput"])
    favourite = _keys(roofline.iloc[[0]])  # the roofline's best configuration by its own prediction
    options = OptimizeOptions(targets=targets, search="optuna", trials=10, seed=0, trials_per_batch=5)
    seeded, alone = _Counting(model), _Counting(model)
    with_picks = optimize(seeded, inventory, WORKLOAD, options, space, seed_predictor=AnalyticPredictor())
    without = optimize(alone, inventory, WORKLOAD, options, space)
    assert "(the first 1 the roofline's picks)" in with_picks.searched
    assert "roofline" not in without.searched and without.searched.startswith("TPE search: 10 trials, ")
    # The first batch the surrogate predicts holds the roofline's favourite; the same seed unaided does not.
    assert favourite <= _keys(seeded.calls[0])
    assert not favourite <= _keys(alone.calls[0])


def test_without_targets_a_tenth_of_the_trials_are_roofline_picks(model: SurrogateModel) -> None:
    inventory, space = SMALL
    result = optimize(model, inventory, WORKLOAD, OptimizeOptions(search="optuna", trials=30, seed=0), space,
                      seed_predictor=AnalyticPredictor())
    assert "(the first 3 the roofline's picks)" in result.searched


def test_cost_search_leaves_unpriced_hardware_out_of_the_study(model: SurrogateModel) -> None:
    inventory = Inventory.parse(["h100-sxm:2", "mi300x:2"])  # the catalog has no MI300X price
    space = SearchSpace(frameworks=("vllm",), max_sequences=16)
    counting = _Counting(model)
    result = optimize(counting, inventory, WORKLOAD, OptimizeOptions(objective="cost", search="optuna", trials=16),
                      space)
    assert result.notes[0] == "--objective cost leaves out mi300x: no price in the catalog"
    assert len(result.notes) == 2 and result.notes[1].startswith(
        "no latency limit given: ranked by USD per million output tokens alone; #1 waits ")
    all_rows = enumerate_candidates(inventory, WORKLOAD, space).configs
    assert result.space_size == int((all_rows["hardware"] == "h100-sxm").sum()) < len(all_rows)
    assert set(pd.concat(counting.calls)["hardware"]) == {"h100-sxm"}  # never even predicted
    assert result.best["cost_usd_per_mtok"] > 0


def test_throughput_objective_keeps_unpriced_hardware(model: SurrogateModel) -> None:
    inventory = Inventory.parse(["h100-sxm:2", "mi300x:2"])
    result = optimize(model, inventory, WORKLOAD, OptimizeOptions(), SearchSpace(frameworks=("vllm",),
                                                                                 max_sequences=16))
    assert len(result.notes) == 1 and result.notes[0].startswith("no latency limit given: ranked by output tokens/s")
    assert set(result.evaluated["hardware"]) == {"h100-sxm", "mi300x"}


def test_optuna_search_that_finds_nothing_raises_with_the_search_described(model: SurrogateModel) -> None:
    options = OptimizeOptions(search="optuna", trials=4, trials_per_batch=4, seed=0)
    with pytest.raises(InfeasibleError) as info:
        optimize(model, Inventory.parse(["h100-sxm:1"]), Workload("meta-llama/Llama-3.1-405B", 512, 128), options,
                 SearchSpace(frameworks=("vllm",), max_sequences=8))
    message = str(info.value)
    assert message.startswith("nothing fits in memory: ")
    assert "[TPE search: 4 trials, " in message
    assert message.endswith("; more --trials or --search exhaustive may find one")


def test_exhaustive_search_that_finds_nothing_does_not_suggest_more_trials(model: SurrogateModel) -> None:
    options = OptimizeOptions(targets=Targets(max_ttft_s=1e-6))
    with pytest.raises(InfeasibleError) as info:
        optimize(model, SMALL[0], WORKLOAD, options, SMALL[1])
    message = str(info.value)
    assert message.startswith("lowest predicted P90 TTFT is ") and "--trials" not in message
    assert message.endswith("[exhaustive over 360 configurations]")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"objective": "speed"}, "objective must be one of throughput, latency, cost, got 'speed'"),
    ({"search": "grid"}, "search must be one of auto, exhaustive, optuna, got 'grid'"),
    ({"trials": 0}, "trials, top_k and trials_per_batch must be at least 1"),
    ({"study_name": "s"}, "--study-name needs --storage (the study lives in that storage)"),
])
def test_options_reject_impossible_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        OptimizeOptions(**kwargs)
    assert str(info.value) == message
