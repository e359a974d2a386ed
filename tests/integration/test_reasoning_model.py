"""Reasoning on real llama.cpp: the bundled model behind a DeepSeek-R1 distill's template
(its generation prompt opens `<think>`), in a child process. The split is checked against
the same model's raw stream, so nothing here depends on what the model says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import RunLlm

SDIST = Path.home() / ".cache" / "llmcli-build" / "llama-cpp-python-0.3.36"
TEMPLATE = (
    SDIST / "vendor/llama.cpp/models/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"
)

CHILD = """
import dataclasses, json, sys
from llmcli.engine import GenerationOptions, Message, join_stream
from llmcli.engine import _native
from llmcli.engine.gguf import read_gguf
from llmcli.engine.llama import LlamaEngine
from llmcli.engine.scoring import prompt_text

path, template, threads = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3])
info = read_gguf(path)
info = dataclasses.replace(info, metadata={**info.metadata, "tokenizer.chat_template": template})
native = _native.load(info.path, n_ctx=1024, gpu="0", threads=threads, sink=_native.LogSink())
engine = LlamaEngine(native, info)
messages = [Message("user", "What is the capital of France?")]
out = {"format": engine.thinking and engine.thinking.name}
for think in (None, False):
    options = GenerationOptions(temperature=0, max_tokens=24, think=think)
    done = join_stream(engine.stream(messages, options))
    tokens, state = engine._thinking_prompt(engine.prompt_tokens(messages), think is False)
    raw = join_stream(engine._stream_tokens(tokens, options))
    out[str(think)] = {"text": done.text, "reasoning": done.reasoning, "raw": raw.text,
                       "state": state, "tail": prompt_text(native, tokens[-6:])}
scored, _ = engine._thinking_prompt(engine.prompt_tokens(messages), True)
out["scores"] = engine.score(messages, ["positive", "negative"])
out["score_tail"] = prompt_text(native, scored[-6:])
engine.close()
print(json.dumps(out))
"""


@pytest.fixture
def split_run(bundled_model: Path) -> dict[str, object]:
    if not TEMPLATE.is_file():
        pytest.skip("the llama-cpp-python sdist is not unpacked (make install does it)")
    threads = os.environ.get("LLMCLI_TEST_THREADS", "2")
    argv = [sys.executable, "-c", CHILD, str(bundled_model), str(TEMPLATE), threads]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def _expected_split(raw: str) -> tuple[str, str]:
    """(reasoning, text) of a reply whose prompt opened the block: thinking until </think>."""
    if "</think>" in raw:
        thought, answer = raw.split("</think>", 1)
        return thought.strip(), answer.lstrip()
    return raw.strip(), ""


def test_a_prompt_opened_block_is_thinking(split_run: dict[str, object]) -> None:
    assert split_run["format"] == "think"
    default = split_run["None"]
    assert isinstance(default, dict)
    assert default["state"] == "think"
    assert (default["reasoning"], default["text"]) == _expected_split(default["raw"])


def test_no_think_closes_the_block_in_the_prompt(split_run: dict[str, object]) -> None:
    off = split_run["False"]
    assert isinstance(off, dict)
    assert off["state"] == "answer" and off["tail"].endswith("</think>\n\n")
    assert off["reasoning"] == ""
    assert off["text"] == off["raw"].lstrip()


def test_labels_are_scored_after_a_closed_block(split_run: dict[str, object]) -> None:
    assert str(split_run["score_tail"]).endswith("</think>\n\n")
    scores = split_run["scores"]
    assert isinstance(scores, list) and len(scores) == 2 and all(s < 0 for s in scores)


def test_run_json_of_a_plain_model_has_an_empty_reasoning(run_llm: RunLlm) -> None:
    proc = run_llm("run", "--json", "--max-tokens", "16", "--temperature", "0", "Say hi.")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["reasoning"] == ""
    assert data["timings"]["finish_reason"] in ("stop", "length")
