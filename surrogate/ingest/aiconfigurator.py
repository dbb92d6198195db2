"""Adapter for aiconfigurator's ``silicon_sample.csv`` (ai-dynamo/aiconfigurator, aic-core systems/).

Serving measurements under continuous batching. Mapping:

* ``system`` -> hardware, ``model_path`` -> model, ``backend`` -> framework (trtllm = tensorrt-llm),
  ``backend_version`` -> framework_version, ``isl``/``osl`` -> input_len/output_len.
* ``precision`` -> weight_dtype (blank: the checkpoint's format, with a note); ``gemm_quant_mode`` and
  ``moe_quant_mode`` -> quant_scheme. The file does not record the KV-cache format: kv_dtype is NA.
* ``silicon_ttft_ms`` / 1000 -> ttft_s, ``silicon_tpot_ms`` / 1000 -> itl_s; both are required.
  latency_s and throughputs are NOT derived (TTFT + (osl - 1) * TPOT is a model, not a measurement).
* ``agg`` rows: one worker is tp_size x pp_size x attention_dp_size GPUs: tp = tp_size, pp = pp_size,
  dp = attention_dp_size (attention replicated, experts sharded over all ranks), ep = moe_ep_size,
  moe_tp = moe_tp_size; with attention data parallelism (dp > 1) ep = moe_tp_size x moe_ep_size, the
  ranks the experts are spread over (= tp x dp in every such row), whether each expert is split by
  moe_tp or placed whole by moe_ep: ``ep > 1`` with ``dp > 1`` means experts shared across the ranks, and a
  row of moe_ep 1, moe_tp 32 over 32 ranks does not replicate its experts 32 times. ``batch_size`` is the
  requests per attention-DP rank: concurrency = batch_size, and the client's ``silicon_concurrency=``
  (from ``silicon_data_source``) must equal batch_size x dp.
  Where attention_dp_size is blank and the client concurrency is batch_size x tp_size, the worker
  ran attention data-parallel over its tp ranks (TensorRT-LLM ``enable_attention_dp``): dp = tp_size,
  tp = 1, with a note. Any other mismatch is rejected.
* ``disagg`` rows: mode disaggregated; the prefill_* and decode_* worker shapes go to their columns
  (attention_dp -> dp, moe_ep -> ep, with the same rule for attention data parallelism); batch sizes are per
  attention-DP rank, as for agg rows; concurrency is the client concurrency; tp/pp/dp/ep/batch_size
  are NA; num_devices is the sum over workers where the worker counts are recorded, NA otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import DataError
from surrogate.ingest.account import Rejection
from surrogate.ingest.base import (
    AdapterOutput,
    CsvRow,
    RowSink,
    number,
    read_csv_rows,
    relative_name,
    source_fields_json,
    whole,
)
from surrogate.ingest.schema import MEASUREMENT_COLUMNS, coerce_dtypes

__all__ = ["NAME", "read", "DEFAULT_FILE"]

NAME = "aiconfigurator"
DEFAULT_FILE = "silicon_sample.csv"
_REQUIRED = ["backend", "model_path", "system", "mode", "isl", "osl", "silicon_ttft_ms", "silicon_tpot_ms"]
_CONCURRENCY = re.compile(r"silicon_concurrency=(\d+)")
_ID_SHAPE = re.compile(r"_tp(\d+)_ep(\d+)_")
_WORKER = {"batch_size": "batch_size", "num_workers": "workers", "tp_size": "tp", "pp_size": "pp",
           "attention_dp_size": "dp", "moe_tp_size": "moe_tp", "moe_ep_size": "ep"}
_MAPPED = set(_REQUIRED) | {"backend_version", "precision", "gemm_quant_mode", "moe_quant_mode", "batch_size",
                            "tp_size", "pp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size"} | {
    f"{phase}_{name}" for phase in ("prefill", "decode") for name in _WORKER}


class _Reader(RowSink):

    def positive(self, row: CsvRow, name: str, *, integer: bool = True,
                 optional: bool = False) -> tuple[bool, float | int | None]:
        """(ok, value): blank is fine when ``optional``; anything else must be a positive number."""
        text = row.values.get(name, "")
        if not text.strip():
            if optional:
                return True, None
            self.reject(row, f"{name} is missing")
            return False, None
        value = whole(text) if integer else number(text)
        if value is None or value <= 0:
            kind = "a positive whole number" if integer else "a positive number"
            self.reject(row, f"{name} is not {kind}: {text!r}")
            return False, None
        return True, value

    def read(self, row: CsvRow) -> None:
        v = row.values
        for name in ("isl", "osl"):
            ok, _ = self.positive(row, name)
            if not ok:
                return
        ttft_ok, ttft_ms = self.positive(row, "silicon_ttft_ms", integer=False)
        tpot_ok, tpot_ms = self.positive(row, "silicon_tpot_ms", integer=False) if ttft_ok else (False, None)
        if not (ttft_ok and tpot_ok) or ttft_ms is None or tpot_ms is None:  # ok implies a value; narrows for mypy
            return
        match = _CONCURRENCY.search(v.get("silicon_data_source", ""))
        client = int(match.group(1)) if match else None
        gemm, moe = v.get("gemm_quant_mode", ""), v.get("moe_quant_mode", "")
        scheme = ";".join(f"{k}={q}" for k, q in (("gemm", gemm), ("moe", moe)) if q) or None
        record: dict[str, Any] = {
            "hardware": v["system"], "model": v["model_path"], "framework": v["backend"],
            "framework_version": v.get("backend_version") or None, "weight_dtype": v.get("precision") or None,
            "kv_dtype": None, "quant_scheme": scheme, "batching": "continuous", "input_len": whole(v["isl"]),
            "output_len": whole(v["osl"]), "ttft_s": float(ttft_ms) / 1000.0, "itl_s": float(tpot_ms) / 1000.0,
            "source_file": self.file, "source_line": row.line, "source_fields": source_fields_json(v, _MAPPED),
        }
        mode = v["mode"].strip().lower()
        if mode == "agg":
            ok = self._aggregated(row, record, client)
        elif mode == "disagg":
            ok = self._disaggregated(row, record, client)
        else:
            self.reject(row, f"mode is neither agg nor disagg: {v['mode']!r}")
            ok = False
        if ok:
            self.records.append(record)

    def _aggregated(self, row: CsvRow, record: dict[str, Any], client: int | None) -> bool:
        shape: dict[str, Any] = {}
        for name, optional in (("tp_size", False), ("pp_size", False), ("batch_size", False),
                               ("attention_dp_size", True), ("moe_tp_size", True), ("moe_ep_size", True)):
            ok, shape[name] = self.positive(row, name, optional=optional)
            if not ok:
                return False
        tp, pp, batch = shape["tp_size"], shape["pp_size"], shape["batch_size"]
        dp = shape["attention_dp_size"] or 1
        if client is None:
            self.note(row, "client concurrency not recorded (no silicon_concurrency= in silicon_data_source)")
        elif client != batch * dp:
            if shape["attention_dp_size"] is None and tp > 1 and client == batch * tp:
                self.note(row, f"attention data parallelism inferred: client concurrency {client} = batch_size "
                               f"{batch} x tp_size {tp}, so dp={tp}, tp=1")
                tp, dp = 1, tp
            else:
                self.reject(row, f"client concurrency {client} is not batch_size {batch} x attention_dp_size {dp}")
                return False
        moe_tp, ep = shape["moe_tp_size"], shape["moe_ep_size"] or 1
        if moe_tp is not None and moe_tp * ep > 1 and moe_tp * ep != tp * dp:
            self.note(row, f"expert sharding differs from the worker: moe_tp_size x moe_ep_size = {moe_tp * ep}, "
                           f"tp x dp = {tp * dp}")
        id_shape = _ID_SHAPE.search(row.values.get("id", ""))
        if id_shape and (int(id_shape.group(1)), int(id_shape.group(2))) not in {(tp, ep), (tp * dp, ep)}:
            self.note(row, f"parallelism differs from the id: id says tp{id_shape.group(1)}_ep{id_shape.group(2)}, "
                           f"columns tp_size {shape['tp_size']}, moe_ep_size {ep}")
        record.update(mode="aggregated", tp=tp, pp=pp, dp=dp, ep=expert_ranks(tp, dp, ep, moe_tp), moe_tp=moe_tp,
                      batch_size=batch,
                      concurrency=batch, num_devices=tp * pp * dp)
        return True

    def _disaggregated(self, row: CsvRow, record: dict[str, Any], client: int | None) -> bool:
        if client is None:
            self.reject(row, "client concurrency not recorded (no silicon_concurrency= in silicon_data_source)")
            return False
        devices: int | None = 0
        for phase in ("prefill", "decode"):
            shape: dict[str, Any] = {}
            for source_name, column in _WORKER.items():
                optional = source_name in {"batch_size", "num_workers", "moe_tp_size"}
                ok, shape[column] = self.positive(row, f"{phase}_{source_name}", optional=optional)
                if not ok:
                    return False
                record[f"{phase}_{column}"] = shape[column]
            record[f"{phase}_ep"] = expert_ranks(shape["tp"], shape["dp"] or 1, shape["ep"] or 1, shape["moe_tp"])
            if devices is not None and shape["workers"] is not None:
                devices += shape["workers"] * shape["tp"] * shape["pp"] * shape["dp"]
            else:
                devices = None
        record.update(mode="disaggregated", concurrency=client, num_devices=devices or None)
        return True


def expert_ranks(tp: int, dp: int, moe_ep: int, moe_tp: int | None) -> int:
    """The ``ep`` column: moe_ep, or under attention data parallelism (dp > 1) the ranks the experts spread
    over, moe_tp x moe_ep, where that is the whole worker (tp x dp) as aiconfigurator lays MoE layers out."""
    if dp > 1 and moe_tp is not None and moe_tp * moe_ep == tp * dp:
        return moe_tp * moe_ep
    return moe_ep


def read(path: Path) -> AdapterOutput:
    """``silicon_sample.csv`` (or a directory holding it) as canonical records."""
    path = Path(path)
    file = path / DEFAULT_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{file} not found; expected aiconfigurator's {DEFAULT_FILE}")
    label = relative_name(file, path if path.is_dir() else file.parent)
    header, rows = read_csv_rows(file, label)
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise DataError(f"{label}:1: not an aiconfigurator silicon file (missing columns {', '.join(missing)})")
    reader = _Reader(label)
    for row in rows:
        if isinstance(row, Rejection):
            reader.rejections.append(row)
        else:
            reader.read(row)
    frame = pd.DataFrame.from_records(reader.records,
                                      columns=[c for c in MEASUREMENT_COLUMNS if c != "measurement_id"])
    return AdapterOutput(coerce_dtypes(frame), reader.rejections, reader.notes)
