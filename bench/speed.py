"""Generation and prompt-processing speed of `llm run` against a raw llama_cpp greedy loop,
and per-token streaming cost early and late in a long output (it must stay O(1))."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.common import (
    LLM,
    PYTHON,
    SEED,
    Sample,
    check,
    command,
    interleaved,
    llm_env,
    median,
    model_path,
    ratio,
    run_cmd,
    table,
    threads,
)

ROUNDS = 3
N_CTX = 4096
GEN_TOKENS = 256
PROMPT_TOKENS = 1500
LONG_TOKENS = 1024
DETOK_TOKENS = 4000
GEN_PROMPT = "Write a very long essay about the history of the sea, with many chapters."
FILLER = "The history of the sea is long, and sailors have told its stories for centuries. "


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp, llm_env(LLM_KV_CACHE="0") as env:
        files = _prompt_files(Path(tmp))
        gen = _generation(files, env)
        prompt = _prompt_processing(files, env)
        stream = _streaming(files, env)
        detok = _detokenizer()
    return "\n".join(
        [
            "## Generation and prompt speed",
            "",
            command("speed"),
            "",
            f"`llm run` (the real command, `--json` timings, on-disk prefix cache off) against a "
            f"minimal greedy loop on llama_cpp's low-level API (`llama_decode` + numpy argmax, "
            f"`bench/rawloop.py`), both with {threads()} threads, n_ctx {N_CTX}, n_batch 512. "
            f"Median of {ROUNDS} interleaved rounds.",
            "",
            *gen,
            "",
            *prompt,
            "",
            *stream,
            "",
            *detok,
        ]
    )


def _prompt_files(tmp: Path) -> dict[str, Path]:
    """Raw-loop prompts: the same chat-formatted text `llm run` builds for the model."""
    from llmcli.engine import Message
    from llmcli.engine.chatformat import render_messages
    from llmcli.engine.gguf import read_gguf

    info = read_gguf(model_path())
    template = info.chat_template or ""
    long_input = FILLER * (PROMPT_TOKENS // 17)  # ~17 tokens per sentence
    files = {
        "gen_user": GEN_PROMPT,
        "gen_raw": render_messages([Message("user", GEN_PROMPT)], template, "", ""),
        "long_input": long_input,
        "long_raw": render_messages(
            [Message("user", f"{long_input}\n\nSummarize")], template, "", ""
        ),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp / f"{name}.txt"
        paths[name].write_text(text, encoding="utf-8")
    return paths


def _raw(prompt: Path, n_new: int) -> Sample:
    cmd = [PYTHON, "-m", "bench.rawloop", str(model_path()), str(prompt), str(n_new)]
    return check(run_cmd([*cmd, str(threads()), str(N_CTX)]), "raw loop")


def _llm(env: dict[str, str], *args: str) -> Sample:
    base = [LLM, "run", "--json", "--threads", str(threads()), "--ctx", str(N_CTX)]
    return check(run_cmd([*base, *args], env=env), "llm run")


def _generation(files: dict[str, Path], env: dict[str, str]) -> list[str]:
    runs = interleaved(
        {
            "ours": lambda: _llm(
                env, "--seed", str(SEED), "--max-tokens", str(GEN_TOKENS), GEN_PROMPT
            ),
            "raw": lambda: _raw(files["gen_raw"], GEN_TOKENS),
        },
        ROUNDS,
        warmup=0,
    )
    ours = [json.loads(s.stdout)["timings"] for s in runs["ours"]]
    raws = [json.loads(s.stdout) for s in runs["raw"]]
    ours_tps = median([t["tokens_per_s"] for t in ours])
    raw_tps = median([_raw_tps(r["stamps"]) for r in raws])
    n_ours = int(median([t["generated_tokens"] for t in ours]))
    return [
        f"**Generation**: {GEN_TOKENS} new tokens (seed {SEED}, `llm run`'s default sampling: "
        "temperature 0.7, top-k/top-p/min-p, repeat penalty; the raw loop takes the argmax). "
        "Tokens/s counts from the first token to the last (prompt excluded).",
        "",
        table(
            ["", "tokens generated", "tokens/s", "ratio to raw"],
            [
                ["raw llama_cpp loop", GEN_TOKENS, f"{raw_tps:.1f}", "1.00x"],
                ["`llm run`", n_ours, f"{ours_tps:.1f}", ratio(ours_tps, raw_tps)],
            ],
        ),
    ]


def _raw_tps(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0


def _prompt_processing(files: dict[str, Path], env: dict[str, str]) -> list[str]:
    runs = interleaved(
        {
            "ours": lambda: _llm(
                env, "--max-tokens", "1", "-f", str(files["long_input"]), "Summarize"
            ),
            "raw": lambda: _raw(files["long_raw"], 1),
        },
        ROUNDS,
        warmup=0,
    )
    ours = [json.loads(s.stdout)["timings"] for s in runs["ours"]]
    raws = [json.loads(s.stdout) for s in runs["raw"]]
    ours_tps = median([t["prompt_tokens"] / t["ttft_s"] for t in ours])
    raw_tps = median([r["prompt_tokens"] / r["prompt_s"] for r in raws])
    return [
        f"**Prompt processing**: a ~{PROMPT_TOKENS:,}-token prompt; ours is prompt tokens over "
        "time to first token (which also samples one token).",
        "",
        table(
            ["", "prompt tokens", "tokens/s", "ratio to raw"],
            [
                ["raw llama_cpp loop", raws[0]["prompt_tokens"], f"{raw_tps:.0f}", "1.00x"],
                [
                    "`llm run`",
                    ours[0]["prompt_tokens"],
                    f"{ours_tps:.0f}",
                    ratio(ours_tps, raw_tps),
                ],
            ],
        ),
    ]


WINDOWS = ((0, 128), (448, 576), (896, 1024))


def _streaming(files: dict[str, Path], env: dict[str, str]) -> list[str]:
    probe = [PYTHON, "-m", "bench.probe", "stream", str(model_path())]
    runs = interleaved(
        {
            "ours": lambda: check(
                run_cmd([*probe, str(LONG_TOKENS), str(threads()), str(N_CTX)], env=env), "probe"
            ),
            "raw": lambda: _raw(files["gen_raw"], LONG_TOKENS),
        },
        1,
        warmup=0,
    )
    ours = json.loads(runs["ours"][0].stdout)["stamps"]
    raw = json.loads(runs["raw"][0].stdout)["stamps"]
    rows = []
    for lo, hi in WINDOWS:
        o, r = _per_token_ms(ours, lo, hi), _per_token_ms(raw, lo, hi)
        rows.append([f"{lo + 1}-{hi}", f"{r:.2f}", f"{o:.2f}", f"{o - r:+.2f}"])
    return [
        f"**Streaming cost per token over a long output**: {LONG_TOKENS} tokens streamed "
        "through `LlamaEngine.stream` (end-of-generation ignored so the length is fixed; "
        "`bench/probe.py`) against the raw loop. Both grow a little with position (attention "
        "over a longer KV cache); the difference is our per-token overhead, which must not grow.",
        "",
        table(["tokens", "raw ms/token", "ours ms/token", "difference"], rows),
    ]


def _per_token_ms(stamps: list[float], lo: int, hi: int) -> float:
    hi = min(hi, len(stamps)) - 1
    lo = max(lo, 1) - 1
    return (stamps[hi] - stamps[lo]) / (hi - lo) * 1000 if hi > lo else float("nan")


def _detokenizer() -> list[str]:
    sample = check(
        run_cmd([PYTHON, "-m", "bench.probe", "detok", str(model_path()), str(DETOK_TOKENS)]),
        "probe detok",
    )
    stamps = json.loads(sample.stdout)["stamps"]
    first = stamps[499] / 500 * 1e6
    last = (stamps[-1] - stamps[-501]) / 500 * 1e6
    return [
        f"**Detokenizer alone**: {DETOK_TOKENS:,} tokens of CJK, emoji and accented text "
        "(pieces that end mid-character) through our per-token path (cached `_piece`, "
        "incremental UTF-8 decoder, StopFilter with two stop strings): "
        f"{first:.1f} µs/token over the first 500, {last:.1f} µs/token over the last 500 "
        f"({ratio(last, first)}): O(1) per token.",
    ]
