"""Split text into pieces that fit a token budget, measured on the model's own tokenizer.

Cuts fall at the widest boundary that works: blank lines (paragraphs), then line breaks,
then sentence ends, then clauses, then words; only a single "word" longer than the budget
(a URL, a base64 blob) is cut between tokens. Every separator stays attached to the piece
before it, so `"".join(chunks) == text`: nothing is dropped, nothing is truncated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol


class Tokenizer(Protocol):
    """The part of the Engine chunking needs."""

    def count_tokens(self, text: str) -> int: ...
    def tokenize(self, text: str) -> list[int]: ...
    def detokenize(self, tokens: Sequence[int]) -> str: ...


# Boundaries from widest to narrowest; each match is a separator kept with the text before it.
BOUNDARIES: tuple[re.Pattern[str], ...] = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraph: one or more blank lines
    re.compile(r"\n"),  # line
    re.compile(r"(?<=[.!?…。！？])[\"'”’»)\]]*\s+"),  # sentence end (closing quotes stay)
    re.compile(r"(?<=[,;:])\s+"),  # clause
    re.compile(r"\s+"),  # word
)


def split_keep(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Split after each separator, keeping it on the left piece; joins back to `text`."""
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if match.start() > start:  # a separator at the very start stays with what follows
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


# A full stop that does not end a sentence: an initial (J. R. R.), a title, a Latin or
# business abbreviation, a month; checked on the piece before a candidate cut.
_ABBREVIATION = re.compile(
    r"(?:^|[\s(\[\"'“‘])(?:[A-Za-z]|Mr|Mrs|Ms|Dr|Prof|Sr|Sra|Jr|St|Mt|Ft|Gen|Gov|Sen|Rep|Rev|"
    r"vs|etc|e\.g|i\.e|cf|al|approx|Inc|Ltd|Co|Corp|No|Nos|Vol|Fig|pp|Jan|Feb|Mar|Apr|Jun|Jul|"
    r"Aug|Sep|Sept|Oct|Nov|Dec|U\.S|U\.K|U\.N|a\.m|p\.m)\.\s+$"
)


def sentences(text: str) -> list[str]:
    """Sentence pieces, joined back to `text`: cut at sentence ends, but not after an
    abbreviation or an initial, nor before a word in lower case ("e.g. this", "Dr. Who").

    Linear: the abbreviation check reads only the piece just before the cut (the word before
    a full stop is in it), and a sentence's pieces are joined once at the end."""
    out: list[list[str]] = []
    previous = ""
    for piece in split_keep(text, BOUNDARIES[2]):
        if out and (_ABBREVIATION.search(previous) or piece[:1].islower()):
            out[-1].append(piece)
        else:
            out.append([piece])
        previous = piece
    return ["".join(parts) for parts in out]


# Fenced code (``` or ~~~ on a line of its own, closed by the same marker): one scan for the
# openers and one for the closers, matched by position (a regex with a lazy body was
# quadratic on an unclosed fence).
_FENCE_OPEN = re.compile(r"^(```|~~~)[^\n]*\n", re.MULTILINE)
_FENCE_CLOSE = {m: re.compile(rf"^{m}[ \t]*$", re.MULTILINE) for m in ("```", "~~~")}


def fences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each closed fenced block, the closing marker's line included."""
    import bisect

    closers = {m: [c.start() for c in rx.finditer(text)] for m, rx in _FENCE_CLOSE.items()}
    found: list[tuple[int, int]] = []
    pos = 0
    while opener := _FENCE_OPEN.search(text, pos):
        starts = closers[opener.group(1)]
        k = bisect.bisect_left(starts, opener.end())
        if k == len(starts):  # unclosed: its lines are text; a later opener may still close
            pos = opener.end()
            continue
        line_end = text.find("\n", starts[k])
        end = len(text) if line_end < 0 else line_end
        found.append((opener.start(), end))
        pos = end
    return found


def chunk_text(text: str, budget: int, tok: Tokenizer) -> list[str]:
    """Pieces of at most `budget` tokens each (as counted alone), cut at natural boundaries."""
    if budget < 1:
        raise ValueError(f"chunk budget must be positive, got {budget}")
    if not text:
        return []
    chunks = _pack(_segments(text, budget, tok, 0), budget)
    return _verify(chunks, budget, tok)


def _segments(text: str, budget: int, tok: Tokenizer, level: int) -> list[tuple[str, int]]:
    """(piece, tokens) pairs, each within budget, splitting deeper only where needed."""
    if level >= len(BOUNDARIES):
        return _hard_split(text, budget, tok)
    out: list[tuple[str, int]] = []
    for piece in split_keep(text, BOUNDARIES[level]):
        n = tok.count_tokens(piece)
        if n <= budget:
            out.append((piece, n))
        else:
            out.extend(_segments(piece, budget, tok, level + 1))
    return out


def _hard_split(text: str, budget: int, tok: Tokenizer) -> list[tuple[str, int]]:
    """Last resort for one unbroken run longer than the budget: cut between tokens."""
    ids = tok.tokenize(text)
    pieces = [tok.detokenize(ids[i : i + budget]) for i in range(0, len(ids), budget)]
    if "".join(pieces) != text:  # a tokenizer that does not round-trip: cut by characters
        step = max(1, len(text) * budget // max(1, len(ids)) * 9 // 10)
        pieces = [text[i : i + step] for i in range(0, len(text), step)]
    return [(p, tok.count_tokens(p)) for p in pieces if p]


def _pack(segments: list[tuple[str, int]], budget: int) -> list[str]:
    """Greedy: fill each chunk with whole segments while the summed counts fit."""
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, n in segments:
        if current and used + n > budget:
            chunks.append("".join(current))
            current, used = [], 0
        current.append(piece)
        used += n
    if current:
        chunks.append("".join(current))
    return chunks


def _verify(chunks: list[str], budget: int, tok: Tokenizer) -> list[str]:
    """Tokens can merge across a join; re-split the rare chunk that grew past the budget."""
    out: list[str] = []
    for chunk in chunks:
        if budget <= 1 or tok.count_tokens(chunk) <= budget:
            out.append(chunk)  # (a single character can be several byte tokens)
            continue
        out.extend(chunk_text(chunk, budget * 9 // 10, tok))
    return out


def split_edges(text: str) -> tuple[str, str, str]:
    """(leading whitespace, core, trailing whitespace): models never see the edges."""
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]
