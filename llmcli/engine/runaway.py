"""The runaway guard: a stream transform that stops output stuck repeating a cycle.

Small models sometimes fall into a loop (the same emoji, phrase or line, forever). The guard
watches the text as it streams; when its tail has repeated one cycle often enough, it closes
the generation and ends the stream with `Stats(finish_reason="repetition")`. It works on
`StreamEvent`s only, so every backend can use it.

Four detectors (a legitimate list or table changes from row to row):
- characters: the tail is one cycle of 1..`MAX_PERIOD` characters repeated (emoji, "ha ha",
  a phrase, a short line), checked incrementally: one comparison per period per character;
- lines: the last lines are a cycle of 1..`MAX_LINES` lines repeated (long lines, list items
  that differ only in their number: "4. 🍎", "5. 🍎").
- symbols: of the last `SYMBOL_WINDOW` visible characters, `SYMBOL_SHARE` or more are emoji
  or other pictographs: the bundled 135M model's runaway is a stream of ever-different emoji
  ("one line, then emoji until Ctrl-C"), which no exact cycle catches.
- same words: the last `FUZZY_REPEATS` blocks of up to `MAX_LINES` lines, each with a line
  of `FUZZY_LETTERS` letters or more, use the same set of words (punctuation, numbers and word
  order aside): a paragraph loop with small changes. A list whose items differ in one word
  is not one;
A cycle trips the guard once it covers `MIN_SPAN` characters and `MIN_REPEATS` repeats: rules
like `-----` (80 characters) or a table's `|---|---|` stay well below. `bench/runaway.py`
measures the false positives on the dev data and on long answers (docs/benchmarks.md).
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from llmcli.engine import Stats, StreamEvent

MAX_PERIOD = 64  # characters
MAX_LINES = 8
MIN_SPAN = 256  # characters the repeated part must cover
MIN_REPEATS = 6
SYMBOL_WINDOW = 160  # visible characters
SYMBOL_SHARE = 0.75

FUZZY_REPEATS = 4  # blocks of lines, each with the same words as the one before
FUZZY_LETTERS = 120  # letters of a block's longest line: paragraphs, never short list items

_NUMBER = re.compile(r"^\s*(?:[-*+]\s+)?(?:\d+[.):]|[a-zA-Z][.)])\s*")
_WORD = re.compile(r"[^\W\d_]+")


class Line(NamedTuple):
    norm: str  # without a list number, stripped
    length: int  # characters, with the newline
    words: frozenset[str]
    letters: int


@dataclass
class Detector:
    """Feed text; `tripped` once its tail is a cycle repeated MIN_REPEATS times over MIN_SPAN
    characters."""

    max_period: int = MAX_PERIOD
    max_lines: int = MAX_LINES
    min_span: int = MIN_SPAN
    min_repeats: int = MIN_REPEATS
    tripped: bool = False
    cycle: str = ""  # the repeated cycle, once tripped (for tests and the bench)
    _tail: list[str] = field(default_factory=list)
    _runs: list[int] = field(default_factory=list)
    _lines: list[Line] = field(default_factory=list)
    _line_runs: list[int] = field(default_factory=list)
    _partial: str = ""
    _visible: deque[bool] = field(default_factory=lambda: deque(maxlen=SYMBOL_WINDOW))
    _symbols: int = 0

    def __post_init__(self) -> None:
        self._runs = [0] * (self.max_period + 1)
        self._line_runs = [0] * (self.max_lines + 1)

    def feed(self, text: str) -> bool:
        for char in text:
            if self._char(char) or (char == "\n" and self._line()) or self._symbol(char):
                self.tripped = True
                break
        return self.tripped

    def _symbol(self, char: str) -> bool:
        if char.isspace() or unicodedata.category(char) in ("Mn", "Cf"):
            return False  # joiners and variation selectors belong to the emoji before them
        window = self._visible
        if len(window) == window.maxlen:
            self._symbols -= window[0]
        flag = is_pictograph(char)
        window.append(flag)
        self._symbols += flag
        if len(window) == window.maxlen and self._symbols >= SYMBOL_SHARE * len(window):
            self.cycle = "symbols"
            return True
        return False

    def _char(self, char: str) -> bool:
        tail, runs = self._tail, self._runs
        tail.append(char)
        if char != "\n":
            self._partial += char
        n = len(tail)
        found = 0
        for p in range(1, min(self.max_period, n - 1) + 1):
            run = runs[p] = runs[p] + 1 if tail[n - 1 - p] == char else 0
            if not found and run + p >= self.min_span and run + p >= p * self.min_repeats:
                found = p
        if n > 4 * self.max_period:  # keep the window bounded
            del tail[: n - 2 * self.max_period]
        if found:
            self.cycle = "".join(tail[-found:])
        return bool(found)

    def _line(self) -> bool:
        line, self._partial = self._partial, ""
        norm = _NUMBER.sub("", line).strip()
        words = _WORD.findall(norm.lower())
        lines, runs = self._lines, self._line_runs
        lines.append(Line(norm, len(line) + 1, frozenset(words), sum(map(len, words))))
        n = len(lines)
        for q in range(1, min(self.max_lines, n - 1) + 1):
            runs[q] = runs[q] + 1 if lines[n - 1 - q].norm == norm else 0
        for q in range(1, self.max_lines + 1):
            span = runs[q] + q  # lines in the repeated part
            if span < q * self.min_repeats or not any(ln.norm for ln in lines[-q:]):
                continue  # blank lines repeated are layout, not a loop
            if sum(ln.length for ln in lines[-span:]) >= self.min_span:
                self.cycle = "\n".join(ln.norm for ln in lines[-q:])
                return True
        if self._similar_blocks():
            return True
        if n > 8 * self.max_lines:
            del lines[: n - 4 * self.max_lines]
        return False

    def _similar_blocks(self) -> bool:
        """The last FUZZY_REPEATS blocks of q lines use the same words: a paragraph loop with
        small changes ("a holiday, or" / "a holiday or"), which no exact cycle catches."""
        lines = self._lines
        for q in range(1, self.max_lines + 1):
            if len(lines) < q * FUZZY_REPEATS:
                break
            blocks = [
                lines[len(lines) - (k + 1) * q : len(lines) - k * q] for k in range(FUZZY_REPEATS)
            ]
            if any(max(ln.letters for ln in b) < FUZZY_LETTERS for b in blocks):
                continue
            sets = [frozenset().union(*(ln.words for ln in b)) for b in blocks]
            if len(set(sets)) == 1:
                self.cycle = "\n".join(ln.norm for ln in blocks[0])
                return True
        return False


def is_pictograph(char: str) -> bool:
    """Emoji and other pictographic symbols; box drawing and block elements (tables, rules,
    ASCII art) are not."""
    point = ord(char)
    if 0x2500 <= point <= 0x259F:
        return False
    return point >= 0x1F000 or unicodedata.category(char) == "So"


def guard(
    events: Iterator[StreamEvent],
    *,
    prompt_tokens: int = 0,
    count_tokens: Callable[[str], int] | None = None,
    detector: Detector | None = None,
) -> Iterator[StreamEvent]:
    """Pass events through; on a runaway, close `events` and end with a "repetition" Stats.

    The closing Stats is the guard's own: timings measured here, generated tokens counted
    with `count_tokens` over the text that came out (chunks, without it).
    """
    found = detector or Detector()
    parts: list[str] = []
    start = time.perf_counter()
    first = 0.0
    try:
        for event in events:
            if isinstance(event, Stats):
                yield event
                return
            if not parts:
                first = time.perf_counter() - start
            parts.append(event.text)
            yield event
            if found.feed(event.text):
                break
        else:
            return
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()  # stops the generation underneath
    text = "".join(parts)
    generated = count_tokens(text) if count_tokens else len(parts)
    total = time.perf_counter() - start
    yield Stats(prompt_tokens, generated, first, total, "repetition")


def cut(text: str, detector: Detector | None = None) -> int | None:
    """Where the guard would stop this text (its length so far), or None: for the bench."""
    found = detector or Detector()
    for i, char in enumerate(text):
        if found.feed(char):
            return i + 1
    return None
