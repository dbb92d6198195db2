"""How held-out rows are drawn: a random k-fold split, one whole group at a time, or a deployment-like
extrapolation (larger batches, longer prompts, the newest engine release than any training row).

No heavy imports: the command line offers ``SPLITS`` as choices without loading the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from features.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SPLITS", "SPLIT_RULES", "DISAGGREGATED_SPLITS", "Fold", "fold_masks", "held_out_label",
           "disaggregated_folds"]

# Extrapolation thresholds (design choices, not measurements): train on small batches and short
# prompts, test on batches and prompts at least twice the largest trained-on value. Rows between the
# two thresholds are in neither side, so no test row sits next to a training row.
BATCH_TRAIN_MAX_SEQUENCES = 16
BATCH_TEST_MIN_SEQUENCES = 32
INPUT_TRAIN_MAX_TOKENS = 1024
INPUT_TEST_MIN_TOKENS = 2048

# Columns whose values are the groups of the leave-one-group-out splits (``vendor`` is looked up
# from the hardware catalog).
_GROUP_COLUMNS = ["hardware", "model", "framework", "source"]

SPLIT_RULES = {
    "random": "random k-fold (seeded)",
    "hardware": "leave one accelerator out",
    "model": "leave one model out",
    "framework": "leave one serving framework out",
    "source": "leave one data source out",
    "vendor": "leave one hardware vendor out (vendor from the hardware catalog)",
    "batch": f"train on sequences <= {BATCH_TRAIN_MAX_SEQUENCES}, test on sequences >= {BATCH_TEST_MIN_SEQUENCES} "
             "(sequences: concurrency under continuous batching, batch size under static)",
    "input_length": f"train on input_len <= {INPUT_TRAIN_MAX_TOKENS}, test on input_len >= {INPUT_TEST_MIN_TOKENS}",
    "version": "test on each framework's newest recorded release (packaging.version order), train on the rest "
               "(unparsable versions such as nightly builds, and unrecorded ones, stay in training)",
}
SPLITS = list(SPLIT_RULES)
# Splits that hold disaggregated rows out beside the aggregated ones: each rule applies to a row on its own
# (random draw, group value, threshold). ``version`` does not: each framework's newest release is decided
# over the aggregated rows, so the disaggregated rows are left unscored there (and counted).
DISAGGREGATED_SPLITS = [s for s in SPLITS if s != "version"]


class Fold(NamedTuple):
    """One division of a table's rows, as boolean masks by position; rows in neither are left out."""

    train: np.ndarray
    test: np.ndarray
    group: np.ndarray  # the held-out group's label for every row (read on test rows only)


def fold_masks(table: pd.DataFrame, split: str, seed: int | None, n_folds: int) -> list[Fold]:
    """Train and test masks, one pair per fold: seeded k-fold for ``random``, one fold per group value
    for the leave-one-out splits, a single fold for ``batch``, ``input_length`` and ``version``."""
    if split == "random":
        assignment = np.empty(len(table), dtype=np.int64)
        assignment[_content_order(table)] = np.random.default_rng(seed).permutation(len(table)) % n_folds
        return [Fold(assignment != k, assignment == k, np.full(len(table), str(k), dtype=object))
                for k in range(n_folds)]
    if split in _GROUP_COLUMNS or split == "vendor":
        groups = _vendors(table) if split == "vendor" else _column(table, split, split).astype(str).to_numpy()
        return [Fold(groups != g, groups == g, groups.astype(object)) for g in sorted(set(groups))]
    if split == "batch":
        return [_threshold_fold(_sequences(table), BATCH_TRAIN_MAX_SEQUENCES, BATCH_TEST_MIN_SEQUENCES,
                                "sequences")]
    if split == "input_length":
        lengths = _numbers(_column(table, "input_len", split))
        return [_threshold_fold(lengths, INPUT_TRAIN_MAX_TOKENS, INPUT_TEST_MIN_TOKENS, "input_len")]
    if split == "version":
        return [_newest_version_fold(table)]
    raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def held_out_label(fold: Fold) -> str:
    """The label of the rows a fold holds out (its fold number, group value or threshold)."""
    return str(fold.group[fold.test][0]) if fold.test.any() else ""


