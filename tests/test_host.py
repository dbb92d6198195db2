"""This machine's CPU as hardware: detection, the user hardware file, the probe, and CPU physics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from features import catalog
from features.analytic import estimate
from features.efficiency import Efficiency
from features.errors import DataError, UnknownNameError
from features.host import (
    HostCpu,
    detect_host,
    host_catalog_row,
    host_id,
    is_cpu_vendor,
    save_user_hardware,
    user_hardware_path,
)
from surrogate.cli import cli

_CPU = HostCpu(name="AMD EPYC 9654 96-Core Processor", vendor="AMD (CPU)", cores=8, simd_bits=512, memory_gb=64.0)


@pytest.fixture
def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "hardware.csv"
    monkeypatch.setenv("SURROGATE_HARDWARE_FILE", str(path))
    catalog.reload_hardware()
    yield path
    monkeypatch.undo()
    catalog.reload_hardware()


def test_detect_host_reads_this_machine() -> None:
    cpu = detect_host()
    assert cpu.cores >= 1
    assert cpu.memory_gb > 0.5
    assert cpu.simd_bits in {0, 128, 256, 512}
    assert is_cpu_vendor(cpu.vendor)


def test_host_id_names_model_and_cores() -> None:
    assert host_id(_CPU) == "host-amd-epyc-9654-8c"
    assert host_id(HostCpu("Intel(R) Xeon(R) Platinum 8480+", "Intel (CPU)", 2, 512, 8.0)) == \
        "host-intel-r-xeon-r-platinum-8480-2c"


def test_cpu_vendor_labels_stay_apart_from_gpu_vendors() -> None:
    assert is_cpu_vendor("AMD (CPU)") and is_cpu_vendor("CPU")
    assert not is_cpu_vendor("AMD") and not is_cpu_vendor("Intel (Habana)")


def test_user_file_adds_a_machine_to_the_catalog(user_file: Path) -> None:
    before = len(catalog.hardware_ids())
    save_user_hardware(host_catalog_row(_CPU, mem_bw_gbps=300.0, fp32_tflops=5.0, how="test"))
    catalog.reload_hardware()
    assert user_hardware_path() == user_file
    assert catalog.hardware_ids()[-1] == "host-amd-epyc-9654-8c"  # after the packaged rows: their codes stay
    assert len(catalog.hardware_ids()) == before + 1
    spec = catalog.get_hardware("host-amd-epyc-9654-8c")
    assert spec.mem_bw_gbps == 300.0 and spec.peak_tflops["fp16"] == 5.0 and spec.devices_per_node == 1
    assert catalog.packaged_vendors()[-1] == "AMD (CPU)"
    # Saving again replaces the entry instead of adding a duplicate.
    save_user_hardware(host_catalog_row(_CPU, mem_bw_gbps=310.0, fp32_tflops=5.0, how="again"))
    catalog.reload_hardware()
    assert catalog.get_hardware("host-amd-epyc-9654-8c").mem_bw_gbps == 310.0
    assert len(catalog.hardware_ids()) == before + 1


def test_bad_user_file_names_its_line(user_file: Path) -> None:
    row = host_catalog_row(_CPU, mem_bw_gbps=300.0, fp32_tflops=5.0, how="test")
    save_user_hardware({**row, "mem_bw_gbps": "fast"})
    catalog.reload_hardware()
    with pytest.raises(DataError, match=f"{user_file}:2: 'mem_bw_gbps' is not a number: 'fast'"):
        catalog.hardware_table()


def test_hand_edited_user_file_with_an_unquoted_comma_names_its_line(user_file: Path) -> None:
    save_user_hardware(host_catalog_row(_CPU, mem_bw_gbps=300.0, fp32_tflops=5.0, how="test"))
    lines = user_file.read_text(encoding="utf-8").splitlines()
    fields = len(lines[0].split(","))
    user_file.write_text(lines[0] + "\n" + lines[1] + ",an unquoted, note\n", encoding="utf-8")
    catalog.reload_hardware()
    with pytest.raises(DataError, match=f"^{user_file}:2: {fields + 2} fields where the header has {fields} "
                                        r"\(a comma in an unquoted field\? quote it\)$"):
        catalog.hardware_table()


def test_host_before_probe_says_to_probe(user_file: Path) -> None:
    with pytest.raises(DataError, match=r"has not been measured yet: run `surrogate hardware probe` first"):
        catalog.resolve_hardware("host")


def test_probe_command_measures_and_keeps_this_machine(user_file: Path) -> None:
    result = CliRunner().invoke(cli, ["hardware", "probe", "--quick"])
    assert result.exit_code == 0, result.output
    here = host_id(detect_host())
    assert f"kept in {user_file}" in result.output
    catalog.reload_hardware()
    assert catalog.resolve_hardware("host") == here
    spec = catalog.get_hardware("host")
    assert spec.mem_bw_gbps > 0.5 and spec.peak_tflops["fp32"] > 0.001
    assert "surrogate hardware probe on this machine" in spec.source


def test_cpu_rates_are_the_probed_rates_without_gpu_saturation() -> None:
    rows = Efficiency(matmul_fraction=0.9, matmul_half_tokens=80.0, matmul_half_params=9e6,
                      vendor_log_speed={"AMD": -1.0}, framework_log_speed={"llama.cpp": -0.4}).rows(
        np.array(["AMD (CPU)", "AMD"], dtype=object), np.array(["llama.cpp", "llama.cpp"], dtype=object))
    assert rows.matmul_fraction[0] == 1.0 and rows.memory_fraction[0] == 1.0
    assert rows.matmul_half_tokens[0] == 0.0 and rows.matmul_half_params[0] == 0.0
    assert rows.matmul_fraction[1] == pytest.approx(0.9 * np.exp(-1.4))
    assert rows.matmul_half_tokens[1] == 80.0


def test_cpu_decode_step_is_weights_over_probed_bandwidth(user_file: Path, tmp_path: Path) -> None:
    """One sequence decoding on a CPU: the step reads every weight once; at 100 GB/s measured, a model of
    N fp16 parameters takes 2N / 100e9 s of memory time, by hand, and the estimate's memory part matches."""
    save_user_hardware(host_catalog_row(_CPU, mem_bw_gbps=100.0, fp32_tflops=2.0, how="test"))
    catalog.reload_hardware()
    config = tmp_path / "config.json"
    config.write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024, '
                      '"num_hidden_layers": 8, "intermediate_size": 4096, "num_attention_heads": 16, '
                      '"num_key_value_heads": 16, "vocab_size": 32000, "max_position_embeddings": 4096, '
                      '"torch_dtype": "float16"}')
    est = estimate(pd.DataFrame([{"hardware": "host-amd-epyc-9654-8c", "model": str(config),
                                  "framework": "llama.cpp", "batching": "continuous", "concurrency": 1,
                                  "input_len": 16, "output_len": 16, "weight_dtype": "fp16", "kv_dtype": "fp16"}]))
    params = catalog.get_model(str(config)).total_params
    weights_s = 2 * params / 100e9
    assert est["decode_memory_s"].iloc[0] == pytest.approx(weights_s, rel=0.05)  # + a small KV cache
    assert est["decode_comm_s"].iloc[0] == 0.0
    assert np.isfinite(est[["ttft_s", "itl_s", "latency_s"]].to_numpy()).all()


