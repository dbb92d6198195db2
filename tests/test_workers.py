"""Independent training fits in worker processes (surrogate.model._workers): same results, in order."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError
from surrogate.model import _workers
from surrogate.model._bundle import MedianFitter
from surrogate.model._calibration import out_of_fold


def test_jobs_reads_the_environment_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_workers.JOBS_ENV, "3")
    assert _workers.jobs() == 3
    monkeypatch.setenv(_workers.JOBS_ENV, "0")
    with pytest.raises(ConfigError, match="SURROGATE_JOBS='0' must be a whole number of worker processes, 1 or more"):
        _workers.jobs()
    monkeypatch.delenv(_workers.JOBS_ENV)
    assert 1 <= _workers.jobs() <= 8


def test_results_come_back_in_task_order_in_workers_and_here(monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = [partial(pow, 2, k) for k in range(6)]
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    assert _workers.run_all(tasks, work=10**9) == [1, 2, 4, 8, 16, 32]
    assert _workers.run_all(tasks, work=1) == [1, 2, 4, 8, 16, 32]  # small: in this process


def test_held_out_fits_in_workers_equal_fits_one_after_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import synthetic_table, tiny_model

    _, est, feats = tiny_model()._physics(synthetic_table())
    target = np.log(synthetic_table()["itl_s"].to_numpy() / est["itl_s"].to_numpy())
    folds = np.arange(len(target)) % 4
    fitter = MedianFitter(learning_rate=0.1, num_leaves=7, min_child_samples=5, seed=0, rounds=15)
    monkeypatch.setenv(_workers.JOBS_ENV, "1")
    serial = out_of_fold(fitter, feats, target, folds)
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    monkeypatch.setattr(_workers, "_MIN_PARALLEL_WORK", 0)
    parallel = out_of_fold(fitter, feats, target, folds)
    assert np.isfinite(serial).all()
    np.testing.assert_array_equal(parallel, serial)


def test_evaluation_folds_in_workers_equal_folds_one_after_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import synthetic_table

    from surrogate.model import cross_validate

    table = synthetic_table()
    messages: list[tuple[str, float]] = []
    monkeypatch.setenv(_workers.JOBS_ENV, "1")
    serial = cross_validate(table, "framework", n_estimators=10)
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    monkeypatch.setattr(_workers, "_MIN_PARALLEL_WORK", 0)
    parallel = cross_validate(table, "framework", n_estimators=10,
                              progress=lambda message, fraction: messages.append((message, fraction)))
    pd.testing.assert_frame_equal(parallel.predictions, serial.predictions)
    assert parallel.summary == serial.summary
    assert messages[0] == ("framework: 3 folds in 2 worker processes", 0.0)
    assert [m for m, _ in messages[1:-1]] == [f"framework: {k}/3 folds done" for k in (1, 2, 3)]
    assert messages[-1] == ("done", 1.0)


def test_loops_take_every_core_on_large_batches_but_one_in_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_workers, "usable_cores", lambda: 2)
    monkeypatch.delenv("SURROGATE_IN_WORKER", raising=False)
    assert _workers.threads_for(200_000) == 2
    assert _workers.threads_for(9_999) == 1  # a thread costs more than it saves on a small batch
    monkeypatch.setenv("SURROGATE_IN_WORKER", "1")  # its sibling workers have the other cores
    assert _workers.in_worker() and _workers.threads_for(200_000) == 1


def _where_and_threads() -> tuple[int, int]:
    import os

    return os.getpid(), _workers.threads_for(10**6)


def _refuse() -> int:
    raise ConfigError("row 3: a bad shard")


def test_the_local_task_runs_here_on_one_core_beside_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    monkeypatch.setattr(_workers, "usable_cores", lambda: 2)
    assert _workers.threads_for(10**6) == 2  # alone, this process may use both cores
    [(remote_pid, remote_threads)], (local_pid, local_threads) = _workers.run_beside([_where_and_threads],
                                                                                     _where_and_threads)
    assert local_pid == os.getpid() and remote_pid != os.getpid()
    assert remote_threads == 1 and local_threads == 1
    assert _workers.threads_for(10**6) == 2  # and again after
    assert _workers.workers_warm()


def test_a_worker_failure_beside_is_raised_here_after_the_local_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    done: list[int] = []
    with pytest.raises(ConfigError, match="row 3: a bad shard"):
        _workers.run_beside([_refuse], lambda: done.append(1) or 1)
    assert done == [1]


def test_results_of_workers_are_discarded_when_the_local_task_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    dropped: list[int] = []
    with pytest.raises(ConfigError, match="row 3: a bad shard"):
        _workers.run_beside([partial(pow, 2, 5)], _refuse, dropped.append)
    assert dropped == [32]


def test_results_that_came_back_are_discarded_when_a_later_worker_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    dropped: list[int] = []
    with pytest.raises(ConfigError, match="row 3: a bad shard"):
        _workers.run_beside([partial(pow, 2, 5), _refuse], partial(pow, 2, 1), dropped.append)
    assert dropped == [32]
