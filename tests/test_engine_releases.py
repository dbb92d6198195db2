"""scripts/engine_releases.py against a stand-in package index (no network): what it reads and writes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
from _scripts import load_script

SCRIPT = load_script("scripts/engine_releases.py", "engine_releases_script")

# The JSON API's shape (https://warehouse.pypa.io/api-reference/json.html), trimmed to what the script reads.
INDEX = {
    "vllm": {"releases": {
        "0.6.0": [{"upload_time_iso_8601": "2024-09-05T21:02:10.000Z"},
                  {"upload_time_iso_8601": "2024-09-05T20:15:01.000Z"}],
        "0.10.0": [{"upload_time_iso_8601": "2025-07-25T01:00:00.000Z"}],
        "0.9.0": [{"upload_time_iso_8601": "2025-05-28T00:00:00.000Z"}],
        "0.5.9": [],  # announced, nothing uploaded
    }},
    "sglang": {"releases": {"0.4.6": [{"upload_time_iso_8601": "2025-04-27T08:00:00.000Z"}]}},
}


def _client() -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        package = request.url.path.split("/")[2]
        if package not in INDEX:
            return httpx.Response(404)
        return httpx.Response(200, json=INDEX[package])

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_each_release_is_dated_by_its_first_upload_and_one_without_files_is_left_out() -> None:
    table = SCRIPT.releases("vllm", "vllm", index="https://index.test", client=_client())
    assert table.to_dict("records") == [
        {"framework": "vllm", "version": "0.6.0", "date": "2024-09-05",
         "source": "https://index.test/project/vllm/0.6.0/"},
        {"framework": "vllm", "version": "0.9.0", "date": "2025-05-28",
         "source": "https://index.test/project/vllm/0.9.0/"},
        {"framework": "vllm", "version": "0.10.0", "date": "2025-07-25",  # after 0.9.0 by date, not by text
         "source": "https://index.test/project/vllm/0.10.0/"},
    ]


def test_the_table_is_written_for_every_engine_in_the_catalogs_names(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SCRIPT, "PACKAGES", {"vllm": "vllm", "sglang": "sglang"})
    out = tmp_path / "releases.csv"
    assert SCRIPT.main(["--index", "https://index.test", "--out", str(out)], client=_client()) == 0
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["framework", "version", "date", "source"]
    assert list(zip(written["framework"], written["version"], strict=True)) == [
        ("vllm", "0.6.0"), ("vllm", "0.9.0"), ("vllm", "0.10.0"), ("sglang", "0.4.6")]


def test_the_packaged_table_names_only_known_engines_once_each() -> None:
    packaged = pd.read_csv(SCRIPT.DEFAULT_OUT, dtype=str)
    assert set(packaged["framework"]) == set(SCRIPT.PACKAGES)
    assert not packaged.duplicated(["framework", "version"]).any()
    assert packaged["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
