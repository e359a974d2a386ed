"""Translate text, keeping its layout: paragraphs, blank lines, lists, code and markup.

The model never sees layout it could lose. Blank lines, indentation and list/quote/heading
markers are taken off before a call and put back after it; fenced code is not translated.
Prose goes sentence by sentence by default (`unit="paragraph"`: whole paragraphs, cut at
sentence ends only when longer than the context); line-shaped text goes line by line,
several numbered lines per call, checked, and split and retried when the count comes back
wrong. Output is yielded as each piece is done.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from llmcli.engine import Engine, GenerationOptions, Request, Stats, complete_all, together
from llmcli.prompts import Template
from llmcli.tasks import Progress, ProgressFn, WarnFn, call_timings, no_progress, no_warning
from llmcli.tasks.chunking import chunk_text, sentences, split_edges
from llmcli.tasks.fanout import Mapper, Sequential
from llmcli.tasks.languages import Lang
from llmcli.tasks.layout import blocks, is_line_shaped, split_marker
from llmcli.tasks.rows import ask_rows, untranslated
from llmcli.tasks.translate_records import Collect, Done, Piece

DOC_CHUNK = 384  # tokens of prose per call: small models translate short pieces better
# Sentence units: the FLORES EN->PT dev lines joined into 25 paragraphs of four, SmolLM2-135M
# scored chrF 28.3 by sentence vs 24.2 by paragraph (the single lines: 21.6 vs 21.7; small
# models drop content from long pieces). Bigger models may prefer paragraphs for context.
UNITS = ("sentence", "paragraph")
BATCH = 8  # lines per call in line mode
MARGIN = 32
LEAST = 0.6  # fewest characters of a batch row, as a share of its source line's
_LETTER = re.compile(r"[^\W\d_]")


@dataclass
class Translator:
    """One translation job: the engine, templates, languages and the record of calls."""

    engine: Engine
    template: Template
    lines_template: Template
    target: Lang
    source: Lang | None
    options: GenerationOptions
    batch: int = BATCH
    unit: str = "sentence"  # one of UNITS: what one model call translates
    progress: ProgressFn = no_progress
    warn: WarnFn = no_warning
    params: Mapping[str, str] = field(default_factory=dict)  # -p values for user templates
    # batches held by a grammar to one `[n] text` row per line (translate-lines.toml's header:
    # off, SmolLM2-135M leaves most rows in English). Off, an engine that decodes prompts
    # together translates each line alone in one call; others get the numbered-rows prompt.
    constrain_lines: bool = False
    mapper: Mapper | None = None  # runs independent calls (None: one after another)
    calls: list[Stats] = field(default_factory=list)  # one per prompt
    model_calls: int = 0  # engine calls: prompts decoded together count once
    started: float = field(default_factory=time.perf_counter)
    _done: int = 0
    _total: int = 0

    # -- whole documents ----------------------------------------------------------------

    def document(self, text: str) -> Iterator[str]:
        """Pieces of the translation, in order; joined they are the translated text. The
        prose units between line-shaped blocks go through one map (fanned out over servers
        when there are), so short paragraphs are translated side by side too."""
        parts = blocks(text)
        self._total = sum(1 for kind, b in parts if kind == "text" and b.strip())
        self._report()
        pending: list[Piece] = []  # prose units and the text around them, in order
        line_no = 0  # lines before this block, for warnings that name a line
        for kind, block in parts:
            if kind == "code" or not block.strip():
                pending.append(Piece(block))
            else:
                lead, core, trail = split_edges(block)
                if is_line_shaped(core):
                    yield from self._translate_pieces(pending)
                    pending = []
                    first = line_no + lead.count("\n")
                    yield lead + "\n".join(self._lines(core.split("\n"), first_line=first))
                    yield trail
                    self._block_done()
                else:
                    pending.append(Piece(lead))
                    pending += [Piece(unit, translate=True) for unit in self._units(core)]
                    pending.append(Piece(trail, ends_block=True))
            line_no += block.count("\n")
        yield from self._translate_pieces(pending)

    def _translate_pieces(self, pieces: list[Piece]) -> Iterator[str]:
        if isinstance(self._mapper(), Sequential) and together(self.engine) > 1:
            yield from self._pieces_together(pieces)
            return

        def run(engine: Engine, piece: Piece) -> Done:
            if not piece.translate:
                return Done({0: piece.text}, [], [], self.batch)
            return self._on(engine)._unit(piece.text)

        for piece, done in zip(pieces, self._mapper().map(run, pieces), strict=True):
            self._merge(done)
            yield done.rows[0]
            if piece.ends_block:
                self._block_done()

    def _pieces_together(self, pieces: list[Piece]) -> Iterator[str]:
        """Units `self.batch` at a time in one call that decodes them together; each batch's
        text is yielded, in order, as soon as it is done."""
        start = 0
        while start < len(pieces):
            end, units = start, 0
            while end < len(pieces) and (units < self.batch or not pieces[end].translate):
                units += pieces[end].translate
                end += 1
            group = pieces[start:end]
            done = iter(self._together([p.text for p in group if p.translate]))
            for piece in group:
                yield next(done) if piece.translate else piece.text
                if piece.ends_block:
                    self._block_done()
            start = end

    def _block_done(self) -> None:
        self._done += 1
        self._report()

    def _unit(self, piece: str) -> Done:
        """One unit on this translator's engine, its edges kept ours."""
        [done] = self._together([piece])
        return Done({0: done}, self.calls, self._warnings, self.batch, self.model_calls)

    def _prose(self, text: str) -> str:
        """A piece of prose, unit by unit, on this translator's engine."""
        return "".join(self._together(self._units(text)))

    def _units(self, text: str) -> list[str]:
        """Pieces of one call each (joined they are `text`): sentences or the paragraph,
        anything longer than the context cut at the narrowest boundary that fits."""
        budget = self._unit_budget(self.template)
        whole = sentences(text) if self.unit == "sentence" else [text]
        units: list[str] = []
        for piece in whole:
            fits = self.engine.count_tokens(piece) <= budget
            units.extend([piece] if fits else chunk_text(piece, budget, self.engine))
        return units

    # -- line mode ------------------------------------------------------------------------

    def lines(self, text: str) -> Iterator[str]:
        """One output line per input line, in order, blank lines kept blank."""
        rows = text.split("\n")
        if text.endswith("\n"):
            rows.pop()
        rows = [r.removesuffix("\r") for r in rows]
        self._total = len(rows)
        self._report()
        yield from self._lines(rows, first_line=0, report=True)

    def _lines(self, rows: list[str], first_line: int, report: bool = False) -> Iterator[str]:
        """Translate rows in batches; yields each row's translation (no newline) in order."""
        parts = [split_marker(r) for r in rows]
        out: dict[int, str] = {}
        emitted = 0

        def run(engine: Engine, group: list[int]) -> Done:
            return self._on(engine)._group(group, rows, parts, first_line)

        for done in self._mapper().map(run, self._groups(parts)):
            self._merge(done)
            out.update(done.rows)
            while emitted in out:
                yield out[emitted]
                emitted += 1
                if report:
                    self._done += 1
                    self._report()

    def _groups(self, parts: list[tuple[str, str]]) -> Iterator[list[int]]:
        """Row numbers per call: batches of rows to translate, and rows with nothing to
        translate (blank, numbers, rules) on their own."""
        pending: list[int] = []
        for i, (_, content) in enumerate(parts):
            if not _LETTER.search(content):
                yield [i]
                continue
            if pending and not self._fits([parts[j][1] for j in [*pending, i]]):
                yield pending
                pending = []
            pending.append(i)
            if len(pending) >= self.batch:  # read as we go: a failed batch makes it smaller
                yield pending
                pending = []
        if pending:
            yield pending

    def _group(
        self, idx: list[int], rows: list[str], parts: list[tuple[str, str]], first: int
    ) -> Done:
        """One group on this translator's engine (maybe a fan-out's worker thread)."""
        out: dict[int, str] = {}
        if len(idx) == 1 and not _LETTER.search(parts[idx[0]][1]):
            out[idx[0]] = rows[idx[0]]
        else:
            self._batch(idx, parts, out, first)
        return Done(out, self.calls, self._warnings, self.batch, self.model_calls)

    def _mapper(self) -> Mapper:
        return self.mapper or Sequential(self.engine)

    def _on(self, engine: Engine) -> Translator:
        """A copy for one call on `engine` (its own calls run one after another there); its
        calls and warnings are merged back in input order."""
        return replace(
            self, engine=engine, calls=[], model_calls=0, progress=no_progress, warn=Collect(),
            mapper=None,
        )  # fmt: skip

    def _merge(self, done: Done) -> None:
        self.calls.extend(done.calls)
        self.model_calls += done.model_calls
        for message in done.warnings:
            self.warn(message)
        self.batch = min(self.batch, done.batch)

    def _fits(self, contents: list[str]) -> bool:
        tokens = sum(self.engine.count_tokens(c) + 3 for c in contents)
        return tokens <= self._unit_budget(self.lines_template)

    def _batch(
        self, idx: list[int], parts: list[tuple[str, str]], out: dict[int, str], first: int
    ) -> None:
        """Translate rows `idx`; on a wrong count, split in halves (and keep batches smaller)."""
        if not self.constrain_lines and together(self.engine) > 1:  # a long line's units too
            self._each_line(idx, parts, out, first)
            return
        if len(idx) == 1:
            i = idx[0]
            out[i] = parts[i][0] + self._single_line(parts[i][1], first + i + 1)
            return
        if len(idx) > self.batch:  # an earlier batch failed at this size: go smaller now
            for at in range(0, len(idx), self.batch):
                self._batch(idx[at : at + self.batch], parts, out, first)
            return
        contents = [parts[i][1] for i in idx]
        got = self._numbered(contents)
        if got is None:
            self.batch = max(1, len(idx) // 2)  # this model needs smaller batches
            half = len(idx) // 2
            self._batch(idx[:half], parts, out, first)
            self._batch(idx[half:], parts, out, first)
            return
        for i, line in zip(idx, got, strict=True):
            if self.constrain_lines and untranslated(line, parts[i][1], contents):
                line = self._single_line(parts[i][1], first + i + 1)  # one call, not a split
            out[i] = parts[i][0] + line

    def _numbered(self, contents: list[str]) -> list[str] | None:
        """A batch as `[n] line` rows (tasks/rows.py); None unless each came back right."""
        call = partial(self._call, self.lines_template)
        return ask_rows(call, contents, grammar=self.constrain_lines, least=LEAST)

    def _each_line(
        self, idx: list[int], parts: list[tuple[str, str]], out: dict[int, str], first: int
    ) -> None:
        """Each row as it is translated alone (translate.toml, unit by unit), all of them in
        one call that decodes the prompts together (the engine's `complete_many`): the text
        of one call per line, without the numbered-rows prompt small models cannot follow."""
        units = [(i, u) for i in idx for u in self._units(parts[i][1])]
        texts: dict[int, str] = dict.fromkeys(idx, "")
        for (i, _), text in zip(units, self._together([u for _, u in units]), strict=True):
            texts[i] += text
        for i in idx:
            out[i] = parts[i][0] + self._line_text(texts[i], parts[i][1], first + i + 1)

    def _single_line(self, content: str, line_no: int) -> str:
        return self._line_text(self._prose(content), content, line_no)

    def _line_text(self, translated: str, content: str, line_no: int) -> str:
        """One line out per line in; if the model gave nothing back, the original, said so."""
        text = " ".join(translated.split())
        if not text:
            self.warn(f"line {line_no}: could not be translated; kept the original")
            return content
        return text

    # -- calls ------------------------------------------------------------------------------

    def _together(self, units: list[str]) -> list[str]:
        """Units translated, their edges kept ours: in one call where the engine decodes
        prompts together, else one call each."""
        edges = [split_edges(u) for u in units]
        replies = iter(self._many([core for _, core, _ in edges if core]))
        return [lead + (next(replies) if core else "") + trail for lead, core, trail in edges]

    def _many(self, texts: list[str]) -> list[str]:
        """Each text with translate.toml, cleaned; together where the engine can."""
        requests = [self._request(self.template, t) for t in texts]
        out = []
        for text, done in zip(texts, complete_all(self.engine, requests), strict=True):
            self.model_calls += done.opens_call  # a group split for context room: two calls
            self.calls.append(done.stats)
            out.append(self._cleaned(done.text, done.stats, text))
        return out

    def _cleaned(self, reply: str, stats: Stats, text: str) -> str:
        if stats.finish_reason == "length":
            self.warn(
                f"a translation reached its token limit ({stats.generated_tokens} tokens) "
                f"and may be incomplete: {_preview(text)}"
            )
        from llmcli.tasks.cleanup import clean_answer

        return clean_answer(reply, text)

    def _call(
        self,
        template: Template,
        text: str,
        broken: Callable[[str], bool] | None = None,
        grammar: str | None = None,
    ) -> tuple[str, Stats]:
        """One model call; `broken(reply so far)`, checked at each line end, stops it early
        (a batch that has lost its numbering would otherwise run to its token cap)."""
        messages, options = self._request(template, text, grammar)
        self.model_calls += 1
        parts: list[str] = []
        start = time.perf_counter()
        for event in self.engine.stream(messages, options):
            if isinstance(event, Stats):
                self.calls.append(event)
                return "".join(parts), event
            if event.reasoning:
                continue  # thinking text never reaches a translation
            parts.append(event.text)
            if broken is not None and "\n" in event.text and broken("".join(parts)):
                break  # leaving the loop closes the stream: generation stops here
        # chunks stand in for tokens (one per token at most): close enough for timings
        prompt = self.engine.count_prompt_tokens(messages)
        stats = Stats(prompt, len(parts), 0.0, time.perf_counter() - start, "stop")
        self.calls.append(stats)
        return "".join(parts), stats

    def _request(self, template: Template, text: str, grammar: str | None = None) -> Request:
        """A call's messages, and its options with a token cap for a translation of `text`."""
        messages = template.render(self._values(template, text))
        room = self.engine.n_ctx - self.engine.count_prompt_tokens(messages)
        cap = min(room, self.engine.count_tokens(text) * 3 + 24)
        max_tokens = min(cap, self.options.max_tokens or cap)
        return messages, replace(self.options, max_tokens=max_tokens, grammar=grammar)

    def _values(self, template: Template, text: str) -> dict[str, Any]:
        extra = {"target_code": self.target.tag, "source": self.source.name if self.source else ""}
        values: dict[str, Any] = {k: v for k, v in self.params.items() if k in template.variables}
        values.update({k: v for k, v in extra.items() if k in template.variables})
        values.update(text=text, target=self.target.name)
        return values

    def _unit_budget(self, template: Template) -> int:
        """Tokens of source text per call, leaving room for a reply up to 2x longer."""
        frame = self.engine.count_prompt_tokens(template.render(self._values(template, "")))
        room = (self.engine.n_ctx - frame - MARGIN) // 3
        if room < 8:
            from llmcli.errors import InputError

            raise InputError(
                f"the context ({self.engine.n_ctx:,} tokens) is too small to translate with "
                f"template {template.name!r} ({frame:,} tokens alone)",
                hint="raise --ctx",
            )
        return min(DOC_CHUNK, room)

    def _report(self) -> None:
        detail = self._mapper().detail()  # throughput per server when fanned out
        self.progress(Progress("translating", self._done, self._total, detail=detail))

    def timings(self) -> dict[str, Any]:
        """`calls`: model calls (prompts decoded together count once); `prompts`: prompts."""
        timings = call_timings(self.calls, time.perf_counter() - self.started)
        return {**timings, "calls": self.model_calls, "prompts": len(self.calls)}

    @property
    def _warnings(self) -> list[str]:
        return list(self.warn) if isinstance(self.warn, Collect) else []


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 40 else flat[:37] + "..."
