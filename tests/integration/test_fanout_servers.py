"""Fan-out over two real llama-servers, one killed mid-batch: every input line still gets
exactly one result, in order. Structure only (labels are the model's business).

Each server gets one thread: two llama.cpp processes at two threads each on a 2-core machine
slow each other about tenfold (their threads spin), which once took a 10-line translate past
five minutes in CI."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from tests.integration.conftest import LLM
from tests.integration.servers import RunningServer, start_llama_server

TEXTS = ["I loved every minute of it.", "A dull, tired film.", "It was fine, I suppose."]
LINES = [TEXTS[n % 3] + f" (review {n})" for n in range(40)]


def two_servers(binary: Path, model: Path, logs: Path) -> tuple[RunningServer, RunningServer]:
    """Two llama-servers of two slots and one thread each (see the module docstring)."""
    first = start_llama_server(binary, model, logs, slots=2, n_threads=1)
    try:
        return first, start_llama_server(binary, model, logs, slots=2, n_threads=1)
    except BaseException:
        first.stop()
        raise


def test_one_of_two_servers_killed_mid_batch(
    cli_env: dict[str, str], llama_server_bin: Path, bundled_gguf: Path, tmp_path: Path
) -> None:
    keep, doomed = two_servers(llama_server_bin, bundled_gguf, tmp_path)
    (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    argv = [*LLM, "sentiment", "--batch", str(tmp_path / "in.txt"), "--json", "--parallel", "2"]
    argv += ["--endpoint", keep.url, "--endpoint", doomed.url]
    errors = tmp_path / "stderr.txt"
    try:
        with errors.open("w", encoding="utf-8") as sink:
            proc = subprocess.Popen(
                argv, env=cli_env, stdout=subprocess.PIPE, stderr=sink, text=True
            )
        assert proc.stdout is not None
        rows = [proc.stdout.readline() for _ in range(8)]
        doomed.kill()  # mid-batch: lines are in flight on it now
        # the rest through the same reader: communicate() reads the pipe's fd, past what
        # readline had buffered (a line lost that way once looked like a lost result)
        watchdog = threading.Timer(300, proc.kill)
        watchdog.start()
        rest = proc.stdout.read()
        proc.wait()
        watchdog.cancel()
    finally:
        keep.stop()
        doomed.kill()
    err = errors.read_text(encoding="utf-8")
    assert proc.returncode == 0, err
    results = [json.loads(row) for row in [*rows, *rest.splitlines()]]
    assert [r["line"] for r in results] == list(range(1, len(LINES) + 1)), err  # its stderr
    assert all(r["label"] in ("positive", "negative", "neutral") for r in results)
    host = doomed.url.removeprefix("http://")
    assert f"warning: {host} stopped answering" in err
    assert "Traceback" not in err


def test_translate_lines_and_summarize_fan_out_over_two_servers(
    cli_env: dict[str, str], llama_server_bin: Path, bundled_gguf: Path, tmp_path: Path
) -> None:
    servers = two_servers(llama_server_bin, bundled_gguf, tmp_path)
    where = [arg for s in servers for arg in ("--endpoint", s.url)]
    rows = ["Good morning.", "", "Where is the station?", "Thank you very much.", "42"] * 2
    try:
        lines = subprocess.run(
            [*LLM, "translate", "--to", "pt", "--lines", "--batch", "2", "--parallel", "2", *where],
            input="\n".join(rows) + "\n",
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        text = "\n\n".join(f"Paragraph {n}. " + "The weather was mild. " * 40 for n in range(6))
        summary = subprocess.run(
            [*LLM, "summarize", "--ctx", "512", "--parallel", "2", "--json", *where],
            input=text,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        for server in servers:
            server.stop()
    assert lines.returncode == 0, lines.stderr
    out = lines.stdout.split("\n")[:-1]
    assert len(out) == len(rows)
    kept = [i for i, row in enumerate(rows) if row in ("", "42")]  # nothing to translate
    assert [out[i] for i in kept] == [rows[i] for i in kept]
    assert summary.returncode == 0, summary.stderr
    data = json.loads(summary.stdout)
    assert data["parts"] > 1 and data["text"].strip()
