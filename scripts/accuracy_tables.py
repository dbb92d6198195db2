"""Markdown accuracy tables from `surrogate evaluate --out` results.

    python scripts/accuracy_tables.py [--results benchmarks/results] > benchmarks/results/accuracy.md

First a headline table over the deployment-like splits (``HEADLINE``), then reads
``evaluate-<split>/evaluation.json`` for each split that exists (a predictor a result file
predates shows as "-") and prints, per split, MAPE /
median APE / p90 APE / P10-P90 coverage for the peak roofline, the achievable model, LightGBM
without physics and the surrogate (metrics no training row measured follow, marked physics only), the
split's rule, dropped rows and rule checks, then median APE per held-out group for every split but random,
and for the random split the surrogate's coverage per engine and batching mode.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from surrogate.model import MIN_CELL_ROWS, SPLITS

VARIANTS = [("peak", "peak roofline"), ("achievable", "achievable model"),
            ("lightgbm_no_physics", "LightGBM, no physics"), ("surrogate", "surrogate")]


def split_table(summary: dict[str, Any]) -> list[str]:
    """Scored metrics, then metrics no training row measured (labelled physics only)."""
    lines = ["| metric | rows | " + " | ".join(f"{label} MAPE / median APE %" for _, label in VARIANTS)
             + " | surrogate p90 APE % | P10-P90 coverage % |", "|---|---|---|---|---|---|---|---|"]
    scored = list(summary["metrics"].items())
    physics = [(f"{metric}: {entry['note']}", entry) for metric, entry in summary.get("physics_only", {}).items()]
    for label, entry in scored + physics:
        cells = [f"{entry[v]['mape_pct']:.1f} / {entry[v]['median_ape_pct']:.1f}" if v in entry else "-"
                 for v, _ in VARIANTS]
        s = entry["surrogate"]
        lines.append(f"| {label} | {s['rows']} | " + " | ".join(cells)
                     + f" | {s['p90_ape_pct']:.1f} | {s['p10_p90_coverage_pct']:.1f} |")
    return lines


def notes(summary: dict[str, Any]) -> list[str]:
    """The split's rule, rows dropped from both sides, groups measuring metrics training did not, rule checks
    (absent from results written before these were recorded)."""
    lines = [f"Split rule: {summary['split_rule']}."] if "split_rule" in summary else []
    if summary.get("dropped_rows"):
        lines.append(f"{summary['dropped_rows']} rows in neither training nor test, dropped from both.")
    for group, overlap in summary.get("overlap", {}).items():
        if overlap["physics_only"]:
            others = "; ".join(f"{m}: {reason}" for m, reason in overlap["physics_only"].items())
            lines.append(f"Held-out {group} measures {', '.join(overlap['measured'])}; also measured in training "
                         f"(scored): {', '.join(overlap['overlap']) or 'none'}; {others}.")
    lines += [f"Rule check: {check['line']}." for check in summary.get("rule_checks", [])]
    return [*(f"- {line}" for line in lines), ""] if lines else []


def group_table(summary: dict[str, Any]) -> list[str]:
    split = summary["split"]
    lines = [f"| metric | held-out {split} | rows | peak | achievable | LightGBM, no physics | surrogate |",
             "|---|---|---|---|---|---|---|"]
    for metric, entry in summary["metrics"].items():
        for group, variants in sorted(entry.get("by_group", {}).items(), key=lambda kv: -kv[1]["surrogate"]["rows"]):
            lines.append(f"| {metric} | {group} | {variants['surrogate']['rows']} | "
                         + " | ".join(f"{variants[v]['median_ape_pct']:.1f}" if v in variants else "-"
                                      for v, _ in VARIANTS) + " |")
    return lines


def engine_table(summary: dict[str, Any]) -> list[str]:
    """The surrogate's coverage per engine and batching mode (where the results record it)."""
    rows = [(metric, cell, variants["surrogate"]) for metric, entry in summary["metrics"].items()
            for cell, variants in entry.get("by_engine", {}).items()]
    if not rows:
        return []
    lines = [f"Surrogate per engine and batching mode (a cell takes its own band where training had "
             f"{MIN_CELL_ROWS} or more of its out-of-fold residuals, else the pooled one):", "",
             "| metric | engine/batching | rows | MAPE / median APE % | P10-P90 coverage % |", "|---|---|---|---|---|"]
    lines += [f"| {metric} | {cell} | {s['rows']} | {s['mape_pct']:.1f} / {s['median_ape_pct']:.1f} | "
              f"{s['p10_p90_coverage_pct']:.1f} |" for metric, cell, s in rows]
    return [*lines, ""]


# The headline: splits that look like deployment first, the random split last.
HEADLINE = [("source", "source", "leave one source out"), ("vendor", "vendor", "leave one vendor out"),
            ("hardware", "hardware", "leave one accelerator out"),
            ("model", "model", "leave one model out"),
            ("framework", "framework", "leave one engine out"),
            ("version", "version", "newest release of each engine held out"),
            ("version-without-software", "version", "the same, software date hidden (--without-software)"),
            ("batch", "batch", "train <= 16 sequences, test >= 32"),
            ("input_length", "input_length", "train input <= 1024, test >= 2048")]


def headline_table(results: Path) -> list[str]:
    """One row per split and metric: peak, achievable and surrogate side by side, coverage, rules. Metrics a
    fold scored with the prior alone follow its learned ones, marked physics only: the coverage rule counts them."""
    lines = ["| split | metric | rows | peak | achievable | surrogate | P10-P90 coverage % | rules |",
             "|---|---|---|---|---|---|---|---|"]
    for folder, _, label in HEADLINE:
        path = results / f"evaluate-{folder}" / "evaluation.json"
        if path.is_file():
            lines += headline_rows(json.loads(path.read_text()), label)
    return lines


def headline_rows(summary: dict[str, Any], label: str) -> list[str]:
    """One split's rows of :func:`headline_table`; the first carries the rule checks."""
    checks = "; ".join(check["line"] for check in summary.get("rule_checks", []))
    scored = list(summary["metrics"].items())
    physics = [(f"{metric} (physics only)", entry) for metric, entry in summary.get("physics_only", {}).items()]
    lines = []
    for metric, entry in scored + physics:
        cells = [f"{entry[v]['mape_pct']:.1f} / {entry[v]['median_ape_pct']:.1f}"
                 for v in ("peak", "achievable", "surrogate")]
        lines.append(f"| {label} | {metric} | {entry['surrogate']['rows']} | " + " | ".join(cells)
                     + f" | {entry['surrogate']['p10_p90_coverage_pct']:.1f} | {checks} |")
        checks = ""
    return lines


def _staleness(summary: dict[str, Any]) -> list[str]:
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
    out: list[str] = ["### Deployment-like splits (MAPE / median APE %)", "", *headline_table(args.results), ""]
    for split in SPLITS:
        path = args.results / f"evaluate-{split}" / "evaluation.json"
        if not path.is_file():
            continue
        summary = json.loads(path.read_text())
        out += [f"### split: {split}", "", f"Command: `surrogate evaluate --split {split} --out "
                f"{args.results}/evaluate-{split}`", "", *_staleness(summary), *split_table(summary), "",
                *notes(summary)]
        if split != "random":
            out += ["Median APE % per held-out group:", "", *group_table(summary), ""]
        else:
            out += engine_table(summary)
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
