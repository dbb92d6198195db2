"""The one line a person can act on: the launch command for the winning configuration.

Flags as the engines document them: vLLM ``vllm serve`` engine arguments (``--tensor-parallel-size``,
``--pipeline-parallel-size``, ``--data-parallel-size``, ``--enable-expert-parallel``, ``--max-model-len``,
``--max-num-seqs``, ``--quantization fp8``, ``--kv-cache-dtype fp8``); SGLang ``python -m
sglang.launch_server`` server arguments (``--tp``, ``--pp-size``, ``--dp``, ``--enable-dp-attention``,
``--ep-size``, ``--context-length``, ``--max-running-requests``, ``--quantization fp8``, ``--kv-cache-dtype
fp8_e4m3``); ``trtllm-serve`` options (``--tp_size``, ``--ep_size``, ``--pp_size``, ``--max_batch_size``,
``--max_seq_len``, ``enable_attention_dp`` in the ``--extra_llm_api_options`` file); a memory share set on the
configuration with the engine's own flag (``features.memory.MEMORY_FRACTION_SETTINGS``); llama.cpp
``llama-server`` (``-ngl`` on a GPU, ``--split-mode layer``, ``-c``, ``--parallel``, ``--cache-type-k/v``).
Replicas that an engine cannot launch itself are explained in words; a disaggregated deployment gets a
sketch (``_launch_disaggregated``).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from features import catalog
from features.errors import SurrogateError
from features.host import is_cpu_vendor
from features.memory import MEMORY_FRACTION_SETTINGS
from surrogate.formatting import memory_share_text
from surrogate.report._launch_disaggregated import disaggregated_launch

__all__ = ["launch_command", "recommendation"]

# Weight formats that need a pre-quantised checkpoint rather than a runtime flag.
_CHECKPOINT_FORMATS = {"int4": "an int4 (AWQ/GPTQ) checkpoint", "fp4": "an fp4 (NVFP4) checkpoint",
                       "int8": "an int8 (W8A8) checkpoint"}


def _replica_note(row: pd.Series, built_in: bool) -> str:
    dp = int(row["dp"])
    if dp <= 1 or built_in:
        return ""
    per = int(row["tp"]) * int(row["pp"])
    return f"; run {dp} such replicas ({per} device{'s' if per > 1 else ''} each) behind a load balancer"


def _native_weight_dtype(model: str) -> str | None:
    try:
        return catalog.get_model(model).native_weight_dtype
    except SurrogateError:  # a model only the row names: nothing known about its checkpoint
        return None


def _wide_ep(row: pd.Series) -> bool:
    """Replicas sharing their experts (attention data parallelism with expert parallelism)."""
    return int(row.get("ep", 1)) > 1 and int(row["dp"]) > 1


def _quantisation(row: pd.Series, runtime_fp8_flag: str) -> tuple[list[str], str]:
    """Flags for the weight format, and a note when a quantised checkpoint is needed instead."""
    dtype = str(row["weight_dtype"])
    if dtype == "fp8":
        return ([runtime_fp8_flag] if runtime_fp8_flag else []), ""
    if dtype in _CHECKPOINT_FORMATS:
        return [], f" (serve {_CHECKPOINT_FORMATS[dtype]})"
    return [], ""


def _memory_share(row: pd.Series) -> list[str]:
    """The engine's memory-share flag where the configuration sets one (``engine_memory_fraction``)."""
    share = memory_share_text(row)
    return [f"{MEMORY_FRACTION_SETTINGS[str(row['framework'])]} {share}"] if share else []


def _vllm(row: pd.Series, model: str, max_len: int) -> str:
    flags, note = _quantisation(row, "--quantization fp8")
    parts = [f"vllm serve {model}", f"--tensor-parallel-size {row['tp']}", f"--pipeline-parallel-size {row['pp']}"]
    if int(row["dp"]) > 1:
        parts.append(f"--data-parallel-size {row['dp']}")
    if _wide_ep(row):
        parts.append("--enable-expert-parallel")
    parts += [f"--max-model-len {max_len}", f"--max-num-seqs {row['concurrency']}", *flags]
    if row["kv_dtype"] == "fp8":
        parts.append("--kv-cache-dtype fp8")
    return " ".join([*parts, *_memory_share(row)]) + note


def _sglang(row: pd.Series, model: str, max_len: int) -> str:
    flags, note = _quantisation(row, "--quantization fp8")
    if _wide_ep(row):  # SGLang's --tp counts every GPU; the DP-attention ranks sit inside it
        parts = [f"python -m sglang.launch_server --model-path {model}", f"--tp {int(row['tp']) * int(row['dp'])}",
                 f"--dp {row['dp']} --enable-dp-attention --ep-size {row['ep']}"]
    else:
        parts = [f"python -m sglang.launch_server --model-path {model}", f"--tp {row['tp']}"]
        if int(row["dp"]) > 1:
            parts.append(f"--dp {row['dp']}")
    if int(row["pp"]) > 1:
        parts.append(f"--pp-size {row['pp']}")
    parts += [f"--context-length {max_len}", f"--max-running-requests {row['concurrency']}", *flags]
    if row["kv_dtype"] == "fp8":
        parts.append("--kv-cache-dtype fp8_e4m3")
    return " ".join([*parts, *_memory_share(row)]) + note


