"""Task logic over an Engine: summarize, translate, sentiment. Nothing here prints.

Long jobs report progress through a callback the CLI supplies, so the same code drives a
progress bar in a terminal, plain notices in a pipe, and nothing at all in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmcli.engine import Stats


@dataclass(frozen=True)
class Progress:
    """`done` of `total` steps of one stage (e.g. "summarizing part", round 2)."""

    stage: str
    done: int
    total: int
    round: int = 1
    detail: str = ""  # e.g. throughput per server of a fan-out


ProgressFn = Callable[[Progress], None]
WarnFn = Callable[[str], None]


def no_progress(_: Progress) -> None:
    """The default callback: report nothing."""


def no_warning(_: str) -> None:
    """The default warning sink: drop it (the CLI always supplies one)."""


def call_timings(calls: Sequence[Stats], seconds: float) -> dict[str, Any]:
    """The --json timings of a task that made several model calls."""
    return {
        "calls": len(calls),
        "prompt_tokens": sum(s.prompt_tokens for s in calls),
        "generated_tokens": sum(s.generated_tokens for s in calls),
        "ttft_s": round(calls[0].ttft_s, 4) if calls else 0.0,
        "total_s": round(seconds, 4),
    }
