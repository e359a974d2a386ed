"""`llm serve` below the CLI: serve a model file on an OpenAI-compatible API through a server
that already exists (no HTTP server of our own).

llama.cpp's `llama-server` is preferred: `LLM_LLAMA_SERVER` names the binary, else it is
looked up on PATH, else in the `make servers` build. Without it, llama-cpp-python's own
server (`python -m llama_cpp.server`, the `[server]` extra) serves the model, one request at
a time. The child process is ours: started with the shared runtime settings, watched until
its API answers, its log turned into one line per request, and always terminated and waited
for (on Linux it also dies with us, if we are killed).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from llmcli.errors import LlmError, UsageError

SERVER_VAR = "LLM_LLAMA_SERVER"
BUILT = Path.home() / ".cache/llmcli-build/llama.cpp-0.3.36-GGML_NATIVE_OFF/bin/llama-server"
BACKENDS = ("auto", "llama-server", "llama-cpp-python")
DEFAULT_CTX = 4096  # per request, as the in-process engine: min(training context, this)
READY_TIMEOUT_S = 600.0  # loading a big model from a slow disk takes a while
STOP_TIMEOUT_S = 15.0
LineFn = Callable[[str], None]


class ServeError(LlmError):
    """The server could not start, or stopped by itself (exit code 1)."""


@dataclass(frozen=True)
class Plan:
    """What to serve and how; built from the command line and Settings."""

    model: Path
    name: str  # the model id clients see (/v1/models)
    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str | None = None
    parallel: int = 1
    ctx: int | None = None  # per request; None: min(training context, DEFAULT_CTX)
    threads: int | None = None
    gpu_layers: str = "auto"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"


@dataclass(frozen=True)
class Backend:
    kind: str  # "llama-server" | "llama-cpp-python"
    program: tuple[str, ...]
    ready_path: str  # answers 200 once the model is loaded

    def command(self, plan: Plan) -> list[str]:
        if self.kind == "llama-server":
            return [*self.program, *_llama_server_args(plan)]
        return [*self.program, *_python_server_args(plan)]

    def environ(self, plan: Plan, base: Mapping[str, str]) -> dict[str, str]:
        """The child's environment: the key goes here, not on a command line `ps` shows."""
        env = dict(base)
        if plan.api_key:
            env["LLAMA_API_KEY" if self.kind == "llama-server" else "API_KEY"] = plan.api_key
        return env


