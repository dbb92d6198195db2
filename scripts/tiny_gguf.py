"""Write a tiny Llama model as GGUF, with its config.json, for a real llama.cpp server to serve offline.

Random weights (seeded), Llama architecture, a byte-level BPE vocabulary (GPT-2's byte symbols for printable
ASCII, a few merges and BOS/EOS), so llama.cpp's tokenizer, ``/tokenize`` endpoint and sampler all work; nothing
is downloaded. The text it writes is noise, which is all a speed measurement needs. ``config.json`` beside
the GGUF describes the same architecture in Hugging Face terms, so ``surrogate`` can model it
(``--model path/to/config.json``).

Usage: ``python scripts/tiny_gguf.py OUT_DIR [--hidden 512 --layers 8 ...]``
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TinyLlama:
    """The architecture; defaults give ~25M parameters (about 50 MB in fp16): a few ms per token on a CPU."""

    hidden_size: int = 512
    num_hidden_layers: int = 8
    intermediate_size: int = 1536
    num_attention_heads: int = 8
    num_key_value_heads: int = 4
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    seed: int = 0


def _byte_symbols() -> list[str]:
    """GPT-2's reversible byte -> printable character map (what byte-level BPE vocabularies are made of)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    by_byte = dict(zip(printable, codes, strict=True))
    return [chr(by_byte[b]) for b in range(256)]


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, their GGUF token types, and BPE merges: the printable ASCII bytes and newline, a few common pairs,
    then BOS and EOS. ASCII only, so every token the model samples is a whole UTF-8 character and the server
    streams one event per token (a byte that is part of a character would be held back; prompts here are ASCII)."""
    by_byte = _byte_symbols()
    symbols = [by_byte[b] for b in [10, *range(32, 127)]]
    space = by_byte[ord(" ")]
    pairs = [(space, "t"), ("t", "h"), ("e", "r"), ("i", "n"), (space, "a"), ("o", "n"), ("r", "e"), ("a", "t")]
    tokens = symbols + [a + b for a, b in pairs] + ["<s>", "</s>"]
    normal, control = 1, 3  # gguf.TokenType.NORMAL / CONTROL
    types = [normal] * (len(tokens) - 2) + [control, control]
    merges = [f"{a} {b}" for a, b in pairs]
    return tokens, types, merges


def hf_config(arch: TinyLlama, vocab_size: int) -> dict[str, object]:
    """The same model as a Hugging Face ``config.json`` (what surrogate's analytic model reads)."""
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": arch.hidden_size,
        "num_hidden_layers": arch.num_hidden_layers, "intermediate_size": arch.intermediate_size,
        "num_attention_heads": arch.num_attention_heads, "num_key_value_heads": arch.num_key_value_heads,
        "max_position_embeddings": arch.max_position_embeddings, "rms_norm_eps": arch.rms_norm_eps,
        "rope_theta": arch.rope_theta, "vocab_size": vocab_size, "torch_dtype": "float16",
        "tie_word_embeddings": False, "bos_token_id": vocab_size - 2, "eos_token_id": vocab_size - 1,
    }


def write_tiny_llama(out_dir: Path, arch: TinyLlama = TinyLlama()) -> tuple[Path, Path]:
    """Write ``tiny-llama.gguf`` and ``config.json`` into ``out_dir``; return their paths."""
    import gguf

    out_dir.mkdir(parents=True, exist_ok=True)
    tokens, types, merges = vocabulary()
    rng = np.random.default_rng(arch.seed)
    head_dim = arch.hidden_size // arch.num_attention_heads
    kv_dim = head_dim * arch.num_key_value_heads

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float16)

    path = out_dir / "tiny-llama.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(arch.max_position_embeddings)
    writer.add_embedding_length(arch.hidden_size)
    writer.add_block_count(arch.num_hidden_layers)
    writer.add_feed_forward_length(arch.intermediate_size)
    writer.add_head_count(arch.num_attention_heads)
    writer.add_head_count_kv(arch.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(arch.rope_theta)
    writer.add_layer_norm_rms_eps(arch.rms_norm_eps)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(len(tokens) - 2)
    writer.add_eos_token_id(len(tokens) - 1)
    writer.add_add_bos_token(True)
    vocab = len(tokens)
    writer.add_tensor("token_embd.weight", matrix(vocab, arch.hidden_size))
    for layer in range(arch.num_hidden_layers):
        name = f"blk.{layer}."
        writer.add_tensor(name + "attn_norm.weight", np.ones(arch.hidden_size, dtype=np.float32))
        writer.add_tensor(name + "attn_q.weight", matrix(arch.hidden_size, arch.hidden_size))
        writer.add_tensor(name + "attn_k.weight", matrix(kv_dim, arch.hidden_size))
        writer.add_tensor(name + "attn_v.weight", matrix(kv_dim, arch.hidden_size))
        writer.add_tensor(name + "attn_output.weight", matrix(arch.hidden_size, arch.hidden_size))
        writer.add_tensor(name + "ffn_norm.weight", np.ones(arch.hidden_size, dtype=np.float32))
        writer.add_tensor(name + "ffn_gate.weight", matrix(arch.intermediate_size, arch.hidden_size))
        writer.add_tensor(name + "ffn_up.weight", matrix(arch.intermediate_size, arch.hidden_size))
        writer.add_tensor(name + "ffn_down.weight", matrix(arch.hidden_size, arch.intermediate_size))
    writer.add_tensor("output_norm.weight", np.ones(arch.hidden_size, dtype=np.float32))
    writer.add_tensor("output.weight", matrix(vocab, arch.hidden_size))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    config_path = out_dir / "config.json"
    config_path.write_text(json.dumps(hf_config(arch, vocab), indent=2) + "\n", encoding="utf-8")
    return path, config_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    for name, value in asdict(TinyLlama()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = vars(parser.parse_args())
    out_dir = args.pop("out_dir")
    gguf_path, config_path = write_tiny_llama(out_dir, TinyLlama(**args))
    print(f"wrote {gguf_path} ({gguf_path.stat().st_size / 1e6:.1f} MB) and {config_path}")


if __name__ == "__main__":
    main()
