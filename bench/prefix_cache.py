"""The on-disk prefix KV cache: the same command in a loop, cache on against cache off.

A script calling `llm sentiment` or `llm run -t TEMPLATE` per item starts a new process each
time; with the cache, the template's fixed prefix (system prompt, few-shot examples) is
loaded from `<cache dir>/kv/` instead of evaluated again.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    LLM,
    Sample,
    check,
    command,
    interleaved,
    llm_env,
    med_wall,
    median,
    run_cmd,
    table,
    threads,
)

ROUNDS = 3

# A template with a realistic fixed prefix: a style guide and three worked examples.
TEMPLATE = '''\
name = "house-style"
description = "Rewrite a sentence in the house style (benchmark template)"
system = """
You are the copy editor of a small newspaper. Rewrite the sentence you are given in the
house style. The house style: short sentences; active voice; no jargon; numbers from one to
nine in words and 10 and above in figures; dates as day month year without ordinals; no
exclamation marks; no adverbs ending in -ly where a stronger verb will do; titles of people
only on first mention; the names of organisations spelled out on first mention with the
abbreviation in brackets; British spelling; single quotation marks, double inside single;
the serial comma only where it prevents ambiguity. Keep every fact of the original. Do not
add facts. Do not comment on the sentence or explain your changes: reply with the rewritten
sentence and nothing else.
"""
user = "{{ text }}"

[[examples]]
user = "The committee has finally decided that the meeting will be held on the 3rd of May!"
assistant = "The committee decided to hold the meeting on 3 May."

[[examples]]
user = "Our Chief Executive Officer, Dr. Jane Smith, is very excited about the 5 new stores."
assistant = "Jane Smith, the chief executive, welcomed the five new stores."

[[examples]]
user = "It was widely reported by the media that the W.H.O. had quickly issued new guidance."
assistant = "The World Health Organization (WHO) issued new guidance, the media reported."

[variables.text]
help = "the sentence"
required = true

[settings]
temperature = 0.0
max_tokens = 24
'''
SENTENCE = (
    "The board has unanimously agreed that the 2 new ferries will be launched on the 9th of June!"
)


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp, llm_env() as on, llm_env(LLM_KV_CACHE="0") as off:
        template = Path(tmp) / "house-style.toml"
        template.write_text(TEMPLATE, encoding="utf-8")
        common = ["--threads", str(threads()), "--json"]
        commands = {
            f"`llm run -t house-style.toml` ({SENTENCE[:24]}...)": [
                LLM,
                "run",
                "-t",
                str(template),
                "-p",
                f"text={SENTENCE}",
                *common,
            ],
            '`llm sentiment "..."`': [LLM, "sentiment", *common, SENTENCE],
            '`llm translate --to fr "..."`': [
                LLM,
                "translate",
                "--to",
                "fr",
                "--max-tokens",
                "32",
                *common,
                SENTENCE,
            ],
        }
        rows = []
        for name, cmd in commands.items():
            if run_cmd([*cmd[:2], "--help"], env=off).returncode != 0:
                rows.append([name, "command not available", "", "", "", ""])
                continue
            rows.append(_compare(name, cmd, on, off))
        size = sum(p.stat().st_size for p in Path(on["LLM_CACHE_DIR"]).glob("kv/*.kv"))
    return "\n".join(
        [
            "## Prefix cache",
            "",
            command("prefix_cache"),
            "",
            f"The same command run in a loop (a new process each time), median of {ROUNDS} "
            "interleaved rounds after a warm-up round that fills the cache; cache off is "
            "`LLM_KV_CACHE=0`. Prompt time is `timings.ttft_s` from `--json` (prompt "
            "evaluation, or loading the prefix state plus evaluating the rest, plus one "
            "sampled token) where the command reports it.",
            "",
            table(
                [
                    "command",
                    "prefix tokens",
                    "wall ms off",
                    "wall ms on",
                    "prompt ms off",
                    "prompt ms on",
                ],
                rows,
            ),
            "",
            f"Cache entries written by these commands: {size / 2**20:.1f} MiB in all.",
        ]
    )


def _compare(name: str, cmd: list[str], on: dict[str, str], off: dict[str, str]) -> list[str]:
    def runner(env: dict[str, str]) -> Callable[[], Sample]:
        return lambda: check(run_cmd(cmd, env=env), name)

    results = interleaved({"off": runner(off), "on": runner(on)}, ROUNDS)
    prefix = _prefix_tokens(on)
    return [
        name,
        str(prefix) if prefix else "?",
        f"{med_wall(results['off']) * 1000:.0f}",
        f"{med_wall(results['on']) * 1000:.0f}",
        _ttft_ms(results["off"]),
        _ttft_ms(results["on"]),
    ]


def _ttft_ms(samples: list[Sample]) -> str:
    values = []
    for sample in samples:
        try:
            timings = json.loads(sample.stdout).get("timings") or {}
        except (ValueError, AttributeError):
            return "n/a"
        if "ttft_s" not in timings:
            return "n/a"
        values.append(float(timings["ttft_s"]))
    return f"{median(values) * 1000:.0f}"


def _prefix_tokens(env: dict[str, str]) -> int:
    """Tokens in the most recently used cache entry (the header says how many)."""
    import struct

    from llmcli.engine.kvcache import MAGIC

    entries = sorted(Path(env["LLM_CACHE_DIR"]).glob("kv/*.kv"), key=lambda p: p.stat().st_mtime)
    if not entries:
        return 0
    with entries[-1].open("rb") as fh:
        head = fh.read(len(MAGIC) + 8)
    return int(struct.unpack_from("<Q", head, len(MAGIC))[0]) if head.startswith(MAGIC) else 0
