"""A CSV of configurations row by row: which rows can be used (the others listed as ``file:line: reason``), and
predicting a file that mixes aggregated and disaggregated (``mode``) rows, in file order.

Click wiring's helpers for ``surrogate estimate --input`` and ``surrogate predict --input``; nothing here
imports pandas at module level (``surrogate --help`` stays light).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import features
import surrogate.model as models
import surrogate.report as report
from features.errors import DataError, SurrogateError
from surrogate.cli._disaggregated import DISAGGREGATED_FLAGS, print_disaggregated
from surrogate.cli._options import ConfigFile
from surrogate.cli._root import stderr, stdout
from surrogate.formatting import describe_config

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["usable_rows", "account", "nothing_usable", "write_csv", "predict_rows", "settled", "predict_file",
           "print_predictions", "split_modes", "sub_file"]


def usable_rows(file: ConfigFile) -> tuple[pd.DataFrame, list[int], list[str]]:
    """The file's usable rows normalised, their positions in the file's table, and every other row as
    ``file:line: reason`` in line order (also printed to stderr, with warnings on the usable rows)."""
    models.check_columns(file.frame)
    frame, rounded = features.mean_lengths(file.frame)  # said here by line, not once by normalize_configs
    config, errors = models.valid_rows(frame)
    positions = [p for p in range(len(file.frame)) if p not in errors]
    refused = [(file.lines[p], f"{file.where(p)}: {reason}") for p, reason in errors.items()]
    problems = [text for _, text in sorted(refused + file.unreadable)]
    for text in problems:
        stderr.print(text, markup=False, highlight=False, soft_wrap=True)
    for position, warning in zip(positions, features.config_warnings(config), strict=True):
        warning = "; ".join(text for text in (rounded.get(position, ""), warning) if text)
        if warning:
            stderr.print(f"{file.where(position)}: warning: {warning}", style="yellow", markup=False,
                         highlight=False, soft_wrap=True)
    return config, positions, problems


def account(file: ConfigFile, used: int, problems: list[str], verb: str, strict: bool) -> None:
    """A warning (exit 0), or with ``strict`` a ``DataError`` (exit 1), when rows were left out."""
    if not problems:
        return
    message = (f"{len(problems)} of {len(problems) + used} rows of {file.path} could not be {verb} (listed above "
               f"with their line); the other {used} {'was' if used == 1 else 'were'} {verb}")
    if strict:
        raise DataError(f"{message} (--strict)")
    stderr.print(f"warning: {message}", style="yellow", markup=False, highlight=False, soft_wrap=True)


def nothing_usable(file: ConfigFile, problems: list[str], verb: str) -> DataError:
    return DataError(f"none of the {len(problems)} rows of {file.path} could be {verb} (listed above with their "
                     "line)")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def settled(normalized: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Open-loop rows described at the concurrency they settle at."""
    if "concurrency" not in predictions:
        return normalized
    return normalized.assign(concurrency=predictions["concurrency"].fillna(normalized["concurrency"])
                             .astype("int64").to_numpy())


def predict_file(model: Any, file: ConfigFile, output_path: Path | None, as_json: bool, strict: bool) -> None:
    """Every row of a CSV, aggregated and disaggregated (``mode``), predicted and written (or printed) in file
    order; the rows that cannot be predicted listed as ``file:line: reason`` and accounted for."""
    import numpy as np
    import pandas as pd

    aggregated, disaggregated, bad_modes = split_modes(file)
    refused = [(file.lines[p], f"{file.where(p)}: {reason}") for p, reason in bad_modes.items()]
    first, problems = _predict_aggregated(model, sub_file(file, aggregated, file.unreadable + refused))
    second, disagg_problems = _predict_disaggregated(model, sub_file(file, disaggregated, []))
    blocks = [block for block in (first, second) if block is not None]
    problems += disagg_problems
    if not blocks:
        raise nothing_usable(file, problems, "predicted")
    order = np.argsort(np.concatenate([block.lines for block in blocks]), kind="stable")
    combined = pd.concat([block.combined for block in blocks], ignore_index=True).iloc[order]
    predictions = pd.concat([block.predictions for block in blocks], ignore_index=True).iloc[order]
    if output_path is not None:
        write_csv(combined, output_path)
    if as_json:
        report.print_json(combined.to_dict(orient="records"))
    elif output_path is None:
        rows = [(line, block.kind, block.described.iloc[i], block.predictions.iloc[i])
                for block in blocks for i, line in enumerate(block.lines)]
        print_predictions(model, [row[1:] for row in sorted(rows, key=lambda row: row[0])], predictions)
    if output_path is not None:
        stderr.print(f"wrote {len(combined)} predictions to {output_path}")
    account(file, len(combined), problems, "predicted", strict)


