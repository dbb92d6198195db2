"""The canonical measurement table: one row per measured configuration, every source mapped onto it.

Each column is declared once in :data:`SCHEMA` (name, dtype, kind, help) and everything else is derived
from it: column lists, dtype coercion, the README table. Units are in the names; a metric a source did
not measure is NaN, never derived or invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.configs import LARGEST_COUNT
from features.errors import DataError

__all__ = [
    "ColumnSpec",
    "SCHEMA",
    "DEPLOYMENT_COLUMNS",
    "DISAGG_COLUMNS",
    "METRIC_COLUMNS",
    "PROVENANCE_COLUMNS",
    "QUALITY_COLUMNS",
    "LABEL_COLUMNS",
    "CANONICAL_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "KEY_COLUMNS",
    "KEY_LABELS",
    "REQUIRED_COLUMNS",
    "BATCHING_VALUES",
    "MODE_VALUES",
    "empty_frame",
    "coerce_dtypes",
    "validate_canonical",
    "schema_markdown",
]

BATCHING_VALUES = ("static", "continuous")
MODE_VALUES = ("aggregated", "disaggregated")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column."""

    name: str
    dtype: str = field(metadata={"help": "pandas dtype: 'string', 'Int64', 'float64' or 'bool'"})
    kind: str = field(metadata={"help": "config, disagg, metric, provenance, quality or label"})
    help: str = ""
    required: bool = False


_C, _D, _M, _P, _Q, _L = "config", "disagg", "metric", "provenance", "quality", "label"

