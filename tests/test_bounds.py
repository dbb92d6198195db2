"""What no prediction may do, whatever the configuration: beat the hardware, or get faster with more work."""

from __future__ import annotations

import copy
from dataclasses import replace
from functools import cache

import numpy as np
import pandas as pd
import pytest
from _tiny_model import tiny_model
from hypothesis import assume, given, settings, strategies as st

from features import catalog
from features.build import FEATURE_COLUMNS, MONOTONE_INCREASING, PHYSICS_FEATURES, build_features
from surrogate.model import SurrogateModel
from surrogate.model._bundle import MedianFitter
from surrogate.model._calibration import Fade, WorkloadFades

_CONFIGS = st.fixed_dictionaries({
    "hardware": st.sampled_from(["h100-sxm", "a100-sxm4-80gb", "l40s", "mi300x", "b200"]),
    "model": st.sampled_from(["meta-llama/Meta-Llama-3-8B", "Qwen/Qwen2.5-14B", "mistralai/Mixtral-8x7B-v0.1"]),
    "framework": st.sampled_from(["vllm", "sglang"]),
    "tp": st.sampled_from([1, 2, 4, 8]),
    "batching": st.sampled_from(["static", "continuous"]),
    "batch_size": st.integers(1, 512),
    "input_len": st.integers(1, 8000),
    "output_len": st.integers(2, 2000),
})
# The metrics a model predicts directly, per batching mode, and the workload axes along which each must not fall.
_MONOTONE = {"static": {"latency_s": ("batch", "input_len", "output_len"),
                        "ttft_s": ("batch", "input_len", "output_len")},
             "continuous": {"ttft_s": ("batch", "input_len"), "itl_s": ("batch", "input_len")}}


def _row(config: dict[str, object]) -> pd.DataFrame:
    if config["hardware"] == "mi300x":  # the catalog has no sglang build for it
        config = {**config, "framework": "vllm"}
    return pd.DataFrame([{**config, "concurrency": config["batch_size"]}])


def _within_context(config: dict[str, object]) -> bool:
    """Longer requests than the model's context window are refused, not predicted."""
    tokens = int(config["input_len"]) + int(config["output_len"])  # type: ignore[call-overload]
    return tokens <= catalog.get_model(str(config["model"])).max_position_embeddings


def _grown(config: dict[str, object], axis: str, factor: int) -> dict[str, object]:
    if axis == "batch":
        return {**config, "batch_size": int(config["batch_size"]) * factor}  # type: ignore[call-overload]
    return {**config, axis: int(config[axis]) * factor}  # type: ignore[call-overload]


@settings(max_examples=40, deadline=None)
@given(config=_CONFIGS)
def test_no_time_below_the_peak_bound_and_no_throughput_above_its_ceiling(config: dict[str, object]) -> None:
    assume(_within_context(config))
    prediction = tiny_model().predict(_row(config)).iloc[0]
    for metric in ["latency_s", "ttft_s", "itl_s"]:
        for suffix in ("_p10", "", "_p90"):
            assert prediction[f"{metric}{suffix}"] >= prediction[f"peak_{metric}"] * (1 - 1e-9), (metric, suffix)
    tokens = int(config["batch_size"]) * (int(config["input_len"]) + int(config["output_len"]))  # type: ignore[call-overload]
    ceiling = tokens / prediction["peak_latency_s"]
    for suffix in ("_p10", "", "_p90"):
        assert prediction[f"throughput_tok_s{suffix}"] <= ceiling * (1 + 1e-9)


@cache
def _unfaded_model() -> SurrogateModel:
    """The tiny model with no workload fade at all: what a fade is measured against (the tiny model's own
    rehearsal may fade more or less than :func:`_fading_model`)."""
    model = copy.deepcopy(tiny_model())
    model.fades_ = {}
    return model


@cache
def _fading_model() -> SurrogateModel:
    """The tiny model as if its workload rehearsal had kept a tenth of a faster-than-prior level one octave
    above the range and of a slower one one octave below it: beyond it, such levels fade fast
    (``surrogate.model._calibration.WorkloadFades``); above it a slower level's added seconds stay."""
    model = copy.deepcopy(tiny_model())
    fades = (Fade(0.1, np.log(2.0)),) * 3
    model.fades_ = {metric: WorkloadFades(above=fades, below=fades) for metric in model.models_}
    return model


