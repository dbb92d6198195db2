"""`surrogate bench` against a real llama.cpp server on this CPU, serving a tiny model generated here.

The server is ``llama-server`` built by ``scripts/build_llama_server.sh`` (``.ci/run`` builds it); the model is
written by ``scripts/tiny_gguf.py`` (random weights, byte-level BPE, nothing downloaded). Without the binary
the tests skip, unless ``SURROGATE_REQUIRE_LLAMA_SERVER=1`` (``.ci/run`` sets it), where that is a failure.
A small stand-in server (http.server) plays the one thing a real engine will not do: answer without streaming.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from _llama import SERVER as _SERVER, unavailable
from _scripts import load_script
from click.testing import CliRunner

from features import catalog
from features.host import detect_host, host_catalog_row, host_id, save_user_hardware
from surrogate.bench import BenchPlan, PromptMaker, read_server, run_sweep
from surrogate.cli import cli
from surrogate.ingest import ingest

_TINY = load_script("scripts/tiny_gguf.py", "tiny_gguf")
# Total context 2048 over 4 slots: 512 tokens per sequence (the out-of-context case below needs a limit).
_CTX, _SLOTS = 2048, 4


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    _TINY.write_tiny_llama(folder)
    return folder


@pytest.fixture(scope="module")
def llama_url(tiny_model_dir: Path) -> Iterator[str]:
    try:
        with _SERVER.running_server(tiny_model_dir / "tiny-llama.gguf", parallel=_SLOTS, ctx=_CTX,
                                    threads=2) as (url, _):
            yield f"{url}/v1"
    except _SERVER.LlamaServerUnavailable as exc:
        unavailable(exc)


@pytest.fixture
def host(no_user_hardware: Path) -> Iterator[str]:
    """This machine in the (session's private) user hardware file, with fixed rates: the tests check what the
    bench records, not how fast this machine is today. The rates are far above any CPU's, so no measurement here
    is flagged faster than physics (which would keep it out of training)."""
    cpu = detect_host()
    save_user_hardware(host_catalog_row(cpu, mem_bw_gbps=1000.0, fp32_tflops=10.0, how="test rates"))
    catalog.reload_hardware()
    yield host_id(cpu)
    no_user_hardware.unlink()
    catalog.reload_hardware()


def _bench(url: str, out: Path, *extra: str) -> object:
    args = ["bench", "--url", url, "--model", _SERVER.ALIAS, "--hardware", "host", "--out", str(out), *extra]
    return CliRunner().invoke(cli, args)


def _catalog_model(model_dir: Path) -> list[str]:
    return ["--catalog-model", str(model_dir / "config.json")]


def test_sweep_measures_every_grid_point(llama_url: str, tiny_model_dir: Path, host: str, tmp_path: Path) -> None:
    result = _bench(llama_url, tmp_path, *_catalog_model(tiny_model_dir), "--concurrency", "1,2",
                    "--input-len", "32,100", "--output-len", "8", "--requests", "2", "--repeats", "2")
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == 2 * 2 * 2  # grid points x repeats
    info = read_server(llama_url, _SERVER.ALIAS)
    assert set(rows["framework"]) == {"llama.cpp"} and set(rows["server_version"]) == {info.framework_version}
    # llama.cpp build strings are not dated releases: no engine version is recorded, and the note says so.
    assert rows["framework_version"].isna().all()
    assert "is not a release the catalog can date" in result.output
    assert set(rows["hardware"]) == {host} and set(rows["weight_dtype"]) == {"fp16"}
    # Prompts of exact length: the server reports the requested tokens plus its BOS.
    assert (rows["input_len"] == rows["requested_input_len"] + 1).all()
    assert (rows["output_len"] == 8).all() and (rows["short_outputs"] == 0).all()
    assert (rows["ttft_s"] > 0).all() and (rows["ttft_s"] < rows["latency_s"]).all()
    assert (rows["itl_s"] > 0).all() and (rows["ttft_p90_s"] >= rows["ttft_p50_s"]).all()
    requests = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert len(requests) == 8 * 2
    assert all(r["output_tokens"] == 8 and r["error"] is None and 0 < len(r["gaps_s"]) <= 7 for r in requests)
    assert "surrogate data ingest bench" in result.output


def test_rows_ingest_as_they_are(llama_url: str, tiny_model_dir: Path, host: str, tmp_path: Path) -> None:
    result = _bench(llama_url, tmp_path, *_catalog_model(tiny_model_dir), "--concurrency", "2",
                    "--input-len", "16", "--output-len", "4,8", "--requests", "2", "--repeats", "3")
    assert result.exit_code == 0, result.output
    ingested = ingest("bench", tmp_path)
    table = ingested.table
    assert ingested.account.rows_read == 6 and ingested.account.kept == 2 and ingested.account.rejected == 0
    assert set(table["source"]) == {"bench"} and list(table["n_measurements"]) == [3, 3]
    assert (table["spread_frac"] >= 0).all()
    fields = json.loads(ingested.measurements["source_fields"].iloc[0])
    assert {"ttft_p90_s", "itl_p90_s", "requested_input_len", "url"} <= set(fields)


def test_prompts_have_the_exact_token_count(llama_url: str) -> None:
    maker = PromptMaker(read_server(llama_url, _SERVER.ALIAS))
    try:
        for tokens in (1, 7, 100, 333):
            for seed in range(3):
                assert len(maker._tokenize(maker.prompt(tokens, (seed,)))) == tokens
        assert maker.prompt(50, (1,)) != maker.prompt(50, (2,))  # no prefix cache hits between requests
    finally:
        maker.close()


def test_unreachable_url_is_a_clear_failure(host: str, tmp_path: Path) -> None:
    port = _SERVER.free_port()
    result = _bench(f"http://127.0.0.1:{port}/v1", tmp_path, "--catalog-model", "meta-llama/Llama-3.1-8B")
    assert result.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}/v1" in result.output
    assert "Traceback" not in result.output


def test_wrong_model_name_lists_what_is_served(llama_url: str, host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--url", llama_url, "--model", "llama-70b", "--hardware", "host",
                                      "--catalog-model", "meta-llama/Llama-3.1-8B", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"the server at {llama_url} does not serve 'llama-70b'; it serves: tiny-llama" in result.output


def test_point_beyond_the_context_fails_and_the_rest_is_kept(llama_url: str, tiny_model_dir: Path, host: str,
                                                            tmp_path: Path) -> None:
    result = _bench(llama_url, tmp_path, *_catalog_model(tiny_model_dir), "--concurrency", "1",
                    "--input-len", "16,600", "--output-len", "4", "--requests", "1", "--repeats", "1")
    assert result.exit_code == 1
    assert ("failed: concurrency 1, input 600, output 4 (repeat 1): needs 605 tokens of context per sequence, the "
            "server has 512 per slot") in result.output
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert list(rows["requested_input_len"]) == [16]


def test_server_dying_mid_sweep_keeps_finished_points(tiny_model_dir: Path, host: str, tmp_path: Path) -> None:
    try:
        context = _SERVER.running_server(tiny_model_dir / "tiny-llama.gguf", parallel=2, ctx=1024, threads=2)
        url, process = context.__enter__()
    except _SERVER.LlamaServerUnavailable as exc:
        unavailable(exc)
    try:
        info = read_server(f"{url}/v1", _SERVER.ALIAS)
        plan = BenchPlan(url=info.base_url, served_model=_SERVER.ALIAS, model=str(tiny_model_dir / "config.json"),
                         hardware=host, framework="llama.cpp", framework_version=info.framework_version,
                         weight_dtype="fp16", kv_dtype="fp16", concurrencies=(1,), input_lens=(16,),
                         output_lens=(4, 8, 16), out_dir=tmp_path, requests=2)
        done = []

        def advance() -> None:  # the server goes away after the first grid point's two requests
            done.append(1)
            if len(done) == 2:
                process.kill()
                process.wait()

        result = run_sweep(plan, info, advance)
    finally:
        context.__exit__(None, None, None)
    assert len(result.rows) == 1 and result.rows[0]["requested_output_len"] == 4
    assert len(result.failed) == 1 and result.failed[0][2].startswith("connection lost")
    assert [p.output_len for p in result.not_run] == [16]
    assert len(pd.read_csv(tmp_path / "rows.csv")) == 1


def test_ctrl_c_keeps_what_finished(llama_url: str, tiny_model_dir: Path, host: str, tmp_path: Path) -> None:
    info = read_server(llama_url, _SERVER.ALIAS)
    plan = BenchPlan(url=info.base_url, served_model=_SERVER.ALIAS, model=str(tiny_model_dir / "config.json"),
                     hardware=host, framework="llama.cpp", framework_version=None, weight_dtype="fp16",
                     kv_dtype="fp16", concurrencies=(1,), input_lens=(16,), output_lens=(4, 8), out_dir=tmp_path,
                     requests=2)
    done = []

    def advance() -> None:  # Ctrl-C during the second grid point
        done.append(1)
        if len(done) == 3:
            raise KeyboardInterrupt

    result = run_sweep(plan, info, advance)
    assert result.interrupted
    assert [r["requested_output_len"] for r in result.rows] == [4]
    assert list(pd.read_csv(tmp_path / "rows.csv")["requested_output_len"]) == [4]


class _NotStreaming(BaseHTTPRequestHandler):
    """An OpenAI-compatible stand-in that answers completions in one JSON body (no server-sent events)."""

    def _send(self, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/v1/models":
            self._send({"object": "list", "data": [{"id": "plain", "object": "model"}]})
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        if self.path == "/v1/completions":
            self._send({"choices": [{"text": "hello", "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 8, "completion_tokens": 4}})
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def plain_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotStreaming)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_server_that_does_not_stream_is_refused(plain_url: str, host: str, tmp_path: Path) -> None:
    args = ["bench", "--url", plain_url, "--model", "plain", "--hardware", "host", "--out", str(tmp_path),
            "--catalog-model", "meta-llama/Llama-3.1-8B", "--framework", "vllm", "--weight-dtype", "bf16",
            "--input-len", "16", "--output-len", "4", "--concurrency", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "the server did not stream (answered application/json, not text/event-stream)" in result.output


def test_server_that_does_not_say_its_engine_needs_the_flag(plain_url: str, host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--url", plain_url, "--model", "plain", "--hardware", "host",
                                      "--catalog-model", "meta-llama/Llama-3.1-8B", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "the server does not say its engine: pass --framework" in result.output


def test_closed_loop_measure_ingest_train_predict(llama_url: str, tiny_model_dir: Path, host: str,
                                                  tmp_path: Path) -> None:
    """The README's loop on this machine: bench 20 points, ingest, train on them alone, predict a point between
    measured ones. The prediction must know this machine and model, and land between its measured neighbours."""
    config = str(tiny_model_dir / "config.json")
    runs, data, bundle = tmp_path / "runs", tmp_path / "data", tmp_path / "mine.joblib"
    # 20 points: the least a metric is learned from (none may be lost, see the host fixture's rates).
    result = _bench(llama_url, runs, "--catalog-model", config, "--concurrency", "1,2", "--input-len",
                    "16,32,64,128,256", "--output-len", "4,8", "--requests", "2", "--repeats", "3")
    assert result.exit_code == 0, result.output
    assert not ingest("bench", runs).table["faster_than_physics"].any()
    runner = CliRunner()
    for args in (["data", "ingest", "bench", str(runs), "--into", str(data)],
                 ["train", "--data", str(data), "--cv-folds", "0", "--out", str(bundle)]):
        done = runner.invoke(cli, args)
        assert done.exit_code == 0, done.output
    done = runner.invoke(cli, ["predict", "--model-file", str(bundle), "--model", config, "--hardware", "host",
                               "--framework", "llama.cpp", "--batching", "continuous", "--concurrency", "2",
                               "--input-len", "48", "--output-len", "6", "--weight-dtype", "fp16", "--json"])
    assert done.exit_code == 0, done.output
    predicted = json.loads(done.output[done.output.index("["):])[0]
    assert predicted["hardware_seen_in_training"] and predicted["model_seen_in_training"]
    rows = pd.read_csv(runs / "rows.csv").query("concurrency == 2")
    measured = rows.groupby("requested_input_len")["ttft_s"].median()
    # Up to 3x the 64-token TTFT: the suite's other worker shares these two cores, so one point can be measured
    # in a quiet moment and its neighbours in a busy one. Alone the prediction is 0.96-1.23x it (six runs); in
    # two CI runs 2.0x and 2.2x (0.177 s against 0.080 s), the training points around it measured slower. With
    # one pass a busy moment was one point's whole measurement (a CI run predicted 0.277 s against 0.085 s:
    # the monotone fit carries a slow small prompt up to every longer one); three passes over the grid, merged
    # per point by the ingest, are what `surrogate bench` does by default.
    assert 0.5 * measured[32] <= predicted["ttft_s"] <= 3.0 * measured[64]
    assert 0 < predicted["itl_s"] and predicted["ttft_s"] < predicted["latency_s"]
