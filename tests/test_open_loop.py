"""Open-loop traffic: Little's law settling point, capacity, Poisson prefill queue, the predict flag."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from features.analytic import estimate
from surrogate.cli import cli as main
from surrogate.model import predict_at_rate, valid_rows

LLAMA_8B = ["--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "h100-sxm", "--input-len", "512",
            "--output-len", "128"]


class LinearServer:
    """ITL(N) = c + d x N seconds. Open-loop latency is (output_len + 0.5) x ITL(N) + S (S: prefill alone),
    so with output_len 128, c = 10/128.5 and d = 0.1/128.5 it is 10 + S + 0.1 N, and Little's law
    settles at N = rate x (10 + S) / (1 - 0.1 rate)."""

    def __init__(self, c: float = 10.0 / 128.5, d: float = 0.1 / 128.5) -> None:
        self.c, self.d = c, d

    def predict(self, configs: pd.DataFrame, *, normalized: bool = False) -> pd.DataFrame:
        n = configs["concurrency"].to_numpy(dtype=float)
        itl = self.c + self.d * n
        out = pd.DataFrame(index=configs.index)
        for metric, value in (("latency_s", 999.0 + n), ("ttft_s", np.full(len(n), 99.0)), ("itl_s", itl)):
            for suffix in ("", "_p10", "_p90"):
                out[f"{metric}{suffix}"] = value
        out["throughput_tok_s"] = out["output_throughput_tok_s"] = n
        return out


def _prefill_s(config: pd.DataFrame) -> float:
    """S: the prompt prefilled alone, as one Poisson arrival in flight sees it (its TTFT less 1.5 steps)."""
    alone = estimate(config.assign(concurrency=1, batch_size=1, request_rate_per_s=1.0), normalized=True).iloc[0]
    closed = estimate(config.assign(concurrency=1, batch_size=1), normalized=True).iloc[0]
    prefill = float(alone["ttft_s"] - 1.5 * alone["itl_s"])
    # Between the hard bound and what a closed-loop client waits (its fitted steps before a first token).
    assert alone["peak_ttft_s"] <= prefill < closed["ttft_s"] - 1.5 * closed["itl_s"]
    return prefill


def _config(dp: int = 1) -> pd.DataFrame:
    frame = pd.DataFrame([{"model": "meta-llama/Meta-Llama-3-8B", "hardware": "h100-sxm", "framework": "vllm",
                           "tp": 1, "dp": dp, "batching": "continuous", "concurrency": 1, "input_len": 512,
                           "output_len": 128}])
    config, errors = valid_rows(frame)
    assert not errors
    return config


def test_the_settling_point_is_littles_law_fixed_point() -> None:
    config = _config()
    prefill = _prefill_s(config)
    out, problems = predict_at_rate(LinearServer(), config, 5.0)
    assert problems == {}
    n = int(out["concurrency"].iloc[0])
    assert n == math.ceil(5.0 * (10.0 + prefill) / 0.5)  # smallest whole N with rate x latency(N) <= N
    # The closed-loop TTFT (99 s) and latency are not used: a request joins the running batch.
    itl = 10.0 / 128.5 + 0.1 / 128.5 * n
    wait = float(out["queue_wait_s"].iloc[0])
    assert out["itl_s"].iloc[0] == pytest.approx(itl)
    assert out["ttft_s"].iloc[0] == pytest.approx(1.5 * itl + prefill + wait)
    assert out["latency_s"].iloc[0] == pytest.approx(1.5 * itl + prefill + 127 * itl + wait)


def test_the_rate_is_split_over_replicas_and_throughput_is_the_arrival_rate() -> None:
    config = _config(dp=2)
    out, _ = predict_at_rate(LinearServer(), config, 10.0)
    assert int(out["concurrency"].iloc[0]) == math.ceil(5.0 * (10.0 + _prefill_s(config)) / 0.5)  # 5/s per replica
    assert out["output_throughput_tok_s"].iloc[0] == pytest.approx(10.0 * 128)
    assert out["throughput_tok_s"].iloc[0] == pytest.approx(10.0 * (512 + 128))


def test_the_poisson_prefill_wait_is_the_md1_mean_wait() -> None:
    config = _config()
    prefill = _prefill_s(config)
    rate = 0.5 / prefill  # rho = 0.5: W = 0.5 x S / (2 x 0.5) = S / 2
    out, problems = predict_at_rate(LinearServer(c=1e-4, d=1e-7), config, rate)
    assert problems == {}
    itl = float(out["itl_s"].iloc[0])
    assert float(out["queue_wait_s"].iloc[0]) == pytest.approx(prefill / 2)
    assert float(out["ttft_s"].iloc[0]) == pytest.approx(1.5 * itl + prefill + prefill / 2)


def test_a_rate_beyond_capacity_is_refused_with_what_the_deployment_serves() -> None:
    # latency 10 + S + 0.1 N never lets N / latency(N) reach 10/s (it tends to 10 from below).
    out, problems = predict_at_rate(LinearServer(), _config(), 10.0)
    assert out.empty
    message = problems[0]
    assert message.startswith("request rate 10/s exceeds what this deployment serves: about ")
    assert "add replicas (--dp)" in message


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.05, max_value=7.0), st.floats(min_value=1.01, max_value=1.5))
def test_more_traffic_never_means_fewer_requests_in_flight(rate: float, factor: float) -> None:
    config = pd.concat([_config(), _config()], ignore_index=True)
    out, problems = predict_at_rate(LinearServer(), config, np.array([rate, min(rate * factor, 7.5)]))
    assert problems == {}
    assert out["concurrency"].iloc[1] >= out["concurrency"].iloc[0]
    assert out["latency_s"].iloc[1] >= out["latency_s"].iloc[0]


def test_predict_takes_a_request_rate_instead_of_a_concurrency() -> None:
    result = CliRunner().invoke(main, ["predict", *LLAMA_8B, "--request-rate", "2", "--json"])
    assert result.exit_code == 0, result.output
    import json

    row = json.loads(result.output)[0]
    assert row["request_rate_per_s"] == 2.0 and row["concurrency"] >= 1
    assert row["output_throughput_tok_s"] == pytest.approx(2.0 * 128)


def test_predict_refuses_a_rate_and_a_concurrency_together() -> None:
    result = CliRunner().invoke(main, ["predict", *LLAMA_8B, "--request-rate", "2", "--concurrency", "8"])
    assert result.exit_code == 2
    assert "--request-rate and --concurrency both set the load; give one" in result.output


def test_predict_says_how_much_the_deployment_serves_when_the_rate_is_too_high() -> None:
    result = CliRunner().invoke(main, ["predict", *LLAMA_8B, "--request-rate", "100000"])
    assert result.exit_code == 2
    assert "request rate 100000/s exceeds what this deployment serves: about" in result.output
    assert "Traceback" not in result.output
