"""Several `llm` processes at once, with and without the shared thread registry
(engine/threads.py), and per-token speed against llama.cpp's own `llama-bench`.

Concurrency: 1, 2 and 4 `llm run` started together (fixed seed, 200 tokens, `--json`) and
2 `llm sentiment --batch` against one alone, in two modes interleaved round by round:
"shared" (the default: each process takes a fair share of the cores, re-chosen while it runs)
and "fixed" (`LLM_THREADS` = every core in each process, the behaviour before). Aggregate
tokens/s is the tokens of all processes over the span from the first one's first token to
the last one's last (each process's generation span comes from its `--json` timings and
its exit time).

Per token: `llama-bench -p 0 -n 256` (decode only, no sampling), `llm run --max-tokens 256`
(default sampling) and the raw greedy loop of bench/rawloop.py, interleaved, PAIRS rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    LLM,
    PYTHON,
    SEED,
    check,
    command,
    llm_env,
    median,
    model_path,
    ratio,
    run_cmd,
    table,
    threads,
)
from bench.sentiment import LABELS, load_rows

TOKENS = 200
COUNTS = (1, 2, 4)
ROUNDS = 2
PAIRS = 5
BENCH_TOKENS = 256
TIMEOUT_S = 600
SENTIMENT_EVERY = 10  # 40 of the 400 development rows per process
PROMPT = "Write a very long essay about the history of the sea, with many chapters."
LLAMA_BENCH_VAR = "LLM_LLAMA_BENCH"
LLAMA_BENCH = Path.home() / ".cache/llmcli-build/llama.cpp-0.3.36-GGML_NATIVE_OFF/bin/llama-bench"


def run() -> str:
    modes: dict[str, dict[str, str]] = {"shared": {}, "fixed": {"LLM_THREADS": str(threads())}}
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    texts: dict[tuple[str, int], list[float]] = {}
    for _ in range(ROUNDS):
        for mode, extra in modes.items():
            for n in COUNTS:
                runs.setdefault((mode, n), []).append(_runs_together(n, extra))
            for n in (1, 2):
                texts.setdefault((mode, n), []).append(_sentiment_together(n, extra))
    per_token = [*_against_llama_bench(), "", *_where_it_goes()]
    return "\n".join(
        [
            "## Concurrent processes and the last 10% per token",
            "",
            command("concurrency"),
            "",
            f"Bundled model, {threads()} threads alone. **shared**: `llm`'s default, each process takes a "
            "fair share of the cores among the llm processes computing now (a registry in the "
            "cache dir, re-read every 0.25 s while computing: engine/threads.py); **fixed**: "
            f"`LLM_THREADS={threads()}` in every process (what every process did before). "
            f"Processes started together; {ROUNDS} rounds, the modes interleaved, medians. "
            "Aggregate tokens/s: all tokens over the span from the first first token to the "
            "last last token.",
            "",
            _run_table(runs),
            "",
            f"`llm sentiment --batch` on {len(_texts())} texts per process (wall time, model load "
            "included):",
            "",
            _sentiment_table(texts),
            "",
            *per_token,
        ]
    )


def _together(
    cmds: Sequence[Sequence[str]], env: dict[str, str], stdin: str
) -> list[tuple[float, str]]:
    """Start the commands at once; each one's exit time (seconds from the start) and stdout."""
    with tempfile.TemporaryDirectory() as tmp:
        files = [(Path(tmp) / f"{i}.out", Path(tmp) / f"{i}.err") for i in range(len(cmds))]
        start = time.perf_counter()
        procs = []
        for cmd, (out, err) in zip(cmds, files, strict=True):
            with out.open("wb") as sink, err.open("wb") as errors:
                proc = subprocess.Popen(
                    list(cmd), stdin=subprocess.PIPE, stdout=sink, stderr=errors, env=env
                )
            assert proc.stdin is not None
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
            procs.append(proc)
        ends: list[float | None] = [None] * len(procs)
        while None in ends:
            if time.perf_counter() - start > TIMEOUT_S:
                for proc in procs:
                    proc.kill()
                raise RuntimeError(f"{cmds[0][1]}: {len(cmds)} processes took over {TIMEOUT_S} s")
            for i, proc in enumerate(procs):
                if ends[i] is None and proc.poll() is not None:
                    ends[i] = time.perf_counter() - start
            time.sleep(0.005)
        results = []
        for proc, (out, err), end in zip(procs, files, ends, strict=True):
            if proc.returncode != 0:
                tail = err.read_text(encoding="utf-8", errors="replace")[-300:]
                raise RuntimeError(f"{cmds[0][1]} exited {proc.returncode}: {tail}")
            assert end is not None
            results.append((end, out.read_text(encoding="utf-8")))
        return results


