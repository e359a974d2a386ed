"""One-shot latency: `echo text | llm run "..."` end to end, against a plain
llama-cpp-python script doing the same, and `python -c pass` as the floor."""

from __future__ import annotations

import statistics
import time

from bench.common import (
    LLM,
    PYTHON,
    check,
    command,
    interleaved,
    llm_env,
    med_rss,
    med_wall,
    model_path,
    run_cmd,
    table,
    threads,
)

ROUNDS = 7
MAX_TOKENS = 32
N_CTX = 4096
TEXT = "Paris is the capital of France. It is known for the Eiffel Tower and its museums.\n"
PROMPT = "Say this in other words"


def run() -> str:
    with llm_env() as env, llm_env(LLM_KV_CACHE="0") as env_off:
        ours = [LLM, "run", "--temperature", "0", "--max-tokens", str(MAX_TOKENS)]
        ours += ["--threads", str(threads()), "--ctx", str(N_CTX), PROMPT]
        base = [PYTHON, "-m", "bench.oneshot", str(model_path()), str(threads()), str(N_CTX)]
        base += [str(MAX_TOKENS), PROMPT]
        cases = {
            "`python -c pass`": lambda: run_cmd([PYTHON, "-c", "pass"]),
            "llama-cpp-python script (`bench/oneshot.py`)": lambda: check(
                run_cmd(base, stdin=TEXT), "oneshot"
            ),
            "`llm run` on piped text (prefix cache warm)": lambda: check(
                run_cmd(ours, stdin=TEXT, env=env), "llm run"
            ),
            "`llm run` on piped text, `LLM_KV_CACHE=0`": lambda: check(
                run_cmd(ours, stdin=TEXT, env=env_off), "llm run"
            ),
        }
        results = interleaved(cases, ROUNDS)
    baseline = med_wall(results["llama-cpp-python script (`bench/oneshot.py`)"])
    rows = [
        [name, f"{med_wall(s) * 1000:.0f}", f"{med_wall(s) / baseline:.2f}x", f"{med_rss(s):.0f}"]
        for name, s in results.items()
    ]
    gguf_ms = _read_gguf_ms()
    return "\n".join(
        [
            "## One-shot latency",
            "",
            command("latency"),
            "",
            f'`echo TEXT | llm run "{PROMPT}"` end to end (process start, model load, prompt, '
            f"up to {MAX_TOKENS} new tokens at temperature 0, exit), median of {ROUNDS} "
            "interleaved rounds after one warm-up round, against a plain llama-cpp-python "
            "script (`Llama(...).create_chat_completion`) with the same threads and context.",
            "",
            table(["command", "wall ms", "ratio to script", "peak RSS MiB"], rows),
            "",
            f"Reading and checking the GGUF header (`llmcli.engine.gguf.read_gguf`, in-process, median "
            f"of 5) takes {gguf_ms:.0f} ms of that.",
        ]
    )


def _read_gguf_ms() -> float:
    from llmcli.engine.gguf import read_gguf

    times = []
    for _ in range(5):
        start = time.perf_counter()
        read_gguf(model_path())
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000
