"""``surrogate estimate``, ``train``, ``evaluate``, ``predict``, ``trust``: flags to library calls, results to stdout.

Click wiring only. Errors reach the root group (``surrogate.cli._root``), which maps them to exit codes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource
from rich.progress import Progress, TaskID

import features
import surrogate.model as models
import surrogate.optimize as optimize
import surrogate.report as report
from features.errors import ConfigError, InfeasibleError, SurrogateError
from surrogate.cli._disaggregated import DISAGGREGATED_FLAGS, disaggregated_options, print_disaggregated
from surrogate.cli._options import (
    ConfigFile,
    OutputPath,
    config_frame,
    config_options,
    data_options,
    default_framework_note,
    read_configs_csv,
    training_table,
    trust_model_file_option,
)
from surrogate.cli._root import progress_bar, stderr, stdout
from surrogate.cli._rows import (
    account,
    nothing_usable,
    predict_file,
    predict_rows,
    print_predictions,
    settled,
    split_modes,
    sub_file,
    usable_rows,
    write_csv,
)
from surrogate.formatting import describe_config

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["estimate", "train", "evaluate", "predict", "trust"]


_STRICT = click.option("--strict", is_flag=True,
                       help="With --input: exit 1 if any row cannot be used (they are listed either way).")


def _show_evaluation(evaluation: models.Evaluation, out_dir: Path | None, as_json: bool) -> bool:
    """Write the --out files and print the summary: JSON (then False: nothing more to say) or the report."""
    if out_dir is not None:
        report.write_evaluation(evaluation, out_dir)
    if as_json:
        report.print_json(evaluation.summary)
        return False
    for part in report.evaluation_report(evaluation.summary):
        stdout.print(part)
    return True


def _score_bundle(model_file: Path, trust: bool, rows: pd.DataFrame, out_dir: Path | None, as_json: bool) -> None:
    """``evaluate --model-file``: the bundle's predictions of every row, scored; rows it cannot predict named."""
    model = models.load_default() if str(model_file) == "default" else models.load(model_file, trust=trust)
    evaluation, errors = models.score_bundle(model, rows)
    if not _show_evaluation(evaluation, out_dir, as_json):
        return
    for position, reason in list(errors.items())[:5]:
        where = rows.iloc[position]
        stdout.print(f"not scored: {where.get('source_file', '')}:{where.get('source_line', '')}: {reason}")
    if len(errors) > 5:
        stdout.print(f"... and {len(errors) - 5} more rows not scored")
    if out_dir is not None:
        stdout.print(f"wrote {out_dir}/evaluation.json, predictions.csv and plots")


