"""`surrogate data fetch`: offline, against a local HTTP server on 127.0.0.1 serving fixture files."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from features.errors import DataError
from surrogate.cli import cli
from surrogate.ingest.fetch import default_manifest_path, fetch, load_manifest, sha256_file

PAYLOAD = b"Hardware,Latency\n" + b"Nvidia H100 GPU,1.0\n" * 4000
LICENSE = b"BSD 3-Clause License\n"


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (http.server has none) and a log of requests."""

    requests: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            start = int(header[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "upstream"
    (root / "Plots").mkdir(parents=True)
    (root / "Plots" / "All_results.csv").write_bytes(PAYLOAD)
    (root / "LICENSE").write_bytes(LICENSE)
    _RangeHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", tmp_path
    finally:
        httpd.shutdown()
        httpd.server_close()


def _manifest(tmp_path: Path, base_url: str, sha256_of: str = "upstream", payload_hash: str | None = None) -> Path:
    files = [
        {"path": "LICENSE", "sha256": hashlib.sha256(LICENSE).hexdigest(), "sha256_of": sha256_of},
        {"path": "Plots/All_results.csv", "sha256": payload_hash or hashlib.sha256(PAYLOAD).hexdigest(),
         "sha256_of": sha256_of},
    ]
    manifest = {"sources": {"llm-inference-bench": {"base_url": base_url, "files": files}}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_download_verifies_and_keeps_upstream_paths(server: tuple[str, Path]) -> None:
    url, tmp = server
    seen: list[tuple[str, int, int | None]] = []
    results = fetch("llm-inference-bench", tmp / "dest", manifest_path=_manifest(tmp, url),
                    progress=lambda name, done, total: seen.append((name, done, total)))
    assert [r.status for r in results] == ["downloaded", "downloaded"]
    assert (tmp / "dest" / "Plots" / "All_results.csv").read_bytes() == PAYLOAD
    assert not list((tmp / "dest").rglob("*.part"))
    assert seen[-1] == ("Plots/All_results.csv", len(PAYLOAD), len(PAYLOAD))


def test_interrupted_download_resumes_with_a_range_request(server: tuple[str, Path]) -> None:
    url, tmp = server
    part = tmp / "dest" / "Plots" / "All_results.csv.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(PAYLOAD[:1000])
    results = fetch("llm-inference-bench", tmp / "dest", manifest_path=_manifest(tmp, url))
    assert results[1].status == "resumed"
    assert ("/Plots/All_results.csv", "bytes=1000-") in _RangeHandler.requests
    assert sha256_file(tmp / "dest" / "Plots" / "All_results.csv") == hashlib.sha256(PAYLOAD).hexdigest()


def test_files_already_present_are_not_downloaded_again(server: tuple[str, Path]) -> None:
    url, tmp = server
    manifest = _manifest(tmp, url)
    fetch("llm-inference-bench", tmp / "dest", manifest_path=manifest)
    _RangeHandler.requests.clear()
    results = fetch("llm-inference-bench", tmp / "dest", manifest_path=manifest)
    assert {r.status for r in results} == {"already present"} and not _RangeHandler.requests


def test_upstream_hash_mismatch_fails_and_deletes(server: tuple[str, Path]) -> None:
    url, tmp = server
    with pytest.raises(DataError, match="failed their sha256 check"):
        fetch("llm-inference-bench", tmp / "dest", manifest_path=_manifest(tmp, url, payload_hash="0" * 64))
    assert not (tmp / "dest" / "Plots" / "All_results.csv").exists()
    assert not (tmp / "dest" / "Plots" / "All_results.csv.part").exists()


def test_shared_copy_mismatch_is_reported_not_fatal(server: tuple[str, Path]) -> None:
    url, tmp = server
    manifest = _manifest(tmp, url, sha256_of="shared-copy", payload_hash="0" * 64)
    results = fetch("llm-inference-bench", tmp / "dest", manifest_path=manifest)
    assert results[1].mismatch and not results[0].mismatch
    assert (tmp / "dest" / "Plots" / "All_results.csv").read_bytes() == PAYLOAD


def test_cli_fetch_exit_codes(server: tuple[str, Path]) -> None:
    url, tmp = server
    runner = CliRunner()
    ok = runner.invoke(cli, ["data", "fetch", "llm-inference-bench", "--dest", str(tmp / "a"),
                             "--manifest", str(_manifest(tmp, url))])
    assert ok.exit_code == 0, ok.output
    assert "Plots/All_results.csv" in ok.output and "Traceback" not in ok.output
    bad = runner.invoke(cli, ["data", "fetch", "llm-inference-bench", "--dest", str(tmp / "b"),
                              "--manifest", str(_manifest(tmp, url, payload_hash="0" * 64))])
    assert bad.exit_code == 1 and "sha256" in bad.output
    unknown = runner.invoke(cli, ["data", "fetch", "nope", "--dest", str(tmp / "c")])
    assert unknown.exit_code == 2
    down = runner.invoke(cli, ["data", "fetch", "aiconfigurator", "--dest", str(tmp / "d"),
                               "--base-url", "http://127.0.0.1:9/"])
    assert down.exit_code == 1 and "cannot download" in down.output


def test_repository_manifest_matches_the_shared_copies(shared_datasets: Path) -> None:
    manifest = load_manifest(default_manifest_path())
    for source, entry in manifest["sources"].items():
        assert entry["files"], source
        for item in entry["files"]:
            assert item["sha256_of"] == "shared-copy"
            assert sha256_file(shared_datasets / source / item["path"]) == item["sha256"], item["path"]
