"""Searching a large candidate table with Optuna: TPE for one objective, NSGA-II for a Pareto front.

Each knob (hardware, framework, precisions, tp, pp, ep) is one parameter. The last knob (sequences per
replica, or replicas when the total concurrency is fixed) is not sampled: a trial evaluates every
value of it at once, since batched predictions make that nearly free, and reports the best
feasible one (the trial's "slice"). A sampled combination that is not a valid configuration (tp not
dividing the heads, fp8 on a GPU without fp8 units) is repaired to the nearest valid candidate.
The slice's pick is stored in the trial's ``config`` user attribute. Trials are asked in batches so
one surrogate call predicts many configurations. Memory and latency limits reach the sampler as Optuna constraints
(values > 0 are violations), never as penalties on the objective: named ``Trial.set_constraint``
values on Optuna 5 (which deprecated the sampler's ``constraints_func`` in its favour), the
sampler's ``constraints_func`` on older Optuna.

With a storage URL several processes share one study (``load_if_exists``); the result is built
from every finished trial of the study, whoever ran it. Journal files (``*.log``, ``*.journal`` or
``journal:PATH``) use ``JournalStorage(JournalFileBackend(path))``; ``*.db`` paths mean SQLite; any
other string goes to SQLAlchemy (``sqlite:///``, ``postgresql://``, ``mysql://``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.configs import CONFIG_COLUMNS
from features.errors import ConfigError, DataError
from surrogate.optimize._request import JOURNAL_SUFFIXES, SQLITE_SUFFIXES, Objective
from surrogate.optimize._scoring import CONSTRAINT_COLUMNS, constraint_matrix, objective_matrix

if TYPE_CHECKING:  # Optuna is imported when a study runs: `surrogate --help` need not load it.
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial, Trial

__all__ = ["StudySettings", "StudyOutcome", "open_storage", "run_study", "SEARCH_DIMENSIONS",
           "config_from_attrs"]

# Knobs as Optuna parameters; mismatch costs when repairing an invalid combination (categorical
# mismatch counts this much, numeric knobs count their distance in powers of two).
_CATEGORICAL_WEIGHT = {"hardware": 8.0, "framework": 4.0, "weight_dtype": 2.0, "kv_dtype": 1.0}
_NUMERIC = ("tp", "pp", "dp", "ep", "concurrency")
SEARCH_DIMENSIONS = (*_CATEGORICAL_WEIGHT, *_NUMERIC)
# Two workers starting on a fresh database race to create its tables; the loser retries.
_CREATE_ATTEMPTS = 5
_CREATE_RETRY_S = 0.5
# The SQLSTATEs of that race on PostgreSQL that SQLAlchemy reports as a ProgrammingError: the table or type the
# other worker created first (42P07 duplicate_table, 42710 duplicate_object). Every other ProgrammingError (a
# permission, a bad database) is the user's to fix and fails at once.
_CREATE_RACE_SQLSTATES = frozenset({"42P07", "42710"})


@dataclass(frozen=True)
class StudySettings:
    """How to run the Optuna study."""

    trials: int
    seed: int | None
    storage: str | None = None
    study_name: str | None = None
    trials_per_batch: int = 16
    pareto: bool = False


@dataclass(frozen=True)
class StudyOutcome:
    """Every candidate row the study evaluated (positions, ascending), its name, and the trials in order."""

    indices: np.ndarray
    study_name: str
    history: pd.DataFrame = field(metadata={"help": "number, worker, feasible, value_0.. per finished trial"})


def open_storage(url: str) -> str | BaseStorage:
    """An Optuna storage for ``url``: journal files and bare SQLite paths, else the URL as given."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    text = str(url)
    if text.startswith("journal:"):
        return JournalStorage(JournalFileBackend(text.removeprefix("journal:")))
    if "://" not in text and text.endswith(JOURNAL_SUFFIXES):
        return JournalStorage(JournalFileBackend(text))
    if "://" not in text and text.endswith(SQLITE_SUFFIXES):
        return f"sqlite:///{text}"
    if "://" not in text:
        raise ConfigError(f"--storage {text!r} is neither a database URL (sqlite:///study.db, "
                          "postgresql://user@host/db) nor a journal file (*.log, *.journal)")
    return text


def _constraints(trial: FrozenTrial) -> Sequence[float]:
    violations: list[float] = trial.user_attrs["constraints"]
    return violations


