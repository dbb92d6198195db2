"""The feature matrix: one function shared by training and prediction.

Features describe physics, not identities: datasheet numbers of the accelerator, architecture
numbers of the model, the workload, the parallel layout, and the analytic model's own outputs
(log times per phase, the prefill compute share and intensity, batch over what memory holds), the
same model's times for the deployment at one fixed small workload, and the engine's software date.
Categorical columns use fixed category lists from the catalogs, so a value unseen in training maps
to the same code at train and predict time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.configs import _specs_for, normalize_configs
from features.distinct import distinct_rows, factorize
from features.efficiency import Efficiency
from features.precision import BYTES_PER_VALUE
from features.roofline import ring_bandwidth_gbps
from features.versions import software_years

__all__ = ["build_features", "reference_workload", "FEATURE_COLUMNS", "PHYSICS_FEATURES", "REFERENCE_FEATURES",
           "REFERENCE_WORKLOAD", "MONOTONE_INCREASING", "SOFTWARE_FEATURES", "CATEGORICAL_FEATURES",
           "HARDWARE_ID_FEATURE", "SPEC_FEATURES"]

CATEGORICAL_FEATURES = ["framework", "batching", "weight_dtype", "kv_dtype", "vendor"]
HARDWARE_ID_FEATURE = "hardware_id"

# Raw datasheet numbers. Off by default: with a handful of accelerators in the data they act as a
# SKU fingerprint, and leaving one accelerator out showed they hurt (README, "Accuracy").
SPEC_FEATURES = ["log_mem_bw_gbps", "log_matmul_peak_tflops", "log_attention_peak_tflops", "log_memory_gb",
                  "log_link_bw_gbps", "ridge_flops_per_byte"]
_MODEL_FEATURES = ["log_total_params", "log_active_params", "num_layers", "log_hidden_size",
                   "log_kv_bytes_per_token", "num_experts", "experts_per_token", "is_mla"]
# ``attention_dp``: replicas that share their experts (attention-DP: ep > 1 and dp > 1), else 1. Plain
# replicas never meet: a dense model's eight replicas serve each request as one does (sequences are per
# replica), so the raw dp would let the correction (and the support distance) tell them apart where
# physics does not; the optimizer's dp 2 and dp 1 of one layout then got different per-request times.
_WORKLOAD_FEATURES = ["log_input_len", "log_output_len", "log_sequences", "tp", "pp", "attention_dp", "ep",
                      "weight_bytes_per_value", "kv_bytes_per_value"]
# The analytic model's outputs the correction may use. Each is non-decreasing in batch (or
# concurrency), input length and output length wherever the metric it informs must be (checked on
# the shared rows: tests/test_build.py), so a correction non-decreasing in them (LightGBM
# ``monotone_constraints``, :data:`MONOTONE_INCREASING`) keeps predicted times monotone. Shares and
# intensities that move both ways along those axes (decode compute and communication shares, decode
# intensity, the fixed-cost share, memory headroom, achievable-over-peak ratios) are left out.
PHYSICS_FEATURES = [
    "log_analytic_ttft_s", "log_analytic_itl_s", "log_analytic_latency_s", "prefill_compute_share",
    "log_prefill_intensity", "log_batch_over_max",
]
# The analytic model's times for the row's deployment (accelerator, model, engine, layout, formats) at one
# fixed workload, :data:`REFERENCE_WORKLOAD`: how fast the deployment is in itself. They do not change
# with batch or lengths, so the correction may use them in any direction without breaking monotonicity;
# the times above may only raise it (measured on the random split, ``scripts/train_default.py``: median APE
# latency 5.3 -> 4.1%, ITL 11.9 -> 11.3%, TTFT 26.2 -> 25.2%; every split in README "Accuracy").
REFERENCE_FEATURES = ["log_reference_ttft_s", "log_reference_itl_s", "log_reference_latency_s"]
# One sequence, a 512-token prompt (less where the model's context window is shorter), 64 output tokens,
# closed loop: small enough for every model in the catalog.
REFERENCE_WORKLOAD = {"sequences": 1, "input_len": 512, "output_len": 64}
# Engine software date (years since 2020, ``features.versions``): newer releases of one engine run faster.
SOFTWARE_FEATURES = ["software_year"]
FEATURE_COLUMNS = (_MODEL_FEATURES + _WORKLOAD_FEATURES + PHYSICS_FEATURES + REFERENCE_FEATURES + SOFTWARE_FEATURES
                   + CATEGORICAL_FEATURES)
# Features the learned correction may only rise with: the workload's own size and the physics above.
MONOTONE_INCREASING = ["log_input_len", "log_output_len", "log_sequences", *PHYSICS_FEATURES]


def _categories() -> dict[str, list[str]]:
    """Fixed category lists from the catalogs, so codes match between training and prediction."""
    vendors = catalog.packaged_vendors()
    return {
        "framework": catalog.framework_ids(),
        "batching": ["static", "continuous"],
        "weight_dtype": list(BYTES_PER_VALUE),
        "kv_dtype": list(BYTES_PER_VALUE),
        "vendor": vendors,
        HARDWARE_ID_FEATURE: catalog.hardware_ids(),
    }


def _share(part: pd.Series, *others: pd.Series) -> pd.Series:
    """``part`` as a fraction of the sum of all parts (0 where every part is 0)."""
    total = part + sum(others)
    return part / total.where(total > 0, 1.0)


def build_features(
    configs: pd.DataFrame,
    analytic: pd.DataFrame | None = None,
    *,
    normalized: bool = False,
    with_hardware_id: bool = False,
    with_specs: bool = False,
    specs: pd.DataFrame | None = None,
    efficiency: Efficiency | None = None,
) -> pd.DataFrame:
    """Feature matrix (columns :data:`FEATURE_COLUMNS`, same index) for configuration rows.

    ``analytic`` may pass a precomputed :func:`features.analytic.estimate` for the same rows, and
    ``specs`` their ``features.configs.gather_specs`` (row for row; its index is ignored and it is
    not modified), so a caller that already has them does not compute them again. ``efficiency``: the
    achievable parameters both estimates use (the shipped ones by default; ``analytic`` must use the same).
    ``with_specs`` adds :data:`SPEC_FEATURES`; ``with_hardware_id`` adds the catalog id as a category
    (both exist to measure whether identifying the SKU helps).
    """
    cfg = configs if normalized else normalize_configs(configs)
    specs = _specs_for(cfg, specs)
    est = analytic if analytic is not None else estimate(cfg, normalized=True, specs=specs, efficiency=efficiency)
    sequences = np.where(cfg["batching"].eq("continuous"), cfg["concurrency"], cfg["batch_size"]).astype(float)
    values = {
        **_spec_values(cfg, specs),
        **_model_values(specs),
        **_workload_values(cfg, specs, sequences),
        **_physics_values(est, sequences),
        **_reference_values(cfg, specs, efficiency),
        **_software_values(cfg),
        **_categorical_values(cfg, specs, with_hardware_id),
    }
    columns = ((SPEC_FEATURES if with_specs else []) + FEATURE_COLUMNS
               + ([HARDWARE_ID_FEATURE] if with_hardware_id else []))
    # One frame over the columns (copy-on-write keeps a column taken from ``est`` apart from it).
    return pd.DataFrame({name: values[name] for name in columns}, index=cfg.index, copy=False)


def _spec_values(cfg: pd.DataFrame, specs: pd.DataFrame) -> dict[str, Any]:
    """:data:`SPEC_FEATURES`: datasheet numbers of the accelerator (the bus bandwidth of the tp group's
    all-reduce, as the physics prices it)."""
    link = ring_bandwidth_gbps(specs, cfg["tp"].to_numpy(dtype=float))
    return {
        "log_mem_bw_gbps": np.log(specs["mem_bw_gbps"]),
        "log_matmul_peak_tflops": np.log(specs["matmul_peak_tflops"]),
        "log_attention_peak_tflops": np.log(specs["attention_peak_tflops"]),
        "log_memory_gb": np.log(specs["memory_gb"]),
        "log_link_bw_gbps": np.log(np.asarray(link, dtype=float)),
        "ridge_flops_per_byte": specs["matmul_peak_tflops"] * 1e12 / (specs["mem_bw_gbps"] * 1e9),
    }


def _model_values(specs: pd.DataFrame) -> dict[str, Any]:
    """Architecture numbers of the model, so an unseen model is described by its shape."""
    kv_values = specs["kv_values_per_token_full"] + specs["kv_values_per_token_window"]
    return {
        "log_total_params": np.log(specs["total_params"]),
        "log_active_params": np.log(specs["active_params"]),
        "num_layers": specs["num_layers"],
        "log_hidden_size": np.log(specs["hidden_size"]),
        "log_kv_bytes_per_token": np.log1p(kv_values * specs["kv_bytes_per_value"]),
        "num_experts": specs["num_experts"],
        "experts_per_token": specs["experts_per_token"],
        "is_mla": specs["is_mla"],
    }


def _workload_values(cfg: pd.DataFrame, specs: pd.DataFrame, sequences: np.ndarray) -> dict[str, Any]:
    """Request shape, parallel layout and number formats."""
    values: dict[str, Any] = {
        "log_input_len": np.log(cfg["input_len"].astype(float)),
        "log_output_len": np.log(cfg["output_len"].astype(float)),
        "log_sequences": np.log(sequences),
    }
    for name in ["tp", "pp", "ep"]:
        values[name] = cfg[name].astype(float)
    dp = cfg["dp"].astype(float)
    values["attention_dp"] = dp.where((values["ep"] > 1) & (dp > 1), 1.0)
    values["weight_bytes_per_value"] = specs["weight_bytes_per_value"]
    values["kv_bytes_per_value"] = specs["kv_bytes_per_value"]
    return values


def _physics_values(est: pd.DataFrame, sequences: np.ndarray) -> dict[str, Any]:
    """:data:`PHYSICS_FEATURES`: the analytic model's achievable times, prefill compute share and intensity,
    and the batch over the largest that fits."""
    return {
        "log_analytic_ttft_s": np.log(est["ttft_s"]),
        "log_analytic_itl_s": np.log(est["itl_s"]),
        "log_analytic_latency_s": np.log(est["latency_s"]),
        "prefill_compute_share": _share(est["prefill_compute_s"], est["prefill_memory_s"], est["prefill_comm_s"]),
        "log_prefill_intensity": np.log(est["prefill_flops"] / est["prefill_bytes"]),
        "log_batch_over_max": np.log(sequences / np.maximum(est["max_batch_size"].astype(float), 1.0)),
    }


# What a deployment is: every configuration column but the workload's.
_WORKLOAD_COLUMNS = {"batch_size", "concurrency", "input_len", "output_len", "request_rate_per_s"}


def reference_workload(cfg: pd.DataFrame, specs: pd.DataFrame) -> pd.DataFrame:
    """The rows with their workload replaced by :data:`REFERENCE_WORKLOAD` (closed loop; the prompt
    shortened where the model's context window would not hold it)."""
    out = cfg.copy()
    window = specs["max_position_embeddings"].to_numpy(dtype=float)
    output_len = REFERENCE_WORKLOAD["output_len"]
    prompt = np.minimum(REFERENCE_WORKLOAD["input_len"], np.maximum(window - output_len, 1.0))
    out["input_len"] = prompt.astype(cfg["input_len"].dtype)
    out["output_len"] = np.full(len(cfg), output_len).astype(cfg["output_len"].dtype)
    for column in ("batch_size", "concurrency"):
        out[column] = np.full(len(cfg), REFERENCE_WORKLOAD["sequences"]).astype(cfg[column].dtype)
    out["request_rate_per_s"] = np.full(len(cfg), np.nan)
    return out


def _reference_values(cfg: pd.DataFrame, specs: pd.DataFrame, efficiency: Efficiency | None) -> dict[str, Any]:
    """:data:`REFERENCE_FEATURES`, estimated once per distinct deployment (a table of many workloads has few)."""
    codes, first = distinct_rows(*(cfg[c] for c in cfg.columns if c not in _WORKLOAD_COLUMNS))
    deployment_specs = specs.iloc[first].reset_index(drop=True)
    ref = estimate(reference_workload(cfg.iloc[first], deployment_specs), normalized=True, specs=deployment_specs,
                   efficiency=efficiency)
    return {f"log_reference_{metric}": np.log(ref[metric].to_numpy(dtype=float))[codes]
            for metric in ("ttft_s", "itl_s", "latency_s")}


def _software_values(cfg: pd.DataFrame) -> dict[str, Any]:
    """:data:`SOFTWARE_FEATURES`: the engine's release date, NaN where the version is not recorded."""
    if "framework_version" not in cfg:
        return {"software_year": np.full(len(cfg), np.nan)}
    return {"software_year": software_years(cfg["framework"], cfg["framework_version"])}


def _categorical_values(cfg: pd.DataFrame, specs: pd.DataFrame, with_hardware_id: bool) -> dict[str, Any]:
    """:data:`CATEGORICAL_FEATURES` (and the hardware id when asked) over the fixed catalog categories."""
    categories = _categories()
    values = {"framework": cfg["framework"], "batching": cfg["batching"], "weight_dtype": cfg["weight_dtype"],
              "kv_dtype": cfg["kv_dtype"], "vendor": specs["vendor"], HARDWARE_ID_FEATURE: cfg["hardware"]}
    names = CATEGORICAL_FEATURES + ([HARDWARE_ID_FEATURE] if with_hardware_id else [])
    return {name: _categorical(values[name].astype(str), categories[name]) for name in names}


def _categorical(values: pd.Series, categories: list[str]) -> pd.Categorical:
    """``pd.Categorical(values, categories=categories)``, each distinct value placed once (NaN and values
    not in ``categories`` are missing): 3 ms per 200,000 rows where the constructor takes 50."""
    codes, uniques = factorize(values)
    places = pd.Index(categories).get_indexer(uniques)
    return pd.Categorical.from_codes(places[codes], categories=categories)
