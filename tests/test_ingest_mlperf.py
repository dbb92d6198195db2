"""MLPerf Inference adapter: summaries joined to systems and harness files, semantics hand-checked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from surrogate.ingest import ingest, shared_datasets_dir
from surrogate.ingest.mlperf.harness import harness_facts

SERVER = """================================================
MLPerf Results Summary
================================================
SUT name : llama2-70b-Server-SUT-LoadGen
Scenario : Server
Mode     : PerformanceOnly
Completed samples per second    : {qps}
Completed tokens per second: {tokens}
Result is : {result}
Mean latency (ns)               : {latency_ns}
Mean First Token latency (ns)                : 250000000
99.00 percentile first token latency (ns)   : 500000000
Mean Time to Output Token (ns)                : 150000000
target_qps : 20
"""
OFFLINE = """Scenario : Offline
Samples per second: 10
Tokens per second: 2900
Result is : VALID
"""
NVIDIA_CONFIG = """
class ServerGPUBaseConfig(GPUBaseConfig):
    tensor_parallelism = 2
    pipeline_parallelism = 1
    precision = "fp16"


@ConfigRegistry.register(HarnessType.Custom, AccuracyTarget.k_99, PowerSetting.MaxP)
class H100_SXM_80GB_TP2x1(ServerGPUBaseConfig):
    system = KnownSystem.H100_SXM_80GBx1
    gpu_batch_size = {'llama2-70b': 512}
    use_fp8 = True
    tensor_parallelism = 1


@ConfigRegistry.register(HarnessType.Custom, AccuracyTarget.k_99, PowerSetting.MaxP)
class H100_SXM_80GB_TP2x4(H100_SXM_80GB_TP2x1):
    system = KnownSystem.H100_SXM_80GBx8
    gpu_batch_size = {'llama2-70b': 1024}
    tensor_parallelism = 2
    server_target_qps = H100_SXM_80GB_TP2x1.server_target_qps * 8


@ConfigRegistry.register(HarnessType.Custom, AccuracyTarget.k_99_9, PowerSetting.MaxP)
class H100_SXM_80GB_TP2x4_HighAccuracy(H100_SXM_80GB_TP2x4):
    pass
