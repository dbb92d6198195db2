"""``surrogate optimize`` end to end: tables, JSON, files, exit codes, and two processes sharing a study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from _tiny_model import tiny_model
from click.testing import CliRunner

from surrogate.cli import cli
from surrogate.formatting import format_seconds
from surrogate.model import _files as model_files

REPO_ROOT = Path(__file__).resolve().parents[1]
BASE = ["optimize", "--model", "meta-llama/Meta-Llama-3-8B", "--gpus", "h100-sxm:2", "--gpus", "a100-sxm4-80gb:2",
        "--input-len", "512", "--output-len", "128", "--frameworks", "vllm,sglang", "--max-sequences", "64"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_model().save(tmp_path_factory.mktemp("model") / "tiny.joblib"))


def run(args: list[str]) -> object:
    return CliRunner().invoke(cli, args)


def test_help() -> None:
    result = run(["optimize", "--help"])
    assert result.exit_code == 0 and "--max-itl-s" in result.output and "--storage" in result.output


def test_tables_and_recommendation(model_file: str) -> None:
    result = run([*BASE, "--max-itl-s", "0.03", "--model-file", model_file])
    assert result.exit_code == 0, result.output
    assert "exhaustive over" in result.output and "Top 5" in result.output and "Why #1" in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Recommended on ") and ("vllm serve" in last or "sglang.launch_server" in last)


def test_json_payload(model_file: str) -> None:
    result = run([*BASE, "--json", "--top", "3", "--objective", "cost", "--model-file", model_file])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # notes go to stderr
    assert payload["method"] == "exhaustive" and len(payload["top"]) == 3
    best = payload["best"]
    assert best["max_model_len"] == 640 and best["cost_usd_per_mtok"] > 0 and best["fits"] is not False
    assert payload["top"][0]["cost_usd_per_mtok"] <= payload["top"][1]["cost_usd_per_mtok"]
    assert payload["recommendation"].startswith("Recommended on ")


def test_pareto_writes_csv_and_png(model_file: str, tmp_path: Path) -> None:
    result = run([*BASE, "--pareto", "--out", str(tmp_path), "--model-file", model_file])
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output
    for name in ["pareto.csv", "pareto.png", "top.csv", "result.json"]:
        assert (tmp_path / name).stat().st_size > 0


def test_a_ranking_without_latency_limits_says_what_its_pick_waits(model_file: str) -> None:
    result = run([*BASE, "--model-file", model_file])
    assert result.exit_code == 0, result.output
    payload = json.loads(run([*BASE, "--json", "--model-file", model_file]).stdout)
    best = payload["best"]
    assert ("note: no latency limit given: ranked by output tokens/s per device alone; #1 waits "
            f"{format_seconds(best['ttft_s'])} (P90 {format_seconds(best['ttft_s_p90'])}) for its first token and "
            f"{format_seconds(best['itl_s'])} (P90 {format_seconds(best['itl_s_p90'])}) between tokens. --max-ttft-s, "
            "--max-itl-s or --max-latency-s trade throughput for latency") in " ".join(result.stderr.split())
    assert "no latency limit" not in run([*BASE, "--max-itl-s", "0.03", "--model-file", model_file]).stderr
    assert "no latency limit" not in run([*BASE, "--objective", "latency", "--model-file", model_file]).stderr


def test_infeasible_exits_1_with_the_reason(model_file: str) -> None:
    result = run(["optimize", "--model", "meta-llama/Llama-3.1-405B", "--gpus", "h100-sxm:2", "--input-len", "512",
                  "--output-len", "128", "--model-file", model_file])
    assert result.exit_code == 1
    assert "nothing fits in memory" in result.output and "needs" in result.output
    result = run([*BASE, "--max-itl-s", "0.0001", "--model-file", model_file])
    assert result.exit_code == 1 and "lowest predicted P90 ITL" in result.output
    result = run([*BASE, "--max-itl-s", "0.0001", "--risk", "p80", "--model-file", model_file])
    assert result.exit_code == 1 and "lowest predicted P80 ITL" in result.output


def test_a_p80_limit_admits_what_the_p90_limit_rules_out(model_file: str) -> None:
    payloads = {risk: json.loads(run([*BASE, "--max-itl-s", "0.02", "--risk", risk, "--json", "--model-file",
                                      model_file]).output) for risk in ("p80", "p90")}
    # The read-off P80 lies between the median and P90, so every P90-feasible configuration is P80-feasible.
    assert payloads["p80"]["best"]["output_throughput_tok_s"] >= payloads["p90"]["best"]["output_throughput_tok_s"]
    assert payloads["p80"]["best"]["itl_s_p90"] >= payloads["p80"]["best"]["itl_s_p80"] >= \
        payloads["p80"]["best"]["itl_s"]


def test_unknown_gpu_exits_2_with_suggestions(model_file: str) -> None:
    result = run(["optimize", "--model", "meta-llama/Meta-Llama-3-8B", "--gpus", "h1000:8", "--input-len", "8",
                  "--output-len", "8", "--model-file", model_file])
    assert result.exit_code == 2 and "did you mean" in result.output and "h100" in result.output


def test_missing_default_model_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(model_files, "default_model_path", lambda: tmp_path / "absent.joblib")
    result = run(BASE)
    assert result.exit_code == 1 and "--model-file" in result.output


def test_study_name_without_storage_is_a_usage_error(model_file: str) -> None:
    result = run([*BASE, "--study-name", "x", "--model-file", model_file])
    assert result.exit_code == 2


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_processes_share_one_study(model_file: str, tmp_path: Path, kind: str) -> None:
    storage = str(tmp_path / "study.log") if kind == "journal" else f"sqlite:///{tmp_path}/study.db"
    args = [sys.executable, "-m", "surrogate", *BASE, "--storage", storage, "--study-name", "shared",
            "--trials", "16", "--json", "--model-file", model_file]
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ}  # two LightGBM processes on two cores: no spinning
    workers = [subprocess.Popen([*args, "--seed", str(seed)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for seed in (1, 2)]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert json.loads(out)["study_name"] == "shared"
    if kind == "journal":
        opened = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
        trials = optuna.load_study(study_name="shared", storage=opened).trials
    else:
        trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 32
    assert len({t.user_attrs["worker"] for t in trials}) == 2
