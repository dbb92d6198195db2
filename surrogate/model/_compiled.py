"""The bundle's trees as native code: the same predictions as LightGBM, several times faster.

Prediction spends much of its time walking the median models' trees (250 each). ``lleaves`` compiles a
LightGBM model to machine code with LLVM; the result is exact (the same splits, in float64) and, on the
default bundle's models, about 5x faster than LightGBM's own predictor single-threaded (measured by
``benchmarks/speed.py``). Compiling takes 10-20 s per model, so the machine code is cached per user
(``$SURROGATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/surrogate``, else ``~/.cache/surrogate``, under
``compiled-trees/``), keyed by the model's text, the compiler's versions and this CPU.

When compiled trees are used is ``$SURROGATE_COMPILED_TREES``:

- ``auto`` (default): when a compiled copy is cached; otherwise LightGBM, and a prediction of
  ``AUTO_COMPILE_ROWS`` rows or more compiles and caches the models first (a big search pays half a minute
  once, every later run is faster). ``surrogate compile`` does it ahead of time.
- ``always``: compile on first use whatever the size; ``never``: LightGBM only.

Without ``lleaves`` (the ``fast`` extra: ``pip install 'surrogate[fast]'``), or where compiling fails, it is
plain LightGBM, with the reason kept in :func:`status` and logged once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import weakref
from functools import cache, partial
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import ConfigError
from surrogate.cache_home import cache_home
from surrogate.model._workers import in_worker, jobs, run_all, threads_for

if TYPE_CHECKING:
    import lightgbm as lgb

__all__ = ["AUTO_COMPILE_ROWS", "POLICY_ENV", "cache_dir", "compile_booster", "compile_boosters", "predict_trees",
           "predict_forests", "status"]

POLICY_ENV = "SURROGATE_COMPILED_TREES"
POLICIES = ("auto", "always", "never")
# Compiling one model of a few hundred trees takes 10-20 s on the CI machine's cores and saves about 5 us per row; a
# prediction of 50,000 rows or more is worth compiling once for (every later one reads the cache).
AUTO_COMPILE_ROWS = 50_000
# The tree functions inlined into the loop over rows: 1.7x faster than calls per tree (0.50 s vs 0.87 s
# of CPU for three 400-tree models on 200,000 rows, one thread), for about 4x the compile time (`surrogate
# compile` with SURROGATE_JOBS=1: 62.8 s for that bundle's five models, about 12 s without inlining).
# Compiling runs once per machine and model, on every core (15.7 s on 2 for the 250-tree bundle).
_COMPILE_OPTIONS: dict[str, Any] = {"finline": True, "fcodemodel": "large"}
# Compiling one model counts as this much work for run_all (always worth a worker of its own).
_COMPILE_WORK = 1_000_000
# Compiled code walks rows in threads that release the GIL (no OpenMP spin-waiting, unlike LightGBM's
# threads): ``_workers.threads_for`` says how many.

_log = logging.getLogger(__name__)
# Per booster object: its compiled predictor, or _FAILED where it is known not to compile.
_FAILED = object()
_loaded: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
# Per booster object: the cache key of its compiled code.
_keys: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_last_status = {"compiled": "not used yet"}
_announced = False


def policy() -> str:
    """``$SURROGATE_COMPILED_TREES`` (auto, always or never); an unknown value is refused clearly."""
    value = os.environ.get(POLICY_ENV, "auto").strip().lower() or "auto"
    if value not in POLICIES:
        raise ConfigError(f"{POLICY_ENV}={value!r} is not one of {', '.join(POLICIES)}")
    return value


def cache_dir() -> Path:
    """Where compiled models are kept (``$SURROGATE_CACHE_DIR``, else the XDG cache home)."""
    return cache_home() / "compiled-trees"


def note_status(text: str) -> None:
    """Record how trees were read where a worker process read them for this one (``status`` says it)."""
    _last_status["compiled"] = text


def status() -> str:
    """How the last prediction walked its trees (``compiled``, ``lightgbm: <why>``), for reports and tests."""
    return _last_status["compiled"]


@cache
def _toolchain() -> str | None:
    """The compiler's versions and this CPU, or None where lleaves cannot be imported."""
    try:
        import lleaves  # noqa: F401
        import llvmlite.binding as llvm
    except ImportError:
        return None
    try:
        versions = f"lleaves {package_version('lleaves')} llvmlite {package_version('llvmlite')}"
    except PackageNotFoundError:
        versions = "lleaves unknown"
    return f"{versions} cpu {llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()} {_COMPILE_OPTIONS}"


def _paths(booster: lgb.Booster, toolchain: str) -> tuple[Path, Path]:
    """The booster's model text and object files in the cache. The key (a hash of the model's text, which
    takes tens of milliseconds to write out) is worked out once per booster: a small prediction in ``auto``
    mode looks for a cached object on every call."""
    key = _keys.get(booster)
    if key is None:
        key = hashlib.sha256(f"{toolchain}\n{booster.model_to_string()}".encode()).hexdigest()[:32]
        _keys[booster] = key
    folder = cache_dir()
    return folder / f"{key}.txt", folder / f"{key}.o"


def _load(text_path: Path, object_path: Path) -> Any:
    import lleaves

    model = lleaves.Model(model_file=str(text_path))
    model.compile(cache=str(object_path), **_COMPILE_OPTIONS)
    return model


