"""Disaggregated serving physics: a hand-computed xPyD case, conservation, and agreement with the aggregated model."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny_model import synthetic_table
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from features.analytic import estimate
from features.catalog import get_hardware
from features.disaggregated import estimate_disaggregated
from features.efficiency import default_efficiency
from features.errors import ConfigError, DataError
from features.roofline import NETWORK_LATENCY_S, P2P_LATENCY_S
from surrogate.cli import cli
from surrogate.model import SurrogateModel
from surrogate.model._calibration import Band
from surrogate.model._disaggregated import DISAGG_METRICS, DisaggregatedCorrection, _halves

BASE = {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "framework": "vllm", "weight_dtype": "bf16",
        "kv_dtype": "bf16", "input_len": 1024, "output_len": 128}


def _one(**changes: object) -> pd.DataFrame:
    row = {**BASE, "concurrency": 1, "prefill_workers": 1, "decode_workers": 1, "prefill_tp": 1, "decode_tp": 1}
    return pd.DataFrame([{**row, **changes}])


def _static(batch: int, sequence_costs: dict[str, float] | None = None, **changes: object) -> pd.Series:
    """The aggregated model's static batch; by default as a serving engine's worker runs it: without the host
    cost per sequence of offline static batches (``Efficiency.framework_sequence_s``)."""
    efficiency = replace(default_efficiency(), framework_sequence_s=sequence_costs or {})
    return estimate(pd.DataFrame([{**BASE, "batching": "static", "batch_size": batch, "tp": 1, **changes}]),
                    efficiency=efficiency).iloc[0]


def test_one_prefill_one_decode_worker_by_hand() -> None:
    """1P1D, one client. Llama-3.1-8B's KV cache: 32 layers x 8 KV heads x 128 dims x (K, V) x 2 bytes = 131,072
    bytes per token, x 1,024 prompt tokens = 134,217,728 bytes, over one NVLink (both workers in one 8-GPU domain).
    Prefill and decode are the aggregated model's static batch of one; the first token waits the aggregated
    model's fitted steps (vLLM's share of them) of the decode worker; the client waits for each request, so the
    rate is 1 / latency (Little's law with one in flight)."""
    got = estimate_disaggregated(_one()).iloc[0]
    assert got["kv_bytes_per_request"] == 134_217_728
    link = get_hardware("h100-sxm").intra_node_bw_gbps * 1e9
    assert got["kv_transfer_s"] == pytest.approx(P2P_LATENCY_S + 134_217_728 / link)
    static = _static(1)
    assert got["prefill_s"] == pytest.approx(static["ttft_s"])
    assert got["itl_s"] == pytest.approx(static["itl_s"])
    efficiency = default_efficiency()
    steps = efficiency.first_token_steps * np.exp(efficiency.framework_log_wait["vllm"])
    assert got["first_token_wait_s"] == pytest.approx(steps * got["itl_s"])
    assert got["wave_s"] == 0.0  # no other client
    assert got["ttft_s"] == pytest.approx(got["queue_s"] + got["prefill_s"] + got["kv_transfer_s"]
                                          + got["first_token_wait_s"])
    assert got["latency_s"] == pytest.approx(got["ttft_s"] + 127 * got["itl_s"])
    assert got["request_rate_req_s"] * got["latency_s"] == pytest.approx(1.0, rel=1e-6)
    # M/D/1 wait at the prefill pool's utilisation.
    rho = got["request_rate_req_s"] / got["prefill_capacity_req_s"]
    assert got["queue_s"] == pytest.approx(rho / (2 * (1 - rho)) * got["prefill_s"], rel=1e-6)
    assert got["output_throughput_tok_s"] == pytest.approx(got["request_rate_req_s"] * 128)
    assert got["num_devices"] == 2 and got["fits"]


def test_decode_batch_is_the_clients_per_decode_worker_shared_by_attention_dp() -> None:
    got = estimate_disaggregated(_one(concurrency=96, decode_workers=3, decode_tp=2, decode_dp=2,
                                      decode_batch_size=12)).iloc[0]
    assert got["decode_batch"] == 24  # 96 clients / 3 workers = 32, capped at 12 per DP rank x 2 ranks
    assert got["itl_s"] == pytest.approx(_static(12, tp=2, dp=2, num_devices=4)["itl_s"])  # 12 per DP rank
    assert got["num_devices"] == 1 + 3 * 4
    roomy = estimate_disaggregated(_one(concurrency=96, decode_workers=3, decode_tp=2, decode_dp=2,
                                        decode_batch_size=24)).iloc[0]
    assert roomy["decode_batch"] == 32  # 24 per rank x 2 = 48 allowed; each worker has 32 clients


def test_a_decode_worker_runs_only_what_its_memory_holds_and_the_rest_wait() -> None:
    """Llama-3.1-8B bf16 on one H100 decode worker, 1024 + 128 tokens a request: the aggregated memory model holds
    ``max_batch_size`` such requests; offered 1,000 the worker decodes that many and the rest wait for a slot
    (their wait is queueing in TTFT), priced as the static decode step at the batch held."""
    held = int(_static(1000)["max_batch_size"])
    assert 100 < held < 1000
    got = estimate_disaggregated(_one(concurrency=1000, prefill_workers=4)).iloc[0]
    assert got["decode_batch"] == held and got["fits"]
    assert got["itl_s"] == pytest.approx(_static(held)["itl_s"])
    assert got["bound_by"] == "decode pool"
    assert got["decode_capacity_req_s"] == pytest.approx(held / (127 * got["itl_s"]))
    assert got["request_rate_req_s"] * got["latency_s"] == pytest.approx(1000, rel=1e-6)
    assert got["queue_s"] > 127 * got["itl_s"]  # most of the 1,000 wait longer than a whole decode


def test_a_first_token_waits_the_engines_steps_and_a_share_of_the_prompts_handed_over_with_it() -> None:
    """64 clients on 2 prefill workers: lockstep clients hand each worker 32 prompts at once, so a prompt waits a
    quarter (the wave share here) of the other 31's prefill, 7.75 prefills, where the M/D/1 queue at the
    pools' utilisation is far less (long outputs keep the rate low); then its own prefill, the transfer, and
    4 decode steps of the decode worker (x2 on an engine whose wait offset is log 2). A prefill worker that
    prefills 2 prompts at once takes the others in 15.5 batches of 2."""
    efficiency = replace(default_efficiency(), first_token_steps=4.0, framework_log_wait={}, wave_fraction=0.25)
    rows = _one(concurrency=64, prefill_workers=2, decode_workers=4, output_len=512)
    got = estimate_disaggregated(rows, efficiency=efficiency).iloc[0]
    assert got["wave_s"] == pytest.approx(0.25 * 31 * got["prefill_s"])
    rho = got["request_rate_req_s"] / got["prefill_capacity_req_s"]
    assert rho / (2 * (1 - rho)) * got["prefill_s"] < got["wave_s"]
    assert got["queue_s"] == got["wave_s"]  # the larger account of the same wait
    assert got["first_token_wait_s"] == pytest.approx(4.0 * got["itl_s"])
    assert got["ttft_s"] == pytest.approx(got["wave_s"] + got["prefill_s"] + got["kv_transfer_s"] + 4.0 * got["itl_s"])
    assert got["request_rate_req_s"] * got["latency_s"] == pytest.approx(64, rel=1e-6)  # Little's law at that TTFT
    slower = replace(efficiency, framework_log_wait={"vllm": np.log(2.0)})
    assert estimate_disaggregated(rows, efficiency=slower).iloc[0]["first_token_wait_s"] == pytest.approx(
        8.0 * got["itl_s"])
    pairs = estimate_disaggregated(_one(concurrency=64, prefill_workers=2, decode_workers=4, output_len=512,
                                        prefill_batch_size=2), efficiency=efficiency).iloc[0]
    assert pairs["wave_s"] == pytest.approx(0.25 * 31 / 2 * pairs["prefill_s"])


def test_kv_crosses_the_network_beyond_one_scale_up_domain() -> None:
    inside = estimate_disaggregated(_one(prefill_workers=1, decode_workers=7)).iloc[0]  # 8 GPUs: one NVLink domain
    beyond = estimate_disaggregated(_one(prefill_workers=2, decode_workers=7)).iloc[0]  # 9 GPUs: two nodes
    spec = get_hardware("h100-sxm")
    assert inside["kv_transfer_s"] == pytest.approx(P2P_LATENCY_S + 134_217_728 / (spec.intra_node_bw_gbps * 1e9))
    assert beyond["kv_transfer_s"] == pytest.approx(NETWORK_LATENCY_S + 134_217_728 / (spec.inter_node_bw_gbps * 1e9))


def test_an_overloaded_prefill_pool_bounds_the_rate_and_queues() -> None:
    got = estimate_disaggregated(_one(concurrency=2048, decode_workers=16, input_len=8192)).iloc[0]
    assert got["bound_by"] == "prefill pool"
    # The M/D/1 wait grows without bound as the rate nears the capacity, so the rate sits just below it.
    assert got["request_rate_req_s"] == pytest.approx(got["prefill_capacity_req_s"], rel=1e-3)
    assert got["queue_s"] > 10 * got["prefill_s"]
    # Little's law still holds: clients = rate x time each request spends in the system.
    assert got["request_rate_req_s"] * got["latency_s"] == pytest.approx(2048, rel=1e-6)


def test_a_request_hands_its_recurrent_state_to_the_decode_worker() -> None:
    # Qwen3.5-27B after a 1,024-token prompt: 16 attention layers x 4 KV heads x 256 x (K, V) x 2 bytes per token,
    # and 153,944,064 bytes of Gated DeltaNet state (test_memory), whatever the prompt's length.
    got = estimate_disaggregated(_one(model="Qwen/Qwen3.5-27B")).iloc[0]
    assert got["kv_bytes_per_request"] == 16 * 4 * 256 * 2 * 2 * 1024 + 153_944_064


def test_one_p_one_d_with_free_transfer_matches_the_aggregated_model() -> None:
    """With one client 1P1D is the aggregated replica split in two: TTFT within 20% (both wait half a decode step
    for a first token; disaggregated adds the transfer and the prefill queue), ITL within 10% (aggregated decode
    steps also carry the arrivals' prompts, 1 / 128 of a request per step here). Both are read at the least wait
    for a first token (half a step, on every engine, no prompts ahead), so the comparison is of the split alone. With
    four clients the aggregated model still prefills each prompt alone, beside the running decodes, and the
    prefill worker of batch 1 is seldom busy when a prompt comes: TTFT within 10%."""
    least_wait = replace(default_efficiency(), first_token_steps=0.5, framework_log_wait={}, wave_fraction=0.0)
    split = estimate_disaggregated(_one(), efficiency=least_wait).iloc[0]
    whole = estimate(pd.DataFrame([{**BASE, "batching": "continuous", "concurrency": 1, "tp": 1}]),
                     efficiency=least_wait).iloc[0]
    assert split["ttft_s"] / whole["ttft_s"] == pytest.approx(1.0, abs=0.2)
    assert split["itl_s"] / whole["itl_s"] == pytest.approx(1.0, abs=0.1)
    split4 = estimate_disaggregated(_one(concurrency=4), efficiency=least_wait).iloc[0]
    whole4 = estimate(pd.DataFrame([{**BASE, "batching": "continuous", "concurrency": 4, "tp": 1}]),
                      efficiency=least_wait).iloc[0]
    assert split4["ttft_s"] / whole4["ttft_s"] == pytest.approx(1.0, abs=0.1)


def test_rows_without_worker_counts_are_refused() -> None:
    with pytest.raises(ConfigError, match="row 0: decode_workers is not recorded; a disaggregated deployment is "
                                          "described by its worker counts"):
        estimate_disaggregated(_one(decode_workers=np.nan))
    with pytest.raises(ConfigError, match="disaggregated worker: .*tp 3 does not divide the 32 attention heads"):
        estimate_disaggregated(_one(decode_tp=3))


@settings(max_examples=15, deadline=None)
@given(concurrency=st.integers(1, 4096), prefill=st.integers(1, 8), decode=st.integers(1, 8),
       prefill_tp=st.sampled_from([1, 2, 4, 8]), decode_tp=st.sampled_from([1, 2, 4, 8]),
       input_len=st.integers(16, 16384), output_len=st.integers(2, 4096))
def test_rate_never_exceeds_either_pool_and_nothing_beats_the_peak(concurrency: int, prefill: int, decode: int,
                                                                   prefill_tp: int, decode_tp: int, input_len: int,
                                                                   output_len: int) -> None:
    got = estimate_disaggregated(_one(concurrency=concurrency, prefill_workers=prefill, decode_workers=decode,
                                      prefill_tp=prefill_tp, decode_tp=decode_tp, input_len=input_len,
                                      output_len=output_len)).iloc[0]
    ceiling = min(got["prefill_capacity_req_s"], got["decode_capacity_req_s"])
    assert got["request_rate_req_s"] <= ceiling * (1 + 1e-9)
    assert got["ttft_s"] >= got["peak_ttft_s"] and got["itl_s"] >= got["peak_itl_s"]
    assert got["latency_s"] >= got["peak_latency_s"]
    assert got["request_rate_req_s"] * got["latency_s"] == pytest.approx(concurrency, rel=1e-6)


# --- the learned correction inside a bundle ---------------------------------------------------------


def _disaggregated_table(factor_ttft: float = 1.6, factor_itl: float = 1.2, model: str = BASE["model"]) -> pd.DataFrame:
    """'Measured' disaggregated rows of ``model``: the xPyD physics x a known factor per metric."""
    rows = []
    for concurrency, prefill, decode, tp, length in itertools.product([1, 8, 64], [1, 2], [1, 2, 4], [1, 2],
                                                                      [512, 2048]):
        rows.append({**BASE, "mode": "disaggregated", "concurrency": concurrency, "prefill_workers": prefill,
                     "decode_workers": decode, "prefill_tp": tp, "decode_tp": tp, "input_len": length,
                     "model": model, "source": "synthetic"})
    table = pd.DataFrame(rows)
    physics = estimate_disaggregated(table)
    table["ttft_s"] = physics["ttft_s"] * factor_ttft
    table["itl_s"] = physics["itl_s"] * factor_itl
    return table


@pytest.fixture(scope="module")
def bundle() -> SurrogateModel:
    return SurrogateModel(seed=0, n_estimators=20, calibrate=False).fit(synthetic_table(),
                                                                       disaggregated=_disaggregated_table())


def test_a_bundle_learns_the_disaggregated_correction_and_keeps_aggregated_rows_apart(bundle: SurrogateModel) -> None:
    table = _disaggregated_table()
    held = table.iloc[[5, 40]]
    aggregated = synthetic_table().iloc[:3].drop(columns=["latency_s", "ttft_s", "itl_s"])
    mixed = pd.concat([aggregated, held], ignore_index=True)
    got = bundle.predict(mixed)
    assert list(got["mode"]) == ["aggregated"] * 3 + ["disaggregated"] * 2
    # Aggregated rows are predicted exactly as they are alone.
    alone = bundle.predict(aggregated)
    pd.testing.assert_series_equal(got["ttft_s"].iloc[:3], alone["ttft_s"], check_names=False)
    disagg = got.iloc[3:]
    assert disagg["disaggregated_learned"].all()
    # The measured rows are the default physics x 1.6 (TTFT) and x 1.2 (ITL); the bundle's physics uses the
    # efficiency it fitted, and its correction carries it the rest of the way.
    assert np.allclose(disagg["ttft_s"], held["ttft_s"], rtol=0.1)
    assert np.allclose(disagg["itl_s"], held["itl_s"], rtol=0.1)
    assert (disagg["ttft_s_p10"] <= disagg["ttft_s"]).all() and (disagg["ttft_s"] <= disagg["ttft_s_p90"]).all()
    assert (disagg["itl_s"] >= disagg["peak_itl_s"]).all()
    steps = held["output_len"].to_numpy() - 1
    assert np.allclose(disagg["latency_s"], disagg["ttft_s"] + steps * disagg["itl_s"])
    assert bundle.metadata["disaggregated_rows_by_metric"] == {"ttft_s": len(table), "itl_s": len(table)}


def test_without_disaggregated_training_rows_the_physics_answers_without_an_interval() -> None:
    plain = SurrogateModel(seed=0, n_estimators=20, calibrate=False).fit(synthetic_table())
    got = plain.predict(_disaggregated_table().iloc[:2]).iloc[0]
    assert not got["disaggregated_learned"]
    assert got["ttft_s"] == pytest.approx(got["analytic_ttft_s"]) and np.isnan(got["ttft_s_p90"])


def test_too_few_disaggregated_rows_are_not_learned_from() -> None:
    few = SurrogateModel(seed=0, n_estimators=20, calibrate=False).fit(
        synthetic_table(), disaggregated=_disaggregated_table().head(5))
    assert few.disaggregated_ is None
    with pytest.raises(DataError, match="5 disaggregated rows with worker counts are too few to learn from"):
        DisaggregatedCorrection().fit(_disaggregated_table().head(5))


_FLAGS = ["predict", "--model", "meta-llama/Llama-3.1-8B", "--hardware", "h100-sxm", "--framework", "vllm",
          "--weight-dtype", "bf16", "--kv-dtype", "bf16", "--input-len", "1024", "--output-len", "128",
          "--concurrency", "8"]


@pytest.mark.parametrize(("other_factor", "kept"), [(0.5, 0.0), (1.6, 1.0)])
def test_a_new_model_keeps_the_share_of_the_correction_that_carried_between_the_trained_ones(
        other_factor: float, kept: float) -> None:
    """Llama-3.1-8B measured 1.6x its TTFT physics; Qwen2.5-14B 1/2x (the correction learned on one is the wrong
    way round for the other: rehearsed slope -1, clipped to 0, so a third model is predicted at the physics) or
    1.6x as well (slope 1: it keeps the whole correction)."""
    table = pd.concat([_disaggregated_table(1.6, 1.0), _disaggregated_table(other_factor, 1.0,
                                                                            model="Qwen/Qwen2.5-14B")])
    correction = DisaggregatedCorrection(seed=0, n_estimators=20).fit(table)
    assert correction.kind_bands_["ttft_s"]["model"].shrink == pytest.approx(kept, abs=1e-6)
    new = _disaggregated_table(model="meta-llama/Meta-Llama-3-8B").iloc[[3, 30]]
    got = correction.predict(new)
    assert (got["off_support"] == "model").all()
    expected = got["analytic_ttft_s"] * (1.6 if kept else 1.0)
    np.testing.assert_allclose(got["ttft_s"], expected, rtol=1e-3)


def test_predict_command_takes_a_disaggregated_deployment(bundle: SurrogateModel, tmp_path: Path) -> None:
    path = bundle.save(tmp_path / "bundle.joblib")
    args = [*_FLAGS, "--model-file", str(path), "--prefill-workers", "1", "--decode-workers", "2", "--decode-tp", "2"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "disaggregated: 1 prefill worker(s) x tp1 dp1, 2 decode worker(s) x tp2 dp1, 8 requests in flight" in \
        result.output
    assert "learned from disaggregated rows" in result.output and "bound by" in result.output
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    row = json.loads(as_json.output)[0]
    assert row["mode"] == "disaggregated" and row["disaggregated_learned"] and row["disagg_num_devices"] == 5
    expected = bundle.predict(pd.DataFrame([{**BASE, "concurrency": 8, "mode": "disaggregated", "prefill_workers": 1,
                                             "decode_workers": 2, "decode_tp": 2}])).iloc[0]
    assert row["ttft_s"] == pytest.approx(expected["ttft_s"]) and row["itl_s"] == pytest.approx(expected["itl_s"])
    assert "training data" in result.output and "on the data" in result.output
    far = [a if a != "8" else "4096" for a in args]
    table = CliRunner().invoke(cli, far)
    assert table.exit_code == 0, table.output
    assert "OFF: workload (trained at 1-64" in table.output  # the cell wraps on a narrow terminal
    row = json.loads(CliRunner().invoke(cli, [*far, "--json"]).output)[0]
    assert row["off_support"] == "workload" and row["support_workload"] == "trained at 1-64 in flight"


@pytest.mark.parametrize(("extra", "code", "words"), [
    (["--prefill-workers", "1"], 2, "a disaggregated deployment needs --decode-workers"),
    (["--decode-workers", "2", "--prefill-workers", "1", "--request-rate", "3"], 2,
     "they do not combine with --input or --request-rate"),
    (["--decode-workers", "0"], 2, "0 is not in the range x>=1"),
])
def test_disaggregated_flag_mistakes_are_one_line(extra: list[str], code: int, words: str) -> None:
    args = [a for a in _FLAGS if a not in ("--concurrency", "8")] if "--request-rate" in extra else _FLAGS
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == code, result.output
    assert words in result.output and "Traceback" not in result.output


def test_a_model_the_correction_never_saw_is_flagged_and_gets_a_wider_interval(bundle: SurrogateModel) -> None:
    seen = _disaggregated_table().iloc[[7]]
    unseen = seen.assign(model="Qwen/Qwen2.5-14B")
    got = bundle.predict(pd.concat([seen, unseen], ignore_index=True))
    assert list(got["off_support"]) == ["", "model"]
    assert list(got["model_seen_in_training"]) == [True, False] and got["hardware_seen_in_training"].all()
    width = got["ttft_s_p90"] / got["ttft_s_p10"]
    assert width.iloc[1] > width.iloc[0]
    # Trained on one model, nothing says its correction carries to another: the physics answers, and the band
    # spans the physics' error on the model it saw (its rows measured 1.6x the default physics, which is slower
    # than the bundle's own fitted physics on all of them: P10 at the physics, P90 at its 90% quantile), widened
    # to the aggregated physics' band on groups held out of its fit.
    trained = _disaggregated_table()
    errors = trained["ttft_s"] / estimate_disaggregated(trained, efficiency=bundle.efficiency_)["ttft_s"]
    assert (errors > 1).all()
    prior = bundle.bands_["ttft_s"]["prior"]
    unseen_row = got.iloc[1]
    assert unseen_row["ttft_s"] == pytest.approx(unseen_row["analytic_ttft_s"])
    assert unseen_row["ttft_s_p10"] == pytest.approx(unseen_row["analytic_ttft_s"] * np.exp(min(prior.low_log, 0.0)))
    high = max(np.log(np.quantile(errors, 0.9)), prior.high_log)
    assert unseen_row["ttft_s_p90"] == pytest.approx(np.exp(high) * unseen_row["analytic_ttft_s"], rel=1e-4)


def test_a_decode_worker_pays_no_host_cost_per_sequence_of_offline_static_batches() -> None:
    rows = _one(concurrency=64)
    costly = estimate_disaggregated(rows, efficiency=replace(default_efficiency(), framework_sequence_s={"vllm": 1e-3}))
    free = estimate_disaggregated(rows, efficiency=replace(default_efficiency(), framework_sequence_s={}))
    assert costly.iloc[0]["itl_s"] == free.iloc[0]["itl_s"] and costly.iloc[0]["ttft_s"] == free.iloc[0]["ttft_s"]
    # The same batch offline, as an aggregated static batch, pays 64 x 1 ms on each decode step.
    assert _static(64, {"vllm": 1e-3})["itl_s"] - _static(64)["itl_s"] == pytest.approx(64e-3, rel=1e-9)


def test_the_seen_band_is_what_a_deployment_held_out_whole_needed() -> None:
    """Measured 1.6x the TTFT physics at 512-token prompts and 1x at 2048: each deployment predicted by a correction
    trained on the other is off by log 1.6 one way or the other, so the band spans -log 1.6..+log 1.6 (rows held
    out at random, each with its deployment's other rows trained on, said about 0..0)."""
    short, long = _disaggregated_table(1.6, 1.0), _disaggregated_table(1.0, 1.0)
    table = pd.concat([short[short["input_len"] == 512], long[long["input_len"] == 2048]], ignore_index=True)
    correction = DisaggregatedCorrection(seed=0, n_estimators=200).fit(table)
    low, high = correction.bands_["ttft_s"]
    assert low == pytest.approx(-np.log(1.6), abs=0.02) and high == pytest.approx(np.log(1.6), abs=0.02)


def test_each_half_of_a_workload_dimension_is_held_out_with_how_far_it_lies_beyond_the_other() -> None:
    values = np.array([1.0, 2.0, 4.0, 8.0, np.nan])
    (upper, above), (lower, below) = _halves(values)
    assert list(upper) == [False, False, True, True, False] and list(lower) == [True, True, False, False, False]
    np.testing.assert_allclose(above, np.log([4 / 2, 8 / 2]))
    np.testing.assert_allclose(below, np.log([4 / 1, 4 / 2]))
    assert _halves(np.array([512.0, 512.0])) == []


def test_past_the_rehearsed_distance_the_share_kept_falls_and_the_band_nears_the_physics_band() -> None:
    band, physics = Band(low_log=-0.5, high_log=0.6, shrink=0.8), Band(low_log=-0.9, high_log=0.4, shrink=0.0)
    kept, low, high = DisaggregatedCorrection._farther(band, np.array([0.5, 2.0, 4.0]), physics, extent=1.0)
    np.testing.assert_allclose(kept, [0.8, 0.4, 0.2])
    # Twice as far: halfway to the physics' low; its high is narrower than the band's, which is kept.
    np.testing.assert_allclose(low, [-0.5, -0.5 - 0.4 * 0.5, -0.5 - 0.4 * 0.75])
    np.testing.assert_allclose(high, [0.6, 0.6, 0.6])
    # A dimension trained at one value was never rehearsed: its band as it is, at any distance.
    kept, low, high = DisaggregatedCorrection._farther(Band(-0.9, 0.9, 1.0), np.array([3.0]), physics, extent=0.0)
    assert (kept[0], low[0], high[0]) == (1.0, -0.9, 0.9)


def test_a_concurrency_beyond_the_trained_range_is_flagged_and_its_band_widens_with_the_distance() -> None:
    """Trained at 1, 8 and 64 in flight: the rehearsal held out 8 and 64 (trained on 1) and 1 (trained on 8 and
    64), rows log 8 beyond the rest at the median; 512 in flight lies that far beyond 64, 4096 twice as far."""
    correction = DisaggregatedCorrection(seed=0, n_estimators=20).fit(_disaggregated_table())
    assert correction.workload_extents_["itl_s"]["concurrency"] == pytest.approx(np.log(8))
    row = _disaggregated_table().iloc[[50]]
    assert row["concurrency"].iloc[0] == 64
    got = correction.predict(pd.concat([row, row.assign(concurrency=512), row.assign(concurrency=4096)],
                                       ignore_index=True))
    assert list(got["off_support"]) == ["", "workload", "workload"]
    assert list(got["workload_in_training_range"]) == [True, False, False]
    assert list(got["support_workload"]) == ["", "trained at 1-64 in flight", "trained at 1-64 in flight"]
    reach = np.log(got["itl_s_p90"] / got["itl_s"]) - np.log(got["itl_s_p10"] / got["itl_s"])
    assert reach.iloc[0] <= reach.iloc[1] < reach.iloc[2]


def test_an_engine_no_disaggregated_row_ran_is_answered_by_the_physics() -> None:
    """Trained on vLLM alone, nothing rehearsed how the correction carries to another engine."""
    correction = DisaggregatedCorrection(seed=0, n_estimators=20).fit(_disaggregated_table())
    row = _disaggregated_table().iloc[[7]].assign(framework="sglang")
    got = correction.predict(row).iloc[0]
    assert got["off_support"] == "framework" and not got["framework_seen_in_training"]
    assert got["ttft_s"] == pytest.approx(got["analytic_ttft_s"])
    assert got["itl_s"] == pytest.approx(got["analytic_itl_s"])


def test_a_length_trained_at_one_value_adds_the_seconds_it_learned_with_the_physics_band() -> None:
    """Trained on 512-token prompts alone (1.6x the TTFT physics), nothing rehearsed how the correction grows with
    the prompt: a 2,048-token row reads the correction at its twin (512 tokens) and adds the seconds it added
    there, so its ratio falls toward the physics as the prefill grows; its band is the physics' error on the
    trained rows: 0..log 1.6 (the rows are exactly 1.6x the physics)."""
    table = _disaggregated_table()
    short = table[table["input_len"] == 512].reset_index(drop=True)
    correction = DisaggregatedCorrection(seed=0, n_estimators=20).fit(short)
    assert correction.kind_bands_["ttft_s"]["input_len"].shrink == 1.0
    assert correction.workload_extents_["ttft_s"]["input_len"] == 0.0
    assert correction.added_growth_["ttft_s"] == {}
    row = short.iloc[[7]]
    got = correction.predict(pd.concat([row, row.assign(input_len=2048), row.assign(input_len=8192)],
                                       ignore_index=True))
    assert list(got["off_support"]) == ["", "workload", "workload"]
    added = got["ttft_s"] - got["analytic_ttft_s"]
    assert added.iloc[0] > 0
    np.testing.assert_allclose(added.iloc[1:], added.iloc[0], rtol=1e-9)
    ratio = got["ttft_s"] / got["analytic_ttft_s"]
    assert ratio.iloc[0] > ratio.iloc[1] > ratio.iloc[2] > 1.0
    assert got["ttft_s_p90"].iloc[1] / got["ttft_s_p10"].iloc[1] == pytest.approx(1.6)


def test_a_ratio_that_held_across_the_rehearsed_halves_grows_with_the_physics_above_the_range() -> None:
    """Trained at 512 and 2,048 tokens, every row 1.6x its physics: the lower half's correction, read at the upper
    rows' twins, needed its seconds grown as fast as the physics grew (a ratio), so the rehearsed power is above
    0 and a 4,096-token row keeps the ratio (1.6x), more than the fixed seconds would give."""
    correction = DisaggregatedCorrection(seed=0, n_estimators=20).fit(_disaggregated_table())
    assert correction.added_growth_["ttft_s"]["input_len"] > 0
    row = _disaggregated_table().query("input_len == 2048").iloc[[7]]
    got = correction.predict(pd.concat([row, row.assign(input_len=4096)], ignore_index=True))
    seconds = got["ttft_s"].iloc[0] - got["analytic_ttft_s"].iloc[0]
    fixed = (got["analytic_ttft_s"].iloc[1] + seconds) / got["analytic_ttft_s"].iloc[1]
    ratio = got["ttft_s"].iloc[1] / got["analytic_ttft_s"].iloc[1]
    assert fixed < ratio and ratio == pytest.approx(1.6)
    assert got["ttft_s"].iloc[1] > got["ttft_s"].iloc[0]


def test_the_bundle_records_each_kind_s_share_and_band(bundle: SurrogateModel) -> None:
    """Trained on one model, accelerator and engine: those kinds keep nothing (physics); the prompt length, trained
    at 512 and 2,048 tokens, was rehearsed each past the other (log 4 apart); the output length, one value, never."""
    bands = bundle.metadata["disaggregated_bands_log"]["ttft_s"]
    assert set(bands) == {"seen", "physics", "model", "hardware", "framework", "concurrency", "input_len", "output_len"}
    assert bands["model"]["shrink"] == bands["hardware"]["shrink"] == bands["framework"]["shrink"] == 0.0
    assert bands["input_len"]["extent_log"] == pytest.approx(np.log(4))
    assert bands["output_len"] == {**bands["output_len"], "shrink": 1.0, "extent_log": 0.0}
    assert "added_growth" in bands["input_len"] and "added_growth" not in bands["output_len"]
    # The physics' band reaches the physics itself (0) and the rows' 1.6x above it.
    assert bands["physics"]["shrink"] == 0.0 and bands["physics"]["low_log"] <= 0.0 < bands["physics"]["high_log"]


def test_the_slack_is_one_minus_how_fast_the_measured_time_grows_with_the_physics_in_a_deployment() -> None:
    """Measured = 3 x physics ** 0.7 (each deployment's rows differ only in concurrency): the within-deployment
    elasticity is 0.7, so the correction may fall as the physics rises, at most 0.3 times as fast (slack 0.3), and
    with that slack the trees predict the held rows as they were measured; a physics that grows right (a constant
    factor) leaves no slack."""
    table = _disaggregated_table()
    physics = estimate_disaggregated(table)
    for metric in DISAGG_METRICS:
        table[metric] = 3.0 * physics[metric] ** 0.7
    correction = DisaggregatedCorrection(seed=0, n_estimators=200).fit(table)
    assert correction.slack_ == pytest.approx({"ttft_s": 0.3, "itl_s": 0.3})
    got = correction.predict(table)
    for metric in DISAGG_METRICS:
        assert np.median(np.abs(got[metric] / table[metric] - 1)) < 0.05, metric
    assert DisaggregatedCorrection(seed=0, n_estimators=20).fit(_disaggregated_table()).slack_ == \
        pytest.approx({"ttft_s": 0.0, "itl_s": 0.0})


def test_the_bundle_records_the_disaggregated_slack(bundle: SurrogateModel) -> None:
    assert bundle.metadata["disaggregated_growth_slack"] == pytest.approx({"ttft_s": 0.0, "itl_s": 0.0})
