"""Text splitting before any model call: the sentence splitter and the fence scan against the
versions they replaced (issue 15 item 6: both were quadratic), side by side in one process.

The old code is kept here, verbatim, as the baseline; tests/test_hardening_inputs.py proves
the new code cuts exactly where it did.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from bench.common import median, table
from llmcli.tasks import chunking
from llmcli.tasks.chunking import BOUNDARIES, fences, sentences, split_keep

REPEATS = 3
OLD_SIZES_KB = (8, 16, 32)  # the old code at 64 KB took 22 s per call
NEW_SIZES_KB = (8, 16, 32, 1024)
_FENCE_BEFORE = re.compile(r"^(```|~~~)[^\n]*\n.*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def sentences_before(text: str) -> list[str]:
    out: list[str] = []
    for piece in split_keep(text, BOUNDARIES[2]):
        if out and (chunking._ABBREVIATION.search(out[-1]) or piece[:1].islower()):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def fences_before(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _FENCE_BEFORE.finditer(text)]


def lower_case_prose(kb: int) -> str:
    """Sentences that each start in lower case: every cut is merged back (the worst case)."""
    return ("this is a sentence. and another one follows it! " * (kb * 25))[: kb * 1024]


def unclosed_fences(kb: int) -> str:
    """Whole lines that each open a fence no line closes (a cut line could close one)."""
    return "~~~ code\n" * (kb * 1024 // 9)


def _time(fn: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def _measure(
    cases: dict[str, tuple[Callable[[str], object], Callable[[int], str]]],
) -> list[list[str]]:
    rows = []
    for what, (fn, make) in cases.items():
        old_fn = sentences_before if fn is sentences else fences_before
        for kb in NEW_SIZES_KB:
            text = make(kb)
            assert kb not in OLD_SIZES_KB or fn(text) == old_fn(text)
            new_s, old_s = [], []
            for _ in range(REPEATS):  # interleaved: load hits both alike
                new_s.append(_time(fn, text))
                if kb in OLD_SIZES_KB:
                    old_s.append(_time(old_fn, text))
            old = f"{median(old_s) * 1000:.0f}" if old_s else "not run"
            rows.append([what, f"{kb} KB", old, f"{median(new_s) * 1000:.1f}"])
    return rows


def run() -> str:
    rows = _measure(
        {
            "sentences, lower-case prose": (sentences, lower_case_prose),
            "fences, unclosed `~~~` lines": (fences, unclosed_fences),
        }
    )
    return "\n".join(
        [
            "## Text splitting (issue 15)",
            "",
            "`.venv/bin/python -m bench splitting` (run by name; not part of `make bench`)",
            "",
            f"Median of {REPEATS} interleaved calls in one process, milliseconds; the old code "
            "(kept in `bench/splitting.py`) is the baseline and gives the same cuts. Measured "
            "under load from other work on this machine: the ratios, not the figures, carry.",
            "",
            table(["input", "size", "before ms", "now ms"], rows),
        ]
    )


if __name__ == "__main__":
    print(run())
