"""Task logic over an Engine: summarize, translate, sentiment. Nothing here prints.

Long jobs report progress through a callback the CLI supplies, so the same code drives a
progress bar in a terminal, plain notices in a pipe, and nothing at all in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """`done` of `total` steps of one stage (e.g. "summarizing part", round 2)."""

    stage: str
    done: int
    total: int
    round: int = 1


ProgressFn = Callable[[Progress], None]
WarnFn = Callable[[str], None]


def no_progress(_: Progress) -> None:
    """The default callback: report nothing."""


def no_warning(_: str) -> None:
    """The default warning sink: drop it (the CLI always supplies one)."""
