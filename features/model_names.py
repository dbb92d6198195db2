"""Model names as people write them, resolved to a catalog architecture plus the precision the name states.

:func:`features.catalog.resolve_model_name` applies these rules to the catalog; the first hit wins and
:attr:`ResolvedModel.how` says which one, in words a user can check:

1. a path to a ``config.json`` (or a directory holding one): the file decides everything;
2. a catalog id of ``models.csv``, any case: its bundled config decides the precision;
3. an alias row of ``model_aliases.csv`` (org renames, re-uploads, point releases such as
   Llama-3.3-70B on the Llama-3.1-70B architecture), each with its evidence;
4. the name rules below. Each strips one suffix off the end of the repository name and tries 2 and 3
   again, then the repository name alone under any org (only when exactly one catalog model has it,
   e.g. ``RedHatAI/Llama-3.1-8B-Instruct`` is ``meta-llama/Llama-3.1-8B-Instruct`` re-uploaded).

   a. At most one **publisher-quantisation suffix** (first table). The precision it names is returned
      with the base model; a caller fills it in where the user gave none (an explicit ``weight_dtype``
      or ``kv_dtype`` wins). A name says nothing about the KV cache unless it ends in ``-FP8-KV``:
      ModelOpt checkpoints often ship an FP8 KV cache too, which only their ``hf_quant_config.json``
      records, so pass the config to get it.
   b. Then up to three **fine-tune and revision suffixes** (second table). They resolve only to a
      model in the catalog, and ``how`` says the architecture was assumed to be the same: a fine-tune
      or a dated revision keeps its base's ``config.json`` architecture (it may change the context
      length, as Qwen3 ``-2507`` releases do). A version or point release (``-v0.3``, ``3.3``) is never
      guessed from a name; it needs an alias row with evidence.
   c. The other way round: a name whose catalog model exists only as its fine-tune
      (``meta-llama/Llama-4-Scout-17B-16E`` for ``...-16E-Instruct``) resolves onto it, the same
      architecture assumed.

Spaces are read as dashes (``Llama 3.1 8B``), as tables write names; no repository id has spaces. A revision
(``...@main``) and a folder's trailing slash are dropped. A name
nothing else resolves is tried once more with a dash between a family and its version number
(MLPerf's ``llama2-70b`` as ``llama-2-70b``, ``llama3.1-8b`` as ``llama-3.1-8b``), and without an MLPerf
accuracy target (``llama2-70b-99.9``).

Publisher-quantisation (precision) suffixes (case-insensitive; ``-`` or ``_`` between words):

=====================  ========  ========  ==================================================
suffix                 weights   KV cache  written by, e.g.
=====================  ========  ========  ==================================================
-FP8-KV                fp8       fp8       amd/Llama-3.1-8B-Instruct-FP8-KV (AMD Quark)
-FP8-dynamic           fp8                 RedHatAI/Llama-3.1-8B-Instruct-FP8-dynamic
-FP8-static            fp8                 llm-compressor static-scale FP8
-FP8-block             fp8                 block-scaled FP8 (DeepSeek-style 128x128)
-GPTQ-Int4             int4                Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4
-GPTQ-Int8             int8                Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8
-AWQ-INT4              int4                hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4
-quantized.w4a16       int4                RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16
-quantized.w8a8        int8                RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w8a8
-bnb-4bit              int4                unsloth/Llama-3.1-8B-Instruct-bnb-4bit
-NVFP4                 fp4                 nvidia/Qwen3-32B-NVFP4 (NVIDIA ModelOpt)
-MXFP4                 fp4                 MXFP4 checkpoints
-FP4                   fp4                 nvidia/DeepSeek-R1-FP4
-FP8                   fp8                 Qwen/Qwen3-32B-FP8, nvidia/Llama-3.1-8B-Instruct-FP8
-W4A16                 int4                llm-compressor weight-only int4
-W8A8                  int8                llm-compressor int8 weights and activations
-AWQ                   int4                Qwen/Qwen3-32B-AWQ
-GPTQ                  int4                GPTQ's usual 4 bits
-Int4                  int4                weight-only int4
-Int8                  int8                weight-only int8
-BF16                  bf16                nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 (the unquantised release)
-FP16                  fp16                16-bit re-uploads
=====================  ========  ========  ==================================================

Fine-tune and revision suffixes: ``-Instruct``, ``-it``, ``-Chat``, ``-Thinking``, ``-Base`` and a
four-digit date (``-0528``, ``-2507``); ``Qwen3-235B-A22B-Thinking-2507`` strips two of them.

Everything here is pure string work on names; the catalog supplies the names it knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

__all__ = ["QUANT_SUFFIXES", "FINETUNE_WORDS", "QuantSuffix", "ResolvedModel", "CatalogNames",
           "resolve_name", "strip_quant_suffix"]


@dataclass(frozen=True)
class QuantSuffix:
    """One publisher-quantisation suffix: its spelling, the weight and KV formats it names."""

    suffix: str = field(metadata={"help": "as written, words separated by '-'"})
    weight_dtype: str
    kv_dtype: str | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        words = [re.escape(word) for word in self.suffix.strip("-").split("-")]
        return re.compile("[-_]" + "[-_]".join(words) + "$", re.IGNORECASE)


# Longest first: '-FP8-KV' must win over '-FP8'. The module docstring's table lists every row.
QUANT_SUFFIXES: tuple[QuantSuffix, ...] = (
    QuantSuffix("-FP8-KV", "fp8", "fp8"),
    QuantSuffix("-FP8-dynamic", "fp8"),
    QuantSuffix("-FP8-static", "fp8"),
    QuantSuffix("-FP8-block", "fp8"),
    QuantSuffix("-GPTQ-Int4", "int4"),
    QuantSuffix("-GPTQ-Int8", "int8"),
    QuantSuffix("-AWQ-INT4", "int4"),
    QuantSuffix("-quantized.w4a16", "int4"),
    QuantSuffix("-quantized.w8a8", "int8"),
    QuantSuffix("-bnb-4bit", "int4"),
    QuantSuffix("-NVFP4", "fp4"),
    QuantSuffix("-MXFP4", "fp4"),
    QuantSuffix("-FP4", "fp4"),
    QuantSuffix("-FP8", "fp8"),
    QuantSuffix("-W4A16", "int4"),
    QuantSuffix("-W8A8", "int8"),
    QuantSuffix("-AWQ", "int4"),
    QuantSuffix("-GPTQ", "int4"),
    QuantSuffix("-Int4", "int4"),
    QuantSuffix("-Int8", "int8"),
    QuantSuffix("-BF16", "bf16"),
    QuantSuffix("-FP16", "fp16"),
)
FINETUNE_WORDS = ("instruct", "it", "chat", "thinking", "base")
_FINETUNE = re.compile(r"[-_](" + "|".join(FINETUNE_WORDS) + r"|\d{4})$", re.IGNORECASE)
_MAX_FINETUNE_SUFFIXES = 3


@dataclass(frozen=True)
class ResolvedModel:
    """A model name resolved to a catalog id (or a config path) and the precision the name states."""

    name: str = field(metadata={"help": "the name as written"})
    model_id: str = field(metadata={"help": "catalog id, or the path of a config.json"})
    weight_dtype: str | None = field(default=None, metadata={
        "help": "weight format the name states; None: the checkpoint's config decides"})
    kv_dtype: str | None = field(default=None, metadata={
        "help": "KV-cache format the name states; None: the name says nothing"})
    how: str = field(default="", metadata={"help": "one line saying what was resolved and why"})
    assumed: bool = field(default=False, metadata={
        "help": "True when a name rule, not a catalog row, decided (the how line says what was assumed)"})


class CatalogNames:
    """The names a catalog knows (ids and aliases, as written), each with its model id and why: empty for
    an id, the alias row's evidence for an alias."""

    def __init__(self, names: Mapping[str, tuple[str, str]]) -> None:
        self._exact = {known.lower(): (known, *target) for known, target in names.items()}
        self._by_repository: dict[str, list[tuple[str, str, str]]] = {}
        self._by_base: dict[str, list[tuple[str, str, str]]] = {}
        for known, (model_id, why) in names.items():
            if "/" in known:  # an HF repository id; short names ('llama-3-8b') are not repositories
                self._by_repository.setdefault(known.rpartition("/")[2].lower(), []).append((known, model_id, why))
            base = _without_finetune(known)
            if base != known and not why:  # a catalog id that is itself a fine-tune: its base name finds it
                self._by_base.setdefault(base.lower(), []).append((known, model_id, why))

    def exact(self, name: str) -> tuple[str, str, str] | None:
        """(name as the catalog writes it, model id, why) for a known name in any case; None otherwise."""
        return self._exact.get(name.lower())

    def by_base(self, name: str) -> tuple[str, str, str] | None:
        """(name, model id, why) of the one catalog model that is ``name``'s fine-tune (the catalog holds
        ``meta-llama/Llama-4-Scout-17B-16E-Instruct``, the name is its base); None when none or several are."""
        hits = self._by_base.get(name.lower(), [])
        return hits[0] if len({model_id for _, model_id, _ in hits}) == 1 else None

    def by_repository(self, repository: str) -> tuple[str, str, str] | None:
        """(name, model id, why) of the one catalog model whose repository name (after the org) is
        ``repository``; None when no model or several have it."""
        hits = self._by_repository.get(repository.lower(), [])
        return hits[0] if len({model_id for _, model_id, _ in hits}) == 1 else None


