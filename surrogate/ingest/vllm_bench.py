"""Adapter for the JSON that vLLM's and SGLang's benchmark scripts write.

Formats (key names as written by the scripts; a file is recognised by its keys):

* ``benchmark_serving.py --save-result`` / ``vllm bench serve``: ``date, backend, model_id,
  tokenizer_id, num_prompts, request_rate, max_concurrency, duration, completed, total_input_tokens,
  total_output_tokens, request_throughput, output_throughput, total_token_throughput, mean_ttft_ms,
  mean_tpot_ms, mean_itl_ms, mean_e2el_ms, ...``; ``--metadata KEY=VALUE`` pairs sit at the top level.
* ``benchmark_latency.py --output-json``: ``avg_latency, latencies, percentiles`` (one static batch).
* ``benchmark_throughput.py --output-json``: ``elapsed_time, num_requests, total_num_tokens,
  requests_per_second, tokens_per_second`` (all requests given to one offline ``generate``: a static
  batch of ``num_requests``).
* SGLang ``bench_serving`` JSONL, one result per line: ``backend, dataset_name, request_rate,
  max_concurrency, random_input_len, ..., duration, completed, total_input_tokens, total_output_tokens,
  input_throughput, output_throughput, mean_e2e_latency_ms, mean_ttft_ms, mean_tpot_ms, mean_itl_ms, ...``.

Facts a file does not record (hardware, tp, lengths of an offline run) come from the user
(:class:`IngestContext`) or from metadata keys in the file; a conflict between the two, or a missing
fact, rejects the row with the flag to pass. Serving metrics: ttft_s = mean_ttft_ms, itl_s =
mean_tpot_ms (mean_itl_ms if absent), latency_s = mean end-to-end latency, all / 1000; a mean of 0
means the backend did not stream and is treated as not measured. Lengths of a serving run default
to total tokens / completed requests (the mean request). Per-request arrays are not kept.

A serving run with a finite ``request_rate`` (``--request-rate``: Poisson arrivals) is open loop:
``request_rate_per_s`` keeps the offered rate and ``concurrency`` the requests actually in flight per
replica (SGLang's measured mean ``concurrency``, else Little's law: request throughput x mean end-to-end
latency), never above ``max_concurrency``; such a run read as closed loop at its client cap claimed more
sequences in flight than the server held. ``request_rate`` inf with no ``max_concurrency`` is rejected
(nothing fixed how many requests ran at once).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from features import catalog
from features.configs import nearest_tokens
from features.errors import DataError, MissingPathError, SurrogateError
from surrogate.ingest.account import Note, Rejection
from surrogate.ingest.base import AdapterOutput, IngestContext, not_text, number, relative_name, whole
from surrogate.ingest.schema import MEASUREMENT_COLUMNS, coerce_dtypes

__all__ = ["NAME", "read", "METADATA_KEYS", "BACKEND_FRAMEWORKS"]

NAME = "vllm-bench"
# Metadata keys (vLLM --metadata KEY=VALUE, or keys in any of these files) for each context field.
METADATA_KEYS: dict[str, tuple[str, ...]] = {
    "hardware": ("hardware", "gpu", "gpu_type", "accelerator"),
    "model": ("model_id", "model"),
    "framework": ("framework", "engine"),
    "framework_version": ("framework_version", "engine_version", "vllm_version", "sglang_version", "version"),
    "num_devices": ("num_devices", "num_gpus"),
    "tp": ("tp", "tp_size", "tensor_parallel_size"),
    "pp": ("pp", "pp_size", "pipeline_parallel_size"),
    "dp": ("dp", "dp_size", "data_parallel_size"),
    "ep": ("ep", "ep_size", "expert_parallel_size"),
    "weight_dtype": ("weight_dtype", "dtype"),
    "kv_dtype": ("kv_dtype", "kv_cache_dtype"),
    "input_len": ("input_len",),
    "output_len": ("output_len",),
    "batch_size": ("batch_size",),
    "concurrency": ("max_concurrency",),
}
# Mean end-to-end latency in milliseconds: vLLM's key, then SGLang's.
_END_TO_END_KEYS = ("mean_e2el_ms", "mean_e2e_latency_ms")
_INT_FIELDS = {"num_devices", "tp", "pp", "dp", "ep", "input_len", "output_len", "batch_size", "concurrency"}
# The serving client's --backend names the server only for these values.
BACKEND_FRAMEWORKS = {"vllm": "vllm", "vllm-chat": "vllm", "sglang": "sglang", "sglang-native": "sglang",
                      "sglang-oai": "sglang", "sglang-oai-chat": "sglang", "tensorrt-llm": "tensorrt-llm",
                      "trt": "tensorrt-llm", "deepspeed-mii": "deepspeed-mii"}
_ARRAYS = {"input_lens", "output_lens", "ttfts", "itls", "generated_texts", "errors", "latencies", "start_times"}


def _kind(obj: dict[str, Any]) -> str | None:
    if "avg_latency" in obj:
        return "latency"
    if "elapsed_time" in obj and "tokens_per_second" in obj:
        return "throughput"
    if "completed" in obj and ("mean_ttft_ms" in obj or "median_ttft_ms" in obj):
        return "serving"
    return None


_RESOLVERS = {"hardware": catalog.resolve_hardware, "model": catalog.resolve_model,
              "framework": catalog.resolve_framework}


def _same(name: str, a: Any, b: Any) -> bool:
    """Whether a flag and a file value agree (whole numbers numerically, names after catalog lookup)."""
    if name in _INT_FIELDS:
        return whole(a) == whole(b)
    if str(a).strip().lower() == str(b).strip().lower():
        return True
    resolve = _RESOLVERS.get(name)
    if resolve is None:
        return False
    try:
        return resolve(str(a)) == resolve(str(b))
    except SurrogateError:
        return False


class _Row:
    """One result object: its context, its record, and the reason it cannot be used."""

    def __init__(self, obj: dict[str, Any], context: IngestContext, file: str, line: int) -> None:
        self.obj, self.file, self.line = obj, file, line
        self.notes: list[Note] = []
        self.problem: str | None = None
        self.facts: dict[str, Any] = {}
        given = context.given()
        for name, keys in METADATA_KEYS.items():
            in_file = next((obj[k] for k in keys if obj.get(k) not in (None, "", "None")), None)
            if name in given and in_file is not None and not _same(name, given[name], in_file):
                flag = name.replace("_", "-")
                self.problem = self.problem or f"--{flag} {given[name]} conflicts with the file's {name} {in_file!r}"
            value = given.get(name, in_file)
            if value is not None and name in _INT_FIELDS:
                parsed = whole(value)
                if parsed is None:
                    self.problem = self.problem or f"{name} {value!r} is not a whole number"
                value = parsed
            self.facts[name] = value

    def note(self, message: str) -> None:
        self.notes.append(Note(self.file, self.line, message))

    def need(self, *names: str, why: str) -> bool:
        missing = [n for n in names if self.facts.get(n) is None]
        if missing and self.problem is None:
            flags = ", ".join("--" + n.replace("_", "-") for n in missing)
            self.problem = f"{why} does not record {', '.join(missing)}: pass {flags}"
        return not missing

    def seconds(self, *keys: str) -> float | None:
        """The first of ``keys`` present, milliseconds to seconds; 0 means not measured."""
        for key in keys:
            value = number(self.obj.get(key))
            if value is None:
                continue
            if value == 0:
                self.note(f"not measured (the backend did not stream): {key} is 0")
                return None
            return value / 1000.0
        return None

    def record(self) -> dict[str, Any] | None:
        kind = _kind(self.obj)
        if kind is None:
            self.problem = "not a vLLM/SGLang benchmark result (keys: " + ", ".join(sorted(self.obj)[:8]) + ")"
            return None
        if self.facts["framework"] is None and kind in {"latency", "throughput"}:
            self.facts["framework"] = "vllm"
        if self.facts["framework"] is None:
            backend = str(self.obj.get("backend", ""))
            self.facts["framework"] = BACKEND_FRAMEWORKS.get(backend.lower())
        self.need("hardware", "model", "framework", why=f"benchmark_{kind} JSON")
        base = {k: self.facts[k] for k in ("hardware", "model", "framework", "framework_version", "num_devices",
                                           "tp", "pp", "dp", "ep", "weight_dtype", "kv_dtype")}
        out: dict[str, Any] = getattr(self, f"_{kind}")(base)
        if self.problem is not None:
            return None
        used = {k for keys in METADATA_KEYS.values() for k in keys} | _ARRAYS
        extra = {k: v for k, v in self.obj.items() if k not in used and not isinstance(v, list)}
        out.update(mode="aggregated", source_file=self.file, source_line=self.line,
                   source_fields=json.dumps(extra, sort_keys=True, default=str) if extra else None)
        return out

    def _latency(self, base: dict[str, Any]) -> dict[str, Any]:
        self.need("input_len", "output_len", "batch_size", why="benchmark_latency JSON")
        return dict(base, batching="static", batch_size=self.facts["batch_size"], input_len=self.facts["input_len"],
                    output_len=self.facts["output_len"], latency_s=number(self.obj.get("avg_latency")))

    def _throughput(self, base: dict[str, Any]) -> dict[str, Any]:
        self.need("input_len", "output_len", why="benchmark_throughput JSON")
        requests = whole(self.obj.get("num_requests"))
        if requests is None or requests < 1:
            self.problem = self.problem or f"num_requests {self.obj.get('num_requests')!r} is not a positive number"
            return {}
        if self.facts["batch_size"] not in (None, requests):
            self.problem = self.problem or (f"--batch-size {self.facts['batch_size']} conflicts with num_requests "
                                            f"{requests} (all requests are one offline batch)")
        tokens = number(self.obj.get("total_num_tokens"))
        if tokens is not None and self.facts["input_len"] and self.facts["output_len"]:
            expected = requests * (self.facts["input_len"] + self.facts["output_len"])
            if abs(tokens - expected) > 0.01 * expected:
                self.note(f"total_num_tokens {tokens:g} is not num_requests x (input_len + output_len) = {expected}")
        return dict(base, batching="static", batch_size=requests, input_len=self.facts["input_len"],
                    output_len=self.facts["output_len"], latency_s=number(self.obj.get("elapsed_time")),
                    throughput_tok_s=number(self.obj.get("tokens_per_second")))

    def _serving(self, base: dict[str, Any]) -> dict[str, Any]:
        completed = whole(self.obj.get("completed"))
        if not completed:
            self.problem = self.problem or "no request completed"
            return {}
        if whole(self.obj.get("failed")):
            self.note(f"{self.obj['failed']} requests failed; metrics cover the {completed} completed")
        lengths = {}
        for name, total_key in (("input_len", "total_input_tokens"), ("output_len", "total_output_tokens")):
            lengths[name] = self.facts[name]
            total = number(self.obj.get(total_key))
            if lengths[name] is None and total is not None:
                lengths[name] = max(1, int(nearest_tokens(total / completed)))
                self.note(f"{name} {lengths[name]} is the mean over {completed} requests ({total_key} / completed)")
        if None in lengths.values():
            self.facts.update(lengths)
            self.need("input_len", "output_len", why="serving JSON")
        concurrency = self.facts["concurrency"]
        rate = number(self.obj.get("request_rate"))  # None: "inf" (every request at once) or not recorded
        if concurrency is None and rate is None and self.problem is None:
            self.problem = (f"no max_concurrency (request_rate {self.obj.get('request_rate', 'inf')}): the number "
                            "of requests in flight is not fixed; pass --concurrency if it was")
            return {}
        dp = self.facts["dp"] or 1
        if concurrency is not None and dp > 1:
            if concurrency % dp:
                self.problem = self.problem or f"max_concurrency {concurrency} is not a multiple of dp {dp}"
                return {}
            concurrency //= dp
        if rate is not None:
            concurrency = self._open_loop(rate, completed, dp, concurrency)
            if concurrency is None:
                return {}
        throughput = number(self.obj.get("total_token_throughput"))
        input_throughput = number(self.obj.get("input_throughput"))
        if throughput is None and input_throughput is not None:
            throughput = input_throughput + (number(self.obj.get("output_throughput")) or 0)
        return dict(base, batching="continuous", concurrency=concurrency, batch_size=self.facts["batch_size"],
                    request_rate_per_s=rate, input_len=lengths["input_len"], output_len=lengths["output_len"],
                    ttft_s=self.seconds("mean_ttft_ms"), itl_s=self.seconds("mean_tpot_ms", "mean_itl_ms"),
                    latency_s=self.seconds(*_END_TO_END_KEYS), throughput_tok_s=throughput,
                    output_throughput_tok_s=number(self.obj.get("output_throughput")))

    def _open_loop(self, rate: float, completed: int, dp: int, cap: int | None) -> int | None:
        """Requests in flight per replica of a run fed Poisson arrivals at ``rate`` (``--request-rate``): not
        the client's cap but what was actually in flight. SGLang records the mean (``concurrency``: summed
        request latency over the run's duration); otherwise Little's law gives it, completed requests per
        second x mean end-to-end latency. Rounded, at least 1, never above the cap (``max_concurrency``)."""
        # Not self.seconds: the row's latency_s notes a 0 once.
        latency_ms = next((v for v in (number(self.obj.get(k)) for k in _END_TO_END_KEYS) if v), None)
        latency_s = latency_ms / 1000.0 if latency_ms is not None else None
        served = number(self.obj.get("request_throughput"))
        duration = number(self.obj.get("duration"))
        if served is None and duration:
            served = completed / duration
        in_flight = number(self.obj.get("concurrency"))
        how = "the run's mean concurrency"
        if in_flight is None and served is not None and latency_s is not None:
            in_flight, how = served * latency_s, f"Little's law: {served:g} requests/s x {latency_s:g} s"
        if in_flight is None:
            self.problem = self.problem or (f"open loop (request_rate {rate:g}/s) without the mean end-to-end latency "
                                            "or request throughput: the requests in flight are unknown")
            return None
        per_replica = max(1, round(in_flight / dp))
        if cap is not None:
            per_replica = min(per_replica, cap)
        self.note(f"open loop at {rate:g} requests/s: {per_replica} in flight per replica ({how}"
                  + (f", over {dp} replicas" if dp > 1 else "") + ")")
        return per_replica


def _objects(file: Path, label: str) -> list[tuple[int, dict[str, Any]] | Rejection]:
    """(line, object) pairs of a JSON file (line 1) or a JSON-lines file (physical lines)."""
    try:
        # Bytes that are not UTF-8 stay as lone surrogates: only the lines holding them are rejected.
        text = file.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise DataError(f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        whole_doc = None if not_text([text]) else json.loads(text)
    except json.JSONDecodeError:
        whole_doc = None
    if isinstance(whole_doc, dict):
        return [(1, whole_doc)]
    if isinstance(whole_doc, list):
        return [(1, o) if isinstance(o, dict) else Rejection(label, 1, f"item {i + 1} is not a JSON object")
                for i, o in enumerate(whole_doc)]
    out: list[tuple[int, dict[str, Any]] | Rejection] = []
    for number_, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not_text([line]):
            out.append(Rejection(label, number_, f"not UTF-8 text ({not_text([line]).removesuffix(' in field 1')}); "
                                                 "save the file as UTF-8"))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append(Rejection(label, number_, f"not JSON: {exc.msg}"))
            continue
        out.append((number_, obj) if isinstance(obj, dict) else Rejection(label, number_, "not a JSON object"))
    return out


def read(path: Path, context: IngestContext) -> AdapterOutput:
    """A result file, or every ``*.json``/``*.jsonl`` under a directory, as canonical records."""
    path = Path(path)
    if not path.exists():
        raise MissingPathError(f"{path} does not exist")
    root = path if path.is_dir() else path.parent
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in {".json", ".jsonl"})
    if not files:
        raise DataError(f"no .json or .jsonl files under {path}")
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    notes: list[Note] = []
    for file in files:
        label = relative_name(file, root)
        for item in _objects(file, label):
            if isinstance(item, Rejection):
                rejections.append(item)
                continue
            row = _Row(item[1], context, label, item[0])
            record = row.record()
            if record is None:
                rejections.append(Rejection(label, item[0], row.problem or "unusable result"))
            else:
                records.append(record)
                notes += row.notes
    frame = pd.DataFrame.from_records(records, columns=[c for c in MEASUREMENT_COLUMNS if c != "measurement_id"])
    return AdapterOutput(coerce_dtypes(frame), rejections, notes)
