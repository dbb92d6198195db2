"""What people and scripts read: rich tables, JSON payloads, CSV and PNG files, launch commands.

``_tables`` renders one estimate, one prediction and accuracy scores; ``_optimize`` an optimisation
result (tables, JSON, files); ``_evaluation`` an evaluation run (JSON, CSV, plots); ``_launch`` the
engine command for a winning configuration; ``_data`` an ingest account and a dataset summary.
"""

from surrogate.report._data import account_tables, summary_dict, summary_tables
from surrogate.report._evaluation import write_evaluation
from surrogate.report._json import print_json, to_jsonable
from surrogate.report._launch import launch_command, recommendation
from surrogate.report._optimize import (
    RESULT_COLUMNS,
    headline,
    pareto_table,
    result_payload,
    top_table,
    why_line,
    write_files,
)
from surrogate.report._plots import pareto_plot, predicted_vs_measured
from surrogate.report._tables import estimate_table, groups_table, prediction_table, scores_table

__all__ = [
    "RESULT_COLUMNS",
    "account_tables",
    "estimate_table",
    "groups_table",
    "headline",
    "launch_command",
    "pareto_plot",
    "pareto_table",
    "predicted_vs_measured",
    "prediction_table",
    "print_json",
    "recommendation",
    "result_payload",
    "scores_table",
    "summary_dict",
    "summary_tables",
    "to_jsonable",
    "top_table",
    "why_line",
    "write_evaluation",
    "write_files",
]
