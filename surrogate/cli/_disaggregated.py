"""``surrogate predict`` for one disaggregated deployment: the worker flags, the row they make, its table.

Click wiring and rendering only; the physics is :mod:`features.disaggregated`, the correction
:mod:`surrogate.model._disaggregated`.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from features.errors import ConfigError
from surrogate.cli._root import stdout
from surrogate.formatting import format_seconds

__all__ = ["DISAGGREGATED_FLAGS", "disaggregated_options", "print_disaggregated"]

DISAGGREGATED_FLAGS = [f"{pool}_{name}" for pool in ("prefill", "decode")
                       for name in ("workers", "tp", "dp", "ep", "batch_size")]


def disaggregated_options(func: Any) -> Any:
    """--prefill-* and --decode-* worker shapes (a disaggregated deployment: xPyD)."""
    helps = {"workers": "workers in the pool", "tp": "tensor-parallel degree of one worker",
             "dp": "attention data parallelism of one worker", "ep": "expert parallelism of one worker",
             "batch_size": "most requests one attention-DP rank of a worker batches (prefill: prompts per pass; "
                           "decode: running)"}
    for name in reversed(DISAGGREGATED_FLAGS):
        pool, _, field = name.partition("_")
        func = click.option(f"--{name.replace('_', '-')}", type=click.IntRange(min=1), default=None,
                            help=f"[disaggregated] {pool}: {helps[field]}.")(func)
    return func


def _row(params: dict[str, Any], workers: dict[str, int | None]) -> dict[str, Any]:
    for flag in ("model", "hardware", "input_len", "output_len", "concurrency"):
        if params.get(flag) is None:
            raise ConfigError(f"a disaggregated deployment needs --{flag.replace('_', '-')} (the client's requests "
                              "in flight, for --concurrency)")
    for pool in ("prefill", "decode"):
        if workers[f"{pool}_workers"] is None:
            raise ConfigError(f"a disaggregated deployment needs --{pool}-workers")
    shared = ["hardware", "model", "framework", "framework_version", "weight_dtype", "kv_dtype", "input_len",
              "output_len", "concurrency"]
    row = {name: params.get(name) for name in shared}
    row.update({name: value for name, value in workers.items() if value is not None})
    row["mode"] = "disaggregated"
    return row


_METRICS = [("ttft_s", "time to first token"), ("itl_s", "inter-token latency"), ("latency_s", "request latency")]


def print_disaggregated(model: Any, params: dict[str, Any], workers: dict[str, int | None], as_json: bool) -> None:
    """Predict the deployment the flags describe and print it (a table, or JSON)."""
    import pandas as pd

    from surrogate import report

    row = _row(params, workers)
    configs = pd.DataFrame([row])
    if configs["weight_dtype"].isna().all():
        configs = configs.drop(columns=["weight_dtype"])
    prediction = model.predict(configs).iloc[0]
    if as_json:
        report.print_json([{**row, **prediction.to_dict()}])
        return
    stdout.print(f"{row['model']} on {row['hardware']}, disaggregated: {row['prefill_workers']} prefill worker(s) "
                 f"x tp{row.get('prefill_tp', 1)} dp{row.get('prefill_dp', 1)}, {row['decode_workers']} decode "
                 f"worker(s) x tp{row.get('decode_tp', 1)} dp{row.get('decode_dp', 1)}, {row['concurrency']} requests "
                 f"in flight, {row['input_len']} in / {row['output_len']} out tokens", soft_wrap=True)
    table = Table(show_header=True, header_style="bold")
    for name in ("metric", "predicted", "P10", "P90", "physics", "peak (bound)"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for key, label in _METRICS:
        table.add_row(label, *(format_seconds(prediction[c]) if pd.notna(prediction[c]) else "-" for c in
                               (key, f"{key}_p10", f"{key}_p90", f"analytic_{key}", f"peak_{key}")))
    table.add_row("output tokens/s", f"{prediction['output_throughput_tok_s']:,.0f}", "", "", "", "")
    table.add_row("wait behind other prompts / prefill / KV transfer / first-token wait", " / ".join(
        format_seconds(prediction[c]) for c in ("disagg_queue_s", "disagg_prefill_s", "disagg_kv_transfer_s",
                                                "disagg_first_token_wait_s")),
        "", "", "", "")
    table.add_row("requests/s (prefill / decode pool can serve)",
                  f"{prediction['disagg_request_rate_req_s']:.2f} ({prediction['disagg_prefill_capacity_req_s']:.2f} "
                  f"/ {prediction['disagg_decode_capacity_req_s']:.2f})", "", "", "", "")
    table.add_row("bound by", str(prediction["disagg_bound_by"]), "", "", "", "")
    table.add_row("devices", f"{prediction['disagg_num_devices']:.0f}", "", "", "", "")
    table.add_row("fits in memory", "yes" if prediction["fits"] else "NO", "", "", "", "")
    table.add_row("learned from disaggregated rows", "yes" if prediction["disaggregated_learned"] else
                  "no: physics alone, no interval", "", "", "", "")
    off = str(prediction.get("off_support", ""))
    if prediction["disaggregated_learned"]:
        table.add_row("training data", f"OFF: {report.off_words(prediction)}; wider interval" if off else "on the data",
                      "", "", "", "")
    stdout.print(table)