def _runs_together(n: int, extra: dict[str, str]) -> dict[str, float]:
    cmd = [LLM, "run", "--json", "--seed", str(SEED), "--max-tokens", str(TOKENS), PROMPT]
    with llm_env(LLM_KV_CACHE="0", **extra) as env:
        done = _together([cmd] * n, env, "")
    timings = [(end, json.loads(out)["timings"]) for end, out in done]
    spans = [(end - (t["total_s"] - t["ttft_s"]), end) for end, t in timings]
    tokens = sum(t["generated_tokens"] for _, t in timings)
    span = max(e for _, e in spans) - min(s for s, _ in spans)
    return {
        "per_process": median([t["tokens_per_s"] for _, t in timings]),
        "aggregate": tokens / span if span > 0 else 0.0,
    }


def _texts() -> list[str]:
    return [text for text, _ in load_rows()[::SENTIMENT_EVERY]]


def _sentiment_together(n: int, extra: dict[str, str]) -> float:
    cmd = [LLM, "sentiment", "--batch", "--labels", ",".join(LABELS)]
    texts = _texts()
    with llm_env(LLM_KV_CACHE="0", **extra) as env:
        done = _together([cmd] * n, env, "\n".join(texts) + "\n")
    for _, out in done:
        if len(out.splitlines()) != len(texts):
            raise RuntimeError("llm sentiment --batch: one line per text expected")
    return n * len(texts) / max(end for end, _ in done)


def _run_table(runs: dict[tuple[str, int], list[dict[str, float]]]) -> str:
    rows = []
    for mode in ("shared", "fixed"):
        alone = median([r["aggregate"] for r in runs[(mode, 1)]])
        for n in COUNTS:
            agg = median([r["aggregate"] for r in runs[(mode, n)]])
            per = median([r["per_process"] for r in runs[(mode, n)]])
            rows.append([mode, n, f"{per:.1f}", f"{agg:.1f}", ratio(agg, alone)])
    headers = ["threads", "processes", "tokens/s per process", "aggregate tokens/s", "vs alone"]
    return table(headers, rows)


def _sentiment_table(texts: dict[tuple[str, int], list[float]]) -> str:
    rows = []
    for mode in ("shared", "fixed"):
        alone = median(texts[(mode, 1)])
        for n in (1, 2):
            agg = median(texts[(mode, n)])
            rows.append([mode, n, f"{agg:.1f}", ratio(agg, alone)])
    return table(["threads", "processes", "aggregate texts/s", "vs alone"], rows)


# -- per token: llama-bench, llm run, the raw loop -----------------------------------------


def llama_bench_binary() -> Path:
    named = os.environ.get(LLAMA_BENCH_VAR)
    path = Path(named) if named else LLAMA_BENCH
    if not path.is_file():
        raise RuntimeError(f"no llama-bench: run `make servers` or set {LLAMA_BENCH_VAR}")
    return path


def _llama_bench(*extra: str) -> float:
    cmd = [str(llama_bench_binary()), "-m", str(model_path()), "-t", str(threads())]
    cmd += ["-p", "0", "-n", str(BENCH_TOKENS), "-r", "1", "-o", "json", *extra]
    sample = check(run_cmd(cmd), "llama-bench")
    [result] = json.loads(sample.stdout)
    return float(result["avg_ts"])


def _llm_run(env: dict[str, str]) -> float:
    cmd = [LLM, "run", "--json", "--threads", str(threads()), "--seed", str(SEED)]
    sample = check(run_cmd([*cmd, "--max-tokens", str(BENCH_TOKENS), PROMPT], env=env), "llm run")
    return float(json.loads(sample.stdout)["timings"]["tokens_per_s"])


def _raw_loop(prompt: Path) -> float:
    cmd = [PYTHON, "-m", "bench.rawloop", str(model_path()), str(prompt), str(BENCH_TOKENS)]
    sample = check(run_cmd([*cmd, str(threads()), "4096"]), "raw loop")
    stamps = json.loads(sample.stdout)["stamps"]
    return float((len(stamps) - 1) / (stamps[-1] - stamps[0]))


