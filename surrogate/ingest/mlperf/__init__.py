"""Adapter for MLPerf Inference results (mlcommons/inference_results_v4.1 layout): LLM summaries.

Reads every ``<division>/<submitter>/results/<system>/<benchmark>/<scenario>/performance/run_1/
mlperf_log_summary.txt`` under the given folder, joins it to ``<division>/<submitter>/systems/<system>.json``
and to the engine settings the submitter's harness records (:mod:`.harness`). One summary is one row;
``source_line`` is the line of the summary's headline metric.

Semantics (also in the README's data section):

* **Model**: the benchmark fixes it: ``llama2-70b-*`` = Llama-2-70b-chat, ``mixtral-8x7b`` =
  Mixtral-8x7B-Instruct-v0.1, ``gptj-*`` = GPT-J 6B (CNN/DailyMail fine-tune), NeuralMagic's open
  ``neuralmagic_Llama-2-7b-chat-hf-FP8`` = Llama-2-7b-chat in fp8. Open-division results of changed
  models (``DepthPruned``, ``Sparse`` in the system name) are rejected: they are not that model.
* **GPT-J** results are rejected: its reference decodes with beam search (4 beams), so one request is
  four sequences in the engine, which no other source and no part of the model represents.
* **Lengths**: output tokens per request are measured: ``Tokens per second / Samples per second`` of
  the same summary (GPT-J: LoadGen's documented 69, marked ``(inferred)``). Prompt lengths are not
  recorded and their means are not documented, so ``input_len`` is an assumption, marked by
  ``input_len_assumed``: half the documented prompt limit (:data:`ASSUMED_INPUT_LEN`; OpenOrca
  prompts < 1,024 tokens -> 512; Mixtral's sub-datasets at most 2,048 -> 1,024; GPT-J's inputs truncated
  to 1,919 -> 960). Training does not learn TTFT from such rows (prefill time scales with the prompt);
  latency and ITL depend on the prompt only through the KV cache read per token.
* **Parallelism**: devices = ``accelerators_per_node x number_of_nodes``; tp and pp from the harness
  (one device: tp = 1); replicas dp = devices / (tp x pp). A result on several devices whose harness
  does not record tp is rejected (guessing it would set every per-replica number).
* **Server** (Poisson arrivals at LoadGen's rate): continuous batching; ``request_rate_per_s`` = the
  completed samples per second; requests in flight per replica from Little's law: completed samples/s
  x mean end-to-end latency / replicas, rounded (at least 1); ``ttft_s``, ``itl_s`` (TPOT) and
  ``latency_s`` are the **means** (the statistic the other sources report, and the one Little's law
  needs; the P99s that set MLPerf's limits are kept in ``source_fields``); ``output_throughput_tok_s`` =
  completed tokens/s. GPT-J Server records end-to-end latency only.
* **Offline** (every sample issued at once): throughput at saturation. The in-flight count is the
  harness's batch per replica (NVIDIA ``gpu_batch_size``, AMD ``max_num_seqs``) as a limit, but the
  engine admits only what its KV cache holds, so the real count (and any latency) is unknown: the row
  keeps ``output_throughput_tok_s`` with concurrency = that limit and is not trained on (no latency
  metric). An Offline result whose harness records no batch is rejected.
* **SingleStream**: one request at a time: concurrency 1, ``latency_s`` = the mean latency.
* **Accuracy variants** (``-99`` / ``-99.9`` of one system and scenario) are separate runs, often of the
  same engine: both are kept, each marked in ``source_fields`` (``accuracy_target``) with a note naming
  its twin, so nobody counts them as independent systems.
* **Engine**: NVIDIA's harness is TensorRT-LLM (its version is not recorded: NA, era of the round);
  ``vLLM x.y.z`` in the system's ``framework`` gives vllm and its version; anything else goes to the
  catalog as written (and is rejected there if unknown, e.g. deepsparse). CPU-only systems
  (``accelerator_model_name`` N/A) are rejected: CPU inference is not modelled yet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import DataError
from surrogate.ingest.account import Note, Rejection
from surrogate.ingest.base import AdapterOutput, relative_name
from surrogate.ingest.mlperf.harness import HarnessFacts, harness_facts
from surrogate.ingest.mlperf.summary import Summary, SystemInfo, read_summary, read_system
from surrogate.ingest.schema import MEASUREMENT_COLUMNS, coerce_dtypes

__all__ = ["NAME", "read", "BENCHMARK_MODELS", "ASSUMED_INPUT_LEN"]

NAME = "mlperf"
SUMMARY = "mlperf_log_summary.txt"
# Benchmark (accuracy suffix removed) -> Hugging Face id of the model it runs.
BENCHMARK_MODELS = {
    "llama2-70b": "meta-llama/Llama-2-70b-chat-hf",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "gptj": "EleutherAI/gpt-j-6b",
    "neuralmagic_Llama-2-7b-chat-hf-FP8": "meta-llama/Llama-2-7b-chat-hf",
}
# Prompt tokens assumed per request (means are not documented): half the documented limit, see above.
ASSUMED_INPUT_LEN = {"llama2-70b": 512, "mixtral-8x7b": 1024, "gptj": 960, "neuralmagic_Llama-2-7b-chat-hf-FP8": 512}
# Benchmarks whose reference decodes with beam search (mlcommons/inference v4.1 language/gpt-j: num_beams 4).
_BEAM_SEARCH = {"gptj": 4}
_WEIGHTS = {"neuralmagic_Llama-2-7b-chat-hf-FP8": "fp8"}
_SCENARIOS = {"offline": "Offline", "server": "Server", "singlestream": "SingleStream"}
_CHANGED_MODEL = re.compile(r"pruned|sparse", re.IGNORECASE)
_VLLM = re.compile(r"\bvllm\s+v?([0-9][^\s,]*)", re.IGNORECASE)
# The summary line each scenario's row points at: its headline metric.
_HEADLINE = {"Offline": "Samples per second", "Server": "Completed samples per second",
             "SingleStream": "90th percentile latency (ns)"}
_SERVER_STATS = ("Mean latency (ns)", "99.00 percentile latency (ns)", "Mean First Token latency (ns)",
                 "99.00 percentile first token latency (ns)", "Mean Time to Output Token (ns)",
                 "99.00 percentile time to output token (ns)", "Scheduled samples per second", "target_qps")


@dataclass(frozen=True)
class _Result:
    """Where a summary sits: its submitter's folder parts, division, submitter, system, benchmark, scenario."""

    submitter_parts: tuple[str, ...]
    division: str
    submitter: str
    system: str
    benchmark: str
    scenario_dir: str
    label: str

    @property
    def scenario(self) -> str | None:
        return _SCENARIOS.get(self.scenario_dir.lower())

    @property
    def base(self) -> str:
        return _base_benchmark(self.benchmark)


