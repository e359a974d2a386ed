"""The on-disk prefix cache with real llama.cpp: a second run loads the state, same output."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.conftest import RunLlm

SYSTEM = (
    "You are a meticulous assistant. Always answer in one short sentence, in plain English, "
    "without lists or markdown, and never mention that you are a language model."
)
ARGS = ("run", "--temperature", "0", "--max-tokens", "24", "-s", SYSTEM)


def _entries(cli_env: dict[str, str]) -> list[Path]:
    return sorted((Path(cli_env["LLM_CACHE_DIR"]) / "kv").glob("*.kv"))


def test_second_run_loads_the_prefix_and_answers_the_same(
    run_llm: RunLlm, cli_env: dict[str, str]
) -> None:
    first = run_llm(*ARGS, "Name a colour")
    assert first.returncode == 0, first.stderr
    [entry] = _entries(cli_env)
    os.utime(entry, (1, 1))  # a hit touches the entry (LRU): shows the state was loaded
    second = run_llm(*ARGS, "Name a colour")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert entry.stat().st_mtime > 1
    other = run_llm(*ARGS, "Name an animal")  # same template prefix, other question: one entry
    assert other.returncode == 0 and other.stdout.strip()
    assert _entries(cli_env) == [entry]


def test_truncated_entry_is_ignored_and_rewritten(run_llm: RunLlm, cli_env: dict[str, str]) -> None:
    first = run_llm(*ARGS, "Name a colour")
    assert first.returncode == 0, first.stderr
    [entry] = _entries(cli_env)
    size = entry.stat().st_size
    entry.write_bytes(entry.read_bytes()[: size // 2])
    again = run_llm(*ARGS, "Name a colour")
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and again.stderr == ""
    assert entry.stat().st_size == size


def test_turned_off_writes_nothing_and_answers_the_same(
    run_llm: RunLlm, cli_env: dict[str, str]
) -> None:
    cached = run_llm(*ARGS, "Name a colour")
    assert cached.returncode == 0, cached.stderr
    for entry in _entries(cli_env):
        entry.unlink()
    cli_env["LLM_KV_CACHE"] = "0"
    plain = run_llm(*ARGS, "Name a colour")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == cached.stdout
    assert _entries(cli_env) == []


def test_translations_decoded_together_share_one_template_entry(
    run_llm: RunLlm, cli_env: dict[str, str]
) -> None:
    first = run_llm("translate", "--to", "pt", "Good morning.")  # a batch of one
    assert first.returncode == 0, first.stderr
    [entry] = _entries(cli_env)  # translate.toml's example turn, not the sentence
    for text in ("The train is late.", "Where is the station?\nThanks."):
        again = run_llm("translate", "--to", "pt", "--lines", stdin=text)
        assert again.returncode == 0, again.stderr
        assert len(again.stdout.splitlines()) == len(text.splitlines())
    assert _entries(cli_env) == [entry]
