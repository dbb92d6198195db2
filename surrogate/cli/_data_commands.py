"""The ``surrogate data`` subcommands: ingest measurements, summarise the dataset, fetch the upstream files.

Click wiring and rendering only; the work is in :mod:`surrogate.ingest`. Results go to stdout
(rich tables, or JSON with ``--json``), progress to stderr. Errors are mapped to exit codes by the
root group in ``surrogate.cli._root``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from features.errors import DataError
from surrogate.cli._options import OutputPath, apply_options
from surrogate.cli._root import stderr, stdout
from surrogate.ingest import ADAPTERS, IngestContext, IngestResult
from surrogate.ingest.fetch import fetch as fetch_files
from surrogate.ingest.store import DATA_DIR_ENV, default_data_dir, ingest_into, read_table
from surrogate.report import account_tables, print_json, summary_dict, summary_tables

__all__ = ["COMMANDS"]

_NOTE_EXAMPLES = 3


def _context_options(func: Any) -> Any:
    """Facts a vllm-bench result may not record."""
    options = [
        click.option("--hardware", default=None, help="[vllm-bench] Accelerator, e.g. h100-sxm."),
        click.option("--model", default=None, help="[vllm-bench] Model id (SGLang files do not record it)."),
        click.option("--framework", default=None, help="[vllm-bench] Serving engine (vllm, sglang, ...)."),
        click.option("--framework-version", default=None, help="[vllm-bench] Engine version."),
        click.option("--num-devices", type=click.IntRange(min=1), default=None, help="[vllm-bench] Devices."),
        click.option("--tp", type=click.IntRange(min=1), default=None, help="[vllm-bench] Tensor-parallel degree."),
        click.option("--pp", type=click.IntRange(min=1), default=None, help="[vllm-bench] Pipeline-parallel degree."),
        click.option("--dp", type=click.IntRange(min=1), default=None, help="[vllm-bench] Data-parallel replicas."),
        click.option("--ep", type=click.IntRange(min=1), default=None, help="[vllm-bench] Expert-parallel degree."),
        click.option("--weight-dtype", default=None, help="[vllm-bench] Weight format (fp16, fp8, ...)."),
        click.option("--kv-dtype", default=None, help="[vllm-bench] KV-cache format."),
        click.option("--input-len", type=click.IntRange(min=1), default=None, help="[vllm-bench] Prompt tokens."),
        click.option("--output-len", type=click.IntRange(min=1), default=None, help="[vllm-bench] Output tokens."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="[vllm-bench] Static batch (benchmark_latency --batch-size)."),
        click.option("--concurrency", type=click.IntRange(min=1), default=None,
                     help="[vllm-bench] Requests in flight (serving without max_concurrency in the file); with a "
                          "finite request_rate, the most in flight."),
    ]
    return apply_options(func, options)


def _print_account(result: IngestResult, as_json: bool) -> None:
    account = result.account
    if as_json:
        print_json(account.to_dict())
        return
    for table in account_tables(account):
        stdout.print(table)
    if account.rejections:
        stdout.print(f"[bold]rejected rows ({len(account.rejections)}):[/bold]")
        for rejection in account.rejections:
            stdout.print(str(rejection), markup=False, highlight=False, soft_wrap=True)
    flagged = [n for n in account.notes if n.message.startswith("faster than physics")]
    if flagged:
        stdout.print(f"[bold]faster than physics ({len(flagged)}), kept out of training:[/bold]")
        for note in flagged:
            stdout.print(str(note), markup=False, highlight=False, soft_wrap=True)


@click.command()
@click.argument("source", type=click.Choice(sorted(ADAPTERS)))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--into", "data_dir", type=OutputPath(directory=True), default=None,
              help=f"Dataset directory (default: ${DATA_DIR_ENV} or ./surrogate-data).")
@click.option("--strict", is_flag=True, help="Exit 1 if any row is rejected.")
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
@_context_options
def ingest(source: str, path: Path, data_dir: Path | None, strict: bool, as_json: bool, **context: Any) -> None:
    """Ingest PATH with the SOURCE adapter into the parquet dataset and print the account.

    The account always adds up: rows read = kept + merged + rejected. Every rejected row is listed
    as file:line: reason. Ingesting the same thing twice adds nothing.

    Sources: llm-inference-bench (a clone of argonne-lcf/LLM-Inference-Bench), aiconfigurator
    (silicon_sample.csv), mlperf (an MLPerf Inference results tree), vllm-bench (vLLM/SGLang benchmark
    JSON), csv (your own table), bench (a `surrogate bench --out` folder).
    """
    result = ingest_into(source, path, data_dir, IngestContext(**context))
    _print_account(result, as_json)
    target = data_dir if data_dir is not None else default_data_dir()
    stderr.print(f"dataset: {target} ({len(result.table)} configurations)", highlight=False)
    if strict and result.account.rejected:
        raise DataError(f"{result.account.rejected} rows rejected (--strict)")


@click.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help=f"Dataset directory (default: ${DATA_DIR_ENV} or ./surrogate-data).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def summary(data_dir: Path | None, as_json: bool) -> None:
    """Rows by source, hardware, framework, model, batching and metric, with ranges."""
    table = read_table(data_dir if data_dir is not None else default_data_dir())
    info = summary_dict(table)
    if as_json:
        print_json(info)
        return
    for table in summary_tables(info):
        stdout.print(table)


@click.command()
@click.argument("source", type=click.Choice(["llm-inference-bench", "aiconfigurator", "mlperf-inference"]))
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to download into (upstream paths are kept).")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Manifest of pinned files (default: datasets/manifest.json of this repository).")
@click.option("--base-url", default=None, help="Download from this mirror instead of the manifest's URL.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def fetch(source: str, dest: Path, manifest: Path | None, base_url: str | None, as_json: bool) -> None:
    """Download the pinned upstream files of SOURCE into --dest, resumable, checking sha256."""
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=stderr, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        results = fetch_files(source, dest, manifest_path=manifest, base_url=base_url, progress=progress)
    if as_json:
        print_json([{**r.__dict__, "mismatch": r.mismatch} for r in results])
    else:
        table = Table(title=f"{source} -> {dest}", header_style="bold")
        for name in ("file", "status", "bytes", "sha256"):
            table.add_column(name)
        for r in results:
            check = "ok" if not r.mismatch else f"MISMATCH with the {r.sha256_of} hash"
            table.add_row(r.path, r.status, str(r.bytes), check)
        stdout.print(table)
    mismatched = [r for r in results if r.mismatch]
    if mismatched:
        stderr.print(f"{len(mismatched)} files differ from the manifest's shared-copy hashes: expected for a "
                      "complete upstream download (the shared copy withholds test rows); the files were kept.",
                      highlight=False)


COMMANDS = [ingest, summary, fetch]
