"""Checks every source's rows go through: catalog names, defaults, numbers, possible configurations.

Adapters hand over rows with labels as written; this module resolves them (an unknown name is
rejected with the catalog's suggestions), fills the documented defaults, and rejects rows with a
missing or non-positive number or an impossible configuration (``features.configs.invalid_reasons``).
What survives goes on to the physics check (:mod:`surrogate.ingest.physics`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from features import catalog
from features.configs import batching_mode, invalid_reasons, normalize_configs
from features.embedded import contradiction, split_framework_version, split_hardware_count
from features.errors import ConfigError, SurrogateError
from features.model_names import strip_quant_suffix
from features.precision import canonical_dtype
from surrogate.ingest.account import Note, Rejection, row_strings
from surrogate.ingest.schema import (
    BATCHING_VALUES,
    DEPLOYMENT_COLUMNS,
    DISAGG_COLUMNS,
    KEY_COLUMNS,
    MEASUREMENT_COLUMNS,
    METRIC_COLUMNS,
    MODE_VALUES,
    coerce_dtypes,
    empty_frame,
)

__all__ = ["check_records", "analytic_configs", "measurement_ids", "reasons_by_chunk"]

_POSITIVE_INT = ["num_devices", "tp", "pp", "dp", "ep", "moe_tp", "batch_size", "concurrency", "input_len",
                 "output_len", *DISAGG_COLUMNS]
_LABELS = {"hardware": ("hardware_label", catalog.resolve_hardware),
           "model": ("model_label", catalog.resolve_model),
           "framework": ("framework_label", catalog.resolve_framework)}


class _Sink:
    """Collects rejections and keeps the surviving rows' mask in step."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.alive = pd.Series(True, index=frame.index)
        self.rejections: list[Rejection] = []
        self.notes: list[Note] = []

    def reject(self, mask: pd.Series, reasons: pd.Series | str) -> None:
        mask = mask.fillna(False).astype(bool) & self.alive
        if not mask.any():
            return
        for idx in self.frame.index[mask]:
            reason = reasons if isinstance(reasons, str) else str(reasons.loc[idx])
            self.rejections.append(Rejection(str(self.frame.at[idx, "source_file"]),
                                             int(self.frame.at[idx, "source_line"]), reason))
        self.alive &= ~mask

    def note(self, mask: pd.Series, message: str | pd.Series) -> None:
        mask = mask.fillna(False).astype(bool) & self.alive
        for idx in self.frame.index[mask]:
            text = message if isinstance(message, str) else str(message.loc[idx])
            self.notes.append(Note(str(self.frame.at[idx, "source_file"]), int(self.frame.at[idx, "source_line"]),
                                   text))


def _resolve_each(values: pd.Series, resolve: Callable[[str], str]) -> tuple[pd.Series, pd.Series]:
    """Resolved values and error messages ('' when fine), one catalog lookup per distinct value."""
    resolved: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    raw = values.astype(object).where(values.notna(), None).tolist()
    for value in {str(v) for v in raw if v is not None}:
        try:
            resolved[value] = resolve(value)
            errors[value] = ""
        except SurrogateError as exc:
            resolved[value] = None
            errors[value] = str(exc)
    out = [None if v is None else resolved[str(v)] for v in raw]
    why = ["" if v is None else errors[str(v)] for v in raw]
    return pd.Series(out, index=values.index, dtype="string"), pd.Series(why, index=values.index, dtype=object)


def _split_written(frame: pd.DataFrame, sink: _Sink) -> None:
    """What a table writes into a name, taken out as ``normalize_configs`` takes it: a device count with the
    accelerator ('8x H100': num_devices 8), a release with the engine ('vLLM 0.6.3': framework_version), a
    batching mode's other spellings ('in-flight'). A count or release that another column contradicts
    rejects the row, naming both."""
    for name, split, extra in (("hardware", split_hardware_count, "num_devices"),
                               ("framework", split_framework_version, "framework_version")):
        written = frame[name].astype(object).where(frame[name].notna(), None)
        parts = {str(v): split(str(v)) for v in pd.unique(written.dropna())}
        if not any(part[1] is not None for part in parts.values()):
            continue
        found = pd.Series([None if v is None else parts[str(v)][1] for v in written], index=frame.index, dtype=object)
        stated = frame[extra].astype(object).where(frame[extra].notna(), None)
        clash = found.notna() & stated.notna() & (found.astype(str) != stated.astype(str))
        reasons = pd.Series([contradiction(name, w, f, extra, t) if c else "" for w, f, t, c
                             in zip(written, found, stated, clash, strict=True)], index=frame.index, dtype=object)
        sink.reject(clash, reasons)
        frame[name] = [None if v is None else parts[str(v)][0] for v in written]
        frame[extra] = stated.where(stated.notna(), found)
    frame["batching"] = frame["batching"].map(batching_mode, na_action="ignore")