def _served_grid(batches: list[int], prompts: list[int], outputs: list[int]) -> pd.DataFrame:
    """Continuous-batching rows over the tiny model's parts, models, engines and tp, at these workloads."""
    return pd.DataFrame([
        {"hardware": hw, "model": model, "framework": fw, "tp": tp, "batching": "continuous", "batch_size": b,
         "concurrency": b, "input_len": n, "output_len": out}
        for hw in ["h100-sxm", "a100-sxm4-80gb", "l40s"] for model in ["meta-llama/Meta-Llama-3-8B", "Qwen/Qwen2.5-14B"]
        for fw in ["vllm", "sglang", "tensorrt-llm"] for tp in [1, 2, 4] for b in batches for n in prompts
        for out in outputs])


def test_beyond_the_range_only_a_faster_level_fades_and_only_upwards() -> None:
    rows = _served_grid([16, 512], [1024, 4000], [256])
    kept, fading = _unfaded_model().predict(rows), _fading_model().predict(rows)
    beyond = (rows["batch_size"].gt(128) | rows["input_len"].gt(1024)).to_numpy()  # trained: 1-128, 256-1024
    assert (fading.loc[~beyond, "itl_s"] == kept.loc[~beyond, "itl_s"]).all()
    for metric in ["ttft_s", "itl_s"]:
        assert (fading[metric] >= kept[metric] * (1 - 1e-12)).all(), metric
        assert (fading.loc[beyond, metric] > kept.loc[beyond, metric] * 1.001).any(), metric


def test_below_the_range_only_a_slower_level_fades_and_only_downwards() -> None:
    rows = _served_grid([1, 16], [64, 1024], [16, 128])
    kept, fading = _unfaded_model().predict(rows), _fading_model().predict(rows)
    below = (rows["input_len"].lt(256) | rows["output_len"].lt(64)).to_numpy()  # trained: 256-1024, 64-256
    assert (fading.loc[~below, "itl_s"] == kept.loc[~below, "itl_s"]).all()
    for metric in ["ttft_s", "itl_s"]:
        assert (fading[metric] <= kept[metric] * (1 + 1e-12)).all(), metric
        assert (fading.loc[below, metric] < kept.loc[below, metric] * 0.999).any(), metric


@cache
def _ratio_model() -> SurrogateModel:
    """:func:`_fading_model` whose slower-than-prior levels stay ratios above the range (their added time
    grew as fast as the prior on rehearsal: ``Fade.added_growth`` at the top of its grid)."""
    model = copy.deepcopy(_fading_model())
    model.fades_ = {metric: replace(fades, above=tuple(replace(f, added_growth=3.0) for f in fades.above))
                    for metric, fades in model.fades_.items()}
    return model


def test_above_the_range_a_fixed_added_time_leaves_the_ratio_between_prior_and_level() -> None:
    rows = _served_grid([16, 512], [1024, 4000], [256])
    ratio, fixed = _ratio_model().predict(rows), _fading_model().predict(rows)
    beyond = (rows["batch_size"].gt(128) | rows["input_len"].gt(1024)).to_numpy()  # trained: 1-128, 256-1024
    for metric in ["ttft_s", "itl_s"]:
        assert (fixed.loc[~beyond, metric] == ratio.loc[~beyond, metric]).all(), metric
        # A slower level's ratio falls toward the prior's (never below it); a faster one is as it was.
        slower = beyond & (ratio[metric] > ratio[f"analytic_{metric}"]).to_numpy()
        assert slower.any(), metric
        assert (fixed.loc[slower, metric] <= ratio.loc[slower, metric] * (1 + 1e-12)).all(), metric
        assert (fixed.loc[slower, metric] < ratio.loc[slower, metric] * 0.999).any(), metric
        assert (fixed.loc[slower, metric] >= fixed.loc[slower, f"analytic_{metric}"] * (1 - 1e-12)).all(), metric
        assert (fixed.loc[beyond & ~slower, metric] == ratio.loc[beyond & ~slower, metric]).all(), metric


