"""Date every published release of the engines: python scripts/engine_releases.py [--index URL].

Writes ``features/data/engine_releases.csv`` (framework, version, date, source): for each release of vLLM,
TensorRT-LLM and SGLang on the Python Package Index, the day its first file was uploaded. ``features.versions``
dates a version with it, so a release the shared data never names (vLLM 0.6-0.10, TensorRT-LLM 0.x, SGLang
0.4) gets its own date instead of the nearest data-named one's: before this table vLLM 0.6.0 through 0.11.1
were all dated 2024-08-28 (0.5.2's, named by MLPerf v4.1), 16 months of releases on one day, and SGLang 0.4.6
took 2025-12-15, the oldest date aiconfigurator stamps on any SGLang row.

Needs the network (the index's JSON API, https://warehouse.pypa.io/api-reference/json.html); what it writes
depends only on what the index lists, so a rerun adds new releases and changes no old row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx
import pandas as pd
from packaging.version import InvalidVersion, Version

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "features" / "data" / "engine_releases.csv"
DEFAULT_INDEX = "https://pypi.org"
# The engines' package names on the index, by the catalog's framework ids.
PACKAGES = {"vllm": "vllm", "tensorrt-llm": "tensorrt-llm", "sglang": "sglang"}


def releases(package: str, framework: str, index: str, client: httpx.Client) -> pd.DataFrame:
    """(framework, version, date, source) for every release of ``package`` with at least one file: the
    earliest upload time of its files (UTC), a release announced but never uploaded has no date."""
    response = client.get(f"{index}/pypi/{package}/json")
    response.raise_for_status()
    listed = response.json()["releases"]
    rows = []
    for version, files in listed.items():
        uploaded = [f["upload_time_iso_8601"] for f in files if f.get("upload_time_iso_8601")]
        if uploaded:
            rows.append((framework, version, min(uploaded)[:10], f"{index}/project/{package}/{version}/"))
    table = pd.DataFrame(rows, columns=["framework", "version", "date", "source"])
    return table.sort_values(["date", "version"], key=_order_key, ignore_index=True)


def _order_key(column: pd.Series) -> pd.Series:
    """Dates as they are; versions in PEP 440 order (an unparsable one first), so a day's releases read in order."""
    if column.name != "version":
        return column

    def key(text: str) -> Version:
        try:
            return Version(text)
        except InvalidVersion:
            return Version("0")

    return column.map(key)


def main(argv: list[str] | None = None, client: httpx.Client | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=DEFAULT_INDEX, help="package index serving the JSON API")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with client or httpx.Client(timeout=60.0, follow_redirects=True) as session:
        tables = [releases(package, framework, args.index, session) for framework, package in PACKAGES.items()]
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(args.out, index=False, lineterminator="\n")
    for framework, group in table.groupby("framework", sort=False):
        print(f"{framework}: {len(group)} releases, {group['date'].min()} to {group['date'].max()}")
    print(f"wrote {len(table)} releases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