def _fill_defaults(frame: pd.DataFrame, sink: _Sink) -> None:
    """Documented defaults: mode aggregated, pp/dp/ep 1, tp from devices, checkpoint weight format."""
    f = frame
    f["mode"] = f["mode"].fillna("aggregated")
    agg = f["mode"].eq("aggregated")
    frameworks = catalog.framework_table()
    layer_split = f["framework"].map(frameworks["device_split"]).eq("layer")
    f["batching"] = f["batching"].fillna(f["framework"].map(frameworks["batching"]))
    for name in ("pp", "dp", "ep"):
        f.loc[agg & f[name].isna(), name] = 1
    devices = f["num_devices"].astype("Float64")
    per_replica = f["pp"].astype("Float64") * f["dp"].astype("Float64")
    need_tp = agg & f["tp"].isna()
    from_devices = need_tp & devices.notna()
    f.loc[need_tp & ~from_devices, "tp"] = 1
    split = from_devices & layer_split
    f.loc[split, "tp"] = 1
    f.loc[split, "pp"] = (devices[split] / f.loc[split, "dp"].astype("Float64")).round().astype("Int64")
    tensor = from_devices & ~layer_split
    tp_float = devices / per_replica
    f.loc[tensor, "tp"] = tp_float[tensor].round().astype("Int64")
    sink.reject(tensor & (tp_float != tp_float.round()),
                "num_devices " + f["num_devices"].astype(str) + " is not a multiple of pp*dp = "
                + per_replica.astype(str))
    product = f["tp"].astype("Float64") * f["pp"].astype("Float64") * f["dp"].astype("Float64")
    f.loc[agg & f["num_devices"].isna(), "num_devices"] = product[agg & f["num_devices"].isna()].astype("Int64")
    continuous = f["batching"].eq("continuous")
    f.loc[continuous & f["concurrency"].isna(), "concurrency"] = f.loc[continuous & f["concurrency"].isna(),
                                                                       "batch_size"]
    no_dtype = f["weight_dtype"].isna() & sink.alive
    # A publisher's quantised name states its formats ('TheBloke/Llama-2-70B-AWQ': int4 weights, '...-FP8-KV' an
    # fp8 KV cache too), which the catalog id it resolved to does not: its suffix rule says them.
    # Each distinct name read once (a file repeats a few names over thousands of rows).
    labels = f["model_label"].fillna(f["model"]).astype(object)
    found = {name: strip_quant_suffix(str(name))[1] for name in pd.unique(labels.dropna())}
    rules = {name: rule for name, rule in found.items() if rule is not None}
    stated_kv = labels.map({name: rule.kv_dtype for name, rule in rules.items() if rule.kv_dtype is not None})
    no_kv = f["kv_dtype"].isna() & sink.alive & stated_kv.notna()
    f.loc[no_kv, "kv_dtype"] = stated_kv[no_kv]
    if no_dtype.any():
        native = {m: catalog.get_model(m).native_weight_dtype for m in pd.unique(f.loc[no_dtype, "model"])}
        stated = labels.map({name: rule.weight_dtype for name, rule in rules.items() if rule.weight_dtype is not None})
        f.loc[no_dtype, "weight_dtype"] = stated[no_dtype].where(stated[no_dtype].notna(),
                                                                 f.loc[no_dtype, "model"].map(native))
        sink.note(no_dtype, "weight format not recorded: the checkpoint's " + f["weight_dtype"].astype(str)
                  + " assumed")


def _check_numbers(frame: pd.DataFrame, sink: _Sink) -> None:
    f = frame
    agg = f["mode"].eq("aggregated")
    for name in ("hardware", "model", "framework", "input_len", "output_len", "batching"):
        sink.reject(f[name].isna(), f"{name} is missing")
    for name, allowed in (("batching", BATCHING_VALUES), ("mode", MODE_VALUES)):
        sink.reject(f[name].notna() & ~f[name].isin(allowed),
                    f"{name} must be one of {', '.join(allowed)}: got " + f[name].astype(str))
    sink.reject(agg & f["batching"].eq("static") & f["batch_size"].isna(), "batch_size is missing (static batch)")
    sink.reject(f["batching"].eq("continuous") & f["concurrency"].isna(), "concurrency is missing")
    for name in _POSITIVE_INT:
        bad = f[name].notna() & (f[name].astype("Float64") < 1)
        sink.reject(bad, f"{name} must be at least 1: got " + f[name].astype(str))
    metrics = f[METRIC_COLUMNS].astype(float)
    sink.reject(metrics.isna().all(axis=1), "no metric measured")
    for name in METRIC_COLUMNS:
        bad = metrics[name].notna() & ~(metrics[name] > 0)
        sink.reject(bad, f"{name} must be positive: got " + metrics[name].map("{:g}".format).astype(str))


