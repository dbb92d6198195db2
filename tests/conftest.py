"""Shared fixtures: where the shared benchmark data lives (tests skip cleanly without it), and a private
store of trusted model digests (bundles the tests save are trusted there, never in the user's own).

Property tests draw the same examples on every run (hypothesis ``derandomize``, seeded per test): CI and a
developer see the same cases, and a counterexample found once is kept as an ``@example``."""

from __future__ import annotations

import os

# One BLAS/OpenMP thread per test process and per process it starts: the suite runs two pytest workers on
# two cores, and the thread pools of both (and of their subprocesses) spin-waiting on the same cores took the
# suite from 271 s to 569 s (measured on this 2-core machine, `python -m pytest -q -n 2`).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

from surrogate.float_paths import pin_float_paths  # noqa: E402 - loads no numpy

# numpy's and OpenBLAS's kernels held to one path on every x86-64 CPU, as the scripts that built the shipped
# efficiency.json and default bundle were: on an AVX-512 machine a retrained default differed by up to 2.7%.
pin_float_paths()

from collections.abc import Iterator  # noqa: E402 - after the thread settings, before numpy loads
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(limits=1)  # pools a plugin loaded before this file (numpy through hypothesis)

settings.register_profile("reproducible", derandomize=True)
settings.load_profile("reproducible")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    override = os.environ.get("SURROGATE_SHARED_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    path = shared_datasets_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"shared datasets not found at {path} (set SURROGATE_SHARED_DIR)")
    return path


@pytest.fixture(scope="session", autouse=True)
def trust_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``SURROGATE_TRUST_DIR`` for the whole session (session-scoped so that module-scoped fixtures that
    save bundles record them here too); subprocesses the tests start inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("trusted-models")
        patch.setenv("SURROGATE_TRUST_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def no_user_hardware(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``SURROGATE_HARDWARE_FILE`` points at an empty place for the session: machines a developer probed
    (``~/.config/surrogate/hardware.csv``) must not change the catalog the tests see."""
    from features import catalog

    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("user-hardware") / "hardware.csv"
        patch.setenv("SURROGATE_HARDWARE_FILE", str(path))
        catalog.reload_hardware()
        yield path
    catalog.reload_hardware()


@pytest.fixture(scope="session", autouse=True)
def compiled_trees_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``SURROGATE_CACHE_DIR`` for the session: trees compiled by a test (``surrogate.model._compiled``) go
    to a private place, never into the user's cache, and a test never reads one a developer compiled."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("surrogate-cache")
        patch.setenv("SURROGATE_CACHE_DIR", str(path))
        yield path
