"""Roofline cost of one engine step: FLOPs, bytes moved, communication, and the time each takes.

A step decodes one token for each running sequence and/or prefills whole prompts (a pure prefill,
a pure decode, or the mixed step of a continuous-batching engine).
Compute and memory traffic overlap (the roofline: a step takes the longer of the two); collective
communication for tensor, pipeline and expert parallelism sits on the critical path and adds.
Pipeline stages run one after another for one batch (no micro-batch overlap), which is also how
llama.cpp's layer split behaves. Everything is vectorised over rows; no Python loop per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "Collectives", "StepCost", "step_cost", "link_bandwidth_gbps", "link_latency_s", "ring_bandwidth_gbps",
    "numeric_columns",
    "weight_bytes_per_device", "kv_shards", "window_tokens",
    "P2P_LATENCY_S", "NETWORK_LATENCY_S", "ACTIVATION_BYTES_PER_VALUE", "MATMULS_PER_LAYER",
]

# One collective or point-to-point transfer costs this much before bandwidth counts.
# Source: ai-dynamo/aiconfigurator systems/*.yaml `p2p_latency: 0.00001` (labelled empirical there).
P2P_LATENCY_S = 10e-6
# The same for a collective that leaves the scale-up domain: NCCL's own cost model puts a small all-reduce
# across H100 nodes at 25 us (its tuning log of a 128-byte all-reduce, github.com/NVIDIA/nccl/issues/1453).
NETWORK_LATENCY_S = 25e-6
# Activations and all-reduce payloads are exchanged in 16-bit precision by every engine modelled here.
ACTIVATION_BYTES_PER_VALUE = 2.0
# Matmul inputs/outputs per transformer layer streamed through memory: q, k, v, o, gate, up, down, router.
MATMULS_PER_LAYER = 8

# One float per configuration row: every spec and layout column is read with ``to_numpy(dtype=float)``.
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Collectives:
    """The collectives of one step, by kind: how many, bytes each (per device), link bandwidth in B/s."""

    count: tuple[FloatArray, ...]
    bytes_each: tuple[FloatArray, ...]
    link_bw_bps: tuple[FloatArray, ...]
    latency_s: tuple[FloatArray, ...]  # what each pays before its bytes (more once it leaves the domain)


@dataclass(frozen=True)
class StepCost:
    """Per-row arrays for one step of one model replica; byte and FLOP counts are per device.

    Times are at the datasheet peaks (the hard lower bound). The work itself is kept by kind
    (matmul and attention FLOPs, the matmul shape, bytes, collectives, layers) so that
    ``features.efficiency`` can price the same step at achievable rates.
    """

    flops: FloatArray
    weight_bytes: FloatArray
    kv_bytes: FloatArray
    activation_bytes: FloatArray
    comm_bytes: FloatArray
    compute_s: FloatArray
    memory_s: FloatArray
    comm_s: FloatArray
    matmul_flops: FloatArray
    attention_flops: FloatArray
    matmul_peak_flops: FloatArray
    attention_peak_flops: FloatArray
    mem_bw_bps: FloatArray
    tokens_per_chunk: FloatArray
    chunks: FloatArray
    shard_matmul_params: FloatArray
    layers: FloatArray
    pp: FloatArray
    collectives: Collectives

    @property
    def time_s(self) -> FloatArray:
        """Step time: compute and memory traffic overlap, communication adds."""
        return np.maximum(self.compute_s, self.memory_s) + self.comm_s

    @property
    def bound_s(self) -> FloatArray:
        """What no deployment beats: compute and memory traffic at the peaks, no communication (links can be
        faster than the catalog's per-device figure, and engines overlap collectives with compute)."""
        out: FloatArray = np.maximum(self.compute_s, self.memory_s)
        return out

    @property
    def bytes_moved(self) -> FloatArray:
        """Bytes through device memory: weights, KV cache and activations."""
        return self.weight_bytes + self.kv_bytes + self.activation_bytes


def numeric_columns(specs: pd.DataFrame) -> dict[str, FloatArray]:
    """The numeric spec columns as float arrays (string columns such as vendor are skipped)."""
    return {name: specs[name].to_numpy(dtype=float) for name in specs.columns
            if pd.api.types.is_numeric_dtype(specs[name])}


def weight_bytes_per_device(s: dict[str, FloatArray], tp: FloatArray, pp: FloatArray, ep: FloatArray,
                            expert_fraction: FloatArray | float = 1.0) -> FloatArray:
    """Bytes of one device's weight shard: dense weights split tp*pp ways, experts max(tp, ep)*pp
    ways; ``expert_fraction`` counts only the experts a step touches."""
    dense_params = s["total_params"] - s["expert_params"]
    return s["weight_bytes_per_value"] * (dense_params / (tp * pp)
                                          + s["expert_params"] * expert_fraction / (np.maximum(tp, ep) * pp))


def kv_shards(s: dict[str, FloatArray], tp: FloatArray, pp: FloatArray) -> FloatArray:
    """Ways the KV cache is split: MLA latents are replicated on every tensor-parallel rank; GQA
    heads split until each rank holds one; pipeline stages hold their own layers."""
    return np.where(s["is_mla"] > 0, 1.0, np.minimum(tp, np.maximum(s["num_kv_heads"], 1.0))) * pp


def recurrent_state_bytes_per_device(s: dict[str, FloatArray], tp: FloatArray, pp: FloatArray) -> FloatArray:
    """Bytes of one sequence's recurrent state (linear-attention and Mamba layers) one device holds: the
    state's heads split over tensor-parallel ranks, its layers over pipeline stages."""
    return np.asarray(s["recurrent_state_bytes_per_sequence"], dtype=float) / (tp * pp)


def window_tokens(context: FloatArray, window: FloatArray) -> FloatArray:
    """Tokens a windowed layer attends to; ``window == 0`` means no windowed layers."""
    return np.where(window > 0, np.minimum(context, np.where(window > 0, window, 1.0)), 0.0)


def link_bandwidth_gbps(specs: pd.DataFrame | dict[str, FloatArray], group_size: FloatArray) -> FloatArray:
    """Scale-up link bandwidth if the group fits the NVLink/xGMI domain, else the network (``specs``: the
    table, or its :func:`numeric_columns`): one device's link to one device of another domain (a pipeline
    hand-off, an expert dispatch's share that leaves the domain)."""
    inside = group_size <= np.asarray(specs["scale_up_domain_devices"], dtype=float)
    intra = np.asarray(specs["intra_node_bw_gbps"], dtype=float)
    inter = np.asarray(specs["inter_node_bw_gbps"], dtype=float)
    linked: FloatArray = np.where(inside, intra, inter)
    return linked


def link_latency_s(specs: pd.DataFrame | dict[str, FloatArray], group_size: FloatArray) -> FloatArray:
    """What a transfer among ``group_size`` devices pays before its bytes: ``P2P_LATENCY_S`` inside the scale-up
    domain, ``NETWORK_LATENCY_S`` once it leaves it (the domain test of :func:`link_bandwidth_gbps`)."""
    inside = group_size <= np.asarray(specs["scale_up_domain_devices"], dtype=float)
    latency: FloatArray = np.where(inside, P2P_LATENCY_S, NETWORK_LATENCY_S)
    return latency


def ring_bandwidth_gbps(specs: pd.DataFrame | dict[str, FloatArray], group_size: FloatArray) -> FloatArray:
    """Bus bandwidth of a ring all-reduce over ``group_size`` devices. Inside the scale-up domain: its link.
    Across domains a ring is as slow as its slowest hop, the network, but NCCL runs one ring per network
    rail (each device's own NIC: ``inter_node_bw_gbps`` is per device), each carrying its share of the
    message, so a device sends 1 / (domain size) of what a single ring would over the network: the rings
    together reach the domain's network bandwidth, at most its link. DGX A100 (8 x 200 Gb/s HDR: 8 x 25 GB/s)
    reads 200 GB/s; one ring at one NIC's 25 GB/s priced 16- to 64-way tensor parallelism across nodes 4-7x
    slower than aiconfigurator's measured TTFTs on 8-64 B200s (DeepSeek-V3, 8,192-token prompts, 1-4 in
    flight: 0.25-0.32 s measured, 0.64-0.68 s of all-reduces alone)."""
    domain = np.asarray(specs["scale_up_domain_devices"], dtype=float)
    intra = np.asarray(specs["intra_node_bw_gbps"], dtype=float)
    rails = np.asarray(specs["inter_node_bw_gbps"], dtype=float) * domain
    linked: FloatArray = np.where(group_size <= domain, intra, np.minimum(intra, rails))
    return linked


def step_cost(
    specs: pd.DataFrame,
    tp: FloatArray,
    pp: FloatArray,
    ep: FloatArray,
    decode_seqs: FloatArray | float,
    decode_context: FloatArray | float,
    prefill_seqs: FloatArray | float,
    prefill_len: FloatArray | float,
    chunk_tokens: FloatArray | None = None,
    moe_token_factor: FloatArray | float = 1.0,
    *,
    numeric: dict[str, FloatArray] | None = None,
) -> StepCost:
    """Cost of one step that decodes one token for each of ``decode_seqs`` sequences holding
    ``decode_context`` tokens and prefills ``prefill_seqs`` prompts of ``prefill_len`` tokens.

    ``chunk_tokens`` splits the step into chunks that each stream the weights again (llama.cpp's
    prompt batch, a serving engine's prefill token budget); nan means one pass. ``ep`` is the devices
    the experts are spread over; ``moe_token_factor`` the replicas whose tokens meet in each MoE layer
    (attention data parallelism: every rank's tokens are dispatched to the experts together).
    ``numeric`` may pass :func:`numeric_columns` of ``specs`` when the caller already has them.
    """
    s = numeric if numeric is not None else numeric_columns(specs)
    tp, pp, ep = (np.asarray(x, dtype=float) for x in (tp, pp, ep))
    d_seqs, d_ctx, p_seqs, p_len = (np.broadcast_to(np.asarray(x, dtype=float), tp.shape)
                                    for x in (decode_seqs, decode_context, prefill_seqs, prefill_len))
    tokens = d_seqs + p_seqs * p_len
    shards = tp * pp
    matmul_flops, attention_flops = _flops(s, shards, tokens, d_seqs, d_ctx, p_seqs, p_len)
    compute_s = (matmul_flops / (s["matmul_peak_tflops"] * 1e12)
                 + attention_flops / (s["attention_peak_tflops"] * 1e12))
    chunks = _chunks(tokens, chunk_tokens)
    weight_bytes = _weight_stream_bytes(s, tp, pp, ep, tokens * moe_token_factor, chunks)
    kv_bytes = _kv_bytes(s, tp, pp, tokens, d_seqs, d_ctx, p_seqs, p_len)
    # Activations: inputs and outputs of each matmul per token (column/row-parallel halves split by tp).
    act_values = tokens * (MATMULS_PER_LAYER * s["hidden_size"] * s["num_layers"] / pp
                           + s["matmul_params_per_token"] / s["hidden_size"] / shards)
    activation_bytes = act_values * ACTIVATION_BYTES_PER_VALUE
    memory_s = (weight_bytes + kv_bytes + activation_bytes) / (s["mem_bw_gbps"] * 1e9)
    collectives = _collectives(s, tp, pp, ep, tokens)
    comm_bytes = sum((n * b for n, b in zip(collectives.count, collectives.bytes_each, strict=True)),
                     np.zeros_like(tokens))
    comm_s = sum((n * (latency + b / bw) for n, b, bw, latency in
                  zip(collectives.count, collectives.bytes_each, collectives.link_bw_bps, collectives.latency_s,
                      strict=True)),
                 np.zeros_like(tokens))

    # Pipeline stages run in sequence for a single batch: the replica's step is pp stage times.
    return StepCost(
        flops=matmul_flops + attention_flops,
        weight_bytes=weight_bytes,
        kv_bytes=kv_bytes,
        activation_bytes=activation_bytes,
        comm_bytes=comm_bytes,
        compute_s=compute_s * pp,
        memory_s=memory_s * pp,
        comm_s=comm_s,
        matmul_flops=matmul_flops,
        attention_flops=attention_flops,
        matmul_peak_flops=s["matmul_peak_tflops"] * 1e12,
        attention_peak_flops=s["attention_peak_tflops"] * 1e12,
        mem_bw_bps=s["mem_bw_gbps"] * 1e9,
        tokens_per_chunk=tokens / chunks,
        chunks=chunks,
        shard_matmul_params=s["matmul_params_per_token"] / (tp * s["num_layers"] * MATMULS_PER_LAYER),
        layers=s["num_layers"],
        pp=pp,
        collectives=collectives,
    )


def _flops(s: dict[str, FloatArray], shards: FloatArray, tokens: FloatArray, d_seqs: FloatArray,
           d_ctx: FloatArray, p_seqs: FloatArray, p_len: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Matmul and attention FLOPs per device (they run at different peaks).

    Every new token multiplies the active weights, then attends to all earlier tokens (a prompt
    token at position t sees t tokens: (len + 1) / 2 on average).
    """
    window = s["sliding_window"]
    d_ctx_full = d_ctx + 1.0
    p_ctx_full = (p_len + 1.0) / 2.0
    attn_flops = (d_seqs * (s["attn_flops_per_ctx_full"] * d_ctx_full
                            + s["attn_flops_per_ctx_window"] * window_tokens(d_ctx_full, window))
                  + p_seqs * p_len * (s["attn_flops_per_ctx_full"] * p_ctx_full
                                      + s["attn_flops_per_ctx_window"] * window_tokens(p_ctx_full, window)))
    matmul_flops = tokens * 2.0 * s["matmul_params_per_token"]
    return matmul_flops / shards, attn_flops / shards


def _chunks(tokens: FloatArray, chunk_tokens: FloatArray | None) -> FloatArray:
    """Forward passes a step takes: one, or one per ``chunk_tokens`` tokens (nan = one pass)."""
    chunk = np.full_like(tokens, np.inf) if chunk_tokens is None else np.where(
        np.isnan(chunk_tokens), np.inf, chunk_tokens)
    chunks: FloatArray = np.maximum(1.0, np.ceil(tokens / chunk))
    return chunks


def _weight_stream_bytes(s: dict[str, FloatArray], tp: FloatArray, pp: FloatArray, ep: FloatArray,
                         tokens: FloatArray, chunks: FloatArray) -> FloatArray:
    """Weight bytes one device streams: each chunk streams the shard once, and MoE streams only
    the experts the chunk's tokens pick (each expert is missed by all of them with (1 - k/E)^tokens)."""
    tokens_per_chunk = tokens / chunks
    expert_share = np.where(s["num_experts"] > 0, s["experts_per_token"] / np.maximum(s["num_experts"], 1.0), 0)
    touched = 1.0 - np.power(1.0 - expert_share, tokens_per_chunk)
    return chunks * weight_bytes_per_device(s, tp, pp, ep, touched)


def _kv_bytes(s: dict[str, FloatArray], tp: FloatArray, pp: FloatArray, tokens: FloatArray, d_seqs: FloatArray,
              d_ctx: FloatArray, p_seqs: FloatArray, p_len: FloatArray) -> FloatArray:
    """KV-cache bytes one device moves: each sequence's context read once per step, new tokens written, and
    each sequence's recurrent state (linear-attention and Mamba layers) read and written once."""
    window = s["sliding_window"]
    kv_full, kv_window = s["kv_values_per_token_full"], s["kv_values_per_token_window"]
    kv_values_read = (d_seqs * (kv_full * d_ctx + kv_window * window_tokens(d_ctx, window))
                      + p_seqs * (kv_full * p_len + kv_window * window_tokens(p_len, window)))
    kv_values_written = tokens * (kv_full + kv_window)
    state = 2.0 * (d_seqs + p_seqs) * recurrent_state_bytes_per_device(s, tp, pp)
    return (kv_values_read + kv_values_written) * s["kv_bytes_per_value"] / kv_shards(s, tp, pp) + state


def _collectives(s: dict[str, FloatArray], tp: FloatArray, pp: FloatArray, ep: FloatArray,
                 tokens: FloatArray) -> Collectives:
    """The collectives on a step's critical path: two ring all-reduces per layer (attention and MLP
    outputs) within tp (:func:`ring_bandwidth_gbps`), one activation hand-off per pipeline boundary, and
    per MoE layer a dispatch and a combine of the tokens to the expert ranks that do not hold them. A tp
    group holds its tokens on every rank, so experts placed inside it need no dispatch (their partial
    outputs join in the MLP's all-reduce: tp 8 with ep 8 sends nothing more); past it (ep > tp: attention data
    parallelism, or experts spread wider than one replica) each of its ranks sends its 1/tp share of the
    tokens to the ranks outside the group, over the scale-up link to those in its domain and over its own
    network link to the rest (the two add: a bound would take the larger). At the peak each pays
    ``P2P_LATENCY_S`` before bandwidth, ``NETWORK_LATENCY_S`` where it leaves the scale-up domain."""
    layers = s["num_layers"]
    payload = tokens * s["hidden_size"] * ACTIVATION_BYTES_PER_VALUE
    allreduce_bytes = np.where(tp > 1, 2.0 * (tp - 1.0) / tp * payload, 0.0)
    n_allreduce = np.where(tp > 1, 2.0 * layers, 0.0)
    moe_layers = np.where(s["num_experts"] > 0, layers, 0.0)
    # Of the ep expert ranks: those outside the tp group and inside its domain, and those past the domain.
    domain = np.asarray(s["scale_up_domain_devices"], dtype=float)
    in_domain = np.minimum(ep, domain)
    near = np.maximum(in_domain - tp, 0.0)
    far = np.maximum(ep - np.maximum(in_domain, tp), 0.0)
    routed = payload / tp * s["experts_per_token"]
    near_bytes, far_bytes = routed * near / ep, routed * far / ep
    return Collectives(
        count=(n_allreduce, pp - 1.0, np.where(near > 0, 2.0 * moe_layers, 0.0),
               np.where(far > 0, 2.0 * moe_layers, 0.0)),
        bytes_each=(allreduce_bytes, payload, near_bytes, far_bytes),
        link_bw_bps=(ring_bandwidth_gbps(s, tp) * 1e9, link_bandwidth_gbps(s, tp * pp) * 1e9,
                     np.asarray(s["intra_node_bw_gbps"], dtype=float) * 1e9,
                     np.asarray(s["inter_node_bw_gbps"], dtype=float) * 1e9),
        latency_s=(link_latency_s(s, tp), link_latency_s(s, tp * pp),
                   np.full(tp.shape, P2P_LATENCY_S), np.full(tp.shape, NETWORK_LATENCY_S)),
    )