class _Rejected(Exception):
    """A summary that cannot become a row; the message is the reason."""


def _base_benchmark(benchmark: str) -> str:
    return benchmark.removesuffix("-99.9").removesuffix("-99")


class _Reader:
    """Turns summaries into records, rejections and notes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.records: list[dict[str, Any]] = []
        self.rejections: list[Rejection] = []
        self.notes: list[Note] = []

    def read(self, path: Path) -> None:
        label = relative_name(path, self.root)
        parts = path.relative_to(self.root).parts
        try:
            at = parts.index("results")
            where = _Result(parts[:at], parts[at - 2], parts[at - 1], parts[at + 1], parts[at + 2], parts[at + 3],
                            label)
        except (ValueError, IndexError):
            self.rejections.append(Rejection(label, 1, "not at <division>/<submitter>/results/<system>/<benchmark>/"
                                                       "<scenario>/performance/run_1/"))
            return
        summary = read_summary(path)
        line = summary.lines.get(_HEADLINE.get(where.scenario or "", ""), 1)
        try:
            self.records.append(self._checked(where, summary, line))
        except _Rejected as why:
            self.rejections.append(Rejection(label, line, str(why)))

    def _checked(self, where: _Result, summary: Summary, line: int) -> dict[str, Any]:
        if where.scenario is None:
            raise _Rejected(f"scenario '{where.scenario_dir}' is not an LLM scenario this adapter reads "
                            "(Offline, Server, SingleStream)")
        if summary.values.get("Result is", "").upper() != "VALID":
            raise _Rejected(f"result is {summary.values.get('Result is', 'not stated')!r}, not VALID")
        if where.base not in BENCHMARK_MODELS:
            raise _Rejected(f"benchmark '{where.benchmark}' is not an LLM benchmark this adapter knows "
                            f"({', '.join(BENCHMARK_MODELS)})")
        if where.base in _BEAM_SEARCH:
            raise _Rejected(f"{where.benchmark} decodes with beam search ({_BEAM_SEARCH[where.base]} beams per "
                            "request, language/gpt-j in mlcommons/inference): one request is several sequences, "
                            "which the model does not represent")
        if where.division == "open" and _CHANGED_MODEL.search(where.system):
            raise _Rejected(f"open division, changed model ('{where.system}'): not the benchmark's model")
        submitter_dir = self.root.joinpath(*where.submitter_parts)
        system_file = submitter_dir / "systems" / f"{where.system}.json"
        if not system_file.is_file():
            raise _Rejected(f"no system description {relative_name(system_file, self.root)}")
        try:
            info = read_system(system_file)
        except (ValueError, OSError) as exc:
            raise _Rejected(f"cannot read {relative_name(system_file, self.root)}: {exc}") from exc
        if info.accelerator is None:
            raise _Rejected("CPU-only system (accelerator_model_name N/A): CPU inference is not modelled yet")
        if info.devices is None:
            raise _Rejected("accelerators_per_node is not a positive number in the system description")
        facts = harness_facts(submitter_dir, where.system, where.benchmark, where.scenario, info.per_node)
        return self._record(where, line, summary, info, facts, info.devices)

    def _record(self, where: _Result, line: int, summary: Summary, info: SystemInfo, facts: HarnessFacts,
                devices: int) -> dict[str, Any]:
        base, scenario, benchmark = where.base, where.scenario, where.benchmark
        label = where.label
        tp = facts.tp or (1 if devices == 1 else None)
        if tp is None:
            raise _Rejected(f"{devices} devices and the harness does not record tensor parallelism "
                          "(no matching configs/ class or run script)")
        pp = facts.pp or 1
        if devices % (tp * pp):
            raise _Rejected(f"{devices} devices are not a multiple of tp {tp} x pp {pp} "
                          f"(harness: {facts.evidence})")
        replicas = devices // (tp * pp)
        framework, version = self._engine(info, facts)
        record: dict[str, Any] = {
            "hardware": info.accelerator, "num_devices": devices, "tp": tp, "pp": pp, "dp": replicas, "ep": 1,
            "framework": framework, "framework_version": version, "model": BENCHMARK_MODELS[base],
            "model_label": benchmark, "weight_dtype": facts.weight_dtype or _WEIGHTS.get(base),
            "kv_dtype": facts.kv_dtype, "batching": "continuous", "input_len": ASSUMED_INPUT_LEN[base],
            "input_len_assumed": True, "mode": "aggregated", "source_file": label, "source_line": line,
        }
        samples_s = summary.get("Completed samples per second" if scenario == "Server" else "Samples per second")
        tokens_key = "Completed tokens per second" if scenario == "Server" else "Tokens per second"
        # GPT-J's token rates are LoadGen's samples/s x 69, marked "(inferred)".
        tokens_s = summary.get(tokens_key) or summary.get(f"{tokens_key} (inferred)")
        if scenario != "SingleStream":
            if not samples_s or not tokens_s:
                raise _Rejected("samples or tokens per second not recorded")
            record["output_len"] = max(1, round(tokens_s / samples_s))
        else:
            record["output_len"] = 69 if base == "gptj" else None
        extra: dict[str, Any] = {"division": where.division, "submitter": where.submitter, "system": where.system,
                                 "scenario": scenario, "accuracy_target": benchmark.removeprefix(base).lstrip("-")
                                 or None, "system_framework": info.framework, "harness": facts.evidence or None}
        if scenario == "Server":
            mean_latency_s = summary.nanoseconds_s("Mean latency (ns)")
            if samples_s is None or mean_latency_s is None:
                raise _Rejected("mean latency not recorded")
            record["concurrency"] = max(1, round(samples_s * mean_latency_s / replicas))
            record["request_rate_per_s"] = samples_s
            record["latency_s"] = mean_latency_s
            record["ttft_s"] = summary.nanoseconds_s("Mean First Token latency (ns)")
            record["itl_s"] = summary.nanoseconds_s("Mean Time to Output Token (ns)")
            record["output_throughput_tok_s"] = tokens_s
            extra.update({key: summary.values[key] for key in _SERVER_STATS if key in summary.values})
        elif scenario == "Offline":
            if facts.batch_per_replica is None:
                raise _Rejected("Offline result and the harness records no batch size: the requests in "
                              "flight are unknown")
            record["concurrency"] = facts.batch_per_replica
            record["output_throughput_tok_s"] = tokens_s
            extra["samples_per_second"] = samples_s
        else:
            record["concurrency"] = 1
            record["latency_s"] = summary.nanoseconds_s("Mean latency (ns)")
            extra["p90_latency_ns"] = summary.values.get("90th percentile latency (ns)")
        record["source_fields"] = json.dumps({k: v for k, v in extra.items() if v is not None}, sort_keys=True)
        return record

    @staticmethod
    def _engine(info: SystemInfo, facts: HarnessFacts) -> tuple[str, str | None]:
        if facts.evidence.split("/")[2:3] == ["configs"] or "/configs/" in facts.evidence:
            return "tensorrt-llm", None
        text = info.framework or ""
        vllm = _VLLM.search(text)
        if vllm:
            return "vllm", vllm.group(1)
        if text.lower().startswith("tensorrt"):
            return "tensorrt-llm", None
        return text or "not recorded", None

    def mark_accuracy_twins(self) -> None:
        """Note each result whose other accuracy variant (same system, benchmark and scenario) is also here."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for record in self.records:
            fields = json.loads(record["source_fields"])
            if fields.get("accuracy_target"):
                key = (fields["division"], fields["submitter"], fields["system"],
                       _base_benchmark(record["model_label"]), fields["scenario"])
                groups.setdefault(key, []).append(record)
        for twins in groups.values():
            if len(twins) < 2:
                continue
            for record in twins:
                others = ", ".join(t["source_file"] for t in twins if t is not record)
                self.notes.append(Note(record["source_file"], record["source_line"],
                                       f"accuracy variant of {others}: the same system and scenario at another "
                                       "accuracy target, not an independent system"))


def read(path: Path) -> AdapterOutput:
    """Every LLM summary under ``path`` (a v4.1 results tree, or a folder holding one) as canonical records."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path} is not a folder; give the MLPerf results tree "
                        "(e.g. ../shared/datasets/mlperf-inference)")
    summaries = sorted(p for p in path.rglob(SUMMARY) if "performance" in p.parts)
    if not summaries:
        raise DataError(f"no {SUMMARY} under {path}/**/performance/; is this an MLPerf Inference results tree?")
    reader = _Reader(path)
    for summary in summaries:
        reader.read(summary)
    reader.mark_accuracy_twins()
    frame = pd.DataFrame.from_records(reader.records,
                                      columns=[c for c in MEASUREMENT_COLUMNS if c != "measurement_id"])
    return AdapterOutput(coerce_dtypes(frame), reader.rejections, reader.notes)