SCHEMA: tuple[ColumnSpec, ...] = (
    ColumnSpec("hardware", "string", _C, "catalog id of the accelerator (features/data/hardware.csv)", True),
    ColumnSpec("num_devices", "Int64", _C, "devices in the deployment (all workers for disaggregated rows; NA "
               "where the worker counts are not recorded)"),
    ColumnSpec("tp", "Int64", _C, "tensor-parallel degree of one replica (attention); NA for disaggregated rows"),
    ColumnSpec("pp", "Int64", _C, "pipeline-parallel degree (llama.cpp layer split: devices)"),
    ColumnSpec("dp", "Int64", _C, "data-parallel replicas (aiconfigurator: attention data parallelism)"),
    ColumnSpec("ep", "Int64", _C, "expert-parallel degree of the MoE layers (1 = experts tensor-sliced)"),
    ColumnSpec("moe_tp", "Int64", _C, "tensor-parallel degree inside each expert (tp*dp = moe_tp*ep); NA if unknown"),
    ColumnSpec("framework", "string", _C, "vllm, tensorrt-llm, sglang, llama.cpp, deepspeed-mii, deepspeed, sambaflow",
               True),
    ColumnSpec("framework_version", "string", _C, "engine version as the source wrote it; NA if not recorded"),
    ColumnSpec("model", "string", _C, "Hugging Face id of the model (catalog id; the label as written is kept "
               "in the measurement table)", True),
    ColumnSpec("weight_dtype", "string", _C, "weight format: fp32, fp16, bf16, fp8, int8, int4, fp4", True),
    ColumnSpec("kv_dtype", "string", _C, "KV-cache format; NA where the source does not record it"),
    ColumnSpec("quant_scheme", "string", _C, "finer quantisation recipe where the source gives one "
               "(e.g. 'gemm=fp8_block;moe=fp8_block')"),
    ColumnSpec("batching", "string", _C, "static (a batch submitted at once) or continuous (fixed concurrency)", True),
    ColumnSpec("batch_size", "Int64", _C, "sequences in a static batch; aiconfigurator: requests per replica"),
    ColumnSpec("concurrency", "Int64", _C, "requests in flight per replica (continuous); client concurrency for "
               "disaggregated rows"),
    ColumnSpec("request_rate_per_s", "float64", _C, "open-loop arrivals: requests per second to the whole "
               "deployment (Poisson, MLPerf Server); concurrency then holds the requests in flight per replica "
               "(Little's law); NaN = closed loop"),
    ColumnSpec("input_len", "Int64", _C, "prompt tokens per request", True),
    ColumnSpec("input_len_assumed", "bool", _C, "input_len is the adapter's documented assumption, not a record "
               "(MLPerf: prompt lengths not published); TTFT of such rows is not trained"),
    ColumnSpec("output_len", "Int64", _C, "generated tokens per request", True),
    ColumnSpec("prefill_chunk_tokens", "float64", _C, "prompt tokens per forward pass (llama-bench -b); NaN = "
               "engine default"),
    ColumnSpec("kv_block_size", "float64", _C, "paged-KV block size in tokens where the source varied it; NaN = "
               "not recorded (engine default)"),
    ColumnSpec("mode", "string", _C, "aggregated or disaggregated (separate prefill and decode workers)", True),
    ColumnSpec("prefill_workers", "Int64", _D, "disaggregated: prefill workers (NA if not recorded)"),
    ColumnSpec("prefill_tp", "Int64", _D, "disaggregated: tensor-parallel degree of one prefill worker"),
    ColumnSpec("prefill_pp", "Int64", _D, "disaggregated: pipeline-parallel degree of one prefill worker"),
    ColumnSpec("prefill_dp", "Int64", _D, "disaggregated: attention data parallelism of one prefill worker"),
    ColumnSpec("prefill_moe_tp", "Int64", _D, "disaggregated: expert tensor parallelism of one prefill worker"),
    ColumnSpec("prefill_ep", "Int64", _D, "disaggregated: expert parallelism of one prefill worker"),
    ColumnSpec("prefill_batch_size", "Int64", _D, "disaggregated: batch of one prefill worker (NA if not recorded)"),
    ColumnSpec("decode_workers", "Int64", _D, "disaggregated: decode workers (NA if not recorded)"),
    ColumnSpec("decode_tp", "Int64", _D, "disaggregated: tensor-parallel degree of one decode worker"),
    ColumnSpec("decode_pp", "Int64", _D, "disaggregated: pipeline-parallel degree of one decode worker"),
    ColumnSpec("decode_dp", "Int64", _D, "disaggregated: attention data parallelism of one decode worker"),
    ColumnSpec("decode_moe_tp", "Int64", _D, "disaggregated: expert tensor parallelism of one decode worker"),
    ColumnSpec("decode_ep", "Int64", _D, "disaggregated: expert parallelism of one decode worker"),
    ColumnSpec("decode_batch_size", "Int64", _D, "disaggregated: batch of one decode worker (NA if not recorded)"),
    ColumnSpec("latency_s", "float64", _M, "static: wall time of the whole batch; serving: mean request latency"),
    ColumnSpec("ttft_s", "float64", _M, "time to first token (mean over requests for serving benchmarks)"),
    ColumnSpec("itl_s", "float64", _M, "inter-token latency: mean time per output token after the first"),
    ColumnSpec("throughput_tok_s", "float64", _M, "input + output tokens per second, whole deployment"),
    ColumnSpec("output_throughput_tok_s", "float64", _M, "output tokens per second, whole deployment"),
    ColumnSpec("power_w", "float64", _M, "mean electrical power during the run as the source measured it (watts)"),
    ColumnSpec("source", "string", _P, "adapter name: llm-inference-bench, aiconfigurator, vllm-bench, csv", True),
    ColumnSpec("source_file", "string", _P, "file the row came from, relative to the ingested path", True),
    ColumnSpec("source_line", "Int64", _P, "1-based physical line (header = 1, blank lines count; JSON: 1)", True),
    ColumnSpec("source_lines", "string", _Q, "every file:line merged into this row, ';'-separated"),
    ColumnSpec("n_measurements", "Int64", _Q, "measurements merged into this row (their median is reported)"),
    ColumnSpec("spread_frac", "float64", _Q, "largest (max - min) / median over the metrics of the merged "
               "measurements; 0 for one measurement"),
    ColumnSpec("faster_than_physics", "bool", _Q, "a measured time is below half its analytic lower bound "
               "(surrogate.ingest.physics); kept out of training by default"),
    ColumnSpec("hardware_label", "string", _L, "hardware as the source wrote it; part of the key, so two labels "
               "the catalog maps to one device stay apart"),
    ColumnSpec("model_label", "string", _L, "model as the source wrote it"),
    ColumnSpec("framework_label", "string", _L, "framework as the source wrote it"),
    ColumnSpec("source_fields", "string", _L, "JSON of the source fields not mapped to a column (nothing lost)"),
    ColumnSpec("measurement_id", "string", _L, "sha1 of source, file, line, configuration and metrics"),
)

