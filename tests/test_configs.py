"""Configuration tables: defaults, canonical names, validation messages and per-row catalog numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from features import catalog
from features.configs import (
    CONFIG_COLUMNS,
    REQUIRED_COLUMNS,
    config_warnings,
    gather_specs,
    invalid_reasons,
    mean_lengths,
    normalize_configs,
)
from features.errors import ConfigError, UnknownNameError

LLAMA3_8B = "meta-llama/Meta-Llama-3-8B"  # 32 layers, 32 attention heads, 8 KV heads, bf16 checkpoint


def one(**kwargs: object) -> pd.DataFrame:
    base = {"hardware": "h100-sxm", "model": LLAMA3_8B, "input_len": 128, "output_len": 64}
    base.update(kwargs)
    return pd.DataFrame([base])


def normal(**kwargs: object) -> pd.Series:
    return normalize_configs(one(**kwargs)).iloc[0]


# --- normalize_configs: defaults -------------------------------------------------------------


def test_minimal_row_gets_every_config_column_with_defaults() -> None:
    out = normalize_configs(one())
    assert set(CONFIG_COLUMNS) <= set(out.columns)
    row = out.iloc[0]
    assert row["framework"] == "vllm"
    assert row["batching"] == "continuous"  # vLLM is a continuous-batching server
    assert (row["tp"], row["pp"], row["dp"], row["ep"], row["num_devices"]) == (1, 1, 1, 1, 1)
    assert row["weight_dtype"] == "bf16"  # Meta-Llama-3-8B config.json torch_dtype bfloat16
    assert row["kv_dtype"] == "fp16"
    assert row["batch_size"] == 1 and row["concurrency"] == 1
    assert math.isnan(row["prefill_chunk_tokens"])
    for name in ["num_devices", "tp", "pp", "dp", "ep", "batch_size", "concurrency", "input_len", "output_len"]:
        assert out[name].dtype == np.int64, name


@pytest.mark.parametrize(("given", "expected"), [
    ({"num_devices": 4}, (4, 1, 1)),
    ({"num_devices": 8, "dp": 2}, (4, 1, 2)),
    ({"num_devices": 8, "pp": 2}, (4, 2, 1)),
    ({"tp": 2, "pp": 2, "dp": 2}, (2, 2, 2)),
])
def test_tensor_parallel_defaults_to_the_devices_left(given: dict[str, int], expected: tuple[int, int, int]) -> None:
    row = normal(**given)
    assert (row["tp"], row["pp"], row["dp"]) == expected
    assert row["num_devices"] == expected[0] * expected[1] * expected[2]


def test_llama_cpp_layer_split_puts_devices_into_pipeline_stages() -> None:
    row = normal(framework="llama.cpp", num_devices=4, dp=2)
    assert (row["tp"], row["pp"], row["dp"], row["num_devices"]) == (1, 2, 2, 4)
    assert row["batching"] == "static"  # llama.cpp processes one static batch


def test_concurrency_defaults_to_batch_size_row_by_row() -> None:
    frame = pd.DataFrame([{**one().iloc[0], "batch_size": 8, "concurrency": None},
                          {**one().iloc[0], "batch_size": None, "concurrency": 64}])
    out = normalize_configs(frame)
    assert out["concurrency"].tolist() == [8, 64]
    assert out["batch_size"].tolist() == [8, 64]  # a continuous row without a batch gets its concurrency


@pytest.mark.parametrize(("given", "warning"), [
    ({"batching": "static", "batch_size": 8, "concurrency": 16},
     "concurrency 16 is not used: a static batch is batch_size (8)"),
    ({"batching": "static", "concurrency": 16}, "concurrency 16 is not used: a static batch is batch_size (1)"),
    ({"batching": "continuous", "batch_size": 8, "concurrency": 16},
     "batch_size 8 is not used: under continuous batching the requests in flight are concurrency (16)"),
    ({"batching": "static", "batch_size": 8, "concurrency": 8}, ""),
    ({"batching": "continuous", "batch_size": 8}, ""),  # concurrency defaults to the batch size
    ({"batching": "continuous", "concurrency": 8}, ""),  # ... and the batch to the concurrency
])
def test_a_number_of_sequences_the_batching_does_not_use_is_flagged(given: dict[str, object], warning: str) -> None:
    assert config_warnings(normalize_configs(one(**given))).iloc[0] == warning


def test_weight_dtype_defaults_to_the_checkpoint_precision() -> None:
    frame = pd.concat([one(model=m) for m in ["deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b",
                                              "meta-llama/Llama-2-7b-hf"]], ignore_index=True)
    # DeepSeek-V3 ships fp8 (quantization_config fp8), gpt-oss mxfp4, Llama-2 torch_dtype float16
    assert normalize_configs(frame)["weight_dtype"].tolist() == ["fp8", "fp4", "fp16"]


def test_missing_framework_cells_default_to_vllm() -> None:
    frame = pd.concat([one(framework=None), one(framework="sglang")], ignore_index=True)
    assert normalize_configs(frame)["framework"].tolist() == ["vllm", "sglang"]


def test_framework_version_is_optional_and_kept_as_written() -> None:
    assert normalize_configs(one())["framework_version"].isna().all()  # absent: an all-NA column
    frame = pd.concat([one(framework_version="0.19.0"), one(framework_version=None),
                       one(framework_version="nightly-dev")], ignore_index=True)
    out = normalize_configs(frame)["framework_version"]
    assert out.dtype == "string"
    assert out.iloc[0] == "0.19.0" and pd.isna(out.iloc[1]) and out.iloc[2] == "nightly-dev"


def test_an_engine_written_with_its_release_gives_both() -> None:
    frame = pd.concat([one(framework="vLLM 0.6.3"), one(framework="sglang v0.4.1"), one(framework="vllm==0.8.5"),
                       one(framework="vLLM 0.6.3", framework_version="0.6.3"), one(framework="tensorrt-llm")],
                      ignore_index=True)
    out = normalize_configs(frame)
    assert out["framework"].tolist() == ["vllm", "sglang", "vllm", "vllm", "tensorrt-llm"]
    assert out["framework_version"].tolist()[:4] == ["0.6.3", "0.4.1", "0.8.5", "0.6.3"]
    assert pd.isna(out["framework_version"].iloc[4])
    with pytest.raises(ConfigError, match="^framework 'vLLM 0.6.3' names release 0.6.3 but framework_version says "
                                          "0.7.0$"):
        normalize_configs(one(framework="vLLM 0.6.3", framework_version="0.7.0"))
    with pytest.raises(UnknownNameError, match="unknown framework 'lmdeploy 0.6.3'"):  # not an engine we model
        normalize_configs(one(framework="lmdeploy 0.6.3"))


@pytest.mark.parametrize(("label", "engine"), [
    ("trtllm-serve", "tensorrt-llm"), ("Triton TRT-LLM", "tensorrt-llm"), ("llama-server", "llama.cpp"),
    ("ollama", "llama.cpp"), ("ROCm vLLM", "vllm"), ("DeepSpeed-FastGen", "deepspeed-mii"),
])
def test_engines_by_the_names_of_their_servers_and_builds(label: str, engine: str) -> None:
    assert catalog.resolve_framework(label) == engine


def test_input_is_not_modified_and_extra_columns_pass_through() -> None:
    frame = one(weight_dtype="bfloat16", measured_latency_s=1.5)
    before = frame.copy()
    out = normalize_configs(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert out["measured_latency_s"].iloc[0] == 1.5


def test_index_is_kept() -> None:
    frame = pd.concat([one(), one(batch_size=4)])
    frame.index = ["x", "y"]
    out = normalize_configs(frame)
    assert out.index.tolist() == ["x", "y"]
    assert out.loc["y", "batch_size"] == 4


# --- normalize_configs: canonical names ------------------------------------------------------


@pytest.mark.parametrize(("column", "alias", "canonical"), [
    ("hardware", "NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("hardware", "A100-40GB", "a100-sxm4-40gb"),
    ("hardware", "H100_SXM", "h100-sxm"),
    ("model", "meta-llama/Meta-Llama-3-8B-Instruct", LLAMA3_8B),
    ("model", "META-LLAMA/meta-llama-3-8b", LLAMA3_8B),
    ("framework", "TensorRT-LLM", "tensorrt-llm"),
    ("framework", "llamacpp", "llama.cpp"),
    ("weight_dtype", "bfloat16", "bf16"),
    ("weight_dtype", "float16", "fp16"),
    ("weight_dtype", "nvfp4", "fp4"),
    ("weight_dtype", "AWQ", "int4"),
    ("weight_dtype", "FP8", "fp8"),
    ("kv_dtype", "auto", "fp16"),
    ("kv_dtype", "fp8_e4m3", "fp8"),
    ("batching", "Static", "static"),
])
def test_aliases_become_canonical_names(column: str, alias: str, canonical: str) -> None:
    assert normal(**{column: alias})[column] == canonical


# --- normalize_configs: errors ---------------------------------------------------------------


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(ConfigError, match="^configurations lack required columns: input_len, output_len$"):
        normalize_configs(pd.DataFrame([{"hardware": "h100-sxm", "model": LLAMA3_8B}]))
    assert REQUIRED_COLUMNS == ["hardware", "model", "input_len", "output_len"]


def test_devices_counted_into_the_accelerator_name_give_num_devices() -> None:
    frame = pd.concat([one(hardware="8x H100"), one(hardware="h100-sxm:8"), one(hardware="4 x H200 SXM"),
                       one(hardware="8x H100", num_devices=8)], ignore_index=True)
    out = normalize_configs(frame)
    assert out["hardware"].tolist() == ["h100-sxm", "h100-sxm", "h200", "h100-sxm"]
    assert out["num_devices"].tolist() == [8, 8, 4, 8] and out["tp"].tolist() == [8, 8, 4, 8]
    with pytest.raises(ConfigError, match="^hardware '8x H100' counts 8 devices but num_devices says 4$"):
        normalize_configs(one(hardware="8x H100", num_devices=4))


def test_batching_modes_as_tables_write_them() -> None:
    frame = pd.concat([one(batching=b, concurrency=4, batch_size=None) for b in
                       ["Continuous batching", "in-flight", "inflight_batching", "CONTINUOUS", "IFB"]]
                      + [one(batching=b) for b in ["Static batching", " static "]], ignore_index=True)
    assert normalize_configs(frame)["batching"].tolist() == ["continuous"] * 5 + ["static"] * 2


def test_unknown_batching_is_refused() -> None:
    with pytest.raises(ConfigError, match="^batching must be 'static' or 'continuous', got 'dynamic'$"):
        normalize_configs(one(batching="dynamic"))


@pytest.mark.parametrize(("column", "value", "message"), [
    ("hardware", "h1000", "unknown GPU 'h1000'; did you mean: "),
    ("framework", "vlm", "unknown framework 'vlm'; did you mean: vllm?"),
    ("weight_dtype", "fp7", "unknown precision 'fp7'; did you mean: "),
    ("model", "no-such/model", "unknown model 'no-such/model'"),
])
def test_unknown_names_raise_with_suggestions(column: str, value: str, message: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        normalize_configs(one(**{column: value}))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("column", ["input_len", "output_len"])
def test_non_numeric_value_names_column_and_row(column: str) -> None:
    frame = pd.concat([one(), one(**{column: "many"})], ignore_index=True)
    with pytest.raises(ConfigError, match=f"^column '{column}' must be a whole number; row 1 has 'many'$"):
        normalize_configs(frame)


@pytest.mark.parametrize("column", ["tp", "pp", "dp", "ep", "batch_size", "concurrency"])
def test_non_numeric_parallelism_or_batch_names_the_column(column: str) -> None:
    frame = pd.concat([one(), one(**{column: "many"})], ignore_index=True)
    with pytest.raises(ConfigError, match=f"^column '{column}' must be a whole number"):
        normalize_configs(frame)


@pytest.mark.parametrize("column", ["tp", "batch_size", "concurrency"])
def test_fractional_value_is_not_a_whole_number(column: str) -> None:
    # (a length may be a mean: test_a_length_that_is_a_mean_is_read_as_the_nearest_whole_number_and_said)
    with pytest.raises(ConfigError, match=f"^column '{column}' must be a whole number"):
        normalize_configs(one(**{column: 2.5}))


def test_device_defaults_are_per_row_in_a_mixed_table() -> None:
    frame = pd.concat([one(num_devices=4), one(tp=2)], ignore_index=True)
    out = normalize_configs(frame)
    assert out[["num_devices", "tp"]].to_numpy().tolist() == [[4, 4], [2, 2]]


# --- invalid_reasons -------------------------------------------------------------------------


def test_invalid_reasons_names_each_rows_first_problem() -> None:
    frame = pd.concat([
        one(tp=2, num_devices=2),                                             # fine
        one(tp=3, num_devices=3),                                             # Llama-3-8B has 32 heads
        one(tp=1, pp=40, num_devices=40),                                     # ... and 32 layers
        one(tp=1, pp=32, num_devices=32),                                     # one layer per stage is fine
        one(tp=4, num_devices=8),                                             # 4 * 1 * 1 != 8
        one(tp=1, num_devices=1, hardware="mi300x", framework="tensorrt-llm"),  # TensorRT-LLM is NVIDIA only
        one(tp=1, num_devices=1, hardware="gaudi2", framework="sglang"),        # SGLang: NVIDIA, AMD
        one(tp=1, num_devices=1, batch_size=0),
        one(tp=3, num_devices=8),                                             # device count is checked first
    ])
    frame.index = list("abcdefghi")
    reasons = invalid_reasons(normalize_configs(frame))
    assert reasons.index.tolist() == list("abcdefghi")
    assert reasons.tolist() == [
        "",
        "tp 3 does not divide the 32 attention heads",
        "pp 40 exceeds the 32 layers",
        "",
        "num_devices 8 != tp*pp*dp = 4",
        "tensorrt-llm does not run on AMD hardware (engines that do: vllm, sglang, llama.cpp)",
        "sglang does not run on Intel (Habana) hardware (engines that do: vllm, deepspeed)",
        "batch_size must be at least 1, got 0",
        "num_devices 8 != tp*pp*dp = 3",
    ]


def test_invalid_reasons_name_what_no_engine_or_model_can_do() -> None:
    mixtral = "mistralai/Mixtral-8x7B-v0.1"  # 8 experts, 32k context
    frame = pd.concat([
        one(input_len=8000, output_len=192),                              # exactly Llama-3-8B's 8192 tokens
        one(input_len=8000, output_len=193),                              # one token over
        one(ep=8),                                                        # a dense model
        one(model=mixtral, ep=8),                                         # 8 experts, but one device
        one(model=mixtral, tp=8, dp=2, num_devices=16, ep=16),            # more ranks than experts
        one(model=mixtral, tp=4, dp=2, num_devices=8, ep=8),              # fine: ep = tp*dp
        one(model=mixtral, tp=8, num_devices=8, ep=4),                    # fine: TensorRT-LLM moe_ep 4 x moe_tp 2
        one(framework="deepspeed-mii", weight_dtype="fp8"),
        one(framework="llama.cpp", kv_dtype="fp8"),
    ], ignore_index=True)
    assert invalid_reasons(normalize_configs(frame)).tolist() == [
        "",
        "input_len 8000 + output_len 193 = 8193 tokens exceed the context window of meta-llama/Meta-Llama-3-8B (8192 "
        "tokens, max_position_embeddings); shorten the prompt or the output",
        "ep 8: meta-llama/Meta-Llama-3-8B is a dense model (no experts to spread); use ep 1",
        "ep 8 needs tp*dp to be a multiple of it (experts are spread over the tp*dp devices of a pipeline stage); "
        "here tp*dp = 1",
        "ep 16 exceeds the 8 experts of mistralai/Mixtral-8x7B-v0.1",
        "",
        "",
        "deepspeed-mii does not run fp8 weights (it runs fp16, bf16)",
        "llama.cpp does not run fp8 KV caches (it runs fp16, bf16, int8, int4)",
    ]


def test_weights_without_their_own_tensor_cores_are_flagged_not_refused() -> None:
    frame = pd.concat([one(hardware="a100-sxm4-80gb", weight_dtype="fp4"), one(hardware="b200", weight_dtype="fp4"),
                       one(hardware="a100-sxm4-80gb", weight_dtype="int4")], ignore_index=True)
    cfg = normalize_configs(frame)
    assert invalid_reasons(cfg).tolist() == ["", "", ""]
    warnings = config_warnings(cfg).tolist()
    assert warnings[0].startswith("fp4 weights on a100-sxm4-80gb: it has no fp4 tensor cores, so this is weight-only "
                                  "fp4 (matmuls at the fp16 peak")
    assert warnings[1:] == ["", ""]  # B200 has fp4 tensor cores; int4 is weight-only everywhere


@pytest.mark.parametrize(("value", "message"), [
    (float("inf"), "^column 'input_len' must be a whole number; got inf$"),
    ("inf", "^column 'input_len' must be a whole number; got 'inf'$"),
    (float("nan"), "^the configuration has no input_len$"),
    (1e30, r"^column 'input_len' is too large: 1e\+30 \(at most 2,147,483,647\)$"),
    ("banana", "^column 'input_len' must be a whole number; got 'banana'$"),
])
def test_counts_that_are_not_finite_whole_numbers_are_named(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalize_configs(one(input_len=value))


def test_a_length_that_is_a_mean_is_read_as_the_nearest_whole_number_and_said() -> None:
    # Tables of requests of varying length give the mean (215.73 prompt tokens); it is priced as if every request
    # had the nearest whole length, half up, and the warning names the first such cell and how many more.
    table = pd.concat([one(input_len=215.73), one(output_len=97.5), one(input_len=512.4), one()], ignore_index=True)
    with pytest.warns(UserWarning) as said:
        out = normalize_configs(table)
    assert out["input_len"].tolist() == [216, 128, 512, 128] and out["output_len"].tolist() == [64, 98, 64, 64]
    assert [str(w.message) for w in said] == [
        "input_len 215.73 is not a whole number of tokens: read as 216, the nearest (a mean length is predicted as "
        "if every request had it) (row 0; 2 more rows read the same way)"]
    rounded, notes = mean_lengths(table)
    assert rounded["input_len"].tolist() == [216, 128, 512, 128] and table["input_len"].iloc[0] == 215.73
    assert sorted(notes) == [0, 1, 2] and notes[1].startswith("output_len 97.5 is not a whole number of tokens: "
                                                              "read as 98")
    assert mean_lengths(one())[1] == {}
    # only lengths: a parallel degree or a batch is a count, and half a GPU is refused as before
    with pytest.raises(ConfigError, match="^column 'tp' must be a whole number; got 1.5$"):
        normalize_configs(one(tp=1.5))


def test_a_column_given_twice_is_refused() -> None:
    frame = pd.concat([one(), one(input_len=64)[["input_len"]]], axis=1)
    with pytest.raises(ConfigError, match="^column 'input_len' appears more than once; keep one$"):
        normalize_configs(frame)


def test_non_numeric_prefill_chunk_is_refused() -> None:
    with pytest.raises(ConfigError, match="^column 'prefill_chunk_tokens' must be a number of tokens; got 'x'$"):
        normalize_configs(one(prefill_chunk_tokens="x"))


def test_deepspeed_may_split_heads_unevenly() -> None:
    # Qwen2-7B has 28 heads; DeepSpeed AutoTP on Gaudi2 splits them 8 ways anyway, vLLM refuses.
    frame = pd.concat([one(model="Qwen/Qwen2-7B", hardware="gaudi2", framework="deepspeed", tp=8),
                       one(model="Qwen/Qwen2-7B", hardware="gaudi2", framework="vllm", tp=8)], ignore_index=True)
    assert invalid_reasons(normalize_configs(frame)).tolist() == ["", "tp 8 does not divide the 28 attention heads"]


def test_gaudi_only_framework_is_refused_on_an_intel_gpu() -> None:
    reasons = invalid_reasons(normalize_configs(one(hardware="intel-max-1550", framework="deepspeed")))
    assert reasons.iloc[0] == "deepspeed does not run on Intel hardware (engines that do: vllm, llama.cpp)"


MODELS = [LLAMA3_8B, "Qwen/Qwen2-7B", "mistralai/Mixtral-8x7B-v0.1", "deepseek-ai/DeepSeek-V3",
          "JackFram/llama-68m", "google/gemma-7b"]
NVIDIA_AMD = ["a100-sxm4-80gb", "h100-sxm", "b200", "mi300x", "l40s"]


# pp mostly small so that llama-68m's 2 layers put the pp <= layers boundary in reach
pipeline = st.one_of(st.integers(1, 3), st.integers(1, 100))
row_params = st.tuples(st.sampled_from(MODELS), st.sampled_from(NVIDIA_AMD), st.sampled_from(["vllm", "sglang"]),
                       st.integers(1, 16), pipeline, st.integers(1, 4), st.sampled_from([0, 0, 1]))


@settings(max_examples=30, deadline=None)
@given(params=st.lists(row_params, min_size=1, max_size=6))
def test_invalid_reasons_flags_exactly_the_impossible_rows(
    params: list[tuple[str, str, str, int, int, int, int]]
) -> None:
    frame = pd.concat([one(model=m, hardware=h, framework=fw, tp=tp, pp=pp, dp=dp, num_devices=tp * pp * dp + extra,
                           weight_dtype="fp16") for m, h, fw, tp, pp, dp, extra in params], ignore_index=True)
    reasons = invalid_reasons(normalize_configs(frame))
    for (model, _, _, tp, pp, dp, extra), reason in zip(params, reasons, strict=True):
        arch = catalog.get_model(model)
        if extra:
            assert reason == f"num_devices {tp * pp * dp + extra} != tp*pp*dp = {tp * pp * dp}"
        elif arch.num_attention_heads % tp:
            assert reason == f"tp {tp} does not divide the {arch.num_attention_heads} attention heads"
        elif pp > arch.num_layers:
            assert reason == f"pp {pp} exceeds the {arch.num_layers} layers"
        else:
            assert reason == ""


# --- gather_specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(("hardware", "weight_dtype", "peak_tflops"), [
    ("h100-sxm", "bf16", 989.4),        # H100 SXM dense bf16
    ("h100-sxm", "fp8", 1978.9),        # H100 SXM dense fp8
    ("a100-sxm4-40gb", "fp8", 312.0),   # A100 has no fp8 tensor cores: fp16 Marlin kernels
    ("h100-sxm", "fp4", 1978.9),        # Hopper has no fp4: next is fp8
    ("a100-sxm4-40gb", "fp4", 312.0),   # ... and on Ampere fp16
    ("b200", "fp4", 9000.0),            # B200 dense fp4
    ("h100-sxm", "int8", 1978.9),       # H100 SXM int8 TOPS
    ("gaudi2", "int8", 432.0),          # Gaudi2 publishes no int8: bf16/fp16 MME peak
    ("h100-sxm", "int4", 989.4),        # weight-only int4 always dequantises to fp16
    ("a100-sxm4-40gb", "tf32", 156.0),  # A100 tf32 dense
    ("t4", "tf32", 8.1),                # T4 has no tf32: fp32
])
def test_matmul_peak_by_weight_format_with_fallback(hardware: str, weight_dtype: str, peak_tflops: float) -> None:
    specs = gather_specs(normalize_configs(one(hardware=hardware, weight_dtype=weight_dtype)))
    assert specs["matmul_peak_tflops"].iloc[0] == peak_tflops
    # attention multiplies 16-bit activations whatever the weights are
    assert specs["attention_peak_tflops"].iloc[0] == catalog.get_hardware(hardware).peak_tflops["fp16"]


def test_missing_peak_names_the_first_row_that_needs_it() -> None:
    # B300 publishes neither tf32 nor fp32 (hardware.csv blanks)
    frame = pd.concat([one(weight_dtype="tf32"), one(hardware="b300", weight_dtype="tf32")], ignore_index=True)
    with pytest.raises(ConfigError, match="^b300 has no published peak for tf32 matmuls; weight formats it runs: "):
        gather_specs(normalize_configs(frame))


def test_gather_specs_maps_every_row_to_its_own_catalog_numbers() -> None:
    frame = pd.concat([
        one(kv_dtype="fp8"),
        one(hardware="mi300x", model="deepseek-ai/DeepSeek-V3", framework="sglang"),
        one(hardware="a100-sxm4-40gb", framework="llama.cpp", weight_dtype="int4"),
    ])
    frame.index = [30, 10, 20]
    specs = gather_specs(normalize_configs(frame))
    assert specs.index.tolist() == [30, 10, 20]
    assert specs["vendor"].tolist() == ["NVIDIA", "AMD", "NVIDIA"]
    assert specs["mem_bw_gbps"].tolist() == [3350.0, 5300.0, 1555.0]  # H100 SXM, MI300X, A100 40GB datasheets
    assert specs["memory_gb"].tolist() == [80 * 2**30 / 1e9, 192.0, 40 * 2**30 / 1e9]  # 80 GiB, 192 GB, 40 GiB
    assert specs["num_layers"].tolist() == [32.0, 61.0, 32.0]
    assert specs["hidden_size"].tolist() == [4096.0, 7168.0, 4096.0]
    assert specs["is_mla"].tolist() == [0.0, 1.0, 0.0]
    assert specs["num_experts"].tolist() == [0.0, 256.0, 0.0]
    assert specs["weight_bytes_per_value"].tolist() == [2.0, 1.0, 0.5]  # bf16, DeepSeek-V3 fp8, int4
    assert specs["kv_bytes_per_value"].tolist() == [1.0, 2.0, 2.0]
    assert specs["usable_memory_fraction"].tolist() == [0.9, 0.88, 1.0]  # vLLM, SGLang, llama.cpp
    assert specs["max_batched_tokens"].iloc[0] == 8192 and math.isnan(specs["max_batched_tokens"].iloc[2])
    assert specs["uneven_head_split"].tolist() == [False, False, False]


# --- round trip --------------------------------------------------------------------------------

hardware_names = st.sampled_from(["h100-sxm", "H100 SXM", "NVIDIA H100 80GB HBM3", "a100_sxm", "MI300X", "b200_sxm"])
model_names = st.sampled_from([LLAMA3_8B, "meta-llama/Meta-Llama-3-8B-Instruct", "mistralai/Mixtral-8x7B-v0.1",
                               "deepseek-ai/DeepSeek-V3"])
optional = {
    "framework": st.sampled_from(["vllm", "vLLM", "sglang", "llama.cpp"]),
    "weight_dtype": st.sampled_from(["bfloat16", "fp16", "float16", "fp8", "int4"]),
    "kv_dtype": st.sampled_from(["auto", "fp16", "fp8"]),
    "batching": st.sampled_from(["static", "Continuous"]),
    "num_devices": st.sampled_from([1, 2, 4, 8]),
    "batch_size": st.integers(1, 64),
    "concurrency": st.integers(1, 256),
    "prefill_chunk_tokens": st.sampled_from([512, 2048]),
}
rows = st.fixed_dictionaries(
    {"hardware": hardware_names, "model": model_names, "input_len": st.integers(1, 8192),
     "output_len": st.integers(1, 4096)},
    optional=optional,
)


@settings(max_examples=30, deadline=None)
@given(row=rows)
def test_normalize_is_idempotent_and_canonical(row: dict[str, object]) -> None:
    once = normalize_configs(pd.DataFrame([row]))
    pd.testing.assert_frame_equal(normalize_configs(once), once)
    r = once.iloc[0]
    assert r["hardware"] in catalog.hardware_ids()
    assert r["model"] in catalog.model_ids()
    assert r["framework"] in catalog.framework_ids()
    assert r["num_devices"] == r["tp"] * r["pp"] * r["dp"] == row.get("num_devices", 1)
    assert r["concurrency"] == row.get("concurrency", row.get("batch_size", 1))


def test_an_engine_memory_share_must_be_a_share_and_only_for_engines_that_take_one() -> None:
    row = {"hardware": "h100-sxm", "model": "meta-llama/Llama-3.1-8B", "input_len": 128, "output_len": 32}
    assert np.isnan(normalize_configs(pd.DataFrame([row]))["engine_memory_fraction"].iloc[0])
    assert normalize_configs(pd.DataFrame([{**row, "engine_memory_fraction": 0.95}]))[
        "engine_memory_fraction"].iloc[0] == 0.95
    for bad in (0.0, 1.5, "most"):
        with pytest.raises(ConfigError) as err:
            normalize_configs(pd.DataFrame([{**row, "engine_memory_fraction": bad}]))
        assert str(err.value).startswith("column 'engine_memory_fraction' must be a share of device memory above 0 "
                                         "and at most 1 (empty: the engine's default); got ")
    llama = normalize_configs(pd.DataFrame([{**row, "framework": "llama.cpp", "engine_memory_fraction": 0.9}]))
    assert invalid_reasons(llama).iloc[0] == ("llama.cpp has no memory share setting (engine_memory_fraction is for "
                                              "vllm, sglang, tensorrt-llm); leave it empty")


def test_a_row_naming_no_engine_takes_one_that_runs_on_its_hardware() -> None:
    rows = pd.DataFrame({"hardware": ["h100-sxm", "epyc-9654", "sn40l", "h100-sxm"],
                         "model": "meta-llama/Meta-Llama-3-8B", "framework": [None, None, None, "sglang"],
                         "input_len": 128, "output_len": 64})
    assert normalize_configs(rows)["framework"].tolist() == ["vllm", "llama.cpp", "sambaflow", "sglang"]
    assert normalize_configs(rows.drop(columns=["framework"]))["framework"].tolist()[:2] == ["vllm", "llama.cpp"]