@click.command()
@config_options(required=False)
@click.option("--input", "input_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="CSV of configurations in the canonical column names (one per row).")
@click.option("--output", "output_path", type=OutputPath(), default=None,
              help="With --input: write the input columns plus peak and achievable times, fits and memory here.")
@_STRICT
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def estimate(input_path: Path | None, output_path: Path | None, strict: bool, as_json: bool, **params: Any) -> None:
    """Analytic estimate for one deployment (or a CSV of them): achievable beside peak.

    With --input, rows that cannot be estimated are listed as file:line: reason and the others are
    estimated (exit 0 with a warning; --strict: exit 1).

    Example: surrogate estimate --model meta-llama/Meta-Llama-3-8B --hardware h100-sxm
    --num-devices 2 --tp 2 --batch-size 16 --input-len 1024 --output-len 256
    """
    if input_path is not None:
        _no_deployment_flags(params)
        _estimate_file(read_configs_csv(input_path), output_path, as_json, strict)
        return
    if output_path is not None:
        raise click.UsageError("--output writes the estimates of an --input CSV; for one deployment use --json")
    config = models.in_measured_era(_one_deployment(params))
    aliases = ["achievable_ttft_s", "achievable_itl_s", "achievable_latency_s"]  # the --input CSV's names
    result = models.estimate_valid(config).iloc[0].drop(aliases)
    row = config.iloc[0]
    if as_json:
        report.print_json({"config": row.to_dict(), "estimate": result.to_dict()})
    else:
        stdout.print(describe_config(row), soft_wrap=True)
        stdout.print(report.estimate_table(result))
    if not bool(result["fits"]):
        over = result["mem_per_device_gb"] - result["mem_usable_gb"]
        alternatives = optimize.fit_alternatives(config)
        hint = f" Would fit: {'; '.join(alternatives)}." if alternatives else ""
        raise InfeasibleError(
            f"does not fit: needs {result['mem_per_device_gb']:.1f} GB per device, "
            f"{result['mem_usable_gb']:.1f} GB usable on {row['hardware']} ({over:.1f} GB over).{hint}"
        )


def _require_deployment(params: dict[str, Any]) -> None:
    missing = [f"--{k.replace('_', '-')}" for k in ("model", "hardware", "input_len", "output_len")
               if params[k] is None]
    if missing:
        raise click.UsageError(f"give --input CSV, or describe one deployment (missing {', '.join(missing)})")


def _no_deployment_flags(params: dict[str, Any]) -> None:
    """With --input the CSV describes the deployments: a deployment flag given too would be ignored."""
    ctx = click.get_current_context()
    given = [f"--{name.replace('_', '-')}" for name in params
             if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    if given:
        raise click.UsageError(f"{', '.join(given)} describe one deployment, but --input's CSV describes them; "
                               "put the values in the CSV's columns, or drop --input")


def _one_deployment(params: dict[str, Any]) -> pd.DataFrame:
    """The normalised row the flags describe; ``ConfigError`` (exit 2) naming why it is impossible."""
    _require_deployment(params)
    if note := default_framework_note(params):
        stderr.print(f"note: {note}", soft_wrap=True)
    config, errors = models.valid_rows(config_frame(params))
    if errors:
        raise ConfigError(errors[0])
    for warning in features.config_warnings(config):
        if warning:
            stderr.print(f"warning: {warning}", style="yellow", soft_wrap=True, markup=False, highlight=False)
    return config


def _estimate_file(file: ConfigFile, output_path: Path | None, as_json: bool, strict: bool) -> None:
    """Every row of a CSV: the estimable ones written (or printed), the others listed by line."""
    import pandas as pd

    aggregated, disaggregated, bad = split_modes(file)
    if disaggregated or bad:  # never priced as something they are not
        why = {p: "a disaggregated row: `surrogate predict --input` prices xPyD deployments (physics and its "
                  "correction); `estimate` takes one aggregated deployment per row" for p in disaggregated}
        why.update(bad)
        left_out = [(file.lines[p], f"{file.where(p)}: {reason}") for p, reason in why.items()]
        for _, text in sorted(left_out):
            stderr.print(text, markup=False, highlight=False, soft_wrap=True)
        kept = sub_file(file, aggregated, file.unreadable)
        config, kept_positions, problems = usable_rows(kept)
        positions = [aggregated[p] for p in kept_positions]
        problems = [text for _, text in sorted(left_out)] + problems
    else:
        config, positions, problems = usable_rows(file)
    if not positions:
        raise nothing_usable(file, problems, "estimated")
    estimates = models.estimate_valid(config)
    good = file.frame.iloc[positions].reset_index(drop=True)
    combined = pd.concat([good, estimates[models.ESTIMATE_OUTPUT_COLUMNS].reset_index(drop=True)], axis=1)
    if output_path is not None:
        write_csv(combined, output_path)
        stderr.print(f"wrote {len(combined)} estimates to {output_path}", highlight=False)
    elif as_json:
        report.print_json(combined.to_dict(orient="records"))
    else:
        stdout.print(combined.to_string(index=False), markup=False, highlight=False)
    account(file, len(positions), problems, "estimated", strict)


def _reporter(bar: Progress, task: TaskID) -> Callable[[str, float], None]:
    """Show a library step and its fraction done on the bar."""
    def report(message: str, fraction: float) -> None:
        bar.update(task, description=message, completed=fraction)
    return report


def format_duration(seconds: float) -> str:
    """``42 s`` or ``5 min 40 s``."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


@click.command()
@data_options
@click.option("--out", "out_path", type=OutputPath(), required=True,
              help="Where to write the model bundle (.joblib); checked before training starts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (LightGBM and CV folds).")
@click.option("--cv-folds", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random k-fold cross-validation scores stored in the bundle's metadata; each fold refits the "
                   "whole bundle, so 5 folds take about six times as long (0 or 1: none). Scores on "
                   "deployment-like splits: surrogate evaluate.")
@click.option("--json", "as_json", is_flag=True, help="Print the bundle metadata as JSON.")
def train(data_dir: Path | None, shared_dir: Path | None, out_path: Path, seed: int, cv_folds: int,
          as_json: bool) -> None:
    """Train the LightGBM correction on measured data and save a model bundle."""
    table = training_table(data_dir, shared_dir)
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("training", total=1.0)
        model = models.train_bundle(table, seed=seed, cv_folds=cv_folds, progress=_reporter(bar, task))
    model.save(out_path)
    if as_json:
        report.print_json(model.metadata)
        return
    meta = model.metadata
    stdout.print(f"trained on {sum(meta['rows_by_metric'].values())} metric rows "
                  f"({', '.join(f'{k}: {v}' for k, v in meta['rows_by_metric'].items())}); "
                  f"data fingerprint {meta['data_fingerprint'][:12]}, seed {meta['seed']}")
    if meta["cv_scores"]:
        stdout.print(report.scores_table(meta["cv_scores"], f"cross-validation ({meta['cv_scores']['split']})"))
    else:
        stdout.print("no scores: `surrogate evaluate --split hardware` (or another split) measures accuracy on "
                     "rows held out the way deployments differ; --cv-folds 5 stores random-split scores")
    stdout.print(f"saved {out_path} (trained in {format_duration(time.perf_counter() - started)})")


@click.command()
@data_options
@click.option("--split", type=click.Choice(models.SPLITS), default="random", show_default=True,
              help="random 5-fold; leave one hardware / model / framework / source / vendor out; or train small, "
                   "test large: batch (sequences), input_length, version (each framework's newest release held "
                   "out). The output states the split's rule.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", "out_dir", type=OutputPath(directory=True), default=None,
              help="Write evaluation.json, predictions.csv and one PNG per metric here.")
@click.option("--with-specs", is_flag=True, help="Also feed raw datasheet numbers (to measure whether they help).")
@click.option("--with-hardware-id", is_flag=True, help="Also feed the hardware id as a category (same purpose).")
@click.option("--without-software", is_flag=True,
              help="Hide the engine's software date from the model (to measure what it changes).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--model-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Score this trained bundle on the data as it is, without retraining ('default': the bundled "
                   "model); --split and the training flags do not apply.")
@trust_model_file_option
def evaluate(data_dir: Path | None, shared_dir: Path | None, split: str, seed: int, out_dir: Path | None,
             with_specs: bool, with_hardware_id: bool, without_software: bool, as_json: bool,
             model_file: Path | None, trust_model_file: bool) -> None:
    """Accuracy on held-out rows: peak and achievable models, LightGBM without physics, full surrogate.

    Disaggregated (xPyD) rows are held out by the same split and scored apart, beside the aggregated rows of
    the same sources; those that cannot be predicted are counted with the reason. With --model-file, a trained
    bundle is scored on the rows as they are: how the default model does on your own measurements.
    """
    if model_file is not None:
        context = click.get_current_context()
        given = [f"--{name.replace('_', '-')}" for name in ("split", "seed", "with_specs", "with_hardware_id",
                                                           "without_software")
                 if context.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if given:
            raise click.UsageError(f"--model-file scores a trained bundle as it is; {', '.join(given)} "
                                   "choose how models are trained and do not apply")
    table = training_table(data_dir, shared_dir)
    rows = models.training_rows(table)
    if model_file is not None:
        _score_bundle(model_file, trust_model_file, rows, out_dir, as_json)
        return
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("evaluating", total=1.0)
        evaluation = models.cross_validate(rows, split, seed=seed, disaggregated=table, with_specs=with_specs,
                                           with_hardware_id=with_hardware_id, with_software=not without_software,
                                           progress=_reporter(bar, task))
    elapsed = format_duration(time.perf_counter() - started)
    if not _show_evaluation(evaluation, out_dir, as_json):
        return
    if out_dir is not None:
        extra = ", disaggregated_predictions.csv" if evaluation.disaggregated_predictions is not None else ""
        stdout.print(f"wrote {out_dir}/evaluation.json, predictions.csv{extra} and plots")
    stdout.print(f"evaluated in {elapsed}")


@click.command()
@config_options(required=False)
@click.option("--input", "input_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="CSV of configurations in the canonical column names (one per row); rows with mode = "
                   "disaggregated give prefill_workers, decode_workers, concurrency and the other prefill_* / "
                   "decode_* columns.")
@click.option("--model-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Model bundle (default: the bundled models/default.joblib).")
@trust_model_file_option
@click.option("--request-rate", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Open-loop traffic: requests per second to the whole deployment (Poisson arrivals), instead "
                   "of --concurrency; the requests in flight follow from Little's law. CSV column: "
                   "request_rate_per_s.")
@click.option("--output", "output_path", type=OutputPath(), default=None,
              help="Write the input columns plus predictions to this CSV.")
@_STRICT
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@disaggregated_options
def predict(input_path: Path | None, model_file: Path | None, trust_model_file: bool, request_rate: float | None,
            output_path: Path | None, strict: bool, as_json: bool, **params: Any) -> None:
    """Learned prediction with P10-P90 intervals, for one deployment or a CSV of them.

    With --input, rows that cannot be predicted are listed as file:line: reason and the others are
    predicted (exit 0 with a warning; --strict: exit 1). With --request-rate (or a request_rate_per_s
    column) the deployment is fed that many requests per second instead of a fixed concurrency. A CSV may
    mix disaggregated rows (mode = disaggregated, with their worker columns) among the others: they are
    predicted by the xPyD physics and its learned correction, in file order.
    """
    model = models.load(model_file, trust=trust_model_file) if model_file else models.load_default()
    workers = {name: params.pop(name) for name in DISAGGREGATED_FLAGS}
    if any(value is not None for value in workers.values()):
        if input_path is not None or request_rate is not None:
            raise click.UsageError("--prefill-workers/--decode-workers describe one disaggregated deployment at a "
                                   "client concurrency; they do not combine with --input or --request-rate (a CSV "
                                   "gives them as columns with mode = disaggregated)")
        print_disaggregated(model, params, workers, as_json)
        return
    if input_path is None:
        _predict_one(model, params, request_rate, output_path, as_json)
        return
    if request_rate is not None:
        raise click.UsageError("--request-rate describes one deployment, but --input's CSV describes them; put "
                               "the rate in its request_rate_per_s column")
    _no_deployment_flags(params)
    predict_file(model, read_configs_csv(input_path), output_path, as_json, strict)


def _predict_one(model: Any, params: dict[str, Any], request_rate: float | None, output_path: Path | None,
                 as_json: bool) -> None:
    """The deployment the flags describe: its prediction printed (a table, or JSON), and written with --output."""
    import pandas as pd

    if request_rate is not None:
        _open_loop_flags(params, request_rate)
    normalized = _one_deployment(params)
    rates = pd.Series([request_rate], index=normalized.index, dtype=float)
    predictions, overloaded = predict_rows(model, normalized, rates)
    if overloaded:
        raise ConfigError(next(iter(overloaded.values())))
    configs = config_frame(params)
    normalized = settled(normalized, predictions)
    configs = configs.drop(columns=[c for c in predictions.columns if c in configs.columns])
    combined = pd.concat([configs.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    if output_path is not None:
        write_csv(combined, output_path)
    if as_json:
        report.print_json(combined.to_dict(orient="records"))
    else:
        print_predictions(model, [("aggregated", normalized.iloc[0], predictions.iloc[0])], predictions)
        _warn_if_it_does_not_fit(normalized, predictions.iloc[0])
    if output_path is not None:
        stderr.print(f"wrote {len(combined)} predictions to {output_path}")


def _warn_if_it_does_not_fit(config: Any, prediction: Any) -> None:
    """A predicted deployment the memory model says does not fit: how far over, and what would fit (as
    ``estimate`` refuses it). The prediction stands: it is what the deployment would do if it ran."""
    if "fits" not in prediction.index or bool(prediction["fits"]):
        return
    over = prediction["mem_per_device_gb"] - prediction["mem_usable_gb"]
    alternatives = optimize.fit_alternatives(config.iloc[[0]])
    hint = f"; would fit: {'; '.join(alternatives)}" if alternatives else ""
    stderr.print(f"warning: does not fit in memory: needs {prediction['mem_per_device_gb']:.1f} GB per device, "
                 f"{prediction['mem_usable_gb']:.1f} GB usable ({over:.1f} GB over){hint}", soft_wrap=True)


def _open_loop_flags(params: dict[str, Any], rate: float) -> None:
    """--request-rate replaces --concurrency and --batch-size, under continuous batching only."""
    if not rate < float("inf"):  # nan and inf pass click's range check
        raise click.UsageError(f"--request-rate {rate}: the request rate must be a positive number of requests "
                               "per second")
    given = [f"--{name.replace('_', '-')}" for name in ("concurrency", "batch_size") if params[name] is not None]
    if given:
        raise click.UsageError(f"--request-rate and {' and '.join(given)} both set the load; give one (the requests "
                               "in flight follow from the rate by Little's law)")
    if params["batching"] == "static":
        raise click.UsageError("--request-rate is open-loop traffic to a continuous-batching server, not a "
                               "static batch; drop --batching static")
    params["batching"], params["concurrency"] = "continuous", 1


@click.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def trust(path: Path) -> None:
    """Trust a model file from elsewhere, so predict and optimize load it without --trust-model-file.

    Records the file's SHA-256 for this user; a file altered later is refused again. Loading a model
    file runs code it holds: trust only files from a source you trust.
    """
    digest = models.trust_file(path)
    stdout.print(f"trusted {path} (sha256 {digest})", soft_wrap=True, markup=False, highlight=False)


@click.command("compile")
@click.option("--model-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Model bundle (default: the bundled models/default.joblib).")
@trust_model_file_option
def compile_command(model_file: Path | None, trust_model_file: bool) -> None:
    """Compile a bundle's trees to machine code once, so every later prediction uses them.

    Compiled trees predict the same values several times faster (lleaves, the 'fast' extra). Without this
    command a prediction of 50,000 rows or more compiles them on first use; smaller ones use LightGBM
    until then. SURROGATE_COMPILED_TREES=never turns them off.
    """
    from surrogate.model import _compiled

    model = models.load(model_file, trust=trust_model_file) if model_file else models.load_default()
    start = time.perf_counter()
    done = model.compile_trees()
    if not all(done.values()):
        raise SurrogateError(f"trees not compiled: {_compiled.status().removeprefix('lightgbm: ')}; predictions use "
                        "LightGBM (the same values, slower)")
    stdout.print(f"compiled {len(done)} models in {time.perf_counter() - start:.1f} s; cached in "
                 f"{_compiled.cache_dir()}", soft_wrap=True, markup=False, highlight=False)
