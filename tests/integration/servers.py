"""Real OpenAI-compatible servers on 127.0.0.1 for the integration tests: llama.cpp's
`llama-server` (built by `make servers`; `LLM_LLAMA_SERVER` names the binary) and
llama-cpp-python's `python -m llama_cpp.server`, each on a free port with the bundled model.

The fixtures in conftest.py start each server once per session; `start_*` also serve tests
that kill a server of their own (faults mid-stream, mid-batch).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BINARY_VAR = "LLM_LLAMA_SERVER"
BUILT = Path.home() / ".cache/llmcli-build/llama.cpp-0.3.36-GGML_NATIVE_OFF/bin/llama-server"
CTX = 4096  # what the in-process engine gives the bundled model (min(training, 4096))
START_TIMEOUT_S = 180.0


def threads() -> str:
    return os.environ.get("LLMCLI_TEST_THREADS", "2")


def llama_server_binary() -> Path | None:
    """LLM_LLAMA_SERVER, else the `make servers` build, else llama-server on PATH."""
    named = os.environ.get(BINARY_VAR)
    if named:
        return Path(named) if Path(named).is_file() else None
    if BUILT.is_file():
        return BUILT
    found = shutil.which("llama-server")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    kind: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def start_llama_server(
    binary: Path,
    model: Path,
    log_dir: Path,
    *,
    slots: int = 1,
    n_threads: int | None = None,
    extra: Sequence[str] = (),
) -> RunningServer:
    port = free_port()
    cmd = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port)]
    cmd += [
        "-t",
        str(n_threads or threads()),
        "-c",
        str(CTX * slots),
        "-np",
        str(slots),
        "--no-webui",
    ]
    # flash attention off, as in-process (llama-cpp-python's default; only translate's
    # context, made to decode prompts together, turns it on): the same numbers
    cmd += ["-fa", "off", *extra]
    return _start("llama-server", cmd, port, log_dir, "/health")


def start_llamacpp_python_server(model: Path, log_dir: Path) -> RunningServer:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_threads", threads()]
    cmd += ["--n_ctx", str(CTX)]
    return _start("llama-cpp-python", cmd, port, log_dir, "/v1/models")


def _start(kind: str, cmd: list[str], port: int, log_dir: Path, ready: str) -> RunningServer:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{kind}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    server = RunningServer(kind, f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + ready, timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{kind} did not get ready in {START_TIMEOUT_S:.0f}s:\n{server.log_tail()}")
