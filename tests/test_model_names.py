"""Model names as people write them: publisher-quantised, renamed, fine-tuned, or not in the catalog."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from features import catalog, model_names
from features.errors import UnknownNameError
from features.model_names import QUANT_SUFFIXES, CatalogNames, resolve_name, strip_quant_suffix

# name as typed -> (catalog id, weight format the name states, KV format the name states, assumed)
RESOLVES = [
    # publisher-quantised checkpoints: base architecture plus the precision the suffix names
    ("nvidia/Qwen3-32B-NVFP4", "Qwen/Qwen3-32B", "fp4", None, True),
    ("Qwen/Qwen3-32B-AWQ", "Qwen/Qwen3-32B", "int4", None, True),
    ("Qwen/Qwen3-8B-FP8", "Qwen/Qwen3-8B", "fp8", None, True),
    ("Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4", "Qwen/Qwen2.5-72B", "int4", None, True),
    ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8", "Qwen/Qwen2.5-7B", "int8", None, True),
    ("RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic", "meta-llama/Llama-3.1-8B", "fp8", None, True),
    ("RedHatAI/Meta-Llama-3.1-70B-Instruct-quantized.w4a16", "meta-llama/Llama-3.1-70B", "int4", None, True),
    ("amd/Llama-3.1-8B-Instruct-FP8-KV", "meta-llama/Llama-3.1-8B", "fp8", "fp8", True),
    ("unsloth/Llama-3.1-8B-Instruct-bnb-4bit", "meta-llama/Llama-3.1-8B", "int4", None, True),
    ("nvidia/DeepSeek-R1-0528-FP4", "deepseek-ai/DeepSeek-R1", "fp4", None, True),
    ("nvidia/Llama-3.3-70B-Instruct-FP8", "meta-llama/Llama-3.1-70B", "fp8", None, True),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "fp8",
     None, True),
    ("Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", "Qwen/Qwen3-Coder-480B-A35B-Instruct", "fp8", None, True),
    # an alias row named like a quantised checkpoint states its precision as well
    ("nvidia/Llama-3.1-8B-Instruct-FP8", "meta-llama/Llama-3.1-8B", "fp8", None, False),
    # quantised checkpoints the catalog holds: their own config decides (None here)
    ("Qwen/Qwen3-32B-FP8", "Qwen/Qwen3-32B-FP8", None, None, False),
    ("nvidia/DeepSeek-V3.1-NVFP4", "nvidia/DeepSeek-V3.1-NVFP4", None, None, False),
    ("nvidia/Qwen3-235B-A22B-NVFP4", "nvidia/Qwen3-235B-A22B-NVFP4", None, None, False),
    # org renames and re-uploads
    ("zhipuai/GLM-5", "zai-org/GLM-5", None, None, False),
    ("zhipuai/GLM-5.1-FP8", "zai-org/GLM-5.1-FP8", "fp8", None, False),  # the alias's name states fp8
    ("unsloth/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B", None, None, True),
    ("meta-llama/Meta-Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B", None, None, False),
    # fine-tune and revision suffixes of catalog models
    ("deepseek-ai/DeepSeek-R1-0528", "deepseek-ai/DeepSeek-R1", None, None, True),
    ("Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen/Qwen3-30B-A3B", None, None, True),
    ("Qwen/Qwen3-235B-A22B-Thinking-2507-FP8", "Qwen/Qwen3-235B-A22B", "fp8", None, True),
    ("Qwen/Qwen3-8B-Base", "Qwen/Qwen3-8B", None, None, True),
    ("moonshotai/Kimi-K2-Instruct-0905", "moonshotai/Kimi-K2-Instruct", None, None, True),
    ("google/gemma-2-9b-it", "google/gemma-2-9b", None, None, False),
    # point releases: only through alias rows with evidence
    ("meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-70B", None, None, False),
    ("deepseek-ai/DeepSeek-V3.1", "deepseek-ai/DeepSeek-V3", None, None, False),
    # families added from their published config.json
    ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4", None, None,
     False),
    ("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-FP8", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "fp8", None, True),
    ("qwen/qwen3-0.6b", "Qwen/Qwen3-0.6B", None, None, False),
    # spaces for dashes, and a family run into its version (MLPerf's benchmark names), as tables write names
    ("Llama 3.1 8B", "meta-llama/Llama-3.1-8B", None, None, True),
    ("llama2-70b", "meta-llama/Llama-2-70b-hf", None, None, True),
    ("llama3.1-8b", "meta-llama/Llama-3.1-8B", None, None, True),
    ("llama2-70b-99.9", "meta-llama/Llama-2-70b-hf", None, None, True),  # MLPerf's accuracy target dropped
    ("mixtral-8x7b-99", "mistralai/Mixtral-8x7B-v0.1", None, None, True),
    ("Qwen/Qwen3-32B@main", "Qwen/Qwen3-32B", None, None, True),  # a revision: read as its repository
    ("~/models/Qwen2.5-7B-Instruct/", "Qwen/Qwen2.5-7B", None, None, True),  # a folder that is not here
    # the base of a model the catalog holds only as its fine-tune
    ("meta-llama/Llama-4-Scout-17B-16E", "meta-llama/Llama-4-Scout-17B-16E-Instruct", None, None, True),
    ("Qwen/Qwen3-VL-32B-FP8", "Qwen/Qwen3-VL-32B-Instruct", "fp8", None, True),
    # DeepSeek-R1's distills: fine-tunes of the models they were distilled onto (DeepSeek's README table)
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B", "meta-llama/Llama-3.1-70B", None, None, False),
    ("RedHatAI/DeepSeek-R1-Distill-Qwen-32B-FP8-dynamic", "Qwen/Qwen2.5-32B", "fp8", None, True),
    # Kimi-K2-Thinking's native INT4 weights: an alias row, not its base's fp8 by the fine-tune rule
    ("moonshotai/Kimi-K2-Thinking", "moonshotai/Kimi-K2.5", None, None, False),
    # re-uploads that keep only the short name under another org, and hugging-quants' AWQ suffix
    ("TheBloke/Llama-2-7B-GPTQ", "meta-llama/Llama-2-7b-hf", "int4", None, True),
    ("meta-llama/Llama-2-7b", "meta-llama/Llama-2-7b-hf", None, None, True),  # Meta's original-format repository
    ("TheBloke/Llama-2-70B-Chat-AWQ", "meta-llama/Llama-2-70b-hf", "int4", None, True),
    ("hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", "meta-llama/Llama-3.1-8B", "int4", None, True),
]


@pytest.mark.parametrize(("name", "model_id", "weight", "kv", "assumed"), RESOLVES)
def test_names_as_people_write_them_resolve(name: str, model_id: str, weight: str | None, kv: str | None,
                                            assumed: bool) -> None:
    resolved = catalog.resolve_model_name(name)
    assert (resolved.model_id, resolved.weight_dtype, resolved.kv_dtype, resolved.assumed) == (
        model_id, weight, kv, assumed)
    assert catalog.resolve_model(name) == model_id
    assert resolved.how.startswith(model_id if name.lower() == model_id.lower() else f"{name} -> {model_id}")


def test_a_name_read_with_a_dash_says_so() -> None:
    assert catalog.resolve_model_name("llama2-70b").how == ("llama2-70b -> meta-llama/Llama-2-70b-hf (alias: short "
                                                             "name; read as 'llama-2-70b')")


def test_how_says_what_was_resolved_and_assumed() -> None:
    assert catalog.resolve_model_name("nvidia/Qwen3-32B-NVFP4").how == (
        "nvidia/Qwen3-32B-NVFP4 -> Qwen/Qwen3-32B with fp4 weights (publisher-quantised name, suffix '-NVFP4'; "
        "same repository name as Qwen/Qwen3-32B under another org: same architecture assumed)")
    assert catalog.resolve_model_name("amd/Llama-3.1-8B-Instruct-FP8-KV").how.startswith(
        "amd/Llama-3.1-8B-Instruct-FP8-KV -> meta-llama/Llama-3.1-8B with fp8 weights and fp8 KV cache (")
    assert catalog.resolve_model_name("Qwen/Qwen3-235B-A22B-Thinking-2507-FP8").how == (
        "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8 -> Qwen/Qwen3-235B-A22B with fp8 weights (publisher-quantised "
        "name, suffix '-FP8'; fine-tune/revision suffix '-Thinking-2507' of a catalog model: same architecture "
        "assumed)")
    assert catalog.resolve_model_name("meta-llama/Llama-3.3-70B-Instruct").how == (
        "meta-llama/Llama-3.3-70B-Instruct -> meta-llama/Llama-3.1-70B (alias: point release on the "
        "Llama-3.1-70B architecture)")
    assert catalog.resolve_model_name("Qwen/Qwen3-8B").how == "Qwen/Qwen3-8B (catalog id)"


_HOW_TO = ("the catalog has no config.json for it: download the checkpoint's config.json (and hf_quant_config.json "
           "if it has one) and give its path, or the folder holding them, instead of the name (e.g. --model "
           "path/to/config.json)")


@pytest.mark.parametrize(("name", "message"), [
    # a family the catalog lacks: a fine-tune suffix resolves only onto a catalog model
    ("google/gemma-3-27b-it", "unknown model 'google/gemma-3-27b-it'; did you mean: google/gemma-2-27b-it, "
                              f"google/gemma-7b-it, google/gemma-1.1-7b-it? If not, {_HOW_TO}"),
    ("nvidia/NVIDIA-Nemotron-Nano-9B-v2", "unknown model 'nvidia/NVIDIA-Nemotron-Nano-9B-v2'; did you mean: "
                                          "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B, "
                                          "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4, "
                                          f"nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16? If not, {_HOW_TO}"),
    ("my-org/brand-new-model", f"unknown model 'my-org/brand-new-model'; {_HOW_TO}"),
    # a size the catalog lacks, quantised: suggestions come from the name without its suffix
    ("nvidia/Qwen3-14B-NVFP4", "unknown model 'nvidia/Qwen3-14B-NVFP4'; did you mean: nvidia/Qwen3.6-27B-NVFP4, "
                               f"nvidia/Qwen3.5-122B-A10B-NVFP4, Qwen/Qwen3-1.7B? If not, {_HOW_TO}"),
    # a version or point release is never guessed from its neighbours
    ("mistralai/Mistral-7B-v0.2", "unknown model 'mistralai/Mistral-7B-v0.2'; did you mean: "
                                  f"mistralai/Mistral-7B-v0.3, mistralai/Mistral-7B-v0.1, mistralai/Mixtral-8x7B-v0.1? "
                                  "If not, "
                                  f"{_HOW_TO}"),
    ("meta-llama/Llama-3.2-3B-Instruct", "unknown model 'meta-llama/Llama-3.2-3B-Instruct'; did you mean: "
                                         "meta-llama/Llama-3.1-8B-Instruct, meta-llama/Llama-3.3-70B-Instruct, "
                                         f"meta-llama/Llama-3.1-70B-Instruct? If not, {_HOW_TO}"),
])
def test_unknown_names_say_how_to_pass_a_config(name: str, message: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        catalog.resolve_model_name(name)
    assert str(info.value) == message


def test_quantised_name_sets_the_checkpoint_precision_not_the_base() -> None:
    quantised = catalog.get_model("nvidia/Qwen3-32B-NVFP4")
    base = catalog.get_model("Qwen/Qwen3-32B")
    assert (quantised.model_id, quantised.native_weight_dtype, quantised.native_kv_dtype) == ("Qwen/Qwen3-32B", "fp4",
                                                                                              None)
    assert base.native_weight_dtype == "bf16" and quantised.total_params == base.total_params
    kv_named = catalog.get_model("amd/Llama-3.1-8B-Instruct-FP8-KV")
    assert (kv_named.native_weight_dtype, kv_named.native_kv_dtype) == ("fp8", "fp8")
    # the BF16 release does not inherit the FP8 KV cache of the FP8 checkpoint whose config the catalog holds
    assert catalog.get_model("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-FP8").native_kv_dtype == "fp8"
    bf16 = catalog.get_model("nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16")
    assert (bf16.native_weight_dtype, bf16.native_kv_dtype) == ("bf16", None)


def test_a_config_folder_with_hf_quant_config_gives_its_precision(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8,
        "intermediate_size": 512, "vocab_size": 1000, "torch_dtype": "bfloat16"}))
    (tmp_path / "hf_quant_config.json").write_text(json.dumps(
        {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}))
    resolved = catalog.resolve_model_name(str(tmp_path))
    assert resolved.model_id == str(tmp_path / "config.json") and resolved.weight_dtype is None
    assert resolved.how == f"{tmp_path / 'config.json'} (config.json given)"
    arch = catalog.get_model(str(tmp_path))
    assert (arch.native_weight_dtype, arch.native_kv_dtype) == ("fp8", "fp8")


@pytest.mark.parametrize(("name", "stem", "suffix"), [
    ("nvidia/Qwen3-32B-NVFP4", "nvidia/Qwen3-32B", "-NVFP4"),
    ("x/Llama-3.1-8B-Instruct-FP8-KV", "x/Llama-3.1-8B-Instruct", "-FP8-KV"),
    ("x/Llama-3.1-8B-Instruct-fp8_dynamic", "x/Llama-3.1-8B-Instruct", "-FP8-dynamic"),
    ("x/Qwen2.5-7B-Instruct-GPTQ-Int8", "x/Qwen2.5-7B-Instruct", "-GPTQ-Int8"),
    ("x/Meta-Llama-3.1-8B-Instruct-quantized.w8a8", "x/Meta-Llama-3.1-8B-Instruct", "-quantized.w8a8"),
    ("x/Qwen3-32B-AWQ", "x/Qwen3-32B", "-AWQ"),
    ("x/FP8", "x/FP8", None),  # a suffix must leave a repository name
    ("x/Qwen3-32B", "x/Qwen3-32B", None),
])
def test_quantisation_suffixes_strip_longest_first(name: str, stem: str, suffix: str | None) -> None:
    found, rule = strip_quant_suffix(name)
    assert (found, rule.suffix if rule else None) == (stem, suffix)


def test_docstring_table_lists_every_quantisation_suffix() -> None:
    doc = model_names.__doc__ or ""
    for rule in QUANT_SUFFIXES:
        row = next((line for line in doc.splitlines() if line.startswith(rule.suffix + " ")), None)
        assert row is not None, rule.suffix
        assert row.split()[1:3] == [rule.weight_dtype, rule.kv_dtype or row.split()[2]]


def test_a_repository_name_two_models_share_is_not_guessed() -> None:
    names = CatalogNames({"a/Model-7B": ("a/Model-7B", ""), "b/Model-7B": ("b/Model-7B", "")})
    assert resolve_name("c/Model-7B-FP8", names) is None
    assert resolve_name("a/Model-7B-FP8", names) is not None


def test_assumptions_are_logged_once_as_warnings(caplog: pytest.LogCaptureFixture) -> None:
    catalog.resolve_model_name.cache_clear()
    with caplog.at_level(logging.INFO, logger="features.catalog"):
        catalog.resolve_model_name("nvidia/Qwen3-8B-NVFP4")
        catalog.resolve_model_name("nvidia/Qwen3-8B-NVFP4")
        catalog.resolve_model_name("zhipuai/GLM-5")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "model nvidia/Qwen3-8B-NVFP4 -> Qwen/Qwen3-8B with fp4 weights (publisher-quantised name, "
                    "suffix '-NVFP4'; same repository name as Qwen/Qwen3-8B under another org: same architecture "
                    "assumed)"),
        ("INFO", "model zhipuai/GLM-5 -> zai-org/GLM-5 (alias: old org name of zai-org (Zhipu AI renamed its Hub "
                 "org))"),
    ]
