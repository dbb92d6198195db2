"""Markdown accuracy tables from `surrogate evaluate --out` results.

    python scripts/accuracy_tables.py [--results benchmarks/results] > benchmarks/results/accuracy.md

Reads ``evaluate-<split>/evaluation.json`` for each split that exists (a predictor a result file
predates shows as "-") and prints, per split, MAPE /
median APE / p90 APE / P10-P90 coverage for the peak roofline, the achievable model, LightGBM
without physics and the surrogate, then median APE per held-out group for the leave-one-out splits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VARIANTS = [("peak", "peak roofline"), ("achievable", "achievable model"),
            ("lightgbm_no_physics", "LightGBM, no physics"), ("surrogate", "surrogate")]


def split_table(summary: dict) -> list[str]:
    lines = ["| metric | rows | " + " | ".join(f"{label} MAPE / median APE %" for _, label in VARIANTS)
             + " | surrogate p90 APE % | P10-P90 coverage % |", "|---|---|---|---|---|---|---|---|"]
    for metric, entry in summary["metrics"].items():
        cells = [f"{entry[v]['mape_pct']:.1f} / {entry[v]['median_ape_pct']:.1f}" if v in entry else "-"
                 for v, _ in VARIANTS]
        s = entry["surrogate"]
        lines.append(f"| {metric} | {s['rows']} | " + " | ".join(cells)
                     + f" | {s['p90_ape_pct']:.1f} | {s['p10_p90_coverage_pct']:.1f} |")
    return lines


def group_table(summary: dict) -> list[str]:
    split = summary["split"]
    lines = [f"| metric | held-out {split} | rows | peak | achievable | LightGBM, no physics | surrogate |",
             "|---|---|---|---|---|---|---|"]
    for metric, entry in summary["metrics"].items():
        for group, variants in sorted(entry.get("by_group", {}).items(), key=lambda kv: -kv[1]["surrogate"]["rows"]):
            lines.append(f"| {metric} | {group} | {variants['surrogate']['rows']} | "
                         + " | ".join(f"{variants[v]['median_ape_pct']:.1f}" if v in variants else "-"
                                      for v, _ in VARIANTS) + " |")
    return lines


def _staleness(summary: dict) -> list[str]:
    """A warning line for results written before the achievable model existed."""
    metrics = summary.get("metrics", {})
    if any("achievable" in entry for entry in metrics.values()):
        return []
    return ["Written before the achievable model (issue 10) and not re-run since: the peak and achievable",
            "columns are missing and the surrogate then corrected the peak roofline.", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    out: list[str] = []
    for split in ["random", "hardware", "model", "framework", "source"]:
        path = args.results / f"evaluate-{split}" / "evaluation.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        out += [f"### split: {split}", "", f"Command: `surrogate evaluate --split {split} --out "
                f"{args.results}/evaluate-{split}`", "", *_staleness(summary), *split_table(summary), ""]
        if split != "random":
            out += ["Median APE % per held-out group:", "", *group_table(summary), ""]
    specs = args.results / "evaluate-hardware-with-specs" / "evaluation.json"
    if specs.is_file():
        summary = json.loads(specs.read_text())
        out += ["### split: hardware, with raw datasheet features added (`--with-specs`)", "",
                f"Command: `surrogate evaluate --split hardware --with-specs --out {args.results}/"
                "evaluate-hardware-with-specs`", "", *split_table(summary), "", "Median APE % per held-out group:",
                "", *group_table(summary), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
