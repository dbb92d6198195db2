"""The real shared files ingest with zero unexplained rejections (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from surrogate.ingest import IngestResult, load_shared, shared_datasets_dir

# Every reason a real row may be rejected for, each documented in its adapter's docstring.
EXPLAINED = {
    "llm-inference-bench": {"KV cache disabled", "speculative decoding"},
    "aiconfigurator": {"tp does not divide the attention heads",
                       "prefill worker tp does not divide the attention heads",
                       "decode worker tp does not divide the attention heads", "client concurrency not recorded",
                       "client concurrency is not batch_size x attention_dp_size"},
    "mlperf": {"decodes with beam search", "devices and the harness does not record tensor parallelism",
               "Offline result and the harness records no batch size", "open division, changed model",
               "unknown framework"},
}


@pytest.fixture(scope="module")
def shared(request: pytest.FixtureRequest) -> IngestResult:
    path = request.getfixturevalue("shared_datasets")
    return load_shared(path)


@pytest.fixture(scope="module")
def shared_datasets() -> Path:  # module-scoped twin of conftest's fixture (same location rules)
    path = shared_datasets_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"shared datasets not found at {path} (set SURROGATE_SHARED_DIR)")
    return path


def test_every_account_adds_up(shared: IngestResult) -> None:
    assert shared.account.adds_up and all(a.adds_up for a in shared.accounts)
    lib, aic, mlperf = shared.accounts
    # Every data row of every file (main table, Fig_10, 16_a, 22 twice, 2_a, 2_b, 3, 4_b, 5_b).
    assert lib.rows_read == 4432 + 97 + 40 + 2 * 24 + 494 + 66 + 116 + 18 + 265
    assert aic.rows_read == 4454
    assert mlperf.rows_read == 303  # every performance summary of the v4.1 LLM benchmarks


def test_no_unexplained_rejections(shared: IngestResult) -> None:
    for account in shared.accounts:
        unexplained = set(account.rejections_by_reason()) - EXPLAINED[account.source]
        assert not unexplained, (account.source, unexplained)


def test_known_facts_of_the_data(shared: IngestResult) -> None:
    lib = shared.accounts[0]
    assert lib.rejections_by_reason() == {"KV cache disabled": 168, "speculative decoding": 9}
    flagged = {f"{n.file}:{n.line}" for n in lib.notes if n.message.startswith("faster than physics")}
    assert "Plots/All_results.csv:1351" in flagged and len(flagged) == 13
    table = shared.table
    ttft = table[(table["source"] == "llm-inference-bench") & table["ttft_s"].notna()]
    assert len(ttft) == 24 and set(ttft["output_len"]) == {1}
    assert table["power_w"].notna().sum() == 40  # Fig_16_a; Fig_10's exceeds the devices' TDP and is dropped
    assert set(table.loc[table["hardware"] == "intel-max-1550", "hardware_label"]) == {"Intel PVC GPU",
                                                                                         "Intel Max 1550"}


def test_one_row_per_configuration_and_no_invented_metrics(shared: IngestResult) -> None:
    table = shared.table
    aic = table[table["source"] == "aiconfigurator"]
    assert aic["latency_s"].isna().all() and aic["throughput_tok_s"].isna().all()
    assert aic[["ttft_s", "itl_s"]].notna().all().all()
    assert (table["n_measurements"] >= 1).all()
    assert int(table["n_measurements"].sum()) == len(shared.measurements)
