"""The commands through --endpoint on real servers (llama-server, llama-cpp-python's server)
with the bundled model; faults by killing a server mid-reply. Structure and exit codes only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.integration.conftest import LLM, RunLlm
from tests.integration.servers import RunningServer, free_port, start_llama_server

JSON_KEYS = {"text", "model", "model_path", "template", "timings"}


def test_run_json_has_the_in_process_shape_plus_the_endpoint(
    run_llm: RunLlm, llama_server: RunningServer
) -> None:
    args = ["run", "--endpoint", llama_server.url, "--json", "--max-tokens", "8", "Say hi"]
    result = run_llm(*args)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS | {"endpoint"} and data["endpoint"] == llama_server.url
    assert data["model"] == Path(data["model_path"]).name  # the server's only model
    timings = data["timings"]
    assert timings["prompt_tokens"] > 0 and 1 <= timings["generated_tokens"] <= 8


def test_sentiment_scores_match_in_process(
    run_llm: RunLlm, llama_server: RunningServer, bundled_gguf: Path
) -> None:
    """Same model, same prompt: the server's forced-token log-probabilities give the
    in-process label distribution (to float noise: 1e-4 in log-probability, measured)."""
    text = "The film was a delight from start to finish."
    local = run_llm("sentiment", "--json", "-m", str(bundled_gguf), text)
    remote = run_llm("sentiment", "--json", "--endpoint", llama_server.url, text)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    a, b = json.loads(local.stdout), json.loads(remote.stdout)
    assert a["label"] == b["label"]
    assert a["probs"].keys() == b["probs"].keys()
    for label, p in a["probs"].items():
        assert abs(p - b["probs"][label]) < 0.005, (label, a["probs"], b["probs"])


def test_translate_lines_keeps_the_line_count(run_llm: RunLlm, llama_server: RunningServer) -> None:
    lines = "Good morning.\nThe cat sleeps.\n\nThank you very much.\n"
    args = ["translate", "--to", "pt", "--lines", "--endpoint", llama_server.url]
    result = run_llm(*args, stdin=lines, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == lines.count("\n")


def test_summarize_through_a_named_endpoint(
    run_llm: RunLlm, cli_env: dict[str, str], llama_server: RunningServer
) -> None:
    config = Path(cli_env["LLM_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(f'[endpoints.srv]\nurl = "{llama_server.url}/v1"\n')
    text = "The council met on Monday. It approved a new park and a bike lane. " * 3
    result = run_llm("summarize", "-m", "@srv", "--json", "--max-tokens", "40", stdin=text)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"].strip() and data["endpoint"] == llama_server.url + "/v1"


def test_scripted_chat_on_a_named_endpoint(
    run_llm: RunLlm, cli_env: dict[str, str], llama_server: RunningServer
) -> None:
    """(/model switching local <-> remote is a REPL command: tests/test_remote_cli.py.)"""
    config = Path(cli_env["LLM_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text(f'[endpoints.srv]\nurl = "{llama_server.url}"\n')
    script = "hello\nhow are you?\n"
    result = run_llm("chat", "-m", "@srv", "--max-tokens", "6", stdin=script, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n\n") >= 1  # two replies, a blank line apart


def test_unknown_model_and_connection_refused(run_llm: RunLlm, llama_server: RunningServer) -> None:
    result = run_llm("run", "--endpoint", llama_server.url, "-m", "no-such-model", "hi")
    assert result.returncode == 3 and "has no model 'no-such-model'" in result.stderr
    assert "Traceback" not in result.stderr
    dead = f"http://127.0.0.1:{free_port()}"
    result = run_llm("run", "--endpoint", dead, "hi")
    assert result.returncode == 5, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot connect" in result.stderr


def test_api_key_refused_then_server_killed_mid_reply(
    cli_env: dict[str, str], llama_server_bin: Path, bundled_gguf: Path, tmp_path: Path
) -> None:
    """A wrong key: one line naming LLM_API_KEY, the key never shown. Then the right key,
    and the server SIGKILLed mid-reply: the partial text stays on stdout, one line, exit 1."""
    server = start_llama_server(
        llama_server_bin, bundled_gguf, tmp_path, extra=["--api-key", "s3cret-key"]
    )
    try:
        env = {**cli_env, "LLM_API_KEY": "wrong-key-123"}
        args = [*LLM, "run", "--endpoint", server.url, "hi"]
        denied = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        assert denied.returncode == 5 and "LLM_API_KEY" in denied.stderr
        assert "wrong-key-123" not in denied.stderr + denied.stdout
        env["LLM_API_KEY"] = "s3cret-key"
        story = [*LLM, "run", "--endpoint", server.url, "--max-tokens", "2000"]
        story += ["--temperature", "1", "Write a very long story about a dragon."]
        proc = subprocess.Popen(story, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        first = os.read(proc.stdout.fileno(), 64)  # the reply has started
        assert first
        server.kill()
        rest, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 1, err
    assert (first + rest).strip()  # the partial reply is kept
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "broke off the reply" in lines[0], err


def test_llama_cpp_python_server_runs_and_says_it_cannot_score(
    run_llm: RunLlm, llamacpp_python_server: RunningServer
) -> None:
    url = llamacpp_python_server.url
    result = run_llm("run", "--endpoint", url, "--max-tokens", "5", "--json", "Hi")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["timings"]["prompt_tokens"] > 0
    result = run_llm("sentiment", "--endpoint", url, "I love it")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].count("cannot score labels") == 1
