"""Compiled trees (surrogate.model._compiled): the same predictions as LightGBM, cached, with a fallback."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from surrogate.model import _compiled

lleaves = pytest.importorskip("lleaves", reason="the fast extra (lleaves) is not installed")


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "y": rng.uniform(0, 10, size=rows),
                          "engine": pd.Categorical(rng.choice(["vllm", "sglang", "trt"], size=rows))})
    frame.loc[frame.index % 7 == 0, "y"] = np.nan  # missing values take LightGBM's default branch
    return frame


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    frame = _frame(400, 0)
    target = frame["x"] * 2 + np.nan_to_num(frame["y"]) + frame["engine"].cat.codes
    params = {"objective": "regression", "num_leaves": 7, "verbose": -1, "seed": 0, "deterministic": True,
              "num_threads": 1, "monotone_constraints": [0, 1, 0]}
    return lgb.train(params, lgb.Dataset(frame, label=target), num_boost_round=15)


def _fresh(booster: lgb.Booster) -> lgb.Booster:
    """The same model as a new object (as a bundle loaded in another process holds it)."""
    return lgb.Booster(model_str=booster.model_to_string())


def test_compiled_predictions_equal_lightgbm_and_are_cached(booster: lgb.Booster, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")
    rows = _frame(1000, 1)
    # Categories in another order than in training: both predictors map them by name.
    rows["engine"] = rows["engine"].cat.reorder_categories(["trt", "vllm", "sglang"])
    out = _compiled.predict_trees(booster, rows)
    assert _compiled.status() == "compiled"
    np.testing.assert_allclose(out, booster.predict(rows), rtol=1e-12, atol=1e-12)
    cached = sorted(p.suffix for p in (tmp_path / "compiled-trees").iterdir())
    assert cached == [".o", ".txt"]


def test_a_cached_model_loads_without_compiling(booster: lgb.Booster, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")
    rows = _frame(50, 2)
    _compiled.predict_trees(_fresh(booster), rows)

    def refuse(*args: object) -> None:
        raise AssertionError("compiled again although the cache holds the model")

    monkeypatch.setattr(_compiled, "_build", refuse)
    other = _fresh(booster)
    np.testing.assert_allclose(_compiled.predict_trees(other, rows), booster.predict(rows), rtol=1e-12)
    assert _compiled.status() == "compiled"


def test_auto_compiles_only_large_predictions(booster: lgb.Booster, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(_compiled.POLICY_ENV, "auto")
    small = _fresh(booster)
    _compiled.predict_trees(small, _frame(10, 3))
    assert _compiled.status() == "lightgbm: not compiled yet (small prediction)"
    assert not (tmp_path / "compiled-trees").exists()
    # Part of a large prediction (the rows beyond the trained range are read apart): that size counts.
    _compiled.predict_trees(small, _frame(10, 3), batch_rows=_compiled.AUTO_COMPILE_ROWS)
    assert _compiled.status() == "compiled"


def test_never_and_a_missing_compiler_fall_back_to_lightgbm(booster: lgb.Booster, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path))
    rows = _frame(20, 4)
    monkeypatch.setenv(_compiled.POLICY_ENV, "never")
    np.testing.assert_array_equal(_compiled.predict_trees(_fresh(booster), rows), booster.predict(rows))
    assert _compiled.status() == "lightgbm: SURROGATE_COMPILED_TREES=never"
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")
    monkeypatch.setattr(_compiled, "_toolchain", lambda: None)
    np.testing.assert_array_equal(_compiled.predict_trees(_fresh(booster), rows), booster.predict(rows))
    assert _compiled.status() == "lightgbm: lleaves is not installed (pip install 'surrogate[fast]')"


def test_a_failing_compiler_falls_back_and_says_why(booster: lgb.Booster, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")

    def broken(*args: object) -> None:
        raise RuntimeError("no LLVM target")

    monkeypatch.setattr(_compiled, "_load", broken)
    rows = _frame(20, 5)
    np.testing.assert_array_equal(_compiled.predict_trees(_fresh(booster), rows), booster.predict(rows))
    assert _compiled.status() == "lightgbm: compiling failed (RuntimeError: no LLVM target)"
    assert not list((tmp_path / "compiled-trees").glob("*.o"))  # nothing half-written is left


def test_an_unknown_policy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_compiled.POLICY_ENV, "sometimes")
    with pytest.raises(ValueError, match="SURROGATE_COMPILED_TREES='sometimes' is not one of auto, always, never"):
        _compiled.policy()


def test_a_bundle_predicts_the_same_compiled_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import synthetic_table, tiny_model

    rows = synthetic_table().drop(columns=["latency_s", "ttft_s", "itl_s"])
    monkeypatch.setenv(_compiled.POLICY_ENV, "never")
    plain = tiny_model().predict(rows)
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")
    compiled = tiny_model().predict(rows)
    assert _compiled.status() == "compiled"
    numbers = plain.select_dtypes("number").columns
    np.testing.assert_allclose(compiled[numbers].to_numpy(float), plain[numbers].to_numpy(float), rtol=1e-9)
    pd.testing.assert_frame_equal(compiled.drop(columns=numbers), plain.drop(columns=numbers))


def test_compile_command_compiles_a_bundle_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import tiny_model
    from click.testing import CliRunner

    from surrogate.cli import cli

    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path / "cache"))
    bundle = tiny_model().save(tmp_path / "tiny.joblib")
    result = CliRunner().invoke(cli, ["compile", "--model-file", str(bundle)])
    assert result.exit_code == 0, result.output
    learned = len(tiny_model().models_)  # the metrics it had enough rows for
    assert result.output.startswith(f"compiled {learned} models in ")
    assert f"cached in {tmp_path / 'cache' / 'compiled-trees'}" in result.output
    assert len(list((tmp_path / "cache" / "compiled-trees").glob("*.o"))) == learned


def test_compile_command_without_a_compiler_fails_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from _tiny_model import tiny_model
    from click.testing import CliRunner

    from surrogate.cli import cli

    monkeypatch.setattr(_compiled, "_toolchain", lambda: None)
    monkeypatch.setattr(_compiled, "_loaded", type(_compiled._loaded)())
    bundle = tiny_model().save(tmp_path / "tiny.joblib")
    result = CliRunner().invoke(cli, ["compile", "--model-file", str(bundle)])
    assert result.exit_code == 1
    assert "trees not compiled: lleaves is not installed (pip install 'surrogate[fast]'); predictions use " \
           "LightGBM (the same values, slower)" in result.output


def test_an_unknown_policy_is_a_usage_error_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from surrogate.cli import cli

    monkeypatch.setenv(_compiled.POLICY_ENV, "fast")
    result = CliRunner().invoke(cli, ["predict", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "h100-sxm",
                                       "--input-len", "512", "--output-len", "128"])
    assert result.exit_code == 2
    assert "SURROGATE_COMPILED_TREES='fast' is not one of auto, always, never" in result.output


def test_disaggregated_rows_predict_the_same_compiled_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    from surrogate.model import load_default

    rows = pd.DataFrame([{"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "framework": "vllm",
                          "weight_dtype": "bf16", "kv_dtype": "bf16", "input_len": length, "output_len": 128,
                          "mode": "disaggregated", "concurrency": concurrency, "prefill_workers": 1,
                          "decode_workers": decode, "prefill_tp": 1, "decode_tp": 1}
                         for length in (512, 2048) for concurrency in (1, 16, 64) for decode in (1, 3)])
    model = load_default()
    assert model.disaggregated_ is not None and model.disaggregated_.models_
    monkeypatch.setenv(_compiled.POLICY_ENV, "never")
    plain = model.predict(rows)
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")
    compiled = model.predict(rows)
    assert _compiled.status() == "compiled"
    numbers = plain.select_dtypes("number").columns
    np.testing.assert_allclose(compiled[numbers].to_numpy(float), plain[numbers].to_numpy(float), rtol=1e-9)


def test_models_not_cached_are_compiled_side_by_side_in_workers(booster: lgb.Booster, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURROGATE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(_compiled.POLICY_ENV, "always")
    monkeypatch.setenv("SURROGATE_JOBS", "2")
    frame = _frame(300, 4)
    params = {"objective": "regression", "num_leaves": 5, "verbose": -1, "seed": 1, "num_threads": 1}
    other = lgb.train(params, lgb.Dataset(frame, label=frame["x"] - frame["y"]), num_boost_round=8)

    def refuse(*args: object) -> None:
        raise AssertionError("compiled in this process, not in the workers")

    monkeypatch.setattr(_compiled, "_build", refuse)  # the workers import their own copy of the module
    first, second = _fresh(booster), _fresh(other)
    rows = _frame(40, 5)
    out = _compiled.predict_forests([first, second], rows)
    assert _compiled.status() == "compiled"
    np.testing.assert_allclose(out[0], booster.predict(rows), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out[1], other.predict(rows), rtol=1e-12, atol=1e-12)
    assert len(list((tmp_path / "compiled-trees").glob("*.o"))) == 2
