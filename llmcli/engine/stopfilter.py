"""Stop strings over a token stream: text that may start a stop string is held back."""

from __future__ import annotations

from collections.abc import Sequence


class StopFilter:
    """Holds back text that may be the start of a stop string; O(1) per piece."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False
        self.started = False

    def feed(self, text: str) -> str:
        if not self.started:  # answers start at their first non-blank character
            text = text.lstrip()
            self.started = bool(text)
        self.pending += text
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0:
                out, self.pending, self.stopped = self.pending[:at], "", True
                return out
        keep = max((_overlap(self.pending, s) for s in self.stops), default=0)
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out) :]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


def _overlap(text: str, stop: str) -> int:
    """Length of the longest suffix of text that is a prefix of stop."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0