def find_backend(choice: str, environ: Mapping[str, str]) -> Backend:
    """The server program for `--backend` (auto: llama-server when there is one)."""
    if choice not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {choice!r}")
    if choice != "llama-cpp-python":
        binary = _llama_server(environ)
        if binary is not None:
            return Backend("llama-server", (str(binary),), "/health")
        if choice == "llama-server":
            raise ServeError(
                "no llama-server found",
                hint=f"build it with `make servers`, put it on PATH, or set {SERVER_VAR}",
            )
    missing = [m for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette") if not _has(m)]
    if missing:
        raise ServeError(
            f"no server to run: no llama-server, and llama-cpp-python's server lacks {missing[0]}",
            hint="`make servers` builds llama-server; or pip install 'llmcli[server]'",
        )
    return Backend("llama-cpp-python", (sys.executable, "-m", "llama_cpp.server"), "/v1/models")


def _llama_server(environ: Mapping[str, str]) -> Path | None:
    named = environ.get(SERVER_VAR)
    if named:
        path = Path(named).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServeError(f"{SERVER_VAR}={named}: not an executable file")
        return path
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    return BUILT if BUILT.is_file() else None


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def slot_ctx(plan: Plan) -> int:
    """Tokens of context per request, as the in-process engine would give this model."""
    if plan.ctx:
        return -(-plan.ctx // 256) * 256
    from llmcli.engine.gguf import read_gguf

    trained = read_gguf(plan.model).context_length or DEFAULT_CTX
    return min(trained, DEFAULT_CTX)


def _llama_server_args(plan: Plan) -> list[str]:
    # llama-server splits -c over its slots: each of the -np slots gets the context asked for
    args = ["-m", str(plan.model), "--host", plan.host, "--port", str(plan.port)]
    args += ["-np", str(plan.parallel), "-c", str(slot_ctx(plan) * plan.parallel)]
    args += ["--alias", plan.name, "--no-webui", "--log-colors", "off"]
    if plan.threads:
        args += ["-t", str(plan.threads)]
    gpu = plan.gpu_layers.strip().lower()
    if gpu != "auto":
        args += ["-ngl", "999" if gpu in ("all", "-1") else gpu]
    return args


def _python_server_args(plan: Plan) -> list[str]:
    args = ["--model", str(plan.model), "--model_alias", plan.name]
    args += ["--host", plan.host, "--port", str(plan.port), "--n_ctx", str(slot_ctx(plan))]
    if plan.threads:
        args += ["--n_threads", str(plan.threads), "--n_threads_batch", str(plan.threads)]
    gpu = plan.gpu_layers.strip().lower()
    args += ["--n_gpu_layers", "-1" if gpu in ("auto", "all") else gpu]
    return args


def free_port(host: str) -> int:
    with socket.socket(_family(host)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """One clear line before the server starts: a taken port, an address not ours."""
    with socket.socket(_family(host)) as sock:
        try:
            sock.bind((host, port))
        except PermissionError:
            raise ServeError(
                f"not allowed to listen on port {port}", hint="ports under 1024 need root"
            ) from None
        except OSError as exc:
            if exc.errno == 98 or "in use" in str(exc).lower():  # EADDRINUSE
                raise ServeError(
                    f"port {port} on {host} is in use",
                    hint="pick another with --port (--port 0: any free one)",
                ) from None
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# -- the request log ------------------------------------------------------------------------

_SLOT = re.compile(
    r"id\s+(\d+) \| task (\d+) \| +(prompt eval|eval|total) time = +([\d.]+) ms / +(\d+) tokens"
)
_ACCESS = re.compile(r'^INFO:\s+(\S+) - "(\w+) (\S+) HTTP/[\d.]+" (\d{3}.*)$')
_ERROR = re.compile(r"^[\d.]+ E (.*)$")


class RequestLog:
    """The server's log lines -> one readable line per request (llama-server's timings or
    uvicorn's access log); errors are passed on; with `everything`, every line is."""

    def __init__(self, kind: str, emit: LineFn, everything: bool = False) -> None:
        self.kind = kind
        self.emit = emit
        self.everything = everything
        self.pending: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}

    def feed(self, line: str) -> None:
        if self.everything:
            self.emit(f"{self.kind}: {line}")
            return
        slot = _SLOT.search(line)
        if slot:
            self._timing(*slot.groups())
            return
        access = _ACCESS.match(line)
        if access:
            client, method, path, status = access.groups()
            self.emit(f"{method} {path} {status} ({client})")
            return
        error = _ERROR.match(line)
        if error:
            self.emit(f"{self.kind}: error: {' '.join(error.group(1).split())}")

    def _timing(self, slot: str, task: str, what: str, ms: str, tokens: str) -> None:
        parts = self.pending.setdefault((slot, task), {})
        parts[what] = (float(ms), int(tokens))
        if what != "total":
            return
        del self.pending[(slot, task)]
        prompt = parts.get("prompt eval", (0.0, 0))[1]
        gen_ms, gen = parts.get("eval", (0.0, 0))
        rate = f", {gen * 1000 / gen_ms:.1f} tok/s" if gen_ms > 0 and gen > 1 else ""
        self.emit(
            f"request {task} (slot {slot}): {prompt} prompt + {gen} generated tokens "
            f"in {float(ms) / 1000:.2f} s{rate}"
        )


# -- the child process ----------------------------------------------------------------------


class ServerProcess:
    """A running server: started, watched until ready, stopped and waited for."""

    def __init__(self, backend: Backend, plan: Plan, log: RequestLog) -> None:
        self.backend = backend
        self.plan = plan
        self.log = log
        self.tail: deque[str] = deque(maxlen=30)  # for the reason when it fails to start
        self.ready = False
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None

    def start(self, environ: Mapping[str, str]) -> None:
        try:
            self.proc = subprocess.Popen(
                self.backend.command(self.plan),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.backend.environ(self.plan, environ),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise ServeError(f"cannot start {self.backend.kind}: {exc.strerror or exc}") from None
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip()
            if not line:
                continue
            self.tail.append(line)
            self.log.feed(line)

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until the API answers; the child's own last words when it exits first."""
        from llmcli.engine.http import load_httpx

        httpx = load_httpx()

        assert self.proc is not None
        url = self.plan.url.removesuffix("/v1") + self.backend.ready_path
        headers = {"Authorization": f"Bearer {self.plan.api_key}"} if self.plan.api_key else {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._exited("before it was ready")
            try:
                if httpx.get(url, headers=headers, timeout=2.0).status_code == 200:
                    self.ready = True
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ServeError(f"{self.backend.kind} was not ready after {timeout_s:.0f} s")

    def wait(self) -> None:
        """Serve until the child stops by itself (an error) or we are interrupted."""
        assert self.proc is not None
        while self.proc.poll() is None:
            time.sleep(0.2)  # short sleeps: Ctrl-C and SIGTERM are handled at once
        raise self._exited("while serving")

    def stop(self) -> int | None:
        """Terminate the child (if still running) and wait for it; its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.reader is not None:
            self.reader.join(timeout=2)
        return self.proc.returncode

    def _exited(self, when: str) -> ServeError:
        assert self.proc is not None
        if self.reader is not None:
            self.reader.join(timeout=2)  # the last lines say why
        why = _reason(list(self.tail))
        return ServeError(
            f"{self.backend.kind} exited with code {self.proc.returncode} {when}"
            + (f": {why}" if why else ""),
            hint="rerun with --verbose for its log",
        )


def _reason(lines: list[str]) -> str:
    """The most telling of a failed server's last lines: an error line, else the last one."""
    for line in reversed(lines):
        if _ERROR.match(line) or "error" in line.lower():
            return " ".join(line.split())[:300]
    return " ".join(lines[-1].split())[:300] if lines else ""


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when `llm` dies, even by SIGKILL (Linux)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
