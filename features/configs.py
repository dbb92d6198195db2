"""Deployment configurations as a table: defaults, canonical names, validation, catalog lookup.

One row is one deployment of one model: ``tp * pp * dp == num_devices`` devices of one hardware
type, serving either a static batch (``batch_size`` prompts at once, then decode to the end) or a
continuous stream with ``concurrency`` requests in flight per replica.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features import catalog
from features.errors import ConfigError
from features.precision import BYTES_PER_VALUE, PEAK_COLUMNS_BY_WEIGHT, canonical_dtype

__all__ = ["CONFIG_COLUMNS", "REQUIRED_COLUMNS", "normalize_configs", "invalid_reasons", "gather_specs"]

CONFIG_COLUMNS = [
    "hardware", "num_devices", "tp", "pp", "dp", "ep", "framework", "framework_version", "model", "weight_dtype",
    "kv_dtype", "batching", "batch_size", "concurrency", "input_len", "output_len", "prefill_chunk_tokens",
]
REQUIRED_COLUMNS = ["hardware", "model", "input_len", "output_len"]
_INT_COLUMNS = ["num_devices", "tp", "pp", "dp", "ep", "batch_size", "concurrency", "input_len", "output_len"]


def _map_unique(values: pd.Series, resolve: Callable[[str], str]) -> pd.Series:
    """Resolve each distinct value once (catalog lookups are the slow part)."""
    uniques = {v: resolve(v) for v in pd.unique(values.astype(str))}
    return values.astype(str).map(uniques)


def normalize_configs(configs: pd.DataFrame) -> pd.DataFrame:
    """Fill defaults and canonical names; raise ``ConfigError``/``UnknownNameError`` on bad input."""
    missing = [c for c in REQUIRED_COLUMNS if c not in configs.columns]
    if missing:
        raise ConfigError(f"configurations lack required columns: {', '.join(missing)}")
    out = configs.copy()
    n = len(out)
    out["hardware"] = _map_unique(out["hardware"], catalog.resolve_hardware)
    out["model"] = _map_unique(out["model"], catalog.resolve_model)
    if "framework" not in out or out["framework"].isna().all():
        out["framework"] = "vllm"
    out["framework"] = _map_unique(out["framework"].fillna("vllm"), catalog.resolve_framework)
    # Optional: the engine release as written (``features.versions`` dates it); NA when not given.
    out["framework_version"] = (out["framework_version"] if "framework_version" in out
                                else pd.Series(pd.NA, index=out.index)).astype("string")
    frameworks = catalog.framework_table()
    layer_split = out["framework"].map(frameworks["device_split"]).eq("layer").to_numpy()

    def column(name: str, default: object) -> pd.Series:
        if name not in out:
            return pd.Series([default] * n, index=out.index, dtype=object)
        return out[name].where(out[name].notna(), default)

    pp = pd.to_numeric(column("pp", 1))
    dp = pd.to_numeric(column("dp", 1))
    tp_given = "tp" in out and out["tp"].notna().any()
    if "num_devices" in out and out["num_devices"].notna().all():
        devices = pd.to_numeric(out["num_devices"])
    else:
        devices = pd.to_numeric(column("tp", 1)) * pp * dp
    if not tp_given:
        # llama.cpp splits layers across devices; the rest shard tensors.
        out["tp"] = np.where(layer_split, 1, devices // (pp * dp))
        pp = pd.Series(np.where(layer_split, devices // dp, pp), index=out.index)
    out["tp"] = pd.to_numeric(column("tp", 1))
    out["pp"], out["dp"], out["num_devices"] = pp, dp, devices
    out["ep"] = pd.to_numeric(column("ep", 1))
    native = out["model"].map({m: catalog.get_model(m).native_weight_dtype for m in pd.unique(out["model"])})
    out["weight_dtype"] = _map_unique(column("weight_dtype", None).fillna(native), canonical_dtype)
    out["kv_dtype"] = _map_unique(column("kv_dtype", "fp16"), canonical_dtype)
    default_batching = out["framework"].map(frameworks["batching"])
    out["batching"] = column("batching", None).fillna(default_batching).astype(str).str.lower()
    bad = ~out["batching"].isin(["static", "continuous"])
    if bad.any():
        raise ConfigError(f"batching must be 'static' or 'continuous', got '{out['batching'][bad].iloc[0]}'")
    out["batch_size"] = pd.to_numeric(column("batch_size", 1))
    out["concurrency"] = pd.to_numeric(column("concurrency", None).fillna(out["batch_size"]))
    out["prefill_chunk_tokens"] = pd.to_numeric(column("prefill_chunk_tokens", np.nan), errors="coerce")
    for name in _INT_COLUMNS:
        values = pd.to_numeric(out[name], errors="coerce")
        if values.isna().any():
            raise ConfigError(f"column '{name}' must be a whole number; row {int(values.isna().argmax())} "
                              f"has {out[name].iloc[int(values.isna().argmax())]!r}")
        out[name] = values.astype(np.int64)
    return out


def invalid_reasons(configs: pd.DataFrame, *, specs: pd.DataFrame | None = None) -> pd.Series:
    """Why each normalised row is impossible ('' when it is fine), without raising.

    ``specs`` may pass :func:`gather_specs` of the same rows (row for row, in the same order; its
    index is ignored), so a caller that already gathered them does not gather them again.
    """
    specs = _specs_for(configs, specs)
    reasons = pd.Series("", index=configs.index, dtype=object)

    def flag(mask: np.ndarray, message: pd.Series) -> None:
        empty = reasons.eq("").to_numpy()
        reasons[mask & empty] = message[mask & empty]

    c = configs
    for name in _INT_COLUMNS:
        flag((c[name] < 1).to_numpy(), f"{name} must be at least 1, got " + c[name].astype(str))
    product = c["tp"] * c["pp"] * c["dp"]
    flag((product != c["num_devices"]).to_numpy(),
         "num_devices " + c["num_devices"].astype(str) + " != tp*pp*dp = " + product.astype(str))
    heads = specs["num_attention_heads"].astype(np.int64)
    flag(((heads % c["tp"] != 0) & ~specs["uneven_head_split"]).to_numpy(),
         "tp " + c["tp"].astype(str) + " does not divide the " + heads.astype(str) + " attention heads")
    flag((c["pp"] > specs["num_layers"]).to_numpy(),
         "pp " + c["pp"].astype(str) + " exceeds the " + specs["num_layers"].astype(int).astype(str) + " layers")
    vendor_ok = np.array([v in fw for v, fw in zip(specs["vendor"], specs["fw_vendors"], strict=True)], dtype=bool)
    flag(~vendor_ok, c["framework"] + " does not run on " + specs["vendor"] + " hardware")
    return reasons


def _specs_for(configs: pd.DataFrame, specs: pd.DataFrame | None) -> pd.DataFrame:
    """``gather_specs(configs)``, or the caller's copy of it relabelled with ``configs.index``.

    Shared by ``invalid_reasons``, ``estimate`` and ``build_features`` so one prediction gathers
    specs once. Rows are matched by position, as ``gather_specs`` builds them; the caller's frame
    is not modified (``set_axis`` returns a new frame).
    """
    if specs is None:
        return gather_specs(configs)
    if len(specs) != len(configs):
        raise ConfigError(f"specs has {len(specs)} rows for {len(configs)} configurations; "
                          "pass gather_specs() of the same normalised rows")
    return specs.set_axis(configs.index, axis=0)


def gather_specs(configs: pd.DataFrame) -> pd.DataFrame:
    """Per-row hardware, model and framework numbers for a normalised configuration table."""
    hardware = catalog.hardware_table()
    frameworks = catalog.framework_table()
    hw = hardware.loc[configs["hardware"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame(index=configs.index)
    for name in ["vendor", "memory_gb", "mem_bw_gbps", "intra_node_bw_gbps", "inter_node_bw_gbps",
                 "devices_per_node", "scale_up_domain_devices", "tdp_w", "price_usd_per_device_hour"]:
        out[name] = hw[name].to_numpy()
    weight = configs["weight_dtype"].to_numpy()
    peak = np.full(len(configs), np.nan)
    for dtype, columns in PEAK_COLUMNS_BY_WEIGHT.items():
        rows = weight == dtype
        for col in columns:
            fill = rows & np.isnan(peak)
            peak[fill] = hw[col].to_numpy()[fill]
    out["matmul_peak_tflops"] = peak
    out["attention_peak_tflops"] = hw["fp16_tflops"].to_numpy()
    models = {m: catalog.get_model(m) for m in pd.unique(configs["model"])}
    for field in ["num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "vocab_size",
                  "total_params", "active_params", "matmul_params_per_token", "expert_params", "num_experts",
                  "experts_per_token", "kv_values_per_token_full", "kv_values_per_token_window",
                  "sliding_window", "attn_flops_per_ctx_full", "attn_flops_per_ctx_window", "is_mla",
                  "ffn_active_width", "max_position_embeddings"]:
        out[field] = configs["model"].map({m: getattr(a, field) for m, a in models.items()}).astype(float)
    out["weight_bytes_per_value"] = configs["weight_dtype"].map(BYTES_PER_VALUE).astype(float)
    out["kv_bytes_per_value"] = configs["kv_dtype"].map(BYTES_PER_VALUE).astype(float)
    fw = frameworks.loc[configs["framework"].to_numpy()].reset_index(drop=True)
    out["usable_memory_fraction"] = fw["usable_memory_fraction"].to_numpy()
    out["max_batched_tokens"] = fw["max_batched_tokens"].to_numpy()
    out["fw_vendors"] = fw["vendors"].to_numpy()
    out["uneven_head_split"] = fw["uneven_head_split"].str.lower().eq("true").to_numpy()
    for name, column in catalog.FRAMEWORK_MEMORY_SPECS.items():  # the engine's KV admission and budget rule
        out[name] = fw[column].to_numpy()
    if np.isnan(peak).any():
        row = int(np.isnan(peak).argmax())
        raise ConfigError(f"{configs['hardware'].iloc[row]} has no published peak for "
                          f"{configs['weight_dtype'].iloc[row]} matmuls")
    return out
