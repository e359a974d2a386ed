"""Task quality on llama-server against in-process, with and without the server's penalty.

llama-server counts the prompt in its repeat-penalty window (in-process counts the reply
alone), so templates choose what a server gets (`server_repeat_penalty`). This measures the
choice both ways through the real path: the built-in template, and a copy of it in a temp
directory (`-t FILE`) with the setting flipped. Part of `bench remote` (same server).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import LLM, ROOT, check, run_cmd, table
from bench.metrics import Interval, chrf_stats, corpus_chrf, mean, paired_bootstrap, rouge_l
from bench.quality import paragraphs, translate_document

EVAL = ROOT.parent / "shared" / "eval"
BUILTIN = ROOT / "llmcli" / "prompts" / "builtin"
ARTICLES = 20  # of summarize_dev.jsonl: single-call articles, about 4 s a summary here
TRANSLATE_PENALTY = "server_repeat_penalty = 1.2\n"
SUMMARIZE_PENALTY = "server_repeat_penalty = 1.15\n"


def run(env: dict[str, str], remote: list[str]) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="llm-bench-tpl-"))
    rows = [_translate(env, remote, tmp), _summarize(env, remote, tmp)]
    return "\n".join(
        [
            "Task quality through the server, with llama-server's penalty and without it "
            "(the built-in template, and a copy with `server_repeat_penalty` flipped); the "
            "interval is a paired bootstrap (1000 resamples, 95%) of with minus without:",
            "",
            table(
                [
                    "task",
                    "metric",
                    "in-process",
                    "served, with",
                    "served, without",
                    "with - without",
                ],
                rows,
            ),
        ]
    )


def _translate(env: dict[str, str], remote: list[str], tmp: Path) -> list[object]:
    english = (EVAL / "translate_dev.en").read_text().splitlines()
    reference = (EVAL / "translate_dev.pt").read_text().splitlines()
    parts, refs = paragraphs(english), paragraphs(reference)
    text = (BUILTIN / "translate.toml").read_text()
    if TRANSLATE_PENALTY not in text:
        raise RuntimeError("translate.toml no longer sets " + TRANSLATE_PENALTY.strip())
    without = _template(tmp, "translate.toml", text.replace(TRANSLATE_PENALTY, ""))

    def out(extra: list[str]) -> list[Any]:
        return chrf_stats(translate_document(parts, env, extra)[0], refs)

    sides = [out([]), out(remote), out([*remote, "-t", str(without)])]
    name = f"translate EN->PT, {len(parts)} paragraphs"
    return _row(name, "chrF", sides, corpus_chrf)


def _summarize(env: dict[str, str], remote: list[str], tmp: Path) -> list[object]:
    rows = (EVAL / "summarize_dev.jsonl").read_text().splitlines()[:ARTICLES]
    articles = [json.loads(line) for line in rows]
    text = (BUILTIN / "summarize.toml").read_text()
    anchor = "repeat_penalty = 1.15\n"
    if anchor not in text:
        raise RuntimeError("summarize.toml no longer sets " + anchor.strip())
    with_penalty = _template(
        tmp, "summarize.toml", text.replace(anchor, anchor + SUMMARIZE_PENALTY)
    )
    sides: list[list[str]] = [[], [], []]
    for article in articles:  # article by article, the three sides together: load hits all alike
        for side, extra in zip(
            sides, ([], [*remote, "-t", str(with_penalty)], remote), strict=True
        ):
            cmd = [LLM, "summarize", "--json", *extra]
            sample = check(run_cmd(cmd, stdin=article["article"], env=env), "llm summarize")
            side.append(json.loads(sample.stdout)["text"])
    refs = [a["summary"] for a in articles]
    scores = [rouge_l(side, refs) for side in sides]
    return _row(f"summarize, {len(articles)} articles", "ROUGE-L", scores, mean)


def _row(name: str, metric: str, sides: Sequence[Any], score: Callable[..., float]) -> list[object]:
    _, with_, without = sides
    delta: Interval = paired_bootstrap(with_, without, score)
    return [name, metric, *(f"{score(s):.1f}" for s in sides), delta.text()]


def _template(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path