def strip_quant_suffix(name: str) -> tuple[str, QuantSuffix | None]:
    """``('nvidia/Qwen3-32B', <-NVFP4 rule>)`` for ``'nvidia/Qwen3-32B-NVFP4'``; ``(name, None)`` without one."""
    for rule in QUANT_SUFFIXES:
        match = rule.pattern.search(name)
        if match and match.start() > name.rfind("/") + 1:  # something must be left of the repository name
            return name[:match.start()], rule
    return name, None


def _without_finetune(name: str) -> str:
    """``name`` less its fine-tune and revision suffixes (at most :data:`_MAX_FINETUNE_SUFFIXES`)."""
    for _ in range(_MAX_FINETUNE_SUFFIXES):
        match = _FINETUNE.search(name)
        if not match or match.start() <= name.rfind("/") + 1:
            break
        name = name[:match.start()]
    return name


def _stages(name: str) -> list[tuple[str, QuantSuffix | None, list[str]]]:
    """The name, then the name less its quantisation suffix, then less each fine-tune suffix in turn:
    (candidate, quantisation rule applied, fine-tune suffixes stripped so far)."""
    stem, rule = strip_quant_suffix(name)
    stages: list[tuple[str, QuantSuffix | None, list[str]]] = [(name, None, [])]
    if rule is not None:
        stages.append((stem, rule, []))
    stripped: list[str] = []
    for _ in range(_MAX_FINETUNE_SUFFIXES):
        match = _FINETUNE.search(stem)
        if not match or match.start() <= stem.rfind("/") + 1:
            break
        stripped = [match.group(0)[1:], *stripped]
        stem = stem[:match.start()]
        stages.append((stem, rule, stripped))
    return stages


