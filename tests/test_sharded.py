"""Large predictions in shards on worker processes (surrogate.model._sharded): the same table, row for row,
as one process gives; errors name the row of the whole table; a refitted bundle reaches the workers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import ConfigError
from surrogate.model import SurrogateModel, _sharded, _workers


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shard tables of a few hundred rows over two workers (the real threshold is 100,000 rows)."""
    monkeypatch.setattr(_sharded, "SHARDED_ROWS", 200)
    monkeypatch.setattr(_sharded, "_MIN_SHARD_ROWS", 100)
    monkeypatch.setattr(_sharded, "COLD_SHARDED_ROWS", 200)
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    monkeypatch.setattr(_workers, "_MIN_PARALLEL_WORK", 1)


def _rows() -> pd.DataFrame:
    from _tiny_model import synthetic_table

    table = synthetic_table().drop(columns=["latency_s", "ttft_s", "itl_s"])
    table = pd.concat([table] * 3, ignore_index=True)
    table["input_len"] = 100 + (table.index.to_numpy() * 37) % 3000  # inside and beyond the trained range
    table.index = table.index * 10 + 5  # labels that are not positions
    return table


def test_shards_give_the_table_one_process_gives(small_shards: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import tiny_model

    rows = _rows()
    assert _sharded.shards_for(len(rows)) == 2
    sharded = tiny_model().predict(rows)
    monkeypatch.setenv(_workers.JOBS_ENV, "1")
    assert _sharded.shards_for(len(rows)) == 1
    pd.testing.assert_frame_equal(sharded, tiny_model().predict(rows), check_exact=True)


def test_a_bad_row_is_named_as_one_process_names_it(small_shards: None) -> None:
    from _tiny_model import tiny_model

    rows = _rows()
    rows.loc[rows.index[-3], "tp"] = 3  # in the second shard: its devices are no longer tp*pp*dp
    with pytest.raises(ConfigError) as sharded:
        tiny_model().predict(rows)
    devices = rows.loc[rows.index[-3], "num_devices"]
    assert str(sharded.value) == f"row {rows.index[-3]}: num_devices {devices} != tp*pp*dp = 3"
    rows["tp"] = rows["tp"].astype(float)
    rows.loc[rows.index[-2], "tp"] = 2.5  # not a whole number: found while normalising, named by position
    with pytest.raises(ConfigError) as normalising:
        tiny_model().predict(rows)
    assert str(normalising.value) == f"column 'tp' must be a whole number; row {len(rows) - 2} has 2.5"


def test_a_refitted_bundle_reaches_the_workers(small_shards: None) -> None:
    from _tiny_model import synthetic_table

    rows = _rows()
    model = SurrogateModel(seed=0, n_estimators=5).fit(synthetic_table())
    first = model.predict(rows)
    slower = synthetic_table()
    slower[["latency_s", "ttft_s", "itl_s"]] *= 1.5
    model.fit(slower)
    second = model.predict(rows)
    assert (second["latency_s"] > first["latency_s"]).mean() > 0.9


def test_small_tables_and_work_inside_a_worker_stay_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_workers.JOBS_ENV, "2")
    monkeypatch.setattr(_workers, "_last_parallel_s", None)  # no workers started yet: only huge tables
    assert _sharded.shards_for(_sharded.COLD_SHARDED_ROWS - 1) == 1
    assert _sharded.shards_for(_sharded.COLD_SHARDED_ROWS) == 2
    assert _workers.start_workers() == 2 and _workers.workers_warm()
    assert _sharded.shards_for(_sharded.SHARDED_ROWS - 1) == 1
    assert _sharded.shards_for(_sharded.SHARDED_ROWS) == 2
    monkeypatch.setenv(_workers.JOBS_ENV, "8")
    assert _sharded.shards_for(_sharded.SHARDED_ROWS) == 2  # each shard at least 50,000 rows
    monkeypatch.setenv("SURROGATE_IN_WORKER", "1")
    assert _sharded.shards_for(10 * _sharded.SHARDED_ROWS) == 1


def test_shards_leave_no_files_behind(small_shards: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import tiny_model

    monkeypatch.setattr(_sharded, "SHARED_MEMORY_DIR", tmp_path)
    rows = _rows()
    seen: list[str] = []
    unpack = _sharded.PackedShard.unpack
    monkeypatch.setattr(_sharded.PackedShard, "unpack", lambda self: seen.append(self.path) or unpack(self))
    tiny_model().predict(rows)
    assert len(seen) == 1 and Path(seen[0]).parent == tmp_path  # the worker's shard came back through a file
    rows.loc[rows.index[-3], "tp"] = 3  # the last shard (predicted here) fails: the workers' files go too
    with pytest.raises(ConfigError):
        tiny_model().predict(rows)
    assert list(tmp_path.iterdir()) == []


def test_the_local_share_moves_halfway_to_where_both_would_finish_together() -> None:
    balance = _sharded._Balance()
    assert balance.local_share(2) == 0.5
    balance.record(2, local_rate=150_000.0, remote_rates=[50_000.0])  # together: 3/4 here
    assert balance.local_share(2) == pytest.approx(0.625)
    for _ in range(10):
        balance.record(2, local_rate=1e9, remote_rates=[1.0])  # never more than 1.5 times an equal share
    assert balance.local_share(2) == pytest.approx(0.75)
    for _ in range(2):  # 0.25 -> 0.125 -> 0.0625 unbounded: never less than half an equal share
        balance.record(4, local_rate=1.0, remote_rates=[1e9, 1e9, 1e9])
    assert balance.local_share(4) == pytest.approx(0.125)


def test_pieces_cover_the_rows_in_order_with_this_process_taking_its_share() -> None:
    rows = pd.DataFrame({"x": range(1000)})
    pieces = _sharded._pieces(rows, 3, 0.5)
    assert [len(p) for p in pieces] == [250, 250, 500]
    pd.testing.assert_frame_equal(pd.concat(pieces), rows)
