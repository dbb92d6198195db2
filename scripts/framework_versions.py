"""Date every engine version the shared data records: python scripts/framework_versions.py [--shared DIR].

Writes ``features/data/framework_versions.csv`` (framework, version, date, basis), which
``features.versions`` reads to turn a version string into an ordered quantity. Why dates from the
data rather than from release notes: aiconfigurator's ``silicon_sample.csv`` stamps most rows with
``measured=YYYY-MM-DD``, and a version cannot have been measured before it existed, so the earliest
such date is an upper bound on its release that anyone can recheck from the file, and the dates the
model trains on. Releases the data never names are dated by the package index
(``scripts/engine_releases.py``). Deterministic: the same file gives the same table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from pathlib import Path

import pandas as pd
from packaging.version import InvalidVersion, Version

from features.catalog import resolve_framework
from features.errors import DataError
from features.versions import DYNAMO_IMAGE_NOTE
from surrogate.ingest import shared_datasets_dir

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "features" / "data" / "framework_versions.csv"
RAW_FILE = Path("aiconfigurator") / "silicon_sample.csv"
_MEASURED = re.compile(r"measured=(\d{4}-\d{2}-\d{2})")
# A build date inside a tag, between separators: nightly-dev-20260216-d3bae71e.
_TAG_DATE = re.compile(r"(?:^|[-_.+])(\d{8})(?=$|[-_.+])")
_MEASURED_BASIS = ("earliest of the {n} measured= dates of rows with this version in aiconfigurator "
                   "silicon_sample.csv (an upper bound on the release date)")
# Some rows run in NVIDIA Dynamo's runtime images carry the image's version (0.8.1.post2) as backend_version,
# a numbering of its own, not the engine's; the basis says so, as those versions do not order with the engine's.
# (Other rows name the engine's version and record the image beside it: image=...:0.9.0; dynamo_version=0.9.0.)
_DYNAMO_IMAGE = re.compile(r"ai-dynamo/[\w-]+:([\w.+-]+)")
_DYNAMO_NOTE = "; " + DYNAMO_IMAGE_NOTE
_TAG_BASIS = "build date in the version tag (a nightly image)"
_NEWER_BASIS = ("no measured= date for its rows; earliest measured= date of a newer version ({newer}) in "
                "aiconfigurator silicon_sample.csv (an upper bound: it was released before that one was measured)")


def _tag_date(version: str) -> date | None:
    for match in _TAG_DATE.finditer(version):
        text = match.group(1)
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            continue
    return None


def _pep440(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _rows(raw: pd.DataFrame) -> pd.DataFrame:
    """(framework, version, measured date, Dynamo image tag) for every raw row that records a version."""
    versions = raw["backend_version"].astype("string").str.strip()
    frame = pd.DataFrame({
        "framework": raw["backend"].astype(str).map({b: resolve_framework(b) for b in raw["backend"].unique()}),
        "version": versions,
        "measured": raw["silicon_data_source"].astype("string").str.extract(_MEASURED, expand=False),
        "image_tag": raw["silicon_data_source"].astype("string").str.extract(_DYNAMO_IMAGE, expand=False),
    })
    return frame[frame["version"].notna() & frame["version"].ne("")]


def _dated(version: str, group: pd.DataFrame) -> tuple[str, str] | None:
    """(ISO date, basis) from the version's own evidence, or None when its rows carry no date."""
    note = _DYNAMO_NOTE if group["image_tag"].eq(version).any() else ""
    tagged = _tag_date(version)
    if tagged is not None:
        return tagged.isoformat(), _TAG_BASIS + note
    stamps = group["measured"].dropna()
    if stamps.empty:
        return None
    return str(stamps.min()), _MEASURED_BASIS.format(n=len(stamps)) + note


def _bound_by_newer(framework: str, version: str, dated: dict[tuple[str, str], tuple[str, str]]) -> tuple[str, str]:
    """The earliest date of any PEP 440-newer engine-numbered version (it existed before that one was measured)."""
    own = _pep440(version)
    newer = [(when, v) for (f, v), (when, basis) in dated.items()
             if f == framework and own is not None and not basis.endswith(_DYNAMO_NOTE)
             and (pv := _pep440(v)) is not None and pv > own]
    if not newer:
        raise DataError(f"{RAW_FILE}: {framework} {version} has no measured= date and no newer dated version; "
                        "date it by hand in scripts/framework_versions.py")
    when, which = min(newer)
    return when, _NEWER_BASIS.format(newer=which)


def version_table(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (framework, version) in ``raw``: its date and how the date was obtained."""
    dated: dict[tuple[str, str], tuple[str, str]] = {}
    undated: list[tuple[str, str]] = []
    for (framework, version), group in _rows(raw).groupby(["framework", "version"], sort=True):
        key = (str(framework), str(version))
        found = _dated(key[1], group)
        if found is None:
            undated.append(key)
        else:
            dated[key] = found
    bounds = {key: _bound_by_newer(*key, dated) for key in undated}
    table = pd.DataFrame([(f, v, when, basis) for (f, v), (when, basis) in {**dated, **bounds}.items()],
                         columns=["framework", "version", "date", "basis"])
    return table.sort_values(["framework", "date", "version"], ignore_index=True)


# MLPerf Inference rounds name engine versions in their system descriptions (``framework``: "vLLM 0.5.2");
# a round's publication date bounds them: MLCommons published the v4.1 Inference results on 2024-08-28.
MLPERF_ROUNDS = {"v4.1": "2024-08-28"}
_MLPERF_VLLM = re.compile(r"\bvllm\s+v?([0-9][^\s,]*)", re.IGNORECASE)


def mlperf_versions(shared: Path) -> pd.DataFrame:
    """vLLM versions named by the MLPerf system descriptions under ``shared``/mlperf-inference, dated by
    their round's publication (an upper bound on the release)."""
    rows = []
    for round_name, published in MLPERF_ROUNDS.items():
        for path in sorted((shared / "mlperf-inference" / round_name).glob("*/*/systems/*.json")):
            found = _MLPERF_VLLM.search(json.loads(path.read_text(encoding="utf-8")).get("framework") or "")
            if found:
                rows.append(("vllm", found.group(1), published,
                             f"named in MLPerf Inference {round_name} system descriptions; the round was published "
                             f"{published} (an upper bound on the release date)"))
    return pd.DataFrame(rows, columns=["framework", "version", "date", "basis"]).drop_duplicates(["framework",
                                                                                                    "version"])


def full_table(raw: pd.DataFrame, shared: Path) -> pd.DataFrame:
    """aiconfigurator's versions (``version_table``) plus those only MLPerf names, in the packaged order."""
    table = version_table(raw)
    extra = mlperf_versions(shared)
    known = table.set_index(["framework", "version"]).index
    extra = extra[~extra.set_index(["framework", "version"]).index.isin(known)]
    return pd.concat([table, extra], ignore_index=True).sort_values(["framework", "date", "version"],
                                                                    ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    raw = pd.read_csv(shared_datasets_dir(args.shared) / RAW_FILE, dtype=str, keep_default_na=False,
                      na_values=[""])
    table = full_table(raw, shared_datasets_dir(args.shared))
    table.to_csv(args.out, index=False, lineterminator="\n")
    print(table.to_string(index=False, columns=["framework", "version", "date"]))
    print(f"wrote {len(table)} versions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
