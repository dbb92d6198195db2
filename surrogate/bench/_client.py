"""One streamed completion against an OpenAI-compatible server, timed token by token.

httpx (async HTTP) and httpx-sse (server-sent events) do the protocol; this module only times it. The
clock starts when the request is sent; TTFT is the first event that carries text; every later text event
adds one inter-token gap; the end-to-end latency runs to the last event. Output tokens are what the server
reports (``usage.completion_tokens``, llama.cpp's ``timings.predicted_n``), not the number of events:
a server may hold back a token that is not yet a whole UTF-8 character, so events and tokens can differ.
ITL = (last text event - first text event) / (output tokens - 1), the mean gap per token after the first
(vLLM's TPOT).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from features.errors import SurrogateError

__all__ = ["RequestRecord", "ServerError", "NotStreamingError", "stream_completion"]


class ServerError(SurrogateError):
    """The server answered a request with an error (status and its message)."""


class NotStreamingError(ServerError):
    """The server answered without server-sent events: TTFT and inter-token gaps cannot be measured."""


@dataclass
class RequestRecord:
    """Everything measured about one request (the raw per-request JSON)."""

    grid_point: dict[str, int]
    repeat: int
    index: int
    start_s: float
    ttft_s: float = float("nan")
    latency_s: float = float("nan")
    itl_s: float = float("nan")
    gaps_s: list[float] = field(default_factory=list)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    requested_output_tokens: int = 0
    finish_reason: str | None = None
    error: str | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), allow_nan=True)


def _error_text(response: httpx.Response, body: bytes) -> str:
    try:
        parsed = json.loads(body)
        message = parsed.get("error", parsed)
        if isinstance(message, dict):
            message = message.get("message", message)
    except (ValueError, AttributeError):
        message = body.decode("utf-8", "replace")[:300]
    return f"HTTP {response.status_code}: {message}"


def _usage(event: dict[str, Any], record: RequestRecord) -> None:
    """Token counts from an event: OpenAI ``usage``, else llama.cpp ``timings``."""
    usage = event.get("usage") or {}
    timings = event.get("timings") or {}
    if usage.get("completion_tokens") is not None:
        record.output_tokens = int(usage["completion_tokens"])
    elif timings.get("predicted_n") is not None:
        record.output_tokens = int(timings["predicted_n"])
    if usage.get("prompt_tokens") is not None:
        record.prompt_tokens = int(usage["prompt_tokens"])
    elif timings.get("prompt_n") is not None and record.prompt_tokens is None:
        record.prompt_tokens = int(timings["prompt_n"])


async def stream_completion(client: httpx.AsyncClient, base_url: str, body: dict[str, Any],
                            record: RequestRecord) -> RequestRecord:
    """Send one streamed ``/completions`` request and fill ``record`` with its timings.

    Raises :class:`NotStreamingError` when the answer is not an event stream and :class:`ServerError` on an
    HTTP error; network errors propagate as ``httpx.HTTPError``.
    """
    text_times: list[float] = []
    start = time.perf_counter()
    record.start_s = time.time()
    async with aconnect_sse(client, "POST", f"{base_url}/completions", json=body) as source:
        response = source.response
        if response.status_code >= 400:
            raise ServerError(_error_text(response, await response.aread()))
        try:
            async for sse in source.aiter_sse():
                if sse.data.strip() == "[DONE]":
                    break
                now = time.perf_counter()
                event = json.loads(sse.data)
                if "error" in event:
                    raise ServerError(f"error in the stream: {event['error']}")
                for choice in event.get("choices") or []:
                    if choice.get("text"):
                        text_times.append(now)
                    if choice.get("finish_reason"):
                        record.finish_reason = choice["finish_reason"]
                _usage(event, record)
        except SSEError as exc:
            kind = response.headers.get("content-type", "no content-type")
            raise NotStreamingError(f"the server did not stream (answered {kind}, not text/event-stream): "
                                    "TTFT and inter-token latency need a streaming endpoint") from exc
    end = time.perf_counter()
    record.latency_s = end - start
    if text_times:
        record.ttft_s = text_times[0] - start
        record.gaps_s = [b - a for a, b in zip(text_times, text_times[1:], strict=False)]
    if record.output_tokens is None:
        record.output_tokens = len(text_times)
    if len(text_times) >= 2 and record.output_tokens >= 2:
        record.itl_s = (text_times[-1] - text_times[0]) / (record.output_tokens - 1)
    return record
