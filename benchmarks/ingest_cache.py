"""How long loading the shared data takes: read and checked from the sources, against read from the cache.

    python benchmarks/ingest_cache.py [--repeats 3]

``load_shared()`` in this process, ``--repeats`` times each way, in a private cache folder (the user's is
left alone): with ``SURROGATE_INGEST_CACHE=off`` (every source read, checked and accounted again, as every
load did before the cache), then from the cache (the first of those runs writes it, not timed). Prints
medians and their ratio, and checks both give the same table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import pandas as pd

from surrogate.cache_home import CACHE_ENV
from surrogate.ingest import load_shared
from surrogate.ingest.cache import INGEST_CACHE_ENV


def _median_s(repeats: int) -> tuple[float, pd.DataFrame]:
    times, table = [], pd.DataFrame()
    for _ in range(repeats):
        start = time.perf_counter()
        table = load_shared().table
        times.append(time.perf_counter() - start)
    return statistics.median(times), table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ[CACHE_ENV] = folder
        os.environ[INGEST_CACHE_ENV] = "off"
        fresh_s, fresh = _median_s(args.repeats)
        os.environ[INGEST_CACHE_ENV] = "on"
        load_shared()  # writes the entry
        cached_s, cached = _median_s(args.repeats)
    pd.testing.assert_frame_equal(fresh, cached)
    print(f"shared data, {len(fresh)} rows; median of {args.repeats}")
    print(f"read from the sources: {fresh_s:.2f} s")
    print(f"read from the cache:   {cached_s:.2f} s ({fresh_s / cached_s:.0f}x faster; the same table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
