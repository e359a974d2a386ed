"""Integration tests run the real `llm` on the bundled model in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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
