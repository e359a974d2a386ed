"""Downloads checked against the Hub's sha256, and `llm models verify`: the real CLI in a
subprocess, the real huggingface_hub client, the local Hub (tests/hub_server.py). No model
is loaded: these run in seconds."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import HubServer, gguf_bytes
from tests.integration.conftest import RunLlm

GOOD = "fake-org/Good-GGUF"
NESTED = "fake-org/Nested-GGUF"


def _nested_gguf(depth: int) -> bytes:
    key = b"general.nested"
    value = struct.pack("<IQ", 9, 1) * (depth - 1) + struct.pack("<IQ", 4, 0)
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<I", 9) + value
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    server = HubServer(tmp_path / "hub-repos")
    server.add_repo(
        GOOD,
        {f"good-{q}.gguf": gguf_bytes(q, size=40_000, name=q) for q in ("Q4_K_M", "Q8_0")},
    )
    server.add_repo(NESTED, {"nested-Q4_K_M.gguf": _nested_gguf(400)})
    with server:
        yield server


@pytest.fixture
def online(cli_env: dict[str, str], hub: HubServer) -> dict[str, str]:
    cli_env.pop("HF_HUB_OFFLINE", None)
    cli_env["HF_ENDPOINT"] = hub.url
    return cli_env


def blobs(env: dict[str, str]) -> list[Path]:
    return sorted(p for p in (Path(env["HF_HOME"]) / "hub").rglob("blobs/*") if p.is_file())


def test_pull_checks_the_sha256_and_verify_reports_each_file(
    run_llm: RunLlm, online: dict[str, str]
) -> None:
    pulled = run_llm("models", "pull", f"{GOOD}:Q4_K_M")
    assert pulled.returncode == 0, pulled.stderr
    assert f"checking {GOOD}:Q4_K_M against the Hub's sha256" in pulled.stderr
    assert run_llm("models", "pull", f"{GOOD}:Q8_0").returncode == 0
    checked = run_llm("models", "verify")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.count("ok ") == 2 and "sha256" in checked.stdout
    assert "checked 2 files of 2 models" in checked.stdout
    one = run_llm("models", "verify", f"{GOOD}:Q8_0", "--json")
    rows = json.loads(one.stdout)["files"]
    assert [r["status"] for r in rows] == ["ok"] and rows[0]["expected"] == rows[0]["actual"]


def test_a_download_that_does_not_match_is_removed_and_said(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    hub.faults.corrupt.add("good-Q4_K_M.gguf")
    proc = run_llm("models", "pull", f"{GOOD}:Q4_K_M")
    assert proc.returncode == 1, proc.stderr
    assert "the download does not match the Hub's hash, removed it from the cache" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert blobs(online) == []
    hub.faults.corrupt.clear()
    assert run_llm("models", "pull", f"{GOOD}:Q4_K_M").returncode == 0  # a clean retry


def test_verify_finds_a_file_changed_in_the_cache(run_llm: RunLlm, online: dict[str, str]) -> None:
    assert run_llm("models", "pull", f"{GOOD}:Q8_0").returncode == 0
    (blob,) = blobs(online)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit past the header: the GGUF check cannot see it
    blob.write_bytes(bytes(data))
    proc = run_llm("models", "verify", GOOD)
    assert proc.returncode == 3
    assert "MISMATCH" in proc.stdout
    assert "1 of 1 files do not match the Hub's hash" in proc.stderr


def test_verify_with_nothing_to_check_exits_3(run_llm: RunLlm, online: dict[str, str]) -> None:
    assert run_llm("models", "verify").returncode == 3
    proc = run_llm("models", "verify", f"{GOOD}:Q8_0")
    assert proc.returncode == 3 and "is not in the cache" in proc.stderr


def test_a_pulled_gguf_nested_too_deep_is_exit_3_and_removed(
    run_llm: RunLlm, online: dict[str, str]
) -> None:
    proc = run_llm("models", "pull", NESTED)
    assert proc.returncode == 3, proc.stderr
    assert "nested too deep" in proc.stderr and "removed it from the cache" in proc.stderr
    assert blobs(online) == []
