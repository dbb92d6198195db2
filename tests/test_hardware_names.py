"""Accelerator names as nvidia-smi, vendors and papers write them resolve to the catalog row they mean, and no
other: a stated memory size must be the row's."""

from __future__ import annotations

import pytest

from features import catalog
from features.errors import UnknownNameError
from features.hardware_names import match_by_parts, name_parts


@pytest.mark.parametrize(("label", "expected"), [
    ("NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"),  # nvidia-smi
    ("NVIDIA A100-SXM4-40GB", "a100-sxm4-40gb"),
    ("NVIDIA A100 80GB PCIe", "a100-pcie-80gb"),  # nvidia-smi
    ("A100-80G", "a100-sxm4-80gb"),
    ("NVIDIA H100 SXM5 80GB", "h100-sxm"),
    ("NVIDIA H100 NVL", "h100-nvl"),
    ("NVIDIA H100 NVL 94GB", "h100-nvl"),
    ("H200 SXM 141GB", "h200"),  # 141 GiB: the catalog's 151.4 GB
    ("B200 180GB", "b200"),
    ("HGX H200", "h200"),
    ("AMD Instinct MI325X", "mi325x"),
    ("AMD Instinct MI300X OAM", "mi300x"),
    ("Tesla V100 SXM2 32GB", "v100-sxm2-32gb"),
    ("Tesla V100-SXM2-16GB", "v100-sxm2-16gb"),  # nvidia-smi; the 16 GB row, not the 32
    ("A100 40GB PCIe", "a100-pcie-40gb"),
    ("A100 PCIe", "a100-pcie-80gb"),  # aiconfigurator's a100_pcie: the 80 GB card
    ("NVIDIA L40", "l40"),  # not an L40S
    ("AMD Instinct MI250X", "mi250x"),  # not an MI250
    ("Intel Gaudi 3", "gaudi3"),
    ("NVIDIA H800 80GB HBM3", "h800"),
    ("AMD Instinct MI325X-NPS1-SPX-256GB-1000W", "mi325x"),  # MLPerf system descriptions: partition modes, power
    ("NVIDIA H200-SXM-141GB-CTS", "h200"),
    ("NVIDIA H100-NVL-94GB", "h100-nvl"),
    # the bare part's alias decides ('A100': the 80 GB card), not a dataset's label ('Nvidia A100 GPU': 40 GB)
    ("NVIDIA A100", "a100-sxm4-80gb"),
    ("Nvidia A100 GPU", "a100-sxm4-40gb"),  # that label itself keeps its own row
])
def test_a_name_written_another_way_finds_its_row(label: str, expected: str) -> None:
    assert catalog.resolve_hardware(label) == expected


@pytest.mark.parametrize("label", [
    "H100 64GB",  # no 64 GB H100 in the catalog
    "Gaudi 3 96GB",  # Gaudi 3 has 128 GB
    "V100",  # 16 and 32 GB, and no alias says which
    "MI300A",  # not an MI300X
    "a100-sxm9",  # no such part
    "NVIDIA Jetson AGX Orin 64G",  # not in the catalog (MLPerf's edge systems)
])
def test_a_different_part_or_size_is_not_matched(label: str) -> None:
    with pytest.raises(UnknownNameError):
        catalog.resolve_hardware(label)


def test_name_parts_drop_brand_words_and_set_the_size_apart() -> None:
    assert name_parts("NVIDIA H100 SXM5 80GB HBM3") == ("h100sxm5", 80.0)
    assert name_parts("AMD Instinct MI300X") == ("mi300x", None)
    assert name_parts("gb200") == ("gb200", None)  # a part name, not a size


def test_a_size_decides_between_rows_of_one_part_and_a_default_alias_without_one() -> None:
    labels = [("x-40gb", "x-40"), ("x-80gb", "x-80"), ("x", "x-80")]
    memory = {"x-40": 42.9, "x-80": 85.9}
    assert match_by_parts("X 40GB", labels, memory) == "x-40"
    assert match_by_parts("NVIDIA X 80G", labels, memory) == "x-80"
    assert match_by_parts("X", labels, memory) == "x-80"  # the size-less alias names the default
    assert match_by_parts("X 64GB", labels, memory) is None
    assert match_by_parts("X", [("x-40gb", "x-40"), ("x-80gb", "x-80")], memory) is None  # two rows, no default