"""


def _system(root: Path, submitter: str, name: str, accelerator: str, per_node: object, nodes: int = 1,
            framework: str = "TensorRT 10.2.0, CUDA 12.4") -> None:
    path = root / "v4.1" / "closed" / submitter / "systems" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"accelerator_model_name": accelerator, "accelerators_per_node": per_node,
                                "number_of_nodes": nodes, "framework": framework}))


def _summary(root: Path, submitter: str, system: str, benchmark: str, scenario: str, text: str) -> Path:
    path = (root / "v4.1" / "closed" / submitter / "results" / system / benchmark / scenario / "performance"
            / "run_1" / "mlperf_log_summary.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "mlperf"
    for scenario in ("Server", "Offline"):
        config = root / "v4.1" / "closed" / "Acme" / "configs" / "llama2-70b" / scenario / "__init__.py"
        config.parent.mkdir(parents=True)
        config.write_text(NVIDIA_CONFIG)
    _system(root, "Acme", "Box_H100_SXM_80GBx8_TRT", "NVIDIA H100-SXM-80GB", "8")
    # 8 devices, tp 2 -> 4 replicas; Little's law: 20 samples/s x 40 s mean latency / 4 = 200 in flight.
    for benchmark in ("llama2-70b-99", "llama2-70b-99.9"):
        _summary(root, "Acme", "Box_H100_SXM_80GBx8_TRT", benchmark, "Server",
                 SERVER.format(qps=20.0, tokens=5800.0, result="VALID", latency_ns=40_000_000_000))
    _system(root, "Acme", "Cpu_Box", "N/A", "0")
    _summary(root, "Acme", "Cpu_Box", "llama2-70b-99", "Offline", OFFLINE)
    _system(root, "Acme", "Odd_L40Sx4", "NVIDIA L40S", 4)
    _summary(root, "Acme", "Odd_L40Sx4", "llama2-70b-99", "Server",
             SERVER.format(qps=2.0, tokens=580.0, result="VALID", latency_ns=30_000_000_000))
    _summary(root, "Acme", "Box_H100_SXM_80GBx8_TRT", "gptj-99", "Server",
             SERVER.format(qps=2.0, tokens=138.0, result="VALID", latency_ns=1_000_000_000))
    _summary(root, "Acme", "Box_H100_SXM_80GBx8_TRT", "llama2-70b-99", "Offline", OFFLINE)
    return root


def test_a_server_summary_becomes_a_continuous_row_with_littles_law_concurrency(tree: Path) -> None:
    result = ingest("mlperf", tree)
    server = result.measurements[result.measurements["request_rate_per_s"].notna()]
    assert len(server) == 2
    row = server.iloc[0]
    assert (row["hardware"], row["num_devices"], row["tp"], row["pp"], row["dp"]) == ("h100-sxm", 8, 2, 1, 4)
    assert row["framework"] == "tensorrt-llm" and row["weight_dtype"] == "fp8"
    assert row["model"] == "meta-llama/Llama-2-70b-hf"
    assert row["concurrency"] == 200  # 20 x 40 / 4
    assert row["output_len"] == 290  # 5800 tokens/s / 20 samples/s
    assert row["input_len"] == 512 and bool(row["input_len_assumed"])
    assert row["latency_s"] == pytest.approx(40.0)
    assert row["ttft_s"] == pytest.approx(0.25) and row["itl_s"] == pytest.approx(0.15)
    assert row["output_throughput_tok_s"] == pytest.approx(5800.0)
    fields = json.loads(row["source_fields"])
    assert fields["accuracy_target"] == "99" and "TP2x4" in fields["harness"]
    assert fields["99.00 percentile first token latency (ns)"] == "500000000"


def test_accuracy_variants_of_one_engine_merge_and_are_noted(tree: Path) -> None:
    result = ingest("mlperf", tree)
    server = result.table[result.table["request_rate_per_s"].notna()]
    assert len(server) == 1 and server.iloc[0]["n_measurements"] == 2
    twins = [n for n in result.account.notes if "accuracy variant of" in n.message]
    assert len(twins) == 2


def test_every_summary_is_kept_merged_or_rejected_with_a_reason(tree: Path) -> None:
    result = ingest("mlperf", tree)
    account = result.account
    assert account.rows_read == 6 and account.adds_up
    reasons = {r.file.split("/results/")[1].split("/performance")[0]: r.reason for r in account.rejections}
    assert reasons["Cpu_Box/llama2-70b-99/Offline"].startswith("CPU-only system")
    assert reasons["Odd_L40Sx4/llama2-70b-99/Server"] == (
        "4 devices and the harness does not record tensor parallelism (no matching configs/ class or run script)")
    assert "beam search" in reasons["Box_H100_SXM_80GBx8_TRT/gptj-99/Server"]
    # The Offline result's harness class records gpu_batch_size 1024 per replica: kept, throughput only.
    offline = result.table[result.table["request_rate_per_s"].isna()]
    assert len(offline) == 1
    assert offline.iloc[0]["concurrency"] == 1024 and pd.isna(offline.iloc[0]["latency_s"])


def test_a_class_for_one_gpu_does_not_match_a_sixteen_gpu_system(tree: Path) -> None:
    acme = tree / "v4.1" / "closed" / "Acme"
    facts = harness_facts(acme, "Big_H100_SXM_80GBx16_TRT", "llama2-70b-99", "Server")
    assert facts.tp is None
    facts = harness_facts(acme, "Box_H100_SXM_80GBx1_TRT", "llama2-70b-99", "Server")
    assert (facts.tp, facts.batch_per_replica, facts.weight_dtype) == (1, 512, "fp8")


def test_a_multi_node_launch_file_gives_the_tensor_parallel_groups(tree: Path) -> None:
    acme = tree / "v4.1" / "closed" / "Acme"
    (acme / "llama_configs").mkdir()
    (acme / "llama_configs" / "config_h100x16.sh").write_text(
        'export SYSTEM_ID="Big_H100_SXM_80GBx16"\nexport GPU_RANK_MAP="0,1&2,3&4,5&6,7&0,1&2,3&4,5&6,7"\n')
    facts = harness_facts(acme, "Big_H100_SXM_80GBx16_TRT", "llama2-70b-99", "Server", per_node=8)
    # tp from the rank map; batch and precision from the one-node class (Big_..._80GBx8 has none here).
    assert (facts.tp, facts.pp) == (2, 1)
    assert "config_h100x16.sh" in facts.evidence


def test_the_shared_mlperf_tree_is_read_and_accounted_for() -> None:
    root = shared_datasets_dir() / "mlperf-inference"
    if not root.exists():
        pytest.skip("shared MLPerf files not present")
    result = ingest("mlperf", root)
    account = result.account
    assert account.rows_read == 303 and account.adds_up
    assert account.faster_than_physics == 0
    table = result.table
    # NVIDIA's H200 x8 llama2-70b-99 Server: TP1 engines (configs class), 8 replicas.
    h200 = table[(table["hardware_label"] == "NVIDIA H200-SXM-141GB") & table["request_rate_per_s"].notna()
                 & (table["model"] == "meta-llama/Llama-2-70b-hf") & (table["num_devices"] == 8)]
    assert len(h200) > 0 and set(h200["tp"]) == {1} and set(h200["dp"]) == {8}
    # JuniperNetworks' 4 nodes x 8 GPUs keep all 32 devices, TP2 pairs from GPU_RANK_MAP.
    juniper = table[table["num_devices"] == 32]
    assert len(juniper) > 0 and set(juniper["tp"]) == {2} and set(juniper["dp"]) == {16}
