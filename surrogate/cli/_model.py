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
from features.errors import ConfigError, DataError, InfeasibleError
from surrogate.cli._disaggregated import DISAGGREGATED_FLAGS, disaggregated_options, print_disaggregated
from surrogate.cli._options import (
    ConfigFile,
    OutputPath,
    config_frame,
    config_options,
    data_options,
    read_configs_csv,
    training_table,
    trust_model_file_option,
)
from surrogate.cli._root import progress_bar, stderr, stdout
from surrogate.formatting import describe_config

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["estimate", "train", "evaluate", "predict", "trust"]


_STRICT = click.option("--strict", is_flag=True,
                       help="With --input: exit 1 if any row cannot be used (they are listed either way).")


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
    config = _one_deployment(params)
    result = features.estimate(config, normalized=True).iloc[0]
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
    config, errors = models.valid_rows(config_frame(params))
    if errors:
        raise ConfigError(errors[0])
    for warning in features.config_warnings(config):
        if warning:
            stderr.print(f"warning: {warning}", style="yellow", soft_wrap=True, markup=False, highlight=False)
    return config


def _usable_rows(file: ConfigFile) -> tuple[pd.DataFrame, list[int], list[str]]:
    """The file's usable rows normalised, their positions in the file's table, and every other row as
    ``file:line: reason`` in line order (also printed to stderr, with warnings on the usable rows)."""
    models.check_columns(file.frame)
    config, errors = models.valid_rows(file.frame)
    positions = [p for p in range(len(file.frame)) if p not in errors]
    refused = [(file.lines[p], f"{file.where(p)}: {reason}") for p, reason in errors.items()]
    problems = [text for _, text in sorted(refused + file.unreadable)]
    for text in problems:
        stderr.print(text, markup=False, highlight=False, soft_wrap=True)
    for position, warning in zip(positions, features.config_warnings(config), strict=True):
        if warning:
            stderr.print(f"{file.where(position)}: warning: {warning}", style="yellow", markup=False,
                         highlight=False, soft_wrap=True)
    return config, positions, problems


def _account(file: ConfigFile, used: int, problems: list[str], verb: str, strict: bool) -> None:
    """A warning (exit 0), or with ``strict`` a ``DataError`` (exit 1), when rows were left out."""
    if not problems:
        return
    message = (f"{len(problems)} of {len(problems) + used} rows of {file.path} could not be {verb} (listed above "
               f"with their line); the other {used} {'was' if used == 1 else 'were'} {verb}")
    if strict:
        raise DataError(f"{message} (--strict)")
    stderr.print(f"warning: {message}", style="yellow", markup=False, highlight=False, soft_wrap=True)


def _nothing_usable(file: ConfigFile, problems: list[str], verb: str) -> DataError:
    return DataError(f"none of the {len(problems)} rows of {file.path} could be {verb} (listed above with their "
                     "line)")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _estimate_file(file: ConfigFile, output_path: Path | None, as_json: bool, strict: bool) -> None:
    """Every row of a CSV: the estimable ones written (or printed), the others listed by line."""
    import pandas as pd

    config, positions, problems = _usable_rows(file)
    if not positions:
        raise _nothing_usable(file, problems, "estimated")
    estimates = models.estimate_valid(config)
    good = file.frame.iloc[positions].reset_index(drop=True)
    combined = pd.concat([good, estimates[models.ESTIMATE_OUTPUT_COLUMNS].reset_index(drop=True)], axis=1)
    if output_path is not None:
        _write_csv(combined, output_path)
        stderr.print(f"wrote {len(combined)} estimates to {output_path}", highlight=False)
    elif as_json:
        report.print_json(combined.to_dict(orient="records"))
    else:
        stdout.print(combined.to_string(index=False), markup=False, highlight=False)
    _account(file, len(positions), problems, "estimated", strict)


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
@click.option("--cv-folds", type=click.IntRange(min=0), default=5, show_default=True,
              help="Random k-fold cross-validation stored in the bundle's metadata (0 or 1 to skip).")
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
def evaluate(data_dir: Path | None, shared_dir: Path | None, split: str, seed: int, out_dir: Path | None,
             with_specs: bool, with_hardware_id: bool, without_software: bool, as_json: bool) -> None:
    """Accuracy on held-out rows: peak and achievable models, LightGBM without physics, full surrogate."""
    rows = models.training_rows(training_table(data_dir, shared_dir))
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("evaluating", total=1.0)
        evaluation = models.cross_validate(rows, split, seed=seed, with_specs=with_specs,
                                           with_hardware_id=with_hardware_id, with_software=not without_software,
                                           progress=_reporter(bar, task))
    elapsed = format_duration(time.perf_counter() - started)
    if out_dir is not None:
        report.write_evaluation(evaluation, out_dir)
    if as_json:
        report.print_json(evaluation.summary)
        return
    for part in report.evaluation_report(evaluation.summary):
        stdout.print(part)
    if out_dir is not None:
        stdout.print(f"wrote {out_dir}/evaluation.json, predictions.csv and plots")
    stdout.print(f"evaluated in {elapsed}")


