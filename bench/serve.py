"""`llm serve` and fan-out, side by side in one run.

Per call: `llm translate --to pt "Good morning"` as a script's loop runs it, in-process (each
call starts Python and loads the model) against the same command with `LLM_ENDPOINT` on a
warm `llm serve` (each call starts Python and sends one request). Batch: `llm sentiment
--batch` texts/s in-process against `--endpoint` on one `llm serve --parallel 4` (llama-server
`-np 4`) with `--parallel 1` and `--parallel 4`. Rounds alternate between the modes, so load
from other work on the machine hits them alike; every process runs one thread.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bench.common import (
    LLM,
    ROOT,
    Sample,
    check,
    command,
    interleaved,
    llm_env,
    med_wall,
    median,
    run_cmd,
    table,
)
from bench.sentiment import LABELS, load_rows

CALLS = 8  # translate calls per mode, after one warm-up round
TEXT_EVERY = 5  # sentiment rows: every 5th of 400
ROUNDS = 2  # sentiment batches per mode
THREADS = "1"
LINES = 24  # translate --lines: the first lines of translate_dev.en, two per call


@contextmanager
def served(env: dict[str, str], *args: str) -> Iterator[str]:
    """A warm `llm serve` on a free port; its URL. Stopped (and waited for) after."""
    proc = subprocess.Popen(
        [LLM, "serve", "--port", "0", "--threads", THREADS, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        if not line.startswith("LLM_ENDPOINT="):
            raise RuntimeError(f"llm serve did not start (exit {proc.wait()})")
        yield line.strip().removeprefix("LLM_ENDPOINT=")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def _translate(env: dict[str, str]) -> Callable[[], Sample]:
    cmd = [LLM, "translate", "--to", "pt", "--json", "Good morning"]
    return lambda: check(run_cmd(cmd, env=env), "llm translate")


def _sentiment(env: dict[str, str], texts: list[str], *extra: str) -> Callable[[], Sample]:
    cmd = [LLM, "sentiment", "--batch", "--labels", ",".join(LABELS), *extra]
    stdin = "\n".join(texts) + "\n"
    return lambda: check(run_cmd(cmd, stdin=stdin, env=env), "llm sentiment --batch")


def _lines(env: dict[str, str], text: str, *extra: str) -> Callable[[], Sample]:
    cmd = [LLM, "translate", "--to", "pt", "--lines", "--batch", "2", *extra]

    def one() -> Sample:
        sample = check(run_cmd(cmd, stdin=text, env=env), "llm translate --lines")
        if len(sample.stdout.splitlines()) != LINES:
            raise RuntimeError("translate --lines gave the wrong number of lines")
        return sample

    return one


def run() -> str:
    texts = [t for t, _ in load_rows()][::TEXT_EVERY]
    source = ROOT.parent / "shared" / "eval" / "translate_dev.en"
    lines = "\n".join(source.read_text(encoding="utf-8").splitlines()[:LINES]) + "\n"
    with llm_env(LLM_THREADS=THREADS) as env:
        with served(env) as url:
            remote = {**env, "LLM_ENDPOINT": url}
            calls = interleaved(
                {"in-process": _translate(env), "llm serve": _translate(remote)}, CALLS
            )
        with served(env, "--parallel", "4") as url:
            batches = interleaved(
                {
                    "in-process": _sentiment(env, texts),
                    "--parallel 1": _sentiment(env, texts, "--endpoint", url),
                    "--parallel 4": _sentiment(env, texts, "--endpoint", url, "--parallel", "4"),
                },
                ROUNDS,
                warmup=0,
            )
            translated = interleaved(
                {
                    "in-process": _lines(env, lines),
                    "--parallel 1": _lines(env, lines, "--endpoint", url),
                    "--parallel 4": _lines(env, lines, "--endpoint", url, "--parallel", "4"),
                },
                ROUNDS,
                warmup=0,
            )
    return _report(calls, batches, len(texts)) + _report_lines(translated)


def _report_lines(runs: dict[str, list[Sample]]) -> str:
    base = med_wall(runs["in-process"])
    rows = [
        [mode, f"{med_wall(s):.1f}", f"{LINES / med_wall(s):.2f}", f"{base / med_wall(s):.2f}x"]
        for mode, s in runs.items()
    ]
    return "\n".join(
        [
            "",
            "",
            f"Generation: `llm translate --to pt --lines --batch 2` over the first {LINES} lines "
            f"of `../shared/eval/translate_dev.en` ({LINES // 2} calls), {ROUNDS} rounds per "
            "mode, medians, against the same `llm serve --parallel 4`; each run gave "
            f"{LINES} lines.",
            "",
            table(["mode", "wall s", "lines/s", "vs in-process"], rows),
            "",
            READING,
        ]
    )


READING = """\
Reading the figures: the served call saves the model load and llama_cpp's import, not the
generation, which dominates for this 94 MiB model: the server's generation alone (the
ceiling above) is more than a third of the in-process call, so even a client that cost
nothing would not make the served call 3x faster here. The two replies differ in length:
the server counts the prompt in its repeat-penalty window (translate's
`server_repeat_penalty`, see README Remote servers), in-process the reply alone. A model of
several GB takes seconds to load, and the ratio grows with it.
What the served call's rest was cut to: httpx's command-line module (rich, pygments, click)
and langcodes' name data are not imported (httpx 96 -> 30 ms, `python -X importtime`;
common language codes come from a table); a plain-http endpoint does not load the CA bundle
(`httpx.Client()` 99 -> 1 ms); a template field compiles once per process. On one CPU
thread llama-server's parallel slots do not pay, and not because of the fan-out: 8 chat
requests of 40 tokens sent straight to `llama-server -np 4 -t 1` ran at 35-40 tok/s with
one in flight and 39-40 with four, so this CPU build at one thread decodes four sequences
no faster than one; scoring is prompt evaluation, already batched within a request, and
each slot evaluates the template prefix again. Slots pay on GPUs and with more cores."""


def _labels(sample: Sample) -> list[str]:
    return [line.split("\t")[0] for line in sample.stdout.splitlines()]


def _reply(sample: Sample) -> tuple[str, float, int]:
    """A `translate --json` call's text, generation seconds and generated tokens."""
    data = json.loads(sample.stdout)
    return data["text"], data["timings"]["total_s"], data["timings"]["generated_tokens"]