@settings(max_examples=40, deadline=None)
@given(config=_CONFIGS, factor=st.sampled_from([2, 3, 8]), fading=st.sampled_from(["none", "share", "ratio"]))
def test_more_work_never_takes_less_time(config: dict[str, object], factor: int, fading: str) -> None:
    assume(_within_context(config))
    model = {"none": tiny_model, "share": _fading_model, "ratio": _ratio_model}[fading]()
    monotone = _MONOTONE[str(config["batching"])]
    axes = [axis for axis in ("batch", "input_len", "output_len")
            if any(axis in along for along in monotone.values()) and _within_context(_grown(config, axis, factor))]
    # One prediction for the base row and every grown one (a row's prediction never depends on the others').
    predicted = model.predict(pd.concat([_row(config), *(_row(_grown(config, a, factor)) for a in axes)],
                                        ignore_index=True))
    base = predicted.iloc[0]
    for position, axis in enumerate(axes, start=1):
        grown = predicted.iloc[position]
        for metric in (m for m, along in monotone.items() if axis in along):
            for suffix in ("", "_p90"):
                assert grown[f"{metric}{suffix}"] >= base[f"{metric}{suffix}"] * (1 - 1e-9), (metric, suffix, axis)


def test_only_features_that_rise_with_the_workload_are_constrained() -> None:
    """Every constrained feature is non-decreasing when batch, input or output length doubles."""
    rows = pd.DataFrame([
        {"hardware": hw, "model": "meta-llama/Meta-Llama-3-8B", "framework": "vllm", "tp": tp, "batching": mode,
         "batch_size": b, "concurrency": b, "input_len": n, "output_len": n // 2}
        for hw in ["h100-sxm", "mi300x"] for tp in [1, 4] for mode in ["static", "continuous"]
        for b in [1, 16, 128] for n in [128, 2048]])
    base = build_features(rows)[MONOTONE_INCREASING].to_numpy(dtype=float)
    for column, grown in [("batch_size", rows.assign(batch_size=rows["batch_size"] * 2,
                                                     concurrency=rows["concurrency"] * 2)),
                          ("input_len", rows.assign(input_len=rows["input_len"] * 2)),
                          ("output_len", rows.assign(output_len=rows["output_len"] * 2))]:
        after = build_features(grown)[MONOTONE_INCREASING].to_numpy(dtype=float)
        static = rows["batching"].eq("static").to_numpy()
        # Under continuous batching TTFT and ITL may fall with output length (prefill work interleaves with
        # fewer decode steps per token): nothing is required to rise with output length there.
        checked = np.ones_like(after, dtype=bool)
        if column == "output_len":
            checked[~static] = False
        assert (after[checked] >= base[checked] - 1e-12).all(), column


@settings(max_examples=20, deadline=None)
@given(config=_CONFIGS, replicas=st.sampled_from([2, 4, 8]))
def test_plain_replicas_serve_each_request_as_one_does(config: dict[str, object], replicas: int) -> None:
    # dp without expert parallelism copies the deployment: sequences are per replica, so every per-request
    # time, band and trust is the single replica's, and throughput is the replicas' sum.
    assume(_within_context(config))
    one, many = (tiny_model().predict(_row({**config, "dp": dp})).iloc[0] for dp in (1, replicas))
    for column in ["latency_s", "ttft_s", "itl_s", "latency_s_p90", "itl_s_p10", "support_distance",
                   "correction_weight", "mem_per_device_gb", "max_batch_size"]:
        assert many[column] == one[column], column
    assert many["throughput_tok_s"] == pytest.approx(one["throughput_tok_s"] * replicas, rel=1e-12)


def test_the_free_analytic_ablation_leaves_only_the_analytic_features_unconstrained() -> None:
    columns = list(FEATURE_COLUMNS)
    shipped = dict(zip(columns, MedianFitter(0.1, 31, 10, 0, 10).params(columns)["monotone_constraints"], strict=True))
    ablation = dict(zip(columns, MedianFitter(0.1, 31, 10, 0, 10, monotone_analytic=False).params(columns)[
        "monotone_constraints"], strict=True))
    assert {c for c, v in shipped.items() if v} == set(MONOTONE_INCREASING)
    assert {c for c, v in ablation.items() if v} == set(MONOTONE_INCREASING) - set(PHYSICS_FEATURES)
    assert {"log_input_len", "log_output_len", "log_sequences"} <= {c for c, v in ablation.items() if v}
