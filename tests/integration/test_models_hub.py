"""`llm models` end to end: the real CLI in a subprocess, the real huggingface_hub client,
a local imitation of the Hub (tests/hub_server.py) on 127.0.0.1, real llama.cpp."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcli.models import bundled_model_path
from tests.hub_server import HubServer, gguf_bytes, split_gguf
from tests.integration.conftest import LLM, RunLlm

SMOL = "test-org/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MANY = "fake-org/Many-GGUF"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    server = HubServer(tmp_path / "hub-repos")
    bundled = bundled_model_path()
    assert bundled is not None, "the bundled model is not installed: run `make install`"
    server.add_repo(SMOL, {SMOL_FILE: bundled, "README.md": b"# SmolLM2\n"})
    server.add_repo(
        MANY,
        {
            **{f"many-{q}.gguf": gguf_bytes(q, size=3000) for q in ("Q2_K", "Q4_K_M", "Q8_0")},
            "mmproj-many-F16.gguf": gguf_bytes("F16"),
            "Q6_K/many-Q6_K-00001-of-00002.gguf": gguf_bytes("Q6_K", size=5000),
            "Q6_K/many-Q6_K-00002-of-00002.gguf": gguf_bytes("Q6_K", size=6000),
        },
    )
    server.add_repo("fake-org/safetensors-only", {"model.safetensors": b"{}", "config.json": b"{}"})
    server.add_repo("fake-org/Broken-GGUF", {"broken-Q4_K_M.gguf": b"<html>oops</html>" * 100})
    server.add_repo(
        "fake-org/Vision-GGUF",
        {
            "vis-Q4_K_M.gguf": gguf_bytes("Q4_K_M"),
            "mmproj-vis-f16.gguf": gguf_bytes("F16", size=20000),
        },
    )
    server.add_repo(
        "fake-org/Slow-GGUF", {"slow-Q4_K_M.gguf": gguf_bytes("Q4_K_M", size=6_000_000)}
    )
    with server:
        yield server


@pytest.fixture
def online(cli_env: dict[str, str], hub: HubServer) -> dict[str, str]:
    """The CLI's environment pointed at the local Hub (set before huggingface_hub imports)."""
    cli_env.pop("HF_HUB_OFFLINE", None)
    cli_env["HF_ENDPOINT"] = hub.url
    return cli_env


def hub_cache(env: dict[str, str]) -> Path:
    return Path(env["HF_HOME"]) / "hub"


def leftovers(env: dict[str, str]) -> list[Path]:
    """Partial downloads in the cache (huggingface_hub writes *.incomplete, then renames)."""
    return [p for p in hub_cache(env).rglob("*") if p.name.endswith(".incomplete")]


def test_pull_run_offline_and_rm(run_llm: RunLlm, online: dict[str, str], hub: HubServer) -> None:
    """The issue's 'done when': pull with progress, run, run with the server gone, rm."""
    pulled = run_llm("models", "pull", f"{SMOL}:Q4_1")
    assert pulled.returncode == 0, pulled.stderr
    assert f"downloading {SMOL}:Q4_1 (98.4 MB)" in pulled.stderr
    assert "% (" in pulled.stderr and "MB/s" in pulled.stderr
    assert f"pulled {SMOL}:Q4_1 (98.4 MB)" in pulled.stdout
    path = Path(pulled.stdout.strip().splitlines()[-1])
    assert path.is_file() and str(hub_cache(online)) in str(path)

    answer = run_llm("run", "-m", f"{SMOL}:Q4_1", "--max-tokens", "8", "--seed", "1", "hi")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()

    hub.stop()  # not even HF_HUB_OFFLINE: a cached model needs no network
    again = run_llm("run", "-m", f"{SMOL}:q4_1", "--max-tokens", "8", "--json", "hi")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["model_path"] == str(path)

    removed = run_llm("models", "rm", f"{SMOL}:Q4_1")
    assert removed.returncode == 0, removed.stderr
    assert "freed 98.4 MB" in removed.stdout
    assert not path.exists()
    assert not (hub_cache(online) / "models--test-org--SmolLM2-135M-Instruct-GGUF").exists()


