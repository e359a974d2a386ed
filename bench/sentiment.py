"""Sentiment on ../shared/eval/sentiment_dev.tsv. The speed section (`run`): texts/second of
`llm sentiment --batch` against one `llm sentiment` process per text, on a sample. The
quality eval (`quality_rows`, used by bench/quality.py): accuracy and macro-F1 on all rows of
`--batch`, `--batch --no-calibrate` and a plain generative prompt ("Answer positive or
negative") through the same model, side by side in one run."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from bench.common import LLM, PYTHON, ROOT, check, command, llm_env, run_cmd, table, threads

DATA = ROOT.parent / "shared" / "eval" / "sentiment_dev.tsv"
LABELS = ("positive", "negative")
BATCH_EVERY = 4  # the speed section's --batch sample: 100 of 400 rows
PER_PROCESS_EVERY = 20  # and one process per text on every 20th row: 20 of 400
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
    from llmcli.engine import EngineParams, GenerationOptions, Message, generate
    from llmcli.engine.llama import LlamaEngine
    from llmcli.models import bundled_model_path

    path = bundled_model_path()
    assert path is not None
    count = int(os.environ.get("LLM_THREADS") or threads())
    engine = LlamaEngine.load(EngineParams(model_path=path, threads=count))
    options = GenerationOptions(temperature=0.0, max_tokens=8, seed=42)
    try:
        for line in sys.stdin.read().splitlines():
            prompt = GENERATIVE_PROMPT.format(text=line)
            reply = generate(engine, [Message("user", prompt)], options).text
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
    sample = list(range(len(rows)))[::BATCH_EVERY]
    sub = sample[:: PER_PROCESS_EVERY // BATCH_EVERY]
    n_threads = bench_threads()
    with llm_env(LLM_THREADS=str(n_threads), PYTHONPATH=str(ROOT)) as env:
        batch = Mode(
            "`llm sentiment --batch`", *_on(sample, _batch([texts[i] for i in sample], env))
        )
        single = Mode(
            "one `llm sentiment` process per text",
            *_on(sub, _per_process([texts[i] for i in sub], env)),
        )
    table_rows = [
        [
            m.name,
            len(m.predicted),
            f"{m.seconds:.1f}",
            f"{len(m.predicted) / m.seconds:.1f}",
            f"{m.accuracy(gold, sub):.3f}",
        ]
        for m in (batch, single)
    ]
    speedup = (len(batch.predicted) / batch.seconds) / (len(single.predicted) / single.seconds)
    return "\n".join(
        [
            "## Sentiment speed",
            "",
            command("sentiment"),
            "",
            f"Data: every {BATCH_EVERY}th row of `../shared/eval/sentiment_dev.tsv` "
            f"({len(sample)} SST-2 phrases) in one `--batch` process, and every "
            f"{PER_PROCESS_EVERY}th row ({len(sub)}) as one process each, as a script calling "
            f"`llm sentiment` in a loop would; bundled SmolLM2-135M-Instruct, {n_threads} "
            f"thread(s) (llm's default here: {threads()}; one when the machine is already busier "
            "than its cores). Wall time includes starting Python and loading the model. "
            "Accuracy on all rows, against the baselines: the Quality section.",
            "",
            table(
                ["mode", "texts", "wall s", "texts/s", f"accuracy ({len(sub)} shared rows)"],
                table_rows,
            ),
            "",
            f"`--batch` classifies {speedup:.1f}x as many texts per second as one process per "
            "text (the per-process loop is helped by the on-disk prefix cache).",
        ]
    )


def quality_rows() -> tuple[list[list[str]], str, dict[str, list[float]]]:
    """Accuracy and macro-F1 on all rows: ours (calibrated and not) and the plain prompt;
    and each mode's per-row correctness (1.0 or 0.0), for the paired bootstrap."""
    rows = load_rows()
    texts, gold = [t for t, _ in rows], [g for _, g in rows]
    with llm_env(LLM_THREADS=str(bench_threads()), PYTHONPATH=str(ROOT)) as env:
        modes = [
            ("`llm sentiment --batch`", _batch(texts, env)),
            ("`llm sentiment --batch --no-calibrate`", _batch(texts, env, "--no-calibrate")),
            ("plain generative prompt", _generative(texts, env)),
        ]
    out = []
    correct: dict[str, list[float]] = {}
    for name, (labels, seconds) in modes:
        if len(labels) != len(rows):
            raise RuntimeError(f"{name}: expected {len(rows)} answers, got {len(labels)}")
        out.append(
            [
                name,
                f"{accuracy(labels, gold):.3f}",
                f"{macro_f1(labels, gold):.3f}",
                f"{len(rows) / seconds:.1f}",
            ]
        )
        correct[name] = [float(p == g) for p, g in zip(labels, gold, strict=True)]
    unparsed = modes[2][1][0].count("unparsed")
    note = (
        f"{len(rows)} SST-2 phrases. `--no-calibrate` skips dividing out the label bias of the "
        f'prompt alone. The plain prompt asks "{GENERATIVE_PROMPT.splitlines()[-1]}" (greedy, '
        f"at most 8 tokens) and takes the first label its reply names; {unparsed} of "
        f"{len(rows)} replies named neither and count as wrong."
    )
    return out, note, correct


def _on(rows: list[int], result: tuple[list[str], float]) -> tuple[dict[int, str], float]:
    labels, seconds = result
    if len(labels) != len(rows):
        raise RuntimeError(f"expected {len(rows)} answers, got {len(labels)}")
    return dict(zip(rows, labels, strict=True)), seconds
