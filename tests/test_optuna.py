"""The Optuna layer: storage strings, batched trials over slices, repair to valid candidates, shared studies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from features.errors import ConfigError
from surrogate.model import AnalyticPredictor
from surrogate.optimize import (
    CONSTRAINT_COLUMNS,
    OBJECTIVES,
    Inventory,
    SearchSpace,
    Targets,
    Workload,
    enumerate_candidates,
    open_storage,
    score,
)
from surrogate.optimize._optuna import StudyOutcome, StudySettings, _pick, _Space, run_study

LLAMA_8B = "meta-llama/Meta-Llama-3-8B"
# Sampled knobs of the candidate table below; each trial sweeps the sequences per replica whole.
DIMS = ["hardware", "framework", "weight_dtype", "kv_dtype", "tp", "pp"]
PROFILED = "concurrency"
THROUGHPUT = (OBJECTIVES["throughput"],)
REQUEST = {"workload": [LLAMA_8B, 512, 128]}


@pytest.fixture(scope="module")
def candidates() -> pd.DataFrame:
    inventory = Inventory.parse(["h100-sxm:2", "a100-sxm4-80gb:2"])
    space = SearchSpace(frameworks=("vllm", "sglang"), max_sequences=8)
    return enumerate_candidates(inventory, Workload(LLAMA_8B, 512, 128), space).configs


@pytest.fixture(scope="module")
def scored(candidates: pd.DataFrame) -> pd.DataFrame:
    return score(candidates, AnalyticPredictor().predict(candidates, normalized=True), Targets())


class _Evaluate:
    """Scores candidate rows from a precomputed table and records every call."""

    def __init__(self, scored: pd.DataFrame) -> None:
        self.scored = scored
        self.calls: list[np.ndarray] = []

    def __call__(self, indices: np.ndarray) -> pd.DataFrame:
        self.calls.append(np.asarray(indices).copy())
        return self.scored.iloc[indices].reset_index(drop=True)

    def evaluated(self) -> set[int]:
        return {int(i) for call in self.calls for i in call}


def _slice_rows(candidates: pd.DataFrame, index: int) -> set[int]:
    """Positions of the candidates sharing every sampled knob with row ``index``."""
    same = (candidates[DIMS] == candidates.loc[index, DIMS]).all(axis=1).to_numpy()
    return {int(i) for i in np.flatnonzero(same)}


def _run(candidates: pd.DataFrame, evaluate: _Evaluate, settings: StudySettings,
         request: dict[str, object] | None = None, first: tuple[int, ...] = (),
         progress: Callable[[int, int], None] | None = None) -> StudyOutcome:
    return run_study(candidates, DIMS, THROUGHPUT, evaluate, settings, request or REQUEST, progress, first, PROFILED)


@pytest.mark.parametrize("name", ["study.log", "study.journal"])
def test_journal_file_suffixes_open_a_journal_storage(tmp_path: Path, name: str) -> None:
    assert isinstance(open_storage(str(tmp_path / name)), optuna.storages.JournalStorage)


def test_journal_prefix_opens_a_journal_whatever_the_suffix(tmp_path: Path) -> None:
    assert isinstance(open_storage(f"journal:{tmp_path / 'trials.txt'}"), optuna.storages.JournalStorage)


@pytest.mark.parametrize(("text", "url"), [
    ("x.db", "sqlite:///x.db"),
    ("runs/x.sqlite3", "sqlite:///runs/x.sqlite3"),
    ("sqlite:///x.db", "sqlite:///x.db"),
    ("postgresql://user@host/db", "postgresql://user@host/db"),
])
def test_database_paths_become_urls_and_urls_pass_through(text: str, url: str) -> None:
    assert open_storage(text) == url


def test_a_bogus_storage_string_says_what_is_accepted() -> None:
    with pytest.raises(ConfigError) as info:
        open_storage("my-study")
    assert str(info.value) == ("--storage 'my-study' is neither a database URL (sqlite:///study.db, "
                               "postgresql://user@host/db) nor a journal file (*.log, *.journal)")


def test_trials_are_asked_in_batches_and_return_evaluated_candidate_positions(candidates: pd.DataFrame,
                                                                             scored: pd.DataFrame) -> None:
    evaluate = _Evaluate(scored)
    progress: list[tuple[int, int]] = []
    outcome = _run(candidates, evaluate, StudySettings(trials=10, seed=0, trials_per_batch=4),
                   progress=lambda done, total: progress.append((done, total)))
    assert progress == [(4, 10), (8, 10), (10, 10)]
    assert len(evaluate.calls) == 3  # one surrogate call per batch of trials
    assert outcome.history["number"].tolist() == list(range(10))
    indices = outcome.indices.tolist()
    assert indices == sorted(set(indices)) and all(0 <= i < len(candidates) for i in indices)
    # Every evaluated row comes back, and nothing that was not evaluated.
    assert set(indices) == evaluate.evaluated()
    for call in evaluate.calls:  # a trial evaluates its slice whole (every sequences-per-replica value)
        rows = {int(i) for i in call}
        assert all(_slice_rows(candidates, i) <= rows for i in rows)


def test_an_enqueued_row_is_the_first_trial(candidates: pd.DataFrame, scored: pd.DataFrame) -> None:
    slow = int(scored["throughput_per_device_tok_s"].idxmin())  # a slice the sampler has no reason to favour
    evaluate = _Evaluate(scored)
    outcome = _run(candidates, evaluate, StudySettings(trials=1, seed=0, trials_per_batch=1), first=(slow,))
    assert {int(i) for i in evaluate.calls[0]} == _slice_rows(candidates, slow)
    assert set(outcome.indices.tolist()) == _slice_rows(candidates, slow)
    # The trial reports the slice's best feasible row.
    members = scored.iloc[sorted(_slice_rows(candidates, slow))]
    best = members.loc[members["feasible"], "throughput_per_device_tok_s"].max()
    assert outcome.history.loc[0, "value_0"] == pytest.approx(best)


def test_enqueued_rows_come_before_sampled_ones(candidates: pd.DataFrame, scored: pd.DataFrame) -> None:
    order = scored["throughput_per_device_tok_s"].sort_values().index
    first = (int(order[0]), int(order[len(order) // 2]))
    evaluate = _Evaluate(scored)
    _run(candidates, evaluate, StudySettings(trials=6, seed=0, trials_per_batch=4), first=first)
    assert all(_slice_rows(candidates, i) <= {int(j) for j in evaluate.calls[0]} for i in first)


def test_same_seed_same_outcome(candidates: pd.DataFrame, scored: pd.DataFrame) -> None:
    settings = StudySettings(trials=12, seed=5, trials_per_batch=4)
    one, two = _Evaluate(scored), _Evaluate(scored)
    first, second = _run(candidates, one, settings), _run(candidates, two, settings)
    assert np.array_equal(first.indices, second.indices)
    columns = ["number", "feasible", "value_0"]
    pd.testing.assert_frame_equal(first.history[columns], second.history[columns])
    assert all(np.array_equal(a, b) for a, b in zip(one.calls, two.calls, strict=True))


def test_a_journal_study_resumes_and_refuses_another_request(candidates: pd.DataFrame, scored: pd.DataFrame,
                                                             tmp_path: Path) -> None:
    settings = StudySettings(trials=4, seed=0, storage=str(tmp_path / "study.log"), study_name="s",
                             trials_per_batch=4)
    _run(candidates, _Evaluate(scored), settings)
    again = _run(candidates, _Evaluate(scored), settings)
    assert again.study_name == "s" and len(again.history) == 8  # both runs' trials
    refused = _Evaluate(scored)
    with pytest.raises(ConfigError) as info:
        _run(candidates, refused, settings, request={"workload": [LLAMA_8B, 1024, 128]})
    assert str(info.value) == ("study 's' was created for another request (differs in: workload); "
                               "pick a new --study-name")
    assert refused.calls == []  # refused before any trial ran


def test_a_trial_another_worker_finished_first_is_left_to_it(candidates: pd.DataFrame, scored: pd.DataFrame,
                                                             tmp_path: Path) -> None:
    """Two processes on one SQLite study can pop the same enqueued trial (no row locks); the one that tells
    second must not fail (CI once saw ``UpdateFinishedTrialError`` from ``--storage sqlite:///...``)."""
    import optuna

    storage = f"sqlite:///{tmp_path}/study.db"
    settings = StudySettings(trials=4, seed=0, storage=storage, study_name="s", trials_per_batch=4)

    class _OtherWorkerFinishesFirst(_Evaluate):
        def __call__(self, indices: np.ndarray) -> pd.DataFrame:
            if not self.calls:  # the other worker pops one trial, once
                other = optuna.load_study(study_name="s", storage=storage)
                for trial in other.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))[:1]:
                    other.tell(trial.number, 1.0)  # the other worker's answer for the same trial
            return super().__call__(indices)

    outcome = _run(candidates, _OtherWorkerFinishesFirst(scored), settings, first=(0,))
    # This worker still finishes the four trials it was asked for (it asks once more); the fifth is
    # the one the other worker finished first, and its answer stands (CI once counted 31 of 2 x 16).
    assert len(outcome.history) == 5
    assert sorted(outcome.history["value_0"].tolist()).count(1.0) == 1


