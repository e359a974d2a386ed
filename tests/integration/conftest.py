"""Integration tests run the real `llm` on the bundled model in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.integration.servers import RunningServer

LLM = [sys.executable, "-m", "llmcli"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "HF_"))}
    env.update(
        NO_COLOR="1",
        LLM_CONFIG_DIR=str(tmp_path / "config"),
        LLM_DATA_DIR=str(tmp_path / "data"),
        LLM_CACHE_DIR=str(tmp_path / "cache"),
        HF_HOME=str(tmp_path / "hf"),
        HF_HUB_OFFLINE="1",
        # LLMCLI_TEST_THREADS=1 when several test runs share the 2 cores (spinning threads
        # of two llama.cpp processes slow each other about tenfold)
        LLM_THREADS=os.environ.get("LLMCLI_TEST_THREADS", "2"),
    )
    return env


RunLlm = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_llm(cli_env: dict[str, str]) -> RunLlm:
    def run(
        *args: str, stdin: str | bytes = b"", timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            [*LLM, *args], input=data, capture_output=True, env=cli_env, timeout=timeout
        )
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

    return run


# -- real servers (tests/integration/servers.py), each started once per session -----------


@pytest.fixture(scope="session")
def bundled_gguf() -> Path:
    from llmcli.models import bundled_model_path

    path = bundled_model_path()
    if path is None:
        pytest.fail("the bundled model is not installed: run `make install`")
    return path


@pytest.fixture(scope="session")
def llama_server_bin() -> Path:
    from tests.integration.servers import BINARY_VAR, llama_server_binary

    binary = llama_server_binary()
    if binary is None:
        pytest.skip(f"no llama-server: run `make servers` or set {BINARY_VAR}")
    return binary


@pytest.fixture(scope="session")
def llama_server(
    llama_server_bin: Path, bundled_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """llama.cpp's llama-server on the bundled model, one slot of the in-process context."""
    from tests.integration.servers import start_llama_server

    server = start_llama_server(llama_server_bin, bundled_gguf, tmp_path_factory.mktemp("srv"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llamacpp_python_server(
    bundled_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """llama-cpp-python's own server (the package's [server] extra) on the bundled model."""
    from tests.integration.servers import start_llamacpp_python_server

    server = start_llamacpp_python_server(bundled_gguf, tmp_path_factory.mktemp("srv"))
    yield server
    server.stop()
