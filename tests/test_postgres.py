"""Several `surrogate optimize` workers on one study in a real PostgreSQL server.

The fixture starts a throwaway cluster (``scripts/throwaway_postgres.py``: ``initdb`` in a temp dir,
trust auth, 127.0.0.1 only, a free port) and stops it afterwards. Without PostgreSQL or psycopg the
tests skip, unless ``SURROGATE_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it), where that is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from _scripts import load_script

# One small request; the space is small enough that the exhaustive optimum is known and a few dozen
# trials cover every slice (tp, framework, precision), so every worker count must reach it.
REQUEST = ["--model", "meta-llama/Llama-3.1-8B", "--gpus", "h100-sxm:4", "--input-len", "512", "--output-len", "128",
           "--frameworks", "vllm,sglang", "--precisions", "fp16,fp8"]


_SCRIPT = load_script("scripts/throwaway_postgres.py", "throwaway_postgres")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    required = os.environ.get("SURROGATE_REQUIRE_POSTGRES") == "1"
    try:
        import psycopg  # noqa: F401 - the driver SQLAlchemy 2.1 uses for postgresql://

        with _SCRIPT.throwaway_server() as url:
            yield url
    except (ImportError, _SCRIPT.PostgresUnavailable) as exc:
        reason = f"PostgreSQL is not available: {exc}"
        if required:
            pytest.fail(f"{reason} (SURROGATE_REQUIRE_POSTGRES=1: .ci/run installs it)")
        pytest.skip(reason)


def _optimize(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "surrogate", "optimize", *REQUEST, "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _result(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def _best(result: dict[str, object]) -> tuple[tuple[object, ...], float]:
    best = result["best"]
    assert isinstance(best, dict)
    key = tuple(best[k] for k in ("hardware", "framework", "tp", "dp", "weight_dtype", "kv_dtype", "concurrency"))
    return key, float(best["throughput_per_device_tok_s"])


def test_workers_share_one_postgres_study_and_reach_the_exhaustive_optimum(postgres_url: str) -> None:
    import optuna

    exhaustive_search = _optimize("--search", "exhaustive")
    workers = [_optimize("--storage", postgres_url, "--study-name", "shared", "--trials", "24", "--seed", str(seed))
               for seed in range(3)]
    exhaustive = _best(_result(exhaustive_search))
    results = [_result(worker) for worker in workers]
    assert {r["study_name"] for r in results} == {"shared"}
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 3 * 24  # every worker's trials landed in the one study
    # Together they reach the exhaustive search's optimum.
    assert max(t.values[0] for t in finished) == pytest.approx(exhaustive[1], rel=1e-9)

    # A worker that joins with one trial of its own reads all the others': it ranks every configuration
    # they evaluated (one trial alone covers one slice) and reports the shared optimum.
    late = _result(_optimize("--storage", postgres_url, "--study-name", "shared", "--trials", "1", "--seed", "3"))
    alone = _result(_optimize("--storage", postgres_url, "--study-name", "alone", "--trials", "1", "--seed", "3"))
    assert int(late["evaluated"]) >= max(int(r["evaluated"]) for r in results) > int(alone["evaluated"])
    assert _best(late)[0] == exhaustive[0]
