"""Measure a live serving engine: ``surrogate bench`` and ``surrogate hardware probe``.

``_server`` asks the server what it serves and builds prompts of exact token length with its tokenizer;
``_client`` times one streamed completion; ``_sweep`` runs the grid and writes canonical rows; ``probe``
measures this machine's CPU. Load generators on PyPI were evaluated first (README "Measure your own
machine"): guidellm needs torch, transformers and datasets; vLLM's ``bench serve`` needs vLLM; genai-perf
needs Triton's perf_analyzer; llmperf needs Ray. For timing a stream token by token, httpx + httpx-sse
(maintained, async, a small dependency) and about 300 lines of our own were the better fit.
"""

from surrogate.bench._client import NotStreamingError, RequestRecord, ServerError
from surrogate.bench._server import BenchError, PromptMaker, ServerInfo, read_server
from surrogate.bench._sweep import ROW_COLUMNS, BenchPlan, GridPoint, SweepResult, run_sweep

__all__ = ["BenchError", "BenchPlan", "GridPoint", "NotStreamingError", "PromptMaker", "RequestRecord",
           "ROW_COLUMNS", "ServerError", "ServerInfo", "SweepResult", "read_server", "run_sweep"]