class _Space:
    """The candidate table encoded for nearest-valid lookups, cut into slices along ``profiled``."""

    def __init__(self, candidates: pd.DataFrame, dims: list[str], profiled: str | None) -> None:
        self.candidates = candidates
        self.dims = [d for d in dims if d != profiled]
        self.profiled = profiled
        self.choices: dict[str, list[Any]] = {}
        self.encoded: dict[str, np.ndarray] = {}
        for dim in self.dims:
            values = candidates[dim]
            if dim in _NUMERIC:
                self.choices[dim] = sorted(int(v) for v in pd.unique(values))
                self.encoded[dim] = np.log2(values.to_numpy(dtype=float))
            else:
                self.choices[dim] = sorted(str(v) for v in pd.unique(values))
                self.encoded[dim] = values.astype(str).to_numpy()
        keys = [candidates[d].astype(str) for d in self.dims]
        self.slice_of: npt.NDArray[np.intp] = (pd.MultiIndex.from_arrays(keys).factorize()[0] if keys
                         else np.zeros(len(candidates), dtype=np.int64))
        order = np.argsort(self.slice_of, kind="stable")
        bounds = np.searchsorted(self.slice_of[order], np.arange(self.slice_of.max() + 2))
        self.members = [order[bounds[k]:bounds[k + 1]] for k in range(len(bounds) - 1)]

    def key(self, config: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(config.get(d)) for d in self.dims)

    def slice_by_key(self) -> dict[tuple[str, ...], int]:
        rows = self.candidates[self.dims].astype(str).itertuples(index=False, name=None)
        return {tuple(r): int(s) for r, s in zip(rows, self.slice_of, strict=True)}

    def params(self, index: int) -> dict[str, Any]:
        """The parameters that select candidate ``index`` (for ``enqueue_trial``)."""
        row = self.candidates.iloc[index]
        return {dim: int(row[dim]) if dim in _NUMERIC else str(row[dim]) for dim in self.dims}

    def suggest(self, trial: Trial) -> dict[str, Any]:
        return {dim: trial.suggest_categorical(dim, self.choices[dim]) for dim in self.dims}

    def nearest_slices(self, points: list[dict[str, Any]]) -> np.ndarray:
        """The slice of the candidate closest to each sampled point (exact match when valid)."""
        distance = np.zeros((len(points), len(self.candidates)))
        for dim in self.dims:
            column = self.encoded[dim]
            if dim in _NUMERIC:
                wanted = np.log2(np.array([p[dim] for p in points], dtype=float))
                distance += np.abs(column[None, :] - wanted[:, None])
            else:
                wanted_text = np.array([str(p[dim]) for p in points])
                distance += _CATEGORICAL_WEIGHT[dim] * (column[None, :] != wanted_text[:, None])
        nearest: npt.NDArray[np.intp] = np.argmin(distance, axis=1)
        return self.slice_of[nearest]


def _pick(scored: pd.DataFrame, objective: Objective) -> int:
    """Position of the slice's best feasible row, else of its least violating row."""
    violation = np.clip(constraint_matrix(scored), 0.0, None).sum(axis=1)
    value = scored[objective.column].to_numpy(dtype=float)
    key = np.where(violation > 0, np.inf, -value if objective.maximize else value)
    if np.isfinite(key).any():
        return int(np.argmin(key))
    return int(np.argmin(violation))


def config_from_attrs(attrs: dict[str, Any]) -> dict[str, Any] | None:
    config = attrs.get("config")
    return dict(config) if isinstance(config, dict) else None


