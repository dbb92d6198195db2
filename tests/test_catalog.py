"""Catalogs: every row sourced, every dataset label resolves, bad rows named by file and line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features import catalog
from features.errors import DataError, UnknownNameError

REQUIRED_SKUS = ["a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm", "h100-pcie", "gh200", "h200", "b200", "b300",
                 "gb200", "gb300", "mi250-gcd", "mi300x", "gaudi2", "intel-max-1550", "sn40l", "l4", "l40s"]


def test_required_hardware_present_with_sources() -> None:
    table = catalog.hardware_table()
    assert set(REQUIRED_SKUS) <= set(table.index)
    assert table["source"].str.strip().ne("").all()
    reference = pd.read_csv(Path(__file__).parents[1] / "features" / "data" / "hardware.csv")
    assert len(reference) >= 28


def test_hardware_specs_match_datasheets() -> None:
    a100 = catalog.get_hardware("a100-sxm4-40gb")
    assert (a100.memory_gb, a100.mem_bw_gbps, a100.peak_tflops["fp16"]) == (40 * 2**30 / 1e9, 1555, 312)  # 40 GiB
    h100 = catalog.get_hardware("h100-sxm")
    assert (h100.memory_gb, h100.mem_bw_gbps, h100.intra_node_bw_gbps) == (80 * 2**30 / 1e9, 3350, 450)
    assert "fp8" not in a100.peak_tflops and h100.peak_tflops["fp8"] == pytest.approx(1978.9)
    assert catalog.get_hardware("b200").peak_tflops["fp4"] == 9000
    b60 = catalog.get_hardware("arc-pro-b60")  # aiconfigurator b60.yaml: 24 GiB, 456 GB/s, no FP8 units
    assert (b60.memory_gb, b60.mem_bw_gbps, b60.peak_tflops["bf16"]) == (24 * 2**30 / 1e9, 456, 98.304)
    assert "fp8" not in b60.peak_tflops and b60.vendor == "Intel"


@pytest.mark.parametrize(("label", "expected"), [
    ("Nvidia A100 GPU", "a100-sxm4-40gb"), ("Nvidia H100 GPU", "h100-sxm"), ("h100_sxm", "h100-sxm"),
    ("h200_sxm", "h200"), ("b200_sxm", "b200"), ("gb200", "gb200"), ("Habana Gaudi2", "gaudi2"),
    ("SambaNova SN40L", "sn40l"), ("AMD MI300X GPU", "mi300x"), ("b60", "arc-pro-b60"),
])
def test_dataset_labels_resolve(label: str, expected: str) -> None:
    assert catalog.resolve_hardware(label) == expected


def test_every_dataset_label_and_model_resolves(shared_datasets: Path) -> None:
    labels, models = set(), set()
    for path in (shared_datasets / "llm-inference-bench").rglob("*.csv"):
        table = pd.read_csv(path)
        labels |= set(table["Hardware"].dropna())
        models |= set(table["Model"].dropna())
    silicon = pd.read_csv(shared_datasets / "aiconfigurator" / "silicon_sample.csv")
    labels |= set(silicon["system"])
    models |= set(silicon["model_path"])
    for label in labels:
        catalog.resolve_hardware(label)
    for model in models:
        assert catalog.get_model(model).total_params > 0


@pytest.mark.parametrize(("model", "total_b", "active_b"), [
    # Published sizes (billions of parameters): model cards, papers, the names themselves.
    ("nvidia/Nemotron-H-56B-Base-8K", 56, 56),  # Nemotron-H, arXiv 2504.03624: 56B dense hybrid
    ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", 31.6, 3.6),  # model card: 31.6B, 3.6B active with embeddings
    ("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8", 120, 12),  # 120B total, A12B
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 109, 17),  # Meta: 109B total, 17B active
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", 400, 17),  # Meta: 400B total, 17B active
    ("moonshotai/Kimi-K2-Instruct", 1000, 32),  # model card: 1T total, 32B activated
    ("Qwen/Qwen3-Coder-480B-A35B-Instruct", 480, 35),
    ("Qwen/Qwen3-0.6B", 0.6, 0.6),
    ("Qwen/Qwen3-1.7B", 1.7, 1.7),
    ("nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16", 550, 55),  # layers_block_type: it failed to load
    ("nvidia/Llama-3_3-Nemotron-Super-49B-v1", 49, 49),  # NAS blocks: read as a plain 80-layer Llama, 88B
    ("google/gemma-4-26B-A4B", 26, 4),  # without the dense block beside the experts: 1.8B active
    ("tiiuae/falcon-40b", 41.3, 41.3),  # the shared reference's models.csv: 41.3B
    # Gated DeltaNet layers counted as the wider modules they are: as attention projections 393.7B and 24.4B.
    ("Qwen/Qwen3.5-397B-A17B", 397, 17),
    ("Qwen/Qwen3.5-122B-A10B", 122, 10),
    ("Qwen/Qwen3.5-27B", 27, 27),
])
def test_added_families_match_their_published_sizes(model: str, total_b: float, active_b: float) -> None:
    arch = catalog.get_model(model)
    # Vision towers are not counted and published sizes are rounded: 5% on totals, 7% on active counts.
    assert arch.total_params / 1e9 == pytest.approx(total_b, rel=0.05)
    assert arch.active_params / 1e9 == pytest.approx(active_b, rel=0.07)


def test_hybrid_mamba_layers_keep_no_kv_cache() -> None:
    arch = catalog.get_model("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    # 6 of 52 layers are attention ('*' in hybrid_override_pattern), each 2 KV heads x 128 x (K+V)
    assert arch.kv_values_per_token_full == 6 * 2 * 2 * 128
    assert arch.num_experts == 128 and arch.experts_per_token == 6


def test_qwen35_gated_deltanet_layers_by_hand() -> None:
    # Qwen3.5-27B config.json: hidden 5120, 64 layers, every 4th full attention (24 heads of 256, 4 KV heads, a
    # query-wide output gate: attn_output_gate); the other 48 Gated DeltaNet: q, k of 16 x 128, v, z of 48 x 128,
    # two gates per value head, a kernel-4 conv over q, k and v, out_proj. Dense MLP 17408, vocab 248320, untied.
    hidden, key, value = 5120, 16 * 128, 48 * 128
    deltanet = hidden * (2 * key + 2 * value) + hidden * 2 * 48 + (2 * key + value) * 4 + value * hidden
    attention = hidden * 24 * 256 * 2 + 2 * hidden * 4 * 256 + 24 * 256 * hidden
    mlp = 3 * hidden * 17408
    arch = catalog.get_model("Qwen/Qwen3.5-27B")
    assert arch.total_params == 48 * deltanet + 16 * attention + 64 * mlp + 2 * 248320 * hidden
    assert arch.kv_values_per_token_full == 16 * 2 * 4 * 256
    assert arch.recurrent_state_bytes_per_sequence == 48 * (48 * 128 * 128 * 4 + (2 * key + value) * 3 * 2)


def test_mamba_layers_keep_their_state_per_sequence() -> None:
    # Nemotron 3 Nano: 23 Mamba-2 layers ('M'), each 64 heads x 64 x 128 of fp32 state (mamba_ssm_cache_dtype)
    # and the conv's last 3 inputs of 64 x 64 + 2 x 8 x 128 channels in bf16.
    arch = catalog.get_model("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    assert arch.recurrent_state_bytes_per_sequence == 23 * (64 * 64 * 128 * 4 + (64 * 64 + 2 * 8 * 128) * 3 * 2)
    assert catalog.get_model("meta-llama/Llama-3.1-8B").recurrent_state_bytes_per_sequence == 0


def test_every_model_row_and_alias_loads() -> None:
    for model in catalog.model_ids():
        assert catalog.get_model(model).total_params > 0
    aliases = pd.read_csv(Path(catalog.__file__).parent / "data" / "model_aliases.csv")
    assert aliases["evidence"].str.strip().ne("").all()
    for alias, model_id in zip(aliases["alias"], aliases["model_id"], strict=True):
        assert catalog.resolve_model(alias) == model_id


def test_unknown_gpu_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        catalog.resolve_hardware("h1000")
    assert str(info.value).startswith("unknown GPU 'h1000'; did you mean: ")
    assert "h100-sxm" in info.value.suggestions


def test_frameworks_cover_the_benchmarks() -> None:
    for label, fid in [("vLLM", "vllm"), ("TensorRT-LLM", "tensorrt-llm"), ("trtllm", "tensorrt-llm"),
                       ("sglang", "sglang"), ("llama.cpp", "llama.cpp"), ("Deepspeed-MII", "deepspeed-mii"),
                       ("Deepspeed", "deepspeed"), ("sambaflow", "sambaflow")]:
        assert catalog.resolve_framework(label) == fid
    assert catalog.get_framework("llama.cpp").device_split == "layer"
    assert catalog.get_framework("vllm").batching == "continuous"


def test_model_from_a_config_json_path(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, '
                      '"num_attention_heads": 8, "intermediate_size": 512, "vocab_size": 1000}')
    arch = catalog.get_model(str(tmp_path))
    assert arch.num_layers == 4 and arch.total_params > 0


def _packaged_hardware_lines() -> list[str]:
    return (Path(catalog.__file__).parent / "data" / "hardware.csv").read_text().splitlines()


def _hardware_table_error(lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, match: str) -> None:
    """Reading a catalog of ``lines`` in place of the packaged hardware.csv raises a DataError matching ``match``."""
    (tmp_path / "hardware.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(catalog, "_DATA", tmp_path)
    catalog.hardware_table.cache_clear()
    try:
        with pytest.raises(DataError, match=match):
            catalog.hardware_table()
    finally:
        monkeypatch.undo()
        catalog.hardware_table.cache_clear()


def test_a_same_chip_that_is_not_in_the_catalog_names_file_and_line(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _packaged_hardware_lines()
    assert lines[0].endswith(",same_chip_as") and lines[1].endswith(",")  # the first row names no other chip
    _hardware_table_error([lines[0], lines[1] + "nosuch-gpu"], tmp_path, monkeypatch,
                          r"hardware.csv:2: same_chip_as 'nosuch-gpu' is not a hardware id")
    # The packaged catalog: one GCD of an MI250 and one stack of a Max 1550 share their card's chip.
    chips = catalog.hardware_table()["chip"]
    assert chips["mi250-gcd"] == "mi250" and chips["intel-max-1550-tile"] == "intel-max-1550"
    assert chips["h100-sxm"] == "h100-sxm"


def test_malformed_catalog_row_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _packaged_hardware_lines()
    header = lines[0].split(",")
    broken = lines[2].split(",")
    broken[header.index("mem_bw_gbps")] = "fast"
    _hardware_table_error([lines[0], lines[1], ",".join(broken)], tmp_path, monkeypatch,
                          r"hardware.csv:3: 'mem_bw_gbps' is not a number: 'fast'")


def test_the_engine_assumed_where_none_is_named_runs_on_the_hardware() -> None:
    assert [catalog.default_framework(h) for h in ("h100-sxm", "mi300x", "gaudi2", "epyc-9654", "sn40l")] == [
        "vllm", "vllm", "vllm", "llama.cpp", "sambaflow"]