def test_run_pulls_a_missing_model_first(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    proc = run_llm("run", "-m", f"hf.co/{SMOL}", "--max-tokens", "4", "hi")
    assert proc.returncode == 0, proc.stderr
    assert f"{SMOL} is not downloaded yet: pulling it from the Hub" in proc.stderr
    assert proc.stdout.strip()
    count = len(hub.requests)
    shown = run_llm("models", "show", SMOL, "--json")  # resolves as run does, loads nothing
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["quant"] == "Q4_1"
    assert len(hub.requests) == count  # cached: no request at all


def test_pull_again_is_up_to_date(run_llm: RunLlm, online: dict[str, str]) -> None:
    assert run_llm("models", "pull", f"{MANY}:Q8_0").returncode == 0
    again = run_llm("models", "pull", f"{MANY}:q8_0", "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["downloaded"] is False and data["quant"] == "Q8_0"
    assert "downloading" not in again.stderr


def test_quants_groups_splits_marks_default_and_skips_mmproj(
    run_llm: RunLlm, online: dict[str, str]
) -> None:
    proc = run_llm("models", "quants", MANY, "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["quant"]: r for r in json.loads(proc.stdout)["quants"]}
    assert list(rows) == ["Q4_K_M", "Q6_K", "Q8_0", "Q2_K"]
    assert rows["Q4_K_M"]["default"] and not rows["Q8_0"]["default"]
    assert rows["Q6_K"]["size"] == 11000 and len(rows["Q6_K"]["files"]) == 2
    assert all(r["fits"] == "yes" for r in rows.values())
    plain = run_llm("models", "quants", f"hf.co/{MANY}")
    assert plain.stdout.splitlines()[0].split() == [
        "quant",
        "size",
        "files",
        "default",
        "fits",
        "in",
        "memory",
        "file",
    ]


def test_split_model_is_fetched_whole(run_llm: RunLlm, online: dict[str, str]) -> None:
    proc = run_llm("models", "pull", f"{MANY}:Q6_K", "--json")
    assert proc.returncode == 0, proc.stderr
    files = [Path(p) for p in json.loads(proc.stdout)["files"]]
    assert [f.name for f in files] == [
        "many-Q6_K-00001-of-00002.gguf",
        "many-Q6_K-00002-of-00002.gguf",
    ]
    assert all(f.is_file() for f in files)
    assert "(11.0 kB)" in proc.stderr


@pytest.mark.slow
def test_split_model_runs_from_its_first_part(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    """SmolLM2 split in two as gguf-split does: pulled whole, llama.cpp opens part 1."""
    bundled = bundled_model_path()
    assert bundled is not None
    hub.add_repo("test-org/SmolLM2-split-GGUF", split_gguf(bundled, "SmolLM2-Q4_1"))
    proc = run_llm("run", "-m", "test-org/SmolLM2-split-GGUF", "--json", "--max-tokens", "4", "hi")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["text"].strip()
    assert data["model_path"].endswith("SmolLM2-Q4_1-00001-of-00002.gguf")
    assert Path(data["model_path"].replace("00001-of", "00002-of")).is_file()


def test_only_the_language_model_is_fetched(run_llm: RunLlm, online: dict[str, str]) -> None:
    assert run_llm("models", "pull", "fake-org/Vision-GGUF").returncode == 0
    names = {p.name for p in hub_cache(online).rglob("*.gguf")}
    assert names == {"vis-Q4_K_M.gguf"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fake-org/nothing-here", "model repo not found on the Hub: fake-org/nothing-here"),
        ("fake-org/safetensors-only", "fake-org/safetensors-only has no GGUF model files"),
        (f"{MANY}:Q5_0", "has no Q5_0 quant (available: Q4_K_M, Q6_K, Q8_0, Q2_K)"),
        (f"{MANY}/missing.gguf", "has no file 'missing.gguf'"),
    ],
)
def test_bad_models_exit_3(
    run_llm: RunLlm, online: dict[str, str], spec: str, message: str
) -> None:
    proc = run_llm("models", "pull", spec)
    assert proc.returncode == 3
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_hf_token_is_sent(run_llm: RunLlm, online: dict[str, str], hub: HubServer) -> None:
    online["HF_TOKEN"] = "hf_test_token"
    assert run_llm("models", "pull", f"{MANY}:Q2_K").returncode == 0
    sent = [a for r, a in zip(hub.requests, hub.authorizations, strict=True) if MANY in r]
    assert sent and all(a == "Bearer hf_test_token" for a in sent)


def test_pinned_revision(run_llm: RunLlm, online: dict[str, str], hub: HubServer) -> None:
    commit = hub.commit(MANY)
    proc = run_llm("models", "pull", f"{MANY}:Q2_K", "--revision", commit, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["commit"] == commit


def test_unknown_revision_exits_3(run_llm: RunLlm, online: dict[str, str]) -> None:
    proc = run_llm("models", "pull", MANY, "--revision", "v9")
    assert proc.returncode == 3 and "has no revision 'v9'" in proc.stderr


def test_invalid_gguf_download_is_refused_and_not_kept(
    run_llm: RunLlm, online: dict[str, str]
) -> None:
    proc = run_llm("run", "-m", "fake-org/Broken-GGUF", "hi")
    assert proc.returncode == 3
    assert "not a usable GGUF model, removed it from the cache" in proc.stderr
    assert list(hub_cache(online).rglob("*.gguf")) == []
    assert not any((hub_cache(online) / "models--fake-org--Broken-GGUF").rglob("blobs/*"))


def test_server_unreachable_exits_1(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    hub.stop()
    proc = run_llm("models", "pull", f"{MANY}:Q8_0")
    assert proc.returncode == 1
    assert f"cannot reach the Hub at {hub.url}" in proc.stderr


def test_dropped_connection_is_resumed(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    hub.faults.drop_after["slow-Q4_K_M.gguf"] = 1_000_000  # once
    proc = run_llm("models", "pull", "fake-org/Slow-GGUF")
    assert proc.returncode == 0, proc.stderr
    ranges = [r for r in hub.requests if r.startswith("GET /fake-org/Slow-GGUF/resolve/")]
    assert len(ranges) == 2  # the second one resumed with a Range request


@pytest.mark.slow
def test_network_failure_mid_download_exits_1_and_next_pull_completes(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    hub.faults.drop_after["slow-Q4_K_M.gguf"] = 1_000_000
    hub.faults.drop_always = True  # huggingface_hub retries 5 times, then gives up
    proc = run_llm("models", "pull", "fake-org/Slow-GGUF")
    assert proc.returncode == 1
    assert "network error" in proc.stderr and "Traceback" not in proc.stderr
    assert leftovers(online) == []
    assert list(hub_cache(online).rglob("*.gguf")) == []

    hub.faults.drop_after.clear()
    again = run_llm("models", "pull", "fake-org/Slow-GGUF")
    assert again.returncode == 0, again.stderr
    assert "pulled fake-org/Slow-GGUF:Q4_K_M (6.0 MB)" in again.stdout


def _start_pull(env: dict[str, str], spec: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*LLM, "models", "pull", spec],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_ctrl_c_mid_download_exits_130_and_leaves_nothing(
    run_llm: RunLlm, online: dict[str, str], hub: HubServer
) -> None:
    hub.faults.rate = 1_000_000  # 6 s for the file
    proc = _start_pull(online, "fake-org/Slow-GGUF")
    deadline = time.monotonic() + 30
    while not leftovers(online) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(online), "the download did not start"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.decode().strip().endswith("llm: error: interrupted")
    assert leftovers(online) == [] and list(hub_cache(online).rglob("*.gguf")) == []

    hub.faults.rate = None
    again = run_llm("models", "pull", "fake-org/Slow-GGUF")
    assert again.returncode == 0, again.stderr


def test_two_pulls_at_once(online: dict[str, str], hub: HubServer) -> None:
    hub.faults.rate = 4_000_000
    procs = [_start_pull(online, "fake-org/Slow-GGUF") for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    files = list(hub_cache(online).rglob("*.gguf"))
    assert len(files) == 1 and files[0].stat().st_size == 6_000_000
    assert leftovers(online) == []
    assert len(list((hub_cache(online) / "models--fake-org--Slow-GGUF" / "blobs").iterdir())) == 1


def test_offline_with_nothing_cached_exits_3(run_llm: RunLlm, cli_env: dict[str, str]) -> None:
    proc = run_llm("models", "pull", f"{SMOL}:Q4_1")  # cli_env has HF_HUB_OFFLINE=1
    assert proc.returncode == 3
    assert f"{SMOL}:Q4_1 is not downloaded and HF_HUB_OFFLINE is set" in proc.stderr


def test_terminal_gets_a_rich_progress_bar(online: dict[str, str]) -> None:
    import os
    import pty

    main, secondary = pty.openpty()
    env = {k: v for k, v in online.items() if k != "NO_COLOR"} | {"COLUMNS": "100"}
    proc = subprocess.Popen(
        [*LLM, "models", "pull", f"{MANY}:Q2_K"], env=env, stdout=subprocess.PIPE, stderr=secondary
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert f"{MANY}:Q2_K" in screen and "3.0/3.0 kB" in screen and "━" in screen
    assert b"\x1b" not in proc.stdout.read()  # type: ignore[union-attr]
