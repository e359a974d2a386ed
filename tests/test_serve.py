"""`llm serve` without a model process: server discovery, command lines, the request log,
and the failures a user meets (port in use, no server, a server that dies at start)."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from llmcli.serving import Backend, Plan, RequestLog, find_backend, slot_ctx
from tests.conftest import Runner


def plan(model: Path, **kw: object) -> Plan:
    return Plan(model, "smollm2", **kw)  # type: ignore[arg-type]


def test_llama_server_gets_slots_each_with_the_asked_context(bundled_model: Path) -> None:
    server = Backend("llama-server", ("/bin/llama-server",), "/health")
    cmd = server.command(plan(bundled_model, parallel=4, ctx=1000, threads=1, api_key="s3cret"))
    at = {flag: cmd[i + 1] for i, flag in enumerate(cmd[:-1]) if flag.startswith("-")}
    assert at["-np"] == "4" and at["-c"] == str(1024 * 4) and at["-t"] == "1"
    assert at["--host"] == "127.0.0.1" and at["--alias"] == "smollm2"
    assert "s3cret" not in " ".join(cmd)  # the key travels in the environment
    assert server.environ(plan(bundled_model, api_key="s3cret"), {})["LLAMA_API_KEY"] == "s3cret"


def test_context_defaults_to_what_the_in_process_engine_uses(bundled_model: Path) -> None:
    assert slot_ctx(plan(bundled_model)) == 4096  # min(training 8192, 4096)
    assert slot_ctx(plan(bundled_model, ctx=300)) == 512


def test_python_server_command(bundled_model: Path) -> None:
    server = Backend("llama-cpp-python", ("python", "-m", "llama_cpp.server"), "/v1/models")
    cmd = server.command(plan(bundled_model, port=9000, gpu_layers="0"))
    assert cmd[:3] == ["python", "-m", "llama_cpp.server"]
    assert cmd[cmd.index("--port") + 1] == "9000" and cmd[cmd.index("--n_gpu_layers") + 1] == "0"
    assert server.environ(plan(bundled_model, api_key="k"), {})["API_KEY"] == "k"


def test_llm_llama_server_names_the_binary(tmp_path: Path) -> None:
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    found = find_backend("auto", {"LLM_LLAMA_SERVER": str(binary)})
    assert found.kind == "llama-server" and found.program == (str(binary),)
    forced = find_backend("llama-cpp-python", {"LLM_LLAMA_SERVER": str(binary)})
    assert forced.kind == "llama-cpp-python" and forced.program[1:] == ("-m", "llama_cpp.server")


def test_request_log_is_one_line_per_request() -> None:
    lines: list[str] = []
    log = RequestLog("llama-server", lines.append)
    prefix = "0.03.133.777 I slot print_timing: id  1 | task 7 | "
    log.feed("0.01.587.803 I srv    load_model: initializing, n_slots = 2")
    log.feed(prefix + "prompt eval time =     614.91 ms /    31 tokens (19.84 ms per token)")
    log.feed(prefix + "       eval time =     209.01 ms /     8 tokens (29.86 ms per token)")
    log.feed(prefix + "      total time =     823.92 ms /    39 tokens")
    log.feed('INFO:     127.0.0.1:5000 - "POST /v1/chat/completions HTTP/1.1" 200 OK')
    log.feed("0.00.100.000 E srv  load_model: failed to   load model")
    assert lines == [
        "request 7 (slot 1): 31 prompt + 8 generated tokens in 0.82 s, 38.3 tok/s",
        "POST /v1/chat/completions 200 OK (127.0.0.1:5000)",
        "llama-server: error: srv load_model: failed to load model",
    ]


def test_port_in_use_is_one_line_exit_1(llm: Runner) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = llm("serve", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"llm: error: port {port} on 127.0.0.1 is in use "
        "(pick another with --port (--port 0: any free one))"
    ]


def test_a_server_that_dies_at_start_is_one_line_exit_1(llm: Runner, tmp_path: Path) -> None:
    binary = tmp_path / "llama-server"
    binary.write_text("#!/bin/sh\necho 'main: error: unknown argument: --nope' >&2\nexit 3\n")
    binary.chmod(0o755)
    llm.environ["LLM_LLAMA_SERVER"] = str(binary)
    result = llm("serve", "--port", "0")
    assert result.exit_code == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("llm: error: llama-server exited with code 3 before it was ready")
    assert "unknown argument: --nope" in last
    assert result.stdout == ""  # no LLM_ENDPOINT line for a server that never answered


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--backend", "vllm"], "--backend must be one of"),
        (["--parallel", "0"], "--parallel must be between"),
        (["@work"], "is a server already"),
    ],
)
def test_bad_arguments_are_exit_2(llm: Runner, args: list[str], words: str) -> None:
    result = llm("serve", *args)
    assert result.exit_code == 2 and words in result.stderr


def test_not_executable_llm_llama_server(llm: Runner, tmp_path: Path) -> None:
    llm.environ["LLM_LLAMA_SERVER"] = str(tmp_path / "missing")
    result = llm("serve")
    assert result.exit_code == 1 and "not an executable file" in result.stderr
