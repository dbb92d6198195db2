"""An evaluation for people and files: the side-by-side accuracy table with the split's notes and
rule checks, and on disk the summary JSON, held-out predictions CSV and one PNG per metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from surrogate.model import METRICS, VARIANTS, Evaluation
from surrogate.report._json import to_jsonable
from surrogate.report._plots import predicted_vs_measured
from surrogate.report._tables import engines_table, groups_table, sources_table

__all__ = ["evaluation_report", "write_evaluation"]

_LABELS = {"peak": "peak", "achievable": "achievable", "lightgbm_no_physics": "LightGBM no physics",
           "surrogate": "surrogate"}


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    """Files written: evaluation.json, predictions.csv, disaggregated_predictions.csv (when disaggregated
    rows were evaluated), <metric>.png for each measured metric."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "evaluation.json"
    summary_path.write_text(json.dumps(to_jsonable({"seed": evaluation.seed, **evaluation.summary}), indent=2))
    predictions_path = out_dir / "predictions.csv"
    evaluation.predictions.to_csv(predictions_path, index=False)
    written = [summary_path, predictions_path]
    if evaluation.disaggregated_predictions is not None:
        disaggregated_path = out_dir / "disaggregated_predictions.csv"
        evaluation.disaggregated_predictions.to_csv(disaggregated_path, index=False)
        written.append(disaggregated_path)
    for metric in METRICS:
        variants = [v for v in VARIANTS if f"{metric}_{v}" in evaluation.predictions]  # a scored bundle has fewer
        title = (f"{metric}, the trained bundle as it is" if evaluation.split == "bundle"
                 else f"{metric}, held out by {evaluation.split}")
        png = predicted_vs_measured(evaluation.predictions, metric, variants, out_dir / f"{metric}.png", title)
        if png is not None:
            written.append(png)
    return written


def evaluation_report(summary: dict[str, Any]) -> list[Table | Text]:
    """What ``surrogate evaluate`` prints: the accuracy table, the per-group table (leave-one-out
    splits), the disaggregated rows' table (when evaluated), the split rule, dropped rows, metrics scored as
    physics only, the rule checks, and the disaggregated rows not scored with their reasons."""
    parts: list[Table | Text] = [_accuracy_table(summary)]
    if summary["split"] != "random":  # held-out groups, or a scored bundle's rows by distance from its data
        parts.append(groups_table(summary))
    for table in (sources_table(summary), engines_table(summary)):
        if table is not None:
            parts.append(table)
    if "disaggregated" in summary:
        parts.append(_disaggregated_table(summary))
    return parts + [Text(line) for line in _evaluation_notes(summary) + _disaggregated_notes(summary)]


def _accuracy_table(summary: dict[str, Any]) -> Table:
    """One row per metric: every predictor's MAPE / median APE side by side, the surrogate's p90 APE
    and P10-P90 coverage; metrics no training row measured follow, marked physics only."""
    title = ("accuracy of the trained bundle on these rows, as it is" if summary["split"] == "bundle"
             else f"held-out accuracy, split = {summary['split']}")
    table = Table(title=f"{title} (MAPE / median APE %)", show_header=True, header_style="bold")
    for name in ["metric", "rows", *_LABELS.values(), "surrogate p90 APE %", "P10-P90 coverage %", "scored as"]:
        table.add_column(name, justify="left" if name in ("metric", "scored as") else "right")
    sections = [(summary.get("metrics", {}), None), (summary.get("physics_only", {}), "note")]
    for entries, note in sections:
        for metric, entry in entries.items():
            surrogate = entry["surrogate"]
            coverage = surrogate.get("p10_p90_coverage_pct")
            table.add_row(metric, str(surrogate["rows"]),
                          *(f"{entry[v]['mape_pct']:.1f} / {entry[v]['median_ape_pct']:.1f}" if v in entry else "-"
                            for v in _LABELS),
                          f"{surrogate['p90_ape_pct']:.1f}", f"{coverage:.1f}" if coverage is not None else "",
                          entry[note] if note else "learned")
    return table