class _Block(NamedTuple):
    """Predicted rows of one kind from a CSV: their lines, the output rows (input columns then predictions), the
    predictions, and the rows to describe them by (normalised aggregated rows; disaggregated ones as read)."""

    lines: list[int]
    kind: str
    combined: pd.DataFrame
    predictions: pd.DataFrame
    described: pd.DataFrame


def split_modes(file: ConfigFile) -> tuple[list[int], list[int], dict[int, str]]:
    """Positions of the aggregated rows (``mode`` empty or aggregated) and the disaggregated ones, and
    ``{position: reason}`` for rows whose mode is neither (never predicted as something they are not)."""
    if "mode" not in file.frame:
        return list(range(len(file.frame))), [], {}
    modes = file.frame["mode"].astype("string").str.strip().fillna("")
    aggregated = [p for p, m in enumerate(modes) if m in ("", "aggregated")]
    disaggregated = [p for p, m in enumerate(modes) if m == "disaggregated"]
    bad = {p: f"mode {m!r} is neither aggregated nor disaggregated (leave it empty for aggregated serving)"
           for p, m in enumerate(modes) if m not in ("", "aggregated", "disaggregated")}
    return aggregated, disaggregated, bad


def sub_file(file: ConfigFile, positions: list[int], unreadable: list[tuple[int, str]]) -> ConfigFile:
    """Some rows of a file, with their own lines (so problems still name the file's lines)."""
    return ConfigFile(file.path, file.frame.iloc[positions].reset_index(drop=True),
                      [file.lines[p] for p in positions], unreadable)


def _predict_aggregated(model: Any, file: ConfigFile) -> tuple[_Block | None, list[str]]:
    """The aggregated rows of a CSV predicted (open-loop ones at their request rate), and the others listed."""
    import pandas as pd

    normalized, positions, problems = usable_rows(file)
    if not positions:
        return None, problems
    configs = file.frame.iloc[positions]
    rates = pd.to_numeric(configs.get("request_rate_per_s", pd.Series(float("nan"), index=configs.index)),
                          errors="coerce").set_axis(normalized.index)
    predictions, overloaded = predict_rows(model, normalized, rates)
    for position, reason in overloaded.items():
        text = f"{file.where(positions[position])}: {reason}"
        stderr.print(text, markup=False, highlight=False, soft_wrap=True)
        problems.append(text)
    keep = [p for p in range(len(normalized)) if p not in overloaded]
    if not keep:
        return None, problems
    normalized, configs = settled(normalized.iloc[keep], predictions), configs.iloc[keep]
    # Open-loop rows report their settled concurrency and rate among the predictions: one column each.
    configs = configs.drop(columns=[c for c in predictions.columns if c in configs.columns])
    predictions = predictions.reset_index(drop=True)
    combined = pd.concat([configs.reset_index(drop=True), predictions], axis=1)
    return _Block([file.lines[positions[p]] for p in keep], "aggregated", combined, predictions,
                  normalized.reset_index(drop=True)), problems


