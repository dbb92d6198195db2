"""Command-line wiring only: parse flags, call the library, print, map errors to exit codes.

Exit codes: 0 ok, 1 failure (SurrogateError: infeasible, bad data), 2 usage error (unknown names,
bad flag values). No traceback for user mistakes unless ``--debug``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from features.analytic import estimate as analytic_estimate
from features.configs import normalize_configs
from features.errors import ConfigError, SurrogateError
from surrogate import __version__
from surrogate.advice import fit_alternatives
from surrogate.bundle import load as load_bundle
from surrogate.bundle import load_default
from surrogate.data_cli import data
from surrogate.evaluate import SPLITS, cross_validate
from surrogate.evaluation_report import write_evaluation
from surrogate.ingest import load_shared
from surrogate.ingest.store import default_data_dir, has_table, read_table
from surrogate.optimize_cli import optimize_command
from surrogate.report import (
    describe_config,
    estimate_table,
    groups_table,
    prediction_table,
    print_json,
    read_configs_csv,
    scores_table,
)
from surrogate.train import compact_scores, train_bundle, training_rows

_stdout = Console()
_stderr = Console(stderr=True)


class _Group(click.Group):
    """Turns library errors into click errors so users see one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.UsageError(str(exc)) from None
        except SurrogateError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="surrogate")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predict and optimise LLM inference deployments."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=_stderr, show_path=False)], force=True)


def _config_options(required: bool = True) -> Any:
    """Flags that describe one deployment (shared by estimate and predict)."""
    return lambda func: _add_config_options(func, required)