def _trtllm(row: pd.Series, model: str, max_len: int) -> str:
    _, note = _quantisation(row, "")
    native_fp8 = _native_weight_dtype(str(row["model"])) == "fp8"  # DeepSeek-V3/R1 ship FP8 weights
    if (row["weight_dtype"] == "fp8" and not native_fp8) or row["kv_dtype"] == "fp8":
        note += " (serve an FP8 checkpoint quantised with TensorRT Model Optimizer)"
    share = "".join(f" {flag}" for flag in _memory_share(row))
    if _wide_ep(row):
        return (f"trtllm-serve {model} --tp_size {int(row['tp']) * int(row['dp'])} --ep_size {row['ep']} --pp_size "
                f"{row['pp']} --max_batch_size {row['concurrency']} --max_seq_len {max_len}{share} "
                "--extra_llm_api_options <a YAML file with enable_attention_dp: true>" + note)
    return (f"trtllm-serve {model} --tp_size {row['tp']} --pp_size {row['pp']} --max_batch_size "
            f"{row['concurrency']} --max_seq_len {max_len}{share}" + note + _replica_note(row, built_in=False))


def _llama_cpp(row: pd.Series, model: str, max_len: int) -> str:
    gguf = {"int4": "Q4_0", "int8": "Q8_0"}.get(str(row["weight_dtype"]), "F16")
    offload = "" if is_cpu_vendor(catalog.get_hardware(str(row["hardware"])).vendor) else " -ngl 99"  # GPU layers
    parts = [f"llama-server -m <{model} {gguf}>.gguf{offload}"]
    if int(row["pp"]) > 1:
        parts.append(f"--split-mode layer --tensor-split {','.join(['1'] * int(row['pp']))}")
    parts += [f"-c {max_len}", "--parallel 1"]
    cache = {"int8": "q8_0", "int4": "q4_0"}.get(str(row["kv_dtype"]))
    if cache:
        parts.append(f"--cache-type-k {cache} --cache-type-v {cache}")
    return " ".join(parts) + _replica_note(row, built_in=False)


def _deepspeed_mii(row: pd.Series, model: str, max_len: int) -> str:
    return (f"python -c \"import mii; mii.serve('{model}', tensor_parallel={row['tp']}, "
            f"max_length={max_len})\"" + _replica_note(row, built_in=False))


def _deepspeed(row: pd.Series, model: str, max_len: int) -> str:
    dtype = "--bf16" if row["weight_dtype"] in ("bf16", "fp16") else "(fp8 via Intel Neural Compressor)"
    return (f"deepspeed --num_gpus {row['tp']} run_generation.py --model_name_or_path {model} "
            f"--batch_size {row['batch_size']} --max_input_tokens {int(row['input_len'])} "
            f"--max_new_tokens {int(row['output_len'])} --use_hpu_graphs --use_kv_cache {dtype}"
            + _replica_note(row, built_in=False))


_COMMANDS: dict[str, Callable[[pd.Series, str, int], str]] = {
    "vllm": _vllm, "sglang": _sglang, "tensorrt-llm": _trtllm, "llama.cpp": _llama_cpp,
    "deepspeed-mii": _deepspeed_mii, "deepspeed": _deepspeed,
}


def launch_command(row: pd.Series) -> str:
    """The engine's launch command for one configuration row (``CONFIG_COLUMNS``; a ``checkpoint``
    column, where the user named a publisher's quantised checkpoint, is what the engine loads)."""
    checkpoint = row.get("checkpoint")
    model = str(checkpoint) if isinstance(checkpoint, str) and checkpoint else str(row["model"])
    if row.get("mode") == "disaggregated":
        return disaggregated_launch(row, model)
    max_len = int(row["input_len"]) + int(row["output_len"])
    command = _COMMANDS.get(str(row["framework"]))
    if command is None:
        return (f"deploy {model} with {row['framework']} on {row['num_devices']}x {row['hardware']} "
                f"(tp={row['tp']} pp={row['pp']} dp={row['dp']}, batch {row['batch_size']})")
    return command(row, model, max_len)


def recommendation(row: pd.Series) -> str:
    """'Run: <command>' plus where it runs, for the winner of an optimisation."""
    where = f"{row['num_devices']}x {row['hardware']}"
    return f"Recommended on {where}: {launch_command(row)}"
