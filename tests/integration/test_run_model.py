"""`llm run` end to end on the bundled SmolLM2 through real llama.cpp."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.integration.conftest import LLM, RunLlm


def test_piped_answer_has_text_and_no_escape_codes(run_llm: RunLlm) -> None:
    proc = run_llm(
        "run", "--seed", "1", "Say this in other words", stdin="Paris is the capital of France."
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "\x1b" not in proc.stdout
    assert proc.stderr == ""


def test_json_has_text_model_and_timings(run_llm: RunLlm) -> None:
    proc = run_llm("run", "--json", "--max-tokens", "16", "--seed", "1", "hi")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["text"].strip()
    assert data["model"] == "smollm2"
    assert data["model_path"].endswith(".gguf")
    timings = data["timings"]
    assert 0 < timings["generated_tokens"] <= 16
    assert timings["prompt_tokens"] > 0 and timings["tokens_per_s"] > 0


def test_same_seed_same_answer(run_llm: RunLlm) -> None:
    args = ("run", "--seed", "7", "--max-tokens", "20", "Name a colour")
    first, second = run_llm(*args), run_llm(*args)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_max_tokens_caps_generation(run_llm: RunLlm) -> None:
    proc = run_llm("run", "--json", "--max-tokens", "5", "--temperature", "0", "Write a long story")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["timings"]["generated_tokens"] == 5
    assert data["timings"]["finish_reason"] == "length"


def test_prompt_longer_than_context_exits_4(run_llm: RunLlm) -> None:
    proc = run_llm("run", "--ctx", "256", "Summarize", stdin="The cat sat on the mat. " * 200)
    assert proc.returncode == 4
    assert "tokens" in proc.stderr and "Traceback" not in proc.stderr


def test_text_file_named_gguf_exits_3(run_llm: RunLlm, tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    proc = run_llm("run", "-m", str(fake), "hi")
    assert proc.returncode == 3
    assert "not a GGUF model file" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_truncated_real_gguf_exits_3(run_llm: RunLlm, tmp_path: Path, bundled_model: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with bundled_model.open("rb") as src:
        cut.write_bytes(src.read(20_000_000))
    proc = run_llm("run", "-m", str(cut), "hi")
    assert proc.returncode == 3
    assert "truncated" in proc.stderr


def test_directory_as_model_exits_3(run_llm: RunLlm, tmp_path: Path) -> None:
    proc = run_llm("run", "-m", str(tmp_path), "hi")
    assert proc.returncode == 3
    assert "directory" in proc.stderr


def test_info_names_default_model(run_llm: RunLlm) -> None:
    proc = run_llm("info", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["default_model"]["spec"] == "smollm2"
    assert Path(data["default_model"]["path"]).is_file()
    assert "llama_cpp_python" in data


def test_ctrl_c_during_generation_exits_130_and_keeps_text(cli_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [
            *LLM,
            "run",
            "--temperature",
            "1",
            "--max-tokens",
            "4000",
            "--ctx",
            "4096",
            "Write a very long essay about the history of the sea",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env,
    )
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 20)  # started; unbuffered, as communicate reads
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert first and len(first + out) > 20
    assert b"interrupted" in err and b"Traceback" not in err
