"""The optimizer: exact on small spaces, constraints never violated, seeded, clear when infeasible."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from _tiny_model import tiny_model
from hypothesis import HealthCheck, given, settings, strategies as st

import features
from features.configs import CONFIG_COLUMNS
from features.errors import ConfigError, InfeasibleError
from surrogate.model import SurrogateModel
from surrogate.optimize import (
    OBJECTIVES,
    PARETO_OBJECTIVES,
    Inventory,
    OptimizeOptions,
    SearchSpace,
    Targets,
    Workload,
    enumerate_candidates,
    open_storage,
    optimize,
    score,
)
from surrogate.optimize._search import _mixed_eras
from surrogate.report import launch_command, recommendation

LLAMA_8B = "meta-llama/Meta-Llama-3-8B"
SMALL_SPACE = SearchSpace(frameworks=("vllm", "sglang"), max_sequences=64)


@pytest.fixture(scope="module")
def model() -> SurrogateModel:
    return tiny_model()


def _brute_force_best(model: SurrogateModel, inventory: Inventory, workload: Workload, space: SearchSpace,
                      targets: Targets, objective: str) -> pd.Series:
    configs = enumerate_candidates(inventory, workload, space).configs
    scored = score(configs, model.predict(configs), targets)
    ok = scored[scored["feasible"]]
    column = OBJECTIVES[objective].column
    best_value = ok[column].max() if OBJECTIVES[objective].maximize else ok[column].min()
    return ok[ok[column] == best_value].iloc[0]


@pytest.mark.parametrize("objective", ["throughput", "latency", "cost"])
def test_exhaustive_best_equals_brute_force(model: SurrogateModel, objective: str) -> None:
    inventory = Inventory.parse(["h100-sxm:4", "a100-sxm4-80gb:4"])
    workload = Workload(LLAMA_8B, 512, 128)
    targets = Targets(max_itl_s=0.03)
    result = optimize(model, inventory, workload, OptimizeOptions(objective=objective, targets=targets), SMALL_SPACE)
    expected = _brute_force_best(model, inventory, workload, SMALL_SPACE, targets, objective)
    column = OBJECTIVES[objective].column
    assert result.method == "exhaustive" and "exhaustive over" in result.searched
    assert result.best[column] == pytest.approx(expected[column])
    assert result.why and "better than the runner-up" in result.why


def test_optuna_finds_the_exhaustive_best_on_a_small_space(model: SurrogateModel) -> None:
    inventory = Inventory.parse(["h100-sxm:2"])
    workload = Workload(LLAMA_8B, 512, 128)
    space = SearchSpace(frameworks=("vllm", "tensorrt-llm"), max_sequences=32)
    exact = optimize(model, inventory, workload, OptimizeOptions(), space)
    searched = optimize(model, inventory, workload, OptimizeOptions(search="optuna", trials=120, seed=3), space)
    assert searched.method == "tpe" and exact.space_size < 300  # 24 slices x 10 sequence counts
    assert searched.best["throughput_per_device_tok_s"] == pytest.approx(exact.best["throughput_per_device_tok_s"])


_POOLS = st.dictionaries(st.sampled_from(["h100-sxm", "a100-sxm4-40gb", "l40s"]), st.integers(1, 4),
                         min_size=1, max_size=2)


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pools=_POOLS, input_len=st.sampled_from([128, 1024, 4096]), output_len=st.sampled_from([32, 256]),
       concurrency=st.one_of(st.none(), st.sampled_from([1, 8, 64])),
       max_itl_s=st.one_of(st.none(), st.floats(0.005, 0.1)), max_ttft_s=st.one_of(st.none(), st.floats(0.05, 5.0)),
       risk=st.sampled_from(["p50", "p80", "p90"]), search=st.sampled_from(["exhaustive", "optuna"]))
def test_returned_configurations_never_violate_constraints(model: SurrogateModel, pools: dict[str, int],
                                                           input_len: int, output_len: int, concurrency: int | None,
                                                           max_itl_s: float | None, max_ttft_s: float | None,
                                                           risk: str, search: str) -> None:
    inventory = Inventory.parse([f"{h}:{c}" for h, c in pools.items()])
    workload = Workload(LLAMA_8B, input_len, output_len, concurrency)
    targets = Targets(max_itl_s=max_itl_s, max_ttft_s=max_ttft_s, risk=risk)
    options = OptimizeOptions(targets=targets, search=search, trials=40, pareto=search == "exhaustive")
    try:
        result = optimize(model, inventory, workload, options, SMALL_SPACE)
    except InfeasibleError as exc:
        assert str(exc)
        return
    suffix = "" if risk == "p50" else "_p90"
    for table in [result.ranked, result.front]:
        if table is None:
            continue
        assert table["fits"].all()
        assert (table["mem_per_device_gb"] <= table["mem_usable_gb"] + 1e-9).all()
        for metric, limit in [("itl_s", max_itl_s), ("ttft_s", max_ttft_s)]:
            if limit is not None:
                assert (table[f"{metric}{suffix}"] <= limit).all()
        for hardware, rows in table.groupby("hardware"):
            assert (rows["num_devices"] <= pools[str(hardware)]).all()
        if concurrency is not None:
            assert (table["concurrency"] * table["dp"] >= concurrency).all()


def test_same_seed_same_recommendation(model: SurrogateModel) -> None:
    inventory = Inventory.parse(["h100-sxm:4", "a100-sxm4-80gb:4"])
    workload = Workload(LLAMA_8B, 512, 128, concurrency=32)
    options = OptimizeOptions(search="optuna", trials=48, seed=7)
    first = optimize(model, inventory, workload, options, SMALL_SPACE)
    second = optimize(model, inventory, workload, options, SMALL_SPACE)
    assert recommendation(first.best) == recommendation(second.best)
    assert first.evaluated.equals(second.evaluated)


def test_memory_infeasible_names_devices_needed(model: SurrogateModel) -> None:
    with pytest.raises(InfeasibleError, match=r"nothing fits in memory.*needs \d+x h100-sxm at bf16, or \d+x at fp8"):
        optimize(model, Inventory.parse(["h100-sxm:1"]), Workload("meta-llama/Llama-3.1-405B", 512, 128))


def test_latency_infeasible_names_the_binding_target(model: SurrogateModel) -> None:
    options = OptimizeOptions(targets=Targets(max_itl_s=1e-4))
    with pytest.raises(InfeasibleError, match=r"lowest predicted P90 ITL is .* > 100 us|lowest predicted P90 ITL"):
        optimize(model, Inventory.parse(["h100-sxm:2"]), Workload(LLAMA_8B, 512, 128), options, SMALL_SPACE)


def test_a_request_rate_sets_each_candidates_load_by_littles_law(model: SurrogateModel) -> None:
    from surrogate.model import predict_at_rate

    inventory = Inventory.parse(["h100-sxm:4"])
    workload = Workload(LLAMA_8B, 512, 128, request_rate_per_s=3.0)
    result = optimize(model, inventory, workload, OptimizeOptions(targets=Targets(max_itl_s=0.05)), SMALL_SPACE)
    best = result.best
    # Every replica count is searched; the pick's in-flight count is its own settling point at this rate.
    assert set(result.evaluated["dp"]) == {1, 2, 3, 4}
    settled, problems = predict_at_rate(model, pd.DataFrame([best[CONFIG_COLUMNS]]).assign(concurrency=1,
                                                                                             batch_size=1), 3.0)
    assert not problems and int(settled["concurrency"].iloc[0]) == int(best["concurrency"])
    # Throughput is the arrival rate's tokens, shared by the devices: the fewest devices win.
    assert best["output_throughput_tok_s"] == pytest.approx(3.0 * 128)
    assert best["throughput_per_device_tok_s"] == pytest.approx(3.0 * 128 / best["num_devices"])
    assert best["num_devices"] == result.ranked["num_devices"].min()
    assert (result.evaluated["request_rate_per_s"] == 3.0).all()
    searched = optimize(model, inventory, workload, OptimizeOptions(targets=Targets(max_itl_s=0.05), search="optuna",
                                                                    trials=40, seed=1), SMALL_SPACE)
    assert searched.method == "tpe"
    assert searched.best["throughput_per_device_tok_s"] == pytest.approx(best["throughput_per_device_tok_s"])


def test_a_request_rate_no_candidate_keeps_up_with_is_refused_with_the_capacity(model: SurrogateModel) -> None:
    workload = Workload(LLAMA_8B, 512, 128, request_rate_per_s=1e6)
    with pytest.raises(InfeasibleError, match=r"the request rate 1e\+06/s exceeds what every configuration serves: "
                                              r"the most is about .* requests/s .*; add devices or lower the rate"):
        optimize(model, Inventory.parse(["h100-sxm:2"]), workload, OptimizeOptions(), SMALL_SPACE)


def test_a_request_rate_and_a_concurrency_together_are_refused(model: SurrogateModel) -> None:
    with pytest.raises(ConfigError, match="give a concurrency or a request rate, not both"):
        enumerate_candidates(Inventory.parse(["h100-sxm:1"]), Workload(LLAMA_8B, 512, 128, concurrency=4,
                                                                        request_rate_per_s=2.0))


def test_cost_objective_leaves_out_unpriced_hardware(model: SurrogateModel) -> None:
    inventory = Inventory.parse(["h100-sxm:2", "mi300x:2"])  # the catalog has no MI300X price
    result = optimize(model, inventory, Workload(LLAMA_8B, 512, 128), OptimizeOptions(objective="cost"))
    assert set(result.ranked["hardware"]) == {"h100-sxm"}
    assert any("mi300x" in note for note in result.notes)
    with pytest.raises(InfeasibleError, match="no catalog price"):
        optimize(model, Inventory.parse(["mi300x:2"]), Workload(LLAMA_8B, 512, 128), OptimizeOptions(objective="cost"))


def test_pareto_front_is_not_dominated(model: SurrogateModel) -> None:
    result = optimize(model, Inventory.parse(["h100-sxm:2", "a100-sxm4-80gb:2"]), Workload(LLAMA_8B, 512, 128),
                      OptimizeOptions(pareto=True), SMALL_SPACE)
    assert result.front is not None and len(result.front) >= 2
    assert len(result.pareto_objectives) == 3  # both devices are priced: cost is the third axis
    columns = [o.column for o in result.pareto_objectives]
    signs = np.array([-1.0 if o.maximize else 1.0 for o in result.pareto_objectives])
    front = result.front[columns].to_numpy() * signs
    everything = result.evaluated[result.evaluated["feasible"]][columns].to_numpy() * signs
    for point in front:
        dominated = (everything <= point).all(axis=1) & (everything < point).any(axis=1)
        assert not dominated.any()
    assert PARETO_OBJECTIVES[0].column == "throughput_per_device_tok_s"


def test_pareto_search_with_nsga2(model: SurrogateModel) -> None:
    inventory = Inventory.parse(["h100-sxm:2", "mi300x:2"])  # MI300X has no price: no cost axis
    result = optimize(model, inventory, Workload(LLAMA_8B, 512, 128),
                      OptimizeOptions(pareto=True, search="optuna", trials=48), SMALL_SPACE)
    assert result.method == "nsga2" and result.front is not None and len(result.front) >= 1
    assert result.front["feasible"].all() and len(result.pareto_objectives) == 2
    assert any("without cost" in note for note in result.notes)


def test_storage_accumulates_trials_and_refuses_other_requests(model: SurrogateModel, tmp_path: object) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    inventory = Inventory.parse(["h100-sxm:2"])
    workload = Workload(LLAMA_8B, 512, 128)
    options = OptimizeOptions(trials=12, storage=storage, study_name="shared", trials_per_batch=4)
    first = optimize(model, inventory, workload, options, SMALL_SPACE)
    assert first.method == "tpe" and first.study_name == "shared"
    optimize(model, inventory, workload, OptimizeOptions(trials=12, storage=storage, study_name="shared", seed=1),
             SMALL_SPACE)
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 24
    assert all(set(t.constraints) >= {"memory_over_gb", "itl_over_s"} for t in study.trials)
    with pytest.raises(ConfigError, match="another request"):
        optimize(model, inventory, Workload(LLAMA_8B, 1024, 128), options, SMALL_SPACE)


def test_journal_files_and_bad_storage_strings(tmp_path: object) -> None:
    assert isinstance(open_storage(f"{tmp_path}/study.log"), optuna.storages.JournalStorage)
    assert open_storage("study.db") == "sqlite:///study.db"
    with pytest.raises(ConfigError):
        open_storage("not-a-storage")


@pytest.mark.parametrize(("framework", "expected"), [
    ("vllm", "vllm serve m --tensor-parallel-size 2 --pipeline-parallel-size 1 --data-parallel-size 2 "
             "--max-model-len 1280 --max-num-seqs 64 --quantization fp8 --kv-cache-dtype fp8"),
    ("sglang", "python -m sglang.launch_server --model-path m --tp 2 --dp 2 --context-length 1280"),
    ("tensorrt-llm", "trtllm-serve m --tp_size 2 --pp_size 1 --max_batch_size 64 --max_seq_len 1280"),
])
def test_launch_commands(framework: str, expected: str) -> None:
    row = pd.Series({"framework": framework, "model": "m", "tp": 2, "pp": 1, "dp": 2, "num_devices": 4,
                     "hardware": "h100-sxm", "weight_dtype": "fp8", "kv_dtype": "fp8", "batching": "continuous",
                     "batch_size": 64, "concurrency": 64, "input_len": 1024, "output_len": 256})
    assert launch_command(row).startswith(expected)
    if framework == "tensorrt-llm":
        assert "2 such replicas" in launch_command(row)


def test_a_publishers_checkpoint_is_what_the_recommendation_launches(model: SurrogateModel) -> None:
    result = optimize(model, Inventory.parse(["b200:1"]), Workload("nvidia/Qwen3-32B-NVFP4", 512, 128),
                      OptimizeOptions(), SearchSpace(frameworks=("vllm",)))
    assert result.best["weight_dtype"] == "fp4" and result.best["model"] == "Qwen/Qwen3-32B"
    assert recommendation(result.best).startswith("Recommended on 1x b200: vllm serve nvidia/Qwen3-32B-NVFP4 ")
    plain = optimize(model, Inventory.parse(["b200:1"]), Workload("Qwen/Qwen3-32B", 512, 128),
                     OptimizeOptions(), SearchSpace(frameworks=("vllm",)))
    assert "vllm serve Qwen/Qwen3-32B " in recommendation(plain.best)


@pytest.mark.parametrize(("asked", "launched"), [
    ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),  # a fine-tune priced as its base
    ("meta-llama/llama-3.1-8b", "meta-llama/Llama-3.1-8B"),  # the catalog id, written in other case
    ("llama-3.1-8b", "meta-llama/Llama-3.1-8B"),  # a short name is no repository
])
def test_the_recommendation_launches_the_repository_the_user_named(model: SurrogateModel, asked: str,
                                                                   launched: str) -> None:
    result = optimize(model, Inventory.parse(["h100-sxm:1"]), Workload(asked, 512, 128), OptimizeOptions(),
                      SearchSpace(frameworks=("vllm",)))
    assert result.best["model"] == "meta-llama/Llama-3.1-8B"
    assert recommendation(result.best).startswith(f"Recommended on 1x h100-sxm: vllm serve {launched} ")


def test_a_config_json_launches_its_directory(model: SurrogateModel, tmp_path: Path) -> None:
    shutil.copy(Path(features.__file__).parent / "data" / "hf_configs" / "meta-llama--Llama-3.1-8B.json",
                tmp_path / "config.json")
    result = optimize(model, Inventory.parse(["h100-sxm:1"]), Workload(str(tmp_path / "config.json"), 512, 128),
                      OptimizeOptions(), SearchSpace(frameworks=("vllm",)))
    assert f"vllm serve {tmp_path} " in recommendation(result.best)


def test_software_as_of_prices_every_accelerator_for_one_date(model: SurrogateModel) -> None:
    space = SearchSpace(frameworks=("vllm",), max_sequences=16, software_as_of="2026-12-06")
    result = optimize(model, Inventory.parse(["h100-sxm:2", "a100-sxm4-80gb:2"]), Workload(LLAMA_8B, 512, 128),
                      OptimizeOptions(), space)
    assert set(result.evaluated["framework_version"]) == {"2026-12-06"}
    assert set(result.ranked["software_era"]) == {"vllm as of 2026-12-06"}
    assert not any("releases of one engine" in note for note in result.notes)


def test_an_engine_not_yet_released_on_the_date_is_left_out_and_said(model: SurrogateModel) -> None:
    space = SearchSpace(frameworks=("vllm", "sglang"), max_sequences=16, software_as_of="2023-12-01")
    result = optimize(model, Inventory.parse(["h100-sxm:2"]), Workload(LLAMA_8B, 512, 128), OptimizeOptions(), space)
    assert set(result.evaluated["framework"]) == {"vllm"}
    assert "left out: sglang as of 2023-12-01 is before its first release (0.1.3, 2024-01-16)" in result.notes
    assert SearchSpace(software_as_of="2023-12-01").unreleased("vllm") is None
    assert SearchSpace().unreleased("sglang") is None


def test_a_date_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"software_as_of must be a date YYYY-MM-DD \(the engines as of then\), "
                                          r"got '0.19.0'"):
        SearchSpace(software_as_of="0.19.0")


def test_one_engine_priced_for_different_releases_on_two_accelerators_is_noted() -> None:
    ranked = pd.DataFrame({"framework": ["vllm", "vllm", "vllm", "sglang", "sglang"],
                           "hardware": ["mi300x", "h100-sxm", "h100-sxm", "mi300x", "h100-sxm"],
                           "software_era": ["vllm 0.4.3 (2024-06-13)", "vllm 0.18.0 (2026-03-27)",
                                            "vllm 0.18.0 (2026-03-27)", "sglang 0.5.9 (2026-03-03)",
                                            "sglang 0.5.9 (2026-03-03)"],
                           "software_date": ["2024-06-13", "2026-03-27", "2026-03-27", "2026-03-03", "2026-03-03"]})
    assert _mixed_eras(ranked) == (
        "accelerators are priced for releases of one engine far apart, the newest each was measured with ("
        "mi300x with vllm 0.4.3 (2024-06-13) against vllm 0.18.0 (2026-03-27) on h100-sxm): the ranking compares "
        "software as well as hardware; --software-as-of DATE prices every engine as of one date")
    # Many accelerators on the newest release are counted, not listed.
    many = pd.concat([ranked.iloc[:1], pd.DataFrame({
        "framework": "vllm", "hardware": ["a100-sxm4-80gb", "b200", "h100-sxm", "h200"],
        "software_era": "vllm 0.19.0 (2026-04-03)", "software_date": "2026-04-03"})])
    assert "mi300x with vllm 0.4.3 (2024-06-13) against vllm 0.19.0 (2026-04-03) on 4 other accelerators)" in \
        str(_mixed_eras(many))
    assert _mixed_eras(ranked[ranked["framework"] == "sglang"]) is None
    weeks_apart = ranked.assign(software_era=ranked["software_era"].str.replace(
        "0.4.3 (2024-06-13)", "0.19.0 (2026-04-03)", regex=False),
        software_date=ranked["software_date"].replace("2024-06-13", "2026-04-03"))
    assert _mixed_eras(weeks_apart) is None  # 2026-03-27 and 2026-04-03: one era
    # An answer for no known version has no date, so no era to compare: no note from it.
    unknown = ranked.assign(software_era=ranked["software_era"].replace("vllm 0.4.3 (2024-06-13)",
                                                                        "vllm (version unknown)"),
                            software_date=ranked["software_date"].replace("2024-06-13", None))
    assert _mixed_eras(unknown) is None
