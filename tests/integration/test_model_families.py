"""Model families end to end on real llama.cpp: a base model (Gemma 3 270M, `make gemma`),
and the bundled model re-labelled with broken and real chat templates. Structure only: the
wording of the answers is checked in bench/checks.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmcli.models import bundled_model_path
from tests.integration.conftest import RunLlm
from tests.relabel import relabel
from tests.test_chat_templates import TEMPLATES

GEMMA = Path(
    os.environ.get("LLMCLI_GEMMA", "~/.cache/llmcli-build/gemma3-270m/gemma-3-270m-q4_k_m.gguf")
).expanduser()
MARKERS = ("<start_of_turn>", "<end_of_turn>", "<|im_start|>", "<|im_end|>", "[INST]", "<|eot_id|>")
needs_gemma = pytest.mark.skipif(not GEMMA.is_file(), reason=f"run `make gemma` ({GEMMA})")


@pytest.fixture(scope="module")
def relabelled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    bundled = bundled_model_path()
    assert bundled is not None, "the bundled model is not installed: run `make install`"
    root = tmp_path_factory.mktemp("relabelled")
    templates = {
        "syntax": "{% for m in messages %}{{ m.content }}",
        "raises": "{{ 1/0 }}",
        "mistral": (TEMPLATES / "Mistral-Small-3.2-24B-Instruct-2506.jinja").read_text(),
    }
    copies = {name: relabel(bundled, root / f"{name}.gguf", t) for name, t in templates.items()}
    own = (TEMPLATES / "HuggingFaceTB-SmolLM3-3B.jinja").read_text()
    named = {"tool_use": "{% for %}"}  # llama-cpp-python compiles it at load: it must not fail
    copies["named"] = relabel(bundled, root / "named.gguf", own, named)
    return copies


def _no_markers(text: str) -> None:
    for marker in MARKERS:
        assert marker not in text


@needs_gemma
def test_gemma_base_model_answers_and_stops_on_its_own(run_llm: RunLlm) -> None:
    result = run_llm("run", "-m", str(GEMMA), "--json", "What is the capital of France?")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["timings"]["finish_reason"] == "stop"
    assert data["timings"]["generated_tokens"] < 300
    _no_markers(data["text"])
    assert "base model" in result.stderr


@needs_gemma
def test_gemma_base_model_cannot_chat(run_llm: RunLlm) -> None:
    result = run_llm("chat", "-m", str(GEMMA), stdin="hello\n")
    assert result.returncode == 3
    assert "is a base model" in result.stderr.splitlines()[-1]


def test_a_template_that_does_not_compile_is_exit_3(
    run_llm: RunLlm, relabelled: dict[str, Path]
) -> None:
    result = run_llm("run", "-m", str(relabelled["syntax"]), "hi")
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "syntax.gguf's chat template does not compile" in result.stderr
    assert "--chat-template" in result.stderr
    fixed = run_llm(
        "run",
        "-m",
        str(relabelled["syntax"]),
        "--chat-template",
        "chatml",
        "--max-tokens",
        "8",
        "hi",
    )
    assert fixed.returncode == 0, fixed.stderr


def test_a_template_that_raises_is_exit_3(run_llm: RunLlm, relabelled: dict[str, Path]) -> None:
    result = run_llm("run", "-m", str(relabelled["raises"]), "hi")
    assert result.returncode == 3
    assert "ZeroDivisionError" in result.stderr and "Traceback" not in result.stderr


def test_mistral_small_template_with_strftime_now_runs(
    run_llm: RunLlm, relabelled: dict[str, Path]
) -> None:
    args = ("-m", str(relabelled["mistral"]), "--max-tokens", "16", "--temperature", "0")
    result = run_llm("run", *args, "--json", "Say hello")
    assert result.returncode == 0, result.stderr
    _no_markers(json.loads(result.stdout)["text"])


def test_a_broken_named_template_we_never_use_does_not_stop_the_load(
    run_llm: RunLlm, relabelled: dict[str, Path]
) -> None:
    result = run_llm("run", "-m", str(relabelled["named"]), "--max-tokens", "8", "hi")
    assert result.returncode == 0, result.stderr
