"""``surrogate optimize``: flags to library calls, tables to stdout, progress and notes to stderr.

Errors are left to the root group (``surrogate.cli._root``): ``InfeasibleError`` exits 1 with the binding
constraint, unknown names and bad flags exit 2.
"""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import surrogate.model as models
import surrogate.report as report
from surrogate.cli._options import OutputPath, output_problem, trust_model_file_option
from surrogate.cli._root import stderr, stdout
from surrogate.optimize import (
    DEFAULT_MAX_SEQUENCES,
    OBJECTIVES,
    RISKS,
    SEARCH_METHODS,
    Inventory,
    OptimizeOptions,
    SearchSpace,
    Targets,
    Workload,
)

if TYPE_CHECKING:
    from surrogate.optimize import OptimizeResult

__all__ = ["optimize_command"]

_DEFAULT_PARETO_DIR = Path("optimize-results")
# --serving spellings, short and long, to the search space's names.
_SERVING = {"agg": "aggregated", "disagg": "disaggregated", "both": "both", "aggregated": "aggregated",
            "disaggregated": "disaggregated"}


def _help(cls: type, name: str) -> str:
    """Help text from a dataclass field's metadata (one source for library and CLI)."""
    text = next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == name)
    return f"{text[:1].upper()}{text[1:]}."


