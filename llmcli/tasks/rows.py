"""Reading a batch reply of `translate --lines`: its numbered rows, and rows that are the
source again (an echo, or a paraphrase in the source language) rather than a translation."""

from __future__ import annotations

import re

UNTRANSLATED = 0.3  # share of a row's words found in its batch's source rows
_NUMBERED = re.compile(r"^\s*\[(\d+)\][ \t]*(.*)$")
_WORDS = re.compile(r"\w+")


def parse_rows(reply: str, expected: int) -> dict[int, str] | None:
    """`[n] text` rows by number; None when a row is something else (chatter, a wrapped
    line: the alignment cannot be trusted), repeats a number, is out of range or empty."""
    found: dict[int, str] = {}
    for row in reply.split("\n"):
        match = _NUMBERED.match(row)
        if not match:
            if row.strip():
                return None
            continue
        n, line = int(match.group(1)), match.group(2).strip()
        if n in found or not 1 <= n <= expected or not line:
            return None
        found[n] = line
    return found


def echoed(translation: str, source: str) -> bool:
    """Mostly the source's own words: an echo, even with a few words changed."""
    words = [w for w in _WORDS.findall(translation.casefold()) if len(w) > 2]
    known = set(_WORDS.findall(source.casefold()))
    same = sum(w in known for w in words)
    return same >= 3 and same * 2 >= len(words)


def untranslated(row: str, source: str, batch: list[str]) -> bool:
    """A paraphrase in the source language (small models "translate" lists that way), not a
    translation: most of the row's words are words of the batch's source rows, as written,
    or the row opens with its source's first word (the rows grammar forbids that word
    alone, so a model set on copying glues it to the next: "Subculturescanbe...")."""
    opening = first_word(source)
    if len(opening) > 1 and row.startswith(opening):
        return True
    words = [w for w in _WORDS.findall(row) if len(w) > 1 and not w.isdigit()]
    known = {w for c in batch for w in _WORDS.findall(c)}
    same = sum(w in known for w in words)
    return same >= 2 and same >= UNTRANSLATED * len(words)


def first_word(line: str) -> str:
    match = _WORDS.search(line)
    return match.group(0) if match and match.start() == 0 else ""