# What names a measurement, where a table has it (``surrogate data ingest`` writes it for every row).
_IDENTITY_COLUMNS = ["source", "source_file", "source_line"]


def _content_order(table: pd.DataFrame) -> np.ndarray:
    """The rows in an order of their own (by a hash of what names each: its source, file and line, else every
    column), so the same rows in any order draw the same random folds: the shared datasets read directly
    and the dataset `surrogate data ingest` writes hold the same rows in other orders, and once gave other
    random-split scores (TTFT 20.9% vs 21.4% median APE)."""
    import pandas as pd

    columns = _IDENTITY_COLUMNS if set(_IDENTITY_COLUMNS) <= set(table.columns) else list(table.columns)
    hashes = pd.util.hash_pandas_object(table[columns].astype(str), index=False).to_numpy()
    return np.argsort(hashes, kind="stable")


def disaggregated_folds(table: pd.DataFrame, split: str, seed: int | None, n_folds: int) -> dict[str, Fold]:
    """Disaggregated rows' folds by held-out label, each to be run with the aggregated fold of the same label
    (random fold number, held-out group, threshold). The random draw is the disaggregated rows' own, so the
    aggregated folds stay what they were without them; ``{}`` for a split not in ``DISAGGREGATED_SPLITS``."""
    if split not in DISAGGREGATED_SPLITS or table.empty:
        return {}
    return {held_out_label(fold): fold for fold in fold_masks(table, split, seed, n_folds) if fold.test.any()}


def _column(table: pd.DataFrame, name: str, split: str) -> pd.Series:
    if name not in table.columns:
        raise DataError(f"the {split} split needs a {name!r} column, which the table lacks; "
                        "ingest the data with `surrogate data ingest` (it writes every schema column)")
    return table[name]


def _numbers(column: pd.Series) -> np.ndarray:
    import pandas as pd

    values: np.ndarray = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return values


def _threshold_fold(values: np.ndarray, train_max: float, test_min: float, name: str) -> Fold:
    """Train on values <= ``train_max``, test on values >= ``test_min``; NaN and the middle in neither."""
    test = values >= test_min
    return Fold(values <= train_max, test, np.where(test, f"{name} >= {test_min:g}", "").astype(object))


def _sequences(table: pd.DataFrame) -> np.ndarray:
    """Sequences in flight: concurrency under continuous batching, batch size under static (as
    ``features.build`` counts them)."""
    continuous = _column(table, "batching", "batch").astype(str).eq("continuous").to_numpy()
    return np.where(continuous, _numbers(_column(table, "concurrency", "batch")),
                    _numbers(_column(table, "batch_size", "batch")))


def _vendors(table: pd.DataFrame) -> np.ndarray:
    """Each row's hardware vendor as the hardware catalog spells it."""
    from features import catalog

    hardware = _column(table, "hardware", "vendor").astype(str)
    vendors = catalog.hardware_table()["vendor"]
    unknown = sorted(set(hardware) - set(vendors.index))
    if unknown:
        raise DataError(f"hardware not in the catalog, so its vendor is unknown: {', '.join(unknown)}; "
                        "ingest the data with `surrogate data ingest` (it resolves hardware names)")
    labels: np.ndarray = hardware.map(vendors).astype(str).to_numpy(dtype=object)
    return labels


def _newest_version_fold(table: pd.DataFrame) -> Fold:
    """Test rows: each framework's newest parsable ``framework_version``; every other row trains."""
    from packaging.version import InvalidVersion, Version

    frameworks = _column(table, "framework", "version").astype(str).to_numpy()
    raw = _column(table, "framework_version", "version").astype("string").fillna("").to_numpy(dtype=object)
    parsed: list[Version | None] = []
    for text in raw:
        try:
            parsed.append(Version(text) if text else None)
        except InvalidVersion:
            parsed.append(None)
    newest: dict[str, Version] = {}
    for framework, version in zip(frameworks, parsed, strict=True):
        if version is not None and (framework not in newest or version > newest[framework]):
            newest[framework] = version
    test = np.array([v is not None and v == newest[f] for f, v in zip(frameworks, parsed, strict=True)], dtype=bool)
    group = np.where(test, frameworks.astype(object) + " " + raw, "").astype(object)
    return Fold(~test, test, group)