def test_an_invalid_combination_is_repaired_to_the_nearest_candidate(candidates: pd.DataFrame) -> None:
    space = _Space(candidates, DIMS, PROFILED)
    assert PROFILED not in space.dims
    valid = space.params(0)
    assert space.nearest_slices([valid])[0] == space.slice_of[0]  # a valid point is its own slice
    # A100 has no fp8 units: fp8 weights there are repaired to its 16-bit weights, not moved to an H100.
    wanted = {"hardware": "a100-sxm4-80gb", "framework": "vllm", "weight_dtype": "fp8", "kv_dtype": "fp8",
              "tp": 2, "pp": 1}
    assert not ((candidates[DIMS] == pd.Series(wanted)).all(axis=1)).any()
    members = candidates.iloc[space.members[space.nearest_slices([wanted])[0]]]
    assert members[DIMS].drop_duplicates().to_dict("records") == [{**wanted, "weight_dtype": "bf16"}]


def _slice_frame(values: list[float], violations: list[list[float]]) -> pd.DataFrame:
    frame = pd.DataFrame(violations, columns=CONSTRAINT_COLUMNS)
    frame["throughput_per_device_tok_s"] = values
    frame["latency_s"] = values
    return frame


def test_pick_takes_the_best_feasible_row_else_the_least_violating() -> None:
    ok, bad = [-1.0, 0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0, 0.0]
    frame = _slice_frame([900.0, 300.0, 500.0], [bad, ok, ok])
    assert _pick(frame, OBJECTIVES["throughput"]) == 2
    assert _pick(frame, OBJECTIVES["latency"]) == 1
    none_ok = _slice_frame([900.0, 300.0, 500.0], [[2.0, 0.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.3, 0.0, 0.0],
                                                   [0.0, 0.0, 0.0, 0.0, 1.0]])  # the last: short of capacity
    assert _pick(none_ok, OBJECTIVES["throughput"]) == 1  # total violation 0.8 < 1.0 < 2.0


