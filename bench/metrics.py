"""Scores for the quality bench: per-item ROUGE-L and chrF statistics, a paired bootstrap
interval of ours minus a baseline, and a faithfulness count (names and numbers in a summary
that the article does not contain).

rouge-score and sacrebleu (the `bench` extra) are imported only by the functions that use
them; the bootstrap and the faithfulness check are plain Python.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
RESAMPLES = 2000

# A capitalised word (any script with case), with an inner apostrophe or hyphen allowed.
_WORD = re.compile(r"[^\W\d_](?:[\w’'-]*\w)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*)[\"'“‘(\[*\-•\s]*$")
_NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen", "twenty"),
)
_TENS = {30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty"}
_TENS |= {90: "ninety", 100: "hundred", 1000: "thousand"}
# "9" in a summary is supported by "nine" in the article
_SPELLED_AS = {str(i): w for i, w in enumerate(_NUMBER_WORDS)} | {
    str(k): w for k, w in _TENS.items()
}
_SPELLED = frozenset(_SPELLED_AS.values())


@dataclass(frozen=True)
class Interval:
    """Ours minus the baseline: the difference on all items and its bootstrap 95% interval."""

    diff: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def text(self, digits: int = 1) -> str:
        return f"{self.diff:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def paired_bootstrap(
    ours: Sequence[T],
    base: Sequence[T],
    score: Callable[[Sequence[T]], float],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Resample the items (the same draw for both sides, so each pair stays together) and take
    the 2.5th and 97.5th percentiles of score(ours) - score(base)."""
    if len(ours) != len(base) or not ours:
        raise ValueError(f"paired bootstrap needs equal, non-empty sides: {len(ours)}, {len(base)}")
    rng = random.Random(seed)
    n = len(ours)
    diffs = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(score([ours[i] for i in idx]) - score([base[i] for i in idx]))
    diffs.sort()
    low = diffs[int(0.025 * (resamples - 1))]
    high = diffs[int(0.975 * (resamples - 1))]
    return Interval(score(ours) - score(base), low, high)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def rouge_l(candidates: Sequence[str], references: Sequence[str]) -> list[float]:
    """ROUGE-L F1 (x100, stemmed) of each candidate against its reference."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    pairs = zip(candidates, references, strict=True)
    return [100 * scorer.score(ref, cand)["rougeL"].fmeasure for cand, ref in pairs]


def chrf_stats(candidates: Sequence[str], references: Sequence[str]) -> list[Any]:
    """sacrebleu's per-sentence chrF statistics; `corpus_chrf` of a list of them is the
    corpus score of those sentences (the n-gram counts add up, as sacrebleu's own paired
    bootstrap does it)."""
    from sacrebleu.metrics.chrf import CHRF

    return list(CHRF()._extract_corpus_statistics(list(candidates), [list(references)]))


def corpus_chrf(stats: Sequence[Any]) -> float:
    from sacrebleu.metrics.chrf import CHRF

    total = [sum(column) for column in zip(*stats, strict=True)]
    return float(CHRF()._compute_score_from_stats(total).score)


@dataclass(frozen=True)
class Support:
    """The names (capitalised words not opening a sentence) and numbers of a summary, and
    those of them that appear nowhere in its article."""

    checked: tuple[str, ...]
    unsupported: tuple[str, ...]


def unsupported(summary: str, article: str) -> Support:
    """A name is supported when the article has the same word (any case, possessive 's
    dropped); a number when the article has it (thousands separators ignored) or spells it
    out. A name opening a sentence is not checked: it cannot be told from an ordinary word."""
    article_words = {_fold(w.group()) for w in _WORD.finditer(article)}
    article_numbers = {_digits(n.group()) for n in _NUMBER.finditer(article)}
    article_numbers |= {w for w in article_words if w in _SPELLED}
    checked: list[str] = []
    missing: list[str] = []
    for item, ok in _names(summary, article_words) + _numbers(summary, article_numbers):
        checked.append(item)
        if not ok:
            missing.append(item)
    return Support(tuple(checked), tuple(missing))


def _names(summary: str, article_words: set[str]) -> list[tuple[str, bool]]:
    out = []
    for match in _WORD.finditer(summary):
        word = match.group()
        if not word[0].isupper() or _SENTENCE_START.search(summary[: match.start()]):
            continue
        out.append((word, _fold(word) in article_words))
    return out


def _numbers(summary: str, article_numbers: set[str]) -> list[tuple[str, bool]]:
    out = []
    for match in _NUMBER.finditer(summary):
        number = _digits(match.group())
        ok = number in article_numbers or _SPELLED_AS.get(number, "") in article_numbers
        out.append((match.group(), ok))
    return out


def _fold(word: str) -> str:
    word = word.lower()
    for suffix in ("'s", "’s"):
        word = word.removesuffix(suffix)
    return word


def _digits(number: str) -> str:
    """1,500 and 1500 are one number; a trailing .0 or sentence dot is not part of it."""
    number = number.rstrip(".,")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", number):
        number = number.replace(",", "")
    return number
