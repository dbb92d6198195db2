"""The learned bundle: same features at train and predict time, round trips, fallbacks, determinism."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table, tiny_model
from hypothesis import given, settings, strategies as st

from features.build import CATEGORICAL_FEATURES, FEATURE_COLUMNS, build_features
from features.errors import ConfigError, IncompatibleBundleError, NotFittedError
from surrogate.model import METRICS, SurrogateModel, load

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


def test_unseen_hardware_gets_the_wider_leave_one_hardware_out_interval() -> None:
    model = tiny_model()
    prediction = model.predict(UNSEEN)
    assert not prediction["hardware_seen_in_training"].any()
    seen = model.predict(synthetic_table().head(3))
    assert seen["hardware_seen_in_training"].all()
    assert not prediction["model_seen_in_training"].any()
    assert seen["model_seen_in_training"].all()
    for metric in METRICS:
        assert model.unseen_hardware_offsets_[metric] >= model.interval_offsets_[metric]
        assert model.unseen_model_offsets_[metric] >= model.interval_offsets_[metric]
    wide = prediction["itl_s_p90"] / prediction["itl_s_p10"]
    offsets = np.maximum(model.unseen_hardware_offsets_["itl_s"], model.unseen_model_offsets_["itl_s"])
    assert (wide >= np.exp(2 * offsets) * 0.999).all()


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
        load(path)
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(IncompatibleBundleError, match="not a surrogate model bundle"):
        load(tmp_path / "junk.joblib")


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
    with pytest.raises(ConfigError, match="missing columns: hardware; unexpected columns: gpu"):
        tiny_model().predict(UNSEEN.drop(columns=["hardware"]).assign(gpu="h100"))
    with pytest.raises(NotFittedError, match="not trained yet"):
        SurrogateModel().predict(UNSEEN)


_CONFIGS = st.fixed_dictionaries({
    "hardware": st.sampled_from(["h100-sxm", "a100-sxm4-80gb", "l40s", "mi300x", "b200"]),
    "model": st.sampled_from(["meta-llama/Meta-Llama-3-8B", "Qwen/Qwen2.5-14B", "mistralai/Mixtral-8x7B-v0.1"]),
    "framework": st.sampled_from(["vllm", "sglang"]),
    "tp": st.sampled_from([1, 2, 4]),
    "batching": st.sampled_from(["static", "continuous"]),
    "batch_size": st.integers(1, 512),
    "input_len": st.integers(1, 8000),
    "output_len": st.integers(1, 2000),
})


@settings(max_examples=40, deadline=None)
@given(config=_CONFIGS)
def test_no_prediction_is_faster_than_the_peak_bound(config: dict[str, object]) -> None:
    if config["hardware"] == "mi300x" and config["framework"] == "sglang":
        config = {**config, "framework": "vllm"}
    row = pd.DataFrame([{**config, "concurrency": config["batch_size"]}])
    prediction = tiny_model().predict(row).iloc[0]
    for metric in METRICS:
        for suffix in ("_p10", "", "_p90"):
            assert prediction[f"{metric}{suffix}"] >= prediction[f"peak_{metric}"] * (1 - 1e-9), (metric, suffix)