def analytic_configs(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns ``features.configs.normalize_configs`` takes, with NA KV formats at the default."""
    cols = [c for c in DEPLOYMENT_COLUMNS if c in ("hardware", "num_devices", "tp", "pp", "dp", "ep", "framework",
                                                  "model", "weight_dtype", "kv_dtype", "batching", "batch_size",
                                                  "concurrency", "input_len", "output_len",
                                                  "prefill_chunk_tokens")]
    cfg = frame[cols].astype(object).where(frame[cols].notna(), None)
    cfg["kv_dtype"] = cfg["kv_dtype"].fillna("fp16")
    cfg["batch_size"] = cfg["batch_size"].fillna(cfg["concurrency"])
    return cfg


def reasons_by_chunk(cfg: pd.DataFrame) -> pd.Series:
    """``invalid_reasons`` of normalised rows; a chunk the catalog cannot evaluate gets that error."""
    try:
        return invalid_reasons(normalize_configs(cfg)).astype(object)
    except ConfigError:
        pass
    out = pd.Series("", index=cfg.index, dtype=object)
    for _, chunk in cfg.groupby(["hardware", "model", "framework", "weight_dtype"], sort=False, dropna=False):
        try:
            out[chunk.index] = invalid_reasons(normalize_configs(chunk))
        except ConfigError as exc:
            out[chunk.index] = str(exc)
    return out


def _check_possible(frame: pd.DataFrame, sink: _Sink) -> None:
    f = frame
    agg = f["mode"].eq("aggregated") & sink.alive
    if agg.any():
        reasons = reasons_by_chunk(analytic_configs(f[agg])).reindex(f.index).fillna("")
        sink.reject(agg & reasons.ne(""), reasons)
    for phase in ("prefill", "decode"):
        disagg = f["mode"].eq("disaggregated") & sink.alive
        if not disagg.any():
            continue
        worker = f.loc[disagg, ["hardware", "model", "framework", "weight_dtype", "kv_dtype", "input_len",
                                "output_len"]].copy()
        for name in ("tp", "pp", "dp", "ep"):
            worker[name] = f.loc[disagg, f"{phase}_{name}"].fillna(1)
        worker["num_devices"] = worker["tp"] * worker["pp"] * worker["dp"]
        worker["batching"] = "continuous"
        worker["concurrency"] = f.loc[disagg, f"{phase}_batch_size"].fillna(1)
        worker["batch_size"] = worker["concurrency"]
        worker["prefill_chunk_tokens"] = np.nan
        reasons = reasons_by_chunk(analytic_configs(worker))
        sink.reject(reasons.ne("").reindex(f.index).fillna(False),
                    (f"{phase} worker " + reasons).reindex(f.index).fillna(""))


def measurement_ids(frame: pd.DataFrame) -> pd.Series:
    """sha1 of source, file, line, configuration and metrics: the identity of one measurement."""
    cols = KEY_COLUMNS + ["source_file", "source_line"] + METRIC_COLUMNS
    text = row_strings(frame.assign(**{m: frame[m].round(12) for m in METRIC_COLUMNS}), cols)
    return pd.Series([hashlib.sha1(t.encode("utf-8")).hexdigest() for t in text], index=frame.index, dtype="string")


def check_records(records: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[Rejection], list[Note]]:
    """Resolved, defaulted and validated rows of one adapter, plus what was rejected or remarked."""
    if records.empty:
        return empty_frame(MEASUREMENT_COLUMNS), [], []
    frame = records.copy().reset_index(drop=True)
    for name in MEASUREMENT_COLUMNS:
        if name not in frame.columns:
            frame[name] = empty_frame([name])[name].reindex(frame.index)
    frame["source"] = source
    sink = _Sink(frame)
    for name, (label_col, _) in _LABELS.items():
        frame[label_col] = frame[label_col].fillna(frame[name])
    _split_written(frame, sink)
    for name, (_, resolve) in _LABELS.items():
        resolved, errors = _resolve_each(frame[name], resolve)
        sink.reject(errors.ne(""), errors)
        frame[name] = resolved
    for name in ("weight_dtype", "kv_dtype"):
        resolved, errors = _resolve_each(frame[name], canonical_dtype)
        sink.reject(errors.ne(""), errors)
        frame[name] = resolved.where(frame[name].notna(), pd.NA)
    frame = coerce_dtypes(frame)
    sink.frame = frame
    _fill_defaults(frame, sink)
    _check_numbers(frame, sink)
    _check_possible(frame, sink)
    kept = frame[sink.alive.to_numpy()].copy()
    kept["faster_than_physics"] = False
    kept["measurement_id"] = measurement_ids(kept)
    return kept[MEASUREMENT_COLUMNS].reset_index(drop=True), sink.rejections, sink.notes
