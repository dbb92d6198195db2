"""The ingest cache gives back what a fresh ingest gives, and reads the sources again whenever they changed."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from surrogate.ingest import cache, load_shared
from surrogate.ingest.cache import INGEST_CACHE_ENV, KEPT_ENTRIES, cache_key, cached, ingest_cache_dir


class Counter:
    """A build function that says how often it ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        return {"calls": self.calls}


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(INGEST_CACHE_ENV, raising=False)
    root = tmp_path / "data"
    (root / "source").mkdir(parents=True)
    (root / "source" / "rows.csv").write_text("a,b\n1,2\n")
    return root


def test_a_second_load_reads_the_cache_not_the_sources(data: Path) -> None:
    build = Counter()
    assert cached(data, build) == {"calls": 1}
    assert cached(data, build) == {"calls": 1}
    assert build.calls == 1
    assert [p.name for p in ingest_cache_dir().iterdir()] == [f"{cache_key(data)}.pickle"]


def test_a_changed_or_added_data_file_reads_the_sources_again(data: Path) -> None:
    build = Counter()
    cached(data, build)
    (data / "source" / "rows.csv").write_text("a,b\n1,2\n3,4\n")
    assert cached(data, build) == {"calls": 2}
    (data / "source" / "more.csv").write_text("a,b\n")
    assert cached(data, build) == {"calls": 3}


def test_the_user_hardware_file_and_library_versions_are_in_the_key(data: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    hardware = tmp_path / "hardware.csv"
    monkeypatch.setenv("SURROGATE_HARDWARE_FILE", str(hardware))
    without = cache_key(data)
    hardware.write_text("id,vendor\nmy-cpu,intel\n")
    with_part = cache_key(data)
    monkeypatch.setattr(cache, "_version", lambda package: "0.0-other")
    assert len({without, with_part, cache_key(data)}) == 3


def test_an_entry_that_does_not_read_back_is_rebuilt(data: Path) -> None:
    build = Counter()
    cached(data, build)
    (ingest_cache_dir() / f"{cache_key(data)}.pickle").write_bytes(b"not a pickle")
    assert cached(data, build) == {"calls": 2}
    assert cached(data, build) == {"calls": 2}


def test_off_always_reads_the_sources(data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INGEST_CACHE_ENV, "off")
    build = Counter()
    cached(data, build)
    assert cached(data, build) == {"calls": 2}
    assert not ingest_cache_dir().exists()


def test_an_unwritable_cache_still_gives_the_result(data: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(blocker))  # its ingest/ folder cannot be made
    assert cached(data, Counter()) == {"calls": 1}


def test_only_the_newest_entries_are_kept(data: Path) -> None:
    for version in range(KEPT_ENTRIES + 2):
        (data / "source" / "rows.csv").write_text("x" * (version + 1))
        cached(data, Counter())
        os.utime(ingest_cache_dir() / f"{cache_key(data)}.pickle", ns=(version * 10**9, version * 10**9))
    kept = sorted(ingest_cache_dir().glob("*.pickle"))
    assert len(kept) == KEPT_ENTRIES and (ingest_cache_dir() / f"{cache_key(data)}.pickle") in kept
    assert not list(ingest_cache_dir().glob("*.part"))


def test_the_cached_shared_ingest_equals_a_fresh_one(shared_datasets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = load_shared(shared_datasets)  # written by this call, or by an earlier test of this session
    again = load_shared(shared_datasets)
    monkeypatch.setenv(INGEST_CACHE_ENV, "off")
    fresh = load_shared(shared_datasets)
    for result in (stored, again):
        pd.testing.assert_frame_equal(result.table, fresh.table)
        pd.testing.assert_frame_equal(result.measurements, fresh.measurements)
        assert result.account == fresh.account and result.accounts == fresh.accounts
