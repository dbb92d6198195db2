"""What the submitters' harness files say about a result: tensor/pipeline parallelism, batch, precision.

MLPerf summaries record throughput and latencies, not how the engine was set up. Where a submitter
published its harness, this module reads it without running it:

* NVIDIA's TensorRT-LLM harness (NVIDIA and its partners): ``configs/<benchmark>/<Scenario>/*.py``
  hold one class per (system, accuracy target, power setting) with ``tensor_parallelism``,
  ``pipeline_parallelism``, ``gpu_batch_size`` and ``use_fp8``/``precision``, inheriting defaults
  from base classes in the same folder and ``configs/<benchmark>/__init__.py``. The files are parsed
  with :mod:`ast` (never imported: they need NVIDIA's code tree), and a class's ``system =
  KnownSystem.X`` is matched to a result folder by name: ``X`` with case and punctuation ignored
  must occur in the folder name (``XE9680_H200_SXM_141GBx8`` in ``XE9680_H200_SXM_141GBx8_TRT``),
  the longest such name wins, then the class registered for the result's accuracy target (-99.9:
  ``k_99_9``), power setting (``MaxQ`` in the folder name) and harness (``Triton``).
* JuniperNetworks' multi-node runs: ``llama_configs/*.sh`` name the system (``SYSTEM_ID``) and the GPU
  groups of each model instance (``GPU_RANK_MAP``), whose size is the tensor-parallel degree.
* AMD's vLLM harness (AMD, Dell on MI300X): ``code/<benchmark>/test_VllmFp8/*_<Scenario>_perf.sh``
  sets ``TP=``, and ``VllmFp8/mainVllmFp8_<Scenario>.py`` the engine's ``max_num_seqs`` default
  (the in-flight limit per replica); ``--kv-cache-dtype fp8`` gives the KV format.

Anything else is "not recorded" and the adapter decides what that means.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["HarnessFacts", "harness_facts"]


@dataclass(frozen=True)
class HarnessFacts:
    """Engine settings of one result, each ``None`` where the harness does not say; ``evidence`` says where."""

    tp: int | None = None
    pp: int | None = None
    batch_per_replica: int | None = None
    weight_dtype: str | None = None
    kv_dtype: str | None = None
    evidence: str = ""


@dataclass(frozen=True)
class _ConfigClass:
    name: str
    file: str
    bases: tuple[str, ...]
    fields: dict[str, Any]
    accuracy: str | None  # "k_99" / "k_99_9"
    power: str | None  # "MaxP" / "MaxQ"
    harness: str | None  # "Custom", "Triton", ...


_UNRESOLVED = object()


def _literal(node: ast.AST) -> Any:
    """A plain value, ``KnownSystem.X`` as 'X', or the unresolved marker for expressions."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "KnownSystem":
        return node.attr
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNRESOLVED


def _decorator(cls: ast.ClassDef) -> tuple[str | None, str | None, str | None]:
    for deco in cls.decorator_list:
        if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == "register":
            parts = [a.attr if isinstance(a, ast.Attribute) else None for a in deco.args]
            parts += [None] * (3 - len(parts))
            return parts[1], parts[2], parts[0]
    return None, None, None


def _classes(file: Path, label: str) -> list[_ConfigClass]:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return []
    out = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, Any] = {}
        for stmt in node.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else [])
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    fields[target.id] = _literal(value)
        bases = tuple(b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                      for b in node.bases)
        accuracy, power, harness = _decorator(node)
        out.append(_ConfigClass(node.name, label, bases, fields, accuracy, power, harness))
    return out


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@cache
def _scenario_classes(submitter_dir: Path, benchmark: str, scenario: str) -> tuple[_ConfigClass, ...]:
    """Classes of one (submitter, benchmark, scenario): the scenario folder's files, then the benchmark's
    defaults (so a name defined in both resolves to the scenario's)."""
    root = submitter_dir / "configs" / benchmark
    files = sorted((root / scenario).glob("*.py")) if (root / scenario).is_dir() else []
    files += [root / "__init__.py"] if (root / "__init__.py").is_file() else []
    classes: list[_ConfigClass] = []
    for file in files:
        classes += _classes(file, file.relative_to(submitter_dir.parent.parent).as_posix())
    return tuple(classes)


def _resolve(cls: _ConfigClass, by_name: dict[str, _ConfigClass], name: str, depth: int = 0) -> Any:
    if name in cls.fields and cls.fields[name] is not _UNRESOLVED:
        return cls.fields[name]
    if name in cls.fields or depth > 20:
        return None
    for base in cls.bases:
        parent = by_name.get(base)
        if parent is not None and parent is not cls:
            value = _resolve(parent, by_name, name, depth + 1)
            if value is not None:
                return value
    return None