def _split(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    items = tuple(p.strip() for p in text.split(",") if p.strip())
    if not items:
        raise click.BadParameter("give at least one name, comma-separated")
    return items


def _model(path: Path | None, trust: bool) -> models.SurrogateModel:
    return models.load(path, trust=trust) if path is not None else models.load_default()


@click.command("optimize")
@click.option("--model", "model_name", required=True, help="HF model id, alias, or path to a config.json.")
@click.option("--gpus", multiple=True, required=True,
              help="Devices you have, TYPE:COUNT (repeatable), e.g. --gpus h100-sxm:8 --gpus a100-sxm4-80gb:16 "
                   "(or as tables write it: --gpus '8x H100').")
@click.option("--input-len", type=click.IntRange(min=1), required=True, help="Prompt tokens per request.")
@click.option("--output-len", type=click.IntRange(min=1), required=True, help="Generated tokens per request.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Requests in flight across the whole deployment (default: searched per replica).")
@click.option("--request-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Open-loop traffic instead of --concurrency: requests per second to the whole deployment "
                   "(Poisson); each candidate's requests in flight follow by Little's law.")
@click.option("--max-ttft-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Limit on time to first token, seconds.")
@click.option("--max-itl-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Limit on inter-token latency, seconds.")
@click.option("--max-latency-s", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Limit on end-to-end latency per request, seconds.")
@click.option("--risk", type=click.Choice(RISKS), default="p90", show_default=True,
              help="Which prediction the latency limits apply to: P90 (cautious), P80 (read off the P10-P90 "
                   "band) or the median.")
@click.option("--objective", type=click.Choice(list(OBJECTIVES)), default="throughput", show_default=True,
              help="throughput: output tokens/s per device; latency: seconds per request; cost: $ per "
                   "million output tokens (catalog prices).")
@click.option("--pareto", is_flag=True, help="Also return the front of throughput per device vs per-user speed "
                                             "(and cost where priced), as a table, CSV and PNG.")
@click.option("--frameworks", default=None, help="Comma-separated, e.g. vllm,sglang (default: all that run).")
@click.option("--precisions", default="fp16,fp8", show_default=True, help=_help(SearchSpace, "precisions"))
@click.option("--max-sequences", type=click.IntRange(min=1), default=DEFAULT_MAX_SEQUENCES, show_default=True,
              help=_help(SearchSpace, "max_sequences"))
@click.option("--engine-memory-fraction", type=click.FloatRange(min=0.0, max=1.0, min_open=True), default=None,
              help=_help(SearchSpace, "engine_memory_fraction"))
@click.option("--software-as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help=_help(SearchSpace, "software_as_of").replace("this date (YYYY-MM-DD)", "this date"))
@click.option("--serving", type=click.Choice(list(_SERVING)), default="agg", show_default=True,
              help="agg: aggregated serving (prefill and decode on the same engine); disagg: prefill and decode "
                   "workers apart, the KV cache shipped between (xPyD: worker counts and tp searched); both: the "
                   "best of each, ranked together, and their ratio.")
@click.option("--search", type=click.Choice(SEARCH_METHODS), default="auto", show_default=True,
              help="auto: exhaustive when the space is small, else Optuna (always Optuna with --storage).")
@click.option("--trials", type=click.IntRange(min=1), default=200, show_default=True,
              help=_help(OptimizeOptions, "trials"))
@click.option("--seed", type=int, default=0, show_default=True, help=_help(OptimizeOptions, "seed"))
@click.option("--storage", default=None,
              help="Optuna storage shared by several processes: sqlite:///study.db, postgresql://..., or a "
                   "journal file (*.log).")
@click.option("--study-name", default=None, help="Study name in --storage (default: derived from the request).")
@click.option("--top", "top_k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Configurations to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--out", "out_dir", type=OutputPath(directory=True), default=None,
              help=f"Write top.csv, result.json (and pareto.csv/png) here; --pareto defaults to "
                   f"./{_DEFAULT_PARETO_DIR}.")
@click.option("--model-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Surrogate bundle to use (default: the shipped models/default.joblib).")
@trust_model_file_option
def optimize_command(model_name: str, gpus: tuple[str, ...], input_len: int, output_len: int,
                     concurrency: int | None, request_rate: float | None, max_ttft_s: float | None,
                     max_itl_s: float | None, max_latency_s: float | None, risk: str, objective: str, pareto: bool,
                     frameworks: str | None,
                     precisions: str, max_sequences: int, engine_memory_fraction: float | None,
                     software_as_of: datetime | None, serving: str,
                     search: str, trials: int, seed: int,
                     storage: str | None, study_name: str | None, top_k: int, as_json: bool,
                     out_dir: Path | None, model_file: Path | None, trust_model_file: bool) -> None:
    """Find the best deployment of a model on your devices under memory and latency limits.

    Example: surrogate optimize --model meta-llama/Llama-3.1-70B --gpus h100-sxm:8 --input-len 1024
    --output-len 256 --max-itl-s 0.05
    """
    inventory = Inventory.parse(gpus)
    if request_rate is not None and concurrency is not None:
        raise click.UsageError("--request-rate and --concurrency both set the load; give one (the requests in "
                               "flight follow from the rate by Little's law)")
    workload = Workload(model=model_name, input_len=input_len, output_len=output_len, concurrency=concurrency,
                        request_rate_per_s=request_rate)
    space = SearchSpace(frameworks=_split(frameworks), precisions=_split(precisions) or (),
                        max_sequences=max_sequences, serving=_SERVING[serving],
                        engine_memory_fraction=engine_memory_fraction,
                        software_as_of=None if software_as_of is None else software_as_of.date().isoformat())
    targets = Targets(max_ttft_s=max_ttft_s, max_itl_s=max_itl_s, max_latency_s=max_latency_s, risk=risk)
    options = OptimizeOptions(objective=objective, targets=targets, pareto=pareto, search=search, trials=trials,
                              seed=seed, storage=storage, study_name=study_name, top_k=top_k)
    if out_dir is None and pareto:  # checked now, not after the search
        out_dir = _DEFAULT_PARETO_DIR
        problem = output_problem(out_dir, directory=True)
        if problem:
            raise click.UsageError(f"--pareto writes to ./{out_dir} unless --out says where: {problem}")
    model = _model(model_file, trust_model_file)
    bar = Progress(TextColumn("optimizing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=stderr, transient=True)
    with bar if stderr.is_terminal else nullcontext():
        task = bar.add_task("trials", total=None)
        from surrogate.optimize import optimize

        result = optimize(model, inventory, workload, options, space,
                          progress=lambda done, total: bar.update(task, completed=done, total=total),
                          seed_predictor=models.AnalyticPredictor())
    for note in result.notes:
        stderr.print(f"[dim]note: {note}[/dim]", soft_wrap=True)
    request = {"model": model_name, "gpus": list(gpus), "input_len": input_len, "output_len": output_len,
               "concurrency": concurrency, "request_rate_per_s": request_rate, "objective": objective, "risk": risk,
               "targets": targets.given(),
               "frameworks": space.frameworks, "precisions": space.precisions, "pareto": pareto,
               "serving": space.serving, "software_as_of": space.software_as_of}
    payload = report.result_payload(result, request)
    if out_dir is None and pareto:
        out_dir = _DEFAULT_PARETO_DIR
    written = report.write_files(result, out_dir, payload) if out_dir is not None else []
    if as_json:
        report.print_json(payload)
    else:
        _print_tables(stdout, result)
    for path in written:
        stderr.print(f"wrote {path}", soft_wrap=True)
    if not as_json:
        stdout.print(report.recommendation(result.best), soft_wrap=True, markup=False, highlight=False)


def _print_tables(stdout: Console, result: OptimizeResult) -> None:
    stdout.print(report.headline(result), soft_wrap=True, markup=False)
    stdout.print(report.top_table(result))
    if result.front is not None:
        stdout.print(report.pareto_table(result))
    stdout.print(report.why_line(result), soft_wrap=True, markup=False, highlight=False)
    serving = report.serving_line(result)
    if serving:
        stdout.print(serving, soft_wrap=True, markup=False, highlight=False)