def test_an_accelerator_the_catalog_lacks_is_one_user_row_away(user_file: Path) -> None:
    with pytest.raises(UnknownNameError) as info:
        catalog.resolve_hardware("lab-gpu-x")
    assert str(info.value) == (
        f"unknown GPU 'lab-gpu-x'; to price an accelerator the catalog lacks, add a row with its datasheet numbers "
        f"to {user_file} (the columns of features/data/hardware.csv; at least id, vendor, memory_gb, mem_bw_gbps, "
        f"devices_per_node, scale_up_domain_devices, source and a bf16_tflops or fp16_tflops peak)")
    user_file.write_text("id,vendor,memory_gb,mem_bw_gbps,bf16_tflops,devices_per_node,scale_up_domain_devices,"
                         "intra_node_bw_gbps,source\nlab-gpu-x,NVIDIA,24,819,197,8,8,200,its datasheet\n")
    catalog.reload_hardware()
    result = CliRunner().invoke(cli, ["estimate", "--model", "meta-llama/Llama-3.1-8B", "--hardware", "lab-gpu-x",
                                      "--batch-size", "1", "--input-len", "512", "--output-len", "64", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)["estimate"]
    # One decode step streams the 16.06 GB of bf16 weights at least once: 16.06 / 819 GB/s = 19.6 ms at peak.
    assert answer["peak_itl_s"] >= 16.059990016 / 819 and answer["fits"]
