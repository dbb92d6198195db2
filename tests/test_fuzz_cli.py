"""Malformed values, files and paths through every command: one line saying what is wrong, never a traceback.

A table of known mistakes (each with its exit code and the words its message must hold) and
hypothesis over flag values and CSV cells. Every case must end in exit 1 (a failure) or 2 (a usage
error) without a traceback and without the root group's last-resort "unexpected ..." line, which
would mean an error no layer named (a bug). Lenient paths (a CSV with some bad rows) must account for every
row: used, or listed as ``file:line: reason``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from _tiny_model import tiny_model
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings, strategies as st

from surrogate.cli import cli

CONFIGS = Path(__file__).resolve().parents[1] / "features" / "data" / "hf_configs"
HEADER = "hardware,model,tp,input_len,output_len"
GOOD_ROW = "h100-sxm,meta-llama/Llama-3.1-8B,1,128,32"
INGEST_HEADER = "hardware,model,framework,concurrency,input_len,output_len,itl_s"
INGEST_ROW = "h100-sxm,meta-llama/Llama-3.1-8B,vllm,8,128,32,0.01"

FILES: dict[str, bytes] = {
    "empty.csv": b"",
    "header.csv": f"{HEADER}\n".encode(),
    "banana.csv": f"{HEADER}\nh100-sxm,meta-llama/Llama-3.1-8B,banana,128,32\n".encode(),
    "nan.csv": f"{HEADER}\nh100-sxm,meta-llama/Llama-3.1-8B,1,nan,32\n".encode(),
    "inf.csv": f"{HEADER}\nh100-sxm,meta-llama/Llama-3.1-8B,1,inf,32\n".encode(),
    "huge.csv": f"{HEADER}\nh100-sxm,meta-llama/Llama-3.1-8B,1,1e30,32\n".encode(),
    "fraction.csv": f"{HEADER}\nh100-sxm,meta-llama/Llama-3.1-8B,1.5,128,32\n".encode(),
    "context.csv": f"{HEADER}\nh100-sxm,meta-llama/Llama-2-7b-hf,1,4000,200\n".encode(),
    "dup.csv": b"hardware,model,input_len,output_len,input_len\nh100-sxm,meta-llama/Llama-3.1-8B,128,32,256\n",
    "latin1.csv": f"{HEADER}\n{GOOD_ROW}\n".encode() + "h100-sxm,caf\u00e9,1,128,32\n".encode("latin-1"),
    "binary.csv": bytes(range(256)) * 2,
    "ragged.csv": f"{HEADER}\n{GOOD_ROW},7\n".encode(),
    "unexpected.csv": f"{HEADER},colour\n{GOOD_ROW},red\n".encode(),
    "mixed.csv": f"{HEADER}\n{GOOD_ROW}\nh1000,meta-llama/Llama-3.1-8B,1,128,32\n".encode(),
    "ok.csv": f"{HEADER}\n{GOOD_ROW}\n".encode(),
    "means.csv": f"{HEADER}\n{GOOD_ROW}\nh100-sxm,meta-llama/Llama-3.1-8B,1,215.73,32\n"
                 "h100-sxm,meta-llama/Llama-3.1-8B,1,216,32\n".encode(),
    "lab_names.csv": b"gpu,model,tp_size,isl,osl,ttft_ms\nh100-sxm,meta-llama/Llama-3.1-8B,1,128,32,250\n",
    "means_disagg.csv": (b"hardware,model,framework,mode,prefill_workers,decode_workers,concurrency,input_len,"
                         b"output_len\nh200,meta-llama/Llama-3.1-70B,sglang,disaggregated,1,1,32,1000.5,1000\n"),
    "ingest_mixed.csv": (f"{INGEST_HEADER}\n{INGEST_ROW}\n" + INGEST_ROW.replace(",128,", ",inf,") + "\n"
                         + INGEST_ROW.replace(",128,", ",1e30,") + "\n").encode(),
    "notjson.json": b"not json {",
    "list.json": b"[1, 2]",
    "afile": b"a file, not a directory",
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("fuzz")
    for name, content in FILES.items():
        (root / name).write_bytes(content)
    config = json.loads((CONFIGS / "meta-llama--Llama-3.1-8B.json").read_text())
    (root / "zeroheads.json").write_text(json.dumps({**config, "num_attention_heads": 0}))
    (root / "emptydir").mkdir()
    (root / "dir.db").mkdir()
    tiny_model().save(root / "tiny.joblib")
    return {"tmp": str(root), "model": str(root / "tiny.joblib"), "missing": str(root / "not-there")}


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def assert_one_line_error(result: Result, code: int | None = None) -> None:
    """Exit 1 or 2 (``code`` if given), a message, no traceback, not the last-resort line."""
    assert result.exit_code in ((code,) if code else (1, 2)), result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Error:" in result.output, result.output
    assert "(a bug: rerun with --debug" not in result.output, result.output


ONE = "--model meta-llama/Llama-3.1-8B --hardware h100-sxm --input-len 128 --output-len 32"
EST = f"estimate {ONE}"
BENCH = "bench --url http://127.0.0.1:9/v1 --model x --catalog-model meta-llama/Llama-3.1-8B --hardware h100-sxm"
PRED = f"predict --model-file {{model}} {ONE}"
OPT = ("optimize --model-file {model} --model meta-llama/Llama-3.1-8B --gpus h100-sxm:1 --input-len 128 "
       "--output-len 32 --frameworks vllm --precisions fp16 --max-sequences 4")

# (id, command line with {tmp}/{model}/{missing}, exit code, words the message must hold)
CASES = [
    # estimate: flags
    ("est-unknown-gpu", f"{EST} --hardware h1000", 2, "unknown GPU 'h1000'; did you mean"),
    ("est-tp-zero", f"{EST} --tp 0", 2, "0 is not in the range x>=1"),
    ("est-tp-text", f"{EST} --tp banana", 2, "'banana' is not a valid integer"),
    ("est-tp-heads", f"{EST} --tp 3", 2, "tp 3 does not divide the 32 attention heads"),
    ("est-context", f"{EST} --input-len 200000", 2, "exceed the context window of meta-llama/Llama-3.1-8B (131072"),
    ("est-ep-dense", f"{EST} --ep 8", 2, "ep 8: meta-llama/Llama-3.1-8B is a dense model"),
    ("est-ep-moe-one-gpu", f"{EST} --model mistralai/Mixtral-8x7B-v0.1 --ep 8", 2, "needs tp*dp to be a multiple"),
    ("est-ep-experts", f"{EST} --model mistralai/Mixtral-8x7B-v0.1 --tp 8 --dp 2 --num-devices 16 --ep 16", 2,
     "ep 16 exceeds the 8 experts"),
    ("est-batch-and-concurrency", f"{EST} --batch-size 8 --concurrency 16", 2,
     "--batch-size 8 and --concurrency 16 disagree"),
    ("est-static-concurrency", f"{EST} --batching static --concurrency 16", 2,
     "--concurrency applies to continuous batching"),
    ("est-engine-weights", f"{EST} --framework deepspeed-mii --weight-dtype fp8", 2,
     "deepspeed-mii does not run fp8 weights (it runs fp16, bf16)"),
    ("est-engine-kv", f"{EST} --framework llama.cpp --kv-dtype fp8", 2, "llama.cpp does not run fp8 KV caches"),
    ("est-engine-vendor", f"{EST} --framework tensorrt-llm --hardware mi300x", 2,
     "tensorrt-llm does not run on AMD hardware"),
    ("est-unknown-dtype", f"{EST} --weight-dtype fp7", 2, "unknown precision 'fp7'"),
    ("est-devices", f"{EST} --num-devices 3 --tp 2", 2, "num_devices 3 != tp*pp*dp = 2"),
    ("est-zero-heads", "estimate --model {tmp}/zeroheads.json --hardware h100-sxm --input-len 8 --output-len 8",
     2, "num_attention_heads must be a whole number of at least 1, got 0"),
    ("est-config-not-json", "estimate --model {tmp}/notjson.json --hardware h100-sxm --input-len 8 --output-len 8",
     None, "notjson.json"),
    ("est-missing-flags", "estimate --model meta-llama/Llama-3.1-8B", 2, "missing --hardware, --input-len"),
    ("est-output-alone", f"{EST} --output {{tmp}}/o.csv", 2, "--output writes the estimates of an --input CSV"),
    # estimate: files
    ("est-empty", "estimate --input {tmp}/empty.csv", 1, "empty.csv is empty"),
    ("est-header-only", "estimate --input {tmp}/header.csv", 1, "header.csv has a header but no rows"),
    ("est-banana", "estimate --input {tmp}/banana.csv", 1, "banana.csv:2: column 'tp' must be a whole number"),
    ("est-fraction", "estimate --input {tmp}/fraction.csv", 1, "fraction.csv:2: column 'tp' must be a whole number"),
    ("est-nan", "estimate --input {tmp}/nan.csv", 1, "nan.csv:2: column 'input_len' must be a whole number"),
    ("est-inf", "estimate --input {tmp}/inf.csv", 1, "inf.csv:2: column 'input_len' must be a whole number"),
    ("est-huge", "estimate --input {tmp}/huge.csv", 1, "huge.csv:2: column 'input_len' is too large: '1e30'"),
    ("est-context-row", "estimate --input {tmp}/context.csv", 1, "context.csv:2: input_len 4000 + output_len 200"),
    ("est-dup-column", "estimate --input {tmp}/dup.csv", 1, "dup.csv:1: column 'input_len' appears twice"),
    ("est-latin1-strict", "estimate --input {tmp}/latin1.csv --strict", 1,
     "latin1.csv:3: not UTF-8 text (byte 0xe9 in field 2)"),
    ("est-binary", "estimate --input {tmp}/binary.csv", 1, "not UTF-8 text"),
    ("est-ragged", "estimate --input {tmp}/ragged.csv", 1, "ragged.csv:2: expected 5 fields, found 6"),
    ("est-unexpected-column", "estimate --input {tmp}/unexpected.csv", 2, "unexpected columns: colour"),
    ("est-mixed-strict", "estimate --input {tmp}/mixed.csv --strict", 1, "1 of 2 rows of"),
    ("est-input-and-flags", "estimate --input {tmp}/ok.csv --hardware h100-sxm", 2,
     "--hardware describe one deployment, but --input's CSV"),
    ("est-input-missing", "estimate --input {missing}/x.csv", 2, "does not exist"),
    ("est-input-directory", "estimate --input {tmp}", 2, "is a directory"),
    ("est-output-below-file", "estimate --input {tmp}/ok.csv --output {tmp}/afile/o.csv", 2,
     "afile is a file, not a directory"),
    # predict
    ("pred-context", f"{PRED} --input-len 200000", 2, "context window"),
    ("pred-batch-and-concurrency", f"{PRED} --batch-size 8 --concurrency 16", 2, "disagree"),
    ("pred-rate-zero", f"{PRED} --request-rate 0", 2, "0.0 is not in the range x>0"),
    ("pred-rate-nan", f"{PRED} --request-rate nan", 2, "the request rate must be a positive number"),
    ("pred-rate-and-batch", f"{PRED} --request-rate 2 --batch-size 8", 2, "--request-rate and --batch-size both"),
    ("pred-rate-static", f"{PRED} --request-rate 2 --batching static", 2, "drop --batching static"),
    ("pred-rate-with-input", "predict --model-file {model} --input {tmp}/ok.csv --request-rate 2", 2,
     "put the rate in its request_rate_per_s column"),
    ("pred-empty", "predict --model-file {model} --input {tmp}/empty.csv", 1, "is empty"),
    ("pred-header-only", "predict --model-file {model} --input {tmp}/header.csv", 1, "has a header but no rows"),
    ("pred-banana", "predict --model-file {model} --input {tmp}/banana.csv", 1, "none of the 1 rows"),
    ("pred-inf", "predict --model-file {model} --input {tmp}/inf.csv", 1, "inf.csv:2: column 'input_len'"),
    ("pred-huge", "predict --model-file {model} --input {tmp}/huge.csv", 1, "is too large"),
    ("pred-dup-column", "predict --model-file {model} --input {tmp}/dup.csv", 1, "appears twice"),
    ("pred-binary", "predict --model-file {model} --input {tmp}/binary.csv", 1, "not UTF-8 text"),
    ("pred-mixed-strict", "predict --model-file {model} --input {tmp}/mixed.csv --strict", 1,
     "mixed.csv:3: unknown GPU 'h1000'"),
    ("pred-model-missing", f"predict --model-file {{missing}}/m.joblib {ONE}", 2, "does not exist"),
    ("pred-model-not-bundle", f"predict --model-file {{tmp}}/notjson.json --trust-model-file {ONE}", 1,
     "notjson.json"),
    ("pred-output-below-file", f"{PRED} --output {{tmp}}/afile/p.csv", 2, "afile is a file, not a directory"),
    ("pred-output-directory", f"{PRED} --output {{tmp}}", 2, "is a directory"),
    # optimize
    ("opt-storage-scheme", f"{OPT} --storage bogus://x", 2, "unknown database 'bogus'"),
    ("opt-storage-dir", f"{OPT} --storage {{missing}}/study.db", 2, "does not exist"),
    ("opt-storage-sqlite-dir", f"{OPT} --storage sqlite:///{{missing}}/study.db", 2, "does not exist"),
    ("opt-storage-journal-dir", f"{OPT} --storage journal:{{missing}}/study.log", 2, "does not exist"),
    ("opt-storage-plain", f"{OPT} --storage study", 2, "neither a database URL nor a journal file"),
    ("opt-storage-directory", f"{OPT} --storage {{tmp}}/dir.db", 2, "dir.db is a directory; name a file in it"),
    ("opt-out-below-file", f"{OPT} --out {{tmp}}/afile/run", 2, "afile is a file, not a directory"),
    ("opt-gpus-count", "optimize --model meta-llama/Llama-3.1-8B --gpus h100-sxm:two --input-len 8 --output-len 8",
     2, "the count after ':' must be a whole number"),
    ("opt-gpus-unknown", "optimize --model meta-llama/Llama-3.1-8B --gpus h1000:8 --input-len 8 --output-len 8", 2,
     "unknown GPU 'h1000'"),
    ("opt-context", f"{OPT} --input-len 200000", 2, "handles at most 131072 tokens"),
    ("opt-precision", f"{OPT} --precisions fp7", 2, "unknown precision 'fp7'"),
    ("opt-target-negative", f"{OPT} --max-itl-s -1", 2, "-1.0 is not in the range x>0"),
    ("opt-target-nan", f"{OPT} --max-itl-s nan", 2, "--max-itl-s must be positive"),
    ("opt-study-name", f"{OPT} --study-name s", 2, "--study-name needs --storage"),
    ("opt-rate-and-concurrency", f"{OPT} --request-rate 2 --concurrency 8", 2,
     "--request-rate and --concurrency both set the load"),
    ("opt-rate-zero", f"{OPT} --request-rate 0", 2, "0.0 is not in the range x>0"),
    ("opt-rate-nan", f"{OPT} --request-rate nan", 2, "the request rate must be a positive number"),
    ("opt-frameworks-empty", f"{OPT} --frameworks ,", 2, "give at least one name"),
    ("opt-software-date", f"{OPT} --software-as-of 2026-13-01", 2,
     "'2026-13-01' does not match the format '%Y-%m-%d'"),
    ("opt-model-missing", "optimize --model-file {missing}/m.joblib --model meta-llama/Llama-3.1-8B --gpus h100-sxm "
     "--input-len 8 --output-len 8", 2, "does not exist"),
    # data ingest, every source
    ("ingest-csv-dup", "data ingest csv {tmp}/dup.csv --into {tmp}/store", 1, "column 'input_len' appears twice"),
    ("ingest-csv-binary", "data ingest csv {tmp}/binary.csv --into {tmp}/store", 1, "the header is not UTF-8 text"),
    ("ingest-csv-empty", "data ingest csv {tmp}/empty.csv --into {tmp}/store", 1, "needs at least the columns"),
    ("ingest-csv-bad-rows-strict", "data ingest csv {tmp}/ingest_mixed.csv --into {tmp}/store --strict", 1,
     "ingest_mixed.csv:3: input_len 'inf' is not a finite number"),
    ("ingest-csv-into-file", "data ingest csv {tmp}/ok.csv --into {tmp}/afile", 2, "is a file"),
    ("ingest-csv-context-flag", "data ingest csv {tmp}/ok.csv --into {tmp}/store --tp 2", 2,
     "--tp only applies to vllm-bench"),
    ("ingest-csv-missing", "data ingest csv {missing}/x.csv", 2, "does not exist"),
    ("ingest-lib-binary", "data ingest llm-inference-bench {tmp}/binary.csv --into {tmp}/store", 1,
     "the header is not UTF-8 text"),
    ("ingest-lib-empty-dir", "data ingest llm-inference-bench {tmp}/emptydir --into {tmp}/store", 1,
     "no CSV files under"),
    ("ingest-aic-binary", "data ingest aiconfigurator {tmp}/binary.csv --into {tmp}/store", 1,
     "the header is not UTF-8 text"),
    ("ingest-aic-wrong-table", "data ingest aiconfigurator {tmp}/ok.csv --into {tmp}/store", 1,
     "not an aiconfigurator silicon file"),
    ("ingest-vllm-binary-strict", "data ingest vllm-bench {tmp}/binary.csv --hardware h100-sxm --into {tmp}/store "
     "--strict", 1, "not UTF-8 text"),
    ("ingest-vllm-not-json-strict", "data ingest vllm-bench {tmp}/notjson.json --hardware h100-sxm --into "
     "{tmp}/store --strict", 1, "notjson.json:1: not JSON"),
    ("ingest-vllm-tp-zero", "data ingest vllm-bench {tmp}/notjson.json --tp 0", 2, "0 is not in the range"),
    ("ingest-mlperf-file", "data ingest mlperf {tmp}/binary.csv --into {tmp}/store", 1, "is not a folder"),
    ("ingest-mlperf-empty-dir", "data ingest mlperf {tmp}/emptydir --into {tmp}/store", 1,
     "no mlperf_log_summary.txt under"),
    ("ingest-bench-no-rows", "data ingest bench {tmp}/emptydir --into {tmp}/store", 1,
     "has no rows.csv: give the folder `surrogate bench --out` wrote"),
    ("ingest-bench-binary", "data ingest bench {tmp}/binary.csv --into {tmp}/store", 1, "the header is not UTF-8 text"),
    ("ingest-unknown-source", "data ingest nope {tmp}/ok.csv", 2, "'nope' is not one of"),
    # bench and hardware
    ("bench-unreachable", f"{BENCH} --out {{tmp}}/runs", 1, "cannot reach http://127.0.0.1:9/v1"),
    ("bench-concurrency-text", f"{BENCH} --concurrency 1,a --out {{tmp}}/runs", 2,
     "'1,a' is not a comma-separated list of whole numbers"),
    ("bench-input-zero", f"{BENCH} --input-len 0 --out {{tmp}}/runs", 2, "'0': give whole numbers of at least 1"),
    ("bench-unknown-gpu", "bench --url http://127.0.0.1:9/v1 --model x --hardware h1000 --out {tmp}/runs", 2,
     "unknown GPU 'h1000'; did you mean"),
    ("bench-unknown-model", "bench --url http://127.0.0.1:9/v1 --model nope/nope --hardware h100-sxm --out "
     "{tmp}/runs", 2, "unknown model 'nope/nope'"),
    ("bench-host-unprobed", "bench --url http://127.0.0.1:9/v1 --model x --hardware host --out {tmp}/runs", 1,
     "has not been measured yet: run `surrogate hardware probe` first"),
    ("bench-out-below-file", f"{BENCH} --out {{tmp}}/afile/runs", 2, "afile is a file, not a directory"),
    ("bench-missing-flags", "bench --url http://127.0.0.1:9/v1", 2, "Missing option '--model'"),
    ("probe-unknown-flag", "hardware probe --fast", 2, "No such option '--fast'"),
    # data summary and fetch
    ("summary-missing", "data summary --data {missing}", 2, "no dataset at"),
    ("fetch-manifest-not-json", "data fetch llm-inference-bench --dest {tmp}/dl --manifest {tmp}/notjson.json", 1,
     "cannot read manifest"),
    ("fetch-manifest-list", "data fetch llm-inference-bench --dest {tmp}/dl --manifest {tmp}/list.json", 1,
     "has no 'sources' object"),
    ("fetch-base-url", "data fetch llm-inference-bench --dest {tmp}/dl --base-url notaurl", 1,
     "give --base-url as http(s)://host/path"),
    ("fetch-dest-file", "data fetch llm-inference-bench --dest {tmp}/afile", 2, "is a file"),
    # train, evaluate, trust
    ("train-out-below-file", "train --data {missing} --out {tmp}/afile/m.joblib", 2, "afile is a file"),
    ("train-out-directory", "train --out {tmp}", 2, "is a directory"),
    ("train-data-missing", "train --data {missing} --out {tmp}/m.joblib", 2, "no dataset at"),
    ("train-data-empty", "train --data {tmp}/emptydir --out {tmp}/m.joblib", 2, "no dataset at"),
    ("train-cv-negative", "train --cv-folds -1 --out {tmp}/m.joblib", 2, "-1 is not in the range"),
    ("evaluate-out-below-file", "evaluate --data {missing} --out {tmp}/afile/e", 2, "afile is a file"),
    ("evaluate-split", "evaluate --split week", 2, "'week' is not one of"),
    ("evaluate-data-missing", "evaluate --data {missing}", 2, "no dataset at"),
    ("trust-missing", "trust {missing}/m.joblib", 2, "does not exist"),
    ("trust-directory", "trust {tmp}", 2, "is a directory"),
    # compile
    ("compile-model-missing", "compile --model-file {missing}/m.joblib", 2, "does not exist"),
    ("compile-unknown-flag", "compile --inline", 2, "No such option '--inline'"),
    ("no-such-command", "bake --model x", 2, "No such command 'bake'"),
]


@pytest.mark.parametrize(("line", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_one_line_naming_it(paths: dict[str, str], line: str, code: int | None, words: str) -> None:
    result = invoke(shlex.split(line.format(**paths)))
    assert_one_line_error(result, code)
    assert words.format(**paths) in result.output, result.output


def test_every_command_is_in_the_table() -> None:
    """A command added later gets its own malformed cases here."""
    names = {c.split()[0] if not c.startswith("data ") else " ".join(c.split()[:2]) for _, c, _, _ in CASES}
    assert {"estimate", "predict", "optimize", "train", "evaluate", "trust", "compile", "data ingest", "data summary",
            "data fetch", "bench", "hardware"} <= names
    assert set(cli.list_commands(None)) <= {"estimate", "predict", "optimize", "train", "evaluate", "trust", "compile",
                                            "data", "bench", "hardware"}
    sources = {c.split()[2] for _, c, _, _ in CASES if c.startswith("data ingest ")}
    from surrogate.ingest import ADAPTERS

    assert set(ADAPTERS) <= sources


# --- lenient paths: the good rows are used, the bad ones listed ------------------------------------


def test_predict_uses_the_good_rows_and_lists_the_bad_ones(paths: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "sub" / "predictions.csv"  # a missing directory is created
    result = invoke(shlex.split(f"predict --model-file {paths['model']} --input {paths['tmp']}/mixed.csv "
                                f"--output {out}"))
    assert result.exit_code == 0, result.output
    assert f"{paths['tmp']}/mixed.csv:3: unknown GPU 'h1000'" in result.output
    assert "warning: 1 of 2 rows" in result.output and "the other 1 was predicted" in result.output
    assert pd.read_csv(out)["hardware"].tolist() == ["h100-sxm"]


@pytest.mark.parametrize("command", ["estimate", "predict --model-file {model}"])
def test_a_mean_length_is_predicted_at_the_nearest_whole_one_and_said_by_line(paths: dict[str, str],
                                                                              command: str) -> None:
    result = invoke(shlex.split(f"{command.format(**paths)} --input {paths['tmp']}/means.csv --json"))
    assert result.exit_code == 0, result.output
    assert f"{paths['tmp']}/means.csv:3: warning: input_len 215.73 is not a whole number of tokens: read as 216, the " \
           "nearest (a mean length is predicted as if every request had it)" in result.stderr
    rows = json.loads(result.stdout)
    assert [row["input_len"] for row in rows] == ["128", "215.73", "216"]  # the input columns as written
    assert {k: v for k, v in rows[1].items() if k != "input_len"} == {k: v for k, v in rows[2].items()
                                                                     if k != "input_len"}
    assert "means.csv:4" not in result.stderr


@pytest.mark.parametrize("command", ["estimate", "predict --model-file {model}"])
def test_other_labs_column_names_are_read_as_ingest_reads_them(paths: dict[str, str], command: str) -> None:
    result = invoke(shlex.split(f"{command.format(**paths)} --input {paths['tmp']}/lab_names.csv --json"))
    assert result.exit_code == 0, result.output
    assert f"{paths['tmp']}/lab_names.csv: note: columns read under other names: gpu as hardware, tp_size as tp, " \
           "isl as input_len, osl as output_len, ttft_ms as ttft_s (ms / 1,000)" in result.stderr
    row = json.loads(result.stdout)[0]
    assert (row["hardware"], row["tp"], row["input_len"], row["output_len"]) == ("h100-sxm", "1", "128", "32")
    if command == "estimate":  # the input columns kept (predict writes its own ttft_s over the measured one)
        assert row["ttft_s"] == 0.25


def test_a_disaggregated_row_with_a_mean_length_is_read_the_same_way(paths: dict[str, str]) -> None:
    result = invoke(shlex.split(f"predict --model-file {paths['model']} --input {paths['tmp']}/means_disagg.csv"))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("is not a whole number of tokens") == 1  # said once, by line
    assert f"{paths['tmp']}/means_disagg.csv:2: warning: input_len 1000.5 is not a whole number of tokens: read as " \
           "1001" in result.stderr
    assert "1001 in / 1000 out tokens" in result.stdout


def test_ingest_keeps_the_good_rows_of_a_file_with_bad_ones(paths: dict[str, str], tmp_path: Path) -> None:
    result = invoke(shlex.split(f"data ingest csv {paths['tmp']}/ingest_mixed.csv --into {tmp_path} --json"))
    assert result.exit_code == 0, result.output
    account = json.loads(result.stdout)
    assert (account["rows_read"], account["kept"], account["rejected"]) == (3, 1, 2) and account["adds_up"]
    assert account["rejections"] == ["ingest_mixed.csv:3: input_len 'inf' is not a finite number",
                                     "ingest_mixed.csv:4: input_len '1e30' is too large (at most 2,147,483,647)"]


def test_an_impossible_weight_format_for_the_hardware_is_flagged(paths: dict[str, str]) -> None:
    result = invoke(shlex.split(f"{PRED.format(**paths)} --hardware a100-sxm4-80gb --weight-dtype fp4"))
    assert result.exit_code == 0, result.output
    assert "warning: fp4 weights on a100-sxm4-80gb: it has no fp4 tensor cores" in result.output


# --- hypothesis: any flag value, any CSV cell ---------------------------------------------------------

NASTY = ["", " ", "0", "-1", "1.5", "nan", "inf", "-inf", "1e30", "9" * 25, "banana", "h100-sxm", "fp8", "static",
         "continuous", "meta-llama/Llama-3.1-8B", "mistralai/Mixtral-8x7B-v0.1", "vllm", "llama.cpp", "\u00e9\u00e8",
         "8", "128", "4096", "200000", "x" * 300, "'", '"', ";", "\t"]
flag_value = st.one_of(st.sampled_from(NASTY), st.text(max_size=12), st.integers(-10, 10**12).map(str))
FLAGS = ["--hardware", "--model", "--framework", "--tp", "--pp", "--dp", "--ep", "--num-devices", "--weight-dtype",
         "--kv-dtype", "--batching", "--batch-size", "--concurrency", "--input-len", "--output-len",
         "--framework-version"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(FLAGS), flag_value, min_size=1, max_size=4))
def test_any_flag_value_ends_in_a_result_or_one_line(changes: dict[str, str]) -> None:
    args = dict(zip(ONE.split()[::2], ONE.split()[1::2], strict=True)) | changes
    result = invoke(["estimate", *[x for pair in args.items() for x in pair]])
    if result.exit_code != 0:
        assert_one_line_error(result)
    else:
        assert "Traceback" not in result.output


# One physical line per row, so that listed lines can be counted.
line_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=8)
cell = st.one_of(st.sampled_from(NASTY), line_text)
CSV_COLUMNS = ["hardware", "model", "tp", "batch_size", "concurrency", "input_len", "output_len", "weight_dtype"]
csv_row = st.fixed_dictionaries({c: st.one_of(cell, st.just(v)) for c, v in zip(
    CSV_COLUMNS, ["h100-sxm", "meta-llama/Llama-3.1-8B", "1", "1", "8", "128", "32", "bf16"], strict=True)})


def _csv(rows: list[dict[str, str]], columns: list[str] = CSV_COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _listed_lines(output: str, path: Path) -> set[int]:
    """Lines named as ``file:line: reason`` (not the warnings about used rows)."""
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): (?!warning:)", re.MULTILINE)
    return {int(m) for m in pattern.findall(output)}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(csv_row, min_size=1, max_size=4))
# Found on a CI run: a row of empty fields (",,,,,,,") was skipped as if it were a blank line.
@example(rows=[{**dict.fromkeys(CSV_COLUMNS, ""), "tp": "1", "batch_size": "1", "output_len": "32"},
               dict.fromkeys(CSV_COLUMNS, "")])
def test_any_csv_row_is_predicted_or_listed_by_line(paths: dict[str, str], rows: list[dict[str, str]]) -> None:
    root = Path(paths["tmp"])
    path, out = root / "hypothesis.csv", root / "hypothesis-out.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    out.unlink(missing_ok=True)
    result = invoke(["predict", "--model-file", paths["model"], "--input", str(path), "--output", str(out)])
    if result.exit_code != 0:
        assert_one_line_error(result)
    assert "Traceback" not in result.output and "(a bug: rerun with --debug" not in result.output
    listed = _listed_lines(result.output, path)
    used = len(pd.read_csv(out)) if result.exit_code == 0 else 0
    if result.exit_code == 0 or "none of the" in result.output:
        assert used + len(listed) == len(rows), result.output
        assert listed <= set(range(2, len(rows) + 2))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(csv_row, min_size=1, max_size=4))
def test_any_ingested_row_is_kept_or_rejected_by_line(paths: dict[str, str], rows: list[dict[str, str]]) -> None:
    root = Path(paths["tmp"])
    path = root / "hypothesis-ingest.csv"
    columns = ["framework", *CSV_COLUMNS, "itl_s"]
    path.write_text(_csv([{"framework": "vllm", **r, "itl_s": "0.01"} for r in rows], columns), encoding="utf-8")
    result = invoke(["data", "ingest", "csv", str(path), "--into", str(root / "hypothesis-store"), "--json"])
    if result.exit_code != 0:
        assert_one_line_error(result)
        return
    account = json.loads(result.stdout)
    assert account["adds_up"] and account["rows_read"] == len(rows)
