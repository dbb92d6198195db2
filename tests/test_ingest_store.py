"""The parquet dataset: ingesting the same thing twice adds nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.errors import MissingPathError
from surrogate.ingest.store import default_data_dir, ingest_into, read_log, read_measurements, read_table

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_second_ingest_adds_nothing(tmp_path: Path) -> None:
    first = ingest_into("aiconfigurator", FIXTURES / "aiconfigurator", tmp_path)
    table_before = read_table(tmp_path)
    second = ingest_into("aiconfigurator", FIXTURES / "aiconfigurator", tmp_path)
    a = second.account
    accepted = first.account.rows_read - first.account.rejected
    assert (a.kept, a.already_stored, a.merged, a.rejected) == (0, accepted, accepted, first.account.rejected)
    assert a.adds_up
    pd.testing.assert_frame_equal(read_table(tmp_path), table_before)
    assert len(read_measurements(tmp_path)) == accepted
    assert [entry["kept"] for entry in read_log(tmp_path)] == [first.account.kept, 0]


def test_sources_accumulate_in_one_dataset(tmp_path: Path) -> None:
    ingest_into("aiconfigurator", FIXTURES / "aiconfigurator", tmp_path)
    result = ingest_into("csv", FIXTURES / "csv" / "my_measurements.csv", tmp_path)
    assert sorted(read_table(tmp_path)["source"].unique()) == ["aiconfigurator", "csv"]
    assert len(result.table) == len(read_table(tmp_path))


def test_reading_before_ingesting_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError, match="surrogate data ingest"):
        read_table(tmp_path / "nothing")


def test_data_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SURROGATE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == tmp_path / "surrogate-data"
    monkeypatch.setenv("SURROGATE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert default_data_dir() == tmp_path / "elsewhere"
