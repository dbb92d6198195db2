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