class _PostgresError(Exception):
    """What psycopg raises, as far as the retry reads it: its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate", ["42P07", "42710"])
def test_losing_the_race_to_create_a_postgres_schema_is_retried(monkeypatch: pytest.MonkeyPatch,
                                                                 sqlstate: str) -> None:
    """Workers starting together on a fresh PostgreSQL database race to create Optuna's tables; the loser's
    CREATE TABLE fails with duplicate_table (CI saw it: 'relation "studies" already exists'), and it must load
    the study the winner made."""
    from sqlalchemy.exc import ProgrammingError

    from surrogate.optimize import _optuna

    real, calls = optuna.create_study, []

    def racing(**kwargs: object) -> optuna.Study:
        calls.append(kwargs)
        if len(calls) == 1:
            raise ProgrammingError("CREATE TABLE studies", {}, _PostgresError(sqlstate))
        return real(**{**kwargs, "storage": None})

    monkeypatch.setattr(optuna, "create_study", racing)
    monkeypatch.setattr(_optuna, "_CREATE_RETRY_S", 0.0)
    study = _optuna._open_study(StudySettings(trials=1, seed=0, storage="postgresql://h/db", study_name="s"),
                                THROUGHPUT)
    assert len(calls) == 2 and study.directions == [optuna.study.StudyDirection.MAXIMIZE]


def test_another_postgres_programming_error_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """A permission denied (42501) is the user's to fix: it surfaces at once, not after five attempts."""
    from sqlalchemy.exc import ProgrammingError

    from surrogate.optimize import _optuna

    calls = []

    def denied(**kwargs: object) -> optuna.Study:
        calls.append(kwargs)
        raise ProgrammingError("CREATE TABLE studies", {}, _PostgresError("42501"))

    monkeypatch.setattr(optuna, "create_study", denied)
    with pytest.raises(ProgrammingError):
        _optuna._open_study(StudySettings(trials=1, seed=0, storage="postgresql://h/db", study_name="s"), THROUGHPUT)
    assert len(calls) == 1
