"""Sweep a grid of concurrency x prompt length x output length against a live server, closed loop.

At each grid point ``concurrency`` clients each send a request, wait for its last token and send the next,
until ``requests`` requests are done (the load ``vllm bench serve --max-concurrency`` makes). Repeats run
the whole grid again (grid point order inside each pass), so slow drift shows up as spread across repeats
instead of as a difference between neighbouring points. Each finished (point, repeat) is written at once:
one canonical row per repeat to ``rows.csv`` (``surrogate data ingest bench DIR`` merges the repeats of a
point into one row with their median and spread) and every request to ``requests.jsonl``. A point that
fails (server error, context too small) is listed and the sweep goes on; a server that stops answering
ends the sweep with the finished points kept; so does Ctrl-C.

Row metrics follow the canonical columns: ``ttft_s``, ``itl_s`` and ``latency_s`` are means over the
repeat's requests, throughputs are tokens over the repeat's wall time, ``input_len``/``output_len`` are
the median lengths the server reports it processed and produced. Medians and P90s go to extra columns
(kept in ``source_fields`` on ingest).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from surrogate.bench._client import NotStreamingError, RequestRecord, ServerError, stream_completion
from surrogate.bench._server import BenchError, PromptMaker, ServerInfo

__all__ = ["BenchPlan", "GridPoint", "SweepResult", "run_sweep", "ROW_COLUMNS"]

ROW_COLUMNS = [
    "hardware", "num_devices", "tp", "pp", "dp", "framework", "framework_version", "model", "weight_dtype",
    "kv_dtype", "batching", "concurrency", "input_len", "output_len", "latency_s", "ttft_s", "itl_s",
    "throughput_tok_s", "output_throughput_tok_s",
    # Extra columns (source_fields after ingest): what was asked, the spread inside the repeat, the server.
    "repeat", "requests", "requested_input_len", "requested_output_len", "short_outputs", "ttft_p50_s",
    "ttft_p90_s", "itl_p50_s", "itl_p90_s", "latency_p50_s", "latency_p90_s", "wall_s", "served_model",
    "server_version", "server_slots", "url",
]


@dataclass(frozen=True)
class GridPoint:
    concurrency: int
    input_len: int
    output_len: int

    def label(self) -> str:
        return f"concurrency {self.concurrency}, input {self.input_len}, output {self.output_len}"


@dataclass(frozen=True)
class BenchPlan:
    """What to measure and what the rows say about the deployment."""

    url: str
    served_model: str
    model: str
    hardware: str
    framework: str
    framework_version: str | None
    weight_dtype: str
    kv_dtype: str | None
    concurrencies: tuple[int, ...]
    input_lens: tuple[int, ...]
    output_lens: tuple[int, ...]
    out_dir: Path
    num_devices: int = 1
    tp: int = 1
    pp: int = 1
    dp: int = 1
    requests: int | None = None
    repeats: int = 1
    seed: int = 0
    timeout_s: float = 300.0
    server_version: str | None = None

    def grid(self) -> list[GridPoint]:
        return [GridPoint(c, i, o) for c, i, o in
                itertools.product(self.concurrencies, self.input_lens, self.output_lens)]

    def requests_at(self, point: GridPoint) -> int:
        """Requests per repeat: ``--requests``, else two rounds of the clients (at least 4)."""
        return self.requests or max(4, 2 * point.concurrency)


@dataclass
class SweepResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[GridPoint, int, str]] = field(default_factory=list)
    not_run: list[GridPoint] = field(default_factory=list)
    interrupted: bool = False


def _body(plan: BenchPlan, info: ServerInfo, prompt: str, output_len: int) -> dict[str, Any]:
    """A streamed completion that must produce exactly ``output_len`` tokens, greedy."""
    body: dict[str, Any] = {
        "model": plan.served_model, "prompt": prompt, "max_tokens": output_len, "stream": True, "temperature": 0,
        "ignore_eos": True, "min_tokens": output_len, "stream_options": {"include_usage": True},
    }
    if info.framework == "llama.cpp":
        body["cache_prompt"] = False  # every prompt differs anyway; keep llama.cpp from reusing a prefix
    return body


def _stat(values: list[float], q: float) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.percentile(finite, q)) if finite else float("nan")


def _row(plan: BenchPlan, info: ServerInfo, point: GridPoint, repeat: int, records: list[RequestRecord],
         wall_s: float) -> dict[str, Any]:
    ttft = [r.ttft_s for r in records]
    itl = [r.itl_s for r in records]
    latency = [r.latency_s for r in records]
    prompt = [r.prompt_tokens for r in records if r.prompt_tokens is not None]
    output = [r.output_tokens or 0 for r in records]
    input_len = int(np.median(prompt)) if prompt else point.input_len
    total_in = sum(prompt) if prompt else point.input_len * len(records)
    return {
        "hardware": plan.hardware, "num_devices": plan.num_devices, "tp": plan.tp, "pp": plan.pp, "dp": plan.dp,
        "framework": plan.framework, "framework_version": plan.framework_version or "", "model": plan.model,
        "weight_dtype": plan.weight_dtype, "kv_dtype": plan.kv_dtype or "", "batching": "continuous",
        "concurrency": point.concurrency, "input_len": input_len, "output_len": int(np.median(output)),
        "latency_s": float(np.nanmean(latency)), "ttft_s": float(np.nanmean(ttft)),
        "itl_s": float(np.nanmean(itl)) if np.isfinite(itl).any() else float("nan"),
        "throughput_tok_s": (total_in + sum(output)) / wall_s, "output_throughput_tok_s": sum(output) / wall_s,
        "repeat": repeat, "requests": len(records), "requested_input_len": point.input_len,
        "requested_output_len": point.output_len, "short_outputs": sum(o < point.output_len for o in output),
        "ttft_p50_s": _stat(ttft, 50), "ttft_p90_s": _stat(ttft, 90), "itl_p50_s": _stat(itl, 50),
        "itl_p90_s": _stat(itl, 90), "latency_p50_s": _stat(latency, 50), "latency_p90_s": _stat(latency, 90),
        "wall_s": wall_s, "served_model": plan.served_model, "server_version": plan.server_version or "",
        "server_slots": info.slots or "", "url": plan.url,
    }


class _Writer:
    """Appends rows and request records as they finish, so an interrupted sweep keeps what it measured."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.rows_path = out_dir / "rows.csv"
        self.requests_path = out_dir / "requests.jsonl"
        with self.rows_path.open("w", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=ROW_COLUMNS).writeheader()
        self.requests_path.write_text("", encoding="utf-8")

    def add(self, row: dict[str, Any], records: list[RequestRecord]) -> None:
        with self.rows_path.open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=ROW_COLUMNS).writerow(row)
        with self.requests_path.open("a", encoding="utf-8") as handle:
            handle.writelines(r.as_json() + "\n" for r in records)


