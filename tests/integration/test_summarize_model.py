"""`llm summarize` end to end on the bundled SmolLM2 through real llama.cpp: the contracts,
not the wording (a 135M model's summaries are not asserted). What the summaries say, a
preamble included, is checked in bench/checks.py (`python -m bench checks`)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import RunLlm

ARTICLE = """\
The city council voted on Tuesday to build a new public library on the site of the old bus
depot. Construction will cost fourteen million dollars and is expected to start next spring.

Supporters said the current library is too small and floods every winter. Two councillors
opposed the plan and said the money should go to road repairs first.
"""


def test_piped_summary_is_plain_text(run_llm: RunLlm) -> None:
    proc = run_llm("summarize", "--length", "short", stdin=ARTICLE, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "\x1b" not in proc.stdout and "\x1b" not in proc.stderr


def test_json_reports_model_tokens_and_timings(run_llm: RunLlm) -> None:
    proc = run_llm("summarize", "--json", "--words", "30", stdin=ARTICLE, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["text"].strip()
    assert data["model"] == "smollm2" and data["parts"] == 1
    assert data["input_tokens"] > 50 and data["output_tokens"] > 0
    assert data["timings"]["calls"] == 1 and data["timings"]["generated_tokens"] > 0


@pytest.mark.slow
def test_map_reduce_on_ten_times_the_context(run_llm: RunLlm) -> None:
    paragraphs = [
        f"Report {i}: the team in region {i} sold {i * 7} machines and hired {i % 5} people. "
        f"Customers in region {i} asked for longer warranties and faster delivery."
        for i in range(130)
    ]
    text = "\n\n".join(paragraphs)  # about 5,300 tokens: ten times a 512-token context
    proc = run_llm("summarize", "--ctx", "512", "--json", stdin=text, timeout=900)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["input_tokens"] > 10 * 512
    assert data["parts"] >= 10 and data["rounds"] >= 1
    assert data["timings"]["calls"] > data["parts"]
    assert data["text"].strip()
    assert "summarizing parts" in proc.stderr  # progress goes to stderr, never stdout


def test_bad_input_exit_codes(run_llm: RunLlm) -> None:
    assert run_llm("summarize", stdin="").returncode == 4
    assert run_llm("summarize", stdin=b"\x00\x01binary").returncode == 4
    proc = run_llm("summarize", "-t", "nope", stdin="text")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
