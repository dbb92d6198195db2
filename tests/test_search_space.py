"""The search space: inventories parse, every enumerated configuration is valid and within the devices."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from features import catalog
from features.configs import invalid_reasons
from features.errors import ConfigError, InfeasibleError, UnknownNameError
from surrogate.optimize import Inventory, SearchSpace, Workload, enumerate_candidates
from surrogate.optimize._space import sequence_grid

LLAMA_8B = "meta-llama/Meta-Llama-3-8B"
QWEN_7B = "Qwen/Qwen2-7B"  # 28 heads: tp=8 is not allowed


def test_inventory_parses_merges_and_resolves_aliases() -> None:
    inventory = Inventory.parse(["h100-sxm:8", "H100_SXM:4", "a100-sxm4-80gb"])
    assert [(p.hardware, p.count) for p in inventory.pools] == [("h100-sxm", 12), ("a100-sxm4-80gb", 1)]


def test_inventory_reads_counts_as_tables_write_them() -> None:
    inventory = Inventory.parse(["8x H100", "NVIDIA A100-SXM4-80GB:4", "2 x H200 SXM 141GB"])
    assert [(p.hardware, p.count) for p in inventory.pools] == [("h100-sxm", 8), ("a100-sxm4-80gb", 4), ("h200", 2)]


def test_unknown_gpu_suggests_names() -> None:
    with pytest.raises(UnknownNameError, match="did you mean"):
        Inventory.parse(["h1000:8"])


@pytest.mark.parametrize("item", ["h100-sxm:0", "h100-sxm:x", "h100-sxm:-2"])
def test_bad_counts_are_config_errors(item: str) -> None:
    with pytest.raises(ConfigError):
        Inventory.parse([item])


def test_empty_inventory_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Inventory.parse([])


def test_candidates_are_valid_and_respect_the_hardware() -> None:
    inventory = Inventory.parse(["h100-sxm:8", "a100-sxm4-80gb:4"])
    configs = enumerate_candidates(inventory, Workload(QWEN_7B, 512, 128)).configs
    assert invalid_reasons(configs).eq("").all()
    assert not ((configs["hardware"] == "a100-sxm4-80gb") & (configs["weight_dtype"] == "fp8")).any()
    assert (28 % configs.loc[configs["framework"] != "llama.cpp", "tp"] == 0).all()
    llama_cpp = configs[configs["framework"] == "llama.cpp"]
    assert len(llama_cpp) and (llama_cpp["tp"] == 1).all() and (llama_cpp["batch_size"] == 1).all()
    assert set(configs["framework"]) <= {"vllm", "sglang", "tensorrt-llm", "llama.cpp", "deepspeed-mii"}
    # Without a fixed concurrency each layout fills the pool with replicas.
    for hardware, count in [("h100-sxm", 8), ("a100-sxm4-80gb", 4)]:
        rows = configs[configs["hardware"] == hardware]
        assert (rows["num_devices"] == rows["tp"] * rows["pp"] * rows["dp"]).all()
        assert (rows["num_devices"] <= count).all()
        assert ((rows["dp"] + 1) * rows["tp"] * rows["pp"] > count).all()


def test_fixed_concurrency_is_shared_by_replicas() -> None:
    configs = enumerate_candidates(Inventory.parse(["h100-sxm:4"]), Workload(LLAMA_8B, 256, 64, concurrency=10),
                                   SearchSpace(frameworks=("vllm",))).configs
    assert (configs["concurrency"] == [math.ceil(10 / dp) for dp in configs["dp"]]).all()
    assert set(configs["dp"]) == {1, 2, 3, 4}


def test_precisions_and_frameworks_restrict_the_space() -> None:
    space = SearchSpace(frameworks=("vllm",), precisions=("fp16",))
    configs = enumerate_candidates(Inventory.parse(["h100-sxm:2"]), Workload(LLAMA_8B, 256, 64), space).configs
    assert set(configs["framework"]) == {"vllm"}
    # fp16 means the checkpoint's own 16-bit format (Llama 3 ships bf16).
    assert set(configs["weight_dtype"]) == {"bf16"} and set(configs["kv_dtype"]) == {"bf16"}


@pytest.mark.parametrize(("limit", "grid"), [
    (1, [1]),
    (5, [1, 2, 3, 4, 5]),
    (64, [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]),
    (100, [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 100]),
    (512, [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]),
])
def test_sequence_grid_is_powers_of_two_their_midpoints_and_the_limit(limit: int, grid: list[int]) -> None:
    assert sequence_grid(limit) == grid


@settings(max_examples=50, deadline=None)
@given(limit=st.integers(1, 100_000))
def test_sequence_grid_is_never_coarser_than_one_and_a_half(limit: int) -> None:
    grid = sequence_grid(limit)
    assert grid[0] == 1 and grid[-1] == limit and grid == sorted(set(grid))
    # 1 to 2 is the only wider step: there is no whole number between them.
    assert all(b / a <= 1.5 for a, b in zip(grid, grid[1:], strict=False) if a >= 2)
    assert {2**k for k in range(limit.bit_length()) if 2**k <= limit} <= set(grid)


def test_candidates_search_the_finer_batch_grid() -> None:
    space = SearchSpace(frameworks=("vllm", "llama.cpp"), precisions=("fp16",), max_sequences=100)
    configs = enumerate_candidates(Inventory.parse(["h100-sxm:1"]), Workload(LLAMA_8B, 256, 64), space).configs
    vllm = configs[configs["framework"] == "vllm"]
    assert sorted(set(vllm["concurrency"])) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 100]
    assert (vllm["batch_size"] == vllm["concurrency"]).all()
    assert set(configs.loc[configs["framework"] == "llama.cpp", "batch_size"]) == {1}  # one sequence


def test_sequence_longer_than_the_model_context_is_rejected() -> None:
    limit = catalog.get_model(LLAMA_8B).max_position_embeddings
    with pytest.raises(ConfigError, match="at most"):
        enumerate_candidates(Inventory.parse(["h100-sxm:1"]), Workload(LLAMA_8B, limit, 1))


def test_nothing_to_search_is_infeasible_with_the_reason() -> None:
    with pytest.raises(InfeasibleError, match="does not run on AMD"):
        enumerate_candidates(Inventory.parse(["mi300x:8"]), Workload(LLAMA_8B, 128, 128),
                             SearchSpace(frameworks=("tensorrt-llm",)))


_HARDWARE = ["h100-sxm", "a100-sxm4-40gb", "l40s", "mi300x", "gaudi2", "b200", "gb200"]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(pools=st.dictionaries(st.sampled_from(_HARDWARE), st.integers(1, 16), min_size=1, max_size=2),
       model=st.sampled_from([LLAMA_8B, QWEN_7B]), concurrency=st.one_of(st.none(), st.integers(1, 64)))
def test_every_candidate_is_valid_and_within_the_inventory(pools: dict[str, int], model: str,
                                                           concurrency: int | None) -> None:
    inventory = Inventory.parse([f"{h}:{c}" for h, c in pools.items()])
    try:
        configs = enumerate_candidates(inventory, Workload(model, 256, 64, concurrency)).configs
    except InfeasibleError:
        return
    assert invalid_reasons(configs).eq("").all()
    for hardware, rows in configs.groupby("hardware"):
        spec = catalog.get_hardware(str(hardware))
        assert (rows["num_devices"] <= pools[spec.id]).all()
        assert (rows["tp"] <= spec.scale_up_domain_devices).all()
        assert all(catalog.get_hardware(spec.id).vendor in catalog.get_framework(f).vendors for f in rows["framework"])
        for dtype, needed in [("fp8", "fp8"), ("fp4", "fp4")]:
            if needed not in spec.peak_tflops:
                assert not (rows["weight_dtype"] == dtype).any()
    if concurrency is not None:
        assert (configs["concurrency"] * configs["dp"] >= concurrency).all()


def test_a_checkpoint_named_for_its_format_is_served_in_that_format() -> None:
    # '-NVFP4' states fp4 weights: the search keeps them and still chooses the KV format; the base
    # name searches the requested formats.
    named = enumerate_candidates(Inventory.parse(["b200:1"]), Workload("nvidia/Qwen3-32B-NVFP4", 256, 64)).configs
    assert set(named["weight_dtype"]) == {"fp4"}
    assert set(named["kv_dtype"]) == {"bf16", "fp8"}
    base = enumerate_candidates(Inventory.parse(["b200:1"]), Workload("Qwen/Qwen3-32B", 256, 64)).configs
    assert set(base["weight_dtype"]) == {"bf16", "fp8"}