async def _repeat(plan: BenchPlan, info: ServerInfo, client: httpx.AsyncClient, point: GridPoint, repeat: int,
                  prompts: list[str], advance: Callable[[], None]) -> tuple[list[RequestRecord], float]:
    """One closed-loop pass over ``prompts`` with ``point.concurrency`` clients; the records and wall time."""
    queue = list(enumerate(prompts))
    records: list[RequestRecord] = []

    async def client_loop() -> None:
        while queue:
            index, prompt = queue.pop(0)
            record = RequestRecord(grid_point=vars(point).copy(), repeat=repeat, index=index, start_s=0.0,
                                   requested_output_tokens=point.output_len)
            records.append(record)
            try:
                await stream_completion(client, plan.url, _body(plan, info, prompt, point.output_len), record)
            except ServerError as exc:
                record.error = str(exc)
                raise
            advance()

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(point.concurrency)))
    return records, time.perf_counter() - start


def _too_long(info: ServerInfo, point: GridPoint) -> str | None:
    needed = point.input_len + point.output_len + 1  # + BOS
    if info.context_per_slot and needed > info.context_per_slot:
        return (f"needs {needed} tokens of context per sequence, the server has {info.context_per_slot} per slot "
                "(start it with a larger context or fewer parallel slots)")
    return None


async def _sweep(plan: BenchPlan, info: ServerInfo, writer: _Writer, result: SweepResult,
                 advance: Callable[[], None]) -> None:
    grid = plan.grid()
    maker = PromptMaker(info)
    limits = httpx.Limits(max_connections=max(plan.concurrencies) + 2)
    try:
        async with httpx.AsyncClient(timeout=plan.timeout_s, limits=limits) as client:
            warm = GridPoint(1, min(plan.input_lens), min(4, min(plan.output_lens)))
            await _repeat(plan, info, client, warm, -1, [maker.prompt(warm.input_len, (plan.seed, 0))], lambda: None)
            failed_points: set[GridPoint] = set()
            for repeat, (index, point) in itertools.product(range(plan.repeats), enumerate(grid)):
                if point in failed_points:
                    continue
                reason = _too_long(info, point)
                if reason is None:
                    seeds = [(plan.seed, 1 + repeat, index, k) for k in range(plan.requests_at(point))]
                    try:
                        prompts = [maker.prompt(point.input_len, s) for s in seeds]
                        records, wall_s = await _repeat(plan, info, client, point, repeat, prompts, advance)
                    except ServerError as exc:
                        reason = str(exc)
                        if isinstance(exc, NotStreamingError):
                            raise BenchError(str(exc)) from exc
                    except httpx.HTTPError as exc:
                        result.failed.append((point, repeat, f"connection lost: {exc!r}"))
                        measured = {GridPoint(r["concurrency"], r["requested_input_len"], r["requested_output_len"])
                                    for r in result.rows}
                        result.not_run = [p for p in grid if p not in failed_points | measured | {point}]
                        return
                    else:
                        row = _row(plan, info, point, repeat, records, wall_s)
                        result.rows.append(row)
                        writer.add(row, records)
                        continue
                failed_points.add(point)
                result.failed.append((point, repeat, reason))
    finally:
        maker.close()


def run_sweep(plan: BenchPlan, info: ServerInfo, advance: Callable[[], None] = lambda: None) -> SweepResult:
    """Measure every grid point ``plan.repeats`` times; rows and requests are written as they finish.

    Ctrl-C stops the sweep and returns what finished (``interrupted``); :class:`BenchError` when the server
    does not stream (nothing could be measured).
    """
    writer = _Writer(plan.out_dir)
    result = SweepResult()
    try:
        asyncio.run(_sweep(plan, info, writer, result, advance))
    except KeyboardInterrupt:
        result.interrupted = True
    return result