def resolve_name(name: str, catalog: CatalogNames) -> ResolvedModel | None:
    """Resolve ``name`` (an HF-style id, any case) by rules 2-4 of the module docstring; None if none hits."""
    written = name.strip()
    name = re.sub(r"\s+", "-", written)  # 'Llama 3.1 8B' as 'Llama-3.1-8B': no repository id has spaces
    name = re.sub(r"@[^/]*$", "", name.rstrip("/"))  # a revision ('...@main') or a folder's slash names no model
    found = _resolve_spelled(written, name, catalog)
    if found is not None:
        return found
    org, _, repository = name.rpartition("/")
    # MLPerf's and short tables' 'llama2-70b', 'llama3.1-8b': a family run into its version number, and
    # MLPerf's benchmark names with their accuracy target and scenario ('llama2-70b-99.9', '...-interactive').
    benchmark = _MLPERF_SUFFIX.sub("", repository)
    spellings = dict.fromkeys([benchmark, re.sub(r"^([A-Za-z]+)(\d)", r"\1-\2", benchmark)])
    for spelled in (s for s in spellings if s != repository):
        found = _resolve_spelled(written, f"{org}/{spelled}" if org else spelled, catalog)
        if found is not None:  # say how the name was read
            how = f"{found.how[:-1]}; read as '{spelled}')" if found.how.endswith(")") else found.how
            return replace(found, how=how, assumed=True)
    return None


