"""The feature matrix: one function shared by training and prediction.

Features describe physics, not identities: datasheet numbers of the accelerator, architecture
numbers of the model, the workload, the parallel layout, and the analytic model's own outputs
(log times per phase, which resource bounds each phase, arithmetic intensity, memory headroom).
Categorical columns use fixed category lists from the catalogs, so a value unseen in training maps
to the same code at train and predict time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import catalog
from features.analytic import estimate
from features.configs import gather_specs, normalize_configs
from features.precision import BYTES_PER_VALUE

__all__ = ["build_features", "FEATURE_COLUMNS", "PHYSICS_FEATURES", "CATEGORICAL_FEATURES", "HARDWARE_ID_FEATURE",
           "SPEC_FEATURES"]

CATEGORICAL_FEATURES = ["framework", "batching", "weight_dtype", "kv_dtype", "vendor"]
HARDWARE_ID_FEATURE = "hardware_id"

# Raw datasheet numbers. Off by default: with a handful of accelerators in the data they act as a
# SKU fingerprint, and leaving one accelerator out showed they hurt (README, "Accuracy").
SPEC_FEATURES = ["log_mem_bw_gbps", "log_matmul_peak_tflops", "log_attention_peak_tflops", "log_memory_gb",
                  "log_link_bw_gbps", "ridge_flops_per_byte"]
_MODEL_FEATURES = ["log_total_params", "log_active_params", "num_layers", "log_hidden_size",
                   "log_kv_bytes_per_token", "num_experts", "experts_per_token", "is_mla"]
_WORKLOAD_FEATURES = ["log_input_len", "log_output_len", "log_sequences", "tp", "pp", "dp", "ep",
                      "weight_bytes_per_value", "kv_bytes_per_value"]
PHYSICS_FEATURES = [
    "log_analytic_ttft_s", "log_analytic_itl_s", "log_analytic_latency_s",
    "prefill_compute_share", "prefill_comm_share", "decode_compute_share", "decode_comm_share",
    "log_decode_intensity", "log_prefill_intensity", "memory_headroom", "log_batch_over_max",
]
FEATURE_COLUMNS = _MODEL_FEATURES + _WORKLOAD_FEATURES + PHYSICS_FEATURES + CATEGORICAL_FEATURES


def _categories() -> dict[str, list[str]]:
    vendors = sorted(set(catalog.hardware_table()["vendor"]))
    return {
        "framework": catalog.framework_ids(),
        "batching": ["static", "continuous"],
        "weight_dtype": list(BYTES_PER_VALUE),
        "kv_dtype": list(BYTES_PER_VALUE),
        "vendor": vendors,
        HARDWARE_ID_FEATURE: catalog.hardware_ids(),
    }


def _share(part: pd.Series, *others: pd.Series) -> pd.Series:
    total = part + sum(others)
    return part / total.where(total > 0, 1.0)


def build_features(
    configs: pd.DataFrame,
    analytic: pd.DataFrame | None = None,
    *,
    normalized: bool = False,
    with_hardware_id: bool = False,
    with_specs: bool = False,
) -> pd.DataFrame:
    """Feature matrix (columns :data:`FEATURE_COLUMNS`, same index) for configuration rows.

    ``analytic`` may pass a precomputed :func:`features.analytic.estimate` for the same rows.
    ``with_specs`` adds :data:`SPEC_FEATURES`; ``with_hardware_id`` adds the catalog id as a category
    (both exist to measure whether identifying the SKU helps).
    """
    cfg = configs if normalized else normalize_configs(configs)
    est = analytic if analytic is not None else estimate(cfg, normalized=True)
    specs = gather_specs(cfg)
    specs.index = cfg.index
    f = pd.DataFrame(index=cfg.index)
    link = np.where(cfg["tp"] <= specs["scale_up_domain_devices"], specs["intra_node_bw_gbps"],
                    specs["inter_node_bw_gbps"])
    f["log_mem_bw_gbps"] = np.log(specs["mem_bw_gbps"])
    f["log_matmul_peak_tflops"] = np.log(specs["matmul_peak_tflops"])
    f["log_attention_peak_tflops"] = np.log(specs["attention_peak_tflops"])
    f["log_memory_gb"] = np.log(specs["memory_gb"])
    f["log_link_bw_gbps"] = np.log(np.asarray(link, dtype=float))
    f["ridge_flops_per_byte"] = specs["matmul_peak_tflops"] * 1e12 / (specs["mem_bw_gbps"] * 1e9)

    f["log_total_params"] = np.log(specs["total_params"])
    f["log_active_params"] = np.log(specs["active_params"])
    f["num_layers"] = specs["num_layers"]
    f["log_hidden_size"] = np.log(specs["hidden_size"])
    kv_values = specs["kv_values_per_token_full"] + specs["kv_values_per_token_window"]
    f["log_kv_bytes_per_token"] = np.log1p(kv_values * specs["kv_bytes_per_value"])
    f["num_experts"] = specs["num_experts"]
    f["experts_per_token"] = specs["experts_per_token"]
    f["is_mla"] = specs["is_mla"]

    sequences = np.where(cfg["batching"].eq("continuous"), cfg["concurrency"], cfg["batch_size"]).astype(float)
    f["log_input_len"] = np.log(cfg["input_len"].astype(float))
    f["log_output_len"] = np.log(cfg["output_len"].astype(float))
    f["log_sequences"] = np.log(sequences)
    for name in ["tp", "pp", "dp", "ep"]:
        f[name] = cfg[name].astype(float)
    f["weight_bytes_per_value"] = specs["weight_bytes_per_value"]
    f["kv_bytes_per_value"] = specs["kv_bytes_per_value"]

    f["log_analytic_ttft_s"] = np.log(est["ttft_s"])
    f["log_analytic_itl_s"] = np.log(est["itl_s"])
    f["log_analytic_latency_s"] = np.log(est["latency_s"])
    f["prefill_compute_share"] = _share(est["prefill_compute_s"], est["prefill_memory_s"], est["prefill_comm_s"])
    f["prefill_comm_share"] = _share(est["prefill_comm_s"], est["prefill_memory_s"], est["prefill_compute_s"])
    f["decode_compute_share"] = _share(est["decode_compute_s"], est["decode_memory_s"], est["decode_comm_s"])
    f["decode_comm_share"] = _share(est["decode_comm_s"], est["decode_memory_s"], est["decode_compute_s"])
    f["log_decode_intensity"] = np.log(est["decode_flops"] / est["decode_bytes"])
    f["log_prefill_intensity"] = np.log(est["prefill_flops"] / est["prefill_bytes"])
    f["memory_headroom"] = 1.0 - est["mem_per_device_gb"] / est["mem_usable_gb"]
    f["log_batch_over_max"] = np.log(sequences / np.maximum(est["max_batch_size"].astype(float), 1.0))

    categories = _categories()
    values = {"framework": cfg["framework"], "batching": cfg["batching"], "weight_dtype": cfg["weight_dtype"],
              "kv_dtype": cfg["kv_dtype"], "vendor": specs["vendor"], HARDWARE_ID_FEATURE: cfg["hardware"]}
    names = CATEGORICAL_FEATURES + ([HARDWARE_ID_FEATURE] if with_hardware_id else [])
    for name in names:
        f[name] = pd.Categorical(values[name].astype(str), categories=categories[name])
    columns = ((SPEC_FEATURES if with_specs else []) + FEATURE_COLUMNS
               + ([HARDWARE_ID_FEATURE] if with_hardware_id else []))
    return f[columns]
