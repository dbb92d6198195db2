"""Model files are unpickled only when trusted: saved here, recorded with ``surrogate trust``, the bundled
default, or passed with an explicit opt-in. Anything else is refused before any of its code runs."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import joblib
import pandas as pd
import pytest
from _tiny_model import tiny_model
from click.testing import CliRunner

from features.errors import SurrogateError, UntrustedModelError
from surrogate.cli import cli
from surrogate.model import SurrogateModel, _files as model_files, load, load_default, trust_file
from surrogate.model._trust import trust_dir

PREDICT = ["predict", "--model", "meta-llama/Meta-Llama-3-8B", "--hardware", "h100-sxm", "--tp", "1",
           "--batch-size", "8", "--input-len", "256", "--output-len", "64"]
OPTIMIZE = ["optimize", "--model", "meta-llama/Meta-Llama-3-8B", "--gpus", "h100-sxm:1", "--input-len", "256",
            "--output-len", "64", "--precisions", "fp16"]
ONE = pd.DataFrame([{"hardware": "h100-sxm", "model": "meta-llama/Meta-Llama-3-8B", "framework": "vllm", "tp": 1,
                     "pp": 1, "dp": 1, "num_devices": 1, "batching": "continuous", "batch_size": 8,
                     "concurrency": 8, "input_len": 256, "output_len": 64, "weight_dtype": "bf16",
                     "kv_dtype": "bf16"}])


class _Payload:
    """Unpickling this runs code: it writes ``marker`` (what a hostile model file could do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test starts with an empty store of trusted digests."""
    store = tmp_path / "trusted"
    monkeypatch.setenv("SURROGATE_TRUST_DIR", str(store))
    return store


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker"
    path = tmp_path / "hostile.joblib"
    joblib.dump(_Payload(marker), path)
    return path, marker


def _refusal(path: Path, why: str = "it is not a model file this user saved or trusted") -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return (f"refusing to load model file {path} (sha256 {digest}): {why}, and loading a model file runs any code "
            f"it holds. If you trust where it came from, pass --trust-model-file, call "
            f"surrogate.load(path, trust=True), or record it once with `surrogate trust {path}` "
            f"(trusted digests live in {trust_dir()})")


def test_a_hostile_file_is_refused_before_its_code_runs(hostile: tuple[Path, Path]) -> None:
    path, marker = hostile
    with pytest.raises(UntrustedModelError) as caught:
        load(path)
    assert str(caught.value) == _refusal(path)
    assert isinstance(caught.value, SurrogateError)
    assert not marker.exists()


@pytest.mark.parametrize("command", [PREDICT, OPTIMIZE])
def test_the_cli_refuses_it_with_exit_1_and_the_reason(hostile: tuple[Path, Path], command: list[str]) -> None:
    path, marker = hostile
    result = CliRunner().invoke(cli, [*command, "--model-file", str(path)])
    assert result.exit_code == 1
    assert result.output == f"Error: {_refusal(path)}\n"
    assert not marker.exists()


def test_the_opt_in_is_what_runs_a_file_from_elsewhere(hostile: tuple[Path, Path]) -> None:
    # The flag means "I trust this file": it is then unpickled, whatever it holds.
    path, marker = hostile
    result = CliRunner().invoke(cli, [*PREDICT, "--model-file", str(path), "--trust-model-file"])
    assert marker.read_text() == "ran"
    assert result.exit_code == 1 and "not a surrogate model bundle" in result.output


def test_a_saved_bundle_loads_without_the_flag(tmp_path: Path, own_store: Path) -> None:
    path = tiny_model().save(tmp_path / "mine.joblib")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = json.loads((own_store / f"{digest}.json").read_text())
    assert entry["path"] == str(path.resolve()) and entry["source"] == "saved"
    pd.testing.assert_frame_equal(load(path).predict(ONE), tiny_model().predict(ONE))
    result = CliRunner().invoke(cli, [*PREDICT, "--model-file", str(path)])
    assert result.exit_code == 0, result.output


def test_an_altered_file_is_refused(tmp_path: Path) -> None:
    path = tiny_model().save(tmp_path / "mine.joblib")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError) as caught:
        load(path)
    assert str(caught.value).startswith(f"refusing to load model file {path} (sha256 ")
    assert "it changed since it was recorded as trusted on 20" in str(caught.value)


def test_trust_true_loads_without_recording(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.joblib"
    joblib.dump(tiny_model(), path, compress=3)  # not through save: nothing recorded
    with pytest.raises(UntrustedModelError):
        load(path)
    assert isinstance(load(path, trust=True), SurrogateModel)
    with pytest.raises(UntrustedModelError):
        load(path)
    assert isinstance(joblib.load(path), SurrogateModel)  # plain joblib knows nothing of trust


def test_trust_command_records_a_file_once(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.joblib"
    joblib.dump(tiny_model(), path, compress=3)
    result = CliRunner().invoke(cli, ["trust", str(path)])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.exit_code == 0 and result.output == f"trusted {path} (sha256 {digest})\n"
    assert isinstance(load(path), SurrogateModel)
    assert trust_file(path) == digest
    missing = CliRunner().invoke(cli, ["trust", str(tmp_path / "none.joblib")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert CliRunner().invoke(cli, ["trust", "--help"]).exit_code == 0


def test_the_bundled_default_needs_no_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # It is as trusted as the installed code beside it.
    default = tmp_path / "models" / "default.joblib"
    default.parent.mkdir()
    joblib.dump(tiny_model(), default, compress=3)
    monkeypatch.setattr(model_files, "default_model_path", lambda: default)
    assert isinstance(load_default(), SurrogateModel)
    assert isinstance(load(tmp_path / "models" / ".." / "models" / "default.joblib"), SurrogateModel)


def test_save_still_writes_when_the_store_cannot_be(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SURROGATE_TRUST_DIR", str(blocker / "store"))
    with caplog.at_level(logging.WARNING):
        path = tiny_model().save(tmp_path / "mine.joblib")
    assert path.is_file()
    assert "could not record it as trusted" in caplog.text and "--trust-model-file" in caplog.text


def test_where_the_store_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SURROGATE_TRUST_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert trust_dir() == tmp_path / "xdg" / "surrogate" / "trusted-models"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert trust_dir() == tmp_path / "home" / ".config" / "surrogate" / "trusted-models"
