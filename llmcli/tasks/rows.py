"""The numbered-rows batches of `translate --lines` (engines that do not decode prompts
together): the call, its numbered rows, and rows that are the source again (an echo, or a
paraphrase in the source language) rather than a translation."""

from __future__ import annotations

import re
from collections.abc import Callable

from llmcli.engine import Stats

# (the rows' text, broken(reply so far), grammar) -> the reply and its Stats
RowsCall = Callable[[str, Callable[[str], bool], "str | None"], tuple[str, Stats]]

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


def ask_rows(
    call: RowsCall, contents: list[str], *, grammar: bool, least: float
) -> list[str] | None:
    """A batch as `[n] line` rows; None unless exactly one good row per number came back.
    With `grammar`, the reply is held to its rows (engine/grammar.py `numbered_rows`, each
    row at least `least` of its line's length, not opening with its line's first word)."""
    from llmcli.engine.grammar import numbered_rows

    text = "\n".join(f"[{n}] {c}" for n, c in enumerate(contents, 1))
    expected = len(contents)

    def broken(so_far: str) -> bool:  # judged on the finished rows only
        return parse_rows(so_far.rpartition("\n")[0], expected) is None

    floor = [int(len(c) * least) for c in contents]
    avoid = [first_word(c) for c in contents]
    reply, stats = call(text, broken, numbered_rows(expected, floor, avoid) if grammar else None)
    found = parse_rows(reply.strip(), expected)
    if found is None or len(found) != expected or stats.finish_reason == "length":
        return None
    if not grammar:  # small models echo numbered lists back untranslated
        copied = sum(echoed(found[n], c) for n, c in enumerate(contents, 1))
        if copied * 2 > len(contents):
            return None
    return [found[n] for n in range(1, len(contents) + 1)]