def _evaluation_notes(summary: dict[str, Any]) -> list[str]:
    """Plain lines: the split rule, rows dropped from both sides, each held-out group that measures a
    metric its training rows did not, and one line per rule check."""
    lines = [f"split {summary['split']}: {summary['split_rule']}"] if "split_rule" in summary else []
    if summary.get("dropped_rows"):
        lines.append(f"{summary['dropped_rows']} rows in neither training nor test (between the split's "
                     "thresholds, or unrecorded) dropped from both")
    for group, overlap in summary.get("overlap", {}).items():
        if overlap["physics_only"]:
            scored = ", ".join(overlap["overlap"]) or "none"
            others = "; ".join(f"{m}: {reason}" for m, reason in overlap["physics_only"].items())
            lines.append(f"held-out {group} measures {', '.join(overlap['measured'])}; also measured in training "
                         f"(scored): {scored}; {others}")
    return lines + [check["line"] for check in summary.get("rule_checks", [])]


def _disaggregated_table(summary: dict[str, Any]) -> Table:
    """One row per metric of the held-out disaggregated rows: peak, xPyD physics and surrogate MAPE / median APE,
    coverage, and the aggregated surrogate's median APE on the same sources with the ratio."""
    section = summary["disaggregated"]
    table = Table(title=f"held-out disaggregated (xPyD) rows, split = {summary['split']} (MAPE / median APE %)",
                  show_header=True, header_style="bold")
    for name in ["metric", "rows", "peak", "physics (xPyD)", "surrogate", "P10-P90 coverage %",
                 "aggregated surrogate median APE % (rows)", f"disagg / agg (aim <= {section['ratio_target']:g}x)",
                 "scored as"]:
        table.add_column(name, justify="left" if name in ("metric", "scored as") else "right")
    for key in ("metrics", "physics_only"):
        for metric, entry in section[key].items():
            surrogate = entry["surrogate"]
            coverage = surrogate.get("p10_p90_coverage_pct")
            reference = entry.get("aggregated")
            ratio = entry.get("ratio_to_aggregated")
            table.add_row(metric, str(surrogate["rows"]),
                          *(f"{entry[v]['mape_pct']:.1f} / {entry[v]['median_ape_pct']:.1f}"
                            for v in ("peak", "achievable", "surrogate")),
                          f"{coverage:.1f}" if coverage is not None else "",
                          f"{reference['median_ape_pct']:.1f} ({reference['rows']})" if reference else "-",
                          f"{ratio:.2f}x" if ratio is not None else "-",
                          entry.get("note", "learned"))
    return table


def _disaggregated_notes(summary: dict[str, Any]) -> list[str]:
    """How many disaggregated rows were scored, each reason others were not with its count, the median APE per
    held-out group (leave-one-group-out splits), and the ratio rule."""
    section = summary.get("disaggregated")
    if section is None:
        return []
    lines = [f"disaggregated rows: {section['rows']}, {section['scored_rows']} predicted and scored"]
    for reason, count in section["not_scored"].items():
        lines.append(f"  {count} disaggregated rows not scored: {reason}")
    groups: dict[str, list[str]] = {}
    for metric, entry in section["metrics"].items():
        for group, scores in entry.get("by_group", {}).items():
            surrogate, physics = scores["surrogate"], scores["achievable"]
            groups.setdefault(group, []).append(f"{metric} {surrogate['median_ape_pct']:.1f}% (physics "
                                                f"{physics['median_ape_pct']:.1f}%, {surrogate['rows']} rows)")
    for group, scores in groups.items():
        lines.append(f"  held-out {group}, disaggregated median APE: {'; '.join(scores)}")
    sources = sorted({s for e in section["metrics"].values() for s in e.get("aggregated", {}).get("sources", [])})
    if sources:
        lines.append(f"aggregated reference: held-out aggregated rows from {', '.join(sources)}")
    return lines + [section["rule_check"]["line"]]
