"""The public faces: pinned ``__all__`` lists, the import direction, and imports without side effects."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PUBLIC = {
    "features": ["ANALYTIC_COLUMNS", "CONFIG_COLUMNS", "config_warnings", "estimate", "mean_lengths",
                 "normalize_configs"],
    "surrogate": ["__version__", "SurrogateModel", "load", "load_default", "ConfigError", "DataError",
                  "IncompatibleBundleError", "InfeasibleError", "MissingPathError", "NotFittedError",
                  "SurrogateError", "UnknownNameError", "UntrustedModelError"],
    "surrogate.model": ["AnalyticPredictor", "BUNDLE_FORMAT", "ESTIMATE_OUTPUT_COLUMNS", "METRICS", "MIN_CELL_ROWS",
                        "OPEN_LOOP_COLUMNS", "SPLITS", "VARIANTS", "Evaluation",
                        "SurrogateModel", "canonical_order", "check_columns", "compact_scores", "cross_validate",
                        "default_model_path", "disaggregated_training_rows", "error_summary", "estimate_each",
                        "estimate_valid", "fingerprint", "fit_efficiency", "fold_masks", "in_measured_era",
                        "learned_metrics",
                        "learned_rows", "load",
                        "load_default", "predict_at_rate", "predict_each", "read_off_quantile", "score_bundle",
                        "start_workers",
                        "train_bundle", "training_rows", "trust_file", "valid_rows", "with_source_eras"],
    "surrogate.optimize": ["CONSTRAINT_COLUMNS", "DEFAULT_MAX_SEQUENCES", "KNOB_COLUMNS", "OBJECTIVES",
                           "PARETO_OBJECTIVES", "RAISED_MEMORY_SHARES", "RISKS", "SEARCH_METHODS", "SERVING_MODES",
                           "Candidates",
                           "DevicePool", "Inventory", "Objective", "OptimizeOptions", "OptimizeResult", "Predictor",
                           "SearchSpace", "Targets", "Workload", "enumerate_candidates", "enumerate_disaggregated",
                           "explain_infeasible", "fewest_devices",
                           "fit_alternatives", "open_storage", "optimize", "pareto_front", "rank", "score",
                           "with_raised_memory_shares"],
    "surrogate.report": ["RESULT_COLUMNS", "account_tables", "estimate_table", "evaluation_report", "groups_table",
                         "headline",
                         "kv_cache_warning", "launch_command", "off_support_warning", "off_words", "pareto_plot",
                         "pareto_table",
                         "predicted_vs_measured",
                         "prediction_table", "print_json", "recommendation", "result_payload", "scores_table",
                         "serving_line", "summary_dict", "summary_tables", "to_jsonable", "top_table", "why_line",
                         "write_evaluation", "write_files"],
    "surrogate.cli": ["cli", "main"],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PUBLIC[package])
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_the_same_object_under_every_public_name() -> None:
    import features.errors
    import surrogate
    from surrogate import model

    assert surrogate.SurrogateModel is model.SurrogateModel
    assert surrogate.load is model.load and surrogate.load_default is model.load_default
    for name in features.errors.__all__:
        if name != "closest_names":
            assert getattr(surrogate, name) is getattr(features.errors, name), name


# --- import direction (AST of the source files) ---------------------------------------------------

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module a file imports (``from a import b`` counts ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def _sources(folder: str) -> list[Path]:
    root = REPO / folder
    files = [root] if root.is_file() else sorted([*root.rglob("*.py"), *root.rglob("*.pyi")])
    assert files, f"no source files under {folder}"
    return files


def _violations(folder: str, forbidden: list[str], exclude: tuple[str, ...] = ()) -> list[str]:
    out = []
    for path in _sources(folder):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(exclude):
            continue
        for name in sorted(_imports(path)):
            if any(name == f or name.startswith(f"{f}.") for f in forbidden):
                out.append(f"{relative} imports {name}")
    return out


def test_import_walker_sees_the_imports_that_do_exist() -> None:
    # The checks below are only as good as the walker: downstream imports it must see.
    assert "surrogate.cli" in _imports(REPO / "surrogate" / "__main__.py")
    assert _violations("surrogate/report", ["surrogate.optimize"]) != []
    assert _violations("surrogate/cli", ["surrogate.report"]) != []
    stub = REPO / "surrogate" / "model" / "__init__.pyi"
    if stub.exists():  # lazy_loader stubs import relatively: resolved to the package
        assert "surrogate.model._bundle" in _imports(stub)


@pytest.mark.parametrize(("folder", "forbidden"), [
    ("features", ["surrogate"]),
    ("surrogate/model", ["surrogate.optimize", "surrogate.report", "surrogate.cli"]),
    ("surrogate/optimize", ["surrogate.report", "surrogate.cli"]),
    ("surrogate/report", ["surrogate.cli"]),
])
def test_packages_import_only_upstream(folder: str, forbidden: list[str]) -> None:
    assert _violations(folder, forbidden) == []


def test_nothing_outside_the_cli_imports_it() -> None:
    # surrogate/__main__.py is the ``python -m surrogate`` entry point: it exists to run the CLI.
    violations = [*_violations("features", ["surrogate.cli"]),
                  *_violations("surrogate", ["surrogate.cli"], exclude=("surrogate/cli/", "surrogate/__main__.py"))]
    assert violations == []


def test_formatting_uses_only_the_standard_library() -> None:
    names = _imports(REPO / "surrogate" / "formatting.py")
    assert names  # it imports something; the walker saw it
    outside = sorted(n for n in names if n.split(".")[0] not in sys.stdlib_module_names)
    assert outside == []


# --- importing has no side effects ----------------------------------------------------------------

def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_cli_does_not_load_heavy_libraries() -> None:
    # pandas alone took `surrogate --help` from 0.21 s to 0.55 s (a module-level import of a report helper).
    loaded = _python("import sys, surrogate.cli; print(sorted(m for m in ('lightgbm', 'optuna', 'matplotlib', "
                     "'pandas', 'pyarrow', 'scipy') if m in sys.modules))")
    assert loaded.strip() == "[]"


def test_a_prediction_does_not_load_scipys_kd_tree() -> None:
    # scipy.spatial was 0.3 s of a 2 s `surrogate predict` of one row; the support distance needs no KD-tree.
    loaded = _python("import sys, pandas as pd, surrogate; surrogate.load_default().predict(pd.DataFrame([{"
                     "'hardware': 'h100-sxm', 'model': 'meta-llama/Llama-3.1-8B', 'batch_size': 8, 'input_len': 512, "
                     "'output_len': 128}])); print('scipy.spatial' in sys.modules)")
    assert loaded.strip() == "False"


def test_importing_surrogate_leaves_the_environment_alone() -> None:
    out = _python("import json, os; before = dict(os.environ); import surrogate; after = dict(os.environ); "
                  "print(json.dumps({k: [before.get(k), after.get(k)] for k in set(before) | set(after) "
                  "if before.get(k) != after.get(k)}))")
    assert json.loads(out) == {}