_BY_NAME = {c.name: c for c in SCHEMA}
# Every recorded fact about the measured deployment: the model's inputs (``features.configs.CONFIG_COLUMNS``,
# the one list of configuration columns) plus facts kept for provenance and later models (engine
# version, quantisation recipe, KV block size, serving mode).
DEPLOYMENT_COLUMNS = [c.name for c in SCHEMA if c.kind == _C]
DISAGG_COLUMNS = [c.name for c in SCHEMA if c.kind == _D]
METRIC_COLUMNS = [c.name for c in SCHEMA if c.kind == _M]
PROVENANCE_COLUMNS = [c.name for c in SCHEMA if c.kind == _P]
QUALITY_COLUMNS = [c.name for c in SCHEMA if c.kind == _Q]
LABEL_COLUMNS = [c.name for c in SCHEMA if c.kind == _L]
# The merged table: one row per configuration. The measurement table keeps every accepted row.
# Hardware labels the catalog maps to one entry can still be different set-ups (LLM-Inference-Bench's
# 'Intel PVC GPU' and 'Intel Max 1550' runs of one configuration differ 2.6-10x), so the label stays in
# the key, compared without case, spaces or punctuation ('H100 SXM' = 'h100-sxm'). Model labels do not:
# an instruct and a base checkpoint of one architecture are one configuration.
KEY_LABELS = ["hardware_label"]
CANONICAL_COLUMNS = (DEPLOYMENT_COLUMNS + DISAGG_COLUMNS + KEY_LABELS + METRIC_COLUMNS + PROVENANCE_COLUMNS
                     + QUALITY_COLUMNS)
MEASUREMENT_COLUMNS = (DEPLOYMENT_COLUMNS + DISAGG_COLUMNS + METRIC_COLUMNS + PROVENANCE_COLUMNS
                       + ["faster_than_physics"] + LABEL_COLUMNS)
# Two rows are the same configuration when all of these agree (NA equals NA).
KEY_COLUMNS = ["source"] + DEPLOYMENT_COLUMNS + DISAGG_COLUMNS + KEY_LABELS
REQUIRED_COLUMNS = [c.name for c in SCHEMA if c.required]


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A zero-row frame with the canonical dtypes of ``columns``."""
    return pd.DataFrame({name: pd.Series(dtype=_BY_NAME[name].dtype) for name in columns})


def _coerce(series: pd.Series, dtype: str, name: str) -> pd.Series:
    if dtype == "string":
        return series.astype("string")
    if dtype == "bool":
        return series.astype(object).where(series.notna(), False).astype(bool)
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & series.notna() & series.astype("string").str.strip().ne("")
    if bad.any():
        raise DataError(f"column '{name}': {series[bad].iloc[0]!r} is not a number")
    if dtype == "Int64":
        values = numeric.astype(float)
        fractional = values.notna() & ~(np.isfinite(values) & (values == np.round(values)))
        if fractional.any():
            raise DataError(f"column '{name}': {float(values[fractional].iloc[0])!r} is not a whole number")
        large = values.abs() > LARGEST_COUNT
        if large.any():
            raise DataError(f"column '{name}': {float(values[large].iloc[0]):g} is too large (at most "
                            f"{LARGEST_COUNT:,})")
        return numeric.round().astype("Int64")
    return numeric.astype("float64")


def coerce_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast every known column of ``frame`` to its canonical dtype (unknown columns are left alone)."""
    out = frame.copy()
    for name in out.columns:
        spec = _BY_NAME.get(name)
        if spec is not None:
            out[name] = _coerce(out[name], spec.dtype, name)
    return out


def validate_canonical(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Check and coerce a frame in canonical columns; ``DataError`` names the first problem.

    Missing optional columns are added as NA; missing required columns, unknown columns, bad numbers
    and values outside ``batching``/``mode`` raise. Returns the frame in ``columns`` order
    (default: the merged table's columns).
    """
    columns = CANONICAL_COLUMNS if columns is None else columns
    missing = [c for c in REQUIRED_COLUMNS if c in columns and c not in frame.columns]
    if missing:
        raise DataError(f"missing required columns: {', '.join(missing)}")
    unknown = [c for c in frame.columns if c not in _BY_NAME]
    if unknown:
        raise DataError(f"unknown columns: {', '.join(map(str, unknown))} (canonical columns: see surrogate.ingest."
                        "schema.SCHEMA)")
    out = coerce_dtypes(frame)
    for name in columns:
        if name not in out.columns:
            out[name] = empty_frame([name])[name].reindex(out.index)
    for name, allowed in (("batching", BATCHING_VALUES), ("mode", MODE_VALUES)):
        bad = out[name].notna() & ~out[name].isin(allowed)
        if bad.any():
            raise DataError(f"column '{name}' must be one of {', '.join(allowed)}, got {out[name][bad].iloc[0]!r}")
    return out[columns]


def schema_markdown() -> str:
    """The merged table's columns as a markdown table (for the README)."""
    lines = ["| column | type | kind | meaning |", "|---|---|---|---|"]
    for spec in SCHEMA:
        if spec.name in CANONICAL_COLUMNS:
            req = " (required)" if spec.required else ""
            lines.append(f"| `{spec.name}` | {spec.dtype} | {spec.kind}{req} | {spec.help} |")
    return "\n".join(lines)