def compile_booster(booster: lgb.Booster, *, build: bool = True) -> Any | None:
    """The booster's compiled predictor (an ``lleaves.Model``), read from the cache or (``build``) compiled
    into it; None where lleaves is missing, compiling failed, or nothing is cached and ``build`` is False."""
    known = _loaded.get(booster)
    if known is _FAILED:
        return None
    if known is not None:
        return known
    toolchain = _toolchain()
    if toolchain is None:
        _last_status["compiled"] = "lightgbm: lleaves is not installed (pip install 'surrogate[fast]')"
        _loaded[booster] = _FAILED
        return None
    text_path, object_path = _paths(booster, toolchain)
    try:
        if object_path.is_file() and text_path.is_file():
            model = _load(text_path, object_path)
        elif not build:
            return None
        else:
            model = _build(booster.model_to_string(), text_path, object_path)
    except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to LightGBM, said once
        _last_status["compiled"] = f"lightgbm: compiling failed ({type(exc).__name__}: {exc})"
        _log.warning("compiled trees unavailable, predicting with LightGBM: %s", exc)
        _loaded[booster] = _FAILED
        return None
    _loaded[booster] = model
    return model


def compile_boosters(boosters: list[lgb.Booster], *, build: bool = True) -> list[Any | None]:
    """:func:`compile_booster` of each; the ones not in the cache yet are compiled side by side in worker
    processes first (a model takes 10-20 s to compile; the bundle has three to five)."""
    if build and not in_worker():
        missing = [booster for booster in boosters if _uncached(booster)]
        if len(missing) > 1 and jobs() > 1:
            toolchain = _toolchain()
            assert toolchain is not None  # _uncached says so
            _announce(cache_dir())
            run_all([partial(_build_quietly, booster.model_to_string(), *_paths(booster, toolchain))
                     for booster in missing], work=len(missing) * _COMPILE_WORK)
    return [compile_booster(booster, build=build) for booster in boosters]


def _uncached(booster: lgb.Booster) -> bool:
    """Whether compiling ``booster`` is still to do (lleaves present, nothing cached or loaded for it)."""
    if booster in _loaded:
        return False
    toolchain = _toolchain()
    if toolchain is None:
        return False
    text_path, object_path = _paths(booster, toolchain)
    return not (text_path.is_file() and object_path.is_file())


def _build_quietly(text: str, text_path: Path, object_path: Path) -> None:
    """In a worker: compile into the cache. A failure is left for the parent process, which compiles the
    model again itself and reports why it falls back to LightGBM. Said once, by the parent."""
    global _announced
    _announced = True
    try:
        _build(text, text_path, object_path)
    except Exception:  # noqa: BLE001,S110 - said by the parent's own attempt
        pass


def _announce(folder: Path) -> None:
    global _announced
    if not _announced:
        _announced = True
        _log.warning("compiling the model's trees to machine code once for this machine (10-20 s per model, on "
                     "every core; cached in %s)", folder)


def _build(text: str, text_path: Path, object_path: Path) -> Any:
    """Compile in a private folder and move the files into the cache only when complete, so an interrupted
    compile or a concurrent one never leaves a half-written object behind."""
    _announce(object_path.parent)
    object_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=object_path.parent) as scratch:
        scratch_text, scratch_object = Path(scratch) / "model.txt", Path(scratch) / "model.o"
        scratch_text.write_text(text)
        model = _load(scratch_text, scratch_object)
        os.replace(scratch_text, text_path)
        os.replace(scratch_object, object_path)
    return model


def predict_trees(booster: lgb.Booster, features: pd.DataFrame, batch_rows: int | None = None) -> np.ndarray:
    """The booster's raw predictions for ``features``: compiled code when the policy allows and it is
    available (in a thread per core for large batches), else LightGBM's own predictor (with the booster's
    settings). ``batch_rows``: the size of the whole prediction these rows are part of (what the ``auto``
    policy weighs), if larger."""
    return predict_forests([booster], features, batch_rows)[0]


def predict_forests(boosters: list[lgb.Booster], features: pd.DataFrame,
                    batch_rows: int | None = None) -> list[np.ndarray]:
    """:func:`predict_trees` of each booster on the same rows; compiled models read one float matrix of
    them, made once (each model converting the frame itself cost 40 ms per model per 200,000 rows)."""
    matrices: dict[str, np.ndarray] = {}
    out = []
    for booster, compiled in zip(boosters, _compiled_for(boosters, max(len(features), batch_rows or 0)),
                                 strict=True):
        if compiled is None:
            out.append(np.asarray(booster.predict(features), dtype=float))
            continue
        from lleaves.data_processing import data_to_ndarray  # present: the model compiled

        categories = getattr(compiled, "_pandas_categorical", None)
        key = json.dumps(categories)
        if key not in matrices:
            matrices[key] = np.ascontiguousarray(data_to_ndarray(features, categories), dtype=np.float64)
        out.append(np.asarray(compiled.predict(matrices[key], n_jobs=threads_for(len(features))), dtype=float))
    return out


def _compiled_for(boosters: list[lgb.Booster], rows: int) -> list[Any]:
    """The compiled model to predict ``rows`` rows with, per booster, or None for LightGBM (the reason
    kept for :func:`status`)."""
    chosen = policy()
    if chosen == "never":
        _last_status["compiled"] = f"lightgbm: {POLICY_ENV}=never"
        return [None] * len(boosters)
    models = compile_boosters(boosters, build=chosen == "always" or rows >= AUTO_COMPILE_ROWS)
    for booster, model in zip(boosters, models, strict=True):
        if model is not None:
            _last_status["compiled"] = "compiled"
        elif _loaded.get(booster) is not _FAILED:
            _last_status["compiled"] = "lightgbm: not compiled yet (small prediction)"
    return models
