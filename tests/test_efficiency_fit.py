"""Fitting the achievable model: it recovers times it was generated from, and shrinks small groups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table

from features.analytic import estimate
from features.catalog import get_hardware
from features.efficiency import Efficiency
from features.errors import DataError
from surrogate.ingest import load_shared
from surrogate.model import _efficiency, fit_efficiency, training_rows

TRUTH = Efficiency(matmul_fraction=0.6, matmul_half_tokens=200.0, attention_fraction=0.4, layer_overhead_s=20e-6,
                   step_overhead_s=3e-3, framework_log_overhead={"sglang": 0.5})


def _measured_by(efficiency: Efficiency, table: pd.DataFrame) -> pd.DataFrame:
    est = estimate(table, efficiency=efficiency)
    out = table.copy()
    for metric in ("latency_s", "ttft_s", "itl_s"):
        out[metric] = est[metric].to_numpy()
    return out


def _varied_lengths() -> pd.DataFrame:
    """The synthetic rows at prompts of 256, 512, 1,024 and 4,096 tokens: with two lengths only, a slower
    attention and a faster prompt advance per step explain a served TTFT about as well, and the fit
    stops between them (3% median error in latency)."""
    rows = synthetic_table()
    return pd.concat([rows, rows.assign(input_len=4096), rows.assign(input_len=512, output_len=rows["output_len"] * 2)],
                     ignore_index=True)


def test_the_fit_reproduces_times_generated_by_known_parameters() -> None:
    table = _measured_by(TRUTH, _varied_lengths())
    fitted = fit_efficiency(table, base=Efficiency())
    again = estimate(table, efficiency=fitted)
    for metric in ("latency_s", "ttft_s", "itl_s"):
        error = np.abs(np.log(again[metric].to_numpy() / table[metric].to_numpy()))
        assert np.median(error) < 0.02, metric
    assert fitted.source.startswith("fitted on")


def test_the_served_first_token_waits_come_back_from_a_fit() -> None:
    truth = replace(TRUTH, first_token_steps=8.0, framework_log_wait={"sglang": 0.5, "vllm": -0.5}, wave_fraction=0.2)
    # From 4 steps, a 0.05 wave and no offsets; a light prior on the offsets (324 rows per engine outweigh 5):
    # the default of 50 pulls vLLM's wait 6% toward the others'.
    fitted = fit_efficiency(_measured_by(truth, _varied_lengths()), base=Efficiency(), prior_rows=5.0)
    assert fitted.wave_fraction == pytest.approx(0.2, rel=0.05)
    # The prior on offsets centres the engines' waits on the global value: compare each engine's own wait.
    for engine in ("sglang", "vllm", "tensorrt-llm"):
        want = 8.0 * np.exp(truth.framework_log_wait.get(engine, 0.0))
        got = fitted.first_token_steps * np.exp(fitted.framework_log_wait.get(engine, 0.0))
        assert got == pytest.approx(want, rel=0.05), engine
    assert fitted.attention_fraction == pytest.approx(TRUTH.attention_fraction, rel=0.05)


def test_an_engines_attention_dp_wait_comes_back_from_a_fit() -> None:
    # Qwen3-30B-A3B served on 2 H100s with experts over both: as 2 attention-DP ranks, or as tp 2, per engine.
    served = [{"hardware": "h100-sxm", "model": "Qwen/Qwen3-30B-A3B", "framework": engine, "tp": tp, "ep": 2,
               "dp": 2 // tp, "num_devices": 2, "batching": "continuous", "concurrency": clients,
               "input_len": length, "output_len": 256, "weight_dtype": "bf16", "kv_dtype": "bf16"}
              for engine in ("tensorrt-llm", "vllm") for tp in (1, 2) for clients in (1, 4, 8, 16, 32, 64)
              for length in (512, 1024, 4096)]
    truth = replace(TRUTH, first_token_steps=8.0, framework_log_attention_dp_wait={"tensorrt-llm": float(np.log(3.0))})
    table = _measured_by(truth, pd.concat([_varied_lengths(), pd.DataFrame(served)], ignore_index=True))
    # A light prior: 18 attention-DP rows per engine (at 5, TensorRT-LLM's extra wait came back 5% short).
    fitted = fit_efficiency(table, base=Efficiency(), prior_rows=1.0)
    # Each engine's own steps, as above, with and without attention data parallelism.
    for engine, extra in (("tensorrt-llm", 3.0), ("vllm", 1.0)):
        plain = fitted.first_token_steps * np.exp(fitted.framework_log_wait.get(engine, 0.0))
        balanced = plain * np.exp(fitted.framework_log_attention_dp_wait[engine])
        assert plain == pytest.approx(8.0, rel=0.05), engine
        assert balanced == pytest.approx(8.0 * extra, rel=0.05), engine
    # Only the engines with attention-DP rows have a wait, fitted last: everything else is, to the last bit,
    # what the fit gives where no engine waits longer (a problem naming no engine's wait).
    assert set(fitted.framework_log_attention_dp_wait) == {"tensorrt-llm", "vllm"}
    problem = replace(_efficiency.efficiency_problem(table), attention_dp_names=())
    no_waits = fit_efficiency(problem, base=Efficiency(), prior_rows=1.0)
    assert no_waits.framework_log_attention_dp_wait == {}
    assert replace(fitted, framework_log_attention_dp_wait={}) == no_waits


def test_a_vendor_with_a_handful_of_rows_stays_near_the_global_value() -> None:
    nvidia = _measured_by(TRUTH, _varied_lengths())
    amd = nvidia[nvidia["framework"].ne("tensorrt-llm")].assign(hardware="mi300x")
    slow = _measured_by(TRUTH, amd)
    for metric in ("latency_s", "ttft_s", "itl_s"):
        slow[metric] = slow[metric] * 2.0  # AMD measured twice as slow as the truth says
    few = fit_efficiency(pd.concat([nvidia, slow.head(3)], ignore_index=True), base=Efficiency())
    many = fit_efficiency(pd.concat([nvidia, slow], ignore_index=True), base=Efficiency())
    # The data pull it toward log(1/2), and past it: fixed costs carry no vendor offset, so twice the time
    # takes rates more than twice slower.
    assert -np.log(2.0) - 0.35 < many.vendor_log_speed["AMD"] < -0.3
    assert abs(few.vendor_log_speed["AMD"]) < abs(many.vendor_log_speed["AMD"]) / 2  # the prior holds it back


def test_a_vendor_whose_kernels_lag_its_memory_gets_a_compute_offset_not_a_speed_offset() -> None:
    nvidia = _measured_by(TRUTH, _varied_lengths())
    amd = _measured_by(replace(TRUTH, vendor_log_compute={"AMD": -np.log(2.0)}),
                       nvidia[nvidia["framework"].ne("tensorrt-llm")].assign(hardware="mi300x"))
    fitted = fit_efficiency(pd.concat([nvidia, amd], ignore_index=True), base=Efficiency())
    # Each accelerator's offsets on top of its vendor's (one AMD accelerator: the two share its offset).
    speed = {hw: fitted.vendor_log_speed[vendor] + fitted.hardware_log_speed[hw]
             for vendor, hw in (("AMD", "mi300x"), ("NVIDIA", "h100-sxm"))}
    compute = {hw: fitted.vendor_log_compute[vendor] + fitted.hardware_log_compute[hw]
               for vendor, hw in (("AMD", "mi300x"), ("NVIDIA", "h100-sxm"))}
    # MI300X's compute at half H100's, its memory at about the same rate. The prior on offsets puts the global
    # value between the two vendors (each offset about half the gap), where a vendor never seen is priced.
    assert (speed["mi300x"] + compute["mi300x"]) - (speed["h100-sxm"] + compute["h100-sxm"]) == pytest.approx(
        -np.log(2.0), abs=0.1)
    assert abs(speed["mi300x"] - speed["h100-sxm"]) < 0.2
    assert compute["mi300x"] < -0.2 < 0.2 < compute["h100-sxm"]


def test_two_accelerators_of_one_vendor_that_differ_get_offsets_of_their_own() -> None:
    nvidia = _measured_by(TRUTH, _varied_lengths())
    amd = nvidia[nvidia["framework"].ne("tensorrt-llm")]
    # MI300X's compute at half the truth, MI250's at the truth: one AMD offset cannot price both.
    slow = _measured_by(replace(TRUTH, hardware_log_compute={"mi300x": -np.log(2.0)}), amd.assign(hardware="mi300x"))
    fitted = fit_efficiency(pd.concat([nvidia, slow, _measured_by(TRUTH, amd.assign(hardware="mi250"))],
                                      ignore_index=True), base=Efficiency())
    vendor = fitted.vendor_log_speed["AMD"] + fitted.vendor_log_compute["AMD"]
    compute = {hw: vendor + fitted.hardware_log_speed[hw] + fitted.hardware_log_compute[hw]
               for hw in ("mi250", "mi300x")}
    assert compute["mi250"] - compute["mi300x"] == pytest.approx(np.log(2.0), abs=0.1)
    # An AMD accelerator that was not measured is priced at the vendor's offsets alone: where the prior's cost is
    # least, about the median of the global value (0) and the two accelerators' totals (here MI250's).
    assert compute["mi300x"] < vendor == pytest.approx(np.median([0.0, compute["mi250"], compute["mi300x"]]), abs=0.05)


def test_too_few_measured_rows_is_a_data_error() -> None:
    table = synthetic_table().head(5)
    with pytest.raises(DataError, match="too few to fit efficiency parameters"):
        fit_efficiency(table)


def test_a_refit_on_a_problem_without_a_group_is_the_refit_on_the_rows_without_it() -> None:
    from dataclasses import asdict

    from surrogate.model._efficiency import efficiency_problem

    table = _measured_by(TRUTH, synthetic_table())
    table.loc[table.index[0], "tp"] = 3  # a row no engine can run: not in the problem, still in the table
    held = table["framework"].eq("sglang").to_numpy()
    problem = efficiency_problem(table)
    assert len(problem.table_rows) == len(table) - 1 and 0 not in problem.table_rows
    shared = fit_efficiency(problem.without(held), base=Efficiency(), tolerance=1e-4)
    alone = fit_efficiency(table[~held], base=Efficiency(), tolerance=1e-4)
    assert asdict(shared) == asdict(alone)
    assert "sglang" not in problem.without(held).framework_names


def test_the_grouped_jacobian_is_scipys_forward_difference_and_the_fit_ends_where_scipys_does() -> None:
    from scipy.optimize import least_squares

    from surrogate.model._efficiency import FITTED_PARAMETERS, _PartResiduals, efficiency_problem

    table = _measured_by(TRUTH, synthetic_table())
    table.loc[table["framework"].eq("vllm"), "latency_s"] *= 1.3  # offsets away from zero, residuals not all 0
    problem = efficiency_problem(table)
    assert len(problem.framework_names) >= 2
    start = np.linspace(-0.4, 0.3, len(FITTED_PARAMETERS) + 2 * len(problem.vendor_names)
                        + 3 * len(problem.framework_names) + 2 * len(problem.hardware_names)
                        + len(problem.attention_dp_names))
    varied = np.arange(len(start))
    residuals = _PartResiduals(varied, start.copy(), Efficiency(), problem, prior_weight=3.0)
    assert len(residuals.groups) < len(start)  # each offset family differenced in one evaluation
    # One column at a time, scipy's "2-point" step: sqrt(eps) x max(1, |x|), signed as x (+ at 0).
    at = residuals(start)
    by_column = np.empty((len(start), len(at)))
    for column in range(len(start)):
        moved = start.copy()
        moved[column] = start[column] + np.sqrt(np.finfo(float).eps) * (1.0 if start[column] >= 0 else -1.0) \
            * max(1.0, abs(start[column]))
        by_column[column] = (residuals(moved) - at) / (moved[column] - start[column])
    grouped = residuals.jacobian(start)
    assert np.array_equal(grouped, by_column.T) and np.array_equal(np.signbit(grouped), np.signbit(by_column.T))
    options = {"loss": "soft_l1", "f_scale": 0.3, "x_scale": "jac", "ftol": 1e-6, "xtol": 1e-6}
    ours = least_squares(residuals, start, jac=residuals.jacobian, **options)
    scipys = least_squares(residuals, start, **options)
    assert np.array_equal(ours.x, scipys.x) and ours.nfev == scipys.nfev


def test_the_fit_records_the_newest_engine_release_measured_on_each_vendor() -> None:
    table = _measured_by(TRUTH, synthetic_table())
    dated = table.assign(framework_version=np.where(table["framework"].eq("vllm"), "2025-03-01", pd.NA))
    amd = dated.iloc[:40].assign(hardware="mi300x", framework="vllm", framework_version="2024-06-30")
    fitted = fit_efficiency(pd.concat([dated, amd], ignore_index=True), base=Efficiency())
    years = {"NVIDIA": (pd.Timestamp("2025-03-01") - pd.Timestamp("2020-01-01")).days / 365.25,
             "AMD": (pd.Timestamp("2024-06-30") - pd.Timestamp("2020-01-01")).days / 365.25}
    assert fitted.vendor_software_year == pytest.approx(years)
    # Rows that record no version and no source date nothing: a fit on them records no vendor.
    assert fit_efficiency(table, base=Efficiency()).vendor_software_year == {}


def test_the_share_of_its_offsets_an_accelerators_later_release_kept_comes_back_from_the_fit() -> None:
    truth = replace(TRUTH, vendor_log_speed={"AMD": np.log(0.4)})
    nvidia = _measured_by(truth, _varied_lengths()).assign(framework_version="2024-07-01")
    amd_rows = nvidia[nvidia["framework"].eq("vllm")].assign(hardware="mi300x")
    old = _measured_by(truth, amd_rows)
    # The later release ran at 0.4 ** 0.3 of the global rates where the first ran at 0.4.
    new = amd_rows.head(12).assign(framework_version="2024-10-01")
    new = _measured_by(replace(truth, vendor_log_speed={"AMD": 0.3 * np.log(0.4)}), new)
    fitted = fit_efficiency(pd.concat([nvidia, old, new], ignore_index=True), base=Efficiency(), prior_rows=5.0)
    first = (pd.Timestamp("2024-07-01") - pd.Timestamp("2020-01-01")).days / 365.25
    assert fitted.hardware_first_year == pytest.approx(dict.fromkeys(["a100-sxm4-80gb", "h100-sxm", "l40s", "mi300x"],
                                                                     first))
    # NVIDIA ran one release: no share. MI300X's is a share of the fitted offset, which fixed costs (they take
    # no vendor offset) pull past log(0.4): 0.2 or 0.3 of it, and the later rows are priced as they ran.
    assert list(fitted.hardware_era_share) == ["mi300x"]
    assert fitted.hardware_era_share["mi300x"] in (0.2, 0.3)
    priced = estimate(new, efficiency=fitted)
    whole = estimate(new, efficiency=replace(fitted, hardware_era_share={}))
    for metric in ("latency_s", "ttft_s", "itl_s"):
        assert np.median(np.abs(np.log(priced[metric] / new[metric]))) < 0.1, metric
        assert np.median(np.log(whole[metric] / new[metric])) > 0.4, metric  # the whole offset: far too slow
    # Fewer later configurations than MIN_ERA_ROWS: no share.
    two = fit_efficiency(pd.concat([nvidia, old, new.head(2)], ignore_index=True), base=Efficiency(), prior_rows=5.0)
    assert two.hardware_era_share == {}
    # Most of MI300X's rows on the later release (the offsets were fitted there): no share either.
    mostly_new = _measured_by(replace(truth, vendor_log_speed={"AMD": 0.3 * np.log(0.4)}),
                              amd_rows.assign(framework_version="2024-10-01"))
    most = fit_efficiency(pd.concat([nvidia, old.head(12), mostly_new], ignore_index=True), base=Efficiency(),
                          prior_rows=5.0)
    assert most.hardware_era_share == {}


def _served_and_static_with_vllm_at_60us() -> pd.DataFrame:
    """The varied-length rows served, and again as static batches on every engine but SGLang, measured with
    vLLM paying 60 us per sequence and static decode step."""
    served = _varied_lengths()
    static = served[served["framework"].ne("sglang")].assign(batching="static", concurrency=np.nan)
    return _measured_by(replace(TRUTH, framework_sequence_s={"vllm": 60e-6}),
                        pd.concat([served, static], ignore_index=True))


def test_an_engine_s_host_cost_per_static_sequence_comes_back_from_a_fit() -> None:
    fitted = fit_efficiency(_served_and_static_with_vllm_at_60us(), base=Efficiency())
    # Fitted last, on what the shared parameters left: they took a little of it first (52.8 us).
    assert 0.8 * 60e-6 < fitted.framework_sequence_s["vllm"] < 1.05 * 60e-6
    assert fitted.framework_sequence_s["tensorrt-llm"] < 3e-6
    # SGLang ran no static batch here: no cost of its own, and a new engine's is none.
    assert "sglang" not in fitted.framework_sequence_s


def test_a_refit_at_the_rehearsal_tolerance_keeps_the_engines_host_costs_per_sequence() -> None:
    """Training's held-out rehearsals refit from the full fit at a loose tolerance: the costs start from the
    full fit's and stay, where a stage scored from zero on every row stopped at once and lost them."""
    table = _served_and_static_with_vllm_at_60us()
    full = fit_efficiency(table, base=Efficiency())
    refit = fit_efficiency(table.iloc[len(table) // 4:], base=full, tolerance=1e-4)
    assert refit.framework_sequence_s["vllm"] == pytest.approx(full.framework_sequence_s["vllm"], rel=0.1)
    # From no cost at all, a loose tolerance still finds it (the stage starts off its bound of 0).
    fresh = fit_efficiency(table, base=Efficiency(), tolerance=1e-4)
    assert fresh.framework_sequence_s["vllm"] > 0.5 * 60e-6



def test_the_prior_splits_a_lone_accelerator_s_offset_evenly_and_gives_a_vendor_what_most_share() -> None:
    # The split the fit's own loss prefers, whatever split the solver stopped at: all of MI300X's lag on AMD
    # (-1.2) becomes half each; NVIDIA's three accelerators at -0.4 and one at +0.3 leave NVIDIA near -0.4.
    rows = _varied_lengths()
    table = pd.concat([*(rows.assign(hardware=hw) for hw in ("h100-sxm", "h200", "b200", "a100-sxm4-40gb")),
                       rows[rows["framework"].ne("tensorrt-llm")].assign(hardware="mi300x")], ignore_index=True)
    problem = _efficiency.efficiency_problem(table)
    slices = _efficiency._offset_slices(problem)
    at = {name: dict(zip(_efficiency._keys(problem, owner), range(10_000)[slices[name]], strict=False))
          for name, owner in _efficiency._OFFSETS}
    x = np.zeros(slices["hardware_log_compute"].stop)
    x[at["vendor_log_compute"]["AMD"]] = -1.2
    x[at["vendor_log_speed"]["NVIDIA"]] = -0.4
    x[at["hardware_log_speed"]["a100-sxm4-40gb"]] = 0.7
    out = _efficiency._recentred(x, problem, np.sqrt(50.0))
    assert out[at["vendor_log_compute"]["AMD"]] == pytest.approx(-0.6, abs=1e-6)
    assert out[at["hardware_log_compute"]["mi300x"]] == pytest.approx(-0.6, abs=1e-6)
    assert -0.4 < out[at["vendor_log_speed"]["NVIDIA"]] < -0.35  # soft-L1: near the median, not on it
    for hw, total in (("h100-sxm", -0.4), ("h200", -0.4), ("b200", -0.4), ("a100-sxm4-40gb", 0.3)):
        assert out[at["vendor_log_speed"]["NVIDIA"]] + out[at["hardware_log_speed"][hw]] == pytest.approx(total)
    assert _efficiency._offset_cost(out, np.sqrt(50.0)) < _efficiency._offset_cost(x, np.sqrt(50.0))

def test_splitting_offsets_between_a_vendor_and_its_accelerators_prices_every_measured_row_as_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    nvidia = _measured_by(TRUTH, _varied_lengths())
    amd = nvidia[nvidia["framework"].ne("tensorrt-llm")]
    slow = _measured_by(replace(TRUTH, hardware_log_compute={"mi300x": -np.log(2.0)}), amd.assign(hardware="mi300x"))
    table = pd.concat([nvidia, slow, _measured_by(TRUTH, amd.assign(hardware="mi250"))], ignore_index=True)
    recentred = fit_efficiency(table, base=Efficiency())
    monkeypatch.setattr(_efficiency, "_recentred", lambda x, problem, prior_weight: x)
    as_solved = fit_efficiency(table, base=Efficiency())
    np.testing.assert_allclose(estimate(table, efficiency=recentred)["latency_s"],
                               estimate(table, efficiency=as_solved)["latency_s"], rtol=1e-9)

    def prior_cost(e: Efficiency) -> float:
        offsets = [v for name in ("vendor_log_speed", "vendor_log_compute", "hardware_log_speed",
                                  "hardware_log_compute") for v in getattr(e, name).values()]
        return _efficiency._offset_cost(np.array(offsets), np.sqrt(50.0))

    assert prior_cost(recentred) <= prior_cost(as_solved) + 1e-12


def test_waits_no_served_first_token_measures_stay_at_the_base() -> None:
    # Static batches only: nothing prices a served first token, and the fit once moved both waits to their bounds.
    table = _measured_by(TRUTH, _varied_lengths().assign(batching="static"))
    base = replace(Efficiency(), first_token_steps=8.0, wave_fraction=0.2)
    fitted = fit_efficiency(table, base=base)
    assert fitted.first_token_steps == pytest.approx(8.0, rel=1e-12)  # the base's, through log and back
    assert fitted.wave_fraction == pytest.approx(0.2, rel=1e-12)
    again = estimate(table, efficiency=fitted)
    assert np.median(np.abs(np.log(again["latency_s"].to_numpy() / table["latency_s"].to_numpy()))) < 0.02


def test_the_waits_are_fitted_from_twenty_measured_served_first_tokens() -> None:
    served = _measured_by(TRUTH, _varied_lengths())
    served = served[served["batching"] == "continuous"].reset_index(drop=True)
    waits = [i for i, (name, _) in enumerate(_efficiency.FITTED_PARAMETERS)
             if name in ("first_token_steps", "wave_fraction")]
    for count, held in ((19, waits), (20, [])):
        table = served.head(count).assign(latency_s=np.nan)  # TTFT alone prices the waits here
        assert _efficiency._unmeasured_waits(_efficiency.efficiency_problem(table)).tolist() == held, count


def test_a_fit_from_scratch_keeps_the_order_of_freeing_the_compute_offsets_that_costs_least() -> None:
    nvidia = _measured_by(TRUTH, _varied_lengths())
    amd = _measured_by(replace(TRUTH, vendor_log_compute={"AMD": -np.log(2.0)}),
                       nvidia[nvidia["framework"].ne("tensorrt-llm")].assign(hardware="mi300x"))
    problem = _efficiency.efficiency_problem(pd.concat([nvidia, amd], ignore_index=True))
    settings = (np.sqrt(50.0), 4000, _efficiency._TOLERANCE)
    fits = [_efficiency._staged_fit(replace(Efficiency(), framework_sequence_s={}), problem, {}, order, settings)
            for order in _efficiency._COMPUTE_ORDERS]
    best, loss = min(fits, key=lambda fit: fit[1])
    assert replace(fit_efficiency(problem, base=Efficiency()), source="") == replace(
        best, vendor_software_year={}, hardware_first_year={}, hardware_era_share={}, source="")
    assert loss == min(fits[0][1], fits[1][1]) > 0


def test_without_nvidia_the_global_matmul_rate_is_not_the_other_vendors_2024_compute_lag(
        shared_datasets: Path) -> None:
    rows = training_rows(load_shared(shared_datasets).table)
    vendors = rows["hardware"].astype(str).map(lambda name: get_hardware(name).vendor)
    problem = _efficiency.efficiency_problem(rows[vendors.ne("NVIDIA")])
    settings = (np.sqrt(50.0), 4000, _efficiency._TOLERANCE)
    first, together = (_efficiency._staged_fit(replace(Efficiency(), framework_sequence_s={}), problem, {}, order,
                                               settings) for order in _efficiency._COMPUTE_ORDERS)
    # Freed first, the global rate took MI300X's compute lag (a tenth of the peak), and the fit stopped there.
    assert first[0].matmul_fraction < 0.12 and together[0].matmul_fraction > 0.3
    assert together[1] < 0.9 * first[1]
    assert fit_efficiency(problem, base=Efficiency()).matmul_fraction == together[0].matmul_fraction
