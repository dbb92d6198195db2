"""The note that integer weight formats exist where the winner had to run 16-bit weights."""

from __future__ import annotations

import pandas as pd

from surrogate.optimize import SearchSpace
from surrogate.optimize._unsearched import unsearched_formats_note


def winner(hardware: str, framework: str, weight_dtype: str) -> pd.DataFrame:
    return pd.DataFrame([{"hardware": hardware, "framework": framework, "weight_dtype": weight_dtype,
                          "mode": "aggregated"}])


def test_a_cpu_running_16_bit_weights_hears_of_gguf_q8_0_and_q4_0() -> None:
    assert unsearched_formats_note(winner("epyc-9654", "llama.cpp", "bf16"), SearchSpace()) == (
        "the winner runs 16-bit weights; llama.cpp on epyc-9654 also serves int8 (GGUF q8_0) and int4 (GGUF q4_0), "
        "not searched (integer weights cost some model quality): add --precisions fp16,int8,int4 to compare")


def test_an_a100_without_fp8_hears_of_int8_and_int4_checkpoints() -> None:
    assert unsearched_formats_note(winner("a100-sxm4-80gb", "vllm", "bf16"), SearchSpace()) == (
        "the winner runs 16-bit weights; vllm on a100-sxm4-80gb also serves int8 (a W8A8 checkpoint) and int4 "
        "(an AWQ or GPTQ checkpoint), not searched (integer weights cost some model quality): add --precisions "
        "fp16,int8,int4 to compare")


def test_no_note_for_an_fp8_winner_a_search_with_integers_or_a_disaggregated_winner() -> None:
    assert unsearched_formats_note(winner("h100-sxm", "vllm", "fp8"), SearchSpace()) is None
    assert unsearched_formats_note(winner("epyc-9654", "llama.cpp", "bf16"),
                                   SearchSpace(precisions=("fp16", "int4"))) is None
    split = winner("a100-sxm4-80gb", "vllm", "bf16").assign(mode="disaggregated")
    assert unsearched_formats_note(split, SearchSpace()) is None
    assert unsearched_formats_note(winner("a100-sxm4-80gb", "vllm", "bf16").iloc[:0], SearchSpace()) is None
