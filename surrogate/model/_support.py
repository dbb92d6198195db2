"""How far a configuration is from the rows a bundle was trained on, per row.

Six yes/no questions (was this accelerator's vendor seen, this accelerator under this batching mode, this
model, this engine at all, this engine at this software date on this accelerator? is the workload inside
the batch and length range its model was trained on under its batching mode?) and one distance:
the nearest training deployment in a standardised space of what is neither workload nor identity
(model shape, parallel layout, number formats, prompt tokens per pass of the weights), divided by the 90th
percentile of the training deployments' own nearest-neighbour distances. A distance above 1 is further from the
data than nine in ten training deployments are from each other. A row that far also says what the nearest
training deployment of its model shape differs in (``support_nearest``: "KV bytes per value 1 (nearest
trained: 2)"), so a user knows what to measure.

Beside them, one more yes/no that is not "off the data": was this deployment measured (this model at these
prompt and output lengths on this engine, batching mode and release, at any batch, accelerator or layout)?
On the data, its P10 is calibrated on rows held out at random rather than on whole deployments
(``deployment_measured``; ``surrogate.model._calibration.row_bands``).

Each metric asks these of its own training rows (the rows that measured it: :func:`assess_by_metric`):
its trees never saw the others. On the shared data a model measured only in static batches was
"seen" by the ITL trees, which learned from serving rows of other models; MLPerf's serving rows,
held out, took the full ITL correction learned from aiconfigurator and were predicted 37.6% off
(median APE) where the prior was 12.0% off.

The distance deliberately leaves batch and lengths out: trust that changed along batch or length could
break the monotone guarantee. The workload range's top is judged per model size (models within a factor 2,
else every model; its bottom over every model: :func:`_ranges_of`): aiconfigurator measured Llama-3.1-70B at
up to 128 requests in flight, and a range pooled over all models (up to 16,384, on DeepSeek-R1) called
MLPerf's Llama-2-70B at 394-950 inside it. Leaving the range widens the band, and fades a correction level
that would make the row faster than the prior above it, or slower than the prior below it
(``surrogate.model._calibration.WorkloadFades``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.distinct import distinct_rows, distinct_values, lookup, names_at, per_distinct
from features.versions import SOURCE_ERA_DATES
from surrogate.model._consistency import reads_own_trees

__all__ = ["Support", "SUPPORT_KINDS", "DISTANCE_FEATURES", "assess_by_metric", "fit_support", "kind_folds",
           "nearest_distance", "sequences_of", "vendors_of", "workload_tails", "workload_ranges", "range_excess",
           "clamp_into", "WORKLOAD_DIMENSIONS", "TAIL_BELOW"]

# Kinds of "off the data", in the order a row's reasons are listed. A new vendor is also a new accelerator
# and a new engine is also new software: the wider kind is rehearsed on its own (a whole vendor or engine
# held out moves the prior and the correction more than one accelerator or one release does).
SUPPORT_KINDS = ["vendor", "hardware", "model", "framework", "software", "workload"]
# The features' own columns, then the prompt tokens one pass of the weights reads (log2; from the row's
# ``prefill_chunk_tokens``: :func:`_points`).
_FEATURE_COLUMNS = ["log_total_params", "log_active_params", "num_layers", "log_hidden_size",
                    "log_kv_bytes_per_token", "num_experts", "experts_per_token", "is_mla", "tp", "pp", "attention_dp",
                    "ep", "weight_bytes_per_value", "kv_bytes_per_value"]
DISTANCE_FEATURES = [*_FEATURE_COLUMNS, "log2_prompt_tokens_per_pass"]
# What a prompt read without chunks counts as: the serving engines' default prefill budget (8,192 tokens).
_UNCHUNKED_TOKENS = 8192.0
# The model's own features (KV bytes per token also move with the KV format): "the same model shape".
_MODEL_SHAPE = [DISTANCE_FEATURES.index(name) for name in ["log_total_params", "log_active_params", "num_layers",
                                                          "log_hidden_size", "num_experts", "experts_per_token",
                                                          "is_mla"]]
# What one measured deployment is (``deployment_measured``): a model at its lengths on one engine and batching mode
# (and release: :func:`_deployment_keys`).
MEASURED_DEPLOYMENT_COLUMNS = ["model", "input_len", "output_len", "framework", "batching"]
# The workload's dimensions, in the order of :func:`range_excess`'s columns and of the rehearsal's tail folds.
WORKLOAD_DIMENSIONS = ["sequences", "input_len", "output_len"]
# The rehearsal's tail folds: d above the range in dimension d, TAIL_BELOW + d below it.
TAIL_BELOW = len(WORKLOAD_DIMENSIONS)
# Models this close in (log total, log active parameters) share their trained workload range: a factor 2.
_SIZE_NEIGHBOURHOOD = float(np.log(2.0))
# Per batching mode, per trained model: the (least, most) sequences, input and output length measured.
WorkloadRanges = dict[str, dict[str, dict[str, tuple[float, float]]]]
# The reference distance: this percentile of training deployments' distances to their nearest neighbour.
_REFERENCE_PERCENTILE = 90.0
# How each distance feature reads to a user (its name, and how to print its raw value), for ``support_nearest``.
def _whole(value: float) -> str:
    return f"{value:.0f}"


def _billions_of_exp(value: float) -> str:
    return f"{np.exp(value) / 1e9:.3g}B"


_COUNTS = {"num_layers": "layers", "num_experts": "experts", "experts_per_token": "experts per token", "tp": "tp",
           "pp": "pp", "attention_dp": "attention-DP ranks", "ep": "ep"}
_FEATURE_WORDS: dict[str, tuple[str, Any]] = {
    **{feature: (name, _whole) for feature, name in _COUNTS.items()},
    "log_total_params": ("parameters", _billions_of_exp),
    "log_active_params": ("active parameters", _billions_of_exp),
    "log_hidden_size": ("hidden size", lambda v: _whole(np.exp(v))),
    "log_kv_bytes_per_token": ("KV cache bytes per token", lambda v: f"{np.expm1(v):,.0f}"),
    "is_mla": ("MLA", lambda v: "yes" if v > 0.5 else "no"),
    "weight_bytes_per_value": ("weight bytes per value", lambda v: f"{v:g}"),
    "kv_bytes_per_value": ("KV bytes per value", lambda v: f"{v:g}"),
    "log2_prompt_tokens_per_pass": ("prompt tokens per pass of the weights", lambda v: _whole(2.0 ** v)),
}
assert set(_FEATURE_WORDS) == set(DISTANCE_FEATURES)


def sequences_of(cfg: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Sequences in flight: concurrency under continuous batching, the batch otherwise."""
    values = np.where(cfg["batching"].eq("continuous"), cfg["concurrency"], cfg["batch_size"])
    return np.asarray(values, dtype=float)