@click.command()
@config_options(required=False)
@click.option("--input", "input_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="CSV of configurations in the canonical column names (one per row).")
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
    column) the deployment is fed that many requests per second instead of a fixed concurrency.
    """
    import pandas as pd

    model = models.load(model_file, trust=trust_model_file) if model_file else models.load_default()
    workers = {name: params.pop(name) for name in DISAGGREGATED_FLAGS}
    if any(value is not None for value in workers.values()):
        if input_path is not None or request_rate is not None:
            raise click.UsageError("--prefill-workers/--decode-workers describe one disaggregated deployment at a "
                                   "client concurrency; they do not combine with --input or --request-rate (a CSV "
                                   "gives them as columns with mode = disaggregated)")
        print_disaggregated(model, params, workers, as_json)
        return
    file = None
    if input_path is None:
        if request_rate is not None:
            _open_loop_flags(params, request_rate)
        normalized = _one_deployment(params)
        configs, problems = config_frame(params), list[str]()
        rates = pd.Series([request_rate], index=normalized.index, dtype=float)
    else:
        if request_rate is not None:
            raise click.UsageError("--request-rate describes one deployment, but --input's CSV describes them; put "
                                   "the rate in its request_rate_per_s column")
        _no_deployment_flags(params)
        file = read_configs_csv(input_path)
        normalized, positions, problems = _usable_rows(file)
        if not positions:
            raise _nothing_usable(file, problems, "predicted")
        configs = file.frame.iloc[positions]
        rates = pd.to_numeric(configs.get("request_rate_per_s", pd.Series(float("nan"), index=configs.index)),
                              errors="coerce").set_axis(normalized.index)
    predictions, overloaded = _predict_rows(model, normalized, rates)
    if overloaded and file is None:
        raise ConfigError(next(iter(overloaded.values())))
    if overloaded and file is not None:
        for position, reason in overloaded.items():
            text = f"{file.where(positions[position])}: {reason}"
            stderr.print(text, markup=False, highlight=False, soft_wrap=True)
            problems.append(text)
        keep = [p for p in range(len(normalized)) if p not in overloaded]
        normalized, configs = normalized.iloc[keep], configs.iloc[keep]
        if not keep:
            raise _nothing_usable(file, problems, "predicted")
    if "concurrency" in predictions:
        normalized = normalized.assign(concurrency=predictions["concurrency"].fillna(normalized["concurrency"])
                                       .astype("int64").to_numpy())
    # Open-loop rows report their settled concurrency and rate among the predictions: one column each.
    configs = configs.drop(columns=[c for c in predictions.columns if c in configs.columns])
    combined = pd.concat([configs.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    if output_path is not None:
        _write_csv(combined, output_path)
    if as_json:
        report.print_json(combined.to_dict(orient="records"))
    elif output_path is None or input_path is None:
        for i, row in normalized.reset_index(drop=True).iterrows():
            stdout.print(describe_config(row), soft_wrap=True)
            stdout.print(report.prediction_table(predictions.iloc[i]))
        warning = report.off_support_warning(predictions)
        if warning:
            stdout.print(warning, style="yellow", soft_wrap=True)
    if output_path is not None:
        stderr.print(f"wrote {len(combined)} predictions to {output_path}")
    if file is not None:
        _account(file, len(normalized), problems, "predicted", strict)


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


def _predict_rows(model: Any, normalized: pd.DataFrame, rates: pd.Series) -> tuple[pd.DataFrame, dict[int, str]]:
    """Predictions row for row (indexed like ``normalized``): rows with a request rate at their open-loop
    steady state, the others as given; ``{position: reason}`` for rows the rate overwhelms."""
    import numpy as np
    import pandas as pd

    open_loop = rates.notna().to_numpy()
    if not open_loop.any():
        return model.predict(normalized, normalized=True), {}
    parts, overloaded = [], {}
    if (~open_loop).any():
        parts.append(model.predict(normalized[~open_loop], normalized=True))
    settled, problems = models.predict_at_rate(model, normalized[open_loop], rates[open_loop].to_numpy())
    positions = np.flatnonzero(open_loop)
    overloaded = {int(positions[p]): reason for p, reason in problems.items()}
    parts.append(settled)
    kept = [i for i in range(len(normalized)) if i not in overloaded]
    return pd.concat(parts).reindex(normalized.index[kept]), overloaded


@click.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def trust(path: Path) -> None:
    """Trust a model file from elsewhere, so predict and optimize load it without --trust-model-file.

    Records the file's SHA-256 for this user; a file altered later is refused again. Loading a model
    file runs code it holds: trust only files from a source you trust.
    """
    digest = models.trust_file(path)
    stdout.print(f"trusted {path} (sha256 {digest})", soft_wrap=True, markup=False, highlight=False)