def _nvidia(submitter_dir: Path, system: str, benchmark: str, scenario: str) -> HarnessFacts | None:
    base = benchmark.removesuffix("-99.9").removesuffix("-99")
    classes = _scenario_classes(submitter_dir, base, scenario)
    if not classes:
        return None
    by_name: dict[str, _ConfigClass] = {}
    for c in classes:
        by_name.setdefault(c.name, c)
    folder = _squash(system)
    registered = [c for c in classes if c.accuracy is not None]
    matches = []
    for c in registered:
        known = _resolve(c, by_name, "system")
        # The name must end where a count ends: 'H100_SXM_80GBx1' is not in '..._80GBx16_TRT'.
        if isinstance(known, str) and _squash(known) and re.search(re.escape(_squash(known)) + r"(?!\d)", folder):
            matches.append((len(_squash(known)), c))
    if not matches:
        return None
    longest = max(n for n, _ in matches)
    candidates = [c for n, c in matches if n == longest]
    accuracy = "k_99_9" if benchmark.endswith("-99.9") else "k_99"
    power = "MaxQ" if "maxq" in folder else "MaxP"
    triton = "triton" in folder
    rules: list[Callable[[_ConfigClass], bool]] = [
        lambda c: c.accuracy == accuracy, lambda c: c.power == power, lambda c: (c.harness == "Triton") == triton]
    for rule in rules:
        candidates = [c for c in candidates if rule(c)] or candidates
    chosen = candidates[0]
    tp, pp = _resolve(chosen, by_name, "tensor_parallelism"), _resolve(chosen, by_name, "pipeline_parallelism")
    batch = _resolve(chosen, by_name, "gpu_batch_size")
    if isinstance(batch, dict):
        batch = next((v for k, v in batch.items() if _squash(str(k)) == _squash(base)), None)
    fp8 = _resolve(chosen, by_name, "use_fp8")
    precision = _resolve(chosen, by_name, "precision")
    weight = "fp8" if fp8 is True else precision if precision in {"fp16", "fp8", "int8", "fp4"} else None
    return HarnessFacts(tp=_whole(tp), pp=_whole(pp), batch_per_replica=_whole(batch), weight_dtype=weight,
                        evidence=f"{chosen.file} class {chosen.name}")


def _amd(submitter_dir: Path, benchmark: str, scenario: str) -> HarnessFacts | None:
    code = submitter_dir / "code" / benchmark
    scripts = sorted((code / "test_VllmFp8").glob(f"*_{scenario}_perf.sh")) if (code / "test_VllmFp8").is_dir() else []
    if not scripts:
        return None
    text = scripts[0].read_text(encoding="utf-8", errors="replace")
    tp = re.search(r"^TP=(\d+)\s*$", text, re.MULTILINE)
    kv = re.search(r"--kv-cache-dtype\s+(\w+)", text)
    main = code / "VllmFp8" / f"mainVllmFp8_{scenario}.py"
    seqs = None
    if main.is_file():
        found = re.search(r"max_num_seqs\s*:\s*int\s*=\s*(\d+)", main.read_text(encoding="utf-8", errors="replace"))
        seqs = int(found.group(1)) if found else None
    quantised = "--quantization fp8" in text
    rel = scripts[0].relative_to(submitter_dir.parent.parent).as_posix()
    return HarnessFacts(tp=int(tp.group(1)) if tp else None, pp=1, batch_per_replica=seqs,
                        weight_dtype="fp8" if quantised else None, kv_dtype=kv.group(1) if kv else None,
                        evidence=rel + (f", {main.relative_to(submitter_dir.parent.parent).as_posix()}"
                                        if seqs else ""))


def _multi_node(submitter_dir: Path, system: str) -> HarnessFacts | None:
    """JuniperNetworks' multi-node launch files: ``SYSTEM_ID`` names the system, ``GPU_RANK_MAP`` lists
    the GPU groups of one model instance each ('0,1&2,3&...': tensor-parallel pairs)."""
    folder = submitter_dir / "llama_configs"
    for script in sorted(folder.glob("*.sh")) if folder.is_dir() else []:
        text = script.read_text(encoding="utf-8", errors="replace")
        system_id = re.search(r'SYSTEM_ID="?([^"\s]+)', text)
        ranks = re.search(r'GPU_RANK_MAP="?([0-9,&]+)', text)
        if system_id and ranks and _squash(system_id.group(1)) in _squash(system):
            sizes = {len(group.split(",")) for group in ranks.group(1).split("&") if group}
            if len(sizes) == 1:
                return HarnessFacts(tp=sizes.pop(), pp=1,
                                    evidence=script.relative_to(submitter_dir.parent.parent).as_posix())
    return None


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1 else None


def harness_facts(submitter_dir: Path, system: str, benchmark: str, scenario: str,
                  per_node: int | None = None) -> HarnessFacts:
    """What the submitter's harness records for ``system``'s ``benchmark``/``scenario`` result.

    A multi-node system (``per_node`` GPUs per node, fewer than the count in its name) takes the engine
    settings of the one-node class ('..._80GBx16_TRT' -> '..._80GBx8_TRT') and the tensor-parallel
    groups of its launch file.
    """
    nodes = _multi_node(submitter_dir, system)
    if nodes is not None:
        count = re.search(r"x(\d+)(?=[^0-9]*$)", system)
        one_node = system[:count.start(1)] + str(per_node) + system[count.end(1):] if count and per_node else system
        engine = _nvidia(submitter_dir, one_node, benchmark, scenario) or HarnessFacts()
        return HarnessFacts(tp=nodes.tp, pp=nodes.pp, batch_per_replica=engine.batch_per_replica if engine.tp ==
                            nodes.tp else None, weight_dtype=engine.weight_dtype, kv_dtype=engine.kv_dtype,
                            evidence=nodes.evidence + (f", {engine.evidence}" if engine.evidence else ""))
    # AMD's harness names its server scenarios SyncServer / AsyncServer; the submission used AsyncServer
    # (the perf script that writes into Server/performance/run_N).
    amd_scenario = "AsyncServer" if scenario == "Server" else scenario
    for facts in (_nvidia(submitter_dir, system, benchmark, scenario), _amd(submitter_dir, benchmark, amd_scenario)):
        if facts is not None:
            return facts
    return HarnessFacts()
