"""Summarize scaling: wall time and peak RSS of `llm summarize` on inputs of 1x, 4x, 16x and
64x the context. Map-reduce should make time grow linearly and keep memory flat."""

from __future__ import annotations

import json
from typing import Any

from bench.common import LLM, Sample, command, llm_env, model_path, run_cmd, table, threads

N_CTX = 512  # small, so 64x the context stays a few minutes on a laptop CPU
FACTORS = (1, 4, 16, 64)
SENTENCES_PER_PARAGRAPH = 4  # ~110 tokens, ~75 words: a news-style paragraph
TOPICS = ("harbour", "lighthouse", "fleet", "tide", "storm", "cargo", "reef", "navigator")


def run() -> str:
    heading = ["## Summarize scaling", "", command("scaling"), ""]
    with llm_env() as env:
        probe = run_cmd([LLM, "summarize", "--help"], env=env)
        if probe.returncode != 0:
            return "\n".join([*heading, "Skipped: `llm summarize` does not exist yet."])
        rows = []
        base: Sample | None = None
        for factor, text in _texts().items():
            sample = _summarize(text, env)
            if sample.returncode != 0:
                tail = sample.stderr.strip().splitlines()[-1:] or ["?"]
                rows.append([f"{factor}x", len(text), "failed", tail[0], "", "", ""])
                continue
            base = base or sample
            info = _info(sample)
            rows.append(
                [
                    f"{factor}x",
                    f"{info.get('input_tokens', '?'):,}" if info.get("input_tokens") else "?",
                    f"{sample.wall_s:.1f}",
                    f"{sample.wall_s / base.wall_s:.1f}x",
                    f"{sample.peak_rss_mb:.0f}",
                    info.get("parts", "?"),
                    info.get("calls", "?"),
                ]
            )
    return "\n".join(
        [
            *heading,
            f"`llm summarize --ctx {N_CTX} --length short --temperature 0 --json` on generated "
            f"prose of 1x to {FACTORS[-1]}x the context, one run each (minutes, not seconds: "
            "the figures are far above the noise).",
            "",
            table(
                ["input", "input tokens", "wall s", "time vs 1x", "peak RSS MiB", "parts", "calls"],
                rows,
            ),
        ]
    )


def _summarize(text: str, env: dict[str, str]) -> Sample:
    cmd = [LLM, "summarize", "--ctx", str(N_CTX), "--length", "short", "--temperature", "0"]
    return run_cmd([*cmd, "--threads", str(threads()), "--json"], stdin=text, env=env)


def _info(sample: Sample) -> dict[str, Any]:
    """Counts from the --json envelope, wherever the summarize command puts them."""
    try:
        data = json.loads(sample.stdout)
    except ValueError:
        return {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def _texts() -> dict[int, str]:
    """The input for each factor, sized on the bundled model's tokenizer (loaded through the
    engine, whose log handling keeps stderr quiet, and closed before anything is timed)."""
    from llmcli.engine import EngineParams
    from llmcli.engine.llama import LlamaEngine

    engine = LlamaEngine.load(EngineParams(model_path(), n_ctx=512, threads=1))
    try:
        return {factor: _text(N_CTX * factor, engine.count_tokens) for factor in FACTORS}
    finally:
        engine.close()


def _text(n_tokens: int, count: Any) -> str:
    """Varied prose (numbers and topics change, so chunks differ) of about `n_tokens`
    tokens on the model's own tokenizer, so "1x" is the context and no more."""
    out: list[str] = []
    size = 0
    i = 0
    while True:
        topic = TOPICS[i % len(TOPICS)]
        sentence = (
            f"In year {1700 + i}, the {topic} of port {i % 97} recorded {i * 7 % 1000} ships, "
            f"and the keeper wrote that the {TOPICS[(i * 3) % len(TOPICS)]} was calm. "
        )
        if i % SENTENCES_PER_PARAGRAPH == SENTENCES_PER_PARAGRAPH - 1:
            sentence += "\n\n"
        size += count(sentence)
        if size > n_tokens:
            return "".join(out)
        out.append(sentence)
        i += 1
