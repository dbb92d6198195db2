"""``surrogate bench`` (measure a live server) and ``surrogate hardware`` (this machine as hardware).

Click wiring and rendering only; the work is in :mod:`surrogate.bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from features.errors import ConfigError
from surrogate.cli._options import OutputPath
from surrogate.cli._root import progress_bar, stderr, stdout

if TYPE_CHECKING:  # the bench package loads when the command runs, not with `surrogate --help`
    from surrogate.bench import BenchPlan, SweepResult

__all__ = ["bench", "hardware"]


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of whole numbers") from None
    if not numbers or min(numbers) < 1:
        raise click.BadParameter(f"'{value}': give whole numbers of at least 1, e.g. 1,2,4")
    return numbers


@click.command("bench")
@click.option("--url", required=True, help="OpenAI-compatible base URL of the server, e.g. http://127.0.0.1:8080/v1.")
@click.option("--model", "served_model", required=True, help="Model name the server serves (see its /v1/models).")
@click.option("--catalog-model", default=None,
              help="What the rows record as the model: HF id, alias or path to its config.json (default: --model).")
@click.option("--hardware", required=True, help="Accelerator id, or 'host' for this machine's CPU "
                                                "(after `surrogate hardware probe`).")
@click.option("--num-devices", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True, help="Tensor-parallel degree.")
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True, help="Pipeline-parallel degree.")
@click.option("--dp", type=click.IntRange(min=1), default=1, show_default=True, help="Data-parallel replicas.")
@click.option("--framework", default=None, help="Serving engine (default: what the server says; llama.cpp does).")
@click.option("--framework-version", default=None, help="Engine version (default: what the server says).")
@click.option("--weight-dtype", default=None, help="Weight format (default: from the server's file size per "
                                                   "parameter where it tells, as llama.cpp does).")
@click.option("--kv-dtype", default=None, help="KV-cache format (default: fp16 for llama.cpp, else unrecorded).")
@click.option("--concurrency", "concurrencies", default="1,2,4,8", show_default=True, callback=_int_list,
              help="Requests in flight (comma-separated).")
@click.option("--input-len", "input_lens", default="128,512", show_default=True, callback=_int_list,
              help="Prompt tokens (comma-separated).")
@click.option("--output-len", "output_lens", default="64,256", show_default=True, callback=_int_list,
              help="Generated tokens, forced (comma-separated).")
@click.option("--requests", type=click.IntRange(min=1), default=None,
              help="Requests per grid point and repeat [default: 2 x concurrency, at least 4].")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Passes over the whole grid (their spread is the measurement noise).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random prompts.")
@click.option("--timeout-s", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Longest one request may take.")
@click.option("--out", "out_dir", type=OutputPath(directory=True), required=True,
              help="Folder for rows.csv (canonical rows) and requests.jsonl (every request).")
def bench(url: str, served_model: str, catalog_model: str | None, hardware: str, num_devices: int, tp: int,
          pp: int, dp: int, framework: str | None, framework_version: str | None, weight_dtype: str | None,
          kv_dtype: str | None, concurrencies: tuple[int, ...], input_lens: tuple[int, ...],
          output_lens: tuple[int, ...], requests: int | None, repeats: int, seed: int, timeout_s: float,
          out_dir: Path) -> None:
    """Measure a live OpenAI-compatible server over a grid: TTFT, every inter-token gap, latency, throughput.

    Writes canonical rows that `surrogate data ingest bench OUT` takes as they are. Exit 1 when a grid point
    failed or the sweep was interrupted (what finished is kept).
    """
    from features import catalog
    from surrogate.bench import BenchPlan, read_server, run_sweep

    hardware_id = catalog.resolve_hardware(hardware)
    model = catalog.resolve_model(catalog_model or served_model)
    info = read_server(url, served_model)
    framework = catalog.resolve_framework(framework or info.framework or _missing("framework", "engine"))
    weight = weight_dtype or info.weight_dtype or _missing("weight-dtype", "weight format")
    kv = kv_dtype or ("fp16" if framework == "llama.cpp" else None)
    version = framework_version or _dated(framework, info.framework_version)
    plan = BenchPlan(url=info.base_url, served_model=served_model, model=model, hardware=hardware_id,
                     framework=framework, framework_version=version, server_version=info.framework_version,
                     weight_dtype=weight, kv_dtype=kv, concurrencies=concurrencies, input_lens=input_lens,
                     output_lens=output_lens, out_dir=out_dir, num_devices=num_devices, tp=tp, pp=pp, dp=dp,
                     requests=requests, repeats=repeats, seed=seed, timeout_s=timeout_s)
    total = repeats * sum(plan.requests_at(p) for p in plan.grid())
    stderr.print(f"{framework} {plan.framework_version or ''} at {info.base_url}: {len(plan.grid())} grid points x "
                 f"{repeats} repeats = {total} requests")
    with progress_bar() as progress:
        task = progress.add_task("requests", total=total)
        result = run_sweep(plan, info, lambda: progress.advance(task))
    _print_result(plan, result)
    if result.failed or result.interrupted or result.not_run:
        raise SystemExit(1)


def _dated(framework: str, version: str | None) -> str | None:
    """The server's version where the catalog can date it (training orders engines by release date), else
    None with a note: the build string is still kept (``server_version``)."""
    from features.errors import UnknownNameError
    from features.versions import release_date

    if version is None:
        return None
    try:
        release_date(framework, version)
    except UnknownNameError:
        stderr.print(f"note: {framework} {version} is not a release the catalog can date, so the rows record no "
                     "engine version (the build string is kept as server_version); pass --framework-version "
                     "YYYY-MM-DD, the build's date, to record one")
        return None
    return version


def _missing(flag: str, what: str) -> str:
    raise ConfigError(f"the server does not say its {what}: pass --{flag}")


def _print_result(plan: BenchPlan, result: SweepResult) -> None:
    import pandas as pd

    if result.rows:
        rows = pd.DataFrame(result.rows)
        keys = ["concurrency", "requested_input_len", "requested_output_len"]
        table = Table(title=f"{plan.served_model} on {plan.hardware}: medians over repeats (spread = (max - min) / "
                            "median across repeats)")
        for name in ("concurrency", "input", "output", "TTFT ms [P90]", "ITL ms [P90]", "latency s", "tok/s",
                     "spread", "repeats"):
            table.add_column(name, justify="right")
        for key, group in rows.groupby(keys, sort=True):
            medians = group[["ttft_s", "itl_s", "latency_s", "throughput_tok_s"]].median()
            spread = ((group[["ttft_s", "itl_s", "latency_s"]].max() - group[["ttft_s", "itl_s", "latency_s"]].min())
                      / medians[["ttft_s", "itl_s", "latency_s"]]).max()
            table.add_row(str(key[0]), str(int(group["input_len"].median())), str(int(group["output_len"].median())),
                          f"{medians['ttft_s'] * 1e3:.1f} [{group['ttft_p90_s'].median() * 1e3:.1f}]",
                          f"{medians['itl_s'] * 1e3:.2f} [{group['itl_p90_s'].median() * 1e3:.2f}]",
                          f"{medians['latency_s']:.3f}", f"{medians['throughput_tok_s']:,.0f}", f"{spread:.0%}",
                          str(len(group)))
        stdout.print(table)
    for point, repeat, reason in result.failed:
        stdout.print(f"failed: {point.label()} (repeat {repeat + 1}): {reason}")
    for point in result.not_run:
        stdout.print(f"not run: {point.label()}")
    if result.interrupted:
        stdout.print("interrupted: the grid points that finished are kept")
    stdout.print(f"wrote {len(result.rows)} rows to {plan.out_dir / 'rows.csv'} and every request to "
                 f"{plan.out_dir / 'requests.jsonl'}; add them to a dataset with: surrogate data ingest bench "
                 f"{plan.out_dir}")


@click.group("hardware")
def hardware() -> None:
    """This machine's CPU as hardware: detect and measure it."""


@hardware.command("probe")
@click.option("--quick", is_flag=True, help="Smaller measurements (a second instead of several).")
def probe(quick: bool) -> None:
    """Detect cores, SIMD width and memory; measure memory bandwidth and fp32 FLOP/s; keep the entry so that
    --hardware host means this machine."""
    from features import catalog
    from surrogate.bench.probe import probe_host

    result = probe_host(quick=quick)
    catalog.reload_hardware()
    cpu = result.cpu
    stdout.print(f"{result.row['id']}: {cpu.name}, {cpu.cores} cores, {cpu.simd_bits}-bit SIMD, "
                 f"{cpu.memory_gb:.1f} GB; memory bandwidth {result.mem_bw_gbps:.1f} GB/s, fp32 "
                 f"{result.fp32_tflops * 1e3:.0f} GFLOP/s")
    from features.host import user_hardware_path

    stdout.print(f"kept in {user_hardware_path()}; use it as --hardware host or --hardware {result.row['id']}")
