"""`llm serve` for real: the bundled model behind llama-server and llama-cpp-python's
server, called over HTTP, stopped with SIGINT: exit 0 and no server process left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import LLM

READY_S = 180.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Served:
    def __init__(self, cli_env: dict[str, str], *args: str) -> None:
        argv = [*LLM, "serve", "--port", "0", "--threads", "1", *args]
        self.proc = subprocess.Popen(
            argv, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.url = self._endpoint()

    def _endpoint(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + READY_S
        line = self.proc.stdout.readline()  # blocks until the server is ready (or llm exits)
        if not line.startswith("LLM_ENDPOINT=") or time.monotonic() > deadline:
            self.proc.kill()
            raise AssertionError(f"no endpoint line: {line!r}\n{self.proc.stderr.read()}")  # type: ignore[union-attr]
        return line.strip().removeprefix("LLM_ENDPOINT=")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


Serve = Callable[..., Served]


@pytest.fixture
def serve(cli_env: dict[str, str]) -> Iterator[Serve]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        started.append(Served(cli_env, *args))
        return started[-1]

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()


def chat(url: str, key: str | None = None) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=120)


@pytest.mark.parametrize("backend", ["llama-server", "llama-cpp-python"])
def test_serve_answers_and_stops_cleanly_on_sigint(
    serve: Serve, llama_server_bin: Path, backend: str
) -> None:
    served = serve("--backend", backend)
    assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/v1")
    server_pids = children(served.proc.pid)
    assert len(server_pids) == 1
    answer = chat(served.url)
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"].strip()
    time.sleep(0.5)  # the request's log line
    code, err = served.stop()
    assert code == 0, err
    assert f"with {backend}" in err and f"stopped {backend}" in err
    if backend == "llama-server":
        assert "generated tokens in" in err  # one line per request
    else:
        assert "POST /v1/chat/completions 200" in err
    assert "Traceback" not in err
    assert not any(alive(pid) for pid in server_pids)


def test_serve_with_a_key_refuses_requests_without_it(serve: Serve, llama_server_bin: Path) -> None:
    served = serve("--api-key", "s3cret", "--parallel", "2")
    assert chat(served.url).status_code == 401
    assert chat(served.url, key="s3cret").status_code == 200
    code, err = served.stop()
    assert code == 0 and "s3cret" not in err


def test_llm_commands_use_the_served_model(
    serve: Serve, llama_server_bin: Path, cli_env: dict[str, str]
) -> None:
    served = serve()
    env = {**cli_env, "LLM_ENDPOINT": served.url}
    args = [*LLM, "translate", "--to", "pt", "Good morning"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    code, _ = served.stop()
    assert code == 0


def test_sigterm_stops_it_too(serve: Serve, llama_server_bin: Path) -> None:
    served = serve()
    pids = children(served.proc.pid)
    code, err = served.stop(signal.SIGTERM)
    assert code == 0 and "stopped llama-server" in err
    assert not any(alive(pid) for pid in pids)
