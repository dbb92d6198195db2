"""A sketch of how to launch a disaggregated deployment (xPyD): the prefill workers, the decode workers, the
router that sends each request to one of each.

Marked as a sketch: the flags move between releases and the workers' hosts and ports are the user's. As the
engines document them: SGLang PD disaggregation (``--disaggregation-mode prefill|decode`` on
``sglang.launch_server``, ``sglang_router.launch_router --pd-disaggregation --prefill URL --decode URL``;
docs.sglang.io advanced_features/pd_disaggregation), vLLM disaggregated prefill with the NIXL connector
(``--kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'`` on every instance, a proxy in
front; docs.vllm.ai features/disagg_prefill and nixl_connector_usage), TensorRT-LLM disaggregated serving
(``trtllm-serve disaggregated -c config.yaml`` with ``context_servers`` and ``generation_servers``;
TensorRT-LLM tech blog 5, "Disaggregated Serving in TensorRT LLM"). NVIDIA Dynamo runs all three.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from surrogate.formatting import memory_share_text

__all__ = ["disaggregated_launch"]

_NIXL = """--kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'"""


def _shape(row: pd.Series) -> tuple[int, int, int, int, int]:
    """Prefill workers and tp, decode workers and tp, requests each decode rank holds."""
    return (int(float(row["prefill_workers"])), int(float(row["prefill_tp"])), int(float(row["decode_workers"])),
            int(float(row["decode_tp"])), int(float(row["decode_batch_size"])))


def _decode_dp(row: pd.Series) -> int:
    """Attention-data-parallel ranks of a decode worker (1: tensor parallel only)."""
    value = row.get("decode_dp", 1)
    return 1 if pd.isna(value) else int(float(value))


def _formats(row: pd.Series, kv_fp8_name: str) -> str:
    """Runtime fp8 flags (SGLang and vLLM spell them alike, except the KV format's name)."""
    return (" --quantization fp8" if row["weight_dtype"] == "fp8" else "") + (
        f" --kv-cache-dtype {kv_fp8_name}" if row["kv_dtype"] == "fp8" else "")


def _sglang(row: pd.Series, model: str, max_len: int) -> str:
    x, tp_p, y, tp_d, batch = _shape(row)
    dp = _decode_dp(row)
    share = memory_share_text(row)  # every worker's
    formats = _formats(row, "fp8_e4m3") + (f" --mem-fraction-static {share}" if share else "")
    base = f"python -m sglang.launch_server --model-path {model} --context-length {max_len}{formats}"
    decode = f"--tp {tp_d}" if dp == 1 else f"--tp {tp_d * dp} --dp {dp} --enable-dp-attention --ep-size {tp_d * dp}"
    return (f"{x}x `{base} --disaggregation-mode prefill --tp {tp_p}`; {y}x `{base} --disaggregation-mode decode "
            f"{decode} --max-running-requests {batch * dp}`; then `python -m sglang_router.launch_router "
            "--pd-disaggregation --prefill http://<each prefill worker> --decode http://<each decode worker>`")


def _vllm(row: pd.Series, model: str, max_len: int) -> str:
    x, tp_p, y, tp_d, batch = _shape(row)
    dp = _decode_dp(row)
    share = memory_share_text(row)
    formats = _formats(row, "fp8") + (f" --gpu-memory-utilization {share}" if share else "")
    base = f"vllm serve {model} --max-model-len {max_len}{formats} {_NIXL}"
    decode = (f"--tensor-parallel-size {tp_d}" if dp == 1 else
              f"--tensor-parallel-size {tp_d} --data-parallel-size {dp} --enable-expert-parallel")
    return (f"{x}x `{base} --tensor-parallel-size {tp_p}` (prefill); {y}x `{base} {decode} --max-num-seqs "
            f"{batch}` (decode); a proxy in front sends each request to a prefill instance, then a "
            "decode instance (vLLM's disaggregated examples, or NVIDIA Dynamo)")


def _trtllm(row: pd.Series, model: str, max_len: int) -> str:
    x, tp_p, y, tp_d, batch = _shape(row)
    dp = _decode_dp(row)
    wide = "" if dp == 1 else f", moe_expert_parallel_size: {tp_d * dp}, enable_attention_dp: true"
    share = memory_share_text(row)
    kv = f", kv_cache_config: {{free_gpu_memory_fraction: {share}}}" if share else ""
    return (f"`trtllm-serve disaggregated -c disagg.yaml`, where disagg.yaml names the model {model} and has "
            f"context_servers: {{num_instances: {x}, tensor_parallel_size: {tp_p}, max_seq_len: {max_len}{kv}}} and "
            f"generation_servers: {{num_instances: {y}, tensor_parallel_size: {tp_d * dp}{wide}, max_batch_size: "
            f"{batch}, max_seq_len: {max_len}{kv}}}, each with its workers' urls")


_SKETCHES: dict[str, Callable[[pd.Series, str, int], str]] = {
    "sglang": _sglang, "vllm": _vllm, "tensorrt-llm": _trtllm}


def disaggregated_launch(row: pd.Series, model: str) -> str:
    """'Sketch: ...' for a disaggregated configuration row (the worker columns, ``CONFIG_COLUMNS``)."""
    max_len = int(row["input_len"]) + int(row["output_len"])
    sketch = _SKETCHES.get(str(row["framework"]))
    x, tp_p, y, tp_d, _ = _shape(row)
    if sketch is None:
        return (f"sketch: {x} prefill worker(s) of tp {tp_p} and {y} decode worker(s) of tp {tp_d} of {model} with "
                f"{row['framework']}, the KV cache shipped from prefill to decode")
    return f"sketch (check your version's disaggregated-serving docs): {sketch(row, model, max_len)}"
