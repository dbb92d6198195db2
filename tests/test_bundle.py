"""The learned bundle: same features at train and predict time, round trips, fallbacks, determinism."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table, tiny_model

from features.build import CATEGORICAL_FEATURES, FEATURE_COLUMNS, build_features
from features.errors import ConfigError, IncompatibleBundleError, NotFittedError
from surrogate.model import METRICS, SurrogateModel, load
from surrogate.model._bundle import _TailTwins
from surrogate.model._calibration import ADDED_GROWTH_GRID, Band, residual_band
from surrogate.model._efficiency import efficiency_problem
from surrogate.model._progress import Steps
from surrogate.model._support import workload_tails

UNSEEN = pd.DataFrame([{"hardware": "mi300x", "model": "mistralai/Mixtral-8x7B-v0.1", "framework": "vllm", "tp": 2,
                        "batching": "continuous", "concurrency": 32, "input_len": 512, "output_len": 256,
                        "weight_dtype": "bf16"},
                       {"hardware": "gaudi2", "model": "Qwen/Qwen2-7B", "framework": "deepspeed", "tp": 1,
                        "batching": "static", "batch_size": 8, "input_len": 1024, "output_len": 1024}])


def test_features_have_fixed_columns_and_category_codes() -> None:
    train = build_features(synthetic_table().head(50))
    unseen = build_features(UNSEEN)
    assert list(train.columns) == list(unseen.columns) == FEATURE_COLUMNS
    for name in CATEGORICAL_FEATURES:
        assert list(train[name].cat.categories) == list(unseen[name].cat.categories)
    # 'deepspeed' never occurs in training rows but has the same code as in the catalog order
    assert unseen["framework"].cat.codes.iloc[1] == list(unseen["framework"].cat.categories).index("deepspeed")


def test_prediction_columns_and_consistency() -> None:
    prediction = tiny_model().predict(UNSEEN)
    for metric in METRICS + ["throughput_tok_s", "output_throughput_tok_s"]:
        assert (prediction[f"{metric}_p10"] <= prediction[metric]).all()
        assert (prediction[metric] <= prediction[f"{metric}_p90"]).all()
    static = prediction.iloc[1]
    assert static["throughput_tok_s"] == pytest.approx(8 * 2048 / static["latency_s"])
    served = prediction.iloc[0]
    assert served["latency_s"] == pytest.approx(served["ttft_s"] + 255 * served["itl_s"])
    assert {"analytic_latency_s", "bottleneck", "mem_per_device_gb", "fits"} <= set(prediction.columns)


def test_unseen_hardware_gets_the_band_and_trust_rehearsed_on_held_out_hardware() -> None:
    model = tiny_model()
    prediction = model.predict(UNSEEN)
    assert not prediction["hardware_seen_in_training"].any()
    seen = model.predict(synthetic_table().head(3))
    assert seen["hardware_seen_in_training"].all()
    assert not prediction["model_seen_in_training"].any()
    assert seen["model_seen_in_training"].all()
    assert (seen["off_support"] == "").all()
    assert (prediction["off_support"].str.contains("hardware") & prediction["off_support"].str.contains("model")).all()
    for metric in model.models_:  # ttft and itl: continuous latency is derived from them
        bands = model.bands_[metric]
        assert "hardware" in bands  # three accelerators: each held out in turn
        for kind in [k for k in ("hardware", "model") if k in bands]:  # two models may share one fold
            assert bands[kind].low_log <= bands["seen"].low_log and bands[kind].high_log >= bands["seen"].high_log
            assert 0.0 <= bands[kind].shrink <= 1.0
    # Each row takes the least trust and the widest band of the kinds it is off in (row 1 also names an
    # engine no row ran; the tiny model has one vendor, so no vendor could be rehearsed: a new one would be
    # the prior, with the prior's band where the vendor's rows are held out of its fit; with one vendor
    # nothing is left to refit on, so that is the prior's own error on the training rows).
    assert prediction["framework_seen_in_training"].tolist() == [True, False]
    bands = model.bands_["ttft_s"]
    assert bands["framework"].rows > 0
    train = synthetic_table()
    prior_error = residual_band(np.log(train["ttft_s"] / model.predict(train)["analytic_ttft_s"]).to_numpy())
    assert bands["vendor"] == Band(min(prior_error.low_log, bands["seen"].low_log),
                                   max(prior_error.high_log, bands["seen"].high_log), 0.0, 0)
    # The widest band over the kinds (the prior's error with accelerators or models held out) is wider.
    assert bands["prior"].high_log - bands["prior"].low_log > bands["vendor"].high_log - bands["vendor"].low_log
    expected, widest = [], []
    for _, row in prediction.iterrows():
        kinds = [k for k in ("vendor", "hardware", "model", "framework", "software")
                 if k in bands and not row[f"{k}_seen_in_training"]]
        expected.append(min(bands[k].shrink for k in kinds))
        widest.append(max(bands[k].high_log for k in kinds) - min(bands[k].low_log for k in kinds))
    wide = np.log(prediction["ttft_s_p90"] / prediction["ttft_s_p10"])
    floored = prediction["ttft_s_p10"] <= prediction["peak_ttft_s"] * (1 + 1e-9)
    assert ((wide >= np.array(widest) * 0.999) | floored).all()
    trust = 1.0 / np.maximum(prediction["support_distance"], 1.0)
    np.testing.assert_allclose(prediction["ttft_s_correction_weight"], np.array(expected) * trust)


def test_unseen_hardware_and_model_stay_near_physics() -> None:
    prediction = tiny_model().predict(UNSEEN)
    for metric in METRICS:
        ratio = prediction[metric] / prediction[f"analytic_{metric}"]
        assert np.isfinite(prediction[metric]).all()
        assert ((ratio > 1 / 3) & (ratio < 3)).all(), metric


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = tiny_model()
    path = model.save(tmp_path / "bundle.joblib")
    again = load(path)
    plain = joblib.load(path)
    expected = model.predict(UNSEEN)
    pd.testing.assert_frame_equal(again.predict(UNSEEN), expected)
    pd.testing.assert_frame_equal(plain.predict(UNSEEN), expected)
    assert again.metadata["data_fingerprint"] == model.metadata["data_fingerprint"]
    assert again.metadata["feature_names"] == FEATURE_COLUMNS


def test_incompatible_bundle_is_refused(tmp_path: Path) -> None:
    model = tiny_model()
    state = model.__getstate__()
    state["format_version"] = 999
    path = tmp_path / "old.joblib"
    joblib.dump(_FakeOld(state), path)
    with pytest.raises(IncompatibleBundleError, match="format 999 cannot be read"):
        load(path, trust=True)  # made here, not by save: trusted explicitly (see test_trust.py)
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(IncompatibleBundleError, match="not a surrogate model bundle"):
        load(tmp_path / "junk.joblib", trust=True)


class _FakeOld:
    """Pickles as a SurrogateModel whose state carries another format version."""

    def __init__(self, state: dict) -> None:
        self.state = state

    def __reduce__(self) -> tuple:
        return (SurrogateModel.__new__, (SurrogateModel,), self.state)


def test_same_data_and_seed_give_identical_predictions() -> None:
    table = synthetic_table()
    first = SurrogateModel(seed=7, n_estimators=20).fit(table).predict(UNSEEN)
    second = SurrogateModel(seed=7, n_estimators=20).fit(table.sample(frac=1.0, random_state=1)).predict(UNSEEN)
    pd.testing.assert_frame_equal(first, second)


def test_input_validation_names_columns() -> None:
    # another lab's name for a column is named with what to rename it to (the CLI's --input renames it itself)
    with pytest.raises(ConfigError, match=r"^missing columns: hardware; unexpected columns: gpu, colour \(rename gpu "
                                          r"to hardware\) \(expected some of: hardware, num_devices"):
        tiny_model().predict(UNSEEN.drop(columns=["hardware"]).assign(gpu="h100", colour="red"))
    with pytest.raises(NotFittedError, match="not trained yet"):
        SurrogateModel().predict(UNSEEN)


def test_twins_of_rows_beyond_the_trained_range_give_the_same_in_one_pass_or_two(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from surrogate.model import _bundle

    rows = synthetic_table().drop(columns=["latency_s", "ttft_s", "itl_s"])
    rows["input_len"] = 100 + (rows.index.to_numpy() * 37) % 3000  # some beyond the trained 256-1024
    rows.index = rows.index * 3 + 1
    assert (rows["input_len"] > 1024).any()
    joint = tiny_model().predict(rows)
    monkeypatch.setattr(_bundle, "_JOINT_TWIN_ROWS", 1)
    pd.testing.assert_frame_equal(tiny_model().predict(rows), joint, check_exact=True)


def test_each_workload_tail_is_rehearsed_beyond_the_range_it_kept() -> None:
    # The tiny table's prompts are 256 or 1,024 tokens, with 1, 16 or 128 sequences at each: the prompt tail
    # (every 1,024-token row) is held out on its own, so its rehearsal trained on 256-token prompts alone and
    # lay log 4 beyond them; the 128-sequence rows at 1,024 tokens are held out with it, not kept.
    fades = tiny_model().fades_["ttft_s"]
    np.testing.assert_allclose([fades.above[0].extent_log, fades.above[1].extent_log],
                               [np.log(128 / 16), np.log(1024 / 256)])
    # Every band of a rehearsed tail holds zero (no narrower than nothing).
    for fade in (*fades.above, *fades.below):
        assert fade.low_log <= 0.0 <= fade.high_log
    # A slower level's added time grew past the 256-token prompts, but slower than the prior: a power the
    # rehearsal chose inside its grid (0: fixed seconds; the top: a ratio).
    for metric in ["ttft_s", "itl_s"]:
        assert 0.0 < tiny_model().fades_[metric].above[1].added_growth < ADDED_GROWTH_GRID[-1], metric


def test_a_workload_tail_is_priced_by_the_efficiency_refit_without_it() -> None:
    # A prediction beyond the range is priced by parameters fitted on none of its regime; so is its rehearsal.
    # What a held row needed is then its need over the refit prior: over the full fit's, plus log(full / refit).
    twins = _TailTwins(fold=0, held=np.array([True, False, True]), feats=pd.DataFrame({"f": [1.0, 2.0]}),
                       est=pd.DataFrame({"ttft_s": [1.0, 2.0]}), row_est=pd.DataFrame({"ttft_s": [2.0, 8.0]}),
                       above=np.ones((2, 3)), below=np.zeros((2, 3)), prior_est=pd.DataFrame({"ttft_s": [1.0, 4.0]}))
    tail = twins.of_metric(np.ones(3, dtype=bool), "ttft_s", 0.0)
    np.testing.assert_allclose(tail.growth, np.log([2.0, 4.0]))  # the full fit's growth from twin to row
    np.testing.assert_allclose(tail.wanted(np.array([0.1, 0.2, 0.3])), [0.1 + np.log(2.0), 0.3 + np.log(2.0)])
    unrefit = replace(twins, prior_est=None).of_metric(np.ones(3, dtype=bool), "ttft_s", 0.0)
    np.testing.assert_allclose(unrefit.wanted(np.array([0.1, 0.2, 0.3])), [0.1, 0.3])
    # Fitting does refit: the tiny table's tails each get the held rows' estimates without them.
    model, table = tiny_model(), synthetic_table()
    cfg, est, feats = model._physics(table)
    tails = model._rehearsal_twins(cfg, est, feats, workload_tails(cfg))
    refit = model._tail_priors(efficiency_problem(table), cfg, est, tails, Steps(None, 1.0))
    assert tails and all(t.prior_est is not None and len(t.prior_est) == int(t.held.sum()) for t in refit)
    assert any(not np.allclose(t.prior_est["ttft_s"], t.row_est["ttft_s"]) for t in refit)


def test_a_newer_release_than_any_measured_on_the_vendor_widens_the_band_to_the_prior_as_measured() -> None:
    model = copy.deepcopy(tiny_model())
    model.efficiency_ = replace(model.efficiency_, vendor_log_speed={"AMD": -1.0}, vendor_log_compute={"AMD": -0.5},
                                vendor_software_year={"AMD": 4.5})  # measured up to mid-2024
    row = {"hardware": "mi300x", "model": "meta-llama/Meta-Llama-3-8B", "framework": "vllm", "tp": 1, "pp": 1,
           "dp": 1, "batching": "continuous", "batch_size": 16, "concurrency": 16, "input_len": 1024,
           "output_len": 256}
    rows = pd.DataFrame([{**row, "framework_version": "2024-06-01"}, {**row, "framework_version": "2026-06-01"}])
    out = model.predict(rows)
    for metric in ("ttft_s", "itl_s"):
        as_measured, later = out[f"analytic_{metric}"]
        assert later < as_measured  # the faded offsets
        spread = np.log(as_measured / later)
        # The later row's band reaches the prior as measured, and as far the other way (or the peak floor).
        assert np.log(out[f"{metric}_p90"].iloc[1] / out[metric].iloc[1]) >= spread
        low = out[f"{metric}_p10"].iloc[1]
        assert np.log(out[metric].iloc[1] / low) >= spread or low == out[f"peak_{metric}"].iloc[1]


def test_an_engine_measured_noisily_gets_a_wider_band_than_one_measured_cleanly() -> None:
    # vLLM's rows scattered by a seeded log-normal factor (sigma 0.3), TensorRT-LLM's only by the table's
    # +-3% wobble: one band pooled over both would be too wide for one and too narrow for the other.
    table = synthetic_table()
    noisy = table["framework"].eq("vllm").to_numpy()
    scatter = np.exp(np.random.default_rng(0).normal(0.0, 0.3, int(noisy.sum())))
    for metric in METRICS:
        table.loc[noisy, metric] = table.loc[noisy, metric].to_numpy() * scatter
    model = SurrogateModel(seed=0, n_estimators=20).fit(table)
    bands = model.bands_["itl_s"]
    clean, loud, pooled = bands["seen:tensorrt-llm/continuous"], bands["seen:vllm/continuous"], bands["seen"]
    assert clean.high_log - clean.low_log < 0.5 * (pooled.high_log - pooled.low_log)
    assert loud.high_log - loud.low_log > pooled.high_log - pooled.low_log
    # A measured deployment takes its P10 from its cell's band of rows held out at random, lower for the noisy
    # engine; its P90 from the deployment groups'.
    on_data = bands["measured:tensorrt-llm/continuous"], bands["measured:vllm/continuous"]
    assert on_data[1].low_log < 2 * on_data[0].low_log < 0
    seen = table[table["hardware"].eq("h100-sxm") & table["tp"].eq(2)].drop_duplicates("framework")
    predicted = model.predict(seen).set_index(seen["framework"].to_numpy())
    assert predicted["deployment_measured"].all()
    below = np.log(predicted["itl_s_p10"] / predicted["itl_s"])
    above = np.log(predicted["itl_s_p90"] / predicted["itl_s"])
    assert below["tensorrt-llm"] == pytest.approx(on_data[0].low_log)
    assert below["vllm"] == pytest.approx(on_data[1].low_log)
    assert above["tensorrt-llm"] == pytest.approx(clean.high_log)
    assert above["vllm"] == pytest.approx(loud.high_log)
    # Unmeasured (a prompt length never run with any engine), the deployment group's band.
    unmeasured = model.predict(seen.assign(input_len=512)).set_index(seen["framework"].to_numpy())
    assert not unmeasured["deployment_measured"].any()
    width = np.log(unmeasured["itl_s_p90"] / unmeasured["itl_s_p10"])
    assert width["tensorrt-llm"] == pytest.approx(clean.high_log - clean.low_log)
    assert width["vllm"] == pytest.approx(loud.high_log - loud.low_log)


def test_p90_never_falls_onto_a_measured_deployment_as_the_prompt_grows() -> None:
    # Trained at (256, 64) and (1,024, 256) prompt and output tokens. At 256 output tokens the prompts 256 and
    # 512 were never measured and 1,024 was: P10 narrows there, P90 must still not fall.
    model = tiny_model()
    row = synthetic_table().query("hardware == 'h100-sxm' and framework == 'vllm' and tp == 1").head(1)
    grown = pd.concat([row.assign(input_len=length, output_len=256) for length in (256, 512, 1024)],
                      ignore_index=True)
    predicted = model.predict(grown)
    assert predicted["deployment_measured"].tolist() == [False, False, True]
    for metric in ("ttft_s", "itl_s"):
        assert predicted[f"{metric}_p90"].is_monotonic_increasing, metric
        assert predicted[metric].is_monotonic_increasing, metric
