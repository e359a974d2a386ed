"""`llm translate` end to end on the bundled SmolLM2 through real llama.cpp: line counts,
blank lines, determinism, no escape codes. The quality of a 135M model is measured in bench/,
what its translations say (no chatter, no wrapping quotes) in bench/checks.py."""

from __future__ import annotations

import json

from tests.integration.conftest import RunLlm

LINES = "Good morning.\n\nThe train leaves at noon.\nThank you very much.\n\n\nSee you tomorrow.\n"


def test_lines_mode_keeps_count_and_blank_lines(run_llm: RunLlm) -> None:
    proc = run_llm(
        "translate", "--to", "pt", "--lines", "--max-tokens", "48", stdin=LINES, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split("\n")
    src = LINES.split("\n")
    assert len(out) == len(src)
    assert [i for i, line in enumerate(out) if not line.strip()] == [
        i for i, line in enumerate(src) if not line.strip()
    ]
    assert all(line.strip() for line, s in zip(out, src, strict=True) if s.strip())
    assert "\x1b" not in proc.stdout


def test_document_keeps_paragraphs_and_is_deterministic(run_llm: RunLlm) -> None:
    text = "The weather is nice today.\n\nWe are going to the beach.\n"
    first = run_llm("translate", "--to", "Portuguese", stdin=text, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\n\n") == 1 and first.stdout.endswith("\n")
    assert all(p.strip() for p in first.stdout.split("\n\n"))
    second = run_llm("translate", "--to", "Portuguese", stdin=text, timeout=300)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout  # temperature 0 by default


def test_json_names_languages_and_counts(run_llm: RunLlm) -> None:
    proc = run_llm(
        "translate", "--to", "português", "--from", "en", "--json", "Good morning.", timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["source_language"], data["target_language"]) == ("en", "pt")
    assert data["text"].strip() and data["input_tokens"] > 0 and data["output_tokens"] > 0
    assert data["timings"]["calls"] == 1


def test_unknown_language_is_exit_2_with_suggestion(run_llm: RunLlm) -> None:
    proc = run_llm("translate", "--to", "Portugueze", "hello")
    assert proc.returncode == 2
    assert "Portuguese (pt)" in proc.stderr and proc.stderr.count("\n") == 1
