"""Try summarize templates and settings on the CNN/DailyMail dev articles, in-process.

Not a section of docs/benchmarks.md: the tool behind the figures in the header comment of
`llmcli/prompts/builtin/summarize.toml`. One model load, then, article by article, each spec
through the real `summarize()` task (as `llm summarize` runs it) and the plain prompt of
bench/quality.py; ROUGE-L, length, unsupported names/numbers and the paired bootstrap
interval against the plain prompt for each:

    .venv/bin/python -m bench.tune_summarize --articles 15 plain \\
        llmcli/prompts/builtin/summarize.toml \\
        llmcli/prompts/builtin/summarize.toml:length=short,repeat_penalty=1.0

A spec is `plain` or `PATH[:key=value,...]`. Keys: the template's variables (length, words,
...), the sampling options (temperature, repeat_penalty, max_tokens, ...), `examples=0` (no
worked example), `system=0` (no system prompt), `ctx=N` (a smaller context, to force the
map-reduce path), `keep_words=N` (the final summary's word budget; 0: none), `candidates=N` (final summaries
drawn, the best supported kept; 1: the greedy one only). Specs that differ only after the article share its prompt evaluation
(llama.cpp keeps the common prefix), so list them next to each other. Outputs go to
bench/out/tune_summarize/ (one JSON line per article and spec).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.common import ROOT, model_path
from bench.metrics import mean, paired_bootstrap, rouge_l, unsupported
from bench.quality import _read, plain_summary, quality_threads

OUT = ROOT / "bench" / "out" / "tune_summarize"
_OPTION_NAMES = {
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "max_tokens",
    "seed",
}


@dataclass
class Spec:
    label: str
    path: Path | None  # None: the plain prompt
    values: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    examples: bool = True
    system: bool = True
    ctx: int | None = None
    keep_words: int | None = None  # the word budget (0: none); None: as llm summarize
    candidates: int | None = None  # final summaries drawn; None: one, as llm summarize
    outputs: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)  # before the cleanup
    drawn: list[list[str]] = field(default_factory=list)  # each article's candidates, raw
    parts: list[int] = field(default_factory=list)
    seconds: float = 0.0


def parse_spec(text: str) -> Spec:
    if text == "plain":
        return Spec("plain", None)
    path, _, rest = text.partition(":")
    spec = Spec(text, Path(path))
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        if key == "examples":
            spec.examples = value != "0"
        elif key == "system":
            spec.system = value != "0"
        elif key == "ctx":
            spec.ctx = int(value)
        elif key == "keep_words":
            spec.keep_words = int(value)
        elif key == "candidates":
            spec.candidates = int(value)
        elif key in _OPTION_NAMES:
            spec.options[key] = float(value) if "." in value else int(value)
        else:
            spec.values[key] = value
    return spec


class _Recorder:
    """The engine, keeping the raw text of each reply (to score without the cleanup)."""

    def __init__(self, engine: Any, n_ctx: int | None) -> None:
        self._engine = engine
        self.n_ctx = n_ctx or engine.n_ctx
        self.replies: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def stream(self, messages: Any, options: Any) -> Iterator[Any]:
        from llmcli.engine import Chunk

        parts: list[str] = []
        for event in self._engine.stream(messages, options):
            if isinstance(event, Chunk) and not event.reasoning:
                parts.append(event.text)
            yield event
        self.replies.append("".join(parts).strip())


def run_ours(engine: Any, spec: Spec, article: str) -> tuple[str, str, int]:
    from llmcli.engine import GenerationOptions
    from llmcli.prompts import builtin_dir, parse_template
    from llmcli.tasks.summarize import answer_tokens, summarize, word_budget

    assert spec.path is not None
    template = parse_template(spec.path, "file")
    if not spec.examples:
        template = replace(template, examples=())
    if not spec.system:
        template = replace(template, system=None)
    combine = parse_template(builtin_dir() / "summarize-combine.toml", "built-in")
    known = {f.name for f in fields(GenerationOptions)}
    settings = {k: v for k, v in template.settings.items() if k in known}
    options = GenerationOptions(**{**settings, "stop": tuple(settings.get("stop", ()))})
    length = spec.values.get("length", "medium")
    words = int(spec.values["words"]) if spec.values.get("words") else None
    options = replace(options, max_tokens=answer_tokens(length, words))
    options = replace(options, **spec.options)
    count = spec.candidates or 1  # llm summarize draws one
    recorder = _Recorder(engine, spec.ctx)
    budget = word_budget(length, words, spec.values.get("format", "paragraph"))
    if spec.keep_words is not None:
        budget = spec.keep_words or None
    result = summarize(
        recorder,
        article,
        template=template,
        combine=combine,
        values=spec.values,
        options=options,
        max_words=budget,
        candidates=count,
    )
    spec.drawn.append(recorder.replies[-count:])
    return result.text, recorder.replies[-count], result.parts  # raw: the first candidate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", help="plain, or PATH[:key=value,...]")
    parser.add_argument("--articles", type=int, default=0, help="the first N (0: all 50)")
    parser.add_argument("--start", type=int, default=0, help="skip the first K")
    parser.add_argument(
        "--plain-from",
        type=Path,
        help="the plain prompt's outputs of an earlier run (its plain.jsonl under bench/out/"
        "tune_summarize/, the same articles): greedy, so the same each run, and it halves the time",
    )
    args = parser.parse_args()
    from llmcli.engine import EngineParams
    from llmcli.engine.llama import LlamaEngine

    rows = [json.loads(line) for line in _read("summarize_dev.jsonl").splitlines()]
    rows = rows[args.start : args.start + args.articles if args.articles else None]
    specs = [parse_spec(s) for s in args.specs]
    cached = _plain_outputs(args.plain_from, rows) if args.plain_from else None
    engine = LlamaEngine.load(EngineParams(model_path(), n_ctx=4096, threads=quality_threads()))
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        for i, row in enumerate(rows):
            for spec in specs:
                if spec.path is None and cached:
                    spec.outputs.append(cached[i])
                    spec.raw.append(cached[i])
                    spec.parts.append(1)
                else:
                    _one(engine, spec, row["article"])
            print(f"article {i + 1}/{len(rows)}", flush=True)
    finally:
        engine.close()
    report(specs, rows)


def _plain_outputs(path: Path, rows: Sequence[dict[str, str]]) -> list[str]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if [r["ref"] for r in records] != [r["summary"] for r in rows]:
        raise SystemExit(f"{path}: not the plain outputs of these articles (--start/--articles)")
    return [r["text"] for r in records]


def _one(engine: Any, spec: Spec, article: str) -> None:
    start = time.perf_counter()
    if spec.path is None:
        text, raw, parts = (*[plain_summary(engine, article)] * 2, 1)
    else:
        text, raw, parts = run_ours(engine, spec, article)
    spec.seconds += time.perf_counter() - start
    spec.outputs.append(text)
    spec.raw.append(raw)
    spec.parts.append(parts)


def report(specs: Sequence[Spec], rows: Sequence[dict[str, str]]) -> None:
    refs = [r["summary"] for r in rows]
    articles = [r["article"] for r in rows]
    plain = next((s for s in specs if s.path is None), None)
    base = rouge_l(plain.outputs, refs) if plain else None
    for spec in specs:
        scores = rouge_l(spec.outputs, refs)
        raw = mean(rouge_l(spec.raw, refs))
        support = [unsupported(t, a) for t, a in zip(spec.outputs, articles, strict=True)]
        bad = sum(len(s.unsupported) for s in support)
        checked = sum(len(s.checked) for s in support)
        words = mean([len(t.split()) for t in spec.outputs])
        line = (
            f"{spec.label}\tROUGE-L {mean(scores):.2f} (raw {raw:.2f})\twords {words:.0f}\t"
            f"unsupported {bad}/{checked}\tmap-reduce {sum(p > 1 for p in spec.parts)}\t"
            f"{spec.seconds:.0f} s"
        )
        if base is not None and spec is not plain:
            line += f"\tvs plain {paired_bootstrap(scores, base, mean).text()}"
        print(line, flush=True)
        _save(spec, rows, scores)


def _save(spec: Spec, rows: Sequence[dict[str, str]], scores: Sequence[float]) -> None:
    name = "".join(c if c.isalnum() or c in "=.-" else "_" for c in spec.label)[-120:]
    with (OUT / f"{name}.jsonl").open("w", encoding="utf-8") as out:
        drawn = spec.drawn or [[] for _ in rows]  # the plain prompt draws one
        items = zip(rows, spec.outputs, spec.raw, scores, drawn, strict=True)
        for row, text, raw, score, candidates in items:
            record = {"rouge_l": round(score, 2), "text": text, "raw": raw, "ref": row["summary"]}
            record |= {"drawn": candidates} if candidates else {}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
