"""Summarize any length of text: one call when it fits, map-reduce when it does not.

Map: the text is cut on the model's tokenizer at paragraph/sentence boundaries into parts
that fit the context, and each part is summarized. Reduce: the partial summaries are
combined; when even they do not fit, they are grouped and combined again, round after
round, until one call can see them all. Every token of the input reaches the model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from llmcli.engine import Completion, Engine, GenerationOptions, Stats, generate, join_stream
from llmcli.errors import InputError, LlmError
from llmcli.prompts import Template
from llmcli.tasks import Progress, ProgressFn, WarnFn, call_timings, no_progress, no_warning
from llmcli.tasks.chunking import chunk_text
from llmcli.tasks.cleanup import strip_preamble, strip_trailer
from llmcli.tasks.fanout import Mapper, Sequential
from llmcli.tasks.support import support

LENGTH_TOKENS = {"short": 120, "medium": 160, "long": 512}
# Most words a final paragraph summary keeps, in whole sentences (the first one always): asked
# for "two or three sentences", a small model writes five or six, and its first ones carry
# the main points (measured: bench/tune_summarize.py, figures in prompts/builtin/summarize.toml)
LENGTH_WORDS = {"short": 35, "medium": 65}
# summarize(candidates=N): the greedy draw and N - 1 sampled at this temperature, the best
# supported kept. llm summarize draws one: on the 50 dev articles four draws moved ROUGE-L
# +0.1 [-1.4, +1.4] and invented names/numbers 26 -> 18 (per summary -0.16 [-0.36, +0.04]),
# both within noise, for 15% more time (prompts/builtin/summarize.toml has the figures)
SAMPLE_TEMPERATURE = 0.7
MAP_TOKENS = 256  # most a partial summary may take; keeps every round shrinking
MIN_MAP_TOKENS = 24
MARGIN = 16  # tokens that can merge or split where the text meets the template
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*(?=\s|$)")
_ABBREVIATION = re.compile(r"(?:\b[A-Z][a-z]{0,2}|\b(?:[A-Za-z]\.)+[A-Za-z]?)\.$")  # Mr. U.S.


def answer_tokens(length: str, words: int | None) -> int:
    """Room for the final summary: enough for its word budget and the sentence after it."""
    return words * 2 + 48 if words else LENGTH_TOKENS.get(length, LENGTH_TOKENS["medium"])


def word_budget(length: str, words: int | None, fmt: str) -> int | None:
    """The words a summary of this length keeps; None (keep all) for --words, bullets and
    long summaries."""
    return None if words or fmt != "paragraph" else LENGTH_WORDS.get(length)


@dataclass
class Summary:
    text: str
    input_tokens: int
    output_tokens: int
    parts: int  # chunks of the input (1: it fitted in one call)
    rounds: int  # reduce rounds after the map step
    calls: list[Stats] = field(default_factory=list)
    seconds: float = 0.0
    cut_at_limit: bool = False

    def timings(self) -> dict[str, Any]:
        return call_timings(self.calls, self.seconds)


@dataclass
class _Job:
    engine: Engine
    template: Template
    combine: Template
    values: Mapping[str, Any]
    options: GenerationOptions
    progress: ProgressFn
    warn: WarnFn
    mapper: Mapper  # runs the parts of a round (fanned out over servers when there are)
    max_words: int | None = None
    candidates: int = 1
    calls: list[Stats] = field(default_factory=list)


def summarize(
    engine: Engine,
    text: str,
    *,
    template: Template,
    combine: Template,
    values: Mapping[str, Any],
    options: GenerationOptions,
    progress: ProgressFn = no_progress,
    warn: WarnFn = no_warning,
    mapper: Mapper | None = None,
    max_words: int | None = None,
    candidates: int = 1,
) -> Summary:
    """The summary of `text`; `values` are the template's variables other than `text`;
    `max_words` (see word_budget) keeps the final summary's first sentences within it;
    `candidates` final summaries are drawn and the best supported one kept (see pick; a
    summary in another language shares too few words with its text to be judged so)."""
    if not text.strip():
        raise InputError("nothing to summarize: the input is empty")
    start = time.perf_counter()
    job = _Job(
        engine,
        template,
        combine,
        values,
        options,
        progress,
        warn,
        mapper or Sequential(engine),
        max_words,
        candidates,
    )
    final_max = options.max_tokens or LENGTH_TOKENS["medium"]
    whole = _render(template, values, text)
    if engine.count_prompt_tokens(whole) + final_max <= engine.n_ctx:
        result, cut = _final(job, whole, text)
        parts, rounds = 1, 0
    else:
        result, cut, parts, rounds = _map_reduce(job, text, final_max)
    return Summary(
        text=result,
        input_tokens=engine.count_tokens(text),
        output_tokens=engine.count_tokens(result),
        parts=parts,
        rounds=rounds,
        calls=job.calls,
        seconds=time.perf_counter() - start,
        cut_at_limit=cut,
    )


def _map_reduce(job: _Job, text: str, final_max: int) -> tuple[str, bool, int, int]:
    map_values = _part_values(job.template, job.values)
    budget, map_max = _part_budget(job, job.template, map_values)
    parts = chunk_text(text, budget, job.engine)
    summaries = _summarize_parts(job, job.template, map_values, parts, map_max, round_no=1)
    rounds = 0
    while True:
        joined = "\n\n".join(summaries)
        final_msgs = _render(job.combine, job.values, joined)
        if job.engine.count_prompt_tokens(final_msgs) + final_max <= job.engine.n_ctx:
            job.progress(Progress("combining summaries", 0, 1, rounds + 2))
            result, cut = _final(job, final_msgs, joined)
            job.progress(Progress("combining summaries", 1, 1, rounds + 2))
            return result, cut, len(parts), rounds + 1
        rounds += 1
        combine_values = _part_values(job.combine, job.values)
        budget, map_max = _part_budget(job, job.combine, combine_values)
        groups = chunk_text(joined, budget, job.engine)
        if len(groups) >= len(summaries):  # no progress would loop forever
            raise LlmError(
                "the partial summaries are not getting shorter; use a larger --ctx "
                "or a model that follows the length instruction"
            )
        summaries = _summarize_parts(job, job.combine, combine_values, groups, map_max, rounds + 1)


def _part_values(template: Template, values: Mapping[str, Any]) -> dict[str, Any]:
    """Partial summaries: as long as the summary asked for (a --words target becomes medium;
    a short summary needs no detailed parts, and short parts cut the map and reduce time by a
    quarter), plain paragraphs, in the text's own language."""
    out = dict(values)
    asked = values.get("length")
    overrides = {"length": asked if asked in ("short", "long") else "medium", "words": ""}
    overrides |= {"format": "paragraph", "lang": ""}
    for key, value in overrides.items():
        if key in template.variables:
            out[key] = value
    return out


