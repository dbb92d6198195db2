"""The bundled default model: present, loadable, and reproducible from the shared data and seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from surrogate.ingest import load_shared
from surrogate.model import (
    default_model_path,
    disaggregated_training_rows,
    load_default,
    train_bundle,
    training_rows,
)


def test_default_model_is_installed_and_small() -> None:
    path = default_model_path()
    assert path.is_file(), "models/default.joblib is missing: run python scripts/train_default.py"
    assert path.stat().st_size < 10e6
    model = load_default()
    assert model.metadata["rows_by_source"]["llm-inference-bench"] > 4000
    assert model.metadata["rows_by_source"]["aiconfigurator"] > 2000
    assert model.metadata["seed"] == 0


@pytest.mark.slow
def test_retraining_on_the_same_data_and_seed_reproduces_the_default(shared_datasets: Path) -> None:
    table = load_shared(shared_datasets).table
    default = load_default()
    retrained = train_bundle(table, seed=default.metadata["seed"], cv_folds=0)
    assert retrained.metadata["data_fingerprint"] == default.metadata["data_fingerprint"], (
        "the shared data changed since models/default.joblib was trained; rerun scripts/train_default.py")
    sample = training_rows(table).sample(60, random_state=0)
    pd.testing.assert_frame_equal(retrained.predict(sample), default.predict(sample))
    split = disaggregated_training_rows(table).sample(20, random_state=0)
    assert default.metadata["disaggregated_rows_by_metric"], "the default bundle learned no disaggregated correction"
    pd.testing.assert_frame_equal(retrained.predict(split), default.predict(split))
