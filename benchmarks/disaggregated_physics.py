"""Where the xPyD physics misses: measured / physics on the disaggregated rows, by engine and prefill shape.

    python benchmarks/disaggregated_physics.py [--shared DIR] [--json OUT]

Prices every disaggregated aiconfigurator row that records its worker counts with the physics alone
(``features/disaggregated.py`` at the shipped efficiency, ``features/data/efficiency.json``: it was fitted on
the aggregated rows, none of these) and prints, per engine, per prefill worker's attention-data-parallel ranks
and per load, the rows, the median and P90 of measured / physics for TTFT and ITL, and the share of rows
measured more than 5x the physics' TTFT. "low load" is fewer requests in flight per prefill worker than four
per attention-DP rank. The learned correction reads these same features; what it cannot learn from them
(the spread inside a cell) is what keeps the disaggregated TTFT's error wide. No training: seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from features.disaggregated import estimate_disaggregated
from features.efficiency import default_efficiency
from surrogate.ingest import load_shared
from surrogate.model._disaggregated import complete_disaggregated

FAR_TIMES = 5.0
LOW_LOAD_PER_RANK = 4


def _ranks(dp: np.ndarray) -> np.ndarray:
    """Attention-DP ranks of the prefill worker, binned: 1, 2-4, 8 or more."""
    return np.where(dp <= 1, "1", np.where(dp <= 4, "2-4", "8+"))


def breakdown(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per engine x prefill ranks x load: rows, median and P90 of measured / physics, far share."""
    physics = estimate_disaggregated(rows, default_efficiency())
    dp = pd.to_numeric(rows["prefill_dp"], errors="coerce").fillna(1.0).to_numpy(dtype=float)
    frame = pd.DataFrame({
        "engine": rows["framework"].astype(str).to_numpy(),
        "prefill_dp": _ranks(dp),
        "ttft_ratio": pd.to_numeric(rows["ttft_s"]).to_numpy(dtype=float) / physics["ttft_s"].to_numpy(dtype=float),
        "itl_ratio": pd.to_numeric(rows["itl_s"]).to_numpy(dtype=float) / physics["itl_s"].to_numpy(dtype=float),
    })
    per_worker = (pd.to_numeric(rows["concurrency"]).to_numpy(dtype=float)
                  / pd.to_numeric(rows["prefill_workers"]).to_numpy(dtype=float))
    frame["load"] = np.where(per_worker < LOW_LOAD_PER_RANK * dp, "low", "high")
    lines = []
    for keys, cell in [(("all", "all", "all"), frame), *frame.groupby(["engine", "prefill_dp", "load"])]:
        lines.append({"engine": keys[0], "prefill_dp": keys[1], "load": keys[2], "rows": len(cell),
                      "ttft_median": float(np.median(cell["ttft_ratio"])),
                      "ttft_p90": float(np.percentile(cell["ttft_ratio"], 90)),
                      "ttft_far_pct": float(np.mean(cell["ttft_ratio"] > FAR_TIMES) * 100),
                      "itl_median": float(np.median(cell["itl_ratio"])),
                      "itl_p90": float(np.percentile(cell["itl_ratio"], 90))})
    return pd.DataFrame(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    rows = complete_disaggregated(load_shared(args.shared).table).reset_index(drop=True)
    table = breakdown(rows)
    print(f"{len(rows)} disaggregated rows with worker counts; measured / physics (shipped efficiency); "
          f"far: TTFT measured over {FAR_TIMES:g}x the physics")
    print(f"{'engine':14s} {'prefill dp':>10s} {'load':>5s} {'rows':>5s} {'TTFT median':>12s} {'TTFT P90':>9s} "
          f"{'far %':>6s} {'ITL median':>11s} {'ITL P90':>8s}")
    for line in table.itertuples():
        print(f"{line.engine:14s} {line.prefill_dp:>10s} {line.load:>5s} {line.rows:5d} {line.ttft_median:11.2f}x "
              f"{line.ttft_p90:8.2f}x {line.ttft_far_pct:6.1f} {line.itl_median:10.2f}x {line.itl_p90:7.2f}x")
    if args.json:
        args.json.write_text(json.dumps(table.to_dict(orient="records"), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
