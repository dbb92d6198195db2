"""What the user asks the optimizer for: devices, workload, search space, objective, limits, search options.

Plain frozen dataclasses and the names they accept, with no heavy imports, so that the command line
can build its flags and help from them without loading pandas or the catalogs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from features.errors import ConfigError

__all__ = ["SERVING_MODES", "DEFAULT_MAX_SEQUENCES", "SIXTEEN_BIT", "OBJECTIVES", "PARETO_OBJECTIVES", "RISKS",
           "TARGETS", "SEARCH_METHODS", "DevicePool", "Inventory", "Workload", "SearchSpace", "Objective", "Targets",
           "OptimizeOptions", "storage_problem", "JOURNAL_SUFFIXES", "SQLITE_SUFFIXES"]

SEARCH_METHODS = ("auto", "exhaustive", "optuna")
# Serving modes the search may consider: one engine per replica, prefill and decode workers apart (xPyD), or both.
SERVING_MODES = ("aggregated", "disaggregated", "both")
# Search bound, not a measured number: the largest batch or concurrency per replica tried.
DEFAULT_MAX_SEQUENCES = 512
SIXTEEN_BIT = ("fp16", "bf16")
_DEFAULT_PRECISIONS = ("fp16", "fp8")


@dataclass(frozen=True)
class DevicePool:
    """Devices of one type that the user has."""

    hardware: str = field(metadata={"help": "catalog id, e.g. h100-sxm"})
    count: int = field(metadata={"help": "how many of them"})


@dataclass(frozen=True)
class Inventory:
    """Every device type the user could deploy on (one type per deployment)."""

    pools: tuple[DevicePool, ...]

    @classmethod
    def parse(cls, items: Sequence[str]) -> Inventory:
        """``["h100-sxm:8", "a100-sxm4-80gb:16"]``, or as tables write it (``"8x H100"``); a bare name means one
        device.

        Unknown names raise ``UnknownNameError`` with suggestions; bad counts raise ``ConfigError``.
        """
        from features.catalog import resolve_hardware
        from features.embedded import split_hardware_count

        if not items:
            raise ConfigError("give at least one --gpus TYPE:COUNT, e.g. --gpus h100-sxm:8")
        counts: dict[str, int] = {}
        for item in items:
            name, _, count_text = str(item).partition(":")
            if not count_text:  # '8x H100'
                name, counted = split_hardware_count(name.strip())
                count_text = str(counted or "")
            try:
                count = int(count_text) if count_text else 1
            except ValueError:
                raise ConfigError(f"--gpus {item!r}: the count after ':' must be a whole number") from None
            if count < 1:
                raise ConfigError(f"--gpus {item!r}: the count must be at least 1")
            hardware = resolve_hardware(name.strip())
            counts[hardware] = counts.get(hardware, 0) + count
        return cls(tuple(DevicePool(h, c) for h, c in counts.items()))

    def describe(self) -> str:
        return ", ".join(f"{p.count}x {p.hardware}" for p in self.pools)


@dataclass(frozen=True)
class Workload:
    """The traffic to serve: one model, fixed prompt and output lengths, and a load (a concurrency, a
    request rate, or neither: then the best load per replica is searched)."""

    model: str = field(metadata={"help": "HF model id, alias, or config.json path"})
    input_len: int = field(metadata={"help": "prompt tokens per request"})
    output_len: int = field(metadata={"help": "generated tokens per request"})
    concurrency: int | None = field(default=None, metadata={
        "help": "requests in flight across the whole deployment (default: searched per replica)"})
    request_rate_per_s: float | None = field(default=None, metadata={
        "help": "open-loop traffic: requests per second to the whole deployment (Poisson), instead of a "
                "concurrency; each candidate's requests in flight follow by Little's law"})

    @property
    def max_seq_len(self) -> int:
        """Longest sequence a request reaches: prompt plus output (vLLM ``--max-model-len``)."""
        return self.input_len + self.output_len


@dataclass(frozen=True)
class SearchSpace:
    """Which frameworks and number formats the optimizer may pick, and how far it scales batches."""

    frameworks: tuple[str, ...] | None = field(default=None, metadata={
        "help": "frameworks to consider (default: every one that runs on the hardware)"})
    precisions: tuple[str, ...] = field(default=_DEFAULT_PRECISIONS, metadata={
        "help": "weight and KV-cache formats to consider; fp16/bf16 mean the checkpoint's 16-bit format"})
    max_sequences: int = field(default=DEFAULT_MAX_SEQUENCES, metadata={
        "help": "largest batch or concurrency per replica tried (powers of two and their midpoints)"})
    serving: str = field(default="aggregated", metadata={
        "help": "aggregated (prefill and decode on the same engine), disaggregated (prefill and decode workers "
                "apart, the KV cache shipped between), or both (the best of each and their ratio)"})
    engine_memory_fraction: float | None = field(default=None, metadata={
        "help": "share of device memory every engine that takes one may use (SGLang --mem-fraction-static, vLLM "
                "--gpu-memory-utilization, TensorRT-LLM --kv_cache_free_gpu_memory_fraction); default: each "
                "engine's own, SGLang's raised to 0.9 where its own leaves too little for the model"})
    software_as_of: str | None = field(default=None, metadata={
        "help": "price every engine on every accelerator as of this date (YYYY-MM-DD); default: the newest release "
                "each engine was measured with on that accelerator, which may be years apart between accelerators"})

    def __post_init__(self) -> None:
        if self.serving not in SERVING_MODES:
            raise ConfigError(f"serving must be one of {', '.join(SERVING_MODES)}, got '{self.serving}'")
        if self.software_as_of is not None:
            try:
                date.fromisoformat(self.software_as_of)
            except ValueError:
                raise ConfigError(f"software_as_of must be a date YYYY-MM-DD (the engines as of then), got "
                                  f"'{self.software_as_of}'") from None
        share = self.engine_memory_fraction
        if share is not None and not 0.0 < share <= 1.0:
            raise ConfigError(f"engine_memory_fraction must be above 0 and at most 1, got {share:g}")

    def unreleased(self, framework: str) -> str | None:
        """Why ``framework`` is left out of a search as of ``software_as_of`` (its first release came later), or
        None: SGLang as of 2023 would be priced for an engine that did not exist."""
        if self.software_as_of is None:
            return None
        from features.versions import before_first_release

        return before_first_release(framework, date.fromisoformat(self.software_as_of))


@dataclass(frozen=True)
class Objective:
    """One thing to optimise: which scored column, and which way is better."""

    name: str
    column: str
    maximize: bool
    label: str


OBJECTIVES = {
    "throughput": Objective("throughput", "throughput_per_device_tok_s", True, "output tokens/s per device"),
    "latency": Objective("latency", "latency_s", False, "seconds per request"),
    "cost": Objective("cost", "cost_usd_per_mtok", False, "USD per million output tokens"),
}
# Pareto mode: throughput per device against per-user speed, and cost where every device is priced.
PARETO_OBJECTIVES = (OBJECTIVES["throughput"],
                     Objective("per_user", "per_user_tok_s", True, "output tokens/s per request"))
# Which prediction a latency limit binds: the median, P80 (read off the band: ``read_off_quantile``) or P90.
RISKS = ("p50", "p80", "p90")
# The risks no prediction column carries, with the quantile ``score`` reads off each prediction's band for them.
READ_OFF_RISKS = {"p80": 0.8}
# Latency targets: option name -> predicted metric it bounds.
TARGETS = {"max_ttft_s": "ttft_s", "max_itl_s": "itl_s", "max_latency_s": "latency_s"}


@dataclass(frozen=True)
class Targets:
    """Latency limits (``None`` = no limit) and which prediction they apply to."""

    max_ttft_s: float | None = None
    max_itl_s: float | None = None
    max_latency_s: float | None = None
    risk: str = "p90"

    def __post_init__(self) -> None:
        if self.risk not in RISKS:
            raise ConfigError(f"risk must be one of {', '.join(RISKS)}, got '{self.risk}'")
        for name in TARGETS:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")

    def column(self, metric: str) -> str:
        """The predicted column a target on ``metric`` is checked against."""
        return metric if self.risk == "p50" else f"{metric}_{self.risk}"

    def given(self) -> dict[str, float]:
        return {metric: getattr(self, name) for name, metric in TARGETS.items() if getattr(self, name) is not None}


@dataclass(frozen=True)
class OptimizeOptions:
    """What to optimise, under which limits, and how to search."""

    objective: str = field(default="throughput", metadata={"help": "throughput, latency or cost"})
    targets: Targets = field(default_factory=Targets, metadata={"help": "latency limits and their quantile"})
    pareto: bool = field(default=False, metadata={"help": "return the throughput / per-user speed front"})
    search: str = field(default="auto", metadata={"help": "auto, exhaustive or optuna"})
    trials: int = field(default=200, metadata={"help": "Optuna trials run by this process"})
    seed: int | None = field(default=0, metadata={"help": "seed of the Optuna sampler"})
    # Predicting every candidate is exact and, up to this size, faster than 200 TPE trials on 2 cores
    # (benchmarks/optimize_speed.py: 109,208 candidates in 5.6 s exhaustive vs 8.2 s TPE, 39,300 in 2.8 s vs 5.3 s).
    exhaustive_limit: int = field(default=150_000, metadata={"help": "largest space enumerated exactly"})
    storage: str | None = field(default=None, metadata={"help": "Optuna storage URL or journal file"})
    study_name: str | None = field(default=None, metadata={"help": "study shared by several processes"})
    top_k: int = field(default=5, metadata={"help": "configurations to return"})
    trials_per_batch: int = field(default=16, metadata={"help": "trials predicted in one surrogate call"})

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got '{self.objective}'")
        if self.search not in SEARCH_METHODS:
            raise ConfigError(f"search must be one of {', '.join(SEARCH_METHODS)}, got '{self.search}'")
        if self.trials < 1 or self.top_k < 1 or self.trials_per_batch < 1:
            raise ConfigError("trials, top_k and trials_per_batch must be at least 1")
        if self.study_name and not self.storage:
            raise ConfigError("--study-name needs --storage (the study lives in that storage)")
        if self.storage is not None:
            problem = storage_problem(self.storage)
            if problem:
                raise ConfigError(f"--storage {self.storage!r}: {problem}")


# SQLAlchemy database URL schemes an Optuna RDBStorage accepts (a "+driver" suffix allowed).
_DATABASES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql", "cockroachdb")
# File storages without a URL (``surrogate.optimize._optuna.open_storage`` opens them by these suffixes).
JOURNAL_SUFFIXES = (".log", ".journal")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_STORAGE_FORMS = ("sqlite:///study.db, postgresql://user:password@host/db, or a journal file (study.log); "
                  "a bare *.db path is SQLite")


def storage_problem(url: str) -> str | None:
    """Why an Optuna storage cannot work, found before the search starts (None when it may): an
    unknown database scheme, a file in a directory that does not exist, or a path that is a directory.
    A server that cannot be reached is only found when the study opens."""
    text = str(url).strip()
    if not text:
        return f"empty; give {_STORAGE_FORMS}"
    if text.startswith("journal:"):
        return _file_problem(text.removeprefix("journal:"))
    if "://" in text:
        scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme not in _DATABASES:
            return f"unknown database '{scheme}'; give {_STORAGE_FORMS}"
        if scheme == "sqlite":
            path = text.split("://", 1)[1].removeprefix("/")
            return None if path in ("", ":memory:") else _file_problem(path)
        return None
    if text.endswith(JOURNAL_SUFFIXES + SQLITE_SUFFIXES):
        return _file_problem(text)
    return f"neither a database URL nor a journal file; give {_STORAGE_FORMS}"


def _file_problem(name: str) -> str | None:
    from pathlib import Path

    path = Path(name)
    if path.is_dir():
        return f"{path} is a directory; name a file in it"
    if not path.parent.is_dir():
        return f"directory {path.parent} does not exist (the storage creates its file, not the directory)"
    return None
