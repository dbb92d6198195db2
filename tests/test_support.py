"""Support: where a row beyond the trained workload range reads the learned correction, and what each
metric's trees saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table, tiny_model

from surrogate.model import SurrogateModel
from surrogate.model._calibration import Band, rehearsable, residual_band
from surrogate.model._software import with_source_eras
from surrogate.model._support import (
    Support,
    assess_by_metric,
    fit_support,
    kind_folds,
    nearest_distance,
    workload_tails,
)

_8B, _70B = "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B"


def _support(workload_range: dict[str, dict[str, dict[str, tuple[float, float]]]]) -> Support:
    return Support(vendors=set(), hardware=set(), models=set(), frameworks=set(), software=set(),
                   deployments=set(), workload_range=workload_range, center=np.zeros(1), scale=np.ones(1),
                   points=np.zeros((1, 1)))


def test_clamp_holds_each_batching_mode_to_its_own_range() -> None:
    # Continuous rows were once left unclamped in input and output length whenever static rows were trained
    # too (the static pass rewrote those columns from the unclamped rows).
    support = _support({"continuous": {_8B: {"sequences": (1.0, 64.0), "input_len": (128.0, 1024.0),
                                             "output_len": (100.0, 2048.0)}},
                        "static": {_8B: {"sequences": (1.0, 16.0), "input_len": (256.0, 2048.0),
                                         "output_len": (1.0, 512.0)}}})
    rows = pd.DataFrame({"model": ["meta-llama/Llama-3.1-8B"] * 3,
                         "batching": ["continuous", "static", "continuous"],
                         "concurrency": [256, 1, 8], "batch_size": [256, 64, 8],
                         "input_len": [8192, 8192, 64], "output_len": [4096, 1024, 50]})
    clamped = support.clamp(rows)
    assert clamped[["concurrency", "batch_size", "input_len", "output_len"]].values.tolist() == [
        [64, 64, 1024, 2048], [1, 16, 2048, 512], [8, 8, 128, 100]]


def test_the_workload_range_is_its_models_and_an_untrained_model_takes_the_nearest_in_size() -> None:
    # Served 8B rows were measured up to 512 in flight, 70B rows up to 128 (aiconfigurator's shape): a 70B
    # row at 950 in flight is far beyond its model's range, though inside the 8B one. Llama-2-70B, never
    # trained on, takes the range of Llama-3.1-70B (69B vs 70.6B parameters), not of the 8B.
    served = {"sequences": (8.0, 512.0), "input_len": (128.0, 4096.0), "output_len": (128.0, 1024.0)}
    support = _support({"continuous": {_8B: served, _70B: {**served, "sequences": (4.0, 128.0)}}})
    rows = pd.DataFrame({"model": [_8B, _70B, "meta-llama/Llama-2-70b-hf", _8B],
                         "batching": ["continuous", "continuous", "continuous", "static"],
                         "concurrency": [256.0, 950.0, 950.0, np.nan], "batch_size": [256, 950, 950, 4],
                         "input_len": [1024, 1024, 1024, 1024], "output_len": [256, 256, 256, 256]})
    above, below = support.range_excess(rows)
    assert above[:, 0] == pytest.approx([0.0, np.log(950 / 128), np.log(950 / 128), np.log(2.0)])
    assert (above[:, 1:] == 0).all()  # static batches never trained on: log 2 above, in sequences
    assert (below == 0).all()
    clamped = support.clamp(rows)
    assert clamped["concurrency"].tolist()[:3] == [256.0, 128.0, 128.0]
    assert clamped["batch_size"].tolist() == [256, 128, 128, 4]


def test_below_the_range_each_dimension_says_its_own_distance() -> None:
    served = {"sequences": (8.0, 512.0), "input_len": (128.0, 4096.0), "output_len": (128.0, 1024.0)}
    support = _support({"continuous": {_8B: served, _70B: {**served, "sequences": (4.0, 128.0)}}})
    rows = pd.DataFrame({"model": [_70B, _70B, _8B], "batching": ["continuous"] * 3,
                         "concurrency": [2.0, 16.0, 1.0], "batch_size": [2, 16, 1],
                         "input_len": [1024, 32, 1024], "output_len": [256, 256, 32]})
    above, below = support.range_excess(rows)
    assert (above == 0).all()
    # The least is every model's (4 in flight), whichever model's size the row has.
    np.testing.assert_allclose(below, [[np.log(2.0), 0.0, 0.0], [0.0, np.log(4.0), 0.0],
                                       [np.log(4.0), 0.0, np.log(4.0)]])


def test_each_workload_tail_holds_out_the_top_or_bottom_fifth_of_its_dimension_whatever_other_tails_hold() -> None:
    rows = pd.DataFrame({"batching": ["continuous"] * 10, "concurrency": np.arange(1.0, 11.0),
                         "batch_size": np.arange(1, 11),
                         "input_len": [1000, 600, 500, 900, 700, 800, 100, 200, 400, 300],
                         "output_len": [50, 60, 70, 80, 100, 90, 30, 40, 10, 20]})
    tails = workload_tails(rows)
    # Columns: most in flight, longest prompts, longest outputs, then fewest, shortest, shortest.
    assert [np.flatnonzero(tails[:, k]).tolist() for k in range(6)] == [[8, 9], [0, 3], [4, 5], [0, 1], [6, 7],
                                                                          [8, 9]]
    # Row 0 (fewest in flight, longest prompt) is in both of its tails, so the prompt tail's rehearsal keeps
    # nothing as long as what it holds out: it lies beyond (800 is the longest kept).
    kept = rows["input_len"][~tails[:, 1]]
    assert kept.max() == 800 and rows["input_len"][tails[:, 1]].min() == 900


def test_a_row_beyond_the_range_says_which_range_in_words() -> None:
    served = {"sequences": (8.0, 512.0), "input_len": (128.0, 4096.0), "output_len": (128.0, 1024.0)}
    support = _support({"continuous": {_8B: served, _70B: {**served, "sequences": (4.0, 128.0)}},
                        "static": {_8B: {"sequences": (1.0, 16.0), "input_len": (256.0, 2048.0),
                                         "output_len": (1.0, 512.0)}}})
    rows = pd.DataFrame({"model": [_70B, _8B, _8B, _70B, "meta-llama/Llama-2-70b-hf"],
                         "batching": ["continuous", "continuous", "static", "continuous", "continuous"],
                         "concurrency": [950.0, 64.0, np.nan, 64.0, 2.0], "batch_size": [950, 64, 64, 64, 2],
                         "input_len": [8192, 1024, 4096, 1024, 1024], "output_len": [256, 256, 1024, 256, 256]})
    above, below = support.range_excess(rows)
    beyond = (above.max(axis=1) > 0) | (below.max(axis=1) > 0)
    assert support.range_words(rows, beyond).tolist() == [
        "trained at 4-128 in flight, prompts 128-4,096 tokens on models of its size",
        "",
        "trained at batch 1-16, prompts 256-2,048 tokens, outputs 1-512 tokens on models of its size",
        "",
        "trained at 4-128 in flight on models of its size"]  # below every model's least: 4


def _served_and_static() -> pd.DataFrame:
    served = synthetic_table()
    static = served.assign(batching="static", concurrency=pd.NA)
    return pd.concat([served, static], ignore_index=True)


def test_a_metric_is_asked_about_the_rows_its_trees_learned_from() -> None:
    # ITL measured everywhere but on the L40S; latency everywhere. Served ITL on the L40S is new to the ITL
    # trees; static ITL is derived from latency and TTFT, so a static L40S row is on the data.
    table = _served_and_static()
    cfg, _, feats = tiny_model()._physics(table)
    no_l40s = table["hardware"].ne("l40s").to_numpy()
    supports = {"latency_s": fit_support(cfg, feats), "itl_s": fit_support(cfg[no_l40s], feats[no_l40s])}
    rows = table[table["hardware"].eq("l40s")].index[[0]].tolist()
    rows += [rows[0] + len(synthetic_table()), int(np.flatnonzero(no_l40s)[0])]
    rows.append(rows[-1] + len(synthetic_table()))
    zero = np.zeros(len(rows))
    combined, by_metric = assess_by_metric(supports, cfg.loc[rows], feats.loc[rows], zero, zero)
    assert table.loc[rows, ["hardware", "batching"]].values.tolist() == [
        ["l40s", "continuous"], ["l40s", "static"], ["h100-sxm", "continuous"], ["h100-sxm", "static"]]
    assert by_metric["itl_s"]["hardware_seen_in_training"].tolist() == [False, False, True, True]
    assert by_metric["latency_s"]["hardware_seen_in_training"].tolist() == [True, True, True, True]
    # Served rows are decided by ITL (latency derived), static ones by latency (ITL derived).
    assert combined["hardware_seen_in_training"].tolist() == [False, True, True, True]
    assert combined["off_support"].tolist() == ["hardware, software", "", "", ""]  # software: its engine on it


def test_served_itl_on_hardware_its_trees_never_saw_takes_the_rehearsed_trust() -> None:
    table = synthetic_table()
    table.loc[table["hardware"].eq("l40s"), "itl_s"] = np.nan
    model = SurrogateModel(seed=0, n_estimators=20).fit(table)
    prediction = model.predict(table[table["hardware"].eq("l40s")].head(1))
    row = prediction.iloc[0]
    assert not row["hardware_seen_in_training"]
    assert row["off_support"] == "hardware, software"
    assert row["ttft_s_correction_weight"] == 1.0  # the TTFT trees saw this deployment
    assert row["itl_s_correction_weight"] == pytest.approx(model.bands_["itl_s"]["hardware"].shrink)


def test_a_batching_mode_the_trees_never_saw_is_the_prior_alone() -> None:
    # The tiny model's TTFT trees learned from served rows only: a static batch keeps none of their correction,
    # whatever the rehearsed trust of an unseen accelerator would keep; a served row keeps all of it.
    model = tiny_model()
    assert model._trained_modes("ttft_s") == ["continuous"] and model._trained_modes("latency_s") == []
    served = synthetic_table().head(1)
    static = served.assign(batching="static")
    prediction = model.predict(pd.concat([served, static], ignore_index=True))
    assert prediction["ttft_s_correction_weight"].tolist() == [1.0, 0.0]
    assert prediction["correction_weight"].tolist() == [1.0, 0.0]
    static_row = prediction.iloc[1]
    assert static_row["ttft_s"] == max(static_row["analytic_ttft_s"], static_row["peak_ttft_s"])
    assert static_row["ttft_s_p10"] <= static_row["ttft_s"] <= static_row["ttft_s_p90"]
    assert prediction.iloc[0]["ttft_s"] != prediction.iloc[0]["analytic_ttft_s"]


def test_a_far_row_says_what_the_nearest_trained_deployment_of_its_model_differs_in() -> None:
    # Trained: Llama-3-8B and Qwen2.5-14B, bf16 weights and KV cache. An fp8 KV cache halves the KV bytes per
    # token (Llama-3-8B: 32 layers x 2 x 8 KV heads x 128 x 2 bytes = 131,072); a 70B model is a new shape,
    # compared with the nearest trained deployment of any shape (Qwen2.5-14B: 14.8B parameters, hidden 5120).
    table = synthetic_table()
    model = tiny_model()
    cfg, _, feats = model._physics(table)
    support = fit_support(cfg, feats)
    asked = table.head(4).assign(kv_dtype=["fp8", "fp8", "bf16", "bf16"],
                                 model=["meta-llama/Meta-Llama-3-8B", "Qwen/Qwen2.5-14B", "meta-llama/Llama-3.1-70B",
                                        "meta-llama/Meta-Llama-3-8B"])
    asked_cfg, _, asked_feats = model._physics(asked)
    zero = np.zeros(len(asked))
    combined, _ = assess_by_metric({"latency_s": support}, asked_cfg, asked_feats, zero, zero)
    assert combined["support_nearest"].tolist() == [
        "KV cache bytes per token 65,536 (nearest trained: 131,072)",
        "KV cache bytes per token 98,304 (nearest trained: 196,608)",
        "a model shape never trained on: parameters 70.6B (nearest trained: 14.8B); active parameters 70.6B "
        "(nearest trained: 14.8B); hidden size 8192 (nearest trained: 5120)",
        ""]  # on the data: nothing to explain
    assert combined["off_support"].tolist() == ["distance", "distance", "model, distance", ""]


def test_a_model_where_the_rows_held_one_model_only_is_the_prior_with_its_band() -> None:
    # Trained on Llama-3-8B alone, nothing rehearsed whether the correction carries to another model:
    # Qwen2.5-14B is predicted by the prior, with no trust (MLPerf's two models, in one hash fold, once handed
    # their full ITL correction to every aiconfigurator model) and the prior's band with the model held out
    # of its fit; with one model nothing is left to refit on, so that is the prior's error on the rows.
    table = synthetic_table()
    llama = table["model"].eq("meta-llama/Meta-Llama-3-8B")
    model = SurrogateModel(seed=0, n_estimators=20).fit(table[llama])
    bands = model.bands_["itl_s"]
    own = residual_band(np.log(table.loc[llama, "itl_s"] / model.predict(table[llama])["analytic_itl_s"]).to_numpy())
    expected = Band(min(own.low_log, bands["seen"].low_log), max(own.high_log, bands["seen"].high_log), 0.0, 0)
    assert bands["model"] == expected
    row = model.predict(table[~llama].head(1)).iloc[0]
    assert not row["model_seen_in_training"]
    assert row["itl_s_correction_weight"] == 0.0
    assert row["itl_s"] == pytest.approx(max(row["analytic_itl_s"], row["peak_itl_s"]), rel=1e-12)
    assert row["itl_s_p90"] == pytest.approx(max(row["analytic_itl_s"] * np.exp(expected.high_log),
                                                 row["peak_itl_s"]), rel=1e-12)
    seen = model.predict(table[llama].head(1)).iloc[0]
    assert seen["itl_s_correction_weight"] == 1.0


def test_a_group_is_rehearsed_only_where_enough_rows_are_left_to_learn_from() -> None:
    # 25 + 3 + 10 rows, 20 needed to learn: holding out "a" leaves 13, so "a" is never held out (-1);
    # integer groups below 0 (never held out) stay so.
    groups = np.array(["a"] * 25 + ["b"] * 3 + ["c"] * 10)
    assert rehearsable(groups, 20).tolist() == [-1] * 25 + [1] * 3 + [2] * 10
    assert rehearsable(np.array([0] * 5 + [-1] * 30), 20).tolist() == [0] * 5 + [-1] * 30


def test_an_accelerator_kind_with_one_group_rehearsed_is_the_prior() -> None:
    # Every H100 row and four L40S ones: holding the H100 out would leave four rows to learn from, so only
    # the L40S is rehearsed, and one group says nothing of how the correction carries to the next: the A100
    # is predicted by the prior, with the prior's band as measured with each accelerator held out of its fit
    # (no trust, nothing rehearsed: rows 0), within the widest over every kind and never narrower than seen.
    table = synthetic_table()
    h100 = table["hardware"].eq("h100-sxm")
    l40s = table.index[table["hardware"].eq("l40s")][:4]
    model = SurrogateModel(seed=0, n_estimators=20).fit(pd.concat([table[h100], table.loc[l40s]]))
    bands = model.bands_["itl_s"]
    hardware, prior, seen = bands["hardware"], bands["prior"], bands["seen"]
    assert (hardware.shrink, hardware.rows) == (0.0, 0)
    assert prior.low_log <= hardware.low_log <= seen.low_log and seen.high_log <= hardware.high_log <= prior.high_log
    row = model.predict(table[table["hardware"].eq("a100-sxm4-80gb")].head(1)).iloc[0]
    assert not row["hardware_seen_in_training"]
    assert row["itl_s_correction_weight"] == 0.0


def test_a_deployment_is_measured_at_its_model_lengths_engine_and_release_whatever_the_batch_or_part() -> None:
    # Trained without versions. The same model, lengths and engine at another batch and on another accelerator
    # was measured; at twice the prompt, on another engine or on a named release it was not. A source's era
    # date (what training and evaluation give a row that records no release) is no release.
    table = synthetic_table().assign(source="llm-inference-bench")
    model = tiny_model()
    cfg, _, feats = model._physics(with_source_eras(table.head(12)))  # as fit dates them: 2024-07-01
    support = fit_support(cfg, feats)
    first = table.head(1).drop(columns="source").assign(framework_version="2024-07-01")
    assert first[["hardware", "framework", "concurrency", "input_len"]].values.tolist() == [
        ["h100-sxm", "vllm", 1, 256]]
    asked = pd.concat([first.assign(concurrency=16, batch_size=16, hardware="a100-sxm4-80gb"),
                       first.assign(input_len=512), first.assign(framework="sglang"),
                       first.assign(framework_version="0.6.0")], ignore_index=True)
    asked_cfg, _, asked_feats = model._physics(asked)
    zero = np.zeros(len(asked))
    combined, by_metric = assess_by_metric({"itl_s": support}, asked_cfg, asked_feats, zero, zero)
    assert combined["deployment_measured"].tolist() == [True, False, False, False]
    assert by_metric["itl_s"]["deployment_measured"].tolist() == [True, False, False, False]
    assert "deployment" not in combined["off_support"].str.cat()  # not measured is not off the data


def test_a_prompt_read_in_chunks_never_trained_on_is_far_and_says_so() -> None:
    # Trained: whole prompts in one pass of the weights (the serving engines' budget, 8,192 tokens, counts
    # as that). llama.cpp's prompt batch of 16 streams the weights once per 16 tokens: a prefill no trained
    # row ran, so the distance is log2(8192 / 16) = 9 over the scale 1 of a feature that never varied,
    # whatever else matches. A budget above 8,192 is read as one pass too.
    table = synthetic_table()
    model = tiny_model()
    cfg, _, feats = model._physics(table)
    support = fit_support(cfg, feats)
    asked = table.head(3).assign(prefill_chunk_tokens=[16.0, 16384.0, np.nan])
    asked_cfg, _, asked_feats = model._physics(asked)
    zero = np.zeros(len(asked))
    combined, _ = assess_by_metric({"latency_s": support}, asked_cfg, asked_feats, zero, zero)
    assert combined["support_distance"].iloc[0] == pytest.approx(9.0 / support.reference_distance)
    assert combined["support_distance"].iloc[1:].tolist() == [0.0, 0.0]
    assert combined["support_nearest"].tolist() == [
        "prompt tokens per pass of the weights 16 (nearest trained: 8192)", "", ""]
    assert combined["off_support"].tolist() == ["distance", "", ""]


def test_another_release_is_other_software_even_on_the_same_date() -> None:
    # vLLM 0.19.0 and the nightly nightly-5b8c30d62b754b57 are both dated 2026-04-03 (framework_versions.csv).
    # Trained on the nightly, the nightly is seen software; 0.19.0 is not, nor is the nightly on another part.
    nightly = "nightly-5b8c30d62b754b57"
    table = synthetic_table().head(12).assign(framework_version=nightly)
    model = tiny_model()
    cfg, _, feats = model._physics(table)
    support = fit_support(cfg, feats)
    first = table.head(1).drop(columns="source", errors="ignore")
    asked = pd.concat([first, first.assign(framework_version="0.19.0"),
                       first.assign(hardware="a100-sxm4-80gb")], ignore_index=True)
    asked_cfg, _, asked_feats = model._physics(asked)
    assert asked_feats["software_year"].nunique() == 1  # one date for all three
    zero = np.zeros(len(asked))
    combined, _ = assess_by_metric({"itl_s": support}, asked_cfg, asked_feats, zero, zero)
    assert combined["software_seen_in_training"].tolist() == [True, False, False]


def test_each_engines_newest_release_is_rehearsed_in_a_fold_of_its_own() -> None:
    # Pooled as one group, one engine's release decided the trust for every engine's next one.
    cfg = pd.DataFrame({"framework": ["vllm", "vllm", "sglang", "sglang", "vllm", "llama.cpp"],
                        "hardware": ["h100-sxm"] * 6, "model": [_8B] * 6})
    feats = pd.DataFrame({"software_year": [6.2, 6.0, 6.1, 6.1, 6.2, 4.5]})
    recorded = np.array([True, True, True, True, False, False])  # the last two: their source's era
    software = kind_folds(cfg, feats, recorded, np.zeros(6, dtype=np.int64))["software"]
    assert software[[1, 4, 5]].tolist() == [-1, -1, -1]  # an older release, and unrecorded ones: always trained
    assert software[2] == software[3] >= 0 and software[0] >= 0 and software[0] != software[2]


def test_the_distance_to_the_nearest_training_point_is_exact_and_does_not_depend_on_the_chunk() -> None:
    points = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]])
    query = np.array([[0.0, 0.0], [3.0, 0.0], [6.0, 8.0], [10.0, 1.0]])
    np.testing.assert_allclose(nearest_distance(points, query), [0.0, 3.0, 5.0, 1.0])
    rng = np.random.default_rng(0)
    many, train = rng.normal(size=(2500, 15)), rng.normal(size=(200, 15))  # three chunks of up to 1,024
    from scipy.spatial import cKDTree

    np.testing.assert_allclose(nearest_distance(train, many), cKDTree(train).query(many, k=1)[0], rtol=1e-12)
    # A row's distance is the same asked alone or with 2,499 others.
    assert nearest_distance(train, many[1500:1501])[0] == nearest_distance(train, many)[1500]


def test_a_new_model_shape_is_compared_with_the_trained_shape_nearest_in_shape() -> None:
    # The default model trained dense Llamas of 8-70B and MoEs up to DeepSeek's 671B. Compared with the nearest
    # deployment of any shape, a dense Qwen3.5-27B on one H100 read as "parameters 24.4B (nearest trained: 671B)".
    from surrogate.model import load_default

    rows = pd.DataFrame([{"hardware": "h100-sxm", "model": model, "concurrency": 64, "input_len": 1024,
                          "output_len": 256} for model in ("Qwen/Qwen3.5-27B", "Qwen/Qwen3.5-35B-A3B")])
    nearest = load_default().predict(rows)["support_nearest"].tolist()
    # Llama-3.1-70B, the nearest dense shape, named in the prefix as no listed difference names its size
    assert nearest[0].startswith("a model shape never trained on (nearest trained shape: 70.6B parameters): ")
    assert "671B" not in nearest[0] and "hidden size 5120 (nearest trained: 8192)" in nearest[0]
    # where no word says which shape it was compared with, the prefix names it (gpt-oss-120b)
    assert nearest[1].startswith("a model shape never trained on (nearest trained shape: 117B parameters, 5.71B "
                                 "active): ")