# An MLPerf benchmark's accuracy target (99% or 99.9% of the reference) and its interactive scenario.
_MLPERF_SUFFIX = re.compile(r"(-interactive)?-99(\.9)?(-interactive)?$", re.IGNORECASE)


def _resolve_spelled(written: str, name: str, catalog: CatalogNames) -> ResolvedModel | None:
    """:func:`resolve_name` of one spelling ``name`` of the name as ``written``."""
    quant_rule = strip_quant_suffix(name)[1]
    for stage, (candidate, rule, finetune) in enumerate(_stages(name)):
        hit = catalog.exact(candidate)
        other_org = hit is None  # found only under its repository name, published by another org
        repository = candidate.rpartition("/")[2]
        hit = hit or catalog.by_repository(repository)
        # A re-upload may keep only the short name ('TheBloke/Llama-2-7B-GPTQ', Meta's own 'meta-llama/Llama-2-7b'):
        # the repository name as a short alias ('llama-2-7b'), where no repository of that name is known.
        short = hit is None and "/" in candidate and catalog.exact(repository) is not None
        if short:
            hit = catalog.exact(repository)
            other_org = False
        if hit is None:
            hit = catalog.by_base(candidate)
            if hit is not None:  # the catalog holds this model's fine-tune: the same architecture
                return _resolved(written, hit[1], "", rule, finetune, None, True, fine_tune_of_base=hit[0])
            continue
        known, model_id, why = hit
        # An alias named like a quantised checkpoint ('nvidia/Llama-3.1-8B-Instruct-FP8') states its
        # precision too; a catalog id's own config already records it.
        rule = rule or (quant_rule if why else None)
        assumed = stage > 0 or other_org or short or written != name
        if short:
            why = f"repository name read as the short name '{known}'; {why}" if why else why
        return _resolved(written, model_id, why, rule, finetune, known if other_org else None, assumed)
    return None


def _resolved(name: str, model_id: str, why: str, rule: QuantSuffix | None, finetune: list[str],
              same_repository_as: str | None, assumed: bool, fine_tune_of_base: str | None = None) -> ResolvedModel:
    """The resolution with its ``how`` line: each rule that applied, in the order it applied."""
    reasons = []
    if rule is not None:
        reasons.append(f"publisher-quantised name, suffix '{rule.suffix}'")
    if finetune:
        reasons.append(f"fine-tune/revision suffix '-{'-'.join(finetune)}' of a catalog model: "
                       "same architecture assumed")
    if fine_tune_of_base is not None:
        reasons.append(f"the catalog holds its fine-tune {fine_tune_of_base}: same architecture assumed")
    if same_repository_as is not None:
        reasons.append(f"same repository name as {same_repository_as} under another org: same architecture assumed")
    if why:
        reasons.append(f"alias: {_first_clause(why)}")
    if not reasons:
        head = model_id if name.lower() == model_id.lower() else f"{name} -> {model_id}"  # as written, if not so
        return ResolvedModel(name, model_id, how=f"{head} (catalog id)", assumed=assumed)
    weight = rule.weight_dtype if rule else None
    kv = rule.kv_dtype if rule else None
    precision = f" with {weight} weights" if weight else ""
    precision += f"{' and' if weight else ' with'} {kv} KV cache" if kv else ""
    how = f"{name} -> {model_id}{precision} ({'; '.join(reasons)})"
    return ResolvedModel(name, model_id, weight, kv, how, assumed=assumed)


def _first_clause(evidence: str) -> str:
    """An alias row's evidence up to its first ';', ':' or sentence end: the reason, not the whole case."""
    return re.split(r";|: |\. ", evidence, maxsplit=1)[0].strip().rstrip(".")