def _add_config_options(func: Any, required: bool) -> Any:
    options = [
        click.option("--model", required=required, help="HF model id, alias, or path to a config.json."),
        click.option("--hardware", required=required, help="Accelerator, e.g. h100-sxm, a100-sxm4-80gb, mi300x."),
        click.option("--num-devices", type=click.IntRange(min=1), default=None,
                     help="Devices in total (default tp*pp*dp)."),
        click.option("--tp", type=click.IntRange(min=1), default=None, help="Tensor-parallel degree."),
        click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Pipeline-parallel degree."),
        click.option("--dp", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Data-parallel replicas."),
        click.option("--ep", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Expert-parallel degree (MoE)."),
        click.option("--framework", default="vllm", show_default=True,
                     help="vllm, tensorrt-llm, sglang, llama.cpp, deepspeed-mii, deepspeed, sambaflow."),
        click.option("--weight-dtype", default=None, help="fp16, bf16, fp8, int8, int4, fp4 (default: checkpoint)."),
        click.option("--kv-dtype", default="fp16", show_default=True, help="KV-cache precision."),
        click.option("--batching", type=click.Choice(["static", "continuous"]), default=None,
                     help="Static batch, or continuous serving (default: continuous if --concurrency is given)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Sequences in a static batch."),
        click.option("--concurrency", type=click.IntRange(min=1), default=None,
                     help="Requests in flight per replica under continuous batching (default: batch size)."),
        click.option("--input-len", type=click.IntRange(min=1), required=required,
                     help="Prompt tokens per request."),
        click.option("--output-len", type=click.IntRange(min=1), required=required,
                     help="Generated tokens per request."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config_frame(params: dict[str, Any]) -> pd.DataFrame:
    row = {
        "hardware": params["hardware"], "model": params["model"], "framework": params["framework"],
        "tp": params["tp"], "pp": params["pp"], "dp": params["dp"], "ep": params["ep"],
        "weight_dtype": params["weight_dtype"], "kv_dtype": params["kv_dtype"],
        "batching": params["batching"] or ("continuous" if params["concurrency"] else "static"),
        "batch_size": params["batch_size"],
        "concurrency": params["concurrency"], "input_len": params["input_len"],
        "output_len": params["output_len"],
    }
    if params["num_devices"] is not None:
        row["num_devices"] = params["num_devices"]
        if params["tp"] is None:
            row.pop("tp")
    elif params["tp"] is None:
        row["tp"] = 1
    return pd.DataFrame([row])


@cli.command()
@_config_options()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def estimate(as_json: bool, **params: Any) -> None:
    """Analytic (roofline) estimate for one deployment.

    Example: surrogate estimate --model meta-llama/Meta-Llama-3-8B --hardware h100-sxm
    --num-devices 2 --tp 2 --batch-size 16 --input-len 1024 --output-len 256
    """
    config = normalize_configs(_config_frame(params))
    result = analytic_estimate(config, normalized=True).iloc[0]
    row = config.iloc[0]
    if as_json:
        print_json({"config": row.to_dict(), "estimate": result.to_dict()})
    else:
        _stdout.print(describe_config(row), soft_wrap=True)
        _stdout.print(estimate_table(result))
    if not bool(result["fits"]):
        over = result["mem_per_device_gb"] - result["mem_usable_gb"]
        alternatives = fit_alternatives(config)
        hint = f" Would fit: {'; '.join(alternatives)}." if alternatives else ""
        raise click.ClickException(
            f"does not fit: needs {result['mem_per_device_gb']:.1f} GB per device, "
            f"{result['mem_usable_gb']:.1f} GB usable on {row['hardware']} ({over:.1f} GB over).{hint}"
        )


# --- learned surrogate: train, evaluate, predict ---------------------------------------------


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_stderr,
                    transient=True)


def _training_table(data_dir: Path | None, shared_dir: Path | None) -> pd.DataFrame:
    """A dataset written by `surrogate data ingest`, or the shared datasets ingested in memory."""
    if data_dir is not None:
        return read_table(data_dir)
    if shared_dir is None and has_table(default_data_dir()):
        logging.getLogger(__name__).info("training on the dataset in %s", default_data_dir())
        return read_table(default_data_dir())
    return load_shared(shared_dir).table


_DATA_OPTIONS = [
    click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Dataset written by `surrogate data ingest` (default: $SURROGATE_DATA_DIR or ./surrogate-data "
                      "if it exists, else the shared datasets)."),
    click.option("--shared", "shared_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Use the shared datasets directory (default ../shared/datasets or $SURROGATE_SHARED_DIR)."),
]


def _data_options(func: Any) -> Any:
    for option in reversed(_DATA_OPTIONS):
        func = option(func)
    return func


@cli.command()
@_data_options
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the model bundle (.joblib).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (LightGBM and CV folds).")
@click.option("--cv-folds", type=click.IntRange(min=0), default=5, show_default=True,
              help="Random k-fold cross-validation stored in the bundle's metadata (0 or 1 to skip).")
@click.option("--json", "as_json", is_flag=True, help="Print the bundle metadata as JSON.")
def train(data_dir: Path | None, shared_dir: Path | None, out_path: Path, seed: int, cv_folds: int,
          as_json: bool) -> None:
    """Train the LightGBM correction on measured data and save a model bundle."""
    table = _training_table(data_dir, shared_dir)
    with _progress() as progress:
        task = progress.add_task("training", total=None)
        model = train_bundle(table, seed=seed, cv_folds=cv_folds,
                             progress=lambda msg: progress.update(task, description=f"training: {msg}"))
    model.save(out_path)
    if as_json:
        print_json(model.metadata)
        return
    meta = model.metadata
    _stdout.print(f"trained on {sum(meta['rows_by_metric'].values())} metric rows "
                  f"({', '.join(f'{k}: {v}' for k, v in meta['rows_by_metric'].items())}); "
                  f"data fingerprint {meta['data_fingerprint'][:12]}, seed {meta['seed']}")
    if meta["cv_scores"]:
        _stdout.print(scores_table(meta["cv_scores"], f"cross-validation ({meta['cv_scores']['split']})"))
    _stdout.print(f"saved {out_path}")


@cli.command()
@_data_options
@click.option("--split", type=click.Choice(SPLITS), default="random", show_default=True,
              help="random 5-fold, or leave one hardware / model / framework / source out.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write evaluation.json, predictions.csv and one PNG per metric here.")
@click.option("--with-specs", is_flag=True, help="Also feed raw datasheet numbers (to measure whether they help).")
@click.option("--with-hardware-id", is_flag=True, help="Also feed the hardware id as a category (same purpose).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def evaluate(data_dir: Path | None, shared_dir: Path | None, split: str, seed: int, out_dir: Path | None,
             with_specs: bool, with_hardware_id: bool, as_json: bool) -> None:
    """Accuracy on held-out rows: analytic baseline, LightGBM without physics, full surrogate."""
    rows = training_rows(_training_table(data_dir, shared_dir))
    with _progress() as progress:
        task = progress.add_task("evaluating", total=None)
        evaluation = cross_validate(rows, split, seed=seed, with_specs=with_specs,
                                    with_hardware_id=with_hardware_id,
                                    progress=lambda msg: progress.update(task, description=msg))
    if out_dir is not None:
        write_evaluation(evaluation, out_dir)
    if as_json:
        print_json(evaluation.summary)
        return
    _stdout.print(scores_table(compact_scores(evaluation.summary), f"held-out accuracy, split = {split}"))
    if split != "random":
        _stdout.print(groups_table(evaluation.summary))
    if out_dir is not None:
        _stdout.print(f"wrote {out_dir}/evaluation.json, predictions.csv and plots")


@cli.command()
@_config_options(required=False)
@click.option("--input", "input_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="CSV of configurations in the canonical column names (one per row).")
@click.option("--model-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Model bundle (default: the bundled models/default.joblib).")
@click.option("--output", "output_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the input columns plus predictions to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def predict(input_path: Path | None, model_file: Path | None, output_path: Path | None, as_json: bool,
            **params: Any) -> None:
    """Learned prediction with P10-P90 intervals, for one deployment or a CSV of them."""
    if input_path is None:
        missing = [f"--{k.replace('_', '-')}" for k in ("model", "hardware", "input_len", "output_len")
                   if params[k] is None]
        if missing:
            raise click.UsageError(f"give --input CSV, or describe one deployment (missing {', '.join(missing)})")
        configs = _config_frame(params)
    else:
        configs = read_configs_csv(input_path)
    model = load_bundle(model_file) if model_file else load_default()
    predictions = model.predict(configs)
    combined = pd.concat([configs.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    if output_path is not None:
        combined.to_csv(output_path, index=False)
    if as_json:
        print_json(combined.to_dict(orient="records"))
    elif output_path is None or input_path is None:
        for i, row in normalize_configs(configs).reset_index(drop=True).iterrows():
            _stdout.print(describe_config(row), soft_wrap=True)
            _stdout.print(prediction_table(predictions.iloc[i]))
    if output_path is not None:
        _stderr.print(f"wrote {len(combined)} predictions to {output_path}")


cli.add_command(data)
cli.add_command(optimize_command)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="surrogate", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
