"""Column names other labs' tables use, read as the canonical ones (``surrogate data ingest csv``).

Benchmark tools and papers name the same facts differently: ``isl``/``osl`` (aiconfigurator's tables),
``num_gpus``, ``mean_ttft_ms`` and ``mean_tpot_ms`` (vLLM's serving benchmark). A table that names its columns
so is read as if it used the canonical names, times given in milliseconds are converted to seconds, and the
columns read so are said once (a note on the file's header). Names whose unit is not stated (``ttft``,
``latency``) are not guessed: the errors for a table without its required columns or any metric name the
spelling to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ColumnReading", "read_header", "canonical_frame", "canonical_name", "SYNONYMS"]

# canonical column -> other names for it, each with the number its values are divided by to be in the canonical
# unit (1000: milliseconds to seconds).
SYNONYMS: dict[str, dict[str, float]] = {
    "hardware": {"gpu": 1.0, "gpu_type": 1.0, "accelerator": 1.0},
    "num_devices": {"num_gpus": 1.0, "gpus": 1.0, "gpu_count": 1.0, "n_gpus": 1.0},
    "model": {"model_name": 1.0, "model_id": 1.0},
    "framework": {"engine": 1.0, "backend": 1.0, "inference_engine": 1.0},
    "framework_version": {"engine_version": 1.0, "backend_version": 1.0},
    "tp": {"tp_size": 1.0, "tensor_parallel_size": 1.0},
    "pp": {"pp_size": 1.0, "pipeline_parallel_size": 1.0},
    "dp": {"dp_size": 1.0, "data_parallel_size": 1.0},
    "ep": {"ep_size": 1.0, "expert_parallel_size": 1.0},
    "input_len": {"isl": 1.0, "input_tokens": 1.0, "prompt_len": 1.0, "prompt_tokens": 1.0, "input_length": 1.0},
    "output_len": {"osl": 1.0, "output_tokens": 1.0, "output_length": 1.0},
    "concurrency": {"max_concurrency": 1.0, "num_concurrent_requests": 1.0},
    "request_rate_per_s": {"request_rate": 1.0, "qps": 1.0},
    "ttft_s": {"ttft_ms": 1000.0, "mean_ttft_ms": 1000.0},
    "itl_s": {"itl_ms": 1000.0, "tpot_ms": 1000.0, "mean_itl_ms": 1000.0, "mean_tpot_ms": 1000.0, "tpot_s": 1.0},
    "latency_s": {"latency_ms": 1000.0, "e2e_latency_ms": 1000.0, "mean_e2el_ms": 1000.0, "e2e_latency_s": 1.0},
    "output_throughput_tok_s": {"output_throughput": 1.0, "output_tokens_per_s": 1.0},
    "throughput_tok_s": {"total_token_throughput": 1.0, "total_tokens_per_s": 1.0},
}
# Written without a unit: the missing-columns error says which spelling to use instead of guessing.
_UNITLESS = {"ttft": "ttft_s or ttft_ms", "itl": "itl_s or itl_ms", "tpot": "itl_s or tpot_ms",
             "latency": "latency_s or latency_ms", "e2e_latency": "latency_s or e2e_latency_ms"}
_BY_NAME = {other: (canonical, divisor) for canonical, others in SYNONYMS.items()
            for other, divisor in others.items()}


@dataclass(frozen=True)
class ColumnReading:
    """How a table's header is read: which written column gives each canonical one, and in what unit."""

    sources: dict[str, str]  # canonical column -> the column as written
    divisors: dict[str, float]  # canonical column -> what its written values are divided by (1 where in its unit)
    notes: list[str]  # what was read under another name (one note, or none)

    def check_metrics(self, header: list[str], metrics: list[str], label: str) -> None:
        """``DataError`` when no metric column is read but a time column without its unit is written."""
        if not any(m in self.sources for m in metrics) and self.hint(header):
            raise DataError(f"{label}:1: no metric column read{self.hint(header)}")

    def hint(self, header: list[str]) -> str:
        """For the missing-columns error: the unit a unitless time column needs ('' when none is written)."""
        asked = [f"'{name}' (say its unit: {_UNITLESS[name.lower()]})" for name in header
                 if name.lower() in _UNITLESS]
        return f"; {', '.join(asked)}" if asked else ""


def read_header(header: list[str], canonical: list[str], label: str) -> ColumnReading:
    """The canonical columns of ``header`` (names as :data:`SYNONYMS` lists them, any case) and the notes saying
    so; ``DataError`` where two written columns give one canonical column."""
    sources = {name: name for name in header if name in canonical}  # a canonical name wins over any other
    divisors = dict.fromkeys(sources, 1.0)
    notes: list[str] = []
    for name in header:
        if name in sources:
            continue
        lower = name.lower()
        target, divisor = (lower, 1.0) if lower in canonical else _BY_NAME.get(lower, ("", 1.0))
        if not target or sources.get(target) == target:
            continue  # not a column we read, or its canonical column is there too (kept in source_fields)
        if target in sources:
            raise DataError(f"{label}:1: columns '{sources[target]}' and '{name}' both give {target}; keep one or "
                            f"name it {target}")
        sources[target], divisors[target] = name, divisor
        notes.append(f"{name} as {target}{' (ms / 1,000)' if divisor == 1000.0 else ''}")
    return ColumnReading(sources, divisors, [f"columns read under other names: {', '.join(notes)}"] if notes else [])


def canonical_name(name: str) -> str:
    """The canonical column another lab's ``name`` stands for ('' if none); its unit may differ (``ttft_ms``)."""
    return _BY_NAME.get(name.lower(), ("", 1.0))[0]


def canonical_frame(frame: pd.DataFrame, label: str) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` (a table of cells as written) with other labs' column names renamed to the canonical ones of
    :data:`surrogate.ingest.schema.SCHEMA` and their milliseconds made seconds, and the note saying so (none
    where nothing was renamed); a table naming a column twice is left for its reader to refuse."""
    import pandas as pd

    from surrogate.ingest.schema import SCHEMA

    if frame.columns.duplicated().any():
        return frame, []
    reading = read_header([str(c) for c in frame.columns], [c.name for c in SCHEMA], label)
    renamed = {written: canonical for canonical, written in reading.sources.items() if written != canonical}
    if not renamed:
        return frame, []
    out = frame.rename(columns=renamed)
    for canonical, divisor in reading.divisors.items():
        if divisor != 1.0:
            numbers = pd.to_numeric(out[canonical], errors="coerce")
            out[canonical] = out[canonical].where(numbers.isna(), numbers / divisor)
    return out, reading.notes