def _software_keys(cfg: pd.DataFrame, feats: pd.DataFrame) -> list[Any]:
    """(accelerator, engine, release as written, software date rounded to a third of a day) per row: what
    "this engine at this software on this accelerator" means (an unknown date is one value of its own, -1).
    An accelerator measured only with 2024 releases is off the data with a 2026 one, however many other parts
    ran it; and another release is other software, whatever its date. By date alone the version split's
    vLLM 0.19.0 rows on B200 were seen (the nightly ``nightly-5b8c30d62b754b57`` is dated at its first
    measurement, 0.19.0's release day) and took the whole of a correction learned on older releases."""
    return [cfg["hardware"].astype(str), cfg["framework"].astype(str), _release_written(cfg), _software_dates(feats)]


def _release_written(cfg: pd.DataFrame) -> pd.Series:
    """Each row's engine release as written; "" where the row states none, or only its source's era
    (:data:`SOURCE_ERA_DATES`: a date, not a release)."""
    written = (cfg["framework_version"] if "framework_version" in cfg
               else pd.Series(pd.NA, index=cfg.index)).astype("string")
    return written.where(~written.isin(list(SOURCE_ERA_DATES.values())), pd.NA).fillna("").astype(str)


def _software_dates(feats: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Each row's software date in years, rounded to a third of a day; an unknown date is -1."""
    return np.asarray(np.round(np.nan_to_num(feats["software_year"].to_numpy(dtype=float), nan=-1.0), 3))


def _deployment_keys(cfg: pd.DataFrame, feats: pd.DataFrame) -> list[Any]:
    """:data:`MEASURED_DEPLOYMENT_COLUMNS` per row, with its engine release (as written; "" where the row
    states none, or only its source's era) and software date: the same deployment on a newer release is not
    measured. By date alone the version split's vLLM 0.19.0 rows were (the date of an older release in the
    data), and their band covered 67.7% of its TTFTs where the deployment group's covered 73.6%."""
    lengths = {"input_len", "output_len"}
    columns = [cfg[c].astype(float) if c in lengths else cfg[c].astype(str) for c in MEASURED_DEPLOYMENT_COLUMNS]
    return [*columns, _release_written(cfg), _software_dates(feats)]


def vendors_of(cfg: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Each row's hardware vendor as the catalog spells it (``unknown`` for hardware it does not list)."""
    from features import catalog

    labels: npt.NDArray[np.object_] = lookup(cfg["hardware"].astype(str), catalog.hardware_table()["vendor"],
                                             "unknown")
    return labels


def _context_windows(models: pd.Series) -> npt.NDArray[np.float64]:
    """Each row's model context window in tokens (``max_position_embeddings``)."""
    from features import catalog

    values: npt.NDArray[np.float64] = per_distinct(lambda m: float(catalog.get_model(m).max_position_embeddings),
                                                   models.astype(str), dtype=float)
    return values


def _hardware_keys(cfg: pd.DataFrame) -> list[pd.Series]:
    """(accelerator, batching mode) per row: static batches on a part say little about serving on it."""
    return [cfg["hardware"].astype(str), cfg["batching"].astype(str)]


def _model_sizes(models: list[str]) -> npt.NDArray[np.float64]:
    """Log total and log active parameters of each model (how "the trained model nearest in size" is found)."""
    from features import catalog
    specs = [catalog.get_model(m) for m in models]
    return np.array([[np.log(a.total_params), np.log(a.active_params)] for a in specs], dtype=float).reshape(-1, 2)


def _workload_values(cfg: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
    return {"sequences": sequences_of(cfg), "input_len": cfg["input_len"].to_numpy(dtype=float),
            "output_len": cfg["output_len"].to_numpy(dtype=float)}


def _points(cfg: pd.DataFrame, feats: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Each row's deployment point, unstandardised (:data:`DISTANCE_FEATURES`).

    The last coordinate is how many prompt tokens one pass of the weights reads: a chunked prefill (llama.cpp's
    prompt batch, 1 to 64 tokens in the shared data) streams the weights once per chunk, a regime the other
    engines never run, and the learned correction does not carry to it. Without it, llama.cpp held out lay
    as near the rest as any engine, took 0.91 of a correction that made it faster where it measured slower,
    and its static latency was 49.7% off (median APE) where the prior was 37.4%; with it, 40.7%
    (``surrogate evaluate --split framework``)."""
    # fmin: an unchunked prompt (NaN, the column every normalised row has) counts as the budget.
    passes = np.log2(np.fmin(cfg["prefill_chunk_tokens"].to_numpy(dtype=float), _UNCHUNKED_TOKENS))
    points: npt.NDArray[np.float64] = np.column_stack([feats[_FEATURE_COLUMNS].to_numpy(dtype=float), passes])
    return points


def _off_support_label(*flags: bool) -> str:
    """The kinds a row is off (its ``SUPPORT_KINDS`` flags, then whether it is far), comma-separated."""
    *seen, far = flags
    off = [kind for kind, ok in zip(SUPPORT_KINDS, seen, strict=True) if not ok]
    return ", ".join(off + (["distance"] if far else []))


_FLAG_COLUMNS = [f"{kind}_seen_in_training" if kind != "workload" else "workload_in_training_range"
                 for kind in SUPPORT_KINDS]


def _with_labels(flags: pd.DataFrame) -> pd.DataFrame:
    """``flags`` (:meth:`Support.flags_of` frames combined) with ``off_support``: the kinds each row is off, and
    ``distance`` beyond the reference distance; one label per distinct combination (a table has few)."""
    values = flags[_FLAG_COLUMNS].to_numpy(dtype=bool)
    far = flags["support_distance"].to_numpy() > 1.0
    flags["off_support"] = per_distinct(_off_support_label, *values.T, far, dtype="str") if len(flags) else []
    return flags


def assess_by_metric(supports: dict[str, Support], cfg: pd.DataFrame, feats: pd.DataFrame, above: np.ndarray,
                     below: np.ndarray) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Each metric's flags against the rows its own trees learned from, and the row's in one frame.

    A metric's trees saw only the rows that measured it: a model measured only in static batches is
    new to the ITL trees, whatever the latency trees saw. The row's frame says seen only where every
    metric its batching mode predicts from saw it (continuous latency and static ITL are derived from
    the other two, ``surrogate.model._consistency.DERIVED_METRIC``), at the farthest of their distances.
    """
    keys = RowKeys.of(cfg, feats, above, below)  # what the questions look at, gathered once for every metric
    by_metric = {metric: support.flags_of(keys, cfg.index) for metric, support in supports.items()}
    batching = cfg["batching"].astype(str).to_numpy()
    counts = {metric: reads_own_trees(batching, metric) for metric in by_metric}
    # A row no metric decides (a bundle with only its derived metric's trees) counts them all.
    undecided = ~np.any(np.array([np.zeros(len(cfg), dtype=bool), *counts.values()]), axis=0)
    combined = pd.DataFrame(index=cfg.index)
    for column in _FLAG_COLUMNS:
        seen = np.ones(len(cfg), dtype=bool)
        for metric, frame in by_metric.items():
            seen &= frame[column].to_numpy(dtype=bool) | ~(counts[metric] | undecided)
        combined[column] = seen
    # The farthest metric's distance, and what it differs in (picked by Arrow: no Python string per row).
    distance, farthest = np.zeros(len(cfg)), np.zeros(len(cfg), dtype=np.int64)
    reasons = [pa.array([""] * len(cfg), type=pa.large_string())]
    for k, (metric, frame) in enumerate(by_metric.items(), start=1):
        farther = (counts[metric] | undecided) & (frame["support_distance"].to_numpy(dtype=float) > distance)
        distance = np.where(farther, frame["support_distance"].to_numpy(dtype=float), distance)
        farthest[farther] = k
        reasons.append(pa.array(frame["support_nearest"].array, type=pa.large_string()))
    measured = np.ones(len(cfg), dtype=bool)
    for metric, frame in by_metric.items():
        measured &= frame["deployment_measured"].to_numpy(dtype=bool) | ~(counts[metric] | undecided)
    combined["deployment_measured"] = measured
    combined["support_distance"] = distance
    combined["support_nearest"] = pd.array(pc.choose(pa.array(farthest), *reasons), dtype="str")
    return _with_labels(combined), by_metric


# Query points compared with all training points at once, per chunk: 1,024 x (a few hundred) x 15 floats.
_DISTANCE_CHUNK = 1024


def nearest_distance(points: npt.NDArray[np.float64], query: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Euclidean distance from each query point to the nearest of ``points``, by brute force: the training
    set has a few hundred deployment points and a prediction asks about its distinct deployments only, so
    this takes milliseconds, and a prediction does not import scipy's KD-tree (0.3 s of a CLI call)."""
    out = np.empty(len(query))
    for start in range(0, len(query), _DISTANCE_CHUNK):
        chunk = query[start:start + _DISTANCE_CHUNK]
        out[start:start + len(chunk)] = np.sqrt(((chunk[:, None, :] - points[None, :, :]) ** 2).sum(axis=2).min(axis=1))
    return out


@dataclass
class RowKeys:
    """What the support questions look at, per distinct value: a table of many rows names few parts,
    models, engines and deployment points, and every metric's :class:`Support` asks about the same ones."""

    vendors: list[Any]
    vendor_codes: npt.NDArray[np.intp]
    hardware: list[tuple[str, str]]
    hardware_codes: npt.NDArray[np.intp]
    models: list[Any]
    model_codes: npt.NDArray[np.intp]
    frameworks: list[Any]
    framework_codes: npt.NDArray[np.intp]
    software: list[tuple[str, str, str, float]]
    software_codes: npt.NDArray[np.intp]
    points: npt.NDArray[np.float64]  # the distinct deployment points, unstandardised
    point_codes: npt.NDArray[np.intp]
    in_range: npt.NDArray[np.bool_]
    deployments: list[tuple[str, float, float, str, str, str, float]]
    deployment_codes: npt.NDArray[np.intp]

    @classmethod
    def of(cls, cfg: pd.DataFrame, feats: pd.DataFrame, above: np.ndarray, below: np.ndarray) -> RowKeys:
        vendor_codes, (vendors,) = distinct_values(vendors_of(cfg))
        hardware_codes, hardware = distinct_values(*_hardware_keys(cfg))
        model_codes, (models,) = distinct_values(cfg["model"])
        framework_codes, (frameworks,) = distinct_values(cfg["framework"].astype(str))
        software_codes, software = distinct_values(*_software_keys(cfg, feats))
        deployment_codes, deployment = distinct_values(*_deployment_keys(cfg, feats))
        raw = _points(cfg, feats)
        point_codes, first = distinct_rows(*raw.T) if len(raw) else (np.zeros(0, dtype=np.intp),
                                                                     np.zeros(0, dtype=np.intp))
        return cls(vendors, vendor_codes, list(zip(*hardware, strict=True)), hardware_codes, models, model_codes,
                   frameworks, framework_codes, [(h, f, r, float(y)) for h, f, r, y in zip(*software, strict=True)],
                   software_codes, raw[first], point_codes, (above == 0) & (below == 0),
                   [(m, float(i), float(o), f, b, r, float(y))
                    for m, i, o, f, b, r, y in zip(*deployment, strict=True)],
                   deployment_codes)


@dataclass
class Support:
    """What the training rows covered; :meth:`flags_of` answers for new rows."""

    vendors: set[str]
    hardware: set[tuple[str, str]]
    models: set[str]
    frameworks: set[str]
    software: set[tuple[str, str, str, float]]
    deployments: set[tuple[str, float, float, str, str, str, float]]
    workload_range: WorkloadRanges
    center: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    points: npt.NDArray[np.float64] = field(repr=False)
    reference_distance: float = 1.0

    def flags_of(self, keys: RowKeys, index: pd.Index) -> pd.DataFrame:
        """Per row: ``<kind>_seen_in_training`` flags and ``support_distance``, from the rows'
        :class:`RowKeys`: each question answered once per distinct value, the distance once per distinct
        deployment point."""
        def member(values: list[Any], codes: npt.NDArray[np.intp], known: set[Any]) -> npt.NDArray[np.bool_]:
            answers = np.array([value in known for value in values], dtype=bool)
            return answers[codes] if len(answers) else np.zeros(len(codes), dtype=bool)

        out: dict[str, np.ndarray] = {
            "vendor_seen_in_training": member(keys.vendors, keys.vendor_codes, self.vendors),
            "hardware_seen_in_training": member(keys.hardware, keys.hardware_codes, self.hardware),
            "model_seen_in_training": member(keys.models, keys.model_codes, self.models),
            "framework_seen_in_training": member(keys.frameworks, keys.framework_codes, self.frameworks),
            "software_seen_in_training": member(keys.software, keys.software_codes, self.software),
            "workload_in_training_range": keys.in_range,
            "deployment_measured": member(keys.deployments, keys.deployment_codes, self.deployments)}
        points = np.nan_to_num((keys.points - self.center) / self.scale, nan=0.0)
        distance = np.zeros(0)
        if len(points):
            distance = nearest_distance(self.points, points)
        scaled = np.asarray(distance, dtype=float) / self.reference_distance
        out["support_distance"] = scaled[keys.point_codes]
        reasons = [self._differs(keys.points[i], points[i]) if scaled[i] > 1.0 else "" for i in range(len(points))]
        out["support_nearest"] = names_at(reasons, keys.point_codes)
        return pd.DataFrame(out, index=index)

    def _differs(self, raw: npt.NDArray[np.float64], point: npt.NDArray[np.float64]) -> str:
        """What a far deployment point differs in, in words, from the nearest training deployment of the same
        model shape (else of the trained shape nearest in shape alone, named first): the features that make up
        most of the gap (at least half the largest, at most three), e.g. "weight bytes per value 1 (nearest
        trained: 2)". Compared with the nearest point of any shape, an fp8 Llama-3.1-8B read as "671B parameters,
        MLA" (DeepSeek-V3 in fp8), and a dense Qwen3.5-27B on one H100 as "parameters 24.4B (nearest trained:
        671B)" where dense models of 8-70B were trained."""
        shapes = self.points[:, _MODEL_SHAPE]
        same = np.all(np.isclose(shapes, point[_MODEL_SHAPE]), axis=1)
        new_shape = not same.any()
        if new_shape:
            closest = shapes[np.argmin(np.linalg.norm(shapes - point[_MODEL_SHAPE], axis=1))]
            same = np.all(np.isclose(shapes, closest), axis=1)
        pool = self.points[same]
        nearest = pool[np.argmin(np.linalg.norm(pool - point, axis=1))]
        trained = nearest * self.scale + self.center
        gaps = np.abs(point - nearest)
        order = [j for j in np.argsort(-gaps, kind="stable") if gaps[j] > 0 and gaps[j] >= gaps.max() / 2][:3]
        words = []
        for j in order:
            name, say = _FEATURE_WORDS[DISTANCE_FEATURES[j]]
            words.append(f"{name} {say(raw[j])} (nearest trained: {say(trained[j])})")
        if not new_shape:
            return "; ".join(words)
        sizes = [DISTANCE_FEATURES.index(name) for name in ("log_total_params", "log_active_params")]
        named = "" if any(j in sizes for j in order) else (  # which shape, where no word above says it
            f" (nearest trained shape: {_billions_of_exp(trained[sizes[0]])} parameters"
            + ("" if np.isclose(trained[sizes[0]], trained[sizes[1]]) else
               f", {_billions_of_exp(trained[sizes[1]])} active") + ")")
        return f"a model shape never trained on{named}: " + "; ".join(words)

    def range_excess(self, cfg: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per row, how far above (per dimension) and below its model's trained workload range it lies
        (:func:`range_excess`)."""
        return range_excess(cfg, self.workload_range)

    def clamp(self, cfg: pd.DataFrame) -> pd.DataFrame:
        """The rows clamped into their model's trained workload range (:func:`clamp_into`)."""
        return clamp_into(cfg, self.workload_range)

    def range_words(self, cfg: pd.DataFrame, beyond: npt.NDArray[np.bool_]) -> Any:
        """Per row, the trained range it lies beyond in words (:func:`range_words`), asked only of the
        ``beyond`` rows ("" for the rest), as a string column."""
        codes, words = np.zeros(len(cfg), dtype=np.intp), [""]
        if beyond.any():
            inner, said = range_words(cfg[beyond], self.workload_range)
            codes[beyond], words = inner + 1, words + said
        return names_at(words, codes)

    def to_dict(self) -> dict[str, Any]:
        return {"vendors": sorted(self.vendors), "hardware": sorted(f"{h} ({mode})" for h, mode in self.hardware),
                "models": sorted(self.models), "frameworks": sorted(self.frameworks),
                "workload_range": self.workload_range, "reference_distance": self.reference_distance}


def _ranges_of(cfg: pd.DataFrame, workload_range: WorkloadRanges) -> tuple[
        dict[str, npt.NDArray[np.float64]], dict[str, npt.NDArray[np.float64]], npt.NDArray[np.bool_]]:
    """Per row, the least and most sequences, input and output length trained under its batching mode, and
    whether that mode was trained at all (rows of an untrained mode get an empty range, +inf to -inf).

    The most is that of the models of its size (within a factor 2 in total and active parameters,
    ``_SIZE_NEIGHBOURHOOD``), where any was trained, else of every model: aiconfigurator measured
    Llama-3.1-70B at up to 128 requests in flight, and the most over every model (16,384, on DeepSeek-R1)
    called MLPerf's Llama-2-70B at 394-950 inside it. The least is every model's: a model of another size
    says little about where the range starts (a held-out Llama-3.1-8B read at Mixtral's least, 575 in
    flight, was predicted 8x too slow; a held-out Llama-3.1-70B read at Llama-2-70B's 111 lost three
    points of ITL accuracy), and reading the correction higher up the workload only makes a row slower."""
    names = WORKLOAD_DIMENSIONS
    low = {name: np.full(len(cfg), np.inf) for name in names}
    high = {name: np.full(len(cfg), -np.inf) for name in names}
    codes, (modes, models) = distinct_values(cfg["batching"].astype(str), cfg["model"].astype(str))
    trained = np.zeros(len(cfg), dtype=bool)
    # Per trained mode, once: its models' sizes and every model's least.
    sizes = {mode: (sorted(by_model), _model_sizes(sorted(by_model))) for mode, by_model in workload_range.items()}
    least = {mode: {name: min(r[name][0] for r in by_model.values()) for name in names}
             for mode, by_model in workload_range.items()}
    for k, (mode, model) in enumerate(zip(modes, models, strict=True)):
        by_model = workload_range.get(mode)
        if not by_model:
            continue
        known, known_sizes = sizes[mode]
        gaps = np.linalg.norm(known_sizes - _model_sizes([model]), axis=1)
        near = [known[i] for i in np.flatnonzero(gaps <= _SIZE_NEIGHBOURHOOD)] or known
        rows = codes == k
        trained |= rows
        for name in names:
            low[name][rows] = least[mode][name]
            high[name][rows] = max(by_model[m][name][1] for m in near)
    return low, high, trained


def range_excess(cfg: pd.DataFrame,
                 workload_range: WorkloadRanges) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per row, how far above and how far below its model's trained workload range it lies in each of
    sequences, input and output length (columns in :data:`WORKLOAD_DIMENSIONS` order: log(value / trained
    maximum) above, log(trained minimum / value) below, 0 inside; a batching mode never trained on counts
    as log 2 above in sequences)."""
    values = _workload_values(cfg)
    low, high, trained = _ranges_of(cfg, workload_range)
    above = np.zeros((len(cfg), len(WORKLOAD_DIMENSIONS)))
    above[~trained, 0] = np.log(2.0)
    below = np.zeros((len(cfg), len(WORKLOAD_DIMENSIONS)))
    with np.errstate(divide="ignore"):
        for d, name in enumerate(WORKLOAD_DIMENSIONS):
            above[trained, d] = np.maximum(np.log(values[name] / high[name]), 0.0)[trained]
            below[trained, d] = np.maximum(np.log(low[name] / values[name]), 0.0)[trained]
    return above, below


def range_words(cfg: pd.DataFrame, workload_range: WorkloadRanges) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Per row a code into the returned words: the trained range the row lies beyond ("" inside), e.g.
    "trained at 4-128 in flight on models of its size", naming only the dimensions the row leaves."""
    low, high, trained = _ranges_of(cfg, workload_range)
    values = _workload_values(cfg)
    outside = [trained & ((values[name] > high[name]) | (values[name] < low[name])) for name in WORKLOAD_DIMENSIONS]
    # The range is the (batching mode, model)'s: one sentence per distinct mode, model and dimensions left.
    codes, first = distinct_rows(cfg["batching"].astype(str), cfg["model"].astype(str), *outside)
    words = []
    for row in first.tolist():
        mode = str(cfg["batching"].iloc[row])
        if not trained[row]:
            words.append(f"no {mode} batching trained")
            continue
        parts = []
        for d, name in enumerate(WORKLOAD_DIMENSIONS):
            if not outside[d][row]:
                continue
            span = f"{low[name][row]:,.0f}-{high[name][row]:,.0f}"
            parts.append({"sequences": f"{span} in flight" if mode == "continuous" else f"batch {span}",
                          "input_len": f"prompts {span} tokens", "output_len": f"outputs {span} tokens"}[name])
        words.append(f"trained at {', '.join(parts)} on models of its size" if parts else "")
    return codes, words


def clamp_into(cfg: pd.DataFrame, workload_range: WorkloadRanges) -> pd.DataFrame:
    """The rows with sequences, input and output length clamped into their model's trained range under
    their batching mode: where the learned correction is read for a row beyond it (physics carries the
    rest)."""
    out = cfg.copy()
    low, high, trained = _ranges_of(cfg, workload_range)
    continuous = cfg["batching"].eq("continuous").to_numpy()
    concurrency = cfg["concurrency"].to_numpy(dtype=float)
    sequences = sequences_of(cfg)
    clamped = np.where(trained, np.clip(sequences, low["sequences"], high["sequences"]), sequences)
    # A served row's batch is its requests in flight; a static row has no concurrency to clamp.
    out["concurrency"] = np.where(continuous, clamped, concurrency).astype(cfg["concurrency"].dtype)
    out["batch_size"] = np.where(trained, clamped, cfg["batch_size"]).astype(cfg["batch_size"].dtype)
    for name in ["input_len", "output_len"]:
        values = cfg[name].to_numpy(dtype=float)
        out[name] = np.where(trained, np.clip(values, low[name], high[name]), values).astype(cfg[name].dtype)
    # Raising a length to the trained minimum must not leave the model's context window (the row
    # would stop being a configuration): the prompt gives way, never below the row's own.
    window = _context_windows(cfg["model"])
    room = np.maximum(window - out["output_len"].to_numpy(dtype=float), cfg["input_len"].to_numpy(dtype=float))
    out["input_len"] = np.minimum(out["input_len"].to_numpy(dtype=float), room).astype(cfg["input_len"].dtype)
    out["output_len"] = np.minimum(out["output_len"].to_numpy(dtype=float),
                                   np.maximum(window - out["input_len"].to_numpy(dtype=float),
                                              cfg["output_len"].to_numpy(dtype=float))
                                   ).astype(cfg["output_len"].dtype)
    return out


def workload_ranges(cfg: pd.DataFrame) -> WorkloadRanges:
    """Per batching mode, per model: the least and most sequences, input and output length of the rows."""
    values = _workload_values(cfg)
    ranges: WorkloadRanges = {}
    codes, (modes, models) = distinct_values(cfg["batching"].astype(str), cfg["model"].astype(str))
    for k, (mode, model) in enumerate(zip(modes, models, strict=True)):
        rows = codes == k
        ranges.setdefault(mode, {})[model] = {name: (float(np.min(v[rows])), float(np.max(v[rows])))
                                              for name, v in values.items()}
    return ranges


def fit_support(cfg: pd.DataFrame, feats: pd.DataFrame) -> Support:
    """The training rows' support: identities, software dates, workload ranges and deployment points."""
    raw = _points(cfg, feats)
    center = np.nanmean(raw, axis=0)
    scale = np.nanstd(raw, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    center = np.where(np.isfinite(center), center, 0.0)
    points = np.unique(np.nan_to_num((raw - center) / scale, nan=0.0), axis=0)
    # The spacing of the deployments themselves (model shape, layout, formats): one deployment's sweep of prompt
    # chunks is one deployment, as its sweep of batches is. Counted as deployments, llama.cpp's four chunks
    # (1-64 tokens) halved the latency trees' reference (2.04 -> 0.88), so every static row off the data lay
    # twice as far: leave one model out, latency 7.9 -> 8.3% median APE (ad hoc ``surrogate evaluate --split
    # model`` with the reference over every point; 7.9% with this one).
    deployments = np.unique(points[:, :len(_FEATURE_COLUMNS)], axis=0)
    reference = 1.0
    if len(deployments) > 1:
        from scipy.spatial import cKDTree  # training only: a prediction's CLI call skips its 0.3 s import

        nearest, _ = cKDTree(deployments).query(deployments, k=2)
        reference = float(np.percentile(nearest[:, 1], _REFERENCE_PERCENTILE)) or 1.0
    ranges = workload_ranges(cfg)
    # The keys a prediction asks about, gathered by the same code (so "seen" means the same thing).
    keys = RowKeys.of(cfg, feats, np.zeros(len(cfg)), np.zeros(len(cfg)))
    return Support(vendors=set(keys.vendors), hardware=set(keys.hardware), models=set(keys.models),
                   frameworks=set(keys.frameworks), software=set(keys.software),
                   deployments=set(keys.deployments), workload_range=ranges,
                   center=center, scale=scale, points=points, reference_distance=reference)


def workload_tails(cfg: pd.DataFrame, quantile: float = 0.8) -> npt.NDArray[np.bool_]:
    """The workload rehearsal's tails, rows x ``2 * len(WORKLOAD_DIMENSIONS)``: column d the rows above the
    ``quantile`` of dimension d (sequences, input length, output length) in their batching mode, column
    ``TAIL_BELOW + d`` those below its ``1 - quantile`` (where the fifth is one value: that value).

    Tails overlap: each is held out on its own, with every other row trained on, so its rehearsal lies
    beyond what it kept in its own dimension as a prediction beyond the range does. Assigned to one fold
    each (a row held out in the first tail it was in), the kept rows held other tails' rows at the same
    lengths: in the default fit 0 of 429 long-prompt TTFT rows (0 of 403 long-output) lay beyond the
    prompts their rehearsal kept, and the input and output fades were never rehearsed (full trust beyond
    the trained lengths). A tail holding most of its mode's rows is not held out: it would rehearse a model
    trained on the few left (89% of the input-length split's served rows have 1,024-token prompts; held out,
    they faded TTFT's level to nothing 2% past the range, 31.7 -> 37.9% median APE, ad hoc ``surrogate
    evaluate --split input_length``)."""
    values = list(_workload_values(cfg).values())
    tails = np.zeros((len(cfg), TAIL_BELOW + len(values)), dtype=bool)
    for mode in sorted(set(cfg["batching"])):
        rows = cfg["batching"].eq(mode).to_numpy()
        for k, value in enumerate(values):
            for side, level in ((0, quantile), (TAIL_BELOW, 1.0 - quantile)):
                threshold = np.quantile(value[rows], level)
                tail = rows & (value > threshold if side == 0 else value < threshold)
                if not tail.any():
                    tail = rows & (value >= threshold if side == 0 else value <= threshold)
                if 2 * tail.sum() > rows.sum():
                    continue
                tails[:, side + k] |= tail
    return tails


def kind_folds(cfg: pd.DataFrame, feats: pd.DataFrame, recorded_version: np.ndarray,
               model_groups: np.ndarray) -> dict[str, np.ndarray]:
    """How each kind of "off the data" is rehearsed on training rows: the groups held out in turn.

    vendor: each hardware vendor; hardware: each accelerator; model: groups of models; framework: each
    engine; software: each engine's newest recorded release, a fold per engine (the rest -1: always trained
    on). The workload tails are :func:`workload_tails`.

    A fold per engine lets the software trust pool each engine's slope as one more group
    (:func:`surrogate.model._calibration.pooled_slope`), as it does for engines: held out together, one slope
    over all newest releases let a correction that carried to one engine's release answer for another's.
    Trained without each engine's newest release, the TTFT of those releases came out 44.3 / 30.1% MAPE /
    median APE with the newest releases in one fold and 41.1 / 29.1% with a fold per engine (achievable
    physics 40.7 / 28.4%), ITL 34.4 / 17.5% -> 34.2 / 16.9% (``surrogate evaluate --split version``).
    """
    years = feats["software_year"].to_numpy(dtype=float)
    newest = np.full(len(cfg), -1, dtype=np.int64)
    frameworks = cfg["framework"].astype(str).to_numpy()
    for code, framework in enumerate(sorted(set(frameworks))):
        rows = (frameworks == framework) & recorded_version & np.isfinite(years)
        if rows.any():
            newest[rows & (years == np.max(years[rows]))] = code
    return {"vendor": vendors_of(cfg), "hardware": cfg["hardware"].astype(str).to_numpy(), "model": model_groups,
            "framework": frameworks, "software": newest}

