"""The five commands in-process and through `--endpoint` on llama-server, side by side.

Same bundled model, same inputs, greedy sampling: each command's output must have the same
line count (and, with --json, the same keys; the remote adds `endpoint`); sentiment labels
on all of ../shared/eval/sentiment_dev.tsv must agree on at least 95% of the rows. Needs
llama-server (`make servers`, or LLM_LLAMA_SERVER).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import served_quality
from bench.common import LLM, ROOT, check, command, llm_env, model_path, run_cmd, table
from bench.sentiment import LABELS, bench_threads, load_rows

EVAL = ROOT.parent / "shared" / "eval"
AGREEMENT_GOAL = 0.95
GREEDY = ["--temperature", "0", "--seed", "1"]


@dataclass
class Case:
    name: str
    args: list[str]
    stdin: str = ""
    json: bool = False


def cases() -> list[Case]:
    article = json.loads((EVAL / "summarize_dev.jsonl").read_text().splitlines()[0])["article"]
    lines = "\n".join((EVAL / "translate_dev.en").read_text().splitlines()[:6]) + "\n"
    return [
        Case("run", ["run", *GREEDY, "--max-tokens", "60", "Name three colors."]),
        Case("run --json", ["run", *GREEDY, "--json", "--max-tokens", "30", "Hi"], json=True),
        Case("chat (scripted)", ["chat", *GREEDY, "--max-tokens", "30"], "Hello\nWho are you?\n"),
        Case("summarize --json", ["summarize", *GREEDY, "--json"], article, json=True),
        Case("translate --lines", ["translate", *GREEDY, "--to", "pt", "--lines"], lines),
        Case("sentiment --json", ["sentiment", "--json", "What a lovely day"], json=True),
    ]


def shape(case: Case, stdout: str) -> str:
    if case.json:
        keys = set(json.loads(stdout)) - {"endpoint"}
        return "keys " + ",".join(sorted(keys))
    return f"{stdout.count(chr(10))} lines"


def answer(case: Case, stdout: str) -> str:
    """What the command answered: the text (or label) of --json, else all of stdout."""
    if not case.json:
        return stdout
    data = json.loads(stdout)
    return str(data.get("text", data.get("label", "")))


def agreement_of(a: str, b: str) -> str:
    if a == b:
        return "identical"
    shared = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
    return f"first {shared} of {max(len(a), len(b))} characters"


def run() -> str:
    from tests.integration.servers import llama_server_binary, start_llama_server

    binary = llama_server_binary()
    if binary is None:
        raise RuntimeError("no llama-server: run `make servers` or set LLM_LLAMA_SERVER")
    n_threads = int(os.environ.get("LLM_THREADS") or bench_threads())
    rows: list[list[object]] = []
    with llm_env(LLM_THREADS=str(n_threads)) as env:
        logs = Path(tempfile.mkdtemp(prefix="llm-bench-srv-"))
        server = start_llama_server(binary, model_path(), logs, n_threads=n_threads)
        try:
            remote = ["--endpoint", server.url]
            for case in cases():
                a = check(run_cmd([LLM, *case.args], stdin=case.stdin, env=env), case.name)
                b = check(run_cmd([LLM, *case.args, *remote], stdin=case.stdin, env=env), case.name)
                same = "yes" if shape(case, a.stdout) == shape(case, b.stdout) else "NO"
                ours, theirs = answer(case, a.stdout), answer(case, b.stdout)
                rows.append([case.name, shape(case, a.stdout), same, agreement_of(ours, theirs)])
            agreement, n, walls = sentiment_agreement(env, remote)
            quality = served_quality.run(env, remote)
        finally:
            server.stop()
    verdict = "meets" if agreement >= AGREEMENT_GOAL else "MISSES"
    shapes_ok = all(r[2] == "yes" for r in rows)
    return "\n".join(
        [
            "## Remote engine: in-process against --endpoint on llama-server",
            "",
            command("remote"),
            "",
            f"Bundled SmolLM2-135M-Instruct in both; llama-server built from the same "
            f"llama.cpp (0.3.36 sdist), `-t {n_threads} -c 4096 -np 1`; `llm` at {n_threads} "
            "thread(s); greedy sampling.",
            "",
            table(
                ["command", "in-process shape", "--endpoint: same shape", "same answer"],
                rows,
            ),
            "",
            f"Shapes: {'all the same' if shapes_ok else 'SOME DIFFER'}. Answers: greedy "
            "decoding on both. The logits agree (at the first difference of "
            '`run --json`: log P("!") -0.8884 in-process, -0.8883 on the server); the texts '
            "part where in-process's repeat penalty (1.1 over the tokens generated so far) "
            "changes the choice: llama-server would also count the prompt in that window, so "
            "it gets a template's `server_repeat_penalty` instead, which only translate sets "
            "(below: it helps there and hurts a summary). "
            "The column gives the shared start of the answers; translate also differs in the "
            "remembered batch size (a hint per model file). "
            f"Sentiment labels on all {n} rows of `../shared/eval/sentiment_dev.tsv` (`--batch`): "
            f"{agreement:.1%} agree ({verdict} the {AGREEMENT_GOAL:.0%} goal). Wall time of "
            f"that batch, measured under load (to re-measure): in-process {walls[0]:.0f} s, "
            f"through the server {walls[1]:.0f} s (several HTTP requests a text: "
            "template, tokens, one scoring call).",
            "",
            quality,
        ]
    )


def sentiment_agreement(env: dict[str, str], remote: list[str]) -> tuple[float, int, list[float]]:
    texts = [t for t, _ in load_rows()]
    stdin = "\n".join(texts) + "\n"
    base = [LLM, "sentiment", "--batch", "--labels", ",".join(LABELS)]
    walls: list[float] = []
    results = []
    for extra in ([], remote):
        sample = check(run_cmd([*base, *extra], stdin=stdin, env=env, timeout=1800), "sentiment")
        results.append([line.split("\t")[0] for line in sample.stdout.splitlines()])
        walls.append(sample.wall_s)
    local, served = results
    if len(local) != len(texts) or len(served) != len(texts):
        raise RuntimeError(f"sentiment --batch gave {len(local)}/{len(served)} of {len(texts)}")
    agree = sum(a == b for a, b in zip(local, served, strict=True)) / len(texts)
    return agree, len(texts), walls