def _where_it_goes() -> list[str]:
    cmd = [PYTHON, "-m", "bench.pertoken", str(model_path()), str(threads())]
    t = json.loads(check(run_cmd(cmd), "bench.pertoken").stdout)
    decode = t["decode_us"]
    rows = [
        ["`llama_decode` of one token", f"{decode:.0f}", "", ""],
        [
            "sampling: `Llama.generate`'s chain / ours",
            f"{t['generate_chain_us']:.0f}",
            f"{t['our_chain_us']:.0f}",
            f"{(t['generate_chain_us'] - t['our_chain_us']) / decode:.1%}",
        ],
        [
            "Python around the decode: `Llama.eval` / `Native.decode_one`",
            f"{t['llama_eval_python_us']:.1f}",
            f"{t['decode_one_python_us']:.1f}",
            f"{(t['llama_eval_python_us'] - t['decode_one_python_us']) / decode:.1%}",
        ],
    ]
    return [
        "**Where the time of a token goes** (`bench/pertoken.py`, in-process, best of 5 x 100 "
        "calls, µs per token): llama-cpp-python's path (what `llm` used before) and ours.",
        "",
        table(["", "before (µs)", "now (µs)", "saved, of one decode"], rows),
    ]


def _against_llama_bench() -> list[str]:
    from bench.speed import _prompt_files

    runs: dict[str, list[float]] = {"anchor": [], "no_fa": [], "ours": [], "raw": []}
    with tempfile.TemporaryDirectory() as tmp, llm_env(LLM_KV_CACHE="0") as env:
        prompt = _prompt_files(Path(tmp))["gen_raw"]
        for _ in range(PAIRS):
            runs["anchor"].append(_llama_bench())
            runs["ours"].append(_llm_run(env))
            runs["no_fa"].append(_llama_bench("-fa", "0"))
            runs["raw"].append(_raw_loop(prompt))
    anchor, no_fa = median(runs["anchor"]), median(runs["no_fa"])
    ours, raw = median(runs["ours"]), median(runs["raw"])
    pairs = ", ".join(f"{o:.1f}/{a:.1f}" for o, a in zip(runs["ours"], runs["anchor"], strict=True))
    ratios = [o / a for o, a in zip(runs["ours"], runs["anchor"], strict=True)]
    ratios_fa0 = [o / a for o, a in zip(runs["ours"], runs["no_fa"], strict=True)]
    n = BENCH_TOKENS
    return [
        f"**Per token against llama-bench**: `llama-bench -t {threads()} -p 0 -n {n}` "
        "(llama.cpp's own tool built from the wheel's sources by `make servers`: decode only, "
        "no sampling, an empty context, its default flash attention `auto`), "
        f"the same with `-fa 0` (attention as `llm` runs it), `llm run --max-tokens {n}` "
        "(default sampling: repeat penalty, top-k, top-p, min-p, temperature 0.7, seed "
        f"{SEED}; a 46-token prompt before) and the raw greedy loop (`bench/rawloop.py`, "
        f"`llm`'s context settings), interleaved, {PAIRS} rounds. llm/llama-bench tokens/s "
        f"per round: {pairs}.",
        "",
        table(
            ["", "tokens/s (median)", "vs llama-bench", "vs llama-bench -fa 0"],
            [
                [f"llama-bench tg{n}", f"{anchor:.1f}", "1.00x", ratio(anchor, no_fa)],
                [f"llama-bench tg{n} -fa 0", f"{no_fa:.1f}", ratio(no_fa, anchor), "1.00x"],
                [
                    "`llm run` (default sampling)",
                    f"{ours:.1f}",
                    ratio(ours, anchor),
                    ratio(ours, no_fa),
                ],
                ["raw greedy loop", f"{raw:.1f}", ratio(raw, anchor), ratio(raw, no_fa)],
            ],
        ),
        "",
        f"Median of the per-round ratios llm/llama-bench: {median(ratios):.2f}x "
        f"(range {min(ratios):.2f}-{max(ratios):.2f}); llm/llama-bench -fa 0: "
        f"{median(ratios_fa0):.2f}x (range {min(ratios_fa0):.2f}-{max(ratios_fa0):.2f}).",
    ]
