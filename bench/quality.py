"""Quality: accuracy of `llm sentiment`, ROUGE-L of `llm summarize` and chrF of
`llm translate --lines`, each side by side with a plain one-line prompt through the same
bundled model, on all of the shared development data, with a paired bootstrap 95% interval
of ours minus the plain prompt (bench/metrics.py) and, for summaries, the names and numbers
that the article does not contain.

Ours runs as users run it: the installed `llm` in a child process. The baseline is the same
model file through the same engine class with only the prompt a user would type (no
template, no system prompt, no examples, no cleanup), greedy like ours. The summary baseline
is the one of issue 16: `Summarize this article:\n\n{article}`, greedy, at most 160 new
tokens, the article cut to its first 1,500 tokens.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import LLM, check, command, llm_env, model_path, run_cmd, table, threads
from bench.metrics import (
    Interval,
    chrf_stats,
    corpus_chrf,
    mean,
    paired_bootstrap,
    rouge_l,
    unsupported,
)

EVAL = Path(os.environ.get("LLM_EVAL_DIR", Path(__file__).resolve().parents[2] / "shared/eval"))
SUMMARY_PROMPT = "Summarize this article:\n\n{article}"
SUMMARY_TOKENS = 160  # the plain prompt's cap on new tokens
ARTICLE_TOKENS = 1500  # and on the article
TRANSLATE_PROMPT = "Translate to Portuguese: {text}"
PARAGRAPH_LINES = 4  # the document test: consecutive FLORES lines joined into paragraphs


def quality_threads() -> int:
    """LLM_THREADS when set (a shared machine: one thread per model process), else llm's
    default; scores do not depend on it, only the seconds."""
    return int(os.environ.get("LLM_THREADS") or threads())


def run() -> str:
    # QUALITY_ARTICLES / QUALITY_SENTENCES take a leading sample for a quick look; the
    # published figures use all of it (10 and 100)
    n_art = int(os.environ.get("QUALITY_ARTICLES", "0")) or None
    n_sent = int(os.environ.get("QUALITY_SENTENCES", "0")) or None
    articles = [json.loads(line) for line in _read("summarize_dev.jsonl").splitlines()][:n_art]
    english = _read("translate_dev.en").splitlines()[:n_sent]
    reference = _read("translate_dev.pt").splitlines()[:n_sent]
    engine = _load_engine()
    try:
        with llm_env(LLM_THREADS=str(quality_threads())) as env:
            ours_sum, base_sum, sum_s = _summaries(articles, engine, env)
            ours_tr, tr_ours_s = _translate_ours(english, env)
            ours_doc, doc_ours_s = translate_document(paragraphs(english), env)
        base_tr, tr_base_s = _translate_plain(english, engine)
        base_doc, doc_base_s = _translate_plain(paragraphs(english), engine)
    finally:
        engine.close()
    from bench.sentiment import quality_rows

    sentiment_rows, sentiment_note, correct = quality_rows()
    names = list(correct)  # --batch, --batch --no-calibrate, plain generative prompt
    accuracy = paired_bootstrap(correct[names[0]], correct[names[-1]], mean)
    refs = [a["summary"] for a in articles]
    sources = [a["article"] for a in articles]
    ref_doc = paragraphs(reference)
    scores = [
        (rouge_l(ours_sum, refs), rouge_l(base_sum, refs), mean),
        (chrf_stats(ours_tr, reference), chrf_stats(base_tr, reference), corpus_chrf),
        (chrf_stats(ours_doc, ref_doc), chrf_stats(base_doc, ref_doc), corpus_chrf),
    ]
    intervals = [paired_bootstrap(o, b, f) for o, b, f in scores]
    pairs = [(f(o), f(b)) for o, b, f in scores]
    tasks = [
        (f"summarize: {len(articles)} CNN/DailyMail articles", "ROUGE-L F1 (x100)", sum_s),
        (f"translate EN->PT: {len(english)} FLORES sentences", "chrF", (tr_ours_s, tr_base_s)),
        (
            f"translate EN->PT: the same as {len(ref_doc)} paragraphs of {PARAGRAPH_LINES} lines",
            "chrF",
            (doc_ours_s, doc_base_s),
        ),
    ]
    rows = [
        [task, metric, *_bold_higher(pair), iv.text(), f"{secs[0]:.0f} / {secs[1]:.0f}"]
        for (task, metric, secs), pair, iv in zip(tasks, pairs, intervals, strict=True)
    ]
    faith = _faithfulness(ours_sum, base_sum, sources)
    notes = _notes(ours_sum, base_sum, ours_tr, base_tr, english)
    return "\n".join(
        [
            "## Quality: sentiment, summarize and translate",
            "",
            command("quality"),
            "",
            "Each difference is ours minus the plain prompt with its paired bootstrap 95% "
            "interval in brackets (2,000 resamples of the items, the same draw for both sides; "
            "`bench/metrics.py`): an interval that includes zero is no win. Every model "
            f"process ran on {quality_threads()} thread(s) (`LLM_THREADS`); the seconds depend "
            "on the load, the scores do not.",
            "",
            "**Sentiment** (`../shared/eval/sentiment_dev.tsv`): " + sentiment_note,
            "",
            table(["mode", "accuracy", "macro-F1", "texts/s"], sentiment_rows),
            "",
            f"Accuracy, {names[0]} minus the plain prompt: {accuracy.text(3)}.",
            "",
            "**Summarize and translate**: data: `../shared/eval/` (`summarize_dev.jsonl`, "
            "`translate_dev.en`/`.pt`), scored with rouge-score (ROUGE-L, stemmed, mean F1) and "
            "sacrebleu (corpus chrF). Model: "
            f"the bundled `{model_path().name}`. **Ours**: `llm summarize` per article, one "
            "`llm translate --to pt --lines` over all sentences, and one `llm translate --to pt` "
            "over the paragraphs as one document (blank lines between), default settings. "
            f"**Plain prompt**: the same model and engine, greedy, one user message: "
            f"`{SUMMARY_PROMPT.splitlines()[0]}` + the article cut to its first "
            f"{ARTICLE_TOKENS:,} tokens, at most {SUMMARY_TOKENS} new tokens (the baseline of "
            f"issue 16); `{TRANSLATE_PROMPT}` with the cap `llm translate` gives each line.",
            "",
            table(
                [
                    "task",
                    "metric",
                    "ours",
                    "plain prompt",
                    "ours - plain [95% interval]",
                    "seconds (ours / plain)",
                ],
                rows,
            ),
            "",
            faith.table,
            "",
            notes,
            "",
            _verdict(intervals[0], faith.ours_bad, faith.base_bad, intervals[1:], accuracy),
        ]
    )


@dataclass(frozen=True)
class _Faith:
    """Names and numbers in the summaries that the article does not contain."""

    table: str
    ours_bad: int
    base_bad: int


def _faithfulness(ours: Sequence[str], base: Sequence[str], articles: Sequence[str]) -> _Faith:
    sides = [[unsupported(t, a) for t, a in zip(s, articles, strict=True)] for s in (ours, base)]
    checked = [sum(len(x.checked) for x in side) for side in sides]
    bad = [sum(len(x.unsupported) for x in side) for side in sides]
    with_any = [sum(bool(x.unsupported) for x in side) for side in sides]
    counts = [[float(len(x.unsupported)) for x in side] for side in sides]
    per_article = paired_bootstrap(counts[0], counts[1], mean)
    share = [f"{100 * b / max(1, c):.1f}%" for b, c in zip(bad, checked, strict=True)]
    rows: list[list[object]] = [
        ["names and numbers checked", *checked],
        ["of them not in the article", *bad],
        ["share not in the article", *share],
        ["summaries with any", *with_any],
        ["per summary, ours - plain [95% interval]", per_article.text(2), ""],
    ]
    intro = (
        "**Faithfulness of the summaries**: the names (capitalised words that do not open a "
        "sentence) and numbers of each summary, and how many of them appear nowhere in its "
        "article (any case; a number also counts when the article spells it out)."
    )
    return _Faith(intro + "\n\n" + table(["", "ours", "plain prompt"], rows), bad[0], bad[1])


def _bold_higher(pair: tuple[float, float]) -> list[str]:
    return [f"**{v:.1f}**" if v == max(pair) else f"{v:.1f}" for v in pair]


def _read(name: str) -> str:
    path = EVAL / name
    if not path.is_file():
        raise RuntimeError(f"{path} not found (set LLM_EVAL_DIR to the eval data folder)")
    return path.read_text(encoding="utf-8")


def _load_engine() -> Any:
    from llmcli.engine import EngineParams
    from llmcli.engine.llama import LlamaEngine

    return LlamaEngine.load(EngineParams(model_path(), n_ctx=4096, threads=quality_threads()))


def _plain(engine: Any, prompt: str, max_tokens: int) -> str:
    from llmcli.engine import GenerationOptions, Message, generate

    options = GenerationOptions(temperature=0.0, max_tokens=max_tokens)
    return str(generate(engine, [Message("user", prompt)], options).text).strip()


def plain_summary(engine: Any, article: str) -> str:
    """The baseline of issue 16: the article cut to its first 1,500 tokens, one request."""
    tokens = engine.tokenize(article)
    if len(tokens) > ARTICLE_TOKENS:
        article = engine.detokenize(tokens[:ARTICLE_TOKENS])
    return _plain(engine, SUMMARY_PROMPT.format(article=article), SUMMARY_TOKENS)


def _summaries(
    articles: Sequence[dict[str, str]], engine: Any, env: dict[str, str]
) -> tuple[list[str], list[str], tuple[float, float]]:
    """Article by article, ours then the plain prompt, so load hits both alike."""
    ours: list[str] = []
    plain: list[str] = []
    took = [0.0, 0.0]
    for article in articles:
        sample = check(
            run_cmd([LLM, "summarize", "--json"], stdin=article["article"], env=env),
            "llm summarize",
        )
        took[0] += sample.wall_s
        ours.append(json.loads(sample.stdout)["text"])
        start = time.perf_counter()
        plain.append(plain_summary(engine, article["article"]))
        took[1] += time.perf_counter() - start
    return ours, plain, (took[0], took[1])


def _translate_ours(english: Sequence[str], env: dict[str, str]) -> tuple[list[str], float]:
    cmd = [LLM, "translate", "--to", "pt", "--lines"]
    sample = check(run_cmd(cmd, stdin="\n".join(english) + "\n", env=env), "llm translate")
    lines = sample.stdout.split("\n")[: len(english)]
    if len(sample.stdout.splitlines()) != len(english):
        raise RuntimeError(
            f"--lines gave {len(sample.stdout.splitlines())} lines for {len(english)}"
        )
    return lines, sample.wall_s


def paragraphs(lines: Sequence[str]) -> list[str]:
    return [" ".join(lines[i : i + PARAGRAPH_LINES]) for i in range(0, len(lines), PARAGRAPH_LINES)]


def translate_document(
    parts: Sequence[str], env: dict[str, str], extra: Sequence[str] = ()
) -> tuple[list[str], float]:
    """One `llm translate --to pt` over the paragraphs as one document (`extra`: more flags)."""
    cmd = [LLM, "translate", "--to", "pt", *extra]
    sample = check(run_cmd(cmd, stdin="\n\n".join(parts) + "\n", env=env), "llm translate")
    out = [" ".join(p.split()) for p in sample.stdout.strip().split("\n\n")]
    if len(out) != len(parts):
        raise RuntimeError(f"translate gave {len(out)} paragraphs for {len(parts)}")
    return out, sample.wall_s


def _translate_plain(english: Sequence[str], engine: Any) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = []
    for line in english:
        cap = engine.count_tokens(line) * 3 + 24  # the cap `llm translate` gives each line
        out.append(" ".join(_plain(engine, TRANSLATE_PROMPT.format(text=line), cap).split()))
    return out, time.perf_counter() - start


def _chrf(candidates: Sequence[str], references: Sequence[str]) -> float:
    return corpus_chrf(chrf_stats(candidates, references))


def _notes(
    ours_sum: Sequence[str],
    base_sum: Sequence[str],
    ours_tr: Sequence[str],
    base_tr: Sequence[str],
    english: Sequence[str],
) -> str:
    """What the scores do not show: length, chatter, untranslated lines."""
    from llmcli.tasks.rows import echoed as _echoed

    def words(texts: Sequence[str]) -> float:
        return sum(len(t.split()) for t in texts) / len(texts)

    def chatter(texts: Sequence[str]) -> int:
        lead = ("here is", "here's", "sure", "summary:", "translation:", "certainly")
        return sum(t.strip().lower().startswith(lead) for t in texts)

    echoed = [
        sum(_echoed(t, e) for t, e in zip(tr, english, strict=True)) for tr in (ours_tr, base_tr)
    ]
    rows: list[list[object]] = [
        ["mean words per summary", f"{words(ours_sum):.0f}", f"{words(base_sum):.0f}"],
        ["summaries opening with chatter", chatter(ours_sum), chatter(base_sum)],
        ["translations left in English (echoed)", echoed[0], echoed[1]],
        ["translations opening with chatter", chatter(ours_tr), chatter(base_tr)],
        [
            "empty translations",
            sum(not t.strip() for t in ours_tr),
            sum(not t.strip() for t in base_tr),
        ],
    ]
    return table(["", "ours", "plain prompt"], rows)


def _verdict(
    rouge: Interval,
    ours_bad: int,
    base_bad: int,
    chrf: Sequence[Interval],
    accuracy: Interval,
) -> str:
    """Issue 16's bar for summaries: at least 2 ROUGE-L points over the plain prompt, an
    interval above zero, and no more unsupported names and numbers."""
    met = rouge.diff >= 2 and rouge.low > 0 and ours_bad <= base_bad
    summary = (
        f"Summarize {'meets' if met else 'does NOT meet'} the bar (at least +2 ROUGE-L over "
        f"the plain prompt, interval above zero, no more unsupported names and numbers): "
        f"{rouge.text()}, {ours_bad} vs {base_bad} unsupported."
    )
    others = [("chrF (lines)", chrf[0]), ("chrF (paragraphs)", chrf[1])]
    others.append(("sentiment accuracy", accuracy))
    words = [
        f"{name} {iv.text(3 if name.startswith('sentiment') else 1)}: "
        + ("a win" if iv.low > 0 else "a loss" if iv.high < 0 else "within noise")
        for name, iv in others
    ]
    return summary + " " + "; ".join(words) + "."