def _jsonable_config(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in CONFIG_COLUMNS:
        value = row[column]
        if isinstance(value, np.generic):
            value = value.item()
        if value is pd.NA or (isinstance(value, float) and not np.isfinite(value)):
            continue
        out[column] = value
    return out


def _check_request(study: optuna.Study, request: dict[str, Any]) -> None:
    """Refuse to mix trials of different requests in one study."""
    stored = study.user_attrs.get("request")
    wanted = json.loads(json.dumps(request))
    if stored is None:
        study.set_user_attr("request", wanted)
    elif stored != wanted:
        differs = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise ConfigError(f"study '{study.study_name}' was created for another request (differs in: "
                          f"{', '.join(differs)}); pick a new --study-name")


def _open_study(settings: StudySettings, objectives: tuple[Objective, ...]) -> optuna.Study:
    """Create or load the study; retry when another worker is creating the same database schema."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    directions: list[Literal["minimize", "maximize"]] = ["maximize" if o.maximize else "minimize" for o in objectives]
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            storage = open_storage(settings.storage) if settings.storage else None
            return optuna.create_study(storage=storage, study_name=settings.study_name, load_if_exists=True,
                                       sampler=_sampler(settings), directions=directions)
        except ImportError as exc:  # optuna's RDB storage without the database's driver module
            scheme = (settings.storage or "").split(":", 1)[0]
            raise DataError(f"the {scheme} storage needs its Python database driver, which is not installed "
                            f"({exc}); for PostgreSQL: pip install \"psycopg[binary]\"") from exc
        except (OperationalError, IntegrityError, ProgrammingError) as exc:
            if isinstance(exc, ProgrammingError) and getattr(exc.orig, "sqlstate", None) not in _CREATE_RACE_SQLSTATES:
                raise
            if attempt == _CREATE_ATTEMPTS - 1:
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                raise DataError(f"cannot open the study storage {settings.storage!r} after {_CREATE_ATTEMPTS} "
                                f"attempts: {reason}; check that the database server is running and "
                                "the URL, user and database name are right") from exc
            time.sleep(_CREATE_RETRY_S * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _trial_constraints() -> bool:
    """Optuna 5 reads constraints set on the trial; older versions need the sampler's constraints_func."""
    from optuna.trial import Trial

    return hasattr(Trial, "set_constraint")


def _sampler(settings: StudySettings) -> optuna.samplers.BaseSampler:
    import optuna

    # None is both samplers' default (Optuna >= 3.5), so Optuna 5 sees no deprecated argument.
    constraints_func = None if _trial_constraints() else _constraints
    if settings.pareto:
        population = int(np.clip(settings.trials // 10, 8, 50))
        return optuna.samplers.NSGAIISampler(population_size=population, seed=settings.seed,
                                             constraints_func=constraints_func)
    return optuna.samplers.TPESampler(seed=settings.seed, multivariate=True,
                                      n_startup_trials=min(20, max(settings.trials // 10, 5)),
                                      constraints_func=constraints_func)


def _set_constraints(trial: Trial, violations: np.ndarray) -> None:
    values = [float(v) for v in violations]
    if _trial_constraints():
        for name, value in zip(CONSTRAINT_COLUMNS, values, strict=True):
            trial.set_constraint(name, value)
    else:  # pragma: no cover - Optuna < 5
        trial.set_user_attr("constraints", values)


def run_study(candidates: pd.DataFrame, dims: list[str], objectives: tuple[Objective, ...],
              evaluate: Callable[[np.ndarray], pd.DataFrame], settings: StudySettings, request: dict[str, Any],
              progress: Callable[[int, int], None] | None = None, first: Sequence[int] = (),
              profiled: str | None = None) -> StudyOutcome:
    """Run ``settings.trials`` trials; return every configuration the study evaluated.

    ``dims`` are the sampled knobs and ``profiled`` the one each trial sweeps whole.
    ``evaluate(indices)`` scores candidate rows (``surrogate.scoring.score`` columns); ``first`` are
    candidate rows whose slices are tried before sampling (``enqueue_trial``; skipped when the study
    already has them). The outcome covers every finished trial of the study, whichever process ran it.
    """
    import optuna

    # Each trial is an internal slice, not news to the user: Optuna's per-trial log lines are muted
    # while this study runs, and the caller's verbosity is restored afterwards.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _run(candidates, dims, objectives, evaluate, settings, request, progress, first, profiled)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _run(candidates: pd.DataFrame, dims: list[str], objectives: tuple[Objective, ...],
         evaluate: Callable[[np.ndarray], pd.DataFrame], settings: StudySettings, request: dict[str, Any],
         progress: Callable[[int, int], None] | None, first: Sequence[int], profiled: str | None) -> StudyOutcome:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    study = _open_study(settings, objectives)
    _check_request(study, request)
    space = _Space(candidates, dims, profiled)
    for index in first:
        study.enqueue_trial(space.params(int(index)), skip_if_exists=True)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    done = 0
    while done < settings.trials:
        asked = [study.ask() for _ in range(min(settings.trials_per_batch, settings.trials - done))]
        slices = space.nearest_slices([space.suggest(trial) for trial in asked])
        wanted = np.unique(np.concatenate([space.members[s] for s in slices]))
        scored = evaluate(wanted).set_index(pd.Index(wanted))
        for trial, slice_id in zip(asked, slices, strict=True):
            rows = scored.loc[space.members[slice_id]]
            pick = rows.iloc[_pick(rows, objectives[0])]
            values = [float(v) for v in objective_matrix(pick.to_frame().T, objectives)[0]]
            try:
                trial.set_user_attr("config", _jsonable_config(pick))
                _set_constraints(trial, constraint_matrix(pick.to_frame().T)[0])
                trial.set_user_attr("worker", worker)
                study.tell(trial, values if len(values) > 1 else values[0])
            except UpdateFinishedTrialError:
                # Another process sharing the study took the same waiting (enqueued) trial and finished it
                # first: SQLite has no row locks, so two workers can pop one. Its result stands, and this
                # worker asks again, so each worker still finishes the trials it was asked for.
                continue
            done += 1
        if progress:
            progress(done, settings.trials)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    history = pd.DataFrame({
        "number": [t.number for t in finished],
        "worker": [t.user_attrs.get("worker", "") for t in finished],
        "feasible": [all(v <= 0 for v in t.constraints.values()) for t in finished],
        **{f"value_{k}": [t.values[k] for t in finished] for k in range(len(objectives))},
    }).sort_values("number", ignore_index=True)
    lookup = space.slice_by_key()
    touched = {lookup[space.key(c)] for c in (config_from_attrs(t.user_attrs) for t in finished)
               if c is not None and space.key(c) in lookup}
    indices = np.sort(np.concatenate([space.members[s] for s in touched])) if touched else np.array([], dtype=int)
    return StudyOutcome(indices, study.study_name, history)