def _predict_disaggregated(model: Any, file: ConfigFile) -> tuple[_Block | None, list[str]]:
    """The disaggregated rows of a CSV predicted by the bundle (xPyD physics and its correction), and the others
    listed as ``file:line: reason`` (missing worker counts, unreadable numbers, what the physics refuses)."""
    import pandas as pd

    rounded_frame, rounded = features.mean_lengths(file.frame)
    for p, note in sorted(rounded.items()):
        stderr.print(f"{file.where(p)}: warning: {note}", style="yellow", markup=False, highlight=False,
                     soft_wrap=True)
    frame, reasons = _disaggregated_frame(rounded_frame)
    predicted: dict[int, pd.DataFrame] = {}
    usable = [p for p in range(len(frame)) if p not in reasons]
    try:
        whole = model.predict(frame.iloc[usable]) if usable else pd.DataFrame()
        predicted = {p: whole.iloc[[i]] for i, p in enumerate(usable)}
    except SurrogateError:  # find which rows: one at a time
        for p in usable:
            try:
                predicted[p] = model.predict(frame.iloc[[p]])
            except SurrogateError as exc:  # alone in its frame, the row is the physics' "row 0"
                reasons[p] = str(exc).replace("row 0: ", "")
    problems = [f"{file.where(p)}: {reason}" for p, reason in sorted(reasons.items())]
    for text in problems:
        stderr.print(text, markup=False, highlight=False, soft_wrap=True)
    if not predicted:
        return None, problems
    kept = sorted(predicted)
    predictions = pd.concat([predicted[p] for p in kept], ignore_index=True).drop(columns=["mode"])
    rows = file.frame.iloc[kept].reset_index(drop=True)
    combined = pd.concat([rows.drop(columns=[c for c in predictions.columns if c in rows.columns]), predictions],
                         axis=1)
    return _Block([file.lines[p] for p in kept], "disaggregated", combined, predictions,
                  frame.iloc[kept].reset_index(drop=True)), problems


# What a disaggregated CSV row must give (besides the required columns) and which of its cells are numbers.
_DISAGG_NEEDED = ["prefill_workers", "decode_workers", "concurrency"]
_DISAGG_NUMBERS = [*(f"{pool}_{name}" for pool in ("prefill", "decode")
                     for name in ("workers", "tp", "pp", "dp", "ep", "batch_size")),
                   "concurrency", "input_len", "output_len"]


def _disaggregated_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """Disaggregated rows with their numbers read, and ``{position: reason}`` for rows that lack a worker count,
    the client concurrency or a required value, hold a cell that is not a number, or give a request rate."""
    import pandas as pd

    from features.configs import REQUIRED_COLUMNS

    reasons: dict[int, str] = {}
    numbers = {c: pd.to_numeric(frame[c], errors="coerce") for c in _DISAGG_NUMBERS if c in frame}
    for p in range(len(frame)):
        row = frame.iloc[p]
        missing = [c for c in [*REQUIRED_COLUMNS, *_DISAGG_NEEDED] if c not in frame or pd.isna(row[c])]
        unreadable = [f"{c} {row[c]!r}" for c, values in numbers.items()
                      if pd.notna(row[c]) and pd.isna(values.iloc[p])]
        if missing:
            reasons[p] = (f"a disaggregated row needs {', '.join(missing)} (its worker counts and the client's "
                          "requests in flight describe the deployment)")
        elif unreadable:
            reasons[p] = f"not a number: {', '.join(unreadable)}"
        elif "request_rate_per_s" in frame and pd.notna(row["request_rate_per_s"]):
            reasons[p] = ("a disaggregated row is predicted at its client concurrency; request_rate_per_s (open-loop "
                          "traffic) is for aggregated rows only: leave it empty")
    return frame.assign(**numbers, mode="disaggregated"), reasons


def print_predictions(model: Any, rows: list[tuple[str, pd.Series, pd.Series]], predictions: pd.DataFrame) -> None:
    """Each row's description and prediction table (disaggregated rows as ``predict --prefill-workers`` shows
    them), then the warning when some are off the training data."""
    import pandas as pd

    for kind, row, prediction in rows:
        if kind == "disaggregated":  # as the flags would give it: empty cells None, counts whole numbers
            values = {str(k): None if pd.isna(v) else int(v) if isinstance(v, float) and v.is_integer() else v
                      for k, v in row.items()}
            workers = {name: values.get(name) for name in DISAGGREGATED_FLAGS}
            print_disaggregated(model, values, workers, as_json=False)
        else:
            stdout.print(describe_config(row), soft_wrap=True)
            stdout.print(report.prediction_table(prediction))
    aggregated = [(row, prediction) for kind, row, prediction in rows if kind != "disaggregated"]
    for warning in (report.off_support_warning(predictions),
                    report.kv_cache_warning([row for row, _ in aggregated], [p for _, p in aggregated])):
        if warning:
            stdout.print(warning, style="yellow", soft_wrap=True)


def predict_rows(model: Any, normalized: pd.DataFrame, rates: pd.Series) -> tuple[pd.DataFrame, dict[int, str]]:
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