def _part_budget(job: _Job, template: Template, values: Mapping[str, Any]) -> tuple[int, int]:
    """(tokens of text per part, tokens per partial summary), so every round shrinks."""
    frame = job.engine.count_prompt_tokens(_render(template, values, "", part="part 99 of 99"))
    room = job.engine.n_ctx - frame - MARGIN
    map_max = min(MAP_TOKENS, room // 5)  # a part is at least 4x its summary
    if map_max < MIN_MAP_TOKENS:
        raise InputError(
            f"the context ({job.engine.n_ctx:,} tokens) is too small to summarize in parts: "
            f"template {template.name!r} alone takes {frame:,}",
            hint="raise --ctx",
        )
    return room - map_max, map_max


def _summarize_parts(
    job: _Job,
    template: Template,
    values: Mapping[str, Any],
    parts: list[str],
    map_max: int,
    round_no: int,
) -> list[str]:
    stage = "summarizing parts" if round_no == 1 else "combining summaries"
    options = replace(job.options, max_tokens=map_max)
    out: list[str] = []
    job.progress(Progress(stage, 0, len(parts), round_no))

    def one(engine: Engine, numbered: tuple[int, str]) -> Completion:
        i, part = numbered
        return generate(
            engine, _render(template, values, part, part=f"part {i} of {len(parts)}"), options
        )

    for i, done in enumerate(job.mapper.map(one, enumerate(parts, 1)), 1):
        label, part, stats = f"part {i} of {len(parts)}", parts[i - 1], done.stats
        job.calls.append(stats)
        text = _clean(done.text, part)
        if stats.finish_reason == "length":
            text = _trim_to_sentence(text)
        if text:
            out.append(text)
        else:
            job.warn(f"{label} gave an empty summary (round {round_no})")
        job.progress(Progress(stage, i, len(parts), round_no, detail=job.mapper.detail()))
    if not out:
        raise LlmError("the model returned no text for any part of the input")
    return out


def _final(job: _Job, messages: list[Any], source: str) -> tuple[str, bool]:
    """The final summary: with candidates, the one the source supports best (see pick)."""
    shaped = []
    for options in candidate_options(job.options, job.candidates):
        text, stats = _generate(job, messages, options)
        shaped.append(_shape(job, text, source, stats.finish_reason == "length"))
    text, cut = pick(shaped, source)
    if cut:
        job.warn("the summary reached the token limit; cut at its last full sentence")
    if not text:
        raise LlmError("the model returned an empty summary")
    return text, cut


def _shape(job: _Job, text: str, source: str, cut: bool) -> tuple[str, bool]:
    text = _clean(text, source)
    if cut:
        text = _trim_to_sentence(text)
    if job.max_words:
        kept = keep_sentences(text, job.max_words)
        cut = cut and kept == text  # the cap cost nothing when the budget dropped sentences
        text = kept
    return text, cut


def candidate_options(options: GenerationOptions, count: int) -> list[GenerationOptions]:
    """The options as given, then count - 1 sampled ones with fixed seeds (the same input
    gives the same summary; llama.cpp reuses the prompt's evaluation for each)."""
    base = options.seed or 0
    warm = max(options.temperature, SAMPLE_TEMPERATURE)
    sampled = [replace(options, temperature=warm, seed=base + i) for i in range(1, count)]
    return [options, *sampled]


def pick(candidates: list[tuple[str, bool]], source: str) -> tuple[str, bool]:
    """The non-empty candidate with the best support score (the first on a tie)."""
    scored = [(support(text, source), -i) for i, (text, _) in enumerate(candidates) if text]
    if not scored:
        return "", False
    return candidates[-max(scored)[1]]


def _generate(job: _Job, messages: list[Any], options: GenerationOptions) -> tuple[str, Stats]:
    done = join_stream(job.engine.stream(messages, options))
    job.calls.append(done.stats)
    return done.text, done.stats


def _render(template: Template, values: Mapping[str, Any], text: str, part: str = "") -> list[Any]:
    context = {k: v for k, v in values.items() if k in template.variables}  # combine: fewer
    context["text"] = text
    if "part" in template.variables:
        context["part"] = part
    return template.render(context)


def _clean(text: str, source: str) -> str:
    return strip_trailer(strip_preamble(text), source)


def keep_sentences(text: str, max_words: int) -> str:
    """The first sentences of `text` that fit in `max_words` (the first one always)."""
    end = 0
    for match in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text[: match.end()]):
            continue
        if end and len(text[: match.end()].split()) > max_words:
            break
        end = match.end()
    if not end or len(text.split()) <= max_words:
        return text
    return text[:end].rstrip()


def _trim_to_sentence(text: str) -> str:
    """A reply stopped by the token cap ends mid-sentence: keep its complete sentences."""
    ends = list(_SENTENCE_END.finditer(text))
    if not ends or ends[-1].end() < len(text) // 3:
        return text.rstrip()
    return text[: ends[-1].end()].rstrip()
