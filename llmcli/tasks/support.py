"""How well a summary is supported by its source: the score that picks one of several
candidate summaries (tasks/summarize.py, `pick`).

A small model's sampled summaries differ mostly in what they invent: names, numbers and
claims the text never made. The score rewards a summary whose words come from the text,
above all from its opening (a report, an article, a memo puts its main points first), and
charges each name or number the text does not contain. Plain Python, no model calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[^\W_](?:[\w’'-]*\w)?")
_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+")
_STARTS_SENTENCE = re.compile(r"(?:^|[.!?:]\s+|\n\s*)[\"'“‘(\[*\-•\s]*$")
LEAD_SENTENCES = 3  # the opening a summary is compared with
UNSUPPORTED_COST = 0.05  # per name or number not in the text, against a 0..2 score


def words(text: str) -> list[str]:
    return [_fold(w) for w in _WORD.findall(text)]


def _fold(word: str) -> str:
    word = word.lower().replace("’", "'")
    return word.removesuffix("'s")


def lead(text: str, sentences: int = LEAD_SENTENCES) -> str:
    """The first `sentences` sentences of `text`."""
    return " ".join(_SENTENCE.split(text.strip(), maxsplit=sentences)[:sentences])


def lcs_f1(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """F1 of the longest common subsequence of two word lists (ROUGE-L's measure), 0..1."""
    if not candidate or not reference:
        return 0.0
    row = [0] * (len(reference) + 1)
    for word in candidate:
        diagonal = 0
        for j, other in enumerate(reference, 1):
            diagonal, row[j] = row[j], diagonal + 1 if word == other else max(row[j], row[j - 1])
    common = row[-1]
    if not common:
        return 0.0
    precision, recall = common / len(candidate), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def unsupported(summary: str, source: str) -> list[str]:
    """Numbers and capitalised words (not opening a sentence) of `summary` that `source`
    never uses, in any case."""
    known = set(words(source))
    out = []
    for match in _WORD.finditer(summary):
        token = match.group()
        number = any(c.isdigit() for c in token)
        name = token[0].isupper() and not _STARTS_SENTENCE.search(summary[: match.start()])
        if (number or name) and _fold(token) not in known:
            out.append(token)
    return out


def support(summary: str, source: str) -> float:
    """Higher is better: the share of the summary's words found in the source, plus its
    overlap with the source's opening, minus a cost for each unsupported name or number."""
    mine = words(summary)
    if not mine:
        return 0.0
    known = set(words(source))
    share = sum(w in known for w in mine) / len(mine)
    opening = lcs_f1(mine, words(lead(source)))
    return share + opening - UNSUPPORTED_COST * len(unsupported(summary, source))
