"""``surrogate estimate``, ``train``, ``evaluate`` and ``predict``: flags to library calls, results to stdout.

Click wiring only. Errors reach the root group (``surrogate.cli._root``), which maps them to exit codes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import features
import surrogate.model as models
import surrogate.optimize as optimize
import surrogate.report as report
from features.errors import DataError, InfeasibleError
from surrogate.cli._options import config_frame, config_options, data_options, read_configs_csv, training_table
from surrogate.cli._root import progress_spinner, stderr, stdout
from surrogate.formatting import describe_config

__all__ = ["estimate", "train", "evaluate", "predict"]


@click.command()
@config_options(required=False)
@click.option("--input", "input_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="CSV of configurations in the canonical column names (one per row).")
@click.option("--output", "output_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="With --input: write the input columns plus peak and achievable times, fits and memory here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def estimate(input_path: Path | None, output_path: Path | None, as_json: bool, **params: Any) -> None:
    """Analytic estimate for one deployment (or a CSV of them): achievable beside peak.

    Example: surrogate estimate --model meta-llama/Meta-Llama-3-8B --hardware h100-sxm
    --num-devices 2 --tp 2 --batch-size 16 --input-len 1024 --output-len 256
    """
    if input_path is not None:
        _estimate_file(input_path, output_path, as_json)
        return
    _require_deployment(params)
    config = features.normalize_configs(config_frame(params))
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


def _estimate_file(input_path: Path, output_path: Path | None, as_json: bool) -> None:
    """Every row of a CSV: the estimable ones written (or printed), the others listed by line."""
    import pandas as pd

    configs = read_configs_csv(input_path)
    estimates, errors = models.estimate_each(configs)
    for position, reason in sorted(errors.items()):
        stderr.print(f"{input_path}:{position + 2}: {reason}", markup=False, highlight=False, soft_wrap=True)
    good = configs.iloc[[i for i in range(len(configs)) if i not in errors]].reset_index(drop=True)
    combined = pd.concat([good, estimates[models.ESTIMATE_OUTPUT_COLUMNS].reset_index(drop=True)], axis=1)
    if output_path is not None:
        combined.to_csv(output_path, index=False)
        stderr.print(f"wrote {len(combined)} estimates to {output_path}", highlight=False)
    elif as_json:
        report.print_json(combined.to_dict(orient="records"))
    else:
        stdout.print(combined.to_string(index=False), markup=False, highlight=False)
    if errors:
        raise DataError(f"{len(errors)} of {len(configs)} rows of {input_path} could not be estimated (listed "
                        "above with their line); the others were estimated")


@click.command()
@data_options
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the model bundle (.joblib).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (LightGBM and CV folds).")
@click.option("--cv-folds", type=click.IntRange(min=0), default=5, show_default=True,
              help="Random k-fold cross-validation stored in the bundle's metadata (0 or 1 to skip).")
@click.option("--json", "as_json", is_flag=True, help="Print the bundle metadata as JSON.")
def train(data_dir: Path | None, shared_dir: Path | None, out_path: Path, seed: int, cv_folds: int,
          as_json: bool) -> None:
    """Train the LightGBM correction on measured data and save a model bundle."""
    table = training_table(data_dir, shared_dir)
    with progress_spinner() as progress:
        task = progress.add_task("training", total=None)
        model = models.train_bundle(table, seed=seed, cv_folds=cv_folds,
                             progress=lambda msg: progress.update(task, description=f"training: {msg}"))
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
    stdout.print(f"saved {out_path}")


@click.command()
@data_options
@click.option("--split", type=click.Choice(models.SPLITS), default="random", show_default=True,
              help="random 5-fold; leave one hardware / model / framework / source / vendor out; or train small, "
                   "test large: batch (sequences), input_length, version (each framework's newest release held "
                   "out). The output states the split's rule.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
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
    with progress_spinner() as progress:
        task = progress.add_task("evaluating", total=None)
        evaluation = models.cross_validate(rows, split, seed=seed, with_specs=with_specs,
                                    with_hardware_id=with_hardware_id, with_software=not without_software,
                                    progress=lambda msg: progress.update(task, description=msg))
    if out_dir is not None:
        report.write_evaluation(evaluation, out_dir)
    if as_json:
        report.print_json(evaluation.summary)
        return
    for part in report.evaluation_report(evaluation.summary):
        stdout.print(part)
    if out_dir is not None:
        stdout.print(f"wrote {out_dir}/evaluation.json, predictions.csv and plots")


@click.command()
@config_options(required=False)
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
        _require_deployment(params)
        configs = config_frame(params)
    else:
        configs = read_configs_csv(input_path)
    model = models.load(model_file) if model_file else models.load_default()
    models.check_columns(configs)
    normalized = features.normalize_configs(configs)
    predictions = model.predict(normalized, normalized=True)
    import pandas as pd

    combined = pd.concat([configs.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    if output_path is not None:
        combined.to_csv(output_path, index=False)
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
