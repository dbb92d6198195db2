"""Adapter for a directory laid out like argonne-lcf/LLM-Inference-Bench (commit 4211f5d).

Every CSV below the directory is read (hidden folders such as ``.ipynb_checkpoints`` skipped); what
a file means is decided by its columns, so a fresh clone with more files reads the same way:

* Main columns ``Hardware, Num of Hardware, Framework, Model, Input Output Length, Batch Size,
  Latency, Throughput`` (``latency``/``throughput`` in Fig_3): a static batch of ``Batch Size`` prompts
  of ``L`` tokens each generating ``L`` tokens; ``Num of Hardware`` is the tensor-parallel degree.
  llama.cpp rows are ONE sequence on ``Num of Hardware`` devices splitting the layers (pp), and
  ``Batch Size`` is llama-bench's prompt chunk (``prefill_chunk_tokens``). Precision fp16 weights and
  KV cache unless a column says otherwise. ``Throughput`` is kept as measured; a row where it
  disagrees with ``B * 2L / Latency`` (llama.cpp: ``2L / Latency``) by more than 1% gets a note.
* ``kv_cache_dtype`` ("Weight = fp16, KV Cache = fp8"): weight and KV-cache formats.
* ``KV Cache`` ("With"/"Without KV Cache"): runs without a KV cache recompute the whole context every
  step; rejected, not a deployment the model covers.
* ``speculative_decoding``: runs with a draft model are rejected (speculative decoding is not
  modelled); runs without it are ordinary rows.
* ``Parallelism Type`` (TensorRT-LLM): "Tensor Parallelism"/"TP" = experts tensor-sliced (ep 1);
  "EP" = experts split ``N`` ways (ep N, moe_tp 1); "Hybrid TP = a and EP = b" = ep b, moe_tp a.
  Attention stays tensor-parallel over all ``N`` devices (TensorRT-LLM: moe_tp * moe_ep = tp).
* ``KV Cache Block_size``: vLLM paged-KV block size, kept in ``kv_block_size``.
* ``avg_power``: watts. Where ``Throughput_per_watt_avg`` is present the unit is read from it row by
  row (Throughput / avg_power equals it for watts, 1000x it for milliwatts: Fig_10's H100 DeciLM rows).
  Without it, values above 10 kW per device are milliwatts (NVML reports mW; no accelerator in the
  catalog draws 10 kW): Fig_16_a's 222122-594584 are 222-595 W.
  A file where any row draws more than its devices' TDP (catalog ``tdp_w`` x ``Num of Hardware``)
  measured more than the deployment (Fig_10: 1-GPU A100 rows at 446-547 W against a 400 W TDP,
  likely every GPU of the node); its power is dropped for every row, with a note, and stays in
  ``source_fields``.
* ``TTFT Latency`` and ``end_latency `` (Fig_22): two measurements per line. The TTFT run generated
  ``Output Length`` (1) token; ``end_latency`` equals the main table's latency of the same hardware,
  model and batch at ``Input Length`` in and out, so it is that run's latency.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from features import catalog
from features.errors import DataError, MissingPathError, SurrogateError
from surrogate.ingest.account import Note, Rejection
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

__all__ = ["NAME", "read", "THROUGHPUT_TOLERANCE", "MILLIWATT_THRESHOLD_W"]

NAME = "llm-inference-bench"
# A row whose Throughput differs from B*2L/Latency by more than this fraction gets a note.
THROUGHPUT_TOLERANCE = 0.01
# Per-device avg_power above this is taken as milliwatts (no accelerator in the catalog draws 10 kW).
MILLIWATT_THRESHOLD_W = 10_000.0
_MAIN = ["Hardware", "Num of Hardware", "Framework", "Model", "Batch Size"]
_DTYPES = re.compile(r"weight\s*=\s*([\w.]+)\s*,\s*kv\s*cache\s*=\s*([\w.]+)", re.IGNORECASE)
_HYBRID = re.compile(r"tp\s*=\s*(\d+).*ep\s*=\s*(\d+)", re.IGNORECASE)


def _pick(values: dict[str, str], *names: str) -> tuple[str | None, str | None]:
    """The first of ``names`` present in the row: (column, value)."""
    for name in names:
        if name in values:
            return name, values[name]
    return None, None


@cache
def _framework_id(label: str) -> str | None:
    try:
        return catalog.resolve_framework(label)
    except SurrogateError:
        return None


class _FileReader(RowSink):
    """Turns the rows of one file into records, rejections and notes."""

    def __init__(self, file_label: str, header: list[str]) -> None:
        super().__init__(file_label)
        self.header = header

    def numbers(self, row: CsvRow, names: list[str], integer: bool) -> dict[str, float] | None:
        out: dict[str, float] = {}
        for name in names:
            text = row.values.get(name, "")
            value = whole(text) if integer else number(text)
            if value is None:
                what = "a whole number" if integer else "a number"
                self.reject(row, f"{name.strip()} is not {what}: {text!r}" if text else f"{name.strip()} is missing")
                return None
            out[name] = value
        return out

    def read(self, row: CsvRow) -> None:
        v = row.values
        used = set(_MAIN)
        ints = self.numbers(row, _MAIN[1:2] + _MAIN[4:], integer=True)
        if ints is None:
            return
        devices, batch = int(ints["Num of Hardware"]), int(ints["Batch Size"])
        framework = v["Framework"]
        layer_split = _framework_id(framework) == "llama.cpp"
        base: dict[str, Any] = {
            "hardware": v["Hardware"], "framework": framework, "model": v["Model"], "num_devices": devices,
            "tp": 1 if layer_split else devices, "pp": devices if layer_split else 1, "dp": 1, "ep": 1,
            "batch_size": 1 if layer_split else batch, "batching": "static", "mode": "aggregated",
            "prefill_chunk_tokens": float(batch) if layer_split else None, "weight_dtype": "fp16",
            "kv_dtype": "fp16", "source_file": self.file, "source_line": row.line,
        }
        if not self._apply_variants(row, base, used, devices):
            return
        if "TTFT Latency" in v:
            self._ttft_rows(row, base, used)
            return
        length_col, _ = _pick(v, "Input Output Length")
        if length_col is None:
            lengths = self.numbers(row, ["Input Length", "Output Length"], integer=True)
            used |= {"Input Length", "Output Length"}
            if lengths is None:
                return
            in_len, out_len = int(lengths["Input Length"]), int(lengths["Output Length"])
        else:
            length = self.numbers(row, [length_col], integer=True)
            used.add(length_col)
            if length is None:
                return
            in_len = out_len = int(length[length_col])
        lat_col, _ = _pick(v, "Latency", "latency")
        thr_col, _ = _pick(v, "Throughput", "throughput")
        if lat_col is None:
            self.reject(row, "no Latency column")
            return
        latency = self.numbers(row, [lat_col], integer=False)
        used |= {lat_col, thr_col or ""}
        if latency is None:
            return
        record = dict(base, input_len=in_len, output_len=out_len, latency_s=latency[lat_col])
        throughput = number(v.get(thr_col, "")) if thr_col else None
        if throughput is not None:
            record["throughput_tok_s"] = throughput
            sequences = 1 if layer_split else batch
            derived = sequences * (in_len + out_len) / latency[lat_col]
            if abs(throughput / derived - 1.0) > THROUGHPUT_TOLERANCE:
                self.note(row, f"Throughput {throughput:.6g} differs from B*2L/Latency = {derived:.6g}")
        if "avg_power" in v:
            used.add("avg_power")
            record["power_w"] = self._power(row, devices, throughput)
        record["source_fields"] = source_fields_json(v, used)
        self.records.append(record)

    def _apply_variants(self, row: CsvRow, base: dict[str, Any], used: set[str], devices: int) -> bool:
        """Columns that change the configuration or rule the row out; False when rejected."""
        v = row.values
        if "KV Cache" in v:
            used.add("KV Cache")
            if v["KV Cache"].lower().startswith("without"):
                self.reject(row, "KV cache disabled (the whole context is recomputed every step): not a "
                                 "deployment the model covers")
                return False
            if not v["KV Cache"].lower().startswith("with"):
                self.reject(row, f"KV Cache is neither 'With' nor 'Without KV Cache': {v['KV Cache']!r}")
                return False
        if "speculative_decoding" in v:
            used.add("speculative_decoding")
            text = v["speculative_decoding"].lower()
            if not text.startswith("without"):
                draft = v.get("speculative model", "?")
                tokens = v.get("num speculative tokens", "?")
                self.reject(row, f"speculative decoding (draft {draft}, {tokens} tokens) is not modelled")
                return False
        if "kv_cache_dtype" in v:
            used.add("kv_cache_dtype")
            match = _DTYPES.search(v["kv_cache_dtype"])
            if match is None:
                self.reject(row, f"kv_cache_dtype does not read 'Weight = x, KV Cache = y': {v['kv_cache_dtype']!r}")
                return False
            base["weight_dtype"], base["kv_dtype"] = match.group(1), match.group(2)
        if "KV Cache Block_size" in v:
            used.add("KV Cache Block_size")
            size = whole(v["KV Cache Block_size"])
            if size is None or size < 1:
                self.reject(row, f"KV Cache Block_size is not a positive whole number: {v['KV Cache Block_size']!r}")
                return False
            base["kv_block_size"] = float(size)
        if "Parallelism Type" in v:
            used.add("Parallelism Type")
            return self._parallelism(row, base, devices)
        return True

    def _parallelism(self, row: CsvRow, base: dict[str, Any], devices: int) -> bool:
        label = row.values["Parallelism Type"].strip()
        key = label.lower()
        if key in {"tensor parallelism", "tp"}:
            return True
        if key in {"ep", "expert parallelism"}:
            base["ep"], base["moe_tp"] = devices, 1
            return True
        match = _HYBRID.search(label)
        if match is None:
            self.reject(row, f"Parallelism Type is not TP, EP or 'Hybrid TP = a and EP = b': {label!r}")
            return False
        moe_tp, ep = int(match.group(1)), int(match.group(2))
        if moe_tp * ep != base["tp"]:
            self.reject(row, f"Parallelism Type TP x EP is not the number of devices: {label!r} on {devices}")
            return False
        base["ep"], base["moe_tp"] = ep, moe_tp
        return True

    def _power(self, row: CsvRow, devices: int, throughput: float | None) -> float | None:
        v = row.values
        power = number(v["avg_power"])
        if power is None:
            self.note(row, f"avg_power dropped: not a number: {v['avg_power']!r}")
            return None
        per_watt = number(v.get("Throughput_per_watt_avg"))
        if per_watt is not None and throughput is not None and per_watt > 0:
            implied = throughput / per_watt
            if abs(implied / power - 1.0) <= THROUGHPUT_TOLERANCE:
                return power
            if abs(implied * 1000.0 / power - 1.0) <= THROUGHPUT_TOLERANCE:
                self.note(row, f"avg_power read as milliwatts: {power:g} / 1000 matches Throughput / "
                               f"Throughput_per_watt_avg = {implied:.4g} W")
                return power / 1000.0
            self.note(row, f"avg_power dropped: {power:g} fits neither W nor mW given Throughput_per_watt_avg")
            return None
        if power / devices > MILLIWATT_THRESHOLD_W:
            self.note(row, f"avg_power read as milliwatts: {power:g} is above {MILLIWATT_THRESHOLD_W:g} W per "
                           f"device ({power / 1000.0:.4g} W)")
            return power / 1000.0
        return power

    def _ttft_rows(self, row: CsvRow, base: dict[str, Any], used: set[str]) -> None:
        names = ["Input Length", "Output Length", "TTFT Latency", "end_latency"]
        values = self.numbers(row, names[:2], integer=True)
        if values is None:
            return
        times = self.numbers(row, names[2:], integer=False)
        if times is None:
            return
        used |= set(names)
        in_len, out_len = int(values["Input Length"]), int(values["Output Length"])
        extra = source_fields_json(row.values, used)
        self.records.append(dict(base, input_len=in_len, output_len=out_len, ttft_s=times["TTFT Latency"],
                                 source_fields=extra))
        self.records.append(dict(base, input_len=in_len, output_len=in_len, latency_s=times["end_latency"],
                                 source_fields=extra))
        self.note(row, f"second measurement on this line: end_latency is the latency of the {in_len}-in/"
                       f"{in_len}-out run")


@cache
def _tdp_w(label: str) -> float | None:
    try:
        return catalog.get_hardware(label).tdp_w
    except SurrogateError:
        return None


def _drop_power_above_tdp(reader: _FileReader) -> None:
    """Drop a file's power column when any row exceeds its devices' total TDP (not the deployment's draw)."""
    over = []
    for record in reader.records:
        power, tdp = record.get("power_w"), _tdp_w(str(record["hardware"]))
        if power is not None and tdp is not None and power > tdp * record["num_devices"]:
            over.append(f"{power:.0f} W on {record['num_devices']}x {record['hardware']} (TDP {tdp:.0f} W)")
    if not over:
        return
    for record in reader.records:
        if record.get("power_w") is not None:
            record["power_w"] = None
            reader.notes.append(Note(reader.file, record["source_line"],
                                     f"avg_power dropped: {len(over)} rows of this file exceed their devices' TDP "
                                     f"(e.g. {over[0]}), so it measured more than the deployment"))


def _csv_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in path.rglob("*.csv") if not any(part.startswith(".") for part in p.relative_to(path).parts)]
    return sorted(files, key=lambda p: p.relative_to(path).as_posix())


def read(path: Path) -> AdapterOutput:
    """Every CSV under ``path`` (or the one file ``path``) as canonical records."""
    path = Path(path)
    if not path.exists():
        raise MissingPathError(f"{path} does not exist")
    root = path if path.is_dir() else path.parent
    files = _csv_files(path)
    if not files:
        raise DataError(f"no CSV files under {path}; expected the layout of argonne-lcf/LLM-Inference-Bench "
                        "(Plots/All_results.csv, Plots/Fig_*/...)")
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    notes: list[Note] = []
    for file in files:
        label = relative_name(file, root)
        header, rows = read_csv_rows(file, label)
        reader = _FileReader(label, header)
        missing = [c for c in _MAIN if c not in header]
        for row in rows:
            if isinstance(row, Rejection):
                reader.rejections.append(row)
            elif missing:
                reader.reject(row, f"file layout not recognised (no {', '.join(missing)} column)")
            else:
                reader.read(row)
        _drop_power_above_tdp(reader)
        records += reader.records
        rejections += reader.rejections
        notes += reader.notes
    frame = pd.DataFrame.from_records(records, columns=[c for c in MEASUREMENT_COLUMNS if c != "measurement_id"])
    return AdapterOutput(coerce_dtypes(frame), rejections, notes)
