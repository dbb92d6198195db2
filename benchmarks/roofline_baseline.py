"""The analytic (roofline) model's error on every measured configuration: the baseline to beat.

Usage: python benchmarks/roofline_baseline.py [--shared DIR] [--json OUT] [--markdown OUT]

Ingests both shared sources in memory (``surrogate.ingest.load_shared``), predicts every
aggregated configuration with ``features.analytic.estimate`` as configured, and prints, per metric
and per source, hardware and framework: rows, MAPE, median and p90 absolute percentage error,
and the median ratio measured / predicted (> 1: the hardware is slower than the roofline says).
Rows faster than physics are left out (as in training); disaggregated rows have no analytic model
and power has no analytic prediction, so both are counted but not scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from surrogate.ingest import load_shared
from surrogate.ingest.physics import analytic_estimates

SCORED_METRICS = ["latency_s", "ttft_s", "itl_s", "throughput_tok_s", "output_throughput_tok_s"]
GROUPS = ["source", "hardware", "framework"]


def errors_long(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (configuration, metric) with a measurement and an analytic prediction."""
    predicted, _ = analytic_estimates(table)
    frames = []
    for metric in SCORED_METRICS:
        both = table[metric].notna() & predicted[metric].notna() & (predicted[metric] > 0)
        part = table.loc[both, GROUPS].copy()
        part["metric"] = metric
        part["measured"] = table.loc[both, metric].astype(float)
        part["predicted"] = predicted.loc[both, metric].astype(float)
        frames.append(part)
    out = pd.concat(frames, ignore_index=True)
    out["ape"] = (out["predicted"] - out["measured"]).abs() / out["measured"]
    out["ratio"] = out["measured"] / out["predicted"]
    return out


def summarize(errors: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = errors.groupby(by, sort=True)
    return pd.DataFrame({
        "rows": grouped.size(),
        "mape_pct": grouped["ape"].mean() * 100,
        "median_ape_pct": grouped["ape"].median() * 100,
        "p90_ape_pct": grouped["ape"].quantile(0.9) * 100,
        "median_ratio": grouped["ratio"].median(),
    }).reset_index()


def markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [f"{v:.1f}" if isinstance(v, float) and c.endswith("pct") else f"{v:.2f}" if isinstance(v, float)
                 else str(v) for c, v in zip(cols, row, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--json", type=Path, default=None, help="write every summary as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the report as markdown here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = load_shared(args.shared)
    table = result.table
    scored = result.training_table()
    agg = scored[scored["mode"].eq("aggregated")]
    errors = errors_long(agg)
    overall = summarize(errors, ["metric"])
    sections = {"overall": overall}
    for group in GROUPS:
        sections[f"by_{group}"] = summarize(errors, ["metric", group])
    elapsed = time.perf_counter() - start
    power_rows = int(table["power_w"].notna().sum())
    header = [
        "# Roofline baseline: analytic model vs every measured configuration",
        "",
        "Command: `python benchmarks/roofline_baseline.py --markdown benchmarks/results/roofline_baseline.md`",
        "",
        f"Configurations: {len(table)} ({int(table['faster_than_physics'].sum())} faster than physics, left out; "
        f"{int(scored['mode'].eq('disaggregated').sum())} disaggregated, no analytic model; {power_rows} with "
        "power, no analytic prediction). Scored: "
        f"{len(agg)} aggregated configurations, {len(errors)} (configuration, metric) pairs.",
        "APE = |predicted - measured| / measured; ratio = measured / predicted (> 1: slower than the roofline).",
        "",
    ]
    body = []
    for name, frame in sections.items():
        body += [f"## {name.replace('_', ' ')}", "", markdown(frame), ""]
    text = "\n".join(header + body)
    print(text)
    print(f"({elapsed:.1f} s)", file=sys.stderr)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.json:
        payload = {name: json.loads(frame.replace({np.nan: None}).to_json(orient="records"))
                   for name, frame in sections.items()}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
