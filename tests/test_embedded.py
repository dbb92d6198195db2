"""Values written inside a name: a device count in an accelerator's, a release in an engine's."""

from __future__ import annotations

import pytest

from features.embedded import split_framework_version, split_hardware_count


@pytest.mark.parametrize(("written", "split"), [
    ("8x H100", ("H100", 8)), ("8 x H200 SXM", ("H200 SXM", 8)), ("h100-sxm:8", ("h100-sxm", 8)),
    ("H100 x 4", ("H100", 4)), ("2xA100-80GB", ("A100-80GB", 2)),
    ("h100-sxm", ("h100-sxm", None)),  # a name that resolves as it is keeps its digits
    ("MI300X", ("MI300X", None)),  # a part name ending in X is no count
    ("8x acme-gpu", ("8x acme-gpu", None)),  # what is left must be an accelerator
])
def test_a_device_count_is_split_off_only_where_the_rest_is_an_accelerator(written: str,
                                                                            split: tuple[str, int | None]) -> None:
    assert split_hardware_count(written) == split


@pytest.mark.parametrize(("written", "split"), [
    ("vLLM 0.6.3", ("vLLM", "0.6.3")), ("sglang v0.4.1", ("sglang", "0.4.1")), ("vllm==0.8.5", ("vllm", "0.8.5")),
    ("tensorrt-llm", ("tensorrt-llm", None)), ("lmdeploy 0.6.3", ("lmdeploy 0.6.3", None)),
])
def test_a_release_is_split_off_only_where_the_rest_is_an_engine(written: str, split: tuple[str, str | None]) -> None:
    assert split_framework_version(written) == split


@pytest.mark.parametrize(("written", "split"), [
    # vLLM's engine generation is no release
    ("vLLM V1", ("vLLM", None)), ("vllm-v1", ("vllm", None)), ("vLLM (V1 engine)", ("vLLM", None)),
    # a container image: the engine its path (or, for Triton, its tag) names, the release its tag gives
    ("vllm/vllm-openai:v0.8.5", ("vllm", "0.8.5")), ("docker.io/vllm/vllm-openai:v0.10.1.1", ("vllm", "0.10.1.1")),
    ("vllm/vllm-openai:latest", ("vllm", None)),
    ("lmsysorg/sglang:v0.4.6.post1-cu124", ("sglang", "0.4.6.post1")),
    ("nvcr.io/nvidia/tensorrt-llm/release:1.0.0rc4", ("tensorrt-llm", "1.0.0rc4")),
    ("rocm/vllm:rocm6.3.1_vllm_0.8.5_20250521", ("vllm", "0.8.5")),
    ("nvcr.io/nvidia/tritonserver:24.08-trtllm-python-py3", ("trtllm", None)),  # 24.08 is the container's
    # an image naming no engine stays as written (and is refused as an unknown engine)
    ("my/image:1.2", ("my/image:1.2", None)),
])
def test_an_engine_generation_or_container_image_gives_the_engine_and_release(
        written: str, split: tuple[str, str | None]) -> None:
    assert split_framework_version(written) == split