def _call_row(label: str, samples: list[Sample], base: float) -> list[str]:
    wall = med_wall(samples)
    gen = median([_reply(s)[1] for s in samples])
    tokens = median([float(_reply(s)[2]) for s in samples])
    return [
        label,
        f"{wall * 1000:.0f}",
        f"{gen * 1000:.0f} ({tokens:.0f} tokens)",
        f"{(wall - gen) * 1000:.0f}",
        f"{base / wall:.2f}x",
    ]


def _report(calls: dict[str, list[Sample]], batches: dict[str, list[Sample]], n: int) -> str:
    local = med_wall(calls["in-process"])
    same = sum(
        _reply(a)[0] == _reply(b)[0]
        for a, b in zip(calls["in-process"], calls["llm serve"], strict=True)
    )
    served_gen = median([_reply(s)[1] for s in calls["llm serve"]])
    rate = {mode: n / med_wall(samples) for mode, samples in batches.items()}
    base = _labels(batches["in-process"][0])
    agree = {
        m: sum(a == b for a, b in zip(base, _labels(s[0]), strict=True)) for m, s in batches.items()
    }
    rows_t = [
        _call_row("in-process (start + load + answer)", calls["in-process"], local),
        _call_row("`LLM_ENDPOINT` on a warm `llm serve`", calls["llm serve"], local),
    ]
    rows_s = [
        [
            mode,
            f"{median([s.wall_s for s in batches[mode]]):.1f}",
            f"{rate[mode]:.1f}",
            f"{rate[mode] / rate['in-process']:.2f}x",
            f"{agree[mode]}/{n}",
        ]
        for mode in batches
    ]
    return "\n".join(
        [
            "## Serving and fan-out",
            "",
            command("serve"),
            "",
            f'Per call: `llm translate --to pt "Good morning"`, {CALLS} calls per mode after '
            "a warm-up round, the modes alternating; median wall per call. Both sides start "
            "Python and `llm`; in-process also loads the model, the served side sends one "
            f"request to llama-server. Same text from both in {same} of {CALLS} calls "
            "(temperature 0; the server counts the prompt in its repeat-penalty window, see "
            "README Remote servers).",
            "",
            table(["mode", "ms per call", "generating, ms", "the rest, ms", "speed-up"], rows_t),
            "",
            "Generating: the reply's `timings.total_s` from `--json` (the server's own timings "
            "when served); the rest is starting Python and `llm`, the request, and in-process "
            "the model load. With nothing but the server's generation left, the served call "
            f"would be {local / served_gen:.2f}x faster.",
            "",
            f"Batch: `llm sentiment --batch` over every {TEXT_EVERY}th row of "
            f"`../shared/eval/sentiment_dev.tsv` ({n} SST-2 phrases), {ROUNDS} rounds per mode, "
            "medians; wall time includes starting `llm` (and, in-process, loading the model). "
            "The server modes go to one `llm serve --parallel 4` (llama-server `-np 4`). "
            "Labels: the same as in-process.",
            "",
            table(["mode", "wall s", "texts/s", "vs in-process", "same labels"], rows_s),
            "",
            f"One thread per process, side by side in one run. Python {sys.version.split()[0]}, "
            f"{time.strftime('%Y-%m-%d')}.",
        ]
    )
