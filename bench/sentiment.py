"""Sentiment on ../shared/eval/sentiment_dev.tsv: accuracy and texts/second of
`llm sentiment --batch`, of one `llm sentiment` process per text, and of a plain generative
prompt ("Answer positive or negative") through the same model, side by side in one run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from bench.common import LLM, PYTHON, ROOT, check, command, llm_env, run_cmd, table, threads

DATA = ROOT.parent / "shared" / "eval" / "sentiment_dev.tsv"
LABELS = ("positive", "negative")
PER_PROCESS_EVERY = 10  # one process per text on every 10th row: 40 of 400
GENERATIVE_PROMPT = (
    "Text: {text}\n\nIs the sentiment of this text positive or negative? "
    "Answer positive or negative."
)


def bench_threads() -> int:
    """llm's default, except on a machine already busier than its cores: there llama.cpp's
    spinning worker threads stall each other (measured 10-20x slower at 2 threads on a
    shared 2-core box), so every mode here runs on one thread and the section says so."""
    busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    return 1 if busy else threads()


def load_rows() -> list[tuple[str, str]]:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines()[1:]:
        text, _, label = line.rpartition("\t")
        if text.strip():
            rows.append((text, label.strip()))
    return rows


def accuracy(predicted: list[str], gold: list[str]) -> float:
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def macro_f1(predicted: list[str], gold: list[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(p == g == label for p, g in zip(predicted, gold, strict=True))
        precision = tp / max(1, predicted.count(label))
        recall = tp / max(1, gold.count(label))
        scores.append(2 * precision * recall / (precision + recall) if tp else 0.0)
    return sum(scores) / len(scores)


def _batch(texts: list[str], env: dict[str, str], *extra: str) -> tuple[list[str], float]:
    cmd = [LLM, "sentiment", "--batch", "--labels", ",".join(LABELS), *extra]
    sample = check(run_cmd(cmd, stdin="\n".join(texts) + "\n", env=env), "llm sentiment --batch")
    labels = [line.split("\t")[0] for line in sample.stdout.splitlines()]
    return labels, sample.wall_s


def _per_process(texts: list[str], env: dict[str, str]) -> tuple[list[str], float]:
    labels, wall = [], 0.0
    for text in texts:
        cmd = [LLM, "sentiment", "--labels", ",".join(LABELS), text]
        sample = check(run_cmd(cmd, env=env), "llm sentiment")
        labels.append(sample.stdout.strip())
        wall += sample.wall_s
    return labels, wall


def _generative(texts: list[str], env: dict[str, str]) -> tuple[list[str], float]:
    """A child process that loads the model once and asks each text as a chat question."""
    cmd = [PYTHON, "-c", "from bench.sentiment import generative_child; generative_child()"]
    sample = check(run_cmd(cmd, stdin="\n".join(texts) + "\n", env=env), "generative baseline")
    return sample.stdout.splitlines(), sample.wall_s


def generative_child() -> None:
    """Greedy generation of a short answer per stdin line; prints the label it names."""
    from llmcli.chatformat import Message
    from llmcli.engine import EngineParams, GenerationOptions, LlamaEngine
    from llmcli.hub import bundled_model_path

    path = bundled_model_path()
    assert path is not None
    count = int(os.environ.get("LLM_THREADS") or threads())
    engine = LlamaEngine.load(EngineParams(model_path=path, threads=count))
    options = GenerationOptions(temperature=0.0, max_tokens=8, seed=42)
    try:
        for line in sys.stdin.read().splitlines():
            prompt = GENERATIVE_PROMPT.format(text=line)
            reply = engine.generate([Message("user", prompt)], options).text
            print(parse_answer(reply), flush=True)
    finally:
        engine.close()


def parse_answer(reply: str) -> str:
    """The first label the reply names; `unparsed` when it names none."""
    lowered = reply.lower()
    found = [(lowered.find(label), label) for label in LABELS if label in lowered]
    return min(found)[1] if found else "unparsed"


@dataclass(frozen=True)
class Mode:
    name: str
    predicted: dict[int, str]  # row index -> label, for the rows this mode ran
    seconds: float

    def accuracy(self, gold: list[str], rows: list[int]) -> float:
        return accuracy([self.predicted[i] for i in rows], [gold[i] for i in rows])


def run() -> str:
    rows = load_rows()
    texts, gold = [t for t, _ in rows], [g for _, g in rows]
    every = list(range(len(rows)))
    sub = every[::PER_PROCESS_EVERY]
    n_threads = bench_threads()
    with llm_env(LLM_THREADS=str(n_threads), PYTHONPATH=str(ROOT)) as env:
        modes = [
            Mode("`llm sentiment --batch`", *_on(every, _batch(texts, env))),
            Mode(
                "`llm sentiment --batch --no-calibrate`",
                *_on(every, _batch(texts, env, "--no-calibrate")),
            ),
            Mode("generative prompt, same model", *_on(every, _generative(texts, env))),
            Mode(
                "one `llm sentiment` process per text",
                *_on(sub, _per_process([texts[i] for i in sub], env)),
            ),
        ]
    table_rows = []
    for mode in modes:
        full = len(mode.predicted) == len(rows)
        labels = [mode.predicted[i] for i in every] if full else []
        table_rows.append(
            [
                mode.name,
                f"{mode.accuracy(gold, every):.3f}" if full else "—",
                f"{macro_f1(labels, gold):.3f}" if full else "—",
                f"{mode.accuracy(gold, sub):.3f}",
                f"{len(mode.predicted) / mode.seconds:.1f}",
            ]
        )
    speedup = (len(rows) / modes[0].seconds) / (len(sub) / modes[3].seconds)
    unparsed = list(modes[2].predicted.values()).count("unparsed")
    return "\n".join(
        [
            "## Sentiment",
            "",
            command("sentiment"),
            "",
            f"Data: `../shared/eval/sentiment_dev.tsv` ({len(rows)} SST-2 movie-review phrases, "
            f"labels {', '.join(LABELS)}); bundled SmolLM2-135M-Instruct, {n_threads} thread(s) "
            f"for every mode (llm's default here: {threads()}; one when the machine is already "
            "busier than its cores). "
            f"The batch modes and the generative baseline run all {len(rows)} rows, each in one "
            "process (wall time includes loading the model); one process per text runs every "
            f"{PER_PROCESS_EVERY}th row ({len(sub)} texts), and every mode's accuracy on those "
            "same rows is shown beside it.",
            "",
            table(
                [
                    "mode",
                    f"accuracy ({len(rows)})",
                    f"macro-F1 ({len(rows)})",
                    f"accuracy ({len(sub)} rows)",
                    "texts/s",
                ],
                table_rows,
            ),
            "",
            f"`--batch` classifies {speedup:.0f}x as many texts per second as one process per "
            "text. `--no-calibrate` skips dividing out the label bias of the prompt alone. The "
            f'generative baseline asks "{GENERATIVE_PROMPT.splitlines()[-1]}" (greedy, at most 8 '
            f"tokens) and takes the first label its reply names; {unparsed} of {len(rows)} "
            "replies named neither and count as wrong.",
        ]
    )


def _on(rows: list[int], result: tuple[list[str], float]) -> tuple[dict[int, str], float]:
    labels, seconds = result
    if len(labels) != len(rows):
        raise RuntimeError(f"expected {len(rows)} answers, got {len(labels)}")
    return dict(zip(rows, labels, strict=True)), seconds
